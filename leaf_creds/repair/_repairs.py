"""``Repairs``: the repair loop over a case store, for an async web app or ``leaf-creds watch``.

Built from a :class:`~leaf_creds.LeafSession`'s public API only: alerts
come in through an :class:`~leaf_creds.AlertReceiver` whose ``enrich`` is
``leaf.credential_owners.enrich`` (Leaf's alerts name the credential, not
its user), audits walk ``leaf.users`` and read statuses with
``leaf.bulk``, missed alerts come from ``leaf.webhooks.failed_calls()``;
links are ``leaf.magic_links`` of the ``authentication`` kind, statuses
``leaf.get``. Every request goes through the session, and so through its
pacing after Leaf's 429s and its ``rate_limit=`` ceiling.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import attrs

from leaf_creds import (
    MASK,
    Alert,
    AlertReceiver,
    CredentialAlert,
    Get,
    LeafError,
    LeafSession,
    LeafUser,
    LinkSettings,
    NotFoundError,
    Operation,
    ValidationError,
    aiohttp_handler,
)

from ._cases import (
    Case,
    CaseLink,
    Cause,
    Source,
    Transition,
    TransitionKind,
    cause_of_alert,
    cause_of_status,
)
from ._deliver import Deliver, LinkDelivery
from ._policy import (
    MISSING,
    RepairPolicy,
    StepKind,
    after_check,
    after_check_failed,
    link_usable,
    next_action_at,
    next_step,
)
from ._store import CaseStore, CredentialSeen

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["AuditSummary", "Repairs"]

log = logging.getLogger("leaf_creds.repair")

DEFAULT_LEASE: Final = 60.0
DEFAULT_BATCH: Final = 100
DEFAULT_CONCURRENCY: Final = 16
# How many statuses an audit keeps in memory before writing them down.
_STATUS_BATCH: Final = 500


@attrs.frozen(kw_only=True)
class AuditSummary:
    """What one audit found.

    Attributes:
        users: Leaf users walked.
        credentials: Credential statuses read.
        broken: Credentials read broken (and missing ones expected).
        opened: Cases the audit opened or reopened.
        failed: Reads that failed (left for the next audit).
    """

    users: int = 0
    credentials: int = 0
    broken: int = 0
    opened: int = 0
    failed: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Repairs:
    """Open, deliver, remind, check and close repair cases, from a session's public API.

    Embed it in an async web app beside its receiver::

        repairs = Repairs(leaf, store=SQLiteStore("cases.db"), deliver=send_link)
        app.router.add_post("/leaf/alerts", repairs.aiohttp_handler(secret))
        task = asyncio.create_task(repairs.run(audit_every=3600))

    Args:
        leaf: The session; never closed by us.
        store: Where the cases live (migrated on :meth:`run` or ``async with``).
        deliver: The delivery hook: an async callable taking a
            :class:`LinkDelivery`; it raises when the link was not handed over.
        policy: The repair policy; the defaults of :class:`RepairPolicy`.
        clock: Returns the time now (aware UTC); for tests.
        owner: This watcher's name in the store's leases (unique by default).
        lease: Seconds a watcher holds a case it works on.
        batch: The most cases claimed at once.
        concurrency: The most cases worked on at once.
        on_transition: Called with each :class:`Transition` this watcher
            makes (``leaf-creds watch`` prints each as a JSON line).
        link_settings: How the links' pages look.
        expect: Given a Leaf user, the provider slugs it should hold a
            credential of: an audit opens a ``MISSING_CREDENTIAL`` case for
            each one it does not hold.

    Raises:
        ValidationError: An option is invalid.
    """

    def __init__(
        self,
        leaf: LeafSession,
        *,
        store: CaseStore,
        deliver: Deliver,
        policy: RepairPolicy | None = None,
        clock: Callable[[], datetime] = _utcnow,
        owner: str | None = None,
        lease: float = DEFAULT_LEASE,
        batch: int = DEFAULT_BATCH,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_transition: Callable[[Transition], object] | None = None,
        link_settings: LinkSettings | None = None,
        expect: Callable[[LeafUser], Iterable[str]] | None = None,
    ) -> None:
        if not isinstance(store, CaseStore):
            raise ValidationError("store must be a CaseStore (SQLiteStore, PostgresStore)")
        if not callable(deliver):
            raise ValidationError("deliver must be an async callable taking a LinkDelivery")
        counts: tuple[tuple[str, object], ...] = (("batch", batch), ("concurrency", concurrency))
        for name, value in counts:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValidationError(f"{name} must be a positive integer, got {value!r}")
        seconds: object = lease
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValidationError(f"lease must be a positive number of seconds, got {lease!r}")
        self._leaf = leaf
        self._store = store
        self._deliver = deliver
        self._policy = policy if policy is not None else RepairPolicy()
        self._clock = clock
        self._owner = owner or _owner()
        self._lease = float(lease)
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._on_transition = on_transition
        self._settings = link_settings
        self._expect = expect
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failed_since: datetime | None = None

    def __repr__(self) -> str:
        return f"<Repairs store={self._store!r} owner={self._owner!r}>"

    async def __aenter__(self) -> Repairs:
        await self._store.migrate()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def store(self) -> CaseStore:
        """Where the cases live."""
        return self._store

    @property
    def policy(self) -> RepairPolicy:
        """The repair policy."""
        return self._policy

    @property
    def owner(self) -> str:
        """This watcher's name in the store's leases."""
        return self._owner

    # -- transitions -----------------------------------------------------------

    def _emit(self, transitions: Iterable[Transition | None]) -> None:
        for transition in transitions:
            if transition is None:
                continue
            log.info(
                "case %s of %s/%s: %s", transition.case_id, transition.user_id,
                transition.provider, transition.kind,
            )  # fmt: skip
            if self._on_transition is not None:
                try:
                    self._on_transition(transition)
                except Exception:
                    log.exception("the on_transition callback failed")

    # -- sources of cases --------------------------------------------------------

    async def open(
        self,
        user_id: str,
        provider: str,
        cause: Cause = Cause.UNAUTHENTICATED,
        *,
        source: Source = Source.MANUAL,
        credential_id: str | None = None,
        observed_at: datetime | None = None,
    ) -> Case:
        """Open the case of (user, provider), or count the news on the open one; idempotent.

        Args:
            user_id: The Leaf user.
            provider: A registered provider slug.
            cause: Why it needs repair.
            source: What told of it.
            credential_id: The broken credential, when known.
            observed_at: When it broke, if the news says (older news of a
                case resolved since is ignored).

        Returns:
            The case as stored.

        Raises:
            UnknownProviderError: The provider is not registered.
            StoreError: The store failed.
        """
        slug = self._leaf.registry.get(provider).slug
        case, transition = await self._store.record_news(
            user_id=user_id, provider=slug, cause=cause, source=source, now=self._clock(),
            credential_id=credential_id, observed_at=observed_at,
        )  # fmt: skip
        if transition is not None:
            self._emit([transition])
            self._wake.set()
        return case

    async def on_alert(self, alert: Alert, *, source: Source = Source.ALERT) -> Case | None:
        """Open (or update) the case of a credential alert; the receiver's callback.

        The alert's Leaf user comes from the receiver's enrichment, else
        from ``leaf.credential_owners.find``; an alert no user owns (a
        credential deleted since) opens nothing, nor does any other alert.

        Raises:
            LeafError: The owners walk or the store failed: the receiver
                answers 500 and Leaf delivers the alert again.
        """
        if not isinstance(alert, CredentialAlert):
            return None
        user_id, provider = alert.leaf_user_id, alert.provider
        if user_id is None or provider not in self._leaf.registry:
            owner = await self._leaf.credential_owners.find(alert.credential_id)
            if owner is None:
                log.warning(
                    "no Leaf user holds credential %s (%s): no case opened",
                    alert.credential_id, alert.type,
                )  # fmt: skip
                return None
            user_id, provider = owner.leaf_user_id, owner.provider
        return await self.open(
            user_id, provider, cause_of_alert(alert.type, str(alert.status)), source=source,
            credential_id=alert.credential_id, observed_at=alert.timestamp,
        )  # fmt: skip

    def receiver(
        self, secret: str | bytes | Sequence[str | bytes], **options: Any
    ) -> AlertReceiver:
        """Return an :class:`~leaf_creds.AlertReceiver` that opens cases.

        Its ``enrich`` is ``leaf.credential_owners.enrich``; ``options`` go
        to the receiver (``store=``, ``max_age=``...).
        """
        options.setdefault("enrich", self._leaf.credential_owners.enrich)
        return AlertReceiver(secret, self.on_alert, **options)

    def aiohttp_handler(
        self, secret: str | bytes | Sequence[str | bytes], **options: Any
    ) -> Callable[[web.Request], Any]:
        """Return an ``aiohttp.web`` handler of Leaf's alerts opening cases, as :meth:`receiver`."""
        options.setdefault("enrich", self._leaf.credential_owners.enrich)
        return aiohttp_handler(secret, self.on_alert, **options)

    async def replay_failed_calls(self, *, since: datetime | None = None) -> int:
        """Open the cases of the alerts Leaf failed to deliver; return how many alerts were read.

        Their news is read before any link is sent (``check_first``): a
        failed call may be hours old. Without ``since``, the calls since the
        last replay of this object (all of them the first time).
        """
        remembered = since is None
        since = since if since is not None else self._failed_since
        calls = await self._leaf.webhooks.failed_calls(since=since)
        read = 0
        for call in calls:
            last = self._failed_since
            made = call.created_at
            if remembered and last is not None and made is not None and made <= last:
                continue  # read by the last replay (`since` includes its own time)
            try:
                alert = call.alert()
            except ValidationError:
                continue
            if isinstance(alert, CredentialAlert):
                read += 1
                await self.on_alert(alert, source=Source.FAILED_CALL)
            if call.created_at is not None and (
                self._failed_since is None or call.created_at > self._failed_since
            ):
                self._failed_since = call.created_at
        return read

    async def audit(self) -> AuditSummary:
        """Read every credential of every Leaf user; open a case for each broken one.

        The users are walked once (remembering each credential's owner for
        the alerts to come), the statuses read through ``leaf.bulk`` as the
        walk goes, and kept in the store for the report. A user missing a
        credential ``expect`` names gets a ``MISSING_CREDENTIAL`` case.

        Raises:
            LeafError: The users could not be listed.
        """
        counts = {"users": 0, "credentials": 0, "broken": 0, "opened": 0, "failed": 0}
        seen: list[CredentialSeen] = []
        leaf = self._leaf

        async def operations() -> AsyncIterator[Operation]:
            async for user in leaf.users.list():
                counts["users"] += 1
                for slug, credential_id in user.credentials.items():
                    if slug not in leaf.registry:
                        continue
                    leaf.credential_owners.remember(credential_id, user.id, slug)
                    yield Get(provider=slug, user_id=user.id)
                for slug in self._expect(user) if self._expect is not None else ():
                    if slug not in user.credentials:
                        counts["broken"] += 1
                        seen.append(CredentialSeen(user_id=user.id, provider=slug, status=MISSING))
                        # Awaited first: `+= await` would read the count before the
                        # await, and lose the consumer's increments meanwhile.
                        opened = await self._audit_news(
                            user.id, slug, Cause.MISSING_CREDENTIAL, None
                        )
                        counts["opened"] += opened

        async with aclosing(leaf.bulk(operations())) as outcomes:
            async for outcome in outcomes:
                op = outcome.operation
                slug = leaf.registry.resolve(op.provider).slug
                if outcome.error is not None and not isinstance(outcome.error, NotFoundError):
                    counts["failed"] += 1
                    continue
                counts["credentials"] += 1
                record = outcome.value
                status = MISSING if record is None else str(record.status)
                credential_id = None if record is None else record.id
                seen.append(CredentialSeen(
                    user_id=op.user_id, provider=slug, status=status, credential_id=credential_id
                ))  # fmt: skip
                cause = cause_of_status(status)
                if cause is not None:
                    counts["broken"] += 1
                    opened = await self._audit_news(op.user_id, slug, cause, credential_id)
                    counts["opened"] += opened
                if len(seen) >= _STATUS_BATCH:
                    await self._store.record_statuses(seen, now=self._clock())
                    seen.clear()
        await self._store.record_statuses(seen, now=self._clock())
        return AuditSummary(**counts)

    async def _audit_news(
        self, user_id: str, provider: str, cause: Cause, credential_id: str | None
    ) -> int:
        _, transition = await self._store.record_news(
            user_id=user_id, provider=provider, cause=cause, source=Source.AUDIT,
            now=self._clock(), credential_id=credential_id,
        )  # fmt: skip
        if transition is None:
            return 0
        self._emit([transition])
        self._wake.set()
        return 1

    # -- operators ----------------------------------------------------------------

    async def mute(self, user_id: str, provider: str, *, reason: str | None = None) -> Case | None:
        """Send no more links or reminders for a case (it is still checked); None: no case."""
        return await self._set_muted(user_id, provider, True, reason)

    async def unmute(self, user_id: str, provider: str) -> Case | None:
        """Let a muted case get links and reminders again; None: no case."""
        return await self._set_muted(user_id, provider, False, None)

    async def _set_muted(
        self, user_id: str, provider: str, muted: bool, reason: str | None
    ) -> Case | None:
        found = await self._store.set_muted(
            user_id, provider, muted, now=self._clock(), reason=reason
        )
        if found is None:
            return None
        case, transition = found
        self._emit([transition])
        self._wake.set()
        return case

    # -- the loop -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to return once the cases it works on are done."""
        self._stopping.set()
        self._wake.set()

    async def run(
        self,
        *,
        poll: float = 1.0,
        audit_every: float | None = None,
        failed_calls_every: float | None = None,
    ) -> None:
        """Work on due cases until :meth:`stop` (or cancelled); audit and replay on a schedule.

        Args:
            poll: The most seconds between two looks at the store (news of
                this process wakes it at once; another watcher's is seen
                within ``poll``).
            audit_every: Seconds between audits (the first at once); None: none.
            failed_calls_every: Seconds between replays of Leaf's failed
                webhook calls (the first at once); None: none.
        """
        await self._store.migrate()
        self._stopping.clear()
        schedule = ((audit_every, self.audit), (failed_calls_every, self.replay_failed_calls))
        periodic = [
            asyncio.create_task(self._every(every, work))
            for every, work in schedule
            if every is not None
        ]
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    handled = await self.run_once()
                except LeafError:
                    log.exception("the repair loop failed to read the store; trying again")
                    handled = 0
                if handled >= self._batch:
                    continue  # more are due
                with suppress(TimeoutError):
                    async with asyncio.timeout(poll):
                        await self._wake.wait()
        finally:
            for task in periodic:
                task.cancel()
            await asyncio.gather(*periodic, return_exceptions=True)

    async def _every(self, seconds: float, work: Callable[[], Any]) -> None:
        while True:
            try:
                await work()
            except LeafError:
                log.exception("a periodic %s failed; trying again in %gs", work.__name__, seconds)
            await asyncio.sleep(seconds)

    async def run_once(self) -> int:
        """Work once on every case that is due now (up to ``batch``); return how many."""
        cases = await self._store.claim(
            owner=self._owner, now=self._clock(), lease=self._lease, limit=self._batch
        )
        await asyncio.gather(*(self._work(case) for case in cases))
        return len(cases)

    async def _work(self, case: Case) -> None:
        async with self._slots:
            try:
                step = next_step(case, self._policy, self._clock())
                if step.kind is StepKind.DELIVER:
                    await self._deliver_link(case)
                elif step.kind is StepKind.CHECK:
                    await self._check(case)
                else:
                    waiting = attrs.evolve(case, next_action_at=step.at)
                    await self._store.save(waiting, owner=self._owner)
            except Exception:
                # The lease runs out and another look (or watcher) takes it up.
                log.exception("working on case %s failed", case.id)

    # -- delivering ------------------------------------------------------------------

    async def _link(self, case: Case) -> tuple[CaseLink, bool]:
        """Return the link to send: the case's own while it works, else a new one."""
        now = self._clock()
        link = case.link
        if link is not None and link_usable(link, self._policy, now):
            try:
                fresh = await self._leaf.magic_links.get("authentication", link.id)
            except NotFoundError:
                fresh = None
            if fresh is not None:
                link = attrs.evolve(
                    link, expires_at=fresh.expires_at or link.expires_at,
                    usage_count=fresh.usage_count, max_usage=fresh.max_usage,
                )  # fmt: skip
                if link_usable(link, self._policy, now):
                    return link, True
        made = await self._leaf.magic_links.create(
            case.user_id, provider=case.provider, expires_in=self._policy.link_expires_in,
            settings=self._settings,
        )  # fmt: skip
        if made.link is None:
            raise ValidationError("Leaf answered the link's create without its URL")
        expires = made.expires_at or now + timedelta(seconds=self._policy.link_expires_in)
        return CaseLink(
            id=made.id, url=made.link, expires_at=expires, usage_count=made.usage_count,
            max_usage=made.max_usage, created_at=now,
        ), False  # fmt: skip

    async def _deliver_link(self, case: Case) -> None:
        resource = self._leaf.registry.get(case.provider)
        if resource.link_name is None:
            await self._set_muted(
                case.user_id, case.provider, True, f"Leaf offers no Magic Link for {case.provider}"
            )
            await self._store.save(case, owner=self._owner)
            return
        try:
            link, reused = await self._link(case)
        except LeafError as exc:
            log.warning(
                "no link for case %s (%s): %s; trying again in %gs", case.id, case.provider,
                type(exc).__name__, self._policy.delivery_retry,
            )  # fmt: skip
            later = self._clock() + timedelta(seconds=self._policy.delivery_retry)
            await self._store.save(attrs.evolve(case, next_action_at=later), owner=self._owner)
            return
        now = self._clock()
        kind = "link" if case.sends == 0 else "reminder"
        attempt = await self._store.begin_delivery(
            case, owner=self._owner, kind=kind, link=link, now=now
        )
        if attempt is None:
            return  # another watcher has it (our lease ran out): never sent twice
        delivery = LinkDelivery(
            id=f"{case.id}:{case.episode}:{attempt}", case_id=case.id, kind=kind,
            reminder=case.sends, leaf_user_id=case.user_id, provider=case.provider,
            provider_name=resource.name, cause=case.cause, url=link.url,
            expires_at=link.expires_at, reused=reused,
        )  # fmt: skip
        error: str | None = None
        try:
            await self._deliver(delivery)
        except Exception as exc:
            # The hook's message may hold the link (its own error text): masked.
            error = f"{type(exc).__name__}: {exc}"[:300]
            error = error.replace(link.url, MASK).replace(link.id, MASK)
        done = self._clock()
        sent = TransitionKind.LINK_SENT if kind == "link" else TransitionKind.REMINDER_SENT
        detail: dict[str, Any] = {"attempt": attempt, "reminder": case.sends, "reused": reused}
        if link.expires_at is not None:
            detail["linkExpiresAt"] = link.expires_at.isoformat()
        if error is not None:
            detail["error"] = error
        transition = Transition(
            kind=sent if error is None else TransitionKind.DELIVERY_FAILED, case_id=case.id,
            user_id=case.user_id, provider=case.provider, at=done, episode=case.episode,
            detail={"cause": str(case.cause), **detail},
        )  # fmt: skip
        await self._store.finish_delivery(
            case, attempt, now=done, error=error, transition=transition
        )
        self._emit([transition])
        if error is None:
            after = attrs.evolve(
                case, sends=case.sends + 1, checks=0, link=link,
                first_sent_at=case.first_sent_at or done, last_sent_at=done, updated_at=done,
            )  # fmt: skip
        else:
            after = attrs.evolve(
                case, failed_sends=case.failed_sends + 1, last_failed_at=done, link=link,
                updated_at=done,
            )  # fmt: skip
        await self._store.save(
            attrs.evolve(after, next_action_at=next_action_at(after, self._policy)),
            owner=self._owner,
        )

    # -- checking ---------------------------------------------------------------------

    async def _check(self, case: Case) -> None:
        now = self._clock()
        try:
            record = await self._leaf.get(case.provider, case.user_id)
        except NotFoundError:
            status, credential_id = MISSING, None
        except LeafError as exc:
            log.warning("reading case %s's status failed: %s", case.id, type(exc).__name__)
            await self._store.save(after_check_failed(case, self._policy, now), owner=self._owner)
            return
        else:
            status, credential_id = str(record.status), record.id
            self._leaf.credential_owners.remember(record.id, case.user_id, case.provider)
        checked, kinds = after_check(case, status, self._policy, self._clock())
        if TransitionKind.RECOVERING in kinds and checked.link is not None:
            checked = await self._refresh_usage(checked)
        await self._store.record_statuses(
            [CredentialSeen(
                user_id=case.user_id, provider=case.provider, status=status,
                credential_id=credential_id,
            )],
            now=now,
        )  # fmt: skip
        transitions = [
            Transition(
                kind=kind, case_id=case.id, user_id=case.user_id, provider=case.provider,
                at=checked.updated_at, episode=case.episode,
                detail={"cause": str(checked.cause), "status": status},
            )
            for kind in kinds
        ]
        if await self._store.save(checked, owner=self._owner, transitions=transitions):
            self._emit(transitions)

    async def _refresh_usage(self, case: Case) -> Case:
        """Read the link's uses again (for the report's funnel: was it used?)."""
        link = case.link
        assert link is not None
        try:
            fresh = await self._leaf.magic_links.get("authentication", link.id)
        except LeafError:
            return case
        return attrs.evolve(
            case, link=attrs.evolve(link, usage_count=fresh.usage_count, max_usage=fresh.max_usage)
        )
