"""``leaf.configurations``: what Leaf syncs and processes, for the API owner and per Leaf user.

Paths, under the Config service (``../shared/leaf-api/onboarding.md``
section 5.2)::

    GET  PATCH               /configs                 the API owner's defaults
    GET  POST  PATCH DELETE  /configs/{leafUserId}    one Leaf user's own

An answer is one flat JSON object: ``apiOwnerUsername``, ``leafUserId``
(``""`` for the owner) and the configuration keys. The keys that decide
whether a credential brings data (``organizationDataSync``, the auto-sync
flags, the processing ranges) are typed on :class:`Configuration`; every
key, documented or not, stays readable in ``raw``, and
:class:`ConfigurationChanges` sends any key Leaf adds under ``other``.

What Leaf answers for a user without a configuration of its own is a 404:
:meth:`Configurations.get` reads that as "inherits the owner's" and returns
the owner's values with ``inherited`` true, never an error. Where Leaf is
silent (status codes, the answer to a PATCH or POST, the type of the
processing ranges), any 2xx is taken, an empty answer is followed by a GET,
and the ranges are kept as Leaf sent them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._envelope import json_object
from ._exceptions import NotFoundError, ValidationError
from ._fields import camel_case
from ._models import OpenStrEnum
from ._resource import path_segment
from ._transport import Answer, Timeouts, Transport, structure

__all__ = [
    "CONFIG_SERVICE",
    "Configuration",
    "ConfigurationChanges",
    "Configurations",
    "OrganizationDataSync",
    "changes_body",
]

CONFIG_SERVICE: Final = "/services/config/api"
CONFIGS_PATH: Final = "/configs"
# Keys of a Configuration that are ours, not Leaf's: never read from the wire.
_OURS: Final = frozenset({"raw", "inherited"})


class OrganizationDataSync(OpenStrEnum):
    """Which John Deere organizations Leaf syncs (``organizationDataSync``)."""

    ALL = "ALL"
    """Every organization the grower shared (Leaf's default)."""
    SELECTED_ONLY = "SELECTED_ONLY"
    """Only those set ``SELECTED`` through ``leaf.organizations.set_status``."""


def _keys_repr(value: Mapping[str, Any]) -> str:
    return "<" + ", ".join(map(str, value)) + ">"


@attrs.frozen(kw_only=True)
class Configuration:
    """The API owner's configuration, or a Leaf user's.

    Attributes:
        api_owner_username: The API owner's account.
        leaf_user_id: The Leaf user's id; ``""`` for the owner's.
        inherited: True when the user has no configuration of its own (Leaf
            answered 404): the values are the owner's.
        organization_data_sync: ``ALL`` or ``SELECTED_ONLY``.
        custom_data_sync: Fetch field boundaries in ``PREVIEW`` mode first.
        sync_partner_data: Fetch shared and partner data.
        fields_auto_sync: Sync fields automatically from connected providers.
        operations_auto_sync: Sync operations automatically.
        implements_auto_sync: Sync implements automatically.
        machines_auto_sync: Sync machines automatically.
        operators_auto_sync: Sync operators automatically.
        products_auto_sync: Sync products automatically (John Deere).
        zones_auto_sync: Sync zones automatically.
        operations_processing_range: How far back provider operations are
            read, as Leaf sent it (its type is undocumented).
        irrigation_processing_range: The same for irrigation, as sent.
        raw: Every key Leaf sent, documented or not.
    """

    api_owner_username: str | None = None
    leaf_user_id: str | None = None
    inherited: bool = False
    organization_data_sync: OrganizationDataSync | None = None
    custom_data_sync: bool | None = None
    sync_partner_data: bool | None = None
    fields_auto_sync: bool | None = None
    operations_auto_sync: bool | None = None
    implements_auto_sync: bool | None = None
    machines_auto_sync: bool | None = None
    operators_auto_sync: bool | None = None
    products_auto_sync: bool | None = None
    zones_auto_sync: bool | None = None
    operations_processing_range: Any = None
    irrigation_processing_range: Any = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=_keys_repr, hash=False)

    def get(self, key: str, default: Any = None) -> Any:
        """Return a key as Leaf sent it (``"geoimagesShape"``...), or ``default``."""
        return self.raw.get(key, default)


# The documented keys, typed: attribute name -> the JSON type it must have.
_BOOLEANS: Final = (
    "custom_data_sync",
    "sync_partner_data",
    "fields_auto_sync",
    "operations_auto_sync",
    "implements_auto_sync",
    "machines_auto_sync",
    "operators_auto_sync",
    "products_auto_sync",
    "zones_auto_sync",
)


@attrs.frozen(kw_only=True)
class ConfigurationChanges:
    """Keys to set in a configuration; a field left at None is not sent.

    The auto-sync flags (``custom_data_sync``, ``sync_partner_data``,
    ``fields_auto_sync``, ``operations_auto_sync``, ``implements_auto_sync``,
    ``machines_auto_sync``, ``operators_auto_sync``, ``products_auto_sync``,
    ``zones_auto_sync``) are as on :class:`Configuration`; the processing
    ranges (``operations_processing_range``, ``irrigation_processing_range``)
    are sent as given.

    Attributes:
        organization_data_sync: ``ALL`` or ``SELECTED_ONLY``.
        other: Any other key, by Leaf's camelCase name (``geoimagesShape``...).
    """

    organization_data_sync: OrganizationDataSync | str | None = None
    custom_data_sync: bool | None = None
    sync_partner_data: bool | None = None
    fields_auto_sync: bool | None = None
    operations_auto_sync: bool | None = None
    implements_auto_sync: bool | None = None
    machines_auto_sync: bool | None = None
    operators_auto_sync: bool | None = None
    products_auto_sync: bool | None = None
    zones_auto_sync: bool | None = None
    operations_processing_range: Any = None
    irrigation_processing_range: Any = None
    other: Mapping[str, Any] = attrs.field(factory=dict)


# Leaf's key of each typed change -> the attribute's name.
_TYPED: Final = {
    camel_case(a.name): a.name for a in attrs.fields(ConfigurationChanges) if a.name != "other"
}


def _problems(body: Mapping[Any, Any], owner: bool) -> list[str]:
    problems: list[str] = []
    for key, value in body.items():
        if not isinstance(key, str) or not key.strip():
            problems.append(f"a configuration key must be a non-empty string, got {key!r}")
            continue
        if value is None:
            if owner:
                problems.append(f"the owner's defaults cannot be set to null @ $.{key}")
            continue
        name = _TYPED.get(key)
        if name in _BOOLEANS and type(value) is not bool:
            problems.append(f"must be true or false @ $.{key}")
        elif name == "organization_data_sync" and value not in list(OrganizationDataSync):
            problems.append(f"must be ALL or SELECTED_ONLY @ $.{key}")
    return problems


def changes_body(
    changes: ConfigurationChanges | Mapping[str, Any], *, owner: bool = False
) -> dict[str, Any]:
    """Check configuration changes and return their JSON body.

    Args:
        changes: The typed changes, or a mapping of Leaf's camelCase keys.
        owner: For the API owner's defaults, which cannot be set to null.

    Raises:
        ValidationError: A documented key has a value of the wrong type, a
            key is not a string, a key is given twice (typed and in
            ``other``), or (for the owner) a value is null; every problem
            is listed.
    """
    if isinstance(changes, ConfigurationChanges):
        body: dict[str, Any] = {}
        for attribute in attrs.fields(ConfigurationChanges):
            value = getattr(changes, attribute.name)
            if attribute.name != "other" and value is not None:
                body[camel_case(attribute.name)] = value
        other = changes.other
        if not isinstance(other, Mapping):
            raise ValidationError("other= must be a mapping of Leaf's configuration keys")
        twice = sorted(str(key) for key in other if key in body)
        if twice:
            raise ValidationError(f"given twice, typed and in other=: {', '.join(twice)}")
        body.update(other)
    elif isinstance(changes, Mapping):
        body = dict(changes)
    else:
        raise ValidationError(
            f"changes must be ConfigurationChanges or a mapping, got {type(changes).__name__}"
        )
    problems = _problems(body, owner)
    if problems:
        raise ValidationError("invalid configuration: " + "; ".join(problems), errors=problems)
    # A StrEnum member goes out as its value.
    sent = {
        key: str(value) if isinstance(value, enum.Enum) else value for key, value in body.items()
    }
    try:
        json.dumps(sent)
    except (TypeError, ValueError):
        raise ValidationError(
            "a configuration value is not JSON (a number, string, boolean, list or object)"
        ) from None
    return sent


class Configurations:
    """Leaf's configurations, reached as ``leaf.configurations``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._url = transport.base_url + CONFIG_SERVICE + CONFIGS_PATH

    def __repr__(self) -> str:
        return f"<Configurations of {self._transport!r}>"

    def _user_url(self, user_id: str) -> str:
        return self._url + "/" + path_segment(user_id, "Leaf user id")

    def _decode(self, answer: Answer, method: str, url: str) -> Configuration:
        data = json_object(answer, method, url)
        wire = {key: value for key, value in data.items() if key not in _OURS}
        hook = self._transport.structure_hook(Configuration)
        decoded: Configuration = structure(hook, wire, Configuration, method, url, answer.status)
        return attrs.evolve(decoded, raw=data)

    async def _send(
        self, method: str, url: str, timeouts: Timeouts, body: dict[str, Any] | None
    ) -> Configuration:
        transport = self._transport
        answer = await transport.request(
            method,
            url,
            timeouts,
            data=None if body is None else json.dumps(body).encode(),
            # Setting the same keys twice is harmless; a create is not retried.
            idempotent=method != "POST",
        )
        if answer.body.strip():
            return self._decode(answer, method, url)
        # What Leaf answers to a write is undocumented: read it back.
        answer = await transport.request("GET", url, timeouts)
        return self._decode(answer, "GET", url)

    async def owner(
        self, *, timeout: float | None = None, connect_timeout: float | None = None
    ) -> Configuration:
        """Return the API owner's configuration: the defaults every user inherits.

        Raises:
            DecodeError: The answer is not a configuration.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        answer = await transport.request(
            "GET", self._url, transport.timeouts_for(timeout, connect_timeout)
        )
        return self._decode(answer, "GET", self._url)

    async def update_owner(
        self,
        changes: ConfigurationChanges | Mapping[str, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Configuration:
        """Change the API owner's defaults; users that set a key themselves keep theirs.

        Changes are not retroactive (Leaf's documentation).

        Raises:
            ValidationError: The changes are invalid, empty, or set a key to
                null (owner defaults cannot be); nothing was sent.
            LeafError: Any other failure; see the exception tree.
        """
        body = changes_body(changes, owner=True)
        if not body:
            raise ValidationError("no change to make: give at least one key")
        timeouts = self._transport.timeouts_for(timeout, connect_timeout)
        return await self._send("PATCH", self._url, timeouts, body)

    async def get(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Configuration:
        """Return a Leaf user's configuration, or the owner's when it inherits it.

        Returns:
            The user's own configuration; or, when Leaf answers 404 (the
            user has none), the owner's with ``inherited`` true and
            ``leaf_user_id`` the user's.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            DecodeError: The answer is not a configuration.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        url = self._user_url(user_id)
        try:
            answer = await transport.request("GET", url, timeouts)
        except NotFoundError:
            # Leaf's 404 for a user without a configuration of its own. (A
            # user that does not exist reads the same: Leaf does not say
            # whether it tells them apart.)
            owner = await self.owner(timeout=timeout, connect_timeout=connect_timeout)
            return attrs.evolve(owner, leaf_user_id=user_id, inherited=True)
        return self._decode(answer, "GET", url)

    async def create(
        self,
        user_id: str,
        changes: ConfigurationChanges | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Configuration:
        """Give a Leaf user a configuration of its own; what it leaves out is inherited.

        Raises:
            ValidationError: The user id or the changes are invalid; nothing was sent.
            LeafError: Any other failure, e.g. the user has one already; see
                the exception tree. An unknown outcome is not sent twice:
                :meth:`get` tells whether it was made.
        """
        url = self._user_url(user_id)
        body = changes_body(changes if changes is not None else {})
        timeouts = self._transport.timeouts_for(timeout, connect_timeout)
        return await self._send("POST", url, timeouts, body)

    async def update(
        self,
        user_id: str,
        changes: ConfigurationChanges | Mapping[str, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Configuration:
        """Change keys of a Leaf user's own configuration; they stop following the owner's.

        Raises:
            ValidationError: The user id or the changes are invalid, or
                there is no change; nothing was sent.
            NotFoundError: The user has no configuration of its own: :meth:`create` one.
            LeafError: Any other failure; see the exception tree.
        """
        url = self._user_url(user_id)
        body = changes_body(changes)
        if not body:
            raise ValidationError("no change to make: give at least one key")
        timeouts = self._transport.timeouts_for(timeout, connect_timeout)
        return await self._send("PATCH", url, timeouts, body)

    async def delete(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete a Leaf user's own configuration: it inherits every key again.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            NotFoundError: The user had none.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        await transport.request(
            "DELETE", self._user_url(user_id), transport.timeouts_for(timeout, connect_timeout)
        )
