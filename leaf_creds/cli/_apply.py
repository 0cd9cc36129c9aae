"""``leaf-creds apply``: check a plan, then run it streamed and concurrent, resumable.

The plan is checked whole before anything is sent (``_plan``); the run
itself is ``_apply_plan``; ``--resume`` reads a results file (``_resume``).
An interrupted run says how to pick it up (:func:`resume_hint`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections.abc import Sequence

from .. import default_registry, make_converter
from ._apply_plan import apply_plan
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    add_bulk_options,
    bulk_rate,
    failed_by_kind,
    make_session,
    open_out,
    option,
    same_file,
    say,
    with_session,
)
from ._output import JsonLines
from ._plan import LineSet, Shard, check_plan, count_lines
from ._progress import above_bar
from ._resume import Resume, read_done

__all__ = ["add_parser", "resume_hint", "run"]

_SHARD_HELP = (
    "keep only the lines whose leafUserId falls in shard K of N; K is 0-based "
    "(0 <= K < N, like a Kubernetes completion index). The shard of a user id is "
    "int.from_bytes(sha256(id.encode()).digest()[:8], 'big') %% N, stable everywhere"
)


def add_parser(commands: Commands) -> None:
    """Add ``apply``."""
    sub = commands.add(
        "apply", run, "run a plan of operations (JSON lines), streamed and concurrent"
    )
    sub.set_defaults(interrupted=resume_hint)
    sub.add_argument(
        "plan", metavar="PLAN.jsonl",
        help='one operation a line: {"op": "create"|"replace"|"delete"|"get"|"events", '
        '"provider": SLUG, "leafUserId": ID, "credentials": {...}}',
    )  # fmt: skip
    add_bulk_options(sub, rate=True)
    sub.add_argument(
        "--out", metavar="RESULTS.jsonl",
        help="write the outcome lines here instead of stdout (appended to when it is the "
        "--resume file, else replaced)",
    )  # fmt: skip
    sub.add_argument(
        "--resume", metavar="RESULTS.jsonl",
        help="skip the lines this results file records as ok (a missing file: none); "
        "creates of an interrupted run that landed are found with a GET, not sent again",
    )  # fmt: skip
    sub.add_argument(
        "--dry-run", action="store_true",
        help="check the plan and print what would run; send nothing",
    )  # fmt: skip
    sub.add_argument("--shard", metavar="K/N", help=_SHARD_HELP)


def run(args: argparse.Namespace) -> int:
    """Check the plan, then run it (or, with ``--dry-run``, say what would run)."""
    if args.plan == "-":
        raise UsageError("apply reads its plan twice (check, then run): give a file, not -")
    plan = args.plan
    if args.out is not None and same_file(plan, args.out):
        raise UsageError("--out must not be the plan file: it would be overwritten")
    registry = default_registry()
    converter = make_converter()
    shard = Shard.parse(args.shard) if args.shard else None
    if args.resume:
        resume = read_done(args.resume, max_line=count_lines(plan))
        if resume.unreadable:
            say(f"leaf-creds apply: {resume.unreadable} unreadable line(s) in {args.resume}")
    else:
        resume = Resume(LineSet(), LineSet(), 0)
    done = resume.done

    def report(number: int, message: str) -> None:
        say(f"{plan}:{number}: {message}")

    summary = check_plan(plan, registry, converter, shard=shard, done=done, report=report)
    if summary.bad:
        raise UsageError(f"{summary.bad} bad line(s) in {plan} (listed above); nothing was sent")
    if args.dry_run:
        data = {
            "lines": summary.lines,
            "selected": summary.selected,
            "alreadyDone": summary.done,
            "otherShards": summary.other_shards,
            "byOp": summary.by_op,
        }
        sys.stdout.write(json.dumps(data) + "\n")
        say(f"apply --dry-run: {summary.lines} line(s) valid, {summary.selected} would run")
        return EXIT_OK
    leaf = make_session(args, registry)
    same = args.resume is not None and args.out is not None and same_file(args.resume, args.out)
    out = open_out(args.out, append=same)
    started = time.perf_counter()
    try:
        counts = asyncio.run(
            with_session(
                leaf,
                apply_plan(
                    leaf,
                    plan,
                    registry=registry,
                    converter=converter,
                    summary=summary,
                    shard=shard,
                    done=done,
                    previous=resume,
                    writer=JsonLines(above_bar(out) if out is sys.stdout else out),
                    err=sys.stderr,
                    concurrency=args.concurrency,
                    rate=bulk_rate(args, leaf),
                    show_secrets=option(args, "show_secrets", False),
                    resume=args.resume is not None,
                    progress=args.progress,
                    # A results file always records what started, so the
                    # command an interrupt prints is cheap, --resume or not.
                    announce=out is not sys.stdout,
                ),
            )
        )
    finally:
        if out is not sys.stdout:
            out.close()
    if counts.absent:
        say(
            f"resume: {counts.absent} delete(s) of the interrupted run had landed "
            "(404 now); recorded as ok"
        )
    breakdown = failed_by_kind("apply", counts.errors)
    if breakdown:  # before the summary, which stays the last line
        say(breakdown)
    skipped = f", {summary.done} already done" if args.resume else ""
    shards = f", {summary.other_shards} in other shards" if shard else ""
    say(
        f"apply: {counts.ok} ok, {counts.failed} failed{skipped}{shards} "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return EXIT_FAILED if counts.failed else EXIT_OK


def resume_hint(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Say how to pick up an interrupted ``apply``: the exact command when there is one."""
    if args.out is None:
        return (
            "leaf-creds apply: the outcomes went to standard output, so this run cannot be "
            "resumed; give --out RESULTS.jsonl --resume RESULTS.jsonl to make a run resumable"
        )
    command = ["leaf-creds", *argv]
    if args.resume is None:
        return f"leaf-creds apply: to resume, run: {shlex.join([*command, '--resume', args.out])}"
    if same_file(args.resume, args.out):
        return f"leaf-creds apply: to resume, run: {shlex.join(command)}"
    # The lines done before are in --resume, this run's in --out (which a rerun replaces).
    append = f"cat {shlex.quote(args.out)} >> {shlex.quote(args.resume)}"
    return f"leaf-creds apply: to resume, run: {append} && {shlex.join(command)}"
