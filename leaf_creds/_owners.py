"""``leaf.credential_owners``: which Leaf user and provider a credential id belongs to.

Leaf's credential alerts name the credential (``credentialId``) but not its
Leaf user (``../shared/leaf-api/operations.md`` section 3). To act on one,
the id must be mapped back: from the records you created or read (each has
its ``id``), which you :meth:`~CredentialOwners.remember`, and, for an id
not remembered, by walking the users (``GET /users`` embeds each user's
``<provider>Credentials`` with its ``id``: ``LeafUser.credentials``), which
remembers every credential it passes. :meth:`~CredentialOwners.enrich`
gives a :class:`CredentialAlert` its ``leaf_user_id`` and our provider
slug; pass it to the receiver as
``AlertReceiver(..., enrich=leaf.credential_owners.enrich)``.

The owners are kept in this process's memory, the last ``size`` of them
(least recently used forgotten first). A walk costs one request per 100
users, so an id no walk finds (a credential deleted since) does not start
another walk for ``walk_interval`` seconds: several unknown alerts arriving
together share one walk.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._exceptions import ValidationError
from ._leaf_names import find_provider
from ._registry import Registry
from ._resource import CredentialResource
from ._users import Users

if TYPE_CHECKING:
    from ._alerts import Alert

__all__ = ["DEFAULT_OWNERS_SIZE", "DEFAULT_WALK_INTERVAL", "CredentialOwner", "CredentialOwners"]

DEFAULT_OWNERS_SIZE: Final = 100_000
DEFAULT_WALK_INTERVAL: Final = 60.0


@attrs.frozen(kw_only=True)
class CredentialOwner:
    """Whose a credential is.

    Attributes:
        credential_id: The credential's id.
        leaf_user_id: The Leaf user it is attached to.
        provider: Our provider slug, e.g. ``"john-deere"``.
    """

    credential_id: str
    leaf_user_id: str
    provider: str


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a non-empty string, got {value!r}")
    return value


class CredentialOwners:
    """Credential ids mapped to their Leaf user and provider, reached as ``leaf.credential_owners``.

    Args:
        users: The session's users service (for the walk).
        registry: The providers that alerts name.
        size: How many owners are remembered.
        walk_interval: The fewest seconds between two walks over the users
            for ids not remembered.
    """

    def __init__(
        self,
        users: Users,
        registry: Registry,
        *,
        size: int = DEFAULT_OWNERS_SIZE,
        walk_interval: float = DEFAULT_WALK_INTERVAL,
    ) -> None:
        self._users = users
        self._registry = registry
        self._size = size
        self.walk_interval = walk_interval
        self._owners: OrderedDict[str, CredentialOwner] = OrderedDict()
        self._lock = asyncio.Lock()
        self._walked_at: float | None = None

    def __repr__(self) -> str:
        return f"<CredentialOwners known={len(self._owners)}>"

    def __len__(self) -> int:
        return len(self._owners)

    def remember(
        self,
        credential_id: str,
        leaf_user_id: str,
        provider: str | CredentialResource[Any, Any],
    ) -> CredentialOwner:
        """Remember whose a credential is, e.g. right after you created or read it.

        Args:
            credential_id: The record's ``id``.
            leaf_user_id: The Leaf user it was created for.
            provider: Its provider: a slug or a resource.

        Raises:
            ValidationError: An id or the provider is not a non-empty string.
        """
        slug = provider.slug if isinstance(provider, CredentialResource) else provider
        owner = CredentialOwner(
            credential_id=_text(credential_id, "credential_id"),
            leaf_user_id=_text(leaf_user_id, "leaf_user_id"),
            provider=_text(slug, "provider"),
        )
        owners = self._owners
        owners[owner.credential_id] = owner
        owners.move_to_end(owner.credential_id)
        while len(owners) > self._size:
            owners.popitem(last=False)
        return owner

    def known(self, credential_id: str) -> CredentialOwner | None:
        """Return the owner remembered for a credential id, or None (no request)."""
        owner = self._owners.get(credential_id)
        if owner is not None:
            self._owners.move_to_end(credential_id)
        return owner

    async def find(
        self,
        credential_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> CredentialOwner | None:
        """Return whose a credential is: remembered, or found by walking the users.

        A walk starts only when the id is not remembered and no walk ended
        in the last ``walk_interval`` seconds; concurrent calls wait for one
        walk rather than start their own.

        Returns:
            The owner, or None when no user holds the credential (deleted,
            or another account's).

        Raises:
            LeafError: A request of the walk failed; see the exception tree.
        """
        owner = self.known(credential_id)
        if owner is not None:
            return owner
        async with self._lock:
            owner = self.known(credential_id)  # found by the walk we waited for
            walked = self._walked_at
            if owner is not None or (
                walked is not None and time.monotonic() - walked < self.walk_interval
            ):
                return owner
            await self.walk(timeout=timeout, connect_timeout=connect_timeout)
        return self.known(credential_id)

    async def walk(
        self, *, timeout: float | None = None, connect_timeout: float | None = None
    ) -> int:
        """Walk every Leaf user now, remembering each credential it holds; return how many.

        Raises:
            PaginationError: The server repeats pages instead of moving on.
            DecodeError: A page is not a JSON array of users.
            LeafError: Any other failure; see the exception tree.
        """
        found = 0
        try:
            async for user in self._users.list(timeout=timeout, connect_timeout=connect_timeout):
                for slug, credential_id in user.credentials.items():
                    if credential_id:
                        self.remember(credential_id, user.id, slug)
                        found += 1
        finally:
            self._walked_at = time.monotonic()
        return found

    async def enrich(self, alert: Alert) -> Alert:
        """Give a credential alert its Leaf user and our provider slug; return any other as is.

        ``leaf_user_id`` comes from :meth:`find` (None when no user holds
        the credential); ``provider`` becomes our slug (``"john-deere"``),
        from the owner, else from Leaf's name in the alert when a registered
        provider matches it; Leaf's own value stays in ``raw``.

        Raises:
            LeafError: The users walk failed (a receiver then answers 500,
                and Leaf delivers the alert again).
        """
        from ._alerts import CredentialAlert

        if not isinstance(alert, CredentialAlert):
            return alert
        owner = await self.find(alert.credential_id)
        if owner is not None:
            return attrs.evolve(alert, leaf_user_id=owner.leaf_user_id, provider=owner.provider)
        resource = find_provider(self._registry, alert.provider)
        if resource is None:
            return alert
        return attrs.evolve(alert, provider=resource.slug)
