"""``leaf-creds app-keys``: the provider applications' keys stored at Leaf.

``create`` and ``update`` read the keys as Leaf's camelCase JSON body from
``--from FILE`` (``-`` for stdin); nothing prints them: Leaf never returns
them, and every command prints only the app's metadata.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from typing import Any

from .. import (
    AppKey,
    ConflictError,
    CredentialResource,
    Registry,
    ValidationError,
    default_registry,
    make_converter,
)
from ._common import (
    AUTH_HELP,
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    make_session,
    read_body,
    say,
    with_session,
)

__all__ = ["add_parser", "app_key_resource", "run"]


def add_parser(commands: Commands) -> None:
    """Add ``app-keys list | get | create | update | delete``."""
    text = "manage the provider applications' keys stored at Leaf (for Magic Links and Leaf Link)"
    app_keys = commands.add("app-keys", run, text)
    actions = app_keys.add_subparsers(dest="app_keys_command", metavar="ACTION", required=True)

    def action(name: str, text: str, *, app: bool = True) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=text, description=text, epilog=AUTH_HELP, parents=[commands.connection]
        )
        sub.add_argument(
            "provider", metavar="PROVIDER",
            help="the provider's slug (john-deere) or Leaf's name for it (JohnDeere)",
        )  # fmt: skip
        if app:
            sub.add_argument("app_name", metavar="APP", help="your name for the app")
            sub.add_argument(
                "--environment", type=str.upper, choices=("STAGE", "PRODUCTION"),
                help="the client environment, for providers whose app keys live per "
                "environment (JohnDeere, CNHI, CNHIFieldOps), and only for them",
            )  # fmt: skip
        return sub

    action("list", "print the metadata of every app's keys for a provider", app=False)
    action("get", "print the metadata of one app's keys")
    for name, verb in (("create", "store"), ("update", "replace")):
        sub = action(name, f"{verb} an app's keys (read from --from FILE; never printed)")
        sub.add_argument(
            "--from", dest="from_file", metavar="FILE", required=True,
            help="the keys as Leaf's camelCase JSON body; - reads stdin",
        )  # fmt: skip
    action("delete", "delete an app's keys")


def app_key_resource(registry: Registry, name: str) -> CredentialResource[Any, Any]:
    """Return the provider of a slug or of Leaf's app-key name, if it has app keys.

    Raises:
        UsageError: No registered provider has that name, or it has no app keys.
    """
    for resource in registry:
        if resource.slug == name or (
            resource.app_key is not None and resource.app_key.provider == name
        ):
            if resource.app_key is None:
                break
            return resource
    known = ", ".join(r.slug for r in registry if r.app_key is not None)
    raise UsageError(f"{name!r} is not a provider with app keys; these have them: {known}")


def _check_environment(
    resource: CredentialResource[Any, Any], command: str, environment: str | None
) -> None:
    """Refuse a missing or needless ``--environment`` in the option's words.

    Raises:
        UsageError: The provider's app keys live per environment and none
            was given, or they do not and one was.
    """
    spec = resource.app_key
    if spec is None or command == "list":
        return
    if spec.per_environment and environment is None:
        raise UsageError(
            f"{spec.provider} app keys live per environment: give --environment STAGE "
            "or --environment PRODUCTION"
        )
    if not spec.per_environment and environment is not None:
        raise UsageError(f"{spec.provider} app keys have no environment: leave out --environment")


def _json(key: AppKey) -> dict[str, Any]:
    data: dict[str, Any] = make_converter().unstructure(key, AppKey)
    return data


def run(args: argparse.Namespace) -> int:
    """Run the action of ``app-keys``; print the metadata, never the keys."""
    registry = default_registry()
    resource = app_key_resource(registry, args.provider)
    command = args.app_keys_command
    environment = getattr(args, "environment", None)
    _check_environment(resource, command, environment)
    body = read_body(args.from_file) if command in {"create", "update"} else None
    leaf = make_session(args, registry)
    app_keys = leaf.app_keys
    work: Any
    if command == "list":
        work = app_keys.list(resource)
    elif command == "get":
        work = app_keys.get(resource, args.app_name, environment=environment)
    elif command == "delete":
        work = app_keys.delete(resource, args.app_name, environment=environment)
    else:
        write = app_keys.create if command == "create" else app_keys.update
        work = write(resource, args.app_name, body, environment=environment)
    try:
        result = asyncio.run(with_session(leaf, work))
    except ValidationError as exc:
        # Raised before any request: bad usage. The message names fields, never values.
        raise UsageError(str(exc)) from None
    except ConflictError as exc:
        if command != "create":
            raise
        # Leaf's answer speaks HTTP ("PUT"); a command-line user wants the command.
        say(f"leaf-creds app-keys: {type(exc).__name__}: {exc}")
        update = ["leaf-creds", "app-keys", "update", args.provider, args.app_name]
        update += ["--environment", environment] if environment else []
        say(f"leaf-creds app-keys: to replace its keys, run: "
            f"{shlex.join([*update, '--from', args.from_file])}")  # fmt: skip
        return EXIT_FAILED
    if command == "list":
        data: Any = [_json(key) for key in result]
    elif command == "delete":
        data = {"deleted": args.app_name, "provider": resource.app_key.provider}  # type: ignore[union-attr]
    else:
        data = _json(result)
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return EXIT_OK
