"""``leaf-creds audit``: the status of every credential, and a table of counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any, TextIO

from .._bulk import DEFAULT_CONCURRENCY, Events, Get, Outcome
from .._exceptions import NotFoundError
from .._models import CredentialRecord, CredentialStatus
from .._session import LeafSession
from ._output import JsonLines, error_json, provider_slug
from ._progress import ProgressBar, ProgressMode

__all__ = ["ERROR", "NO_CREDENTIAL", "audit", "print_table"]

NO_CREDENTIAL = "NO_CREDENTIAL"  # GET answered 404: the user has none for this provider
ERROR = "ERROR"  # the GET failed otherwise; the report line says why


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
) -> tuple[Counter[tuple[str, str]], int]:
    """Read every (user, provider) credential; write one report line for each.

    Args:
        providers: Provider slugs; every registered one when empty.
        users: Leaf user ids; every user of the account (``leaf.users()``)
            when empty.
        events: Also fetch the troubleshooting log of each credential that
            is not ``OK``, into its report line.

    Returns:
        The counts by ``(provider, status)``, and the number of failures.
    """
    slugs = list(providers) or [resource.slug for resource in leaf.registry]
    total = len(users) * len(slugs) if users else None
    counts: Counter[tuple[str, str]] = Counter()
    failures = 0
    unhealthy: list[dict[str, Any]] = []

    async def gets() -> AsyncIterator[Get]:
        if users:
            for user_id in users:
                for slug in slugs:
                    yield Get(slug, user_id)
            return
        async for user in leaf.users():
            for slug in slugs:
                yield Get(slug, user.id)

    with ProgressBar("audit", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(gets(), concurrency=concurrency, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                line = _report_line(outcome)
                status = line["status"]
                counts[line["provider"], status] += 1
                failures += status == ERROR
                if events and status not in {CredentialStatus.OK, NO_CREDENTIAL, ERROR}:
                    unhealthy.append(line)
                else:
                    report.write(line)
    if unhealthy:
        failures += await _with_events(leaf, unhealthy, report, err, concurrency, progress)
    return counts, failures


def _report_line(outcome: Outcome) -> dict[str, Any]:
    operation = outcome.operation
    line: dict[str, Any] = {
        "leafUserId": operation.user_id,
        "provider": provider_slug(operation.provider),
    }
    if isinstance(outcome.value, CredentialRecord):
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
) -> int:
    """Fetch the events of the credentials that are not OK; write their report lines."""
    operations = [Events(line["provider"], line["leafUserId"]) for line in lines]
    failures = 0
    converter = leaf._converter
    with ProgressBar("events", len(operations), mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations, concurrency=concurrency, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                line = lines[outcome.index]
                if outcome.error is None:
                    line["events"] = converter.unstructure(outcome.value)
                else:
                    failures += 1
                    line["eventsError"] = error_json(outcome.error)
                report.write(line)
    return failures


def _columns(counts: Counter[tuple[str, str]]) -> list[str]:
    statuses = {status for _, status in counts}
    known = [s.value for s in CredentialStatus if s.value in statuses]
    other = sorted(statuses - {*known, NO_CREDENTIAL, ERROR})
    tail = [s for s in (NO_CREDENTIAL, ERROR) if s in statuses]
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
