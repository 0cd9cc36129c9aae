"""Repair at scale: ``python bench/repair.py [--store sqlite|postgres|both] [--only ...]``.

**alerts**: a fake Leaf in its own process holds 1,000 growers with a John
Deere credential each and breaks them all within one second; each break
sends Leaf's signed alert to the app (this process: a receiver and
:class:`leaf_creds.repair.Repairs` over the store, after an audit at start,
as ``leaf-creds watch`` runs). Judged: every alert becomes exactly one case
and one link handed over, none lost (cases, deliveries, hook calls and
Leaf's authentication links all 1,000). Reported: p50/p99 of the time from
the alert's timestamp (when the fake broke it) to the link handed to the hook.

**report**: a store filled with a fleet of 10,000 and of 100,000 users
(a credential each, 10% of them with a case, most repaired), then
``leaf-creds report --html --json`` in a fresh process: wall time (target
under 30 s at 100,000) and peak RSS, which should stay flat across sizes.

PostgreSQL runs on a throwaway server started here (Debian's binaries, as in
the tests). Exit 1 on a missed target. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import leaf_creds as lc  # noqa: E402
from leaf_creds.repair import (  # noqa: E402
    CaseStore,
    LinkDelivery,
    PostgresStore,
    RepairPolicy,
    Repairs,
    SQLiteStore,
)

SECRET = "bench-webhook-secret"
GROWERS = 1_000


# -- the fake Leaf, in its own process ---------------------------------------------


def leaf_process(port: int, commands: Any, answers: Any) -> None:
    """Serve a fake Leaf with GROWERS John Deere growers; break them on "break"."""
    asyncio.run(_leaf(port, commands, answers))


async def _leaf(port: int, commands: Any, answers: Any) -> None:
    from leaf_creds.testing import FakeLeaf

    loop = asyncio.get_running_loop()
    async with FakeLeaf(port=port, webhook_retry_delays=(1.0, 2.0, 4.0)) as fake:
        fake.onboarding.add_app_key(
            "JohnDeere", "LeafWidget", {"clientKey": "jd", "clientSecret": "jd-secret"},
            environment="PRODUCTION",
        )  # fmt: skip
        for i in range(GROWERS):
            user = fake.add_user(id=f"grower-{i:05d}").id
            fake.add_credential(user, lc.JOHN_DEERE, lc.JohnDeereCredentials(
                client_key="jd", client_secret="jd-secret", refresh_token=f"rt-{i}",
                client_environment=lc.ClientEnvironment.PRODUCTION,
            ))  # fmt: skip
        answers.put({"url": fake.url, "token": fake.token})
        while True:
            command = await loop.run_in_executor(None, commands.get)
            if command["do"] == "stop":
                return
            if command["do"] == "count":
                links = [link for link in fake.onboarding.magic_links
                         if link["widget"] == "AUTHENTICATION"]  # fmt: skip
                answers.put({"links": len(links), "failedCalls": len(fake.alerts.failed_calls)})
                continue
            fake.alerts.register(
                {"name": "bench", "url": command["receiver"], "secret": SECRET,
                 "events": ["credentialsUnauthenticated", "credentialsLimitedPermission"]}
            )  # fmt: skip
            started = loop.time()
            for i, user in enumerate(sorted(fake.users)):
                # Spread over one second: the i-th break at i/GROWERS s.
                await asyncio.sleep(max(0.0, started + i / GROWERS - loop.time()))
                fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
            answers.put({"sent": GROWERS, "seconds": loop.time() - started})


# -- the app: receiver + Repairs, in this process ------------------------------------


async def alerts_run(
    store: CaseStore, leaf_url: str, token: str, commands: Any, answers: Any
) -> dict[str, Any]:
    """Receive the burst, repair every case; return the figures."""
    from aiohttp import web

    alert_times: dict[str, float] = {}
    latencies: list[float] = []
    handed: dict[str, int] = {}
    done = asyncio.Event()

    async def hook(delivery: LinkDelivery) -> None:
        handed[delivery.case_id] = handed.get(delivery.case_id, 0) + 1
        sent = alert_times.get(delivery.leaf_user_id)
        if sent is not None:
            latencies.append(time.time() - sent)
        if len(handed) >= GROWERS:
            done.set()

    async with lc.LeafSession(token=token, base_url=leaf_url) as leaf, store:
        repairs = Repairs(leaf, store=store, deliver=hook, policy=RepairPolicy(), concurrency=32)

        async def on_alert(alert: lc.Alert) -> None:
            if isinstance(alert, lc.CredentialAlert) and alert.leaf_user_id:
                alert_times.setdefault(alert.leaf_user_id, alert.timestamp.timestamp())
            await repairs.on_alert(alert)

        receiver = lc.AlertReceiver(SECRET, on_alert, enrich=leaf.credential_owners.enrich)

        async def receive(request: web.Request) -> web.Response:
            answer = await receiver.handle(request.headers, await request.read())
            return web.Response(status=answer.status, body=answer.body)

        app = web.Application()
        app.router.add_post("/leaf/alerts", receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        audit = await repairs.audit()  # as watch does at start: owners known, statuses kept
        loop_task = asyncio.create_task(repairs.run(poll=0.5))
        commands.put({"do": "break", "receiver": f"http://127.0.0.1:{port}/leaf/alerts"})
        burst = await asyncio.get_running_loop().run_in_executor(None, answers.get)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 120)
        await asyncio.sleep(1.0)  # any second link would show now
        commands.put({"do": "count"})
        fake_side = await asyncio.get_running_loop().run_in_executor(None, answers.get)
        repairs.stop()
        await loop_task
        await runner.cleanup()
        cases = await store.count()
        deliveries = await store.deliveries()
    latencies.sort()
    return {
        "audited": audit.credentials,
        "burst_seconds": round(burst["seconds"], 3),
        "alerts": burst["sent"],
        "cases": cases,
        "deliveries": len(deliveries),
        "hook_calls": sum(handed.values()),
        "cases_handed": len(handed),
        "max_per_case": max(handed.values(), default=0),
        "leaf_links": fake_side["links"],
        "failed_calls": fake_side["failedCalls"],
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1)
        if latencies
        else None,
        "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
    }


def bench_alerts(make_store: Any) -> dict[str, Any]:
    """Run the alerts benchmark against a fresh store."""
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import free_port

    context = multiprocessing.get_context("spawn")
    commands, answers = context.Queue(), context.Queue()
    process = context.Process(target=leaf_process, args=(free_port(), commands, answers))
    process.start()
    try:
        ready = answers.get(timeout=120)
        figures = asyncio.run(
            alerts_run(make_store(), ready["url"], ready["token"], commands, answers)
        )
    finally:
        commands.put({"do": "stop"})
        process.join(30)
        if process.is_alive():
            process.terminate()
    ok = (
        all(
            figures[key] == GROWERS
            for key in ("alerts", "cases", "deliveries", "hook_calls", "cases_handed", "leaf_links")
        )
        and figures["max_per_case"] == 1
    )
    figures["ok"] = ok
    return figures


# -- the report on a big fleet -----------------------------------------------------------


def _fleet_rows(
    users: int, now: float
) -> Iterator[tuple[str, list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Yield the fleet in chunks: credential rows, case rows, transition rows."""
    from leaf_creds.repair import Case, CaseState, Cause, Source
    from leaf_creds.repair._store import case_row, moment

    providers = ("john-deere", "cnhi", "climate-field-view", "trimble")
    chunk = 5_000
    for start in range(0, users, chunk):
        credentials, cases, transitions = [], [], []
        for i in range(start, min(users, start + chunk)):
            user, provider = f"grower-{i:06d}", providers[i % len(providers)]
            broken = i % 10 == 0
            opened = now - (i % 97) * 3600.0
            status = (
                "OK"
                if not broken or i % 50
                else ("UNAUTHENTICATED" if i % 20 else "MISSING_PERMISSION")
            )
            credentials.append((user, provider, f"cred-{i}", status, now))
            if not broken:
                continue
            resolved = i % 50 != 0
            at = datetime.fromtimestamp(opened, UTC)
            case = Case(
                id=uuid.uuid4().hex, user_id=user, provider=provider,
                state=CaseState.RESOLVED if resolved else CaseState.OPEN,
                cause=Cause.UNAUTHENTICATED, source=Source.ALERT, credential_id=f"cred-{i}",
                first_opened_at=at, opened_at=at, updated_at=at, alerts=1, sends=1,
                first_sent_at=at, last_sent_at=at, next_action_at=None if resolved else at,
                resolved_at=moment(opened + 1800 + i % 7200) if resolved else None,
            )  # fmt: skip
            cases.append(case_row(case))
            transitions.append((case.id, user, provider, opened, "opened", 1, None, "{}"))
            transitions.append((case.id, user, provider, opened + 1, "link-sent", 1, None, "{}"))
            if resolved:
                duration = 1800.0 + i % 7200
                transitions.append(
                    (case.id, user, provider, opened + duration, "resolved", 1, duration, "{}")
                )
        yield "chunk", credentials, cases, transitions


async def fill(store: CaseStore, users: int) -> None:
    """Fill a store with a fleet of ``users``, a chunk at a time (memory stays flat here too)."""
    from leaf_creds.repair._store import _CASE_COLUMNS, _INSERT_TRANSITION

    columns = ", ".join(_CASE_COLUMNS)
    marks = ", ".join("?" * len(_CASE_COLUMNS))
    insert_case = f"INSERT INTO repair_cases ({columns}) VALUES ({marks})"
    async with store:
        for _, credentials, cases, transitions in _fleet_rows(users, time.time()):
            async with store.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO repair_credentials (user_id, provider, credential_id, status, "
                    "seen_at) VALUES (?, ?, ?, ?, ?)",
                    credentials,
                )
                if cases:
                    await tx.executemany(insert_case, cases)
                    await tx.executemany(_INSERT_TRANSITION, transitions)


def bench_report(make_store: Any, where: str, users: int) -> dict[str, Any]:
    """Fill a store, then time ``leaf-creds report`` in a fresh process."""
    asyncio.run(fill(make_store(), users))
    out = Path(tempfile.mkdtemp()) / "report.html"
    command = [str(Path(sys.executable).with_name("leaf-creds")), "report", "--store", where,
               "--html", str(out), "--json"]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read() if process.stdout else b""
    data = json.loads(output)
    return {
        "users": users,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "open": data["cases"]["open"],
        "resolved": data["cases"]["resolved"],
        "html_kb": round(out.stat().st_size / 1024, 1),
        "ok": seconds < 30,
    }


# -- the command -------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--only", nargs="+", choices=("alerts", "report"), default=["alerts", "report"]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    kinds = ["sqlite", "postgres"] if args.store == "both" else [args.store]
    ok = True
    with ExitStack() as stack:
        dsn = None
        if "postgres" in kinds:
            from tests.postgres_server import running_postgres

            dsn = stack.enter_context(running_postgres())
        for kind in kinds:
            for what in args.only:
                sizes = args.sizes if what == "report" else [GROWERS]
                for size in sizes:
                    if kind == "sqlite":
                        path = Path(tempfile.mkdtemp()) / "cases.db"
                        where = str(path)

                        def make(path: Path = path) -> CaseStore:
                            return SQLiteStore(path)
                    else:
                        assert dsn is not None
                        where = asyncio.run(_database(dsn))

                        def make(where: str = where) -> CaseStore:
                            return PostgresStore(where)

                    figures = (
                        bench_alerts(make) if what == "alerts" else bench_report(make, where, size)
                    )
                    ok = ok and bool(figures["ok"])
                    print(json.dumps({"bench": what, "store": kind, **figures}), flush=True)
    return 0 if ok else 1


async def _database(dsn: str) -> str:
    from tests.postgres_server import fresh_database

    return await fresh_database(dsn, f"bench_{uuid.uuid4().hex[:10]}")


if __name__ == "__main__":
    raise SystemExit(main())
