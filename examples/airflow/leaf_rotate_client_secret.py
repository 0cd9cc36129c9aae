"""Rotate the CNHI client secret of every grower, audit, and invite those who must reconnect.

An example DAG for leaf-creds on Apache Airflow 3 (``pip install 'leaf-creds[airflow]'``):

1. ``write_plan`` reads every Leaf user's CNHI credential and writes a plan
   that replaces each live one (status ``OK``) with the same credential under
   the new client secret (the Airflow Variable ``leaf_cnhi_client_secret``).
2. ``apply`` runs that plan in N mapped shards (``LeafApplyOperator``), one
   results file per shard in ``results/``; a retried or rerun shard resumes
   its own file and never sends a create twice.
3. ``audit`` reports every CNHI credential (``LeafAuditOperator``).
4. ``reconnect`` lists the users whose credential went bad, and ``invite``
   sends each a Magic Link to connect CNHI again (``LeafInviteOperator``).

Run it with ``airflow dags test leaf_rotate_client_secret --conf '{"workdir": "/data/leaf",
"shards": 4}'``. The connection ``leaf_default`` (type ``leaf``) holds the
base URL and a token or a login. Put the shards in one Airflow pool sized to
your account's share of Leaf's rate limit (see the README's "Running on
Airflow"). Against the fake: ``growers.json`` here is a seed document for
``leaf-creds fake-server --seed-file``, and ``cnhi-app-keys.json`` the app
keys without which an invitation offers no CNHI sign-in.

A token Leaf refuses fails ``write_plan`` for good at once
(``AirflowFailException``): a retry would meet the same 401.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, Variable, dag, task
from airflow.sdk.exceptions import AirflowFailException

from leaf_creds import CNHI, AuthenticationError, BulkStoppedError, Get
from leaf_creds.airflow import (
    LeafApplyOperator,
    LeafAuditOperator,
    LeafHook,
    LeafInviteOperator,
)

CONN_ID = "leaf_default"
# How long an invitation works: a grower needs days, not Leaf's default 15 minutes.
LINK_LIFETIME = 7 * 86400
log = logging.getLogger(__name__)
# Mapped shards share the pool's slots: size the pool, not the DAG, to the
# account (Leaf's limit is per API-owner account, across every worker).
POOL = os.environ.get("LEAF_AIRFLOW_POOL", "default_pool")


@dag(
    dag_id="leaf_rotate_client_secret",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "workdir": Param(os.path.join(tempfile.gettempdir(), "leaf-rotate"), type="string"),
        "shards": Param(4, type="integer", minimum=1),
        "concurrency": Param(16, type="integer", minimum=1),
    },
    default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=1)},
    tags=["leaf"],
)
def leaf_rotate_client_secret() -> None:
    @task
    def write_plan(params: dict[str, Any]) -> str:
        """Write one replace line per live CNHI credential, under the new client secret."""
        import asyncio

        secret = Variable.get("leaf_cnhi_client_secret")
        workdir = Path(params["workdir"])
        workdir.mkdir(parents=True, exist_ok=True)
        plan = workdir / "plan.jsonl"
        if plan.exists():
            # A rerun of this rotation: its shards resume against the same
            # plan (results files name plan lines by number), so keep it.
            log.info("plan: %s exists; the shards resume it", plan)
            return str(plan)

        async def write() -> int:
            lines: list[dict[str, Any]] = []
            async with LeafHook(CONN_ID).session() as leaf:

                async def reads() -> Any:
                    async for user in leaf.users():
                        yield Get(CNHI, user.id)

                async with contextlib.aclosing(leaf.bulk(reads())) as outcomes:
                    async for outcome in outcomes:
                        record = outcome.value
                        if not outcome.ok or record is None or record.status != "OK":
                            continue  # no credential, or one only its grower can mend
                        body = {
                            "clientId": record.client_id,
                            "clientSecret": secret,
                            "subscriptionKey": record.subscription_key,
                            "refreshToken": record.refresh_token,
                            "clientEnvironment": str(record.client_environment),
                        }
                        lines.append(
                            {
                                "op": "replace",
                                "provider": "cnhi",
                                "leafUserId": outcome.operation.user_id,
                                "credentials": body,
                            }
                        )
            lines.sort(key=lambda line: line["leafUserId"])
            # The plan holds secrets: readable by its owner only. Written
            # aside and renamed, so a killed task leaves no half plan.
            partial = plan.with_suffix(".partial")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(line) + "\n" for line in lines)
            partial.replace(plan)
            return len(lines)

        try:
            count = asyncio.run(write())
        except (AuthenticationError, BulkStoppedError) as exc:
            if isinstance(exc, BulkStoppedError) and exc.reason != "unauthenticated":
                raise  # Leaf unreachable: a retry may get through
            # A refused token is refused again on every retry: fail at once.
            raise AirflowFailException(
                f"write_plan: Leaf refused the credentials of the connection {CONN_ID}: {exc}"
            ) from exc
        log.info("plan: %d credential(s) to rotate", count)
        return str(plan)

    @task
    def shards(params: dict[str, Any]) -> list[int]:
        """Name the shards to map the apply task over."""
        return list(range(int(params["shards"])))

    plan = write_plan()
    apply = LeafApplyOperator.partial(
        task_id="apply",
        leaf_conn_id=CONN_ID,
        plan=plan,
        results_dir="{{ params.workdir }}/results",
        shards="{{ params.shards }}",
        concurrency="{{ params.concurrency }}",
        pool=POOL,
    ).expand(shard=shards())

    audit = LeafAuditOperator(
        task_id="audit",
        leaf_conn_id=CONN_ID,
        providers=["cnhi"],
        out="{{ params.workdir }}/audit.jsonl",
    )

    @task
    def reconnect(params: dict[str, Any]) -> str:
        """List the users whose CNHI credential is not OK (and not absent)."""
        workdir = Path(params["workdir"])
        users = []
        with (workdir / "audit.jsonl").open(encoding="utf-8") as report:
            for raw in report:
                line = json.loads(raw)
                if line.get("status") not in {"OK", "NO_CREDENTIAL", "ERROR"}:
                    users.append(line["leafUserId"])
        listing = workdir / "reconnect.txt"
        listing.write_text("".join(f"{user}\n" for user in users), encoding="utf-8")
        log.info("reconnect: %d grower(s) to invite", len(users))
        return str(listing)

    invite = LeafInviteOperator(
        task_id="invite",
        leaf_conn_id=CONN_ID,
        providers=["cnhi"],
        users_file="{{ ti.xcom_pull(task_ids='reconnect') }}",
        out="{{ params.workdir }}/links.jsonl",
        company_name="Acme Agronomy",
        expires_in=LINK_LIFETIME,
    )

    apply >> audit
    reconnect_list = reconnect()
    audit >> reconnect_list >> invite


leaf_rotate_client_secret()
