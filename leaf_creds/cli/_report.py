"""``leaf-creds report``: where the credentials and their repairs stand, from the case store.

``--html FILE`` writes one self-contained page (no request to any host
when opened: inline CSS, no script, a ``default-src 'none'`` policy);
``--json`` prints the same as JSON. It reads the store only (no Leaf
request, no token needed), with aggregate queries: its time and memory do
not grow with the fleet. No link, token or credential is in either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from ..repair import (
    DEFAULT_STORE,
    CaseStore,
    Report,
    SQLiteStore,
    StoreError,
    build_report,
    open_store,
    render_html,
    report_json,
)
from ._common import EXIT_OK, Commands, UsageError, positive_int, say

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    """Add ``report``."""
    sub = commands.add(
        "report", run,
        "report credentials by provider and status, open cases by age, time to repair and the "
        "invite funnel, from the case store of `watch` (a self-contained HTML page, or JSON)",
        connection=False,
    )  # fmt: skip
    sub.add_argument(
        "--store", default=DEFAULT_STORE, metavar="PATH|URL",
        help=f"the case store: a SQLite file (default {DEFAULT_STORE}) or a postgresql:// URL",
    )  # fmt: skip
    sub.add_argument("--html", metavar="FILE", help="write the page to FILE")
    sub.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    sub.add_argument(
        "--limit", type=positive_int, default=100, metavar="N",
        help="list the N oldest open cases (default 100)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Write the report."""
    if args.html is None and not args.json:
        raise UsageError("give --html FILE, --json, or both")
    store = open_store(args.store)
    if isinstance(store, SQLiteStore) and not store.path.exists():
        raise UsageError(f"no case store at {args.store} (leaf-creds watch makes it)")
    try:
        report = asyncio.run(_build(store, args.limit))
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    if args.html is not None:
        try:
            Path(args.html).write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.html}: {exc.strerror}") from None
        say(
            f"report: wrote {args.html}: {report.open} open cases, {report.resolved} resolved, "
            f"{sum(sum(c.values()) for c in report.credentials.values())} credentials"
        )
    if args.json:
        sys.stdout.write(json.dumps(report_json(report), indent=2) + "\n")
    return EXIT_OK


async def _build(store: CaseStore, limit: int) -> Report:
    async with store:
        return await build_report(store, now=datetime.now(UTC), limit=limit)
