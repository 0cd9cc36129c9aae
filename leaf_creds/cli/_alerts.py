"""``leaf-creds alerts``: webhooks, listening for alerts, missed alerts, and a secret's rotation.

``alerts listen`` serves the receiver on 127.0.0.1 (by default) and prints
each verified alert as one JSON line on stdout, as Leaf sent it with the
values of secret-looking keys masked; it takes several ``--secret-file``
while a secret is rotated. ``alerts missed`` lists Leaf's failed webhook
calls and, with ``--replay URL``, posts each again, signed, to a receiver
you run, whose de-duplication skips those it handled. ``alerts
rotate-secret`` registers a webhook again with a new secret. A webhook
secret is read from a file and never printed: a webhook's ``secret`` shows
as ``"***"``, even with ``--show-secrets``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import cattrs
from aiohttp import web

from .. import (
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    MASK,
    SIGNATURE_HEADER,
    Alert,
    CredentialAlert,
    FailedCall,
    LeafError,
    SecretRotation,
    ValidationError,
    Webhook,
    WebhookConfirmation,
    aiohttp_handler,
    default_registry,
    make_converter,
    sign,
)
from .._alerts import mask_secrets
from .._receiver import DEFAULT_READ_TIMEOUT
from ._common import (
    AUTH_HELP,
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    make_session,
    port_number,
    positive_float,
    say,
    with_session,
)
from ._output import read_error

__all__ = ["add_parser", "run", "webhook_json"]

_DEFAULT_EVENTS = (CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION)


def add_parser(commands: Commands) -> None:
    """Add ``alerts register | list | delete | listen | missed | rotate-secret``."""
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
    listen.add_argument(
        "--port", type=port_number, required=True, help="the port (0: any free one)"
    )
    listen.add_argument("--host", default="127.0.0.1", help="the interface (default 127.0.0.1)")
    listen.add_argument(
        "--path", default="/leaf/alerts", help="the URL path (default /leaf/alerts)"
    )
    listen.add_argument(
        "--secret-file", required=True, metavar="FILE", action="append",
        help="read the webhook's signing secret from FILE; repeat it to accept the old and "
        "the new secret while rotating",
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

    missed = action(
        "missed",
        "print the alerts Leaf failed to deliver (its failed webhook calls); "
        "--replay posts them again to your receiver",
    )  # fmt: skip
    missed.add_argument("--url", help="only the calls to this webhook URL")
    missed.add_argument(
        "--since", type=_aware_time, metavar="TIME",
        help="only the calls since TIME (ISO 8601 with a zone, e.g. 2024-06-15T14:00:00Z)",
    )  # fmt: skip
    missed.add_argument(
        "--replay", metavar="URL",
        help="POST each missed alert, signed, to your receiver at URL; one it has handled "
        "already answers duplicate and is not handled again",
    )  # fmt: skip
    missed.add_argument(
        "--secret-file", metavar="FILE",
        help="the signing secret your receiver checks, for --replay (never printed)",
    )  # fmt: skip

    rotate = action(
        "rotate-secret",
        "register a webhook again with a new secret (Leaf's only way: delete, then create); "
        "let your receiver accept both secrets first",
    )  # fmt: skip
    rotate.add_argument("webhook_id", metavar="WEBHOOK_ID", help="the webhook's id")
    rotate.add_argument(
        "--secret-file", required=True, metavar="FILE",
        help="read the new signing secret from FILE (never printed)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run the action of ``alerts``."""
    actions = {
        "register": _register,
        "list": _list,
        "delete": _delete,
        "listen": _listen,
        "missed": _missed,
        "rotate-secret": _rotate,
    }
    return actions[args.alerts_command](args)


def _aware_time(text: str) -> datetime:
    """Read ``--since``: an ISO 8601 time with its zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give the time's zone, e.g. {text}Z")
    return moment


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
    registration = leaf.register_webhook(name=args.name, url=args.url, secret=secret, events=events)
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
    secret = [_read_secret(path) for path in args.secret_file]
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


# -- missed alerts and a secret's rotation -----------------------------------


def missed_json(call: FailedCall) -> dict[str, Any]:
    """Return a failed call fit to print: when, where (no query string), why, which alert."""
    alert: dict[str, Any] | None = None
    try:
        parsed = call.alert()
    except ValidationError:
        parsed = None
    if isinstance(parsed, CredentialAlert):
        alert = {
            "type": parsed.type,
            "credentialId": parsed.credential_id,
            "status": str(parsed.status),
            "timestamp": parsed.timestamp.isoformat(),
        }
    elif parsed is not None:
        alert = {"type": getattr(parsed, "type", None)}
    return {
        "createdAt": None if call.created_at is None else call.created_at.isoformat(),
        "url": None if call.url is None else call.url.partition("?")[0],
        "status": call.status,
        "failure": call.failure(),
        "alert": alert,
    }


async def _replay(
    http: aiohttp.ClientSession, url: str, call: FailedCall, secret: str
) -> dict[str, Any]:
    """POST one missed alert, signed as Leaf signs it; return what the receiver answered."""
    if not call.request_body:
        return {"skipped": "Leaf kept no body for this call"}
    body = call.body
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
    try:
        async with http.post(
            url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        ) as response:
            text = await response.text(errors="replace")
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return {"error": f"could not reach the receiver: {type(exc).__name__}"}
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    result = answer.get("result") if isinstance(answer, dict) else None
    return {"status": status, "result": result}


def _missed(args: argparse.Namespace) -> int:
    if args.replay is not None and args.secret_file is None:
        raise UsageError("--replay needs --secret-file: your receiver checks the signature")
    if args.secret_file is not None and args.replay is None:
        raise UsageError("--secret-file is only for --replay")
    if args.replay is not None and not args.replay.startswith(("http://", "https://")):
        raise UsageError(f"--replay must be an http:// or https:// URL, got {args.replay!r}")
    secret = None if args.secret_file is None else _read_secret(args.secret_file)
    leaf = make_session(args, default_registry())

    async def work() -> list[dict[str, Any]]:
        async with leaf:
            calls = await leaf.webhooks.failed_calls(url=args.url, since=args.since)
        calls.sort(key=lambda call: call.created_at.timestamp() if call.created_at else 0.0)
        shown = [missed_json(call) for call in calls]
        if secret is not None:
            async with aiohttp.ClientSession() as http:
                for call, data in zip(calls, shown, strict=True):
                    data["replay"] = await _replay(http, args.replay, call, secret)
        return shown

    shown = asyncio.run(work())
    _print(shown)
    if secret is None:
        return EXIT_OK
    results = [data["replay"].get("result") for data in shown]
    failed = [data for data in shown if data["replay"].get("status") not in (200, None)
              or "error" in data["replay"]]  # fmt: skip
    say(
        f"alerts missed: replayed {len(shown)}: {results.count('accepted')} accepted, "
        f"{results.count('duplicate')} already handled, {len(failed)} failed"
    )
    return EXIT_FAILED if failed else EXIT_OK


def rotation_json(rotation: SecretRotation, converter: cattrs.Converter) -> dict[str, Any]:
    """Return a rotation fit to print: the new webhook (secret ``"***"``) and the gap."""
    missed = rotation.failed_calls
    return {
        "webhook": webhook_json(rotation.webhook, converter),
        "replaced": rotation.replaced.id,
        "startedAt": rotation.started_at.isoformat(),
        "finishedAt": rotation.finished_at.isoformat(),
        "failedCalls": None if missed is None else [missed_json(call) for call in missed],
    }


def _rotate(args: argparse.Namespace) -> int:
    secret = _read_secret(args.secret_file)
    leaf = make_session(args, default_registry())
    try:
        rotation = asyncio.run(
            with_session(leaf, leaf.webhooks.rotate_secret(args.webhook_id, secret))
        )
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    except LeafError as exc:
        for note in getattr(exc, "__notes__", ()):
            say(f"alerts rotate-secret: {note}")
        raise
    _print(rotation_json(rotation, make_converter()))
    say(
        f"alerts rotate-secret: webhook {rotation.replaced.id} is now {rotation.webhook.id}, "
        "signed with the new secret; keep the old one in your receiver until Leaf's retries "
        "of older deliveries are over (4 hours)"
    )
    if rotation.failed_calls:
        say(
            f"alerts rotate-secret: {len(rotation.failed_calls)} deliveries failed meanwhile; "
            f"replay them: leaf-creds alerts missed --since {rotation.started_at.isoformat()} "
            "--replay YOUR-RECEIVER-URL --secret-file FILE"
        )
    return EXIT_OK
