"""Repair cases, as data: one per (Leaf user, provider), and what happened to it.

A :class:`Case` is opened when a credential breaks (an alert, an audit, a
failed webhook call), holds the link sent to the grower and the reminders,
and resolves once the credential reads ``OK`` for the policy's quiet period.
A case that breaks again is reopened (the same case, its ``episode`` and
``reopen_count`` one higher), never a second one: the store keeps one case
per (user, provider), so the tenth alert for a credential updates the case.

Everything here is frozen data; the store writes it, the policy decides on
it (:mod:`._policy`), :class:`~leaf_creds.repair.Repairs` acts on it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from leaf_creds import CREDENTIALS_LIMITED_PERMISSION, CredentialStatus, masked

__all__ = [
    "Case",
    "CaseLink",
    "CaseState",
    "Cause",
    "Source",
    "Transition",
    "TransitionKind",
    "cause_of_alert",
    "cause_of_status",
]


class Cause(enum.StrEnum):
    """Why a case is open."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    MISSING_PERMISSION = "MISSING_PERMISSION"
    # The plan (or the app) expects a credential the user does not hold.
    MISSING_CREDENTIAL = "MISSING_CREDENTIAL"


class CaseState(enum.StrEnum):
    """Where a case stands."""

    OPEN = "open"
    RESOLVED = "resolved"


class Source(enum.StrEnum):
    """What opened (or last updated) a case."""

    ALERT = "alert"
    AUDIT = "audit"
    FAILED_CALL = "failed-call"
    MANUAL = "manual"


class TransitionKind(enum.StrEnum):
    """What happened to a case: one JSON line of ``leaf-creds watch`` each."""

    OPENED = "opened"
    REOPENED = "reopened"
    LINK_SENT = "link-sent"
    REMINDER_SENT = "reminder-sent"
    DELIVERY_FAILED = "delivery-failed"
    RECOVERING = "recovering"  # read OK; resolves if it stays so for the quiet period
    RELAPSED = "relapsed"  # broken again while recovering
    RESOLVED = "resolved"
    MUTED = "muted"
    UNMUTED = "unmuted"


def cause_of_status(status: str) -> Cause | None:
    """Return the cause a credential status opens a case for, or None (OK, transient)."""
    if status == CredentialStatus.UNAUTHENTICATED:
        return Cause.UNAUTHENTICATED
    if status == CredentialStatus.MISSING_PERMISSION:
        return Cause.MISSING_PERMISSION
    return None


def cause_of_alert(alert_type: str, status: str) -> Cause:
    """Return the cause of a credential alert: by its status, else by its type."""
    cause = cause_of_status(status)
    if cause is not None:
        return cause
    if alert_type == CREDENTIALS_LIMITED_PERMISSION:
        return Cause.MISSING_PERMISSION
    return Cause.UNAUTHENTICATED


@attrs.frozen(kw_only=True)
class CaseLink:
    """The authentication Magic Link a case last sent (or is about to send).

    Attributes:
        id: Leaf's id of the link; a capability (``'***'`` in reprs).
        url: The page's URL; whoever holds it can attach a credential to the
            grower's Leaf user (``'***'`` in reprs, never logged or reported).
        expires_at: When the link stops working.
        usage_count: How many times it was used, when last read.
        max_usage: How many times it may be used, when known.
        created_at: When it was created.
    """

    id: str = attrs.field(repr=masked)
    url: str = attrs.field(repr=masked)
    expires_at: datetime | None = None
    usage_count: int | None = None
    max_usage: int | None = None
    created_at: datetime | None = None


@attrs.frozen(kw_only=True)
class Case:
    """One broken connection of a Leaf user to a provider, and its repair.

    Attributes:
        id: The case's id.
        user_id: The Leaf user.
        provider: Our provider slug, e.g. ``"john-deere"``.
        state: Open or resolved.
        cause: Why it is open (the last cause seen).
        source: What opened it (or last told of it).
        credential_id: The broken credential's id, when known.
        first_opened_at: When the case was first opened.
        opened_at: When this episode opened (the last reopen).
        updated_at: When the case last changed.
        alerts: How many alerts (and audit findings) told of it, in all.
        last_alert_at: When the last one came.
        episode: 1, then one more at each reopen.
        reopen_count: How many times it reopened.
        muted: No link or reminder is sent while muted (the status is still
            checked and the case still resolves).
        last_status: The credential's status when last read (``MISSING`` when
            the user held none).
        checked_at: When the status was last read.
        checks: How many reads since the last delivery (the backoff's step).
        ok_since: When the status first read ``OK`` in a row, while recovering.
        sends: Deliveries begun this episode (the link, then reminders).
        failed_sends: Deliveries the hook refused this episode.
        last_failed_at: When the hook last refused one.
        first_sent_at: When this episode's first link was handed over.
        last_sent_at: When the last delivery was handed over.
        link: The link last sent, with its expiry and uses.
        resolved_at: When it resolved (None while open).
        resolution: Why it resolved.
        next_action_at: When the repair loop looks at it next (None: never).
        version: Bumped by every alert or audit finding; a loop's write of a
            case read before one is refused, so the news is never lost.
    """

    id: str
    user_id: str
    provider: str
    state: CaseState
    cause: Cause
    source: Source
    credential_id: str | None = None
    first_opened_at: datetime
    opened_at: datetime
    updated_at: datetime
    alerts: int = 0
    last_alert_at: datetime | None = None
    episode: int = 1
    reopen_count: int = 0
    muted: bool = False
    last_status: str | None = None
    checked_at: datetime | None = None
    checks: int = 0
    ok_since: datetime | None = None
    sends: int = 0
    failed_sends: int = 0
    last_failed_at: datetime | None = None
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    link: CaseLink | None = None
    resolved_at: datetime | None = None
    resolution: str | None = None
    next_action_at: datetime | None = None
    version: int = 0

    @property
    def is_open(self) -> bool:
        """Whether the case is open."""
        return self.state is CaseState.OPEN

    @property
    def reminders(self) -> int:
        """How many reminders were sent this episode (deliveries after the first link)."""
        return max(0, self.sends - 1)


@attrs.frozen(kw_only=True)
class Transition:
    """One thing that happened to a case, as ``leaf-creds watch`` logs it.

    Attributes:
        kind: What happened.
        case_id: The case.
        user_id: Its Leaf user.
        provider: Its provider slug.
        at: When.
        episode: The case's episode.
        detail: A few more facts (never a link, a token or a secret): the
            cause, the status read, the delivery's step, an error's kind.
    """

    kind: TransitionKind
    case_id: str
    user_id: str
    provider: str
    at: datetime
    episode: int = 1
    detail: Mapping[str, Any] = attrs.field(factory=dict, hash=False)

    def json(self) -> dict[str, Any]:
        """Return the transition as one JSON object (``leaf-creds watch``'s line)."""
        return {
            "at": self.at.isoformat(),
            "event": str(self.kind),
            "case": self.case_id,
            "leafUserId": self.user_id,
            "provider": self.provider,
            "episode": self.episode,
            **dict(self.detail),
        }
