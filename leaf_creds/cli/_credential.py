"""``leaf-creds get | create | delete | events``: one user's credential for one provider.

Each prints its outcome as ``apply`` writes it, indented, and exits 1 when
the operation failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import aclosing

from .. import (
    Create,
    Delete,
    Events,
    Get,
    Operation,
    Outcome,
    ValidationError,
    default_registry,
    make_converter,
)
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    check_user,
    make_session,
    option,
    read_body,
    resource_of,
    say,
)
from ._output import outcome_json

__all__ = ["add_parser", "run"]

_KINDS: dict[str, type[Operation]] = {"get": Get, "delete": Delete, "events": Events}


def add_parser(commands: Commands) -> None:
    """Add ``get``, ``delete``, ``events`` and ``create``."""
    for name, text in (
        ("get", "print a user's credential for a provider"),
        ("delete", "detach a user's credential for a provider"),
        ("events", "print the troubleshooting log of a user's credential"),
        ("create", "attach a credential to a user (--from FILE, camelCase JSON; - for stdin)"),
    ):
        sub = commands.add(name, run, text)
        sub.add_argument("provider", metavar="PROVIDER", help="the provider's slug, e.g. sentera")
        sub.add_argument("user_id", metavar="USER_ID", help="the Leaf user's id")
        if name == "create":
            sub.add_argument(
                "--from", dest="from_file", metavar="FILE", required=True,
                help="the credentials as Leaf's camelCase JSON body; - reads stdin",
            )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the one operation; print its outcome."""
    registry = default_registry()
    resource = resource_of(registry, args.provider)
    user_id = check_user(args.user_id)
    operation: Operation
    if args.command == "create":
        body = read_body(args.from_file)
        try:
            resource.credentials_from_wire(body)
        except ValidationError as exc:
            raise UsageError(
                f"{args.from_file}: invalid {resource.slug} credentials: " + "; ".join(exc.errors)
            ) from None
        operation = Create(resource.slug, user_id, body)
    else:
        operation = _KINDS[args.command](resource.slug, user_id)
    leaf = make_session(args, registry)

    async def one() -> Outcome:
        async with leaf, aclosing(leaf.bulk([operation])) as outcomes:
            return await anext(outcomes)

    outcome = asyncio.run(one())
    show_secrets = option(args, "show_secrets", False)
    data = outcome_json(outcome, make_converter(), show_secrets=show_secrets)
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    # On a terminal the JSON above already shows the error; when stdout is
    # piped, stderr is where a person sees it.
    if outcome.error is None:
        return EXIT_OK
    if not sys.stdout.isatty():
        say(f"leaf-creds {args.command}: failed: {data['error']['message']}")
    return EXIT_FAILED
