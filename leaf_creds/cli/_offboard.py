"""``leaf-creds offboard USER [--delete-user] [--dry-run]``: remove all a Leaf user holds.

Prints the report of ``leaf.offboard`` as JSON (what was removed, what
failed) and a one-line summary on standard error; exits 1 when a step
failed. Run it again after a failure: it retries only what is left. A user
not found (already deleted) is nothing to do, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from typing import Any

from .. import OffboardStep, default_registry
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    check_user,
    make_session,
    say,
    with_session,
)

__all__ = ["add_parser", "run"]

_NAMES = {"credential": "credential", "api_key": "API key", "magic_link": "Magic Link",
          "user": "user"}  # fmt: skip


def add_parser(commands: Commands) -> None:
    """Add ``offboard``."""
    sub = commands.add(
        "offboard", run,
        "remove a user's credentials (every provider), Leaf Link API keys and open Magic "
        "Links, and with --delete-user the user; safe to run again",
    )  # fmt: skip
    sub.add_argument("user_id", metavar="USER", help="the Leaf user's id")
    sub.add_argument(
        "--delete-user", action="store_true",
        help="then delete the user too (only once everything else is gone)",
    )  # fmt: skip
    sub.add_argument(
        "--dry-run", action="store_true", help="list what would be removed; remove nothing"
    )


def _step(step: OffboardStep) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": step.kind, "target": step.target}
    if step.error is not None:
        data["error"] = step.error  # an error's text: never a secret
    return data


def _count(steps: tuple[OffboardStep, ...]) -> str:
    counts = Counter(step.kind for step in steps)
    parts = [
        f"{count} {_NAMES[kind]}{'s' if count != 1 else ''}" for kind, count in counts.items()
    ]
    return ", ".join(parts) or "nothing"


def run(args: argparse.Namespace) -> int:
    """Offboard one user; print the report."""
    user_id = check_user(args.user_id)
    registry = default_registry()
    leaf = make_session(args, registry)
    report = asyncio.run(
        with_session(
            leaf, leaf.offboard(user_id, delete_user=args.delete_user, dry_run=args.dry_run)
        )
    )
    data = {
        "userId": report.user_id,
        "found": report.found,
        "dryRun": report.dry_run,
        "removed": [_step(step) for step in report.removed],
        "failed": [_step(step) for step in report.failed],
    }
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    if not report.found:
        say(f"leaf-creds offboard: Leaf user {user_id!r} not found: nothing to offboard")
        return EXIT_OK
    verb = "would remove" if report.dry_run else "removed"
    say(f"leaf-creds offboard: {verb} {_count(report.removed)}; {len(report.failed)} failed")
    for step in report.failed:
        say(f"  {_NAMES[step.kind]} {step.target}: {step.error}")
    if report.failed:
        say("leaf-creds offboard: run it again to retry what failed")
        return EXIT_FAILED
    return EXIT_OK
