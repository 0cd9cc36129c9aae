"""What every command of ``leaf-creds`` shares: exit codes, options, the session, files.

The command modules import from here, never from ``cli/__init__``, which
only assembles them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, Final, TypeVar

from .. import (
    DEFAULT_BASE_URL,
    CredentialResource,
    LeafSession,
    Registry,
    ValidationError,
)
from .._bulk import DEFAULT_CONCURRENCY
from .._resource import user_path
from ._output import read_error

__all__ = [
    "AUTH_HELP",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "Commands",
    "UsageError",
    "add_bulk_options",
    "bulk_rate",
    "check_user",
    "connection_options",
    "error_kind",
    "failed_by_kind",
    "make_session",
    "non_negative_int",
    "open_out",
    "option",
    "plural",
    "port_number",
    "positive_float",
    "positive_int",
    "read_body",
    "read_secret",
    "resource_of",
    "same_file",
    "say",
    "with_session",
]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

AUTH_HELP: Final = (
    "Authentication: --token-file FILE, or LEAF_TOKEN, or LEAF_USERNAME and LEAF_PASSWORD. "
    "API host: --base-url or LEAF_BASE_URL."
)

Run = Callable[[argparse.Namespace], int]
T = TypeVar("T")


class UsageError(Exception):
    """Bad usage or a bad input file: exit 2, nothing was sent."""


def say(text: str) -> None:
    """Write a line for the person at the terminal on standard error."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def plural(count: int, word: str, words: str | None = None) -> str:
    """Return ``1 credential``, ``2 credentials`` (``words``: the plural, if not ``word + "s"``)."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def error_kind(error: BaseException) -> str:
    """Return what a summary counts a failure as: ``ConflictError (409)``, ``TransportError``."""
    status = getattr(error, "status", None)
    name = type(error).__name__
    return f"{name} ({status})" if isinstance(status, int) else name


def failed_by_kind(command: str, kinds: Counter[str]) -> str | None:
    """Return the summary's breakdown of the failures by error, the most common first.

    ``None`` when nothing failed. Each failed line's ``error`` says more.
    """
    if not kinds:
        return None
    parts = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return f'{command}: failed by error: {parts} (each failed line\'s "error" says more)'


# -- option types and parsers ----------------------------------------------


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def positive_int(text: str) -> int:
    """Read an option that is an integer of at least 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """Read an option that is an integer of 0 or more."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def port_number(text: str) -> int:
    """Read a TCP port: 0 (any free one) to 65535."""
    value = _integer(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port from 0 to 65535, got {value}")
    return value


def positive_float(text: str) -> float:
    """Read an option that is a positive, finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def connection_options(*, shown: bool) -> argparse.ArgumentParser:
    """Return the parent parser of the connection options, listed in --help or not."""
    # The connection options are accepted before or after the command;
    # SUPPRESS keeps a subcommand's parser from overwriting them with defaults.
    common = argparse.ArgumentParser(add_help=False)
    options = common.add_argument_group("connection")

    def add(*flags: str, help: str, **kwargs: Any) -> None:
        options.add_argument(
            *flags, default=argparse.SUPPRESS, help=help if shown else argparse.SUPPRESS, **kwargs
        )

    add("--base-url", help=f"the API host (default: LEAF_BASE_URL, else {DEFAULT_BASE_URL})")
    add(
        "--token-file", metavar="FILE",
        help="read the bearer token from FILE (else LEAF_TOKEN, else LEAF_USERNAME/LEAF_PASSWORD)",
    )  # fmt: skip
    add(
        "--timeout", type=positive_float, metavar="SECONDS",
        help="seconds one HTTP attempt may take (default 30)",
    )  # fmt: skip
    add(
        "--allow-http", action="store_true",
        help="allow a plain http:// --base-url on a host other than this machine; the "
        "bearer token and credentials then cross the network in clear",
    )  # fmt: skip
    add(
        "--show-secrets", action="store_true",
        help='print secret fields as they are instead of "***"',
    )  # fmt: skip
    return common


class Commands:
    """The commands of ``leaf-creds``, to which each command module adds its parser.

    Attributes:
        connection: The parent parser of the connection options, listed in --help.
    """

    def __init__(self, subparsers: Any, connection: argparse.ArgumentParser) -> None:
        self._subparsers = subparsers
        self.connection = connection
        # Commands that never talk to Leaf still accept the options (scripts
        # may pass them everywhere) but do not list them.
        self._unlisted = connection_options(shown=False)

    def add(self, name: str, run: Run, text: str, *, connection: bool = True) -> Any:
        """Add the command ``name``, run by ``run``; return its parser."""
        # A command that never talks to Leaf does not list the connection options.
        sub = self._subparsers.add_parser(
            name, help=text, description=text, epilog=AUTH_HELP if connection else None,
            parents=[self.connection] if connection else [self._unlisted],
        )  # fmt: skip
        sub.set_defaults(handler=run)
        return sub


def add_bulk_options(parser: argparse.ArgumentParser, *, rate: bool = False) -> None:
    """Add ``--concurrency`` and ``--progress`` (and ``--rate``) to a bulk command."""
    parser.add_argument(
        "--concurrency", type=positive_int, default=DEFAULT_CONCURRENCY, metavar="N",
        help=f"operations in flight at once (default {DEFAULT_CONCURRENCY})",
    )  # fmt: skip
    parser.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto",
        help="the progress bar on stderr: auto shows it on a terminal (needs rich)",
    )  # fmt: skip
    if rate:
        parser.add_argument(
            "--rate", type=positive_float, metavar="R",
            help="start at most R requests per second",
        )  # fmt: skip


def option(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    """Return an option that not every command has (the connection options)."""
    return getattr(args, name, default)


# -- the session -----------------------------------------------------------


def make_session(args: argparse.Namespace, registry: Registry) -> LeafSession:
    """Build the session from the options and the environment (or the session factory).

    ``--rate`` becomes the session's ``rate_limit``: a hard ceiling on every
    request, retries and 429s' resends included.
    """
    factory = option(args, "session_factory")
    if factory is not None:
        leaf: LeafSession = factory(registry)
        return leaf
    auth: dict[str, Any]
    token_file = option(args, "token_file")
    environ = os.environ
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(read_error(f"--token-file {token_file}", exc)) from None
        if not token:
            raise UsageError(f"--token-file {token_file} is empty")
        auth = {"token": token}
    elif environ.get("LEAF_TOKEN"):
        auth = {"token": environ["LEAF_TOKEN"].strip()}
    elif environ.get("LEAF_USERNAME") or environ.get("LEAF_PASSWORD"):
        if not (environ.get("LEAF_USERNAME") and environ.get("LEAF_PASSWORD")):
            raise UsageError("set both LEAF_USERNAME and LEAF_PASSWORD")
        auth = {"username": environ["LEAF_USERNAME"], "password": environ["LEAF_PASSWORD"]}
    else:
        raise UsageError(
            "no credentials: set LEAF_TOKEN, or LEAF_USERNAME and LEAF_PASSWORD, "
            "or pass --token-file FILE"
        )
    base_url = option(args, "base_url") or environ.get("LEAF_BASE_URL") or DEFAULT_BASE_URL
    try:
        return LeafSession(
            **auth,
            base_url=base_url,
            registry=registry,
            timeout=option(args, "timeout", 30.0),
            allow_http=option(args, "allow_http", False),
            rate_limit=option(args, "rate"),
        )
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


def bulk_rate(args: argparse.Namespace, leaf: LeafSession) -> float | None:
    """Return the ``rate`` to give ``leaf.bulk()``: None when the session enforces ``--rate``.

    A session built from the options has ``--rate`` as its ceiling already.
    One from a session factory (the Airflow operators) was built with the
    factory's options, and cannot take a ceiling afterwards: there bulk()
    paces the operations to ``--rate``.
    """
    rate: float | None = option(args, "rate")
    ceiling = leaf.rate_limit
    if rate is None or (ceiling is not None and ceiling <= rate):
        return None
    return rate


async def with_session(leaf: LeafSession, work: Awaitable[T]) -> T:
    """Run ``work`` inside ``async with leaf``."""
    async with leaf:
        return await work


# -- arguments that name Leaf things ---------------------------------------


def resource_of(registry: Registry, slug: str) -> CredentialResource[Any, Any]:
    """Return the registered provider of ``slug``.

    Raises:
        UsageError: No registered provider has that slug.
    """
    if slug not in registry:
        known = ", ".join(resource.slug for resource in registry)
        raise UsageError(f"unknown provider {slug!r}; known providers: {known}")
    return registry.get(slug)


def check_user(user_id: str) -> str:
    """Return ``user_id`` if it can be a Leaf user's id.

    Raises:
        UsageError: It cannot.
    """
    try:
        user_path(user_id)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    return user_id


# -- files -----------------------------------------------------------------


def read_body(source: str) -> dict[str, Any]:
    """Read the JSON object of ``--from FILE`` (``-``: standard input).

    Raises:
        UsageError: It cannot be read, or is not a JSON object.
    """
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(read_error(f"--from {source}", exc)) from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(body, dict):
        raise UsageError(f"{source}: expected a JSON object, got {type(body).__name__}")
    return body


def read_secret(option: str, path: str) -> str:
    """Read a secret from the file of ``option`` (its text, stripped); it is never printed.

    Raises:
        UsageError: It cannot be read, or is empty.
    """
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(read_error(f"{option} {path}", exc)) from None
    if not secret:
        raise UsageError(f"{option} {path} is empty")
    return secret


def open_out(path: str | None, *, append: bool = False) -> IO[str]:
    """Open ``--out`` for writing (standard output when None).

    Raises:
        UsageError: It cannot be opened.
    """
    if path is None:
        return sys.stdout
    try:
        stream = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc}") from None
    if append and _ends_mid_line(path):
        # A run killed mid-write left half a line: end it, so the next
        # outcome starts a line of its own (the half line stays unreadable).
        stream.write("\n")
    return stream


def _ends_mid_line(path: str) -> bool:
    with open(path, "rb") as existing:
        if existing.seek(0, os.SEEK_END) == 0:
            return False
        existing.seek(-1, os.SEEK_END)
        return existing.read(1) != b"\n"


def same_file(a: str, b: str) -> bool:
    """Tell whether two paths name one file (or would, once created)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)
