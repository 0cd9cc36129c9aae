"""``leaf.credentials``: a Leaf user's provider credentials, and the create reconciliation.

Paths, under User Management::

    GET  POST  DELETE   /users/{leafUserId}/{slug}-credentials
    GET                 /users/{leafUserId}/{slug}-credentials/events

A create is not idempotent, but one credential per provider per user makes
it checkable: when its outcome is unknown (a read timeout, a dropped
connection, 500, 502, 504), the matching GET tells whether it was applied
(see ``_retry.decide``). A create answered 2xx with a body that is not the
record was applied: the same GET recovers the record, or
``UnreadableCreateError`` says it was applied or may have been. It is never
sent again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ._exceptions import (
    DecodeError,
    LeafError,
    NotFoundError,
    OutcomeUnknownError,
    UnreadableCreateError,
)
from ._http import parse_json
from ._models import CredentialEvent
from ._resource import CredentialResource, RecordLike
from ._transport import Answer, Reconcile, Timeouts, Transport, reason

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["Credentials"]

log = logging.getLogger("leaf_creds")

R = TypeVar("R", bound=RecordLike)

# Makes a NamedTuple from a tuple without running its Python-level __new__.
_new_tuple = tuple.__new__


class _Post(NamedTuple):
    # A create, checked and built: what the transport needs to send it.
    url: str
    data: bytes
    secrets: list[str]
    reconcile: Reconcile
    body: dict[str, Any]  # what was sent, to compare with what a GET finds
    user_id: str


class Credentials:
    """Provider credentials of Leaf users, reached as ``leaf.credentials``.

    ``leaf.get``, ``leaf.create``, ``leaf.delete`` and ``leaf.events`` are
    this resource's methods. The ``*_counted`` variants take resolved
    timeouts and also return the HTTP attempts made (what ``bulk()`` reports).
    """

    def __init__(self, transport: Transport, registry: Registry) -> None:
        self._transport = transport
        self._registry = registry

    def __repr__(self) -> str:
        return f"<Credentials of {self._transport!r}>"

    def resource(
        self, provider: str | CredentialResource[Any, Any]
    ) -> CredentialResource[Any, Any]:
        """Return the resource for a provider slug or resource.

        Raises:
            UnknownProviderError: The slug is not registered.
            ValidationError: ``provider`` is neither a string nor a resource.
        """
        return self._registry.resolve(provider)

    # -- the four operations -----------------------------------------------

    async def get(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Any:
        """Return a Leaf user's credential for a provider.

        Args:
            provider: The provider's slug or resource.
            user_id: The Leaf user's id.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            NotFoundError: The user has no such credential, or no such user.
            LeafError: Any other failure; see the exception tree.
        """
        # The hot path: a resource and the default timeouts resolved without a call.
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        transport = self._transport
        timeouts = transport.timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = transport.timeouts_for(timeout, connect_timeout)
        url = transport.user_management + resource.path(user_id)
        answer = await transport.request("GET", url, timeouts)
        return transport.decode_object(resource.record, answer, "GET", url)

    async def create(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        credentials: object,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Any:
        """Attach credentials for a provider to a Leaf user.

        Args:
            provider: The provider's slug or resource.
            user_id: The Leaf user's id.
            credentials: The provider's schema instance, or its camelCase
                JSON body as a mapping.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The stored credential, as Leaf answered it.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            ConflictError: The user already has a credential for the provider.
            OutcomeUnknownError: The create may have been applied and a GET
                could not tell.
            UnreadableCreateError: Leaf answered 2xx, so the create was
                applied or may have been, but neither the answer nor a GET
                gave its record (an ``OutcomeUnknownError``).
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        transport = self._transport
        timeouts = transport.timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = transport.timeouts_for(timeout, connect_timeout)
        record, _ = await self.create_counted(resource, user_id, credentials, timeouts)
        return record

    async def delete(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Detach a provider's credential from a Leaf user.

        Raises:
            NotFoundError: There was no such credential to delete.
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        transport = self._transport
        timeouts = transport.timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = transport.timeouts_for(timeout, connect_timeout)
        url = transport.user_management + resource.path(user_id)
        await transport.request("DELETE", url, timeouts)

    async def events(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> list[CredentialEvent]:
        """Return the troubleshooting log of a Leaf user's credential.

        Leaf keeps 30 days of events and drops them with the credential.

        Raises:
            NotFoundError: No such credential or user.
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        transport = self._transport
        timeouts = transport.timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = transport.timeouts_for(timeout, connect_timeout)
        events, _ = await self.events_counted(resource, user_id, timeouts)
        return events

    # -- the same, reporting their attempts (for bulk jobs) -----------------

    async def get_counted(
        self, resource: CredentialResource[Any, R], user_id: str, timeouts: Timeouts
    ) -> tuple[R, int]:
        """Return the credential and the HTTP attempts made."""
        transport = self._transport
        url = transport.user_management + resource.path(user_id)
        answer = await transport.request("GET", url, timeouts)
        return transport.decode_object(resource.record, answer, "GET", url), answer.attempts

    async def create_counted(
        self,
        resource: CredentialResource[Any, R],
        user_id: str,
        credentials: object,
        timeouts: Timeouts,
    ) -> tuple[R, int]:
        """Create the credential; return its record and the HTTP attempts made."""
        observer = self._transport.observer
        if observer is None:
            return await self._create(resource, user_id, credentials, timeouts)
        # One span for the create with its reconcile or recovery GETs.
        with observer.operation("credentials.create", resource.slug):
            return await self._create(resource, user_id, credentials, timeouts)

    async def _create(
        self,
        resource: CredentialResource[Any, R],
        user_id: str,
        credentials: object,
        timeouts: Timeouts,
    ) -> tuple[R, int]:
        transport = self._transport
        post = self._post(resource, user_id, credentials, timeouts)
        answer = await transport.request(
            "POST",
            post.url,
            timeouts,
            data=post.data,
            secrets=post.secrets,
            reconcile=post.reconcile,
        )
        try:
            record = transport.decode_object(resource.record, answer, "POST", post.url)
        except DecodeError as exc:
            record = await self._recover(resource, post, answer, exc, timeouts)
        return record, answer.attempts

    async def delete_counted(
        self, resource: CredentialResource[Any, Any], user_id: str, timeouts: Timeouts
    ) -> tuple[None, int]:
        """Delete the credential; return the HTTP attempts made."""
        transport = self._transport
        url = transport.user_management + resource.path(user_id)
        answer = await transport.request("DELETE", url, timeouts)
        return None, answer.attempts

    async def events_counted(
        self, resource: CredentialResource[Any, Any], user_id: str, timeouts: Timeouts
    ) -> tuple[list[CredentialEvent], int]:
        """Return the credential's events and the HTTP attempts made."""
        transport = self._transport
        url = transport.user_management + resource.events_path(user_id)
        answer = await transport.request("GET", url, timeouts)
        return transport.decode_list(CredentialEvent, answer, url, "events"), answer.attempts

    def checked(self, resource: CredentialResource[Any, Any], credentials: object) -> object:
        """Return create input as a checked schema instance; nothing is sent.

        Raises:
            ValidationError: The input is invalid.
        """
        # The schema class first: it is the common case, and a cheaper check
        # than the Mapping ABC.
        if not isinstance(credentials, resource.schema) and isinstance(credentials, Mapping):
            return resource.credentials_from_wire(credentials, converter=self._transport.converter)
        return resource.validate(credentials)

    # -- the create, and what makes it safe to retry ------------------------

    def _post(
        self,
        resource: CredentialResource[Any, Any],
        user_id: str,
        credentials: object,
        timeouts: Timeouts,
    ) -> _Post:
        """Check a create's input and build its request; nothing is sent."""
        transport = self._transport
        url = transport.user_management + resource.path(user_id)
        schema = self.checked(resource, credentials)
        body = transport.converter.unstructure(schema, resource.schema)
        secrets = [
            value for wire in resource._secret_wires if isinstance(value := body.get(wire), str)
        ]

        async def existing_credential(failure: LeafError, attempts: int) -> Answer | None:
            # The create's outcome is unknown. One credential per provider
            # per user means the matching GET tells whether it was applied.
            try:
                found = await transport.request("GET", url, timeouts)
                mine = self._stored_record(resource, found, url, body) is not None
            except NotFoundError:
                return None
            except LeafError as exc:
                # The GET failed, or answered with something that is not a
                # credential (a DecodeError): either way it cannot tell.
                raise OutcomeUnknownError(
                    f"the create of {resource.slug} credentials for Leaf user {user_id!r} "
                    f"may or may not have been applied: it failed with {reason(failure)}, "
                    f"and the GET that would tell failed with {reason(exc)}. Check with "
                    f"get({resource.slug!r}, {user_id!r}) before creating it again.",
                    provider=resource.slug,
                    user_id=user_id,
                    attempts=attempts,
                ) from failure
            if not mine:
                # Someone else's credential: ours was not applied (it would
                # have met a 409). Retrying lets Leaf give the real answer.
                log.debug("POST %s: outcome was unknown; another credential is stored", url)
                return None
            log.debug("POST %s: outcome was unknown; the credential exists", url)
            return found

        return _new_tuple(
            _Post, (url, json.dumps(body).encode(), secrets, existing_credential, body, user_id)
        )

    def _stored_record(
        self,
        resource: CredentialResource[Any, R],
        answer: Answer,
        url: str,
        sent: Mapping[str, Any],
    ) -> R | None:
        """Decode the credential a GET found, or None when it holds other values than ``sent``.

        Raises:
            DecodeError: The answer is not a credential record, so it cannot tell.
        """
        stored = parse_json(answer.body, method="GET", url=url, status=answer.status)
        if type(stored) is dict and any(
            key in stored and stored[key] != value for key, value in sent.items()
        ):
            return None
        return self._transport.decode_object(resource.record, answer, "GET", url)

    async def _recover(
        self,
        resource: CredentialResource[Any, R],
        post: _Post,
        answer: Answer,
        failure: DecodeError,
        timeouts: Timeouts,
    ) -> R:
        """Return the record of a create answered 2xx with a body that is not the record.

        A 2xx says the create was applied, so the matching GET recovers the
        record, under the reconcile's rule: it must hold the values sent.

        Raises:
            UnreadableCreateError: The GET failed, found nothing, or found
                other values.
        """
        url = post.url
        try:
            found = await self._transport.request("GET", url, timeouts)
            record = self._stored_record(resource, found, url, post.body)
        except NotFoundError:
            why = "the GET that would recover it finds no credential (a proxy may have answered)"
        except LeafError as exc:
            why = f"the GET that would recover it failed with {reason(exc)}"
        else:
            if record is not None:
                log.debug("POST %s: answer unreadable; the record was read with a GET", url)
                return record
            why = "the GET that would recover it finds a credential with other values"
        slug, user_id = resource.slug, post.user_id
        raise UnreadableCreateError(
            f"the create of {slug} credentials for Leaf user {user_id!r} was answered "
            f"{answer.status}, so it was applied or may have been, but its answer is not "
            f"the record ({failure}), and {why}. Check with get({slug!r}, {user_id!r}) "
            "before creating it again.",
            provider=slug,
            user_id=user_id,
            attempts=answer.attempts,
            method="POST",
            url=url,
            status=answer.status,
        ) from failure
