"""The fake's provider credentials: ``/users/{id}/{slug}-credentials`` and their events.

Choices Leaf leaves undocumented (see the README's testing section):

- a create answers 201 with a ``Location`` header (JHipster's
  ``ResponseEntity.created``), a delete 204;
- a GET of a missing credential is 404, a create over an existing one 409
  (Leaf has no update: delete, then create);
- an event is logged per credential operation (the create, every GET) and
  whenever its status changes; ``/events`` is paged only when ``page`` or
  ``size`` is given;
- a create holding a placeholder where a value belongs (``"null"``,
  ``"undefined"``, ``"None"``, an unresolved Postman ``{{variable}}``), as
  a client sends when its own script found no token, answers ``OK`` like any
  create; the provider check Leaf runs in the background then refuses it:
  right after the answer the fake logs the provider's 401 and sets the
  status to ``UNAUTHENTICATED``, which sends its alert.

Every status change goes through :meth:`FakeCredentials.set_status`, which
sends the alert Leaf sends for it: ``provider`` is Leaf's name for the
provider (:func:`leaf_provider_name`), ``credential`` "the client
identification" (:func:`client_identification`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

from leaf_creds import CredentialResource, CredentialStatus

from ._state import State
from ._web import allow, json_list, read_json
from ._webhooks import FakeAlerts
from ._wire import Problem

__all__ = ["FakeCredentials", "client_identification", "leaf_provider_name", "provider_slug"]

# What a client sends when it has no value: Postman's unresolved
# "{{variable}}" (or the collection's single-braced "{jd_client_environment}"
# typo), and a missing token stringified by a script or a program.
_PLACEHOLDER: Final = re.compile(r"\{\{?[^{}]*\}\}?|null|undefined|none", re.IGNORECASE)


def provider_slug(provider: str | CredentialResource[Any, Any]) -> str:
    """Return a provider's slug, given the slug or the resource."""
    return provider.slug if isinstance(provider, CredentialResource) else provider


def leaf_provider_name(resource: CredentialResource[Any, Any]) -> str:
    """Return Leaf's own name for a provider (``JohnDeere``, ``CNHIFieldOps``), never the slug.

    Leaf's alert documents ``provider`` only as "the provider"; its other
    services name providers in CamelCase. Taken, in order: the Magic Link
    name, the app-key segment, the slug's words capitalized and joined
    (``farm-engage`` -> ``FarmEngage``).
    """
    if resource.link_name:
        return resource.link_name
    if resource.app_key is not None:
        return resource.app_key.provider
    return "".join(part.capitalize() for part in resource.slug.split("-"))


def client_identification(
    resource: CredentialResource[Any, Any], record: Mapping[str, Any]
) -> str:
    """Return what Leaf's alert calls "the client identification" of a credential.

    Taken to be its first field that identifies the provider account and is
    not a secret: ``clientId`` or ``clientKey`` (the provider application),
    ``username``, ``apid``, ``publicKey``...; the credential's id when the
    provider has only secrets (Raven Slingshot, Stara).
    """
    for field in resource.fields:
        value = record.get(field.wire)
        if not field.secret and field.wire != "clientEnvironment" and isinstance(value, str):
            return value
    return str(record.get("id"))


def _placeholders(resource: CredentialResource[Any, Any], body: Mapping[str, Any]) -> list[str]:
    return [
        field.wire
        for field in resource.fields
        if isinstance(value := body.get(field.wire), str) and _PLACEHOLDER.fullmatch(value.strip())
    ]


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
        # More of the provider's checks after a create: each returns the
        # status it gives the new credential, or None (the fake's OAuth says
        # MISSING_PERMISSION of a grower who shared no organization).
        self.checks: list[Callable[[str, Mapping[str, Any]], str | None]] = []

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
            record = dict(self._state.create_credential(user_id, slug, body))
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None
        self._provider_check(user_id, slug, body)
        return record

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
            resource = self._state.registry.get(slug)
            self._alerts.credential_status_changed(
                leaf_provider_name(resource),
                record,
                credential=client_identification(resource, record),
                now=self._clock(),
            )
        return record

    def _provider_check(self, user_id: str, slug: str, body: Mapping[str, Any]) -> None:
        """Run the check Leaf runs after a create: the provider refuses placeholders."""
        refused = _placeholders(self._state.resource(slug), body)
        if refused:
            self._state.log_provider_refusal(user_id, slug, refused)
            self.set_status(user_id, slug, CredentialStatus.UNAUTHENTICATED)
            return
        for check in self.checks:
            status = check(slug, body)
            if status is not None:
                self.set_status(user_id, slug, status)
                return

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
        # The answer is serialized now, with status OK; the check comes after.
        answer = web.json_response(
            record, status=201, headers={"Location": request.rel_url.raw_path}
        )
        self._provider_check(user_id, slug, body)
        return answer
