"""``leaf-creds audit``: the status of every credential, and a table of counts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any, TextIO

from .. import (
    AuthenticationError,
    BulkStoppedError,
    CredentialStatus,
    Events,
    Get,
    LeafError,
    LeafSession,
    NotFoundError,
    Outcome,
    default_registry,
)
from .._bulk import DEFAULT_CONCURRENCY
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    add_bulk_options,
    bulk_rate,
    check_user,
    make_session,
    open_out,
    option,
    plural,
    resource_of,
    say,
    with_session,
)
from ._output import JsonLines, error_json, events_json, provider_slug
from ._progress import ProgressBar, ProgressMode, above_bar

__all__ = ["ERROR", "NO_CREDENTIAL", "NO_USER", "add_parser", "audit", "print_table", "run"]

NO_CREDENTIAL = "NO_CREDENTIAL"  # GET answered 404: the user has none for this provider
NO_USER = "NO_USER"  # a --user id that GET /users/{id} answers 404 for: no such Leaf user
ERROR = "ERROR"  # the GET failed otherwise; the report line says why


def add_parser(commands: Commands) -> None:
    """Add ``audit``."""
    sub = commands.add(
        "audit", run, "report the status of every credential, with a table by provider"
    )
    sub.add_argument(
        "--provider", action="append", default=[], metavar="P",
        help="only this provider (repeatable; default: every registered one)",
    )  # fmt: skip
    sub.add_argument(
        "--user", action="append", default=[], metavar="ID",
        help="only this Leaf user (repeatable; default: every user of the account)",
    )  # fmt: skip
    sub.add_argument(
        "--events", action="store_true",
        help="add the troubleshooting log of every credential that is not OK",
    )  # fmt: skip
    sub.add_argument(
        "--out", metavar="REPORT.jsonl", help="write the report lines here instead of stdout"
    )
    add_bulk_options(sub, rate=True)


def run(args: argparse.Namespace) -> int:
    """Audit; write the report lines, then print the table on standard error."""
    registry = default_registry()
    providers = [resource_of(registry, slug).slug for slug in args.provider]
    users = [check_user(user_id) for user_id in args.user]
    leaf = make_session(args, registry)
    out = open_out(args.out)
    report = JsonLines(above_bar(out) if out is sys.stdout else out)
    try:
        counts, failures = asyncio.run(
            with_session(
                leaf,
                audit(
                    leaf,
                    providers=providers,
                    users=users,
                    events=args.events,
                    show_secrets=option(args, "show_secrets", False),
                    report=report,
                    err=sys.stderr,
                    concurrency=args.concurrency,
                    rate=bulk_rate(args, leaf),
                    progress=args.progress,
                ),
            )
        )
    finally:
        if out is not sys.stdout:
            out.close()
    print_table(counts, sys.stderr)
    # Each --user Leaf does not know has a NO_USER count under every provider.
    no_users = max((n for (_, status), n in counts.items() if status == NO_USER), default=0)
    if no_users:
        verb = "does" if no_users == 1 else "do"
        say(f"audit: {plural(no_users, 'Leaf user')} {verb} not exist")
    if failures > no_users:
        say(f"audit: {plural(failures - no_users, 'credential')} could not be read")
    return EXIT_FAILED if failures else EXIT_OK


async def audit(
    leaf: LeafSession,
    *,
    providers: Sequence[str],
    users: Sequence[str],
    events: bool,
    report: JsonLines,
    err: TextIO,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: ProgressMode = "auto",
    show_secrets: bool = False,
    rate: float | None = None,
) -> tuple[Counter[tuple[str, str]], int]:
    """Read every (user, provider) credential; write one report line for each.

    Each user named in ``users`` is looked up first (``GET /users/{id}``):
    a credential GET answers 404 alike for a user without that credential
    and for no user at all, and Leaf's docs do not say how to tell the two
    apart. A user Leaf does not know gets ``NO_USER`` lines (and counts as
    a failure) instead of a ``NO_CREDENTIAL`` for every provider.

    Args:
        providers: Provider slugs; every registered one when empty.
        users: Leaf user ids; every user of the account (``leaf.users()``)
            when empty.
        events: Also fetch the troubleshooting log of each credential that
            is not ``OK``, into its report line.
        show_secrets: Print the events' ``body`` and ``headers`` as they
            are, instead of with secret-looking values masked.
        rate: For ``leaf.bulk()``: None when the session's ``rate_limit``
            already holds ``--rate`` (see ``_common.bulk_rate``).

    Returns:
        The counts by ``(provider, status)``, and the number of failures.
    """
    slugs = list(providers) or [resource.slug for resource in leaf.registry]
    counts: Counter[tuple[str, str]] = Counter()
    failures = 0
    unhealthy: list[dict[str, Any]] = []
    missing = await _unknown_users(leaf, users, concurrency) if users else set()
    for user_id in (user_id for user_id in dict.fromkeys(users) if user_id in missing):
        err.write(f"audit: Leaf user {user_id!r} does not exist\n")
        failures += 1
        for slug in slugs:
            counts[slug, NO_USER] += 1
            report.write({"leafUserId": user_id, "provider": slug, "status": NO_USER})
    known = [user_id for user_id in users if user_id not in missing]
    if users and not known:
        return counts, failures
    total = len(known) * len(slugs) if users else None

    async def gets() -> AsyncIterator[Get]:
        if users:
            for user_id in known:
                for slug in slugs:
                    yield Get(slug, user_id)
            return
        async for user in leaf.users():
            for slug in slugs:
                yield Get(slug, user.id)

    with ProgressBar("audit", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(gets(), concurrency=concurrency, rate=rate)
        ) as outcomes:
            async for outcome in outcomes:
                line = _report_line(outcome)
                status = line["status"]
                # A missing credential is a finding of the audit, not a failure.
                bar.advance(failed=status == ERROR)
                counts[line["provider"], status] += 1
                failures += status == ERROR
                if events and status not in {CredentialStatus.OK, NO_CREDENTIAL, ERROR}:
                    unhealthy.append(line)
                else:
                    report.write(line)
    if unhealthy:
        failures += await _with_events(
            leaf, unhealthy, report, err, concurrency, progress, show_secrets, rate
        )
    return counts, failures


async def _unknown_users(leaf: LeafSession, users: Sequence[str], concurrency: int) -> set[str]:
    """Return the ids among ``users`` that Leaf answers 404 for; any other answer is a yes."""
    slots = asyncio.Semaphore(concurrency)
    # A token Leaf refuses refuses every lookup: stop at the first, as bulk()
    # does, instead of sending one doomed GET per --user.
    refused: list[AuthenticationError] = []

    async def unknown(user_id: str) -> bool:
        async with slots:
            if refused:
                return False
            try:
                await leaf.users.get(user_id)
            except NotFoundError:
                return True
            except AuthenticationError as exc:
                refused.append(exc)
                return False
            except LeafError:  # not ours to judge here: the credential GETs will say
                return False
        return False

    unique = list(dict.fromkeys(users))
    answers = await asyncio.gather(*(unknown(user_id) for user_id in unique))
    if refused:
        raise BulkStoppedError(
            f"audit stopped: the session cannot authenticate: {refused[0]}; "
            "no credential was read",
            reason="unauthenticated",
            error=refused[0],
        ) from refused[0]
    return {user_id for user_id, gone in zip(unique, answers, strict=True) if gone}


def _report_line(outcome: Outcome) -> dict[str, Any]:
    operation = outcome.operation
    line: dict[str, Any] = {
        "leafUserId": operation.user_id,
        "provider": provider_slug(operation.provider),
    }
    if outcome.error is None and outcome.value is not None:  # a GET's record
        line["status"] = str(outcome.value.status)
        line["credentialId"] = outcome.value.id
    elif isinstance(outcome.error, NotFoundError):
        line["status"] = NO_CREDENTIAL
    else:
        line["status"] = ERROR
        line["error"] = error_json(outcome.error or RuntimeError("no value"))
    return line


async def _with_events(
    leaf: LeafSession,
    lines: list[dict[str, Any]],
    report: JsonLines,
    err: TextIO,
    concurrency: int,
    progress: ProgressMode,
    show_secrets: bool = False,
    rate: float | None = None,
) -> int:
    """Fetch the events of the credentials that are not OK; write their report lines."""
    operations = [Events(line["provider"], line["leafUserId"]) for line in lines]
    failures = 0
    converter = leaf.converter
    with ProgressBar("events", len(operations), mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations, concurrency=concurrency, rate=rate)
        ) as outcomes:
            async for outcome in outcomes:
                bar.advance(failed=outcome.error is not None)
                line = lines[outcome.index]
                if outcome.error is None:
                    line["events"] = events_json(
                        outcome.value, converter, show_secrets=show_secrets
                    )
                else:
                    failures += 1
                    line["eventsError"] = error_json(outcome.error)
                report.write(line)
    return failures


def _columns(counts: Counter[tuple[str, str]]) -> list[str]:
    statuses = {status for _, status in counts}
    known = [s.value for s in CredentialStatus if s.value in statuses]
    other = sorted(statuses - {*known, NO_CREDENTIAL, NO_USER, ERROR})
    tail = [s for s in (NO_CREDENTIAL, NO_USER, ERROR) if s in statuses]
    return known + other + tail


def print_table(counts: Counter[tuple[str, str]], err: TextIO) -> None:
    """Print the counts by provider and status on ``err``: a rich table, or plain text."""
    columns = _columns(counts)
    providers = sorted({provider for provider, _ in counts})
    rows = [[provider, *(str(counts[provider, c]) for c in columns)] for provider in providers]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # the cli extra is not installed: plain text
        lines = [["provider", *columns], *rows]
        widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
        for row in lines:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            err.write("  ".join(cells).rstrip() + "\n")
        return
    table = Table(title="Credentials by provider and status")
    table.add_column("provider")
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*row)
    Console(file=err).print(table)
