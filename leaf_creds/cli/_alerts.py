"""``leaf-creds alerts``: register, list and delete webhooks, and listen for alerts.

``alerts listen`` serves the receiver on 127.0.0.1 (by default) and prints
each verified alert as one JSON line on stdout, as Leaf sent it with the
values of secret-looking keys masked. The webhook secret is read from a
file and never printed: a webhook's ``secret`` shows as ``"***"``, even with
``--show-secrets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import cattrs
from aiohttp import web

from .. import (
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    MASK,
    Alert,
    ValidationError,
    Webhook,
    WebhookConfirmation,
    aiohttp_handler,
    default_registry,
    make_converter,
)
from .._alerts import mask_secrets
from .._receiver import DEFAULT_READ_TIMEOUT
from ._common import (
    AUTH_HELP,
    EXIT_OK,
    Commands,
    UsageError,
    make_session,
    positive_float,
    say,
    with_session,
)
from ._output import read_error

__all__ = ["add_parser", "run", "webhook_json"]

_DEFAULT_EVENTS = (CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION)


def add_parser(commands: Commands) -> None:
    """Add ``alerts register | list | delete | listen``."""
    text = "manage the webhooks of Leaf's credential alerts, or listen for the alerts"
    alerts = commands.add("alerts", run, text)
    subcommands = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)

    def action(name: str, text: str, *, connects: bool = True) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = subcommands.add_parser(
            name, help=text, description=text, epilog=AUTH_HELP if connects else None,
            parents=[commands.connection] if connects else [],
        )  # fmt: skip
        return sub

    register = action("register", "register a webhook with Leaf's Alerts service")
    register.add_argument("--name", required=True, help="the webhook's name")
    register.add_argument("--url", required=True, help="where Leaf POSTs the alerts")
    register.add_argument(
        "--secret-file", required=True, metavar="FILE",
        help="read the signing secret from FILE (never printed)",
    )  # fmt: skip
    register.add_argument(
        "--event", action="append", dest="events", metavar="EVENT",
        help="an event to receive (repeatable; default: "
        + " and ".join(_DEFAULT_EVENTS) + ")",
    )  # fmt: skip

    action("list", "print every registered webhook")

    delete = action("delete", "delete a webhook")
    delete.add_argument("webhook_id", metavar="WEBHOOK_ID", help="the webhook's id")

    listen = action(
        "listen",
        "receive alerts until interrupted; print each verified alert as a JSON line",
        connects=False,
    )  # fmt: skip
    listen.add_argument("--port", type=int, required=True, help="the port (0: any free one)")
    listen.add_argument(
        "--host", default="127.0.0.1", help="the interface (default 127.0.0.1)"
    )
    listen.add_argument(
        "--path", default="/leaf/alerts", help="the URL path (default /leaf/alerts)"
    )
    listen.add_argument(
        "--secret-file", required=True, metavar="FILE",
        help="read the webhook's signing secret from FILE",
    )  # fmt: skip
    listen.add_argument(
        "--max-age", type=positive_float, metavar="SECONDS",
        help="refuse alerts dated further than this from now (replays; Leaf retries "
        "for about 4 hours, so e.g. 21600); default: any date",
    )  # fmt: skip
    listen.add_argument(
        "--read-timeout", type=positive_float, default=DEFAULT_READ_TIMEOUT, metavar="SECONDS",
        help=f"seconds a delivery's body may take to arrive (default {DEFAULT_READ_TIMEOUT:g})",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the action of ``alerts``."""
    actions = {"register": _register, "list": _list, "delete": _delete, "listen": _listen}
    return actions[args.alerts_command](args)


def webhook_json(webhook: Webhook, converter: cattrs.Converter) -> dict[str, Any]:
    """Return a webhook as Leaf's JSON, its secret always ``"***"``."""
    data: dict[str, Any] = converter.unstructure(webhook, Webhook)
    if data.get("secret") is not None:
        data["secret"] = MASK
    return data


def _read_secret(path: str) -> str:
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(read_error(f"--secret-file {path}", exc)) from None
    if not secret:
        raise UsageError(f"--secret-file {path} is empty")
    return secret


def _print(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _register(args: argparse.Namespace) -> int:
    secret = _read_secret(args.secret_file)
    leaf = make_session(args, default_registry())
    events = args.events or _DEFAULT_EVENTS
    registration = leaf.register_webhook(
        name=args.name, url=args.url, secret=secret, events=events
    )
    try:
        webhook = asyncio.run(with_session(leaf, registration))
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    _print(webhook_json(webhook, make_converter()))
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    leaf = make_session(args, default_registry())
    webhooks = asyncio.run(with_session(leaf, leaf.webhooks()))
    converter = make_converter()
    _print([webhook_json(webhook, converter) for webhook in webhooks])
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    leaf = make_session(args, default_registry())
    try:
        asyncio.run(with_session(leaf, leaf.delete_webhook(args.webhook_id)))
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    _print({"deleted": args.webhook_id})
    return EXIT_OK


def _listen(args: argparse.Namespace) -> int:
    secret = _read_secret(args.secret_file)
    if not args.path.startswith("/"):
        raise UsageError(f"--path must start with /, got {args.path!r}")

    async def on_alert(alert: Alert) -> None:
        if isinstance(alert, WebhookConfirmation):
            say("alerts listen: webhook confirmation received")
            return
        sys.stdout.write(json.dumps(mask_secrets(alert.raw)) + "\n")
        sys.stdout.flush()

    async def serve() -> None:
        app = web.Application()
        handler = aiohttp_handler(
            secret,
            on_alert,
            confirmations=True,
            max_age=args.max_age,
            read_timeout=args.read_timeout,
        )
        app.router.add_post(args.path, handler)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, args.host, args.port)
            await site.start()
            host, port = runner.addresses[0][:2]
            where = f"[{host}]" if ":" in host else host
            say(f"alerts listen: receiving Leaf alerts on http://{where}:{port}{args.path}")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    # The receiver logs each refused delivery; give those lines the prefix of
    # the command's own lines (Python's last-resort handler prints them bare).
    refusals = logging.StreamHandler(sys.stderr)
    refusals.setLevel(logging.WARNING)
    refusals.setFormatter(logging.Formatter("alerts listen: %(message)s"))
    logger = logging.getLogger("leaf_creds")
    logger.addHandler(refusals)
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        return EXIT_OK
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    finally:
        logger.removeHandler(refusals)
    return EXIT_OK  # pragma: no cover - serve() runs until interrupted
