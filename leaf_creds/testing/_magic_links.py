"""The fake's Magic Links: ``/services/widgets/api/magic-link/...``.

A link is created for a Leaf user (``/users/{id}/{type}``) or for an
``externalId`` (``/{type}``, making the user when none has it), listed,
read and deleted by type: ``provider``, ``authentication`` or
``file-upload`` (``../shared/leaf-api/onboarding.md`` §2). Each link's
``link`` is its page on the fake itself, ``{fake.url}/magic-link/{id}``
(see :mod:`._link_page`). Choices Leaf leaves undocumented:

- a create answers 201 with the documented body, a DELETE 204; a missing link
  or user is 404; a type's list is paged only when ``page`` or ``size`` is given;
- a link lasts ``expiresIn`` seconds (900 by default, 900 to 31536000); its
  ``maxUsage`` is :attr:`FakeMagicLinks.max_usage` (3);
- ``allowedProviders`` defaults to ``["Other"]``; ``All`` and ``Other`` (any
  case) mean every provider; other names must be Leaf's Magic Link names,
  exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from ._state import State
from ._web import allow, json_list, read_json, segments
from ._wire import (
    MIN_EXPIRES_IN,
    FieldErrors,
    Problem,
    check_expires_in,
    field_error,
    invalid,
    json_object,
    timestamp,
)

__all__ = [
    "LINK_PROVIDERS",
    "MAGIC_LINK_PAGE",
    "WIDGETS_SERVICE",
    "FakeMagicLinks",
    "StoredLink",
]

WIDGETS_SERVICE: Final = "/services/widgets/api"
# Where the fake serves each link's page; Leaf's is https://magic-link.withleaf.io/{id}.
MAGIC_LINK_PAGE: Final = "/magic-link"
MAX_LINK_EXPIRES_IN: Final = 31_536_000
DEFAULT_MAX_USAGE: Final = 3  # the value of Leaf's examples (INF: a server default)

LINK_PROVIDERS: Final[Mapping[str, str]] = {
    "JohnDeere": "john-deere",
    "ClimateFieldView": "climate-field-view",
    "CNHI": "cnhi",
    "CNHIFieldOps": "cnhi-field-ops",
    "AgLeader": "ag-leader",
    "Trimble": "trimble",
    "RavenSlingshot": "raven-slingshot",
    "Stara": "stara",
}
"""Leaf's Magic Link provider names, and the credential slug each connects."""

_CATCH_ALL: Final = frozenset({"all", "other"})
# The path segment of each link type, and its `widget` value.
_WIDGETS: Final[Mapping[str, str]] = {
    "provider": "PROVIDER",
    "authentication": "AUTHENTICATION",
    "file-upload": "FILEUPLOAD",
}
_SETTINGS_TEXT: Final = ("backgroundColor", "companyLogo", "companyName", "headerImage")
_SETTINGS_FLAGS: Final = ("showLeafUserName", "disconnectEnabled")


@attrs.define
class StoredLink:
    """One Magic Link, with its use count."""

    id: str
    kind: str
    leaf_user_id: str
    url: str
    created: float
    expires: float
    max_usage: int
    settings: dict[str, Any]
    providers: tuple[str, ...]
    usage_count: int = 0
    last_accessed: float | None = None

    def allowed(self) -> list[str]:
        """Return the Magic Link names the link allows, ``All``/``Other`` spelled out."""
        if any(name.lower() in _CATCH_ALL for name in self.providers):
            return list(LINK_PROVIDERS)
        return list(self.providers)

    def created_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "leafUserId": self.leaf_user_id,
            "link": self.url,
            "expiresAt": timestamp(self.expires, 9),
        }

    def wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "link": self.url,
            "createdAt": timestamp(self.created, 3),
            "expiresAt": timestamp(self.expires, 3),
            "lastAccessedAt": (
                None if self.last_accessed is None else timestamp(self.last_accessed, 3)
            ),
            "leafUserId": self.leaf_user_id,
            "maxUsage": self.max_usage,
            "usageCount": self.usage_count,
            "widget": _WIDGETS[self.kind],
            "settings": dict(self.settings),
        }
        if self.kind == "provider":
            data["allowedProviders"] = list(self.providers)
        elif self.kind == "authentication":
            data["provider"] = self.providers[0]
        return data


class FakeMagicLinks:
    """The Magic Links of a fake Leaf.

    Args:
        state: The users links are made for.
        clock: The fake's clock (seconds since the epoch).
        base_url: Returns the fake's URL, where the links' pages are.

    Attributes:
        max_usage: The ``maxUsage`` given to new links (Leaf's example: 3).
    """

    def __init__(
        self, state: State, clock: Callable[[], float], base_url: Callable[[], str]
    ) -> None:
        self._state = state
        self._clock = clock
        self._base_url = base_url
        self._links: dict[str, StoredLink] = {}
        self.max_usage = DEFAULT_MAX_USAGE

    def __len__(self) -> int:
        return len(self._links)

    def reset(self) -> None:
        """Forget every link; new links get the default ``maxUsage`` again."""
        self._links.clear()
        self.max_usage = DEFAULT_MAX_USAGE

    @property
    def listed(self) -> list[dict[str, Any]]:
        """Every link as ``GET`` answers it, oldest first."""
        return [link.wire() for link in self._links.values()]

    def get(self, link_id: str) -> StoredLink | None:
        """Return the link with this id, or None."""
        return self._links.get(link_id)

    def find(self, link: str) -> StoredLink:
        """Return a link given its id or its URL.

        Raises:
            LookupError: No such link.
        """
        link_id = link.rstrip("/").rpartition("/")[2]
        entry = self._links.get(link_id)
        if entry is None:
            raise LookupError(f"no magic link {link_id}")
        return entry

    # -- HTTP --------------------------------------------------------------

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/services/widgets/api``; ``rest`` is the raw path after it.

        Raises:
            Problem: Leaf's error answer.
        """
        parts = segments(rest)
        if not parts or parts[0] != "magic-link" or len(parts) < 2:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if parts[1] == "users" and len(parts) == 4 and parts[3] in _WIDGETS:
            allow(request, "POST")
            user_id = parts[2]
            self._state.user(user_id)
            body = json_object(await read_json(request))
            return self._created(parts[3], user_id, body)
        kind = parts[1]
        if kind not in _WIDGETS or len(parts) > 3:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if len(parts) == 2:
            allow(request, "GET", "POST")
            if request.method == "GET":
                listed = [link.wire() for link in self._links.values() if link.kind == kind]
                return json_list(request, listed)
            body = json_object(await read_json(request))
            return self._created(kind, self._user_by_external_id(kind, body), body)
        allow(request, "GET", "DELETE")
        entry = self._links.get(parts[2])
        if entry is None or entry.kind != kind:
            raise Problem(404, f"no {kind} magic link {parts[2]}")
        if request.method == "DELETE":
            del self._links[entry.id]
            return web.Response(status=204)
        return web.json_response(entry.wire())

    def _user_by_external_id(self, kind: str, body: Mapping[str, Any]) -> str:
        """Return the user with the body's ``externalId``, made if missing (create-or-reuse)."""
        name = _object_name(kind)
        external_id = body.get("externalId")
        errors = []
        if not isinstance(external_id, str) or not external_id.strip():
            errors.append(field_error(name, "externalId", "must be a non-empty string"))
        errors += [
            field_error(name, key, "must be a string")
            for key in ("name", "email")
            if body.get(key) is not None and not isinstance(body[key], str)
        ]
        if errors:
            raise invalid(errors)
        # Check the rest of the body before a user is created for it.
        _link_fields(kind, body)
        assert isinstance(external_id, str)
        found = self._state.find_users({"externalId": external_id})
        if found:
            return found[0].id
        user = self._state.add_user(
            name=body.get("name") or external_id,
            email=body.get("email") or external_id,
            external_id=external_id,
        )
        return user.id

    def _created(self, kind: str, user_id: str, body: Mapping[str, Any]) -> web.Response:
        expires_in, settings, providers = _link_fields(kind, body)
        # Whole milliseconds, so the create's 9 digits and GET's 3 tell one time.
        now = round(self._clock(), 3)
        link_id = str(uuid.uuid4())
        entry = StoredLink(
            id=link_id,
            kind=kind,
            leaf_user_id=user_id,
            url=f"{self._base_url()}{MAGIC_LINK_PAGE}/{link_id}",
            created=now,
            expires=now + expires_in,
            max_usage=self.max_usage,
            settings=settings,
            providers=providers,
        )
        self._links[link_id] = entry
        location = f"{WIDGETS_SERVICE}/magic-link/{kind}/{link_id}"
        return web.json_response(entry.created_wire(), status=201, headers={"Location": location})


# -- checking a create's body --------------------------------------------


def _object_name(kind: str) -> str:
    return {"provider": "providerMagicLink", "authentication": "authenticationMagicLink"}.get(
        kind, "fileUploadMagicLink"
    )


def _known_provider(name: str) -> bool:
    return name in LINK_PROVIDERS or name.lower() in _CATCH_ALL


def _link_fields(kind: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any], tuple[str, ...]]:
    """Check a create's body; return its expiry seconds, settings and providers.

    Raises:
        Problem: 400 with every field error of the body.
    """
    name = _object_name(kind)
    errors: FieldErrors = []
    try:
        expires_in = check_expires_in(body, name, MIN_EXPIRES_IN, MAX_LINK_EXPIRES_IN)
    except Problem as exc:
        errors += exc.field_errors
        expires_in = MIN_EXPIRES_IN
    settings, settings_errors = _settings(kind, body.get("settings"), name)
    errors += settings_errors
    providers, provider_errors = _providers(kind, body, name)
    errors += provider_errors
    if errors:
        raise invalid(errors)
    return expires_in, settings, providers


def _providers(
    kind: str, body: Mapping[str, Any], name: str
) -> tuple[tuple[str, ...], FieldErrors]:
    """Return a link's ``allowedProviders`` (or its one ``provider``), with field errors."""
    if kind == "provider":
        value = body.get("allowedProviders")
        if value is None:
            return ("Other",), []
        if (
            isinstance(value, list)
            and value
            and all(isinstance(item, str) and _known_provider(item) for item in value)
        ):
            return tuple(dict.fromkeys(value)), []
        message = "must list Magic Link providers: " + ", ".join(LINK_PROVIDERS)
        return (), [field_error(name, "allowedProviders", message)]
    if kind == "authentication":
        value = body.get("provider")
        if isinstance(value, str) and value in LINK_PROVIDERS:
            return (value,), []
        message = "must be one of " + ", ".join(LINK_PROVIDERS)
        return (), [field_error(name, "provider", message)]
    return (), []


def _settings(kind: str, value: Any, object_name: str) -> tuple[dict[str, Any], FieldErrors]:
    settings: dict[str, Any] = {"backgroundColor": "#F5F5F5", "showLeafUserName": False}
    if kind != "file-upload":
        settings["disconnectEnabled"] = False
    if value is None:
        return settings, []
    if not isinstance(value, dict):
        return settings, [field_error(object_name, "settings", "must be an object")]
    errors: FieldErrors = []
    for key in _SETTINGS_TEXT:
        if value.get(key) is None:
            continue
        if isinstance(value[key], str):
            settings[key] = value[key]
        else:
            errors.append(field_error(object_name, f"settings.{key}", "must be a string"))
    for key in _SETTINGS_FLAGS:
        flag = value.get(key)
        if flag is None or (key == "disconnectEnabled" and kind == "file-upload"):
            continue
        # Jackson reads the strings "true"/"false" too, as Leaf's Postman sends them.
        if isinstance(flag, str) and flag.lower() in ("true", "false"):
            flag = flag.lower() == "true"
        if isinstance(flag, bool):
            settings[key] = flag
        else:
            errors.append(field_error(object_name, f"settings.{key}", "must be a boolean"))
    return settings, errors
