"""``leaf-creds connect PROVIDER --user ID --app-keys FILE``: a grower's consent, from a terminal.

As ``gh auth login`` and ``gcloud auth login`` do: it listens on 127.0.0.1
(a free port, or ``--redirect-port``) for the provider's redirect, prints
the consent URL (``--open`` opens a browser), and once the grower has
consented it finishes the flow (``leaf.oauth.connect``), attaches the
credential and prints its record as JSON, secrets masked. A redirect whose
``state`` is not this run's is refused, and the listener keeps waiting;
``--wait`` bounds the wait.

The redirect URL, ``http://127.0.0.1:PORT/callback``, must be registered
with the provider's application, so a fixed ``--redirect-port`` is usually
what a real app needs.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import sys
import webbrowser
from typing import Any, Final
from urllib.parse import parse_qs

from aiohttp import web

from .. import LeafError, LeafSession, ValidationError, default_registry, make_converter
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    check_user,
    make_session,
    option,
    positive_float,
    read_body,
    resource_of,
    say,
)
from ._output import record_json

__all__ = ["add_parser", "run"]

DEFAULT_WAIT: Final = 300.0
_PAGE: Final = (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>leaf-creds connect'
    '</title></head>\n<body>\n<h1 id="result" data-status="{status}">{text}</h1>\n'
    "<p>You can close this window.</p>\n</body></html>\n"
)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is from 0 to 65535, got {port}")
    return port


def _host(text: str) -> tuple[str, str]:
    host, sep, url = text.partition("=")
    if not sep or not host or not url:
        raise argparse.ArgumentTypeError(f"expected HOST=URL, got {text!r}")
    return host, url


def add_parser(commands: Commands) -> None:
    """Add ``connect``."""
    sub = commands.add(
        "connect", run,
        "connect a grower through the provider's consent page and attach the credential",
    )  # fmt: skip
    sub.add_argument("provider", metavar="PROVIDER", help="the provider's slug, e.g. john-deere")
    sub.add_argument("--user", required=True, metavar="ID", help="the Leaf user to attach it to")
    sub.add_argument(
        "--app-keys", required=True, metavar="FILE",
        help="the provider application's keys as camelCase JSON (e.g. clientKey, clientSecret); "
        "- reads stdin",
    )  # fmt: skip
    sub.add_argument(
        "--environment", choices=("STAGE", "PRODUCTION"),
        help="the provider environment (John Deere, CNHI, CNHI FieldOps, Lindsay)",
    )  # fmt: skip
    sub.add_argument(
        "--scope", action="append", dest="scopes", metavar="SCOPE",
        help="an OAuth scope to ask for (Climate FieldView, AgLeader); repeat for more",
    )  # fmt: skip
    sub.add_argument(
        "--redirect-port", type=_port, default=0, metavar="PORT",
        help="listen for the redirect on 127.0.0.1:PORT (default: a free port)",
    )  # fmt: skip
    sub.add_argument(
        "--redirect-path", default="/callback", metavar="PATH",
        help="the redirect URL's path (default /callback)",
    )  # fmt: skip
    sub.add_argument("--open", action="store_true", help="open the consent page in a browser")
    sub.add_argument(
        "--wait", type=positive_float, default=DEFAULT_WAIT, metavar="SECONDS",
        help=f"give up when no redirect comes back in SECONDS (default {DEFAULT_WAIT:g})",
    )  # fmt: skip
    sub.add_argument(
        "--oauth-host", action="append", type=_host, dest="oauth_hosts", metavar="HOST=URL",
        help="send the calls to the flow's default HOST (e.g. "
        "johndeere-oauth2-helper.withleaf.io) to URL instead; repeat for more",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Run one consent flow; print the attached credential."""
    registry = default_registry()
    resource = resource_of(registry, args.provider)
    user_id = check_user(args.user)
    keys = read_body(args.app_keys)
    path = args.redirect_path if args.redirect_path.startswith("/") else "/" + args.redirect_path
    leaf = make_session(args, registry)
    try:
        leaf.oauth.hosts = dict(args.oauth_hosts or ())
        # Checked before anything listens or is sent: a flow, the keys, the options.
        leaf.oauth.spec(resource)
    except LeafError as exc:
        raise UsageError(str(exc)) from None
    record = asyncio.run(_connect(leaf, args, resource.slug, user_id, keys, path))
    if record is None:
        return EXIT_FAILED
    data = record_json(record, make_converter(), show_secrets=option(args, "show_secrets", False))
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return EXIT_OK


class _Listener:
    """The redirect listener: takes this run's redirect, refuses any other."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.state = ""
        self.redirect: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.done: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != self.path:
            return web.Response(status=404, text="not found")
        state = parse_qs(request.query_string).get("state", [""])[0]
        if state != self.state or self.redirect.done():
            # Another flow's redirect, a forged one, or a second one: not for this run.
            return _page(400, "REFUSED", "This redirect is not for this leaf-creds connect.")
        # The full URL as the provider sent it (the code is read from it, never shown).
        self.redirect.set_result(str(request.url))
        status, text = await asyncio.shield(self.done)
        return _page(200 if status == "OK" else 400, status, text)


def _page(code: int, status: str, text: str) -> web.Response:
    body = _PAGE.format(status=html.escape(status), text=html.escape(text))
    return web.Response(status=code, text=body, content_type="text/html")


async def _connect(
    leaf: LeafSession,
    args: argparse.Namespace,
    slug: str,
    user_id: str,
    keys: dict[str, Any],
    path: str,
) -> Any:
    listener = _Listener(path)
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", listener.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    try:
        try:
            site = web.TCPSite(runner, "127.0.0.1", args.redirect_port)
            await site.start()
        except OSError as exc:
            raise UsageError(
                f"cannot listen on 127.0.0.1:{args.redirect_port}: {exc.strerror}"
            ) from None
        port = runner.addresses[0][1]
        async with leaf:
            try:
                start = await leaf.oauth.start(
                    slug, app=keys, redirect_url=f"http://127.0.0.1:{port}{path}",
                    environment=args.environment, scopes=args.scopes,
                )  # fmt: skip
            except ValidationError as exc:  # the keys or options do not fit the flow
                raise UsageError(str(exc)) from None
            listener.state = start.state
            say(f"Open this URL to connect the grower to {slug} (listening on 127.0.0.1:{port}):")
            say(start.url)
            if args.open:
                webbrowser.open(start.url)
            try:
                response_url = await asyncio.wait_for(listener.redirect, args.wait)
            except TimeoutError:
                say(
                    f"leaf-creds connect: no redirect came back within {args.wait:g} s; "
                    "run it again (the consent URL above no longer counts)"
                )
                return None
            try:
                record = await leaf.oauth.connect(start, response_url, user_id)
            except LeafError as exc:
                listener.done.set_result(("FAILED", f"Not connected: {type(exc).__name__}."))
                raise
            listener.done.set_result(("OK", f"Connected to {slug}."))
            return record
    finally:
        if not listener.done.done():
            listener.done.set_result(("FAILED", "Not connected."))
        await runner.cleanup()
