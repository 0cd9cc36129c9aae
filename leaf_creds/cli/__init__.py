"""``leaf-creds``: the command line of leaf_creds.

JSON goes to standard output, text for humans and the progress bar to
standard error. Exit status: 0 when everything succeeded, 1 when some
operation failed, 2 for bad usage or a bad input file (nothing was sent).

Authentication, first found wins: ``--token-file FILE``, ``LEAF_TOKEN``, or
``LEAF_USERNAME`` with ``LEAF_PASSWORD``. The API host: ``--base-url`` or
``LEAF_BASE_URL`` (Leaf's own by default).

Not imported by ``import leaf_creds``; rich (the ``cli`` extra) is imported
only when a bar or a table is drawn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import IO, Any, Final

from .._bulk import DEFAULT_CONCURRENCY, Create, Delete, Events, Get, Operation, Outcome
from .._converter import make_converter
from .._exceptions import LeafError, ValidationError
from .._registry import Registry, default_registry
from .._resource import CredentialResource, user_path
from .._session import DEFAULT_BASE_URL, LeafSession
from .._version import __version__
from ._output import JsonLines, outcome_json, read_error
from ._plan import LineSet, PlanError, Resume, Shard, check_plan, count_lines, read_done
from ._progress import above_bar

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2

_AUTH_HELP = (
    "Authentication: --token-file FILE, or LEAF_TOKEN, or LEAF_USERNAME and LEAF_PASSWORD. "
    "API host: --base-url or LEAF_BASE_URL."
)
_SHARD_HELP = (
    "keep only the lines whose leafUserId falls in shard K of N; K is 0-based "
    "(0 <= K < N, like a Kubernetes completion index). The shard of a user id is "
    "int.from_bytes(sha256(id.encode()).digest()[:8], 'big') %% N, stable everywhere"
)


class UsageError(Exception):
    """Bad usage or a bad input file: exit 2, nothing was sent."""


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
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except UsageError as exc:
        _say(f"leaf-creds {args.command}: error: {exc}")
        return EXIT_USAGE
    except PlanError as exc:
        _say(f"leaf-creds {args.command}: error: {exc}")
        return EXIT_USAGE
    except LeafError as exc:
        _say(f"leaf-creds {args.command}: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        _say("leaf-creds: interrupted")
        if args.command == "apply":
            _say(_resume_hint(args, sys.argv[1:] if argv is None else list(argv)))
        return 130
    except BrokenPipeError:
        # The reader of standard output went away (`| head`): stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return EXIT_FAILED


# -- argument parsing ------------------------------------------------------


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _connection(*, shown: bool) -> argparse.ArgumentParser:
    """Return the parent parser of the connection options, listed in --help or not."""
    # The connection options are accepted before or after the command;
    # SUPPRESS keeps a subcommand's parser from overwriting them with defaults.
    common = argparse.ArgumentParser(add_help=False)
    options = common.add_argument_group("connection")

    def option(*flags: str, help: str, **kwargs: Any) -> None:
        options.add_argument(
            *flags, default=argparse.SUPPRESS, help=help if shown else argparse.SUPPRESS, **kwargs
        )

    option("--base-url", help=f"the API host (default: LEAF_BASE_URL, else {DEFAULT_BASE_URL})")
    option(
        "--token-file", metavar="FILE",
        help="read the bearer token from FILE (else LEAF_TOKEN, else LEAF_USERNAME/LEAF_PASSWORD)",
    )  # fmt: skip
    option(
        "--timeout", type=_positive_float, metavar="SECONDS",
        help="seconds one HTTP attempt may take (default 30)",
    )  # fmt: skip
    option(
        "--allow-http", action="store_true",
        help="allow a plain http:// --base-url on a host other than this machine; the "
        "bearer token and credentials then cross the network in clear",
    )  # fmt: skip
    option(
        "--show-secrets", action="store_true",
        help='print secret fields as they are instead of "***"',
    )  # fmt: skip
    return common


def _parser() -> argparse.ArgumentParser:
    common = _connection(shown=True)
    # Commands that never talk to Leaf still accept the options (scripts may
    # pass them everywhere) but do not list them.
    unlisted = _connection(shown=False)

    parser = argparse.ArgumentParser(
        prog="leaf-creds",
        description="Manage the provider credentials of Leaf users: one at a time, "
        "in bulk from a plan, or audit them all. JSON on stdout, text on stderr; "
        "exit 0 when everything succeeded, 1 when an operation failed, 2 for bad usage.",
        epilog=_AUTH_HELP,
        parents=[common],
    )
    parser.add_argument(
        "-V", "--version", action="version", version=f"leaf-creds {__version__}",
        help="print the version and exit",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        text: str,
        *,
        connection: bool = True,
    ) -> Any:
        # A command that never talks to Leaf does not list the connection options.
        sub = commands.add_parser(
            name, help=text, description=text, epilog=_AUTH_HELP if connection else None,
            parents=[common] if connection else [unlisted],
        )  # fmt: skip
        sub.set_defaults(handler=handler)
        return sub

    providers = command(
        "providers", _run_providers,
        "list the registered providers and their create fields: a table on a terminal, "
        "else JSON",
        connection=False,
    )  # fmt: skip
    providers.add_argument(
        "--json", action="store_true", help="print JSON even on a terminal"
    )
    for name, text in (
        ("get", "print a user's credential for a provider"),
        ("delete", "detach a user's credential for a provider"),
        ("events", "print the troubleshooting log of a user's credential"),
        ("create", "attach a credential to a user (--from FILE, camelCase JSON; - for stdin)"),
    ):
        sub = command(name, _run_single, text)
        sub.add_argument("provider", metavar="PROVIDER", help="the provider's slug, e.g. sentera")
        sub.add_argument("user_id", metavar="USER_ID", help="the Leaf user's id")
        if name == "create":
            sub.add_argument(
                "--from", dest="from_file", metavar="FILE", required=True,
                help="the credentials as Leaf's camelCase JSON body; - reads stdin",
            )  # fmt: skip

    apply = command(
        "apply", _run_apply, "run a plan of operations (JSON lines), streamed and concurrent"
    )
    apply.add_argument(
        "plan", metavar="PLAN.jsonl",
        help='one operation a line: {"op": "create"|"replace"|"delete"|"get"|"events", '
        '"provider": SLUG, "leafUserId": ID, "credentials": {...}}',
    )  # fmt: skip
    _bulk_options(apply, rate=True)
    apply.add_argument(
        "--out", metavar="RESULTS.jsonl",
        help="write the outcome lines here instead of stdout (appended to when it is the "
        "--resume file, else replaced)",
    )  # fmt: skip
    apply.add_argument(
        "--resume", metavar="RESULTS.jsonl",
        help="skip the lines this results file records as ok (a missing file: none); "
        "creates of an interrupted run that landed are found with a GET, not sent again",
    )  # fmt: skip
    apply.add_argument(
        "--dry-run", action="store_true",
        help="check the plan and print what would run; send nothing",
    )  # fmt: skip
    apply.add_argument("--shard", metavar="K/N", help=_SHARD_HELP)

    audit = command(
        "audit", _run_audit, "report the status of every credential, with a table by provider"
    )
    audit.add_argument(
        "--provider", action="append", default=[], metavar="P",
        help="only this provider (repeatable; default: every registered one)",
    )  # fmt: skip
    audit.add_argument(
        "--user", action="append", default=[], metavar="ID",
        help="only this Leaf user (repeatable; default: every user of the account)",
    )  # fmt: skip
    audit.add_argument(
        "--events", action="store_true",
        help="add the troubleshooting log of every credential that is not OK",
    )  # fmt: skip
    audit.add_argument(
        "--out", metavar="REPORT.jsonl", help="write the report lines here instead of stdout"
    )
    _bulk_options(audit)

    demo = command(
        "demo", _run_demo,
        "run a bulk job and an audit against an in-process fake Leaf, with faults (no network)",
        connection=False,
    )  # fmt: skip
    demo.add_argument(
        "--users", type=_positive_int, default=300, help="Leaf users to create (default 300)"
    )
    demo.add_argument(
        "--seed", type=int, default=7, help="seed of the injected faults (default 7)"
    )
    demo.add_argument(
        "--workdir", metavar="DIR",
        help="where to write the plan, results and report (default: a new temporary directory)",
    )  # fmt: skip
    _bulk_options(demo)

    fake = command(
        "fake-server", _run_fake_server, "run the fake Leaf API until interrupted",
        connection=False,
    )  # fmt: skip
    fake.add_argument(
        "--port", type=int, default=8080, help="the port (default 8080; 0 picks a free one)"
    )
    fake.add_argument("--host", default="127.0.0.1", help="the interface (default 127.0.0.1)")
    fake.add_argument(
        "--rate-limit", metavar="LIMIT",
        help="answer Leaf's 429 past LIMIT requests, shared by every client: 200/s, "
        "200/s:20 (a burst of 20), 1000/min (Leaf's fixed window), or both comma-joined",
    )  # fmt: skip
    fake.add_argument(
        "--users", type=_non_negative_int, default=0, metavar="N",
        help="start with N users (Grower 0000, ...; no credentials), with the same ids "
        "on every start (default 0)",
    )  # fmt: skip
    fake.add_argument(
        "--seed-file", metavar="FILE",
        help='then add the users and credentials of FILE: {"users": [{"id": ..., "name": ..., '
        '"credentials": {SLUG: camelCase body}, "statuses": {SLUG: STATUS}}]} '
        "(see the README's testing section)",
    )  # fmt: skip
    fake.add_argument(
        "--token", metavar="TOKEN",
        help="also accept this opaque bearer token, which never expires: clients keep "
        "working across restarts (default: only the JWTs the fake issues, new on each start)",
    )  # fmt: skip
    fake.add_argument(
        "--username", default="user@example.com",
        help="the account /api/authenticate accepts (default user@example.com)",
    )  # fmt: skip
    fake.add_argument(
        "--password", default="password",
        help='its password (default "password": a fake\'s, not a secret)',
    )  # fmt: skip

    from ._alerts import add_alerts_commands

    add_alerts_commands(commands, common, _AUTH_HELP)

    from ._app_keys import add_app_keys_commands
    from ._invite import add_invite_command

    add_app_keys_commands(commands, common, _AUTH_HELP)
    add_invite_command(commands, common, _AUTH_HELP, _bulk_options)
    return parser


def _bulk_options(parser: argparse.ArgumentParser, *, rate: bool = False) -> None:
    parser.add_argument(
        "--concurrency", type=_positive_int, default=DEFAULT_CONCURRENCY, metavar="N",
        help=f"operations in flight at once (default {DEFAULT_CONCURRENCY})",
    )  # fmt: skip
    parser.add_argument(
        "--progress", choices=("auto", "always", "never"), default="auto",
        help="the progress bar on stderr: auto shows it on a terminal (needs rich)",
    )  # fmt: skip
    if rate:
        parser.add_argument(
            "--rate", type=_positive_float, metavar="R",
            help="start at most R requests per second",
        )  # fmt: skip


# -- shared helpers --------------------------------------------------------


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _option(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def _session(args: argparse.Namespace, registry: Registry) -> LeafSession:
    """Build the session from the options and the environment."""
    factory = _option(args, "session_factory")
    if factory is not None:
        leaf: LeafSession = factory(registry)
        return leaf
    auth: dict[str, Any]
    token_file = _option(args, "token_file")
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
    base_url = _option(args, "base_url") or environ.get("LEAF_BASE_URL") or DEFAULT_BASE_URL
    try:
        return LeafSession(
            **auth,
            base_url=base_url,
            registry=registry,
            timeout=_option(args, "timeout", 30.0),
            allow_http=_option(args, "allow_http", False),
            # --rate is a hard ceiling on every request: retries, 429s' resends too.
            rate_limit=_option(args, "rate"),
        )
    except ValidationError as exc:
        raise UsageError(str(exc)) from None


def _resource(registry: Registry, slug: str) -> CredentialResource[Any, Any]:
    if slug not in registry:
        known = ", ".join(resource.slug for resource in registry)
        raise UsageError(f"unknown provider {slug!r}; known providers: {known}")
    return registry.get(slug)


def _check_user(user_id: str) -> str:
    try:
        user_path(user_id)
    except ValidationError as exc:
        raise UsageError(str(exc)) from None
    return user_id


def _open_out(path: str | None, *, append: bool = False) -> IO[str]:
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


# -- commands --------------------------------------------------------------


def _run_providers(args: argparse.Namespace) -> int:
    from ._providers import print_providers, providers_json

    table = sys.stdout.isatty() and not args.json
    print_providers(providers_json(default_registry()), sys.stdout, table=table)
    return EXIT_OK


def _run_single(args: argparse.Namespace) -> int:
    registry = default_registry()
    resource = _resource(registry, args.provider)
    user_id = _check_user(args.user_id)
    operation: Operation
    if args.command == "create":
        body = _read_body(args.from_file)
        try:
            resource.credentials_from_wire(body)
        except ValidationError as exc:
            raise UsageError(
                f"{args.from_file}: invalid {resource.slug} credentials: " + "; ".join(exc.errors)
            ) from None
        operation = Create(resource.slug, user_id, body)
    else:
        kinds: dict[str, type[Operation]] = {"get": Get, "delete": Delete, "events": Events}
        operation = kinds[args.command](resource.slug, user_id)
    leaf = _session(args, registry)

    async def run() -> Outcome:
        async with leaf, aclosing(leaf.bulk([operation])) as outcomes:
            return await anext(outcomes)

    outcome = asyncio.run(run())
    show_secrets = _option(args, "show_secrets", False)
    data = outcome_json(outcome, make_converter(), show_secrets=show_secrets)
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    # On a terminal the JSON above already shows the error; when stdout is
    # piped, stderr is where a person sees it.
    if outcome.error is None:
        return EXIT_OK
    if not sys.stdout.isatty():
        _say(f"leaf-creds {args.command}: failed: {data['error']['message']}")
    return EXIT_FAILED


def _read_body(source: str) -> dict[str, Any]:
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


def _run_apply(args: argparse.Namespace) -> int:
    from ._apply import apply_plan

    if args.plan == "-":
        raise UsageError("apply reads its plan twice (check, then run): give a file, not -")
    plan = args.plan
    if args.out is not None and _same_file(plan, args.out):
        raise UsageError("--out must not be the plan file: it would be overwritten")
    registry = default_registry()
    converter = make_converter()
    shard = Shard.parse(args.shard) if args.shard else None
    if args.resume:
        resume = read_done(args.resume, max_line=count_lines(plan))
        if resume.unreadable:
            _say(f"leaf-creds apply: {resume.unreadable} unreadable line(s) in {args.resume}")
    else:
        resume = Resume(LineSet(), LineSet(), 0)
    done = resume.done

    def report(number: int, message: str) -> None:
        _say(f"{plan}:{number}: {message}")

    summary = check_plan(plan, registry, converter, shard=shard, done=done, report=report)
    if summary.bad:
        raise UsageError(f"{summary.bad} bad line(s) in {plan} (listed above); nothing was sent")
    if args.dry_run:
        data = {
            "lines": summary.lines,
            "selected": summary.selected,
            "alreadyDone": summary.done,
            "otherShards": summary.other_shards,
            "byOp": summary.by_op,
        }
        sys.stdout.write(json.dumps(data) + "\n")
        _say(f"apply --dry-run: {summary.lines} line(s) valid, {summary.selected} would run")
        return EXIT_OK
    leaf = _session(args, registry)
    same = args.resume is not None and args.out is not None and _same_file(args.resume, args.out)
    out = _open_out(args.out, append=same)
    started = time.perf_counter()
    try:
        counts = asyncio.run(
            _with_session(
                leaf,
                apply_plan(
                    leaf,
                    plan,
                    registry=registry,
                    converter=converter,
                    summary=summary,
                    shard=shard,
                    done=done,
                    previous=resume,
                    writer=JsonLines(above_bar(out) if out is sys.stdout else out),
                    err=sys.stderr,
                    concurrency=args.concurrency,
                    rate=args.rate,
                    show_secrets=_option(args, "show_secrets", False),
                    resume=args.resume is not None,
                    progress=args.progress,
                ),
            )
        )
    finally:
        if out is not sys.stdout:
            out.close()
    skipped = f", {summary.done} already done" if args.resume else ""
    shards = f", {summary.other_shards} in other shards" if shard else ""
    _say(
        f"apply: {counts.ok} ok, {counts.failed} failed{skipped}{shards} "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return EXIT_FAILED if counts.failed else EXIT_OK


def _resume_hint(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Say how to pick up an interrupted ``apply``: the exact command when there is one."""
    if args.out is None:
        return (
            "leaf-creds apply: the outcomes went to standard output, so this run cannot be "
            "resumed; give --out RESULTS.jsonl --resume RESULTS.jsonl to make a run resumable"
        )
    command = ["leaf-creds", *argv]
    if args.resume is None:
        return f"leaf-creds apply: to resume, run: {shlex.join([*command, '--resume', args.out])}"
    if _same_file(args.resume, args.out):
        return f"leaf-creds apply: to resume, run: {shlex.join(command)}"
    # The lines done before are in --resume, this run's in --out (which a rerun replaces).
    append = f"cat {shlex.quote(args.out)} >> {shlex.quote(args.resume)}"
    return f"leaf-creds apply: to resume, run: {append} && {shlex.join(command)}"


async def _with_session(leaf: LeafSession, work: Any) -> Any:
    async with leaf:
        return await work


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _run_audit(args: argparse.Namespace) -> int:
    from ._audit import audit, print_table

    registry = default_registry()
    providers = [_resource(registry, slug).slug for slug in args.provider]
    users = [_check_user(user_id) for user_id in args.user]
    leaf = _session(args, registry)
    out = _open_out(args.out)
    report = JsonLines(above_bar(out) if out is sys.stdout else out)
    try:
        counts, failures = asyncio.run(
            _with_session(
                leaf,
                audit(
                    leaf,
                    providers=providers,
                    users=users,
                    events=args.events,
                    show_secrets=_option(args, "show_secrets", False),
                    report=report,
                    err=sys.stderr,
                    concurrency=args.concurrency,
                    progress=args.progress,
                ),
            )
        )
    finally:
        if out is not sys.stdout:
            out.close()
    print_table(counts, sys.stderr)
    if failures:
        _say(f"audit: {failures} credential(s) could not be read")
    return EXIT_FAILED if failures else EXIT_OK


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(
        users=args.users,
        seed=args.seed,
        workdir=args.workdir,
        concurrency=args.concurrency,
        progress=args.progress,
        out=sys.stdout,
        err=sys.stderr,
    )


def _non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


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


def _run_fake_server(args: argparse.Namespace) -> int:
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
