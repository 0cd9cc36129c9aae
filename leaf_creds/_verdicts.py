"""Why a credential brings no data, in words a support person can forward. Pure.

:func:`verdict` reads what ``leaf.diagnose`` gathered about one credential
(:class:`CredentialFacts`: its status and events, John Deere organizations
and ``organizationDataSync``, the integrations summary) and returns one
:class:`Verdict` with the next step. Each rule is a function of its own,
tried in :data:`RULES` order; the first that speaks decides:

=========================  =====================================================
``unreadable``             the credential could not be read: try again
``not_connected``          no credential for the provider: invite the grower
``revoked``                ``UNAUTHENTICATED``: revoked at the provider, re-invite
``organizations_not_shared``  John Deere with no organization shared: send the
                           grower to the ``managementUri``
``missing_permission``     ``MISSING_PERMISSION``: re-invite, granting everything
``temporarily_unavailable``  the provider's API is down: transient, check later
``unknown_status``         a status this SDK does not know: read the events
``nothing_selected``       ``SELECTED_ONLY`` and no organization ``SELECTED``
``no_data``                synced, but 0 fields
``never_synced``           ``OK`` for longer than :data:`SYNC_GRACE`, nothing synced
``waiting_for_sync``       ``OK`` recently, nothing synced yet
``healthy``                ``OK``, synced, with fields
=========================  =====================================================

Inferences (``../shared/leaf-api/operations.md`` section 5): Leaf documents
no time for a first sync, so a credential ``OK`` for :data:`SYNC_GRACE`
without a summary is taken as never synced; a credential's revocation date
is that of its last event the provider answered 401, when it has one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

import attrs

from ._configurations import Configuration, OrganizationDataSync
from ._integrations import IntegrationSummary
from ._models import CredentialEvent, CredentialStatus
from ._organizations import (
    Organization,
    OrganizationAccess,
    OrganizationConnections,
    OrganizationStatus,
)

__all__ = [
    "RULES",
    "SYNC_GRACE",
    "CredentialFacts",
    "Verdict",
    "VerdictCode",
    "ago",
    "auto_sync_off",
    "healthy",
    "missing_permission",
    "never_synced",
    "no_data",
    "not_connected",
    "nothing_selected",
    "organizations_not_shared",
    "revoked",
    "revoked_at",
    "share_uri",
    "temporarily_unavailable",
    "unknown_status",
    "unreadable",
    "verdict",
    "waiting_for_sync",
]

# How long a credential may be OK before a missing summary means "never
# synced" rather than "not yet": Leaf documents no time for a first sync.
SYNC_GRACE: Final = timedelta(hours=6)
_KNOWN = frozenset(CredentialStatus)


class VerdictCode(enum.StrEnum):
    """Which rule decided a :class:`Verdict`."""

    UNREADABLE = "unreadable"
    NOT_CONNECTED = "not_connected"
    REVOKED = "revoked"
    ORGANIZATIONS_NOT_SHARED = "organizations_not_shared"
    MISSING_PERMISSION = "missing_permission"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    UNKNOWN_STATUS = "unknown_status"
    NOTHING_SELECTED = "nothing_selected"
    NO_DATA = "no_data"
    NEVER_SYNCED = "never_synced"
    WAITING_FOR_SYNC = "waiting_for_sync"
    HEALTHY = "healthy"


@attrs.frozen(kw_only=True)
class Verdict:
    """What is wrong with a credential (or that nothing is), and what to do next.

    Attributes:
        code: The rule that decided.
        ok: True when nothing needs doing (healthy, or only waiting).
        message: One sentence a support person can forward.
    """

    code: VerdictCode
    ok: bool
    message: str


@attrs.frozen(kw_only=True)
class CredentialFacts:
    """What was read about one credential of a Leaf user.

    Attributes:
        provider: Our provider slug.
        provider_name: Its display name (``"John Deere"``).
        read: False when the credential itself could not be read (a 503...).
        status: The credential's status; None when the user has none.
        created_time: When it was created.
        events: Its last troubleshooting events (masked), oldest first.
        connections: Its organizations, connected or not (John Deere,
            Trimble); None when not read.
        organizations: The John Deere organizations Leaf syncs; None when not read.
        configuration: The user's configuration (its own or the owner's).
        summary: Leaf's integrations summary for the user and provider, if any.
    """

    provider: str
    provider_name: str
    read: bool = True
    status: CredentialStatus | None = None
    created_time: datetime | None = None
    events: tuple[CredentialEvent, ...] = ()
    connections: OrganizationConnections | None = None
    organizations: tuple[Organization, ...] | None = None
    configuration: Configuration | None = None
    summary: IntegrationSummary | None = None


def ago(moment: datetime, now: datetime) -> str:
    """Say how long before ``now`` a moment was: ``"3 hours ago"``, ``"just now"``."""
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        count = int(seconds // size)
        if count:
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def revoked_at(events: tuple[CredentialEvent, ...]) -> datetime | None:
    """Return when the provider last refused the credential (an event answered 401)."""
    refused = [e.created_date for e in events if e.status_code == 401 and e.created_date]
    return max(refused) if refused else None


def share_uri(facts: CredentialFacts) -> str | None:
    """Return where the grower finishes sharing organizations: an incomplete setup's URI.

    A not-connected organization's ``managementUri`` first, then a
    ``BLOCKED`` organization's whose URI says the setup is incomplete.
    """
    connections = facts.connections
    if connections is not None:
        for org in connections.not_connected:
            if org.management_uri:
                return org.management_uri
    for synced in facts.organizations or ():
        if synced.access is OrganizationAccess.SETUP_INCOMPLETE and synced.management_uri:
            return synced.management_uri
    return None


def auto_sync_off(configuration: Configuration | None) -> bool:
    """Tell whether the configuration turns off both field and operation auto-sync."""
    return (
        configuration is not None
        and configuration.fields_auto_sync is False
        and configuration.operations_auto_sync is False
    )


# -- the rules, in order -----------------------------------------------------


def unreadable(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """The credential could not be read (Leaf down, a timeout): nothing can be judged."""
    if facts.read:
        return None
    return Verdict(
        code=VerdictCode.UNREADABLE,
        ok=False,
        message=f"the {facts.provider_name} credential could not be read: diagnose again later",
    )


def not_connected(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """No credential: the grower never connected the provider, or it was deleted."""
    if facts.status is not None:
        return None
    return Verdict(
        code=VerdictCode.NOT_CONNECTED,
        ok=False,
        message=f"no {facts.provider_name} credential: send the grower a Magic Link "
        f"to connect {facts.provider_name}",
    )


def revoked(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``UNAUTHENTICATED``: the provider no longer takes the grower's authorization."""
    if facts.status != CredentialStatus.UNAUTHENTICATED:
        return None
    when = revoked_at(facts.events)
    on = f" on {_day(when)}" if when is not None else ""
    return Verdict(
        code=VerdictCode.REVOKED,
        ok=False,
        message=f"revoked at the provider{on}: re-invite the grower to connect "
        f"{facts.provider_name} again (a new Magic Link)",
    )


def organizations_not_shared(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """John Deere (or Trimble) with no organization shared, or every one ``BLOCKED``."""
    connections = facts.connections
    synced = facts.organizations
    if connections is None and synced is None:
        return None
    none_connected = connections is not None and not connections.connected
    all_blocked = bool(synced) and all(o.status == OrganizationStatus.BLOCKED for o in synced or ())
    if not (none_connected or all_blocked):
        return None
    uri = share_uri(facts)
    where = (
        f"send them to {uri}"
        if uri
        else f"ask them to share organizations with your app at {facts.provider_name}"
    )
    return Verdict(
        code=VerdictCode.ORGANIZATIONS_NOT_SHARED,
        ok=False,
        message=f"the grower has not shared any {facts.provider_name} organization: {where} "
        "(then sync the organizations)",
    )


def missing_permission(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``MISSING_PERMISSION``: the grower did not grant everything the provider asks."""
    if facts.status != CredentialStatus.MISSING_PERMISSION:
        return None
    return Verdict(
        code=VerdictCode.MISSING_PERMISSION,
        ok=False,
        message=f"the grower did not grant every permission {facts.provider_name} asks for: "
        "re-invite them and ask them to allow everything on the consent page",
    )


def temporarily_unavailable(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``TEMPORARILY_UNAVAILABLE``: the provider's API, not the grower; no alert comes."""
    if facts.status != CredentialStatus.TEMPORARILY_UNAVAILABLE:
        return None
    return Verdict(
        code=VerdictCode.TEMPORARILY_UNAVAILABLE,
        ok=True,
        message=f"{facts.provider_name}'s API is unavailable for now: nothing to do but "
        "check again later (Leaf sends no alert when it recovers)",
    )


def unknown_status(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """A status this SDK does not know (Leaf's set is open)."""
    if facts.status is None or facts.status in _KNOWN:
        return None
    return Verdict(
        code=VerdictCode.UNKNOWN_STATUS,
        ok=False,
        message=f"status {facts.status} is not one this SDK knows: read the credential's "
        "events, and ask Leaf's support what it means",
    )


def nothing_selected(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``organizationDataSync`` is ``SELECTED_ONLY`` and no organization is ``SELECTED``."""
    configuration = facts.configuration
    synced = facts.organizations
    if (
        configuration is None
        or configuration.organization_data_sync != OrganizationDataSync.SELECTED_ONLY
        or synced is None
        or any(o.status == OrganizationStatus.SELECTED for o in synced)
    ):
        return None
    return Verdict(
        code=VerdictCode.NOTHING_SELECTED,
        ok=False,
        message="organizationDataSync is SELECTED_ONLY but no "
        f"{facts.provider_name} organization is SELECTED: select the ones to sync, "
        "or set organizationDataSync to ALL",
    )


def no_data(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """Synced, but Leaf found no field."""
    summary = facts.summary
    if summary is None or summary.sync_reference_time is None or summary.fields != 0:
        return None
    return Verdict(
        code=VerdictCode.NO_DATA,
        ok=False,
        message=f"OK, synced {ago(summary.sync_reference_time, now)}, but Leaf found 0 fields "
        f"at {facts.provider_name}: check that the grower's account holds fields",
    )


def _ok_since(facts: CredentialFacts, now: datetime) -> datetime:
    return facts.created_time if facts.created_time is not None else now


def never_synced(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``OK`` for longer than :data:`SYNC_GRACE`, and Leaf has synced nothing."""
    summary = facts.summary
    since = _ok_since(facts, now)
    if (summary is not None and summary.sync_reference_time is not None) or (
        now - since < SYNC_GRACE
    ):
        return None
    if auto_sync_off(facts.configuration):
        why = "fieldsAutoSync and operationsAutoSync are off in its configuration: turn them on"
    else:
        why = f"check the grower's {facts.provider_name} account holds data, and ask Leaf"
    return Verdict(
        code=VerdictCode.NEVER_SYNCED,
        ok=False,
        message=f"OK since {_day(since)} ({ago(since, now)}) but Leaf has synced nothing "
        f"from {facts.provider_name}: {why}",
    )


def waiting_for_sync(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``OK`` recently, and not synced yet: give Leaf time."""
    summary = facts.summary
    if summary is not None and summary.sync_reference_time is not None:
        return None
    since = _ok_since(facts, now)
    return Verdict(
        code=VerdictCode.WAITING_FOR_SYNC,
        ok=True,
        message=f"OK since {ago(since, now)}, not synced yet: check again in a few hours",
    )


def healthy(facts: CredentialFacts, now: datetime) -> Verdict | None:
    """``OK`` and synced: say when, and how much."""
    summary = facts.summary
    if summary is None or summary.sync_reference_time is None:
        return None  # pragma: no cover - waiting_for_sync speaks first
    fields = "an unknown number of" if summary.fields is None else str(summary.fields)
    return Verdict(
        code=VerdictCode.HEALTHY,
        ok=True,
        message=f"OK, synced {ago(summary.sync_reference_time, now)}, {fields} fields",
    )


Rule = Callable[[CredentialFacts, datetime], "Verdict | None"]
RULES: Final[tuple[Rule, ...]] = (
    unreadable,
    not_connected,
    revoked,
    organizations_not_shared,
    missing_permission,
    temporarily_unavailable,
    unknown_status,
    nothing_selected,
    no_data,
    never_synced,
    waiting_for_sync,
    healthy,
)


def verdict(facts: CredentialFacts, now: datetime) -> Verdict:
    """Return the first verdict of :data:`RULES` that speaks about ``facts`` at ``now``."""
    for rule in RULES:
        found = rule(facts, now)
        if found is not None:
            return found
    raise AssertionError("healthy() or waiting_for_sync() always speaks")  # pragma: no cover
