"""``leaf.integrations``: did a credential bring data? Leaf's integrations summaries.

One path, under the Integrations service (``../shared/leaf-api/operations.md``
section 1)::

    GET  /resources?leafUserId=&provider=&page=&size=

answered ``{"message": "SUCCESS", "summaries": [{"provider": "JohnDeere",
"leafUserId", "growers", "farms", "fields", "syncReferenceTime"}]}``. Leaf
names providers here in CamelCase (``JohnDeere``, ``ClimateFieldView``,
``CNHi``...); each summary also carries our slug, matched through the
session's registry. ``growers`` and ``farms`` are absent for providers that
have none. A credential ``OK`` for long with no summary, or with 0 fields,
is the "OK but no data" case.

Leaf's ``provider`` filter takes its own spelling, which its pages do not
agree on (``CNHI``, ``CNHi``): the filter is applied here, on the summaries
of the user, rather than sent.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, Final

import attrs

from ._envelope import enveloped_list
from ._fields import wire
from ._leaf_names import find_provider, fold, leaf_name
from ._registry import Registry
from ._resource import CredentialResource, path_segment
from ._transport import Transport

__all__ = ["INTEGRATIONS_SERVICE", "IntegrationSummary", "Integrations"]

INTEGRATIONS_SERVICE: Final = "/services/integrations/api"
RESOURCES_PATH: Final = "/resources"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@attrs.frozen(kw_only=True)
class _WireSummary:
    provider: str | None = None
    leaf_user_id: str | None = None
    growers: int | None = None
    farms: int | None = None
    fields: int | None = None
    sync_reference_time: datetime | None = None


@attrs.frozen(kw_only=True)
class IntegrationSummary:
    """What Leaf has synced from one provider for one Leaf user.

    Attributes:
        provider: Our provider slug (``"john-deere"``), or None when no
            registered provider matches Leaf's name.
        leaf_provider: The provider as Leaf names it (``"JohnDeere"``).
        leaf_user_id: The Leaf user.
        growers: How many growers; None for providers without them.
        farms: How many farms; None for providers without them.
        fields: How many fields.
        sync_reference_time: When Leaf last synced, as an aware UTC datetime.
    """

    provider: str | None = None
    leaf_provider: str | None = attrs.field(default=None, metadata=wire("provider"))
    leaf_user_id: str | None = None
    growers: int | None = None
    farms: int | None = None
    fields: int | None = None
    sync_reference_time: datetime | None = None


class Integrations:
    """Leaf's integrations summaries, reached as ``leaf.integrations``."""

    def __init__(self, transport: Transport, registry: Registry) -> None:
        self._transport = transport
        self._registry = registry
        self._url = transport.base_url + INTEGRATIONS_SERVICE + RESOURCES_PATH

    def __repr__(self) -> str:
        return f"<Integrations of {self._transport!r}>"

    def _summary(self, item: _WireSummary) -> IntegrationSummary:
        resource = find_provider(self._registry, item.provider)
        return IntegrationSummary(
            provider=None if resource is None else resource.slug,
            leaf_provider=item.provider,
            leaf_user_id=item.leaf_user_id,
            growers=item.growers,
            farms=item.farms,
            fields=item.fields,
            sync_reference_time=item.sync_reference_time,
        )

    def _wanted(self, provider: str | CredentialResource[Any, Any] | None) -> set[str] | None:
        """Return the folded names a summary's provider may have to match, or None for any."""
        if provider is None:
            return None
        resource = (
            provider
            if isinstance(provider, CredentialResource)
            else find_provider(self._registry, provider)
        )
        if resource is None:
            return {fold(str(provider))}
        return {fold(leaf_name(resource)), fold(resource.slug)}

    async def summaries(
        self,
        *,
        user_id: str | None = None,
        provider: str | CredentialResource[Any, Any] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[IntegrationSummary]:
        """Return Leaf's summaries, of one user and one provider when given.

        Args:
            user_id: Only this Leaf user's.
            provider: Only this provider's: a slug, a resource, or Leaf's
                name (``"JohnDeere"``).
            timeout: Seconds one attempt may take, for each page.
            connect_timeout: Seconds to open a new connection, for each page.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            DecodeError: A page is not Leaf's ``{"summaries": [...]}``.
            LeafError: Any other failure; see the exception tree.
        """
        params: dict[str, str] = {}
        if user_id is not None:
            path_segment(user_id, "Leaf user id")  # the rules of a user id
            params["leafUserId"] = user_id
        wanted = self._wanted(provider)
        transport = self._transport
        items = await enveloped_list(
            transport, self._url, "summaries", _WireSummary, "summaries",
            transport.timeouts_for(timeout, connect_timeout), params,
        )  # fmt: skip
        found = [
            self._summary(item)
            for item in items
            # A server that ignored the leafUserId filter: keep the user's only.
            if user_id is None or item.leaf_user_id in (None, user_id)
        ]
        if wanted is None:
            return found
        return [s for s in found if s.leaf_provider is not None and fold(s.leaf_provider) in wanted]

    async def summary(
        self,
        user_id: str,
        provider: str | CredentialResource[Any, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> IntegrationSummary | None:
        """Return a user's summary for one provider, or None when Leaf has synced nothing.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            DecodeError: The answer is not Leaf's summaries.
            LeafError: Any other failure; see the exception tree.
        """
        found = await self.summaries(
            user_id=user_id, provider=provider, timeout=timeout, connect_timeout=connect_timeout
        )
        # Several would be odd; the latest sync says most.
        found.sort(key=lambda s: s.sync_reference_time or _EPOCH)
        return found[-1] if found else None
