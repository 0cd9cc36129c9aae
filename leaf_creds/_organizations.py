"""``leaf.organizations``: a grower's John Deere (and Trimble) organizations at Leaf.

A John Deere account spans organizations, and Leaf fetches data only from
those the grower shared with your John Deere app. Paths, under User
Management (``../shared/leaf-api/onboarding.md`` section 5.1)::

    GET    /users/{leafUserId}/organizations/{JohnDeere|Trimble}
    GET    /users/{leafUserId}/JohnDeere/organizations            (paged)
    GET    /users/{leafUserId}/JohnDeere/organizations/{orgId}
    PATCH  /users/{leafUserId}/JohnDeere/organizations/{orgId}/{SELECTED|PREVIEW}
    POST   /users/{leafUserId}/JohnDeere/organizations/sync

What a ``managementUri`` means is read for you as an
:class:`OrganizationAccess`. Where Leaf is silent (the status codes, the
answer to a sync, whether a list may be empty or null), any 2xx is taken,
a sync's body is ignored, a missing list is empty, and every record field
is optional with unknown keys ignored.
"""

from __future__ import annotations

import builtins
import enum
from typing import Any, Final

import attrs

from ._envelope import json_object
from ._exceptions import ValidationError
from ._fields import wire
from ._leaf_names import find_provider, leaf_name
from ._models import OpenStrEnum
from ._registry import Registry
from ._resource import CredentialResource, path_segment, user_path
from ._transport import Answer, Transport, structure

__all__ = [
    "ConnectedOrganization",
    "Organization",
    "OrganizationAccess",
    "OrganizationConnections",
    "OrganizationStatus",
    "Organizations",
    "organization_access",
]

# Leaf's provider segment of the sync-managed organizations: John Deere only.
JOHN_DEERE_SEGMENT: Final = "JohnDeere"
# The providers whose connected / not-connected list Leaf serves.
_CONNECTION_PROVIDERS: Final = ("JohnDeere", "Trimble")


class OrganizationStatus(OpenStrEnum):
    """How Leaf treats one of a grower's John Deere organizations.

    An open set, as credential statuses are: a value Leaf adds becomes a
    pseudo-member instead of failing.
    """

    SELECTED = "SELECTED"
    """Everything in it is fetched and processed."""
    PREVIEW = "PREVIEW"
    """Only the organization itself is processed."""
    BLOCKED = "BLOCKED"
    """No permission or no connection; only the grower can change it."""


class OrganizationAccess(enum.Enum):
    """What an organization's ``managementUri`` says about the grower's setup."""

    CONNECTED = "connections-dialog"
    """Your John Deere app is connected: the status may be toggled."""
    SETUP_INCOMPLETE = "select-organizations"
    """The grower has not finished sharing: ``BLOCKED`` until they do, then
    ``PREVIEW`` after a sync. Send them to the ``managementUri``."""
    UNKNOWN = "unknown"
    """No URI, or one Leaf's documentation does not describe."""


def organization_access(management_uri: str | None) -> OrganizationAccess:
    """Read a ``managementUri``: ``connections-dialog`` or ``select-organizations`` in it."""
    if not management_uri:
        return OrganizationAccess.UNKNOWN
    if OrganizationAccess.SETUP_INCOMPLETE.value in management_uri:
        return OrganizationAccess.SETUP_INCOMPLETE
    if OrganizationAccess.CONNECTED.value in management_uri:
        return OrganizationAccess.CONNECTED
    return OrganizationAccess.UNKNOWN


@attrs.frozen(kw_only=True)
class ConnectedOrganization:
    """An organization of the connected / not-connected list.

    Attributes:
        id: The provider's organization id.
        name: Its name.
        management_uri: Where the grower manages the connection.
    """

    id: str | None = None
    name: str | None = None
    management_uri: str | None = None

    @property
    def access(self) -> OrganizationAccess:
        """What :attr:`management_uri` says about the grower's setup."""
        return organization_access(self.management_uri)


@attrs.frozen(kw_only=True)
class OrganizationConnections:
    """A grower's organizations at a provider, connected to your app or not.

    Trimble cannot tell connected from not connected (Leaf's documentation):
    take its lists together.

    Attributes:
        connected: Shared with your app.
        not_connected: Not shared (yet).
    """

    connected: tuple[ConnectedOrganization, ...] = attrs.field(
        default=(), metadata=wire("connectedOrganizations")
    )
    not_connected: tuple[ConnectedOrganization, ...] = attrs.field(
        default=(), metadata=wire("notConnectedOrganizations")
    )


@attrs.frozen(kw_only=True)
class Organization:
    """One of a grower's John Deere organizations, as Leaf syncs it.

    Attributes:
        provider_org_id: John Deere's id of the organization.
        provider_org_name: Its name.
        status: ``SELECTED``, ``PREVIEW`` or ``BLOCKED``.
        management_uri: Where the grower manages the connection.
    """

    provider_org_id: str | None = None
    provider_org_name: str | None = None
    status: OrganizationStatus | None = None
    management_uri: str | None = None

    @property
    def access(self) -> OrganizationAccess:
        """What :attr:`management_uri` says about the grower's setup."""
        return organization_access(self.management_uri)


def settable_status(status: object) -> OrganizationStatus:
    """Return ``status`` if Leaf lets a client set it: ``SELECTED`` or ``PREVIEW``.

    Raises:
        ValidationError: Anything else; ``BLOCKED`` only the grower can lift.
    """
    if status == OrganizationStatus.BLOCKED:
        raise ValidationError(
            "an organization cannot be set BLOCKED, nor taken out of it: only the grower "
            "can, through its managementUri (then sync)"
        )
    if status not in (OrganizationStatus.SELECTED, OrganizationStatus.PREVIEW):
        raise ValidationError(f"status must be SELECTED or PREVIEW, got {status!r}")
    return OrganizationStatus(str(status))


class Organizations:
    """A grower's provider organizations, reached as ``leaf.organizations``."""

    def __init__(self, transport: Transport, registry: Registry) -> None:
        self._transport = transport
        self._registry = registry

    def __repr__(self) -> str:
        return f"<Organizations of {self._transport!r}>"

    def _segment(self, provider: str | CredentialResource[Any, Any]) -> str:
        resource = provider if isinstance(provider, CredentialResource) else None
        if resource is None:
            resource = find_provider(self._registry, provider)
        name = leaf_name(resource) if resource is not None else provider
        if name not in _CONNECTION_PROVIDERS:
            raise ValidationError(
                f"Leaf lists the organizations of John Deere and Trimble only, got {provider!r}"
            )
        return str(name)

    def _synced(self, user_id: str) -> str:
        return f"{self._transport.user_management}{user_path(user_id)}/{JOHN_DEERE_SEGMENT}"

    async def connections(
        self,
        user_id: str,
        provider: str | CredentialResource[Any, Any] = JOHN_DEERE_SEGMENT,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> OrganizationConnections:
        """Return a grower's organizations at a provider, connected to your app or not.

        Args:
            user_id: The Leaf user.
            provider: John Deere (the default) or Trimble, as a slug, a
                resource or Leaf's name (``"JohnDeere"``).
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            ValidationError: The user id or the provider is invalid; nothing was sent.
            NotFoundError: No such user, or no credential for the provider.
            DecodeError: The answer is not the two lists.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        segment = self._segment(provider)
        url = f"{transport.user_management}{user_path(user_id)}/organizations/{segment}"
        answer = await transport.request(
            "GET", url, transport.timeouts_for(timeout, connect_timeout)
        )
        data = json_object(answer, "GET", url)
        for key in ("connectedOrganizations", "notConnectedOrganizations"):
            if data.get(key) is None:
                data[key] = []
        hook = transport.structure_hook(OrganizationConnections)
        decoded: OrganizationConnections = structure(
            hook, data, OrganizationConnections, "GET", url, answer.status
        )
        return decoded

    async def list(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[Organization]:
        """Return every John Deere organization Leaf manages the sync of for a grower.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            NotFoundError: No such user, or no John Deere credential.
            DecodeError: A page is not a JSON array of organizations.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        return await transport.list_all(
            self._synced(user_id) + "/organizations", Organization, "organizations",
            transport.timeouts_for(timeout, connect_timeout),
        )  # fmt: skip

    async def get(
        self,
        user_id: str,
        organization_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Organization:
        """Return one of a grower's John Deere organizations.

        Raises:
            ValidationError: An id is invalid; nothing was sent.
            NotFoundError: No such user or organization.
            DecodeError: The answer is not an organization.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        url = self._one(user_id, organization_id)
        answer = await transport.request(
            "GET", url, transport.timeouts_for(timeout, connect_timeout)
        )
        return transport.decode_object(Organization, answer, "GET", url)

    def _one(self, user_id: str, organization_id: str) -> str:
        segment = path_segment(organization_id, "organization id")
        return f"{self._synced(user_id)}/organizations/{segment}"

    async def set_status(
        self,
        user_id: str,
        organization_id: str,
        status: OrganizationStatus | str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Organization:
        """Set a John Deere organization ``SELECTED`` or ``PREVIEW``.

        With ``organizationDataSync`` set to ``SELECTED_ONLY`` (see
        ``leaf.configurations``), Leaf syncs only the ``SELECTED`` ones.

        Returns:
            The organization as Leaf answered it; when the answer has no
            body, its id and the status set.

        Raises:
            ValidationError: An id is invalid, or the status is not
                ``SELECTED`` or ``PREVIEW`` (``BLOCKED`` is Leaf's alone to
                set, and only the grower can lift it); nothing was sent.
            NotFoundError: No such user or organization.
            BadRequestError: Leaf refused it, e.g. a ``BLOCKED`` organization.
            LeafError: Any other failure; see the exception tree.
        """
        wanted = settable_status(status)
        transport = self._transport
        url = f"{self._one(user_id, organization_id)}/{wanted.value}"
        # Setting a status twice is harmless: retried like a GET.
        answer = await transport.request(
            "PATCH", url, transport.timeouts_for(timeout, connect_timeout), idempotent=True
        )
        return self._patched(answer, url, organization_id, wanted)

    def _patched(
        self, answer: Answer, url: str, organization_id: str, status: OrganizationStatus
    ) -> Organization:
        if not answer.body.strip():
            # The status codes are undocumented: a 204 tells what was set.
            return Organization(provider_org_id=organization_id, status=status)
        return self._transport.decode_object(Organization, answer, "PATCH", url)

    async def sync(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Ask Leaf to read a grower's John Deere organizations again.

        Call it after the grower fixed a connection through its
        ``managementUri`` (``BLOCKED`` then becomes ``PREVIEW``), after
        switching ``organizationDataSync`` to ``SELECTED_ONLY``, or when
        organizations are missing from :meth:`list`.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            NotFoundError: No such user, or no John Deere credential.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        url = self._synced(user_id) + "/organizations/sync"
        # Asking for a sync twice is harmless, and Leaf's answer is undocumented.
        await transport.request(
            "POST", url, transport.timeouts_for(timeout, connect_timeout), idempotent=True
        )
