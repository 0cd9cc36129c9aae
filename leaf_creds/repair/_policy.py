"""The repair policy: pure decisions on a case, the clock passed in.

Nothing here sends, sleeps or reads the time: each function takes the case,
the :class:`RepairPolicy` and ``now``, and returns what to do or the case
as it becomes. :class:`~leaf_creds.repair.Repairs` carries the decisions out.

The life of a case under the default policy:

1. news (an alert, an audit finding, a failed call) opens it, or reopens a
   resolved one (:func:`on_news`); a case that was recovering relapses;
2. the first step is the link: reuse the case's last link while it works
   for at least ``link_margin`` more and has uses left, else make a new one
   (:func:`link_usable`); a failed-call source reads the status first, since
   the alert may be hours old;
3. the status is read ``first_check`` after each delivery, then at
   intervals growing by ``check_backoff`` up to ``max_check_interval``;
4. a reminder goes out at each of ``reminders`` (seconds after the first
   link), unless the case is muted or recovering;
5. an ``OK`` read starts the quiet period; the case resolves when the
   status still reads ``OK`` ``quiet_period`` later, and relapses if it
   reads broken before.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final

import attrs

from leaf_creds import CredentialStatus, ValidationError

from ._cases import Case, CaseLink, CaseState, Cause, Source, TransitionKind, cause_of_status

__all__ = [
    "MISSING",
    "RepairPolicy",
    "Step",
    "StepKind",
    "after_check",
    "after_check_failed",
    "check_due",
    "delivery_due",
    "link_usable",
    "next_action_at",
    "next_step",
    "on_news",
]

MINUTE: Final = 60.0
HOUR: Final = 3600.0
DAY: Final = 86400.0
# The status of a credential the user does not hold (GET answered 404).
MISSING: Final = "MISSING"
# Leaf's bounds on a Magic Link's expiresIn (onboarding.md section 2.2).
_MIN_EXPIRES_IN: Final = 900
_MAX_EXPIRES_IN: Final = 31_536_000


def _seconds(name: str, *, minimum: float = 0.0) -> Callable[[object, object, object], None]:
    def check(_: object, __: object, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= minimum:
            raise ValidationError(f"{name} must be seconds, at least {minimum:g}, got {value!r}")
        if value == float("inf"):
            raise ValidationError(f"{name} must be finite, got {value!r}")

    return check


def _expires_in(_: object, __: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"link_expires_in must be whole seconds, got {value!r}")
    if not _MIN_EXPIRES_IN <= value <= _MAX_EXPIRES_IN:
        raise ValidationError(
            f"link_expires_in must be {_MIN_EXPIRES_IN} to {_MAX_EXPIRES_IN} seconds "
            f"(Leaf's bounds), got {value}"
        )


def _reminders(_: object, __: object, value: tuple[object, ...]) -> None:
    last = 0.0
    for delay in value:
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay > last:
            raise ValidationError(
                f"reminders must be increasing positive seconds after the first link, got {value!r}"
            )
        last = float(delay)


def _floats(value: Iterable[float]) -> tuple[float, ...]:
    return tuple(value)


def _sources(value: Iterable[Source]) -> frozenset[Source]:
    return frozenset(value)


def _backoff(_: object, __: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 1.0 <= value < 100:
        raise ValidationError(f"check_backoff must be a factor from 1 to 100, got {value!r}")


def _attempts(_: object, __: object, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"max_failed_sends must be a positive integer, got {value!r}")


@attrs.frozen(kw_only=True)
class RepairPolicy:
    """How cases are repaired: links, reminders, status checks and the quiet period.

    Every duration is in seconds.

    Attributes:
        link_expires_in: How long a new link works (Leaf's ``expiresIn``,
            900 to 31536000); by default 7 days, to outlast the reminders'
            first days.
        link_margin: A link is reused only while it works at least this much
            longer (a grower needs time to open it).
        reminders: When reminders go out, counted from the first link; the
            case stays open (and checked) after the last one.
        first_check: The first status read after a delivery.
        check_backoff: Each later read waits this factor longer...
        max_check_interval: ...up to this.
        quiet_period: How long the status must read ``OK`` before the case
            resolves (Leaf sends no recovery alert, and a fresh credential
            can still be refused by the provider within minutes).
        delivery_retry: How long after a failed delivery (the hook raised)
            it is tried again.
        max_failed_sends: The failed deliveries in a row after which the
            case is no longer delivered to (it stays open and checked).
        check_first: Sources whose news may be stale: the status is read
            before any link goes out.
    """

    link_expires_in: int = attrs.field(default=int(7 * DAY), validator=_expires_in)
    link_margin: float = attrs.field(default=HOUR, validator=_seconds("link_margin"))
    reminders: tuple[float, ...] = attrs.field(
        default=(DAY, 3 * DAY, 7 * DAY), converter=_floats, validator=_reminders
    )
    first_check: float = attrs.field(default=MINUTE, validator=_seconds("first_check", minimum=1))
    check_backoff: float = attrs.field(default=2.0, validator=_backoff)
    max_check_interval: float = attrs.field(
        default=HOUR, validator=_seconds("max_check_interval", minimum=1)
    )
    quiet_period: float = attrs.field(default=15 * MINUTE, validator=_seconds("quiet_period"))
    delivery_retry: float = attrs.field(
        default=5 * MINUTE, validator=_seconds("delivery_retry", minimum=1)
    )
    max_failed_sends: int = attrs.field(default=5, validator=_attempts)
    check_first: frozenset[Source] = attrs.field(
        default=frozenset({Source.FAILED_CALL}), converter=_sources
    )


class StepKind(enum.StrEnum):
    """What the repair loop does next with a case."""

    DELIVER = "deliver"  # hand a link (or a reminder) over
    CHECK = "check"  # read the credential's status
    WAIT = "wait"  # nothing until ``Step.at``


@attrs.frozen
class Step:
    """The next thing to do with a case, and when.

    Attributes:
        kind: What.
        at: When it is (or was) due; None for a case with nothing left to do.
    """

    kind: StepKind
    at: datetime | None


def _later(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


# -- news ----------------------------------------------------------------------


def on_news(
    case: Case | None,
    *,
    new_id: str,
    user_id: str,
    provider: str,
    cause: Cause,
    source: Source,
    now: datetime,
    credential_id: str | None = None,
    observed_at: datetime | None = None,
) -> tuple[Case, TransitionKind | None]:
    """Return the case as news of a broken credential leaves it, and the transition if any.

    Opening is idempotent: news of an open case counts in ``alerts`` and
    changes nothing else, unless it was recovering (it relapses). News of a
    resolved case reopens it, unless the news is older than the resolution
    (a failed call replayed late): then nothing changes.

    Args:
        case: The case of (user, provider) in the store, if any.
        new_id: The id of a case opened now.
        observed_at: When the news says the credential broke (the alert's
            timestamp); ``now`` when not given.
    """
    seen = observed_at if observed_at is not None else now
    if case is None:
        opened = Case(
            id=new_id, user_id=user_id, provider=provider, state=CaseState.OPEN, cause=cause,
            source=source, credential_id=credential_id, first_opened_at=now, opened_at=now,
            updated_at=now, alerts=1, last_alert_at=now, next_action_at=now,
        )  # fmt: skip
        return opened, TransitionKind.OPENED
    told = attrs.evolve(
        case,
        alerts=case.alerts + 1,
        last_alert_at=now,
        credential_id=credential_id or case.credential_id,
    )
    if not case.is_open:
        if case.resolved_at is not None and seen <= case.resolved_at:
            return case, None  # stale news of the episode already repaired
        reopened = attrs.evolve(
            told, state=CaseState.OPEN, cause=cause, source=source, opened_at=now,
            updated_at=now, episode=case.episode + 1, reopen_count=case.reopen_count + 1,
            checks=0, checked_at=None, last_status=None, ok_since=None, sends=0,
            failed_sends=0, last_failed_at=None,
            first_sent_at=None, last_sent_at=None, resolved_at=None, resolution=None,
            next_action_at=now, version=case.version + 1,
        )  # fmt: skip
        return reopened, TransitionKind.REOPENED
    if case.ok_since is not None:
        relapsed = attrs.evolve(
            told, ok_since=None, cause=cause, updated_at=now, next_action_at=now,
            version=case.version + 1,
        )  # fmt: skip
        return relapsed, TransitionKind.RELAPSED
    if cause is not case.cause:
        return attrs.evolve(told, cause=cause, updated_at=now, version=case.version + 1), None
    return attrs.evolve(told, updated_at=now), None


# -- what is due -------------------------------------------------------------------


def delivery_due(case: Case, policy: RepairPolicy) -> datetime | None:
    """Return when the next delivery (the link, then each reminder) is due; None: no more.

    Nothing is delivered to a resolved, muted or recovering case, to one
    whose news must be checked first and was not yet, nor after
    ``max_failed_sends`` failures in a row.
    """
    if not case.is_open or case.muted or case.ok_since is not None:
        return None
    if case.failed_sends >= policy.max_failed_sends:
        return None
    if case.source in policy.check_first and case.checked_at is None:
        return None
    if case.sends == 0:
        due = case.opened_at
    elif case.sends - 1 < len(policy.reminders):
        due = _later(case.first_sent_at or case.opened_at, policy.reminders[case.sends - 1])
    else:
        return None
    failed = case.last_failed_at
    if failed is not None and failed >= (case.last_sent_at or case.opened_at):
        due = max(due, _later(failed, policy.delivery_retry))
    return due


def check_due(case: Case, policy: RepairPolicy) -> datetime | None:
    """Return when the credential's status is read next; None for a resolved case.

    A source in ``check_first`` is read at once; otherwise ``first_check``
    after the last delivery (or the opening), then with backoff; while
    recovering, at the end of the quiet period.
    """
    if not case.is_open:
        return None
    if case.checked_at is None:
        if case.source in policy.check_first:
            return case.opened_at
        return _later(case.last_sent_at or case.opened_at, policy.first_check)
    if case.ok_since is not None:
        return max(_later(case.ok_since, policy.quiet_period), _later(case.checked_at, 1.0))
    step = max(case.checks - 1, 0)
    # Capped before the power can overflow.
    interval = policy.first_check
    for _ in range(min(step, 64)):
        interval *= policy.check_backoff
        if interval >= policy.max_check_interval:
            break
    interval = min(interval, policy.max_check_interval)
    since = case.checked_at
    if case.last_sent_at is not None and case.last_sent_at > since:
        since = case.last_sent_at
        interval = policy.first_check
    return _later(since, interval)


def next_action_at(case: Case, policy: RepairPolicy) -> datetime | None:
    """Return when the loop should look at the case again (the earliest step due)."""
    dues = [d for d in (delivery_due(case, policy), check_due(case, policy)) if d is not None]
    return min(dues) if dues else None


def next_step(case: Case, policy: RepairPolicy, now: datetime) -> Step:
    """Return what to do with a case now: deliver, check, or wait until when."""
    deliver = delivery_due(case, policy)
    if deliver is not None and deliver <= now:
        return Step(StepKind.DELIVER, deliver)
    check = check_due(case, policy)
    if check is not None and check <= now:
        return Step(StepKind.CHECK, check)
    return Step(StepKind.WAIT, next_action_at(case, policy))


# -- links -------------------------------------------------------------------


def link_usable(link: CaseLink | None, policy: RepairPolicy, now: datetime) -> bool:
    """Tell whether a case's link may be sent again: it works long enough and has uses left."""
    if link is None or link.expires_at is None:
        return False
    if link.expires_at < _later(now, policy.link_margin):
        return False
    return link.usage_count is None or link.max_usage is None or link.usage_count < link.max_usage


# -- status reads ------------------------------------------------------------------


_BROKEN: Final = frozenset(
    {CredentialStatus.UNAUTHENTICATED, CredentialStatus.MISSING_PERMISSION, MISSING}
)


def after_check(
    case: Case, status: str, policy: RepairPolicy, now: datetime
) -> tuple[Case, Sequence[TransitionKind]]:
    """Return the case after its credential's status read ``status``, and the transitions.

    ``OK`` starts the quiet period (``recovering``) or ends it (``resolved``);
    a broken status while recovering is a relapse; any other status
    (``TEMPORARILY_UNAVAILABLE``, one Leaf adds) neither confirms nor
    denies, and the reads go on with backoff.

    Args:
        status: What Leaf answered, or :data:`MISSING` when the user holds no
            credential for the provider.
    """
    checked = attrs.evolve(
        case, last_status=status, checked_at=now, checks=case.checks + 1, updated_at=now
    )
    transitions: list[TransitionKind] = []
    if status == CredentialStatus.OK:
        ok_since = case.ok_since
        if ok_since is None:
            ok_since = now
            transitions.append(TransitionKind.RECOVERING)
        checked = attrs.evolve(checked, ok_since=ok_since)
        if (now - ok_since).total_seconds() >= policy.quiet_period:
            transitions.append(TransitionKind.RESOLVED)
            quiet = f"status OK for {policy.quiet_period:g}s"
            checked = attrs.evolve(
                checked, state=CaseState.RESOLVED, resolved_at=now, resolution=quiet
            )
    elif status in _BROKEN:
        cause = cause_of_status(status) or case.cause
        if case.ok_since is not None:
            transitions.append(TransitionKind.RELAPSED)
        checked = attrs.evolve(checked, ok_since=None, cause=cause)
    checked = attrs.evolve(checked, next_action_at=next_action_at(checked, policy))
    return checked, transitions


def after_check_failed(case: Case, policy: RepairPolicy, now: datetime) -> Case:
    """Return the case after its status could not be read: the next read backs off."""
    checked = attrs.evolve(case, checked_at=now, checks=case.checks + 1, updated_at=now)
    return attrs.evolve(checked, next_action_at=next_action_at(checked, policy))
