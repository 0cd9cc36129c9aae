"""``leaf-creds demo``: a real bulk job and audit against an in-process fake Leaf.

It starts :class:`leaf_creds.testing.FakeLeaf` on 127.0.0.1, adds a few
hundred users (a third already hold CNHI credentials from an earlier
onboarding), writes a plan over Sentera and CNHI, injects transient faults
(503 with a short ``Retry-After``, connections dropped before and after the
request was applied), runs ``apply`` with the progress bar, lets a few
credentials go bad as Leaf would in the background, runs the onboarding
act (``_demo_onboarding``: John Deere app keys, ``invite --missing``, a share
of growers connecting on the fake's Magic Link page), then runs ``audit
--events`` and prints its table, and ends with the repair act
(``_demo_repair``: John Deere credentials break, alerts open cases, links
go out, growers reconnect, cases close, ``report.html`` is written). No
network; a few seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from .. import LeafSession, RetryPolicy, make_converter
from ._apply_plan import apply_plan
from ._audit import audit, print_table
from ._common import Commands, add_bulk_options, positive_int
from ._demo_onboarding import onboarding_act
from ._demo_repair import repair_act
from ._output import JsonLines
from ._plan import LineSet, check_plan
from ._progress import ProgressMode

__all__ = ["add_parser", "run", "run_demo"]

_CREDENTIALS = "/users/*-credentials"


def add_parser(commands: Commands) -> None:
    """Add ``demo``."""
    sub = commands.add(
        "demo", run,
        "run a bulk job and an audit against an in-process fake Leaf, with faults (no network)",
        connection=False,
    )  # fmt: skip
    sub.add_argument(
        "--users", type=positive_int, default=300, help="Leaf users to create (default 300)"
    )
    sub.add_argument(
        "--seed", type=int, default=7, help="seed of the injected faults (default 7)"
    )
    sub.add_argument(
        "--workdir", metavar="DIR",
        help="where to write the plan, results and report, and keep them (default: a new "
        "temporary directory, removed at the end)",
    )  # fmt: skip
    sub.add_argument(
        "--keep", action="store_true",
        help="keep the temporary directory (about 2 kB a user) and print where it is",
    )  # fmt: skip
    add_bulk_options(sub)


def run(args: argparse.Namespace) -> int:
    """Run the demo with the command's options."""
    return run_demo(
        users=args.users,
        seed=args.seed,
        workdir=args.workdir,
        keep=args.keep,
        concurrency=args.concurrency,
        progress=args.progress,
        out=sys.stdout,
        err=sys.stderr,
    )


def run_demo(
    *,
    users: int,
    seed: int,
    workdir: str | None,
    concurrency: int,
    progress: ProgressMode,
    out: TextIO,
    err: TextIO,
    keep: bool = False,
) -> int:
    """Run the demo; return 0 when every operation of the plan ended ok.

    A temporary directory (no ``workdir``) is removed at the end, interrupted
    or not, unless ``keep``: it grows by about 2 kB a user.
    """
    if workdir:
        directory = Path(workdir)
        directory.mkdir(parents=True, exist_ok=True)
        return asyncio.run(_demo(users, seed, directory, concurrency, progress, out, err))
    directory = Path(tempfile.mkdtemp(prefix="leaf-creds-demo-"))
    kept = False
    try:
        code = asyncio.run(
            _demo(users, seed, directory, concurrency, progress, out, err, kept=keep)
        )
        kept = keep
        return code
    finally:
        if not kept:
            shutil.rmtree(directory, ignore_errors=True)


def _secret(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def _sentera(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "username": f"grower{i:04d}",
        "password": _secret(rng),
        "organizationName": f"Farm {i:04d}",
    }


def _cnhi(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "clientId": f"cnhi-client-{i:04d}",
        "clientSecret": _secret(rng),
        "subscriptionKey": _secret(rng),
        "refreshToken": _secret(rng),
        "clientEnvironment": "STAGE",
    }


async def _demo(
    count: int,
    seed: int,
    directory: Path,
    concurrency: int,
    progress: ProgressMode,
    out: TextIO,
    err: TextIO,
    *,
    kept: bool = True,
) -> int:
    from leaf_creds.testing import DEFAULT_ACCOUNTS, FakeLeaf

    def say(text: str) -> None:
        err.write(text + "\n")
        err.flush()

    started = time.perf_counter()
    rng = random.Random(seed)
    plan = directory / "plan.jsonl"
    results = directory / "results.jsonl"
    report = directory / "report.jsonl"
    async with FakeLeaf(seed=seed) as fake:
        ids = [
            fake.add_user(
                name=f"Grower {i:04d}",
                email=f"grower{i:04d}@example.com",
                external_id=f"farm-{i:04d}",
            ).id
            for i in range(count)
        ]
        rotating = set(range(0, count, 3))
        for i in rotating:
            fake.add_credential(ids[i], "cnhi", _cnhi(rng, i))
        with plan.open("w", encoding="utf-8") as lines:
            for i, user_id in enumerate(ids):
                sentera = {"op": "create", "provider": "sentera", "leafUserId": user_id}
                lines.write(json.dumps({**sentera, "credentials": _sentera(rng, i)}) + "\n")
                op = "replace" if i in rotating else "create"
                cnhi = {"op": op, "provider": "cnhi", "leafUserId": user_id}
                lines.write(json.dumps({**cnhi, "credentials": _cnhi(rng, i)}) + "\n")
        say(
            f"demo: fake Leaf on {fake.url} with {count} users; plan {plan} "
            f"({2 * count} operations: Sentera creates, CNHI creates and rotations)"
        )
        faults = [
            fake.faults.add(path=_CREDENTIALS, status=503, retry_after=0.05, probability=0.04),
            fake.faults.add(path=_CREDENTIALS, drop="before_body", probability=0.02),
            fake.faults.add(path=_CREDENTIALS, drop="after_body", probability=0.02),
        ]
        say("demo: injecting faults: 4% 503 + Retry-After, 2% dropped before, 2% after applying")

        username, password = next(iter(DEFAULT_ACCOUNTS.items()))
        retry = RetryPolicy(max_retries=8, backoff_base=0.02, backoff_max=0.25)
        async with LeafSession(
            username=username, password=password, base_url=fake.url, retry=retry
        ) as leaf:
            registry = leaf.registry
            converter = make_converter()
            summary = check_plan(
                str(plan), registry, converter, shard=None, done=LineSet(),
                report=lambda number, message: say(f"{plan}:{number}: {message}"),
            )  # fmt: skip
            with results.open("w", encoding="utf-8") as results_file:
                counts = await apply_plan(
                    leaf, str(plan), registry=registry, converter=converter, summary=summary,
                    shard=None, done=LineSet(), recorded=LineSet(),
                    writer=JsonLines(results_file), err=err,
                    concurrency=concurrency, rate=None, show_secrets=False, resume=False,
                    progress=progress,
                )  # fmt: skip
            injected = sum(fault.fired for fault in faults)
            stored = sum(
                fake.credential(user_id, slug) is not None
                for user_id in ids
                for slug in ("sentera", "cnhi")
            )
            # A create sent twice would have met its own credential: a 409.
            twice = sum(1 for r in fake.requests if r.method == "POST" and r.status == 409)
            say(
                f"apply: {counts.ok} ok, {counts.failed} failed; {injected} faults injected "
                f"and retried; {stored} credentials stored, {twice} creates sent twice; "
                f"results in {results}"
            )
            fake.faults.clear()

            # Leaf notices in the background that some credentials stopped working.
            for i in rng.sample(range(count), k=max(1, count // 25)):
                fake.set_status(ids[i], "sentera", "UNAUTHENTICATED")
            for i in rng.sample(range(count), k=max(1, count // 50)):
                fake.set_status(ids[i], "cnhi", "MISSING_PERMISSION")
            onboarding = await onboarding_act(
                fake, leaf, ids=ids, rng=rng, links=directory / "links.jsonl",
                concurrency=concurrency, progress=progress, err=err, say=say,
            )  # fmt: skip
            with report.open("w", encoding="utf-8") as report_file:
                table, unread = await audit(
                    leaf, providers=["sentera", "cnhi", "john-deere"], users=[], events=True,
                    report=JsonLines(report_file), err=err, concurrency=concurrency,
                    progress=progress,
                )  # fmt: skip
            print_table(table, err)
            say(f"audit: report {report} (with the event log of every credential not OK)")
            repaired = await repair_act(fake, leaf, rng=rng, directory=directory, say=say)
    seconds = time.perf_counter() - started
    out.write(
        json.dumps(
            {
                "users": count,
                "operations": summary.selected,
                "ok": counts.ok,
                "failed": counts.failed,
                "faultsInjected": injected,
                "credentialsStored": stored,
                "createsSentTwice": twice,
                "auditFailures": unread,
                "invited": onboarding.invited,
                "connectedThroughLinks": onboarding.connected + onboarding.limited,
                "onboardingFailures": onboarding.failed,
                "repairCases": repaired.cases,
                "repairLinks": repaired.links,
                "repaired": repaired.resolved,
                "seconds": round(seconds, 2),
                "workdir": str(directory) if kept else None,
            }
        )
        + "\n"
    )
    ok = counts.failed == 0 and unread == 0 and twice == 0 and onboarding.failed == 0
    if not kept:
        say(f"demo: removed its temporary directory {directory} (--keep keeps it)")
    say(f"demo: {'every operation ended ok' if ok else 'some operations failed'} in {seconds:.1f}s")
    return 0 if ok else 1
