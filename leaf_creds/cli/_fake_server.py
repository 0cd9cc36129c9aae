"""``leaf-creds fake-server``: the fake Leaf API (``leaf_creds.testing``) until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from .. import ValidationError
from ._common import EXIT_OK, Commands, UsageError, non_negative_int, port_number
from ._output import read_error

__all__ = ["add_parser", "run"]


def add_parser(commands: Commands) -> None:
    """Add ``fake-server``."""
    sub = commands.add(
        "fake-server", run, "run the fake Leaf API until interrupted", connection=False
    )
    sub.add_argument(
        "--port", type=port_number, default=8080, help="the port (default 8080; 0 picks a free one)"
    )
    sub.add_argument("--host", default="127.0.0.1", help="the interface (default 127.0.0.1)")
    sub.add_argument(
        "--rate-limit", metavar="LIMIT",
        help="answer Leaf's 429 past LIMIT requests, shared by every client: 200/s, "
        "200/s:20 (a burst of 20), 1000/min (Leaf's fixed window), or both comma-joined",
    )  # fmt: skip
    sub.add_argument(
        "--users", type=non_negative_int, default=0, metavar="N",
        help="start with N users (Grower 0000, ...; no credentials), with the same ids "
        "on every start (default 0)",
    )  # fmt: skip
    sub.add_argument(
        "--seed-file", metavar="FILE",
        help='then add the users and credentials of FILE: {"users": [{"id": ..., "name": ..., '
        '"credentials": {SLUG: camelCase body}, "statuses": {SLUG: STATUS}}]} '
        "(see the README's testing section)",
    )  # fmt: skip
    sub.add_argument(
        "--token", metavar="TOKEN",
        help="also accept this opaque bearer token, which never expires: clients keep "
        "working across restarts (default: only the JWTs the fake issues, new on each start)",
    )  # fmt: skip
    sub.add_argument(
        "--username", default="user@example.com",
        help="the account /api/authenticate accepts (default user@example.com)",
    )  # fmt: skip
    sub.add_argument(
        "--password", default="password",
        help='its password (default "password": a fake\'s, not a secret)',
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Serve the fake until interrupted."""
    try:
        from leaf_creds.testing import RateLimit, serve
    except ImportError as exc:  # pragma: no cover - shipped in the same package
        raise UsageError(f"the fake server is not available: {exc}") from None
    try:
        limit = RateLimit.parse(args.rate_limit) if args.rate_limit else None
    except ValueError as exc:
        raise UsageError(f"--rate-limit: {exc}") from None
    if args.token is not None and (not args.token or any(c.isspace() for c in args.token)):
        raise UsageError("--token must be one word: no spaces, not empty")
    document = _read_seed(args.seed_file) if args.seed_file is not None else None
    try:
        asyncio.run(
            serve(
                host=args.host, port=args.port, rate_limit=limit, users=args.users,
                seed_document=document, token=args.token,
                accounts={args.username: args.password},
            )
        )  # fmt: skip
    except KeyboardInterrupt:
        return EXIT_OK
    except ValidationError as exc:
        problems = "\n  ".join(exc.errors)
        raise UsageError(f"--seed-file {args.seed_file}: {len(exc.errors)} problem(s):\n  "
                         f"{problems}") from None  # fmt: skip
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return EXIT_OK  # pragma: no cover - serve() runs until interrupted


def _read_seed(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(read_error(f"--seed-file {path}", exc)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"--seed-file {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
