"""The fake's provider credentials: ``/users/{id}/{slug}-credentials`` and their events.

Choices Leaf leaves undocumented (see the README's testing section):

- a create answers 201 with a ``Location`` header (JHipster's
  ``ResponseEntity.created``), a delete 204;
- a GET of a missing credential is 404, a create over an existing one 409
  (Leaf has no update: delete, then create);
- an event is logged per credential operation (the create, every GET) and
  whenever its status changes; ``/events`` is paged only when ``page`` or
  ``size`` is given.

Every status change goes through :meth:`FakeCredentials.set_status`, which
sends the alert Leaf sends for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from leaf_creds import CredentialResource, CredentialStatus

from ._state import State
from ._web import allow, json_list, read_json
from ._webhooks import FakeAlerts
from ._wire import Problem

__all__ = ["FakeCredentials", "provider_slug"]


def provider_slug(provider: str | CredentialResource[Any, Any]) -> str:
    """Return a provider's slug, given the slug or the resource."""
    return provider.slug if isinstance(provider, CredentialResource) else provider


class FakeCredentials:
    """The credentials of the fake's users, with their events and alerts.

    Args:
        state: The users and credentials held.
        alerts: Where status changes are announced.
        clock: The fake's clock (seconds since the epoch).
    """

    def __init__(self, state: State, alerts: FakeAlerts, clock: Callable[[], float]) -> None:
        self._state = state
        self._alerts = alerts
        self._clock = clock

    # -- set-up and inspection -----------------------------------------------

    def add(
        self, user_id: str, provider: str | CredentialResource[Any, Any], credentials: object
    ) -> dict[str, Any]:
        """Attach a credential without a request, as a create would; return its record.

        Raises:
            LookupError: No such user or provider.
            ValidationError: The credentials are invalid (a ValueError).
            ValueError: A credential exists.
        """
        slug = provider_slug(provider)
        resource = self._state.registry.get(slug)
        converter = self._state.converter
        # Check first, so a bad body raises the SDK's own ValidationError.
        schema = (
            resource.credentials_from_wire(credentials, converter=converter)
            if isinstance(credentials, Mapping)
            else resource.validate(credentials)
        )
        body = converter.unstructure(schema, resource.schema)
        try:
            return dict(self._state.create_credential(user_id, slug, body))
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    def replace(self, user_id: str, slug: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Store a credential in place of the one held, if any (Leaf has no update).

        Raises:
            Problem: 404 (no such user or provider), 400 (an invalid body).
        """
        self._state.user(user_id)
        if self._state.peek(user_id, slug) is not None:
            self._state.delete_credential(user_id, slug)
        return dict(self._state.create_credential(user_id, slug, body))

    def get(
        self, user_id: str, provider: str | CredentialResource[Any, Any]
    ) -> dict[str, Any] | None:
        """Return a copy of the stored record (wire JSON), or None."""
        return self._state.peek(user_id, provider_slug(provider))

    def set_status(
        self,
        user_id: str,
        provider: str | CredentialResource[Any, Any],
        status: CredentialStatus | str,
    ) -> dict[str, Any]:
        """Change a credential's status, log its event, and send its alert if any.

        Returns:
            A copy of the updated record.

        Raises:
            LookupError: No such user or credential.
        """
        slug = provider_slug(provider)
        previous = (self._state.peek(user_id, slug) or {}).get("status")
        record = self._state.set_status(user_id, slug, str(status))
        if record["status"] != previous:
            self._alerts.credential_status_changed(user_id, slug, record, now=self._clock())
        return record

    # -- HTTP ----------------------------------------------------------------

    async def answer(self, request: web.Request, user_id: str, parts: list[str]) -> web.Response:
        """Answer ``{slug}-credentials`` and ``{slug}-credentials/events`` of a user.

        ``parts`` are the raw path segments after the user's id.

        Raises:
            Problem: Leaf's error answer.
        """
        slug = parts[0].removesuffix("-credentials")
        if slug == parts[0]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        self._state.resource(slug)
        if len(parts) == 1:
            return await self._credential(request, user_id, slug)
        if parts[1] != "events":
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        allow(request, "GET")
        return json_list(request, self._state.events(user_id, slug))

    async def _credential(self, request: web.Request, user_id: str, slug: str) -> web.Response:
        allow(request, "GET", "POST", "DELETE")
        if request.method == "GET":
            return web.json_response(self._state.read_credential(user_id, slug))
        if request.method == "DELETE":
            self._state.delete_credential(user_id, slug)
            return web.Response(status=204)
        # Read the body before any check, as a server does; a dropped
        # connection before this point applies nothing.
        body = await read_json(request)
        record = self._state.create_credential(user_id, slug, body)
        return web.json_response(record, status=201, headers={"Location": request.rel_url.raw_path})
