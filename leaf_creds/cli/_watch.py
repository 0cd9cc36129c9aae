"""``leaf-creds watch``: the receiver, the periodic audit and the repair loop, until SIGTERM.

One long-running process over a case store (``leaf_creds.repair``): Leaf's
alerts open cases through the receiver (``--port``, ``--secret-file``),
the audit (``--audit-every``) and Leaf's failed webhook calls
(``--failed-calls-every``) open those the alerts missed, and the loop
hands each grower an authentication Magic Link through ``--deliver-command``
or ``--deliver-url``, reminds, checks and closes. One JSON line per case
transition on stdout (never a link); text on stderr. SIGTERM or Ctrl-C
stops it cleanly (exit 0): no new case is taken, those under way finish.
A watcher killed outright loses nothing: every case and every delivery
begun is in the store before it is acknowledged or handed over, and a
restart goes on from there without sending a link twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from typing import Any

from aiohttp import web

from .. import ValidationError, default_registry
from ..repair import (
    DEFAULT_STORE,
    CommandDelivery,
    Deliver,
    RepairPolicy,
    Repairs,
    StoreError,
    Transition,
    WebhookDelivery,
    open_store,
)
from ._common import (
    EXIT_OK,
    Commands,
    UsageError,
    make_session,
    positive_float,
    read_secret,
    say,
)

__all__ = ["add_parser", "run"]

_DEFAULTS = RepairPolicy()


def _seconds_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of seconds: {text!r}") from None


def add_parser(commands: Commands) -> None:
    """Add ``watch``."""
    text = (
        "repair broken credentials on its own: receive Leaf's alerts, audit, send each grower "
        "a link, remind, close the case when the credential works again (until SIGTERM)"
    )
    sub = commands.add("watch", run, text)
    sub.add_argument(
        "--store", default=DEFAULT_STORE, metavar="PATH|URL",
        help=f"the case store: a SQLite file (default {DEFAULT_STORE}) or a postgresql:// URL "
        "shared by several watchers",
    )  # fmt: skip
    receiver = sub.add_argument_group("receiver")
    receiver.add_argument("--port", type=int, help="receive Leaf's alerts on this port (0: any)")
    receiver.add_argument("--host", default="127.0.0.1", help="the interface (default 127.0.0.1)")
    receiver.add_argument("--path", default="/leaf/alerts", help="the URL path (/leaf/alerts)")
    receiver.add_argument(
        "--secret-file", action="append", metavar="FILE",
        help="the webhook's signing secret (repeat it while rotating); needed with --port",
    )  # fmt: skip
    deliver = sub.add_argument_group("delivery (one of)")
    deliver.add_argument(
        "--deliver-command", metavar="CMD",
        help="run CMD for each link, its JSON on standard input; exit 0 means handed over",
    )  # fmt: skip
    deliver.add_argument(
        "--deliver-url", metavar="URL",
        help="POST each link's JSON to URL, signed (X-Leaf-Creds-Signature); 2xx: handed over",
    )  # fmt: skip
    deliver.add_argument(
        "--deliver-secret-file", metavar="FILE", help="the signing secret of --deliver-url"
    )
    schedule = sub.add_argument_group("schedule")
    schedule.add_argument(
        "--audit-every", type=positive_float, default=3600.0, metavar="SECONDS",
        help="audit every credential this often, the first at once (default 3600)",
    )  # fmt: skip
    schedule.add_argument("--no-audit", action="store_true", help="never audit")
    schedule.add_argument(
        "--failed-calls-every", type=positive_float, default=300.0, metavar="SECONDS",
        help="read Leaf's failed webhook calls this often (default 300)",
    )  # fmt: skip
    schedule.add_argument(
        "--no-failed-calls", action="store_true", help="never read the failed calls"
    )
    schedule.add_argument(
        "--poll", type=positive_float, default=1.0, metavar="SECONDS",
        help="look at the store at least this often (other watchers' news; default 1)",
    )  # fmt: skip
    schedule.add_argument(
        "--lease", type=positive_float, default=60.0, metavar="SECONDS",
        help="how long this watcher holds a case it works on (default 60)",
    )  # fmt: skip
    policy = sub.add_argument_group("policy")
    policy.add_argument(
        "--reminders", type=_seconds_list, metavar="S,S,...",
        default=_DEFAULTS.reminders,
        help="reminders, in seconds after the first link (default 86400,259200,604800)",
    )  # fmt: skip
    policy.add_argument(
        "--quiet-period", type=float, default=_DEFAULTS.quiet_period, metavar="SECONDS",
        help="how long the status must read OK before a case closes (default 900)",
    )  # fmt: skip
    policy.add_argument(
        "--first-check", type=positive_float, default=_DEFAULTS.first_check, metavar="SECONDS",
        help="the first status read after a link (default 60), then with backoff",
    )  # fmt: skip
    policy.add_argument(
        "--max-check-interval", type=positive_float, default=_DEFAULTS.max_check_interval,
        metavar="SECONDS", help="the longest gap between two reads (default 3600)",
    )  # fmt: skip
    policy.add_argument(
        "--link-expires-in", type=int, default=_DEFAULTS.link_expires_in, metavar="SECONDS",
        help="how long a new link works (900 to 31536000; default 604800)",
    )  # fmt: skip


def _hook(args: argparse.Namespace) -> Deliver:
    if (args.deliver_command is None) == (args.deliver_url is None):
        raise UsageError("give one of --deliver-command CMD and --deliver-url URL")
    try:
        if args.deliver_command is not None:
            if args.deliver_secret_file is not None:
                raise UsageError("--deliver-secret-file goes with --deliver-url")
            return CommandDelivery(args.deliver_command)
        if args.deliver_secret_file is None:
            raise UsageError("--deliver-url needs --deliver-secret-file: the POST is signed")
        secret = read_secret("--deliver-secret-file", args.deliver_secret_file)
        return WebhookDelivery(args.deliver_url, secret)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


def _policy(args: argparse.Namespace) -> RepairPolicy:
    try:
        return RepairPolicy(
            reminders=args.reminders, quiet_period=args.quiet_period,
            first_check=args.first_check, max_check_interval=args.max_check_interval,
            link_expires_in=args.link_expires_in,
        )  # fmt: skip
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    """Watch until SIGTERM or Ctrl-C."""
    if (args.port is None) != (args.secret_file is None):
        raise UsageError("--port and --secret-file go together (the receiver needs both)")
    secrets = [read_secret("--secret-file", path) for path in args.secret_file or ()]
    hook = _hook(args)
    policy = _policy(args)
    store = open_store(args.store)
    leaf = make_session(args, default_registry())
    # The library's warnings (a refused delivery, a failed read) with the command's prefix.
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    warnings.setFormatter(logging.Formatter("watch: %(message)s"))
    logger = logging.getLogger("leaf_creds")
    logger.addHandler(warnings)
    try:
        asyncio.run(_watch(args, leaf, store, hook, policy, secrets))
    except KeyboardInterrupt:
        pass
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    finally:
        logger.removeHandler(warnings)
    say("watch: stopped")
    return EXIT_OK


def _emit(transition: Transition) -> None:
    sys.stdout.write(json.dumps(transition.json()) + "\n")
    sys.stdout.flush()


async def _watch(
    args: argparse.Namespace,
    leaf: Any,
    store: Any,
    hook: Deliver,
    policy: RepairPolicy,
    secrets: list[str],
) -> None:
    loop = asyncio.get_running_loop()
    async with leaf, store:
        repairs = Repairs(
            leaf, store=store, deliver=hook, policy=policy, lease=args.lease,
            on_transition=_emit,
        )  # fmt: skip
        runner: web.AppRunner | None = None
        try:
            if args.port is not None:
                app = web.Application()
                app.router.add_post(args.path, repairs.aiohttp_handler(secrets))
                runner = web.AppRunner(app, access_log=None, handle_signals=False)
                await runner.setup()
                await web.TCPSite(runner, args.host, args.port).start()
                host, port = runner.addresses[0][:2]
                where = f"[{host}]" if ":" in host else host
                say(f"watch: receiving Leaf alerts on http://{where}:{port}{args.path}")
            say(f"watch: cases in {store!r}; stop with SIGTERM or Ctrl-C")
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, repairs.stop)
            await repairs.run(
                poll=args.poll,
                audit_every=None if args.no_audit else args.audit_every,
                failed_calls_every=None if args.no_failed_calls else args.failed_calls_every,
            )
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            if runner is not None:
                await runner.cleanup()
            closing = getattr(hook, "aclose", None)
            if closing is not None:
                await closing()
