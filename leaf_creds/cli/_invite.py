"""``leaf-creds invite``: one Magic Link per Leaf user, streamed through ``LeafSession.bulk``.

Each user gets one JSON line, written and flushed as its link is made::

    {"leafUserId": ..., "ok": true, "linkId": ..., "link": ..., "expiresAt": ...,
     "providers": [...], "kind": "provider", "attempts": 1}

or ``"ok": false`` with an ``error``, as ``apply`` writes. A links file is
created ``0600``: whoever holds a link can attach credentials to its user.

``--missing`` invites every Leaf user of the account that has a credential
for none of the given providers (one GET per provider, stopping at the
first one found). ``--resume`` skips the users that a links file records as
invited. A user whose line the interrupted run never wrote may have a link
at Leaf already: a resumed run lists the links of its kind once, and a
user with a link for the same providers that still works (not expired, uses
left) gets that link's line (``"reused": true``) instead of a second link.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import IO, Any, Final, TextIO

import attrs

from .. import (
    CredentialResource,
    LeafError,
    LeafSession,
    LinkSettings,
    MagicLink,
    NotFoundError,
    Outcome,
    Registry,
    Timeouts,
    ValidationError,
    default_registry,
)
from .._bulk import Call
from .._converter import format_datetime
from .._expires import check_expires_in
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    UsageError,
    add_bulk_options,
    bulk_rate,
    check_user,
    error_kind,
    failed_by_kind,
    make_session,
    same_file,
    say,
    with_session,
)
from ._invite_files import checked_users, open_links, read_invited, user_lines
from ._output import JsonLines, error_json
from ._progress import ProgressBar, ProgressMode

__all__ = ["InviteCounts", "add_parser", "invite", "run", "warn_without_app_keys"]

# The value of a --missing user's outcome that has a credential already.
_CONNECTED: Final = "connected"


def add_parser(commands: Commands) -> None:
    """Add ``invite``."""
    sub = commands.add(
        "invite", run,
        "create one Magic Link per Leaf user, streamed and concurrent; one JSON line each",
    )  # fmt: skip
    sub.add_argument(
        "--provider", action="append", dest="providers", required=True, metavar="P",
        help="a provider the link offers: its slug (john-deere) or Leaf's name (JohnDeere); "
        "repeatable",
    )  # fmt: skip
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--user", action="extend", nargs="+", dest="users", metavar="ID",
        help="invite these Leaf users (repeatable)",
    )  # fmt: skip
    who.add_argument(
        "--users", dest="users_file", metavar="FILE", help="invite the Leaf users of FILE, "
        "one id a line (blank lines and lines starting with # are skipped)",
    )  # fmt: skip
    who.add_argument(
        "--missing", action="store_true",
        help="invite every Leaf user that has a credential for none of the providers",
    )  # fmt: skip
    sub.add_argument(
        "--authentication", action="store_true",
        help="make authentication links (exactly one --provider) instead of provider links",
    )  # fmt: skip
    sub.add_argument(
        "--expires-in", type=int, metavar="SECONDS",
        help="how long each link works, 900 to 31536000 (default: Leaf's, 900)",
    )  # fmt: skip
    sub.add_argument("--company-name", metavar="NAME", help="your company's name on the page")
    sub.add_argument("--company-logo", metavar="URL", help="your logo on the page")
    sub.add_argument("--background-color", metavar="HEX", help="the page's colour, e.g. #F5F5F5")
    sub.add_argument("--header-image", metavar="URL", help="a header image on the page")
    sub.add_argument(
        "--out", metavar="LINKS.jsonl",
        help="write the lines here (created 0600) instead of stdout; appended to when it is "
        "the --resume file, else replaced",
    )  # fmt: skip
    sub.add_argument(
        "--resume", metavar="LINKS.jsonl",
        help="skip the users this links file records as invited (a missing file: none)",
    )  # fmt: skip
    add_bulk_options(sub, rate=True)


@attrs.define
class InviteCounts:
    """How an invite run went.

    Attributes:
        invited: Users who got a link in this run.
        failed: Users whose link could not be made.
        connected: ``--missing`` users skipped: they have a credential.
        done: Users skipped as already invited (``--resume``) or listed twice.
        reused: Users given the working link they had at Leaf (``--resume``).
        errors: The failures by kind (see ``_common.error_kind``).
    """

    invited: int = 0
    failed: int = 0
    connected: int = 0
    done: int = 0
    reused: int = 0
    errors: Counter[str] = attrs.Factory(Counter)


def _link_resource(registry: Registry, name: str) -> CredentialResource[Any, Any]:
    for resource in registry:
        if name in {resource.slug, resource.link_name}:
            if resource.link_name is None:
                break
            return resource
    known = ", ".join(r.slug for r in registry if r.link_name is not None)
    raise UsageError(f"{name!r} is not a provider with Magic Links; these have them: {known}")


def run(args: argparse.Namespace) -> int:
    """Check the options and the users, then invite; one line per user."""
    registry = default_registry()
    resources = list(
        {id(r): r for r in (_link_resource(registry, p) for p in args.providers)}.values()
    )
    if args.authentication and len(resources) != 1:
        raise UsageError("--authentication makes a link for exactly one --provider")
    try:
        expires_in = check_expires_in(args.expires_in)
    except ValidationError as exc:
        raise UsageError(str(exc).replace("expires_in", "--expires-in")) from None
    looks = {
        "company_name": args.company_name,
        "company_logo": args.company_logo,
        "background_color": args.background_color,
        "header_image": args.header_image,
    }
    settings = LinkSettings(**looks) if any(v is not None for v in looks.values()) else None
    if (
        args.out is not None
        and args.users_file is not None
        and same_file(args.users_file, args.out)
    ):
        raise UsageError("--out must not be the --users file: it would be overwritten")
    done: set[str] = set()
    if args.resume:
        done, unreadable = read_invited(args.resume)
        if unreadable:
            say(f"leaf-creds invite: {unreadable} unreadable line(s) in {args.resume}")
    users: Iterable[str] | None = None
    total: int | None = None
    if args.users:
        users = [check_user(user_id) for user_id in args.users]
        total = len(set(users) - done)
    elif args.users_file:
        count = checked_users(args.users_file)
        total = None if done else count
        users = (user_id for _, user_id in user_lines(args.users_file))
    leaf = make_session(args, registry)
    append = bool(args.resume and args.out and same_file(args.resume, args.out))
    out: IO[str] = sys.stdout if args.out is None else open_links(args.out, append=append)
    started = time.perf_counter()

    async def work() -> InviteCounts:
        await warn_without_app_keys(leaf, resources)
        return await invite(
            leaf,
            resources=resources,
            users=users,
            authentication=args.authentication,
            expires_in=expires_in,
            settings=settings,
            done=done,
            writer=JsonLines(out),
            err=sys.stderr,
            concurrency=args.concurrency,
            rate=bulk_rate(args, leaf),
            progress=args.progress,
            total=total,
            reuse=bool(args.resume),
        )

    try:
        counts = asyncio.run(with_session(leaf, work()))
    finally:
        if out is not sys.stdout:
            out.close()
    parts = [f"{counts.invited} invited", f"{counts.failed} failed"]
    if users is None:
        parts.append(f"{counts.connected} already connected")
    if counts.done:
        parts.append(f"{counts.done} skipped (already invited or listed twice)")
    if counts.reused:
        parts.append(f"{counts.reused} given the working link they had")
    breakdown = failed_by_kind("invite", counts.errors)
    if breakdown:  # before the summary, which stays the last line
        say(breakdown)
    say(f"invite: {', '.join(parts)} in {time.perf_counter() - started:.1f}s")
    return EXIT_FAILED if counts.failed else EXIT_OK


async def invite(
    leaf: LeafSession,
    *,
    resources: list[CredentialResource[Any, Any]],
    users: Iterable[str] | None,
    authentication: bool,
    expires_in: int | None,
    settings: LinkSettings | None,
    done: set[str],
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    progress: ProgressMode,
    total: int | None = None,
    reuse: bool = False,
) -> InviteCounts:
    """Make a Magic Link for each user; write one line per user as it completes.

    Args:
        resources: The providers the links offer (one for ``authentication``).
        users: The Leaf users to invite; ``None`` means every user of the
            account with a credential for none of ``resources``.
        done: Users to skip (already invited); users met twice are skipped too.
        reuse: Give a user the working link for the same providers it has
            at Leaf, if any, instead of making another (for ``--resume``).
    """
    counts = InviteCounts()
    links = leaf.magic_links
    slugs = [resource.slug for resource in resources]
    label = ",".join(slugs)
    kind = "authentication" if authentication else "provider"
    missing = users is None
    names = [links.link_name(resource) for resource in resources]
    working = await _working_links(leaf, kind, names) if reuse else {}

    def operation(user_id: str) -> Call:
        # A line's "attempts" are its link's (the POST, retries included):
        # --missing's lookups before it are not tries at making the link
        # (one that fails is the line's error, with its own attempts).
        async def call(timeouts: Timeouts) -> tuple[Any, int]:
            if missing:
                for resource in resources:
                    try:
                        _, made = await leaf.credentials.get_counted(resource, user_id, timeouts)
                    except NotFoundError:
                        continue
                    return _CONNECTED, made
            if user_id in working:
                return _Reused(working.pop(user_id)), 0  # no request of its own
            return await links.create_counted(
                timeouts,
                user_id,
                providers=None if authentication else resources,
                provider=resources[0] if authentication else None,
                expires_in=expires_in,
                settings=settings,
            )

        return Call(label, user_id, call)

    async def operations() -> AsyncIterator[Call]:
        seen: set[str] = set()
        if users is None:
            async for user in leaf.users():
                if user.id in done:
                    counts.done += 1
                    continue
                yield operation(user.id)
            return
        for user_id in users:
            if user_id in done or user_id in seen:
                counts.done += 1
                continue
            seen.add(user_id)
            yield operation(user_id)

    # The bar counts the users given a line, as the summary does: not those
    # --missing finds connected (which get none).
    with ProgressBar("invite", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations(), concurrency=concurrency, rate=rate)
        ) as outcomes:
            async for outcome in outcomes:
                if outcome.value == _CONNECTED:
                    counts.connected += 1
                    continue
                writer.write(_line(outcome, slugs, kind))
                bar.advance(failed=outcome.error is not None)
                if isinstance(outcome.value, _Reused):
                    counts.reused += 1
                elif outcome.error is None:
                    counts.invited += 1
                else:
                    counts.failed += 1
                    counts.errors[error_kind(outcome.error)] += 1
    return counts


async def warn_without_app_keys(
    leaf: LeafSession, resources: list[CredentialResource[Any, Any]]
) -> None:
    """Warn of each provider with no app keys at Leaf: its links offer no sign-in for it.

    One ``GET /app-keys/{provider}`` each; an answer that cannot tell (an
    error) warns of nothing.
    """
    for resource in resources:
        if resource.app_key is None:
            continue
        try:
            keys = await leaf.app_keys.list(resource)
        except LeafError:
            continue
        if not keys:
            say(
                f"leaf-creds invite: warning: no {resource.app_key.provider} app keys at Leaf: "
                f"these links offer no {resource.name} sign-in until you run "
                f"leaf-creds app-keys create {resource.slug} APP --from KEYS.json"
            )


@attrs.frozen
class _Reused:
    # A link the user had at Leaf already, given again on --resume.
    link: MagicLink


async def _working_links(leaf: LeafSession, kind: str, names: list[str]) -> dict[str, MagicLink]:
    """Return each user's newest link of ``kind`` for exactly ``names`` that still works."""
    now = datetime.now(UTC)
    found: dict[str, MagicLink] = {}
    for link in await leaf.magic_links.list(kind):
        offered = [link.provider] if kind == "authentication" else link.allowed_providers
        if (
            link.leaf_user_id is None
            or link.link is None
            or set(offered or ()) != set(names)
            or (link.expires_at is not None and link.expires_at <= now)
            or (
                link.max_usage is not None
                and link.usage_count is not None
                and link.usage_count >= link.max_usage
            )
        ):
            continue
        known = found.get(link.leaf_user_id)
        if known is None or (known.expires_at or now) < (link.expires_at or now):
            found[link.leaf_user_id] = link
    return found


def _line(outcome: Outcome, slugs: list[str], kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {"leafUserId": outcome.operation.user_id, "ok": outcome.error is None}
    link = outcome.value
    if isinstance(link, _Reused):
        data["reused"] = True
        link = link.link
    if isinstance(link, MagicLink):
        data["linkId"] = link.id
        data["link"] = link.link
        data["expiresAt"] = None if link.expires_at is None else format_datetime(link.expires_at)
    data["providers"] = slugs
    data["kind"] = kind
    data["attempts"] = outcome.attempts
    if outcome.error is not None:
        data["error"] = error_json(outcome.error)
    return data
