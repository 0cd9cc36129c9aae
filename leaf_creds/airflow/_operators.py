"""Operators that run ``leaf-creds`` commands inside Airflow tasks.

Each one runs the command line's own code in-process (``leaf_creds.cli.main``)
with the session of a :class:`LeafHook`, so a task does exactly what the
command does, writes the same JSON lines, and needs no token file or
environment variable. The counts it returns (its XCom) are read back from
the file it wrote.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from .._registry import Registry
from .._session import LeafSession
from ._hook import LeafHook

__all__ = ["LeafApplyOperator", "LeafAuditOperator", "LeafInviteOperator", "shard_results"]

_USAGE: Final = 2  # the command's exit status for bad usage or a bad input file


def shard_results(results_dir: str | Path, shard: int, shards: int) -> Path:
    """Return the results file of shard ``shard`` of ``shards`` in ``results_dir``."""
    return Path(results_dir) / f"shard-{shard}-of-{shards}.jsonl"


def _json_lines(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the readable JSON objects of a JSON-lines file from byte ``start`` on."""
    if not path.exists():
        return
    with path.open("rb") as stream:
        stream.seek(start)
        for raw in stream:
            try:
                line = json.loads(raw)
            except (ValueError, RecursionError):  # a half-written line of a killed run
                continue
            if isinstance(line, dict):
                yield line


def _outcomes(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the outcome lines of a results file (not its "started" lines)."""
    return (line for line in _json_lines(path, start) if isinstance(line.get("ok"), bool))


class _LeafCommand(BaseOperator):  # type: ignore[misc]  # Airflow is not type-checked here
    """Run one ``leaf-creds`` command with the hook's session."""

    def __init__(
        self, *, leaf_conn_id: str = LeafHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.leaf_conn_id = leaf_conn_id

    def _session_factory(self) -> Any:
        hook = LeafHook(leaf_conn_id=self.leaf_conn_id)
        options = hook.session_options()  # read once, before the command starts

        def build(registry: Registry) -> LeafSession:
            return LeafSession(**options, registry=registry)

        return build

    def _run(self, argv: Sequence[str]) -> int:
        from ..cli import main

        self.log.info("leaf-creds %s", " ".join(argv))
        code: int = main(list(argv), session_factory=self._session_factory())
        if code == _USAGE:
            # A bad plan or bad options: no retry can fix it, and nothing was sent.
            raise AirflowFailException(f"leaf-creds {argv[0]}: bad usage or input (see the log)")
        return code


class LeafApplyOperator(_LeafCommand):
    """Run one shard of a plan, as ``leaf-creds apply --shard K/N`` does.

    The outcomes go to ``results_dir/shard-K-of-N.jsonl``, which is also the
    ``--resume`` file: a retried task (or a rerun of the DAG) skips the lines
    already ok and checks the creates that may have landed instead of
    sending them again. Map it over ``shard`` to run every shard::

        LeafApplyOperator.partial(task_id="apply", plan=..., results_dir=...,
                                  shards=4).expand(shard=list(range(4)))

    Args:
        plan: The plan file (JSON lines), readable by every worker.
        results_dir: Where each shard writes its results file.
        shards: N, the number of shards.
        shard: K, this task's shard, 0-based.
        concurrency: Operations in flight at once.
        rate: The most requests started per second by this task.

    Other Parameters:
        leaf_conn_id (str): The Airflow connection (type ``leaf``), ``leaf_default``
            unless given.

    Returns (XCom): ``{"ok": n, "failed": n, "skipped": n, "results": path}``:
    the lines that ended ok or failed in this run, and those already done
    before it.

    Raises:
        AirflowException: Some line failed (the task's retries resume it).
        AirflowFailException: The plan or the options are bad (no retry).
    """

    # The numbers may be templates too ("{{ params.shards }}"), read as text.
    template_fields: Sequence[str] = ("plan", "results_dir", "shards", "concurrency", "rate")

    def __init__(
        self,
        *,
        plan: str,
        results_dir: str,
        shards: int | str = 1,
        shard: int = 0,
        concurrency: int | str | None = None,
        rate: float | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.results_dir = results_dir
        self.shards = shards
        self.shard = shard
        self.concurrency = concurrency
        self.rate = rate

    def execute(self, context: Any) -> dict[str, Any]:
        """Run the shard; return its counts."""
        shards, shard = int(self.shards), int(self.shard)
        results = shard_results(self.results_dir, shard, shards)
        results.parent.mkdir(parents=True, exist_ok=True)
        start = results.stat().st_size if results.exists() else 0
        done_before = {line["line"] for line in _outcomes(results) if line["ok"]}
        argv = ["apply", str(self.plan), "--out", str(results), "--resume", str(results)]
        argv += ["--shard", f"{shard}/{shards}", "--progress", "never"]
        if self.concurrency not in (None, ""):
            argv += ["--concurrency", str(int(self.concurrency))]
        if self.rate not in (None, ""):
            argv += ["--rate", str(float(self.rate))]
        code = self._run(argv)
        final: dict[Any, bool] = {}
        for line in _outcomes(results, start):
            final[line.get("line")] = line["ok"]
        counts = {
            "ok": sum(final.values()),
            "failed": sum(not ok for ok in final.values()),
            "skipped": len(done_before),
            "results": str(results),
        }
        self.log.info("shard %d/%d: %s", shard, shards, counts)
        if code != 0:
            raise AirflowException(
                f"shard {shard}/{shards}: {counts['failed']} line(s) failed "
                f"(see {results}); a retry resumes from that file"
            )
        return counts


class LeafAuditOperator(_LeafCommand):
    """Run ``leaf-creds audit`` and return the counts by provider and status.

    Args:
        out: The report file (JSON lines), replaced on each run.
        providers: Only these provider slugs (default: every registered one).
        users: Only these Leaf user ids (default: every user of the account).
        events: Add the troubleshooting log of every credential not OK.
        concurrency: Reads in flight at once.

    Other Parameters:
        leaf_conn_id (str): The Airflow connection (type ``leaf``), ``leaf_default``
            unless given.

    Returns (XCom): ``{provider: {status: count}}``, statuses as the report
    writes them (``OK``, ``NO_CREDENTIAL``, ``ERROR``, ...).

    Raises:
        AirflowException: A credential could not be read.
    """

    template_fields: Sequence[str] = ("out", "providers", "users")

    def __init__(
        self,
        *,
        out: str,
        providers: Sequence[str] = (),
        users: Sequence[str] = (),
        events: bool = False,
        concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.out = out
        self.providers = list(providers)
        self.users = list(users)
        self.events = events
        self.concurrency = concurrency

    def execute(self, context: Any) -> dict[str, dict[str, int]]:
        """Run the audit; return its counts."""
        Path(self.out).parent.mkdir(parents=True, exist_ok=True)
        argv = ["audit", "--out", str(self.out), "--progress", "never"]
        for slug in self.providers:
            argv += ["--provider", slug]
        for user_id in self.users:
            argv += ["--user", user_id]
        if self.events:
            argv.append("--events")
        if self.concurrency is not None:
            argv += ["--concurrency", str(self.concurrency)]
        code = self._run(argv)
        counts: dict[str, Counter[str]] = {}
        for line in _json_lines(Path(self.out)):
            counts.setdefault(str(line.get("provider")), Counter())[str(line.get("status"))] += 1
        result = {provider: dict(by_status) for provider, by_status in sorted(counts.items())}
        self.log.info("audit: %s", result)
        if code != 0:
            raise AirflowException(f"audit: some credentials could not be read (see {self.out})")
        return result


class LeafInviteOperator(_LeafCommand):
    """Send Magic Links, as ``leaf-creds invite`` does.

    Args:
        providers: The providers the links offer (slugs).
        out: The links file (JSON lines, created 0600), also the ``--resume``
            file, so a retried task invites only the users not yet invited.
        users: Invite these Leaf user ids.
        users_file: Invite the ids in this file, one a line.
        missing: Invite every Leaf user lacking a credential for the providers.
            Give exactly one of ``users``, ``users_file`` and ``missing``.
        authentication: Authentication links (one provider) instead of
            provider links.
        expires_in: Seconds each link stays valid.
        company_name: Shown on Leaf's page.
        concurrency: Links created at once.

    Other Parameters:
        leaf_conn_id (str): The Airflow connection (type ``leaf``), ``leaf_default``
            unless given.

    Returns (XCom): ``{"ok": n, "failed": n, "skipped": n, "links": path}``.

    Raises:
        AirflowException: Some link could not be created (a retry resumes).
    """

    template_fields: Sequence[str] = ("out", "users", "users_file")

    def __init__(
        self,
        *,
        providers: Sequence[str],
        out: str,
        users: Sequence[str] = (),
        users_file: str | None = None,
        missing: bool = False,
        authentication: bool = False,
        expires_in: int | None = None,
        company_name: str | None = None,
        concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if sum((bool(users), users_file is not None, missing)) != 1:
            # As the command's own options: checked when the DAG is parsed.
            raise ValueError(
                "LeafInviteOperator takes exactly one of users, users_file and missing"
            )
        self.providers = list(providers)
        self.out = out
        self.users = list(users)
        self.users_file = users_file
        self.missing = missing
        self.authentication = authentication
        self.expires_in = expires_in
        self.company_name = company_name
        self.concurrency = concurrency

    def execute(self, context: Any) -> dict[str, Any]:
        """Create the links; return the counts."""
        out = Path(self.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        start = out.stat().st_size if out.exists() else 0
        done_before = sum(line["ok"] for line in _outcomes(out))
        argv = ["invite", "--out", str(out), "--resume", str(out), "--progress", "never"]
        for slug in self.providers:
            argv += ["--provider", slug]
        for user_id in self.users:
            argv += ["--user", user_id]
        if self.users_file is not None:
            argv += ["--users", str(self.users_file)]
        if self.missing:
            argv.append("--missing")
        if self.authentication:
            argv.append("--authentication")
        if self.expires_in is not None:
            argv += ["--expires-in", str(self.expires_in)]
        if self.company_name is not None:
            argv += ["--company-name", self.company_name]
        if self.concurrency is not None:
            argv += ["--concurrency", str(self.concurrency)]
        code = self._run(argv)
        written = list(_outcomes(out, start))
        counts = {
            "ok": sum(line["ok"] for line in written),
            "failed": sum(not line["ok"] for line in written),
            "skipped": done_before,
            "links": str(out),
        }
        self.log.info("invite: %s", counts)
        if code != 0:
            raise AirflowException(
                f"invite: {counts['failed']} link(s) could not be created (see {out})"
            )
        return counts
