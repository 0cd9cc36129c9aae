"""``leaf-creds``: the command line of leaf_creds.

JSON goes to standard output, text for humans and the progress bar to
standard error. Exit status: 0 when everything succeeded, 1 when some
operation failed, 2 for bad usage or a bad input file (nothing was sent).

Authentication, first found wins: ``--token-file FILE``, ``LEAF_TOKEN``, or
``LEAF_USERNAME`` with ``LEAF_PASSWORD``. The API host: ``--base-url`` or
``LEAF_BASE_URL`` (Leaf's own by default).

Each command is a module with its own ``add_parser()`` and ``run()``; what
they share is ``_common``. This module only assembles them.

Not imported by ``import leaf_creds``; rich (the ``cli`` extra) is imported
only when a bar or a table is drawn.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .. import LeafError, LeafSession, Registry, __version__
from . import (
    _alerts,
    _app_keys,
    _apply,
    _audit,
    _connect,
    _credential,
    _demo,
    _diagnose,
    _fake_server,
    _invite,
    _offboard,
    _providers,
    _report,
    _watch,
)
from ._common import (
    AUTH_HELP,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Commands,
    UsageError,
    connection_options,
    say,
)

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

# In the order --help lists them.
_COMMANDS = (
    _providers,
    _credential,
    _apply,
    _audit,
    _diagnose,
    _demo,
    _fake_server,
    _alerts,
    _app_keys,
    _invite,
    _connect,
    _offboard,
    _watch,
    _report,
)


def main(
    argv: Sequence[str] | None = None,
    *,
    session_factory: Callable[[Registry], LeafSession] | None = None,
) -> int:
    """Run ``leaf-creds`` with ``argv`` (``sys.argv[1:]`` by default); return the exit status.

    Args:
        argv: The command line, without the program name.
        session_factory: Builds the command's session instead of the
            options and environment (how the Airflow operators hand over
            their connection without a token file or variable).
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or argparse's own usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_OK if exc.code is None else 2
    args.session_factory = session_factory
    run: Callable[[argparse.Namespace], int] = args.handler
    try:
        return run(args)
    except UsageError as exc:  # a PlanError too
        say(f"leaf-creds {args.command}: error: {exc}")
        return EXIT_USAGE
    except LeafError as exc:
        say(f"leaf-creds {args.command}: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("leaf-creds: interrupted")
        # A command that can be picked up again says how (apply's --resume).
        hint: Callable[[argparse.Namespace, Sequence[str]], str] | None = getattr(
            args, "interrupted", None
        )
        if hint is not None:
            say(hint(args, sys.argv[1:] if argv is None else list(argv)))
        return 130
    except BrokenPipeError:
        # The reader of standard output went away (`| head`): stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    common = connection_options(shown=True)
    parser = argparse.ArgumentParser(
        prog="leaf-creds",
        description="Manage the provider credentials of Leaf users: one at a time, "
        "in bulk from a plan, or audit them all. JSON on stdout, text on stderr; "
        "exit 0 when everything succeeded, 1 when an operation failed, 2 for bad usage.",
        epilog=AUTH_HELP,
        parents=[common],
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"leaf-creds {__version__}",
        help="print the version and exit",
    )  # fmt: skip
    commands = Commands(
        parser.add_subparsers(dest="command", metavar="COMMAND", required=True), common
    )
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser
