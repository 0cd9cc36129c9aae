"""``leaf.diagnose``: read what explains each credential of a Leaf user, and judge it.

For each credential of the user (those ``GET /users/{id}`` embeds, or the
one of ``provider``): its status (its own GET), its last troubleshooting
events (masked), for John Deere its organizations and the
user's ``organizationDataSync``, and Leaf's integrations summary; then one
:class:`~leaf_creds._verdicts.Verdict` from the pure rules of ``_verdicts``.

The reads run concurrently through the session's services. A part that
fails (a 503 on the organizations, say) is named in ``problems`` and left
out, so one bad answer does not hide the rest; a refused token or an
unknown user raises. Every credential read is remembered in
``leaf.credential_owners``, for the alerts that name only its id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

import attrs

from ._configurations import Configuration, Configurations
from ._credentials import Credentials
from ._exceptions import AuthenticationError, LeafError, NotFoundError, PermissionDeniedError
from ._integrations import Integrations, IntegrationSummary
from ._leaf_names import leaf_name
from ._models import CredentialEvent, CredentialStatus
from ._organizations import Organizations
from ._owners import CredentialOwners
from ._redaction import mask_text
from ._registry import Registry
from ._resource import CredentialResource
from ._transport import reason
from ._users import Users
from ._verdicts import CredentialFacts, Verdict, verdict

__all__ = ["DEFAULT_EVENTS", "CredentialDiagnosis", "Diagnosis", "diagnose"]

# How many of a credential's last troubleshooting events a diagnosis shows.
DEFAULT_EVENTS: Final = 5
_EMBEDDED: Final = "Credentials"
# The providers whose organizations Leaf lists: connections for both, the
# sync-managed list for John Deere only.
_CONNECTIONS: Final = ("JohnDeere", "Trimble")
_SYNCED: Final = "JohnDeere"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class CredentialDiagnosis:
    """One credential of a Leaf user: what was read, and the verdict.

    Attributes:
        provider: Our provider slug.
        credential_id: The credential's id; None when the user has none.
        facts: What was read (status, masked events, organizations,
            configuration, summary).
        verdict: What is wrong, or that nothing is, and the next step.
        problems: The parts that could not be read, e.g.
            ``"organizations: ServerError 503"``; the verdict is made without them.
    """

    provider: str
    credential_id: str | None
    facts: CredentialFacts
    verdict: Verdict
    problems: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Diagnosis:
    """Every credential of a Leaf user, judged.

    Attributes:
        user_id: The Leaf user.
        checked_at: When it was read, as an aware UTC datetime.
        credentials: One diagnosis per credential (or for the provider asked about).
    """

    user_id: str
    checked_at: datetime
    credentials: tuple[CredentialDiagnosis, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no credential needs anything done (an empty diagnosis is not ok)."""
        return bool(self.credentials) and all(c.verdict.ok for c in self.credentials)


async def _none() -> None:
    return None


def _masked(event: CredentialEvent) -> CredentialEvent:
    return attrs.evolve(
        event,
        body=None if event.body is None else mask_text(event.body),
        headers=None if event.headers is None else mask_text(event.headers),
    )


def _last_events(events: list[CredentialEvent] | None, count: int) -> tuple[CredentialEvent, ...]:
    if not events or count <= 0:
        return ()
    dated = sorted(events, key=lambda e: e.created_date or _EPOCH)
    return tuple(_masked(event) for event in dated[-count:])


class _Reader:
    """The reads of one diagnosis, over the session's services."""

    def __init__(
        self,
        *,
        users: Users,
        credentials: Credentials,
        organizations: Organizations,
        owners: CredentialOwners,
        timeout: float | None,
        connect_timeout: float | None,
        events: int,
    ) -> None:
        self.users = users
        self.credentials = credentials
        self.organizations = organizations
        self.owners = owners
        self.times: dict[str, Any] = {"timeout": timeout, "connect_timeout": connect_timeout}
        self.events = events
        # A refused token, raised once every read under way has ended.
        self.refused: list[LeafError] = []

    async def part(self, name: str, work: Awaitable[T], problems: list[str]) -> T | None:
        """Await one part of a diagnosis; a failure is noted in ``problems``, not raised."""
        try:
            return await work
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.refused.append(exc)  # the token: nothing else would work either
        except LeafError as exc:
            problems.append(f"{name}: {reason(exc)}")
        return None

    def raise_refused(self) -> None:
        """Raise the first refusal of the token, if a read met one."""
        if self.refused:
            raise self.refused[0]

    async def attached(self, user_id: str) -> list[str]:
        """Return the slugs of the user's credentials (raises for no such user)."""
        user = await self.users.get(user_id, **self.times)
        return list(user.credentials)

    async def record(
        self, resource: CredentialResource[Any, Any], user_id: str, problems: list[str]
    ) -> tuple[Any, bool]:
        """Return the credential's record (None when there is none), and whether it was read."""
        try:
            return await self.credentials.get(resource, user_id, **self.times), True
        except NotFoundError:
            return None, True
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.refused.append(exc)
            return None, False
        except LeafError as exc:
            problems.append(f"credential: {reason(exc)}")
            return None, False

    async def one(
        self,
        user_id: str,
        resource: CredentialResource[Any, Any],
        configuration: Configuration | None,
        summaries: list[IntegrationSummary] | None,
        shared_problems: list[str],
    ) -> CredentialDiagnosis:
        """Read and judge one credential."""
        problems = list(shared_problems)
        record, read = await self.record(resource, user_id, problems)
        name = leaf_name(resource)
        events = connections = organizations = None
        if record is not None:
            self.owners.remember(record.id, user_id, resource)
            events, connections, organizations = await asyncio.gather(
                self.part(
                    "events", self.credentials.events(resource, user_id, **self.times), problems
                ),
                self.part(
                    "organizations",
                    self.organizations.connections(user_id, name, **self.times),
                    problems,
                )
                if name in _CONNECTIONS
                else _none(),
                self.part(
                    "synced organizations", self.organizations.list(user_id, **self.times), problems
                )
                if name == _SYNCED
                else _none(),
            )
        summary = None
        if summaries is not None:
            mine = [s for s in summaries if s.provider == resource.slug]
            summary = max(mine, key=lambda s: s.sync_reference_time or _EPOCH) if mine else None
        facts = CredentialFacts(
            provider=resource.slug,
            provider_name=resource.name,
            read=read,
            status=None if record is None else CredentialStatus(record.status),
            created_time=getattr(record, "created_time", None),
            events=_last_events(events, self.events),
            connections=connections,
            organizations=None if organizations is None else tuple(organizations),
            configuration=configuration,
            summary=summary,
        )
        return CredentialDiagnosis(
            provider=resource.slug,
            credential_id=None if record is None else record.id,
            facts=facts,
            verdict=verdict(facts, datetime.now(UTC)),
            problems=tuple(problems),
        )


async def diagnose(
    *,
    users: Users,
    credentials: Credentials,
    organizations: Organizations,
    configurations: Configurations,
    integrations: Integrations,
    owners: CredentialOwners,
    registry: Registry,
    user_id: str,
    provider: str | CredentialResource[Any, Any] | None = None,
    events: int = DEFAULT_EVENTS,
    timeout: float | None = None,
    connect_timeout: float | None = None,
) -> Diagnosis:
    """Read and judge every credential of a Leaf user (or the one of ``provider``).

    Raises:
        ValidationError: The user id is invalid; nothing was sent.
        UnknownProviderError: ``provider`` is not registered.
        NotFoundError: No such Leaf user.
        AuthenticationError, PermissionDeniedError: The token was refused.
        LeafError: Reading the user failed; see the exception tree.
    """
    wanted = None if provider is None else credentials.resource(provider)
    reader = _Reader(
        users=users,
        credentials=credentials,
        organizations=organizations,
        owners=owners,
        timeout=timeout,
        connect_timeout=connect_timeout,
        events=events,
    )
    attached = await reader.attached(user_id)
    if wanted is not None:
        targets = [wanted]
    else:
        # A provider no registry knows cannot be read: it is left out.
        targets = [registry.get(slug) for slug in attached if slug in registry]
    if not targets:
        return Diagnosis(user_id=user_id, checked_at=datetime.now(UTC))
    shared: list[str] = []
    configuration, summaries = await asyncio.gather(
        reader.part("configuration", configurations.get(user_id, **reader.times), shared),
        reader.part("summaries", integrations.summaries(user_id=user_id, **reader.times), shared),
    )
    reader.raise_refused()
    judged = await asyncio.gather(
        *(reader.one(user_id, resource, configuration, summaries, shared) for resource in targets)
    )
    reader.raise_refused()
    return Diagnosis(user_id=user_id, checked_at=datetime.now(UTC), credentials=tuple(judged))
