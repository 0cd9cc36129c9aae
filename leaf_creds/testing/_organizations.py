"""The fake's provider organizations: a grower's John Deere (and Trimble) organizations.

Leaf's paths, under ``/users/{leafUserId}`` (``../shared/leaf-api/onboarding.md``
section 5.1): ``organizations/{JohnDeere|Trimble}`` (connected and not
connected), and ``JohnDeere/organizations`` (the sync-managed list, one by
id, ``PATCH .../{SELECTED|PREVIEW}``, ``POST .../sync``).

State that moves, as Leaf's does:

- a credential's organizations are made the first time they are read: one
  organization, shared with your app and ``PREVIEW`` when the credential is
  ``OK``; not shared and ``BLOCKED`` when it is ``MISSING_PERMISSION`` (the
  consent page's "Share my organizations" left unchecked). A new credential
  (a reconnection) starts over;
- :meth:`FakeOrganizations.share` is the grower finishing the
  ``select-organizations`` page: the organizations become shared, but stay
  ``BLOCKED`` until a sync (``POST .../sync``) makes them ``PREVIEW``;
- ``PATCH`` switches between ``SELECTED`` and ``PREVIEW`` only; a
  ``BLOCKED`` organization refuses it (400).

Choices Leaf leaves undocumented: a sync answers 204; the status routes
answer 200 with the organization; a user without the provider's credential
is 404; Trimble, which cannot tell connected from not connected, lists every
organization as connected; ``managementUri`` is John Deere's connections
page (``connections-dialog`` when shared, ``select-organizations`` when not).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from ._state import State
from ._web import Answer, allow, json_list, segments
from ._wire import Problem

__all__ = ["ORGANIZATION_PROVIDERS", "FakeOrganizations", "check_organizations"]

# Our slug -> Leaf's segment, for the providers Leaf lists organizations of.
ORGANIZATION_PROVIDERS: Final[Mapping[str, str]] = {"john-deere": "JohnDeere", "trimble": "Trimble"}
_SYNCED: Final = "JohnDeere"
_STATUSES: Final = ("SELECTED", "PREVIEW", "BLOCKED")
_SETTABLE: Final = ("SELECTED", "PREVIEW")
_NAMESPACE: Final = uuid.UUID("0d9b7f3e-3c1a-4d55-9a57-6c0f4e9e2b61")


@attrs.define
class _Organization:
    id: str
    name: str
    status: str
    shared: bool


class FakeOrganizations:
    """The organizations of the fake's growers; ``fake.organizations``.

    Args:
        state: The users and their credentials.
    """

    def __init__(self, state: State) -> None:
        self._state = state
        # (user id, slug) -> (the credential id they belong to, its organizations).
        self._held: dict[tuple[str, str], tuple[str, list[_Organization]]] = {}

    def __repr__(self) -> str:
        return f"<FakeOrganizations credentials={len(self._held)}>"

    def reset(self) -> None:
        """Forget every organization."""
        self._held.clear()

    # -- set-up and inspection -----------------------------------------------

    def _of(self, user_id: str, provider: str) -> list[_Organization]:
        """Return a credential's organizations, made the first time they are read.

        Raises:
            Problem: 404 when the user has no credential for the provider.
        """
        record = self._state.credential(user_id, provider)
        entry = self._held.get((user_id, provider))
        if entry is None or entry[0] != record["id"]:
            shared = record.get("status") != "MISSING_PERMISSION"
            user = self._state.users.get(user_id)
            number = uuid.uuid5(_NAMESPACE, f"{user_id}/{provider}").int % 1_000_000
            entry = (
                record["id"],
                [
                    _Organization(
                        id=str(number),
                        name=(user.name if user else None) or f"Grower {user_id}",
                        status="PREVIEW" if shared else "BLOCKED",
                        shared=shared,
                    )
                ],
            )
            self._held[user_id, provider] = entry
        return entry[1]

    def listed(self, user_id: str, provider: str = "john-deere") -> list[dict[str, Any]]:
        """Return copies of a credential's organizations as the sync-managed list answers them.

        Raises:
            LookupError: The user has no credential for the provider.
        """
        try:
            orgs = self._of(user_id, provider)
        except Problem as exc:
            raise LookupError(exc.detail) from None
        return [self._wire(user_id, provider, org) for org in orgs]

    def set(
        self, user_id: str, provider: str, organizations: Iterable[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """Give a credential these organizations; return them as the list answers them.

        Each is ``{"id", "name", "status": SELECTED | PREVIEW | BLOCKED,
        "shared": bool}``; ``id`` and ``name`` may be left out, ``shared``
        defaults to the status not being ``BLOCKED``.

        Raises:
            LookupError: The user has no credential for the provider.
            ValueError: An organization does not fit.
        """
        try:
            record = self._state.credential(user_id, provider)
        except Problem as exc:
            raise LookupError(exc.detail) from None
        made = [_organization(number, entry) for number, entry in enumerate(organizations)]
        self._held[user_id, provider] = (record["id"], made)
        return self.listed(user_id, provider)

    def share(self, user_id: str, provider: str = "john-deere") -> None:
        """Have the grower share every organization, as on the ``select-organizations`` page.

        They stay ``BLOCKED`` until a sync: Leaf reads them again only then.

        Raises:
            LookupError: The user has no credential for the provider.
        """
        try:
            orgs = self._of(user_id, provider)
        except Problem as exc:
            raise LookupError(exc.detail) from None
        for org in orgs:
            org.shared = True

    def syncing(self, user_id: str, provider: str, selected_only: bool) -> int:
        """Return how many of a credential's organizations Leaf syncs data from."""
        return sum(
            1
            for org in self._of(user_id, provider)
            if org.shared
            and org.status != "BLOCKED"
            and (not selected_only or org.status == "SELECTED")
        )

    # -- wire ----------------------------------------------------------------

    def _uri(self, user_id: str, provider: str, org: _Organization) -> str:
        if provider != "john-deere":
            return f"https://fake-{provider}.example/organizations/{org.id}"
        record = self._state.credential(user_id, provider)
        client = record.get("clientKey") or "fake-client"
        if org.shared:
            return f"https://connections.deere.com/connections/{client}/connections-dialog?orgId={org.id}"
        return f"https://connections.deere.com/connections/{client}/select-organizations"

    def _wire(self, user_id: str, provider: str, org: _Organization) -> dict[str, Any]:
        return {
            "providerOrgId": org.id,
            "providerOrgName": org.name,
            "status": org.status,
            "managementUri": self._uri(user_id, provider, org),
        }

    def _connection(self, user_id: str, provider: str, org: _Organization) -> dict[str, Any]:
        return {"id": org.id, "name": org.name, "managementUri": self._uri(user_id, provider, org)}

    # -- HTTP ----------------------------------------------------------------

    def around(self, users: Answer) -> Answer:
        """Return the ``/users`` route: organization paths here, every other one to ``users``."""

        async def answer(request: web.Request, rest: str) -> web.Response:
            parts = segments(rest)
            if len(parts) >= 3 and "organizations" in parts[1:3]:
                return self._answer(request, parts)
            return await users(request, rest)

        return answer

    def _answer(self, request: web.Request, parts: list[str]) -> web.Response:
        user_id = parts[0]
        self._state.user(user_id)
        if parts[1] == "organizations":
            if len(parts) != 3:
                raise Problem(404, f"no such path: {request.rel_url.raw_path}")
            allow(request, "GET")
            return self._connections(user_id, parts[2])
        if parts[1] != _SYNCED:
            raise Problem(404, f"Leaf manages the organizations of {_SYNCED} only")
        rest = parts[3:]
        if not rest:
            allow(request, "GET")
            orgs = self._of(user_id, "john-deere")
            return json_list(request, [self._wire(user_id, "john-deere", org) for org in orgs])
        if rest == ["sync"]:
            allow(request, "POST")
            self._sync(user_id)
            return web.Response(status=204)
        if len(rest) > 2:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        org = self._find(user_id, rest[0])
        if len(rest) == 1:
            allow(request, "GET")
        else:
            allow(request, "PATCH")
            self._set_status(org, rest[1])
        return web.json_response(self._wire(user_id, "john-deere", org))

    def _connections(self, user_id: str, segment: str) -> web.Response:
        slug = next((s for s, name in ORGANIZATION_PROVIDERS.items() if name == segment), None)
        if slug is None:
            raise Problem(
                404, f"Leaf lists the organizations of JohnDeere and Trimble, not {segment}"
            )
        orgs = self._of(user_id, slug)
        # Trimble cannot tell connected from not connected: all are listed as connected.
        connected = [o for o in orgs if o.shared or slug == "trimble"]
        others = [o for o in orgs if o not in connected]
        return web.json_response(
            {
                "connectedOrganizations": [self._connection(user_id, slug, o) for o in connected],
                "notConnectedOrganizations": [self._connection(user_id, slug, o) for o in others],
            }
        )

    def _find(self, user_id: str, org_id: str) -> _Organization:
        for org in self._of(user_id, "john-deere"):
            if org.id == org_id:
                return org
        raise Problem(404, f"no organization {org_id} for Leaf user {user_id}")

    def _set_status(self, org: _Organization, status: str) -> None:
        if status not in _SETTABLE:
            raise Problem(400, f"status must be SELECTED or PREVIEW, not {status}")
        if org.status == "BLOCKED":
            raise Problem(400, "a BLOCKED organization cannot be changed: the grower must share it")
        org.status = status

    def _sync(self, user_id: str) -> None:
        for org in self._of(user_id, "john-deere"):
            if org.shared and org.status == "BLOCKED":
                org.status = "PREVIEW"
            elif not org.shared:
                org.status = "BLOCKED"


def check_organizations(listed: object) -> list[str]:
    """Return what is wrong with a list of organizations for :meth:`FakeOrganizations.set`."""
    if not isinstance(listed, list):
        return ["must be a JSON array of organizations"]
    problems = []
    for number, entry in enumerate(listed):
        try:
            _organization(number, entry)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _organization(number: int, entry: Mapping[str, Any]) -> _Organization:
    if not isinstance(entry, Mapping):
        raise ValueError(f"organization {number} must be a JSON object")
    status = entry.get("status", "PREVIEW")
    if status not in _STATUSES:
        raise ValueError(f"organization {number}: status must be one of {', '.join(_STATUSES)}")
    shared = entry.get("shared", status != "BLOCKED")
    org_id = entry.get("id", str(100_000 + number))
    name = entry.get("name", f"Organization {number + 1}")
    if not isinstance(shared, bool) or not isinstance(org_id, str) or not isinstance(name, str):
        raise ValueError(f"organization {number}: id and name are strings, shared a boolean")
    return _Organization(id=org_id, name=name, status=status, shared=shared)
