"""The fake's onboarding services: app keys, Magic Links and Leaf Link API keys.

Leaf serves three surfaces for getting growers connected, and the fake
serves them at Leaf's paths (``../shared/leaf-api/onboarding.md`` §1-3):

- app keys under ``/services/usermanagement/api/app-keys/{Provider}/{appName}``
  (plus ``/{clientEnvironment}`` for JohnDeere, CNHI and CNHIFieldOps);
- Magic Links under ``/services/widgets/api/magic-link/...``;
- Leaf Link API keys under ``/services/usermanagement/api/api-keys``.

Each Magic Link's ``link`` is a small HTML page served by the fake itself
at ``{fake.url}/magic-link/{id}`` (no bearer token: a grower's browser has
none). A grower picks a provider that has app keys registered, "signs in"
on a consent form, and the fake stores an ``OK`` credential for the link's
Leaf user, as Leaf's hosted page does after the provider's OAuth flow.

Choices Leaf leaves undocumented (the README's "The fake's Magic Link page"
lists them too):

- creates answer 201 with the documented body, a PUT 200 with the app key's
  metadata, a DELETE 204; a missing app key, link, key or user is 404; a POST
  over an existing app key is 409 (use PUT); lists are paged only when
  ``page`` or ``size`` is given, like ``/events``;
- every field an app key's body lists is a required non-empty string, except
  ``scopes`` (a list of strings); Stara accepts ``user``/``pwd`` or
  ``accessTokenClient`` on both verbs; unknown keys are ignored, as Spring does;
- a Magic Link lasts ``expiresIn`` seconds (900 by default, 900 to 31536000);
  its ``maxUsage`` is :attr:`FakeOnboarding.max_usage` (3), and each opening
  of its page counts one use; an exhausted or expired link answers 410;
- ``allowedProviders`` defaults to ``["Other"]``; ``All`` and ``Other`` (any
  case) mean every provider; other names must be Leaf's Magic Link names,
  exactly;
- a new credential is ``OK`` and sends no alert (Leaf documents none for
  it); a grower who withholds organization access on the consent form leaves
  it ``MISSING_PERMISSION``, which logs its event and sends the
  ``credentialsLimitedPermission`` alert, as a status change does;
- with ``disconnectEnabled`` a connected provider shows a Disconnect button,
  which deletes the credential (no alert);
- an API key lists in full (so a client can find the id of a key it just
  created), with ``revokedAt`` only once revoked; revoking twice is a 204.
"""

from __future__ import annotations

import html
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, unquote

import attrs
from aiohttp import web

from .._exceptions import UnknownProviderError
from .._fields import wire_name
from .._resource import CredentialResource
from ._state import State
from ._web import read_form, read_json
from ._webhooks import FakeAlerts
from ._wire import Problem

__all__ = [
    "API_KEYS_PATH",
    "APP_KEYS_PATH",
    "LINK_PROVIDERS",
    "MAGIC_LINK_PAGE",
    "WIDGETS_SERVICE",
    "FakeOnboarding",
]

USER_MANAGEMENT: Final = "/services/usermanagement/api"
WIDGETS_SERVICE: Final = "/services/widgets/api"
APP_KEYS_PATH: Final = "/app-keys"
API_KEYS_PATH: Final = "/api-keys"
# Where the fake serves each link's page; Leaf's is https://magic-link.withleaf.io/{id}.
MAGIC_LINK_PAGE: Final = "/magic-link"

MIN_EXPIRES_IN: Final = 900
MAX_LINK_EXPIRES_IN: Final = 31_536_000
API_KEY_LIFETIME: Final = 31_536_000  # Leaf's default: one year
DEFAULT_MAX_USAGE: Final = 3  # the value of Leaf's examples (INF: a server default)
ENVIRONMENTS: Final = ("STAGE", "PRODUCTION")
_CATCH_ALL: Final = frozenset({"all", "other"})
_HTML: Final = "text/html"


@attrs.frozen
class _AppKeyRule:
    """What Leaf's app-key endpoints take for one provider segment."""

    # Each shape is one set of required fields; a body must fill one of them.
    shapes: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    environments: bool = False


# onboarding.md §1.2-1.3. FarmEngage, Lindsay and CNHIFieldOps are INF there.
_APP_KEY_RULES: Final[Mapping[str, _AppKeyRule]] = {
    "AgLeader": _AppKeyRule((("privateKey", "publicKey"),)),
    "ClimateFieldView": _AppKeyRule((("apiKey", "clientId", "clientSecret"),), ("scopes",)),
    "CNHI": _AppKeyRule((("clientId", "clientSecret", "subscriptionKey"),), environments=True),
    "CNHIFieldOps": _AppKeyRule(
        (("clientId", "clientSecret", "subscriptionKey"),), environments=True
    ),
    "JohnDeere": _AppKeyRule((("clientKey", "clientSecret"),), ("scopes",), environments=True),
    "Trimble": _AppKeyRule((("applicationName", "clientId", "clientSecret"),)),
    "RavenSlingshot": _AppKeyRule((("apiKey", "sharedSecret"),)),
    # The docs' POST sends user/pwd, its PUT and one cURL accessTokenClient.
    "Stara": _AppKeyRule((("user", "pwd"), ("accessTokenClient",))),
    "FarmEngage": _AppKeyRule((("clientId", "clientSecret"),)),
    "Lindsay": _AppKeyRule((("clientId", "clientSecret"),)),
}

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

# The path segment of each link type, and its `widget` value.
_WIDGETS: Final[Mapping[str, str]] = {
    "provider": "PROVIDER",
    "authentication": "AUTHENTICATION",
    "file-upload": "FILEUPLOAD",
}
_SETTINGS_TEXT: Final = ("backgroundColor", "companyLogo", "companyName", "headerImage")
_SETTINGS_FLAGS: Final = ("showLeafUserName", "disconnectEnabled")


def _timestamp(seconds: float, digits: int, zone: str = "Z") -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    fraction = f"{moment.microsecond:06d}000"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + zone


def _field_error(object_name: str, field: str, message: str) -> dict[str, str | None]:
    return {"objectName": object_name, "field": field, "message": message}


def _invalid(errors: Sequence[Mapping[str, str | None]]) -> Problem:
    return Problem(400, "Method argument not valid", field_errors=errors)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    return body


def _expires_in(
    body: Mapping[str, Any], object_name: str, default: int, maximum: int | None
) -> int:
    value = body.get("expiresIn")
    if value is None:
        return default
    upper = "" if maximum is None else f" and at most {maximum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (MIN_EXPIRES_IN <= value <= (maximum if maximum is not None else value))
    ):
        raise _invalid(
            [
                _field_error(
                    object_name,
                    "expiresIn",
                    f"must be an integer of at least {MIN_EXPIRES_IN}{upper}",
                )
            ],
        )
    return value


@attrs.define
class _AppKey:
    provider: str
    app_name: str
    environment: str | None
    keys: dict[str, Any] = attrs.field(repr=False)
    created: float

    @property
    def key(self) -> tuple[str, str, str | None]:
        return self.provider, self.app_name, self.environment

    def wire(self) -> dict[str, Any]:
        # Leaf never returns the secrets; environment-less providers show
        # "PRODUCTION" in its examples (INF: a server default).
        return {
            "provider": self.provider,
            "appName": self.app_name,
            "clientEnvironment": self.environment or "PRODUCTION",
            "createdTime": _timestamp(self.created, 6),
        }


@attrs.define
class _MagicLink:
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

    def created_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "leafUserId": self.leaf_user_id,
            "link": self.url,
            "expiresAt": _timestamp(self.expires, 9),
        }

    def wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "link": self.url,
            "createdAt": _timestamp(self.created, 3),
            "expiresAt": _timestamp(self.expires, 3),
            "lastAccessedAt": (
                None if self.last_accessed is None else _timestamp(self.last_accessed, 3)
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


@attrs.define
class _ApiKey:
    id: str
    key: str = attrs.field(repr=False)
    leaf_user_id: str
    expires: float
    description: str | None
    revoked: float | None = None

    def valid(self, now: float) -> bool:
        return self.revoked is None and now < self.expires

    def wire(self, now: float) -> dict[str, Any]:
        # 6 fractional digits and no zone, as Leaf's examples (UTC).
        data: dict[str, Any] = {
            "id": self.id,
            "key": self.key,
            "leafUserId": self.leaf_user_id,
            "expiresAt": _timestamp(self.expires, 6, ""),
            "valid": self.valid(now),
        }
        if self.description is not None:
            data["description"] = self.description
        if self.revoked is not None:
            data["revokedAt"] = _timestamp(self.revoked, 6, "")
        return data


class FakeOnboarding:
    """App keys, Magic Links and Leaf Link API keys of a fake Leaf; ``fake.onboarding``.

    :class:`~leaf_creds.testing.FakeLeaf` makes one; tests use it to set up
    app keys without a request, look at what was created, and connect a
    provider through a link as a grower would (:meth:`connect`).

    Attributes:
        max_usage: The ``maxUsage`` given to new links (Leaf's example: 3).
    """

    def __init__(
        self,
        *,
        state: State,
        alerts: FakeAlerts,
        clock: Callable[[], float],
        base_url: Callable[[], str],
        authorize: Callable[[web.Request], None],
        set_status: Callable[[str, str, str], object],
        paged: Callable[[web.Request, list[Any]], tuple[list[Any], dict[str, str]]],
    ) -> None:
        self._state = state
        self._alerts = alerts
        self._clock = clock
        self._base_url = base_url
        self._authorize = authorize
        self._set_status = set_status
        self._paged = paged
        self.max_usage = DEFAULT_MAX_USAGE
        self._app_keys: dict[tuple[str, str, str | None], _AppKey] = {}
        self._links: dict[str, _MagicLink] = {}
        self._sessions: dict[str, str] = {}
        self._api_keys: dict[str, _ApiKey] = {}

    def __repr__(self) -> str:
        return (
            f"<FakeOnboarding app_keys={len(self._app_keys)} links={len(self._links)}"
            f" api_keys={len(self._api_keys)}>"
        )

    def reset(self) -> None:
        """Forget every app key, link, page session and API key."""
        self._app_keys.clear()
        self._links.clear()
        self._sessions.clear()
        self._api_keys.clear()
        self.max_usage = DEFAULT_MAX_USAGE

    # -- inspection and set-up ---------------------------------------------

    @property
    def app_keys(self) -> list[dict[str, Any]]:
        """The registered app keys as Leaf lists them (no secrets), oldest first."""
        return [entry.wire() for entry in self._app_keys.values()]

    def app_key_body(
        self, provider: str, app_name: str, environment: str | None = None
    ) -> dict[str, Any] | None:
        """Return a copy of the keys stored for an app, secrets included, or None.

        Args:
            provider: Leaf's provider segment, e.g. ``"JohnDeere"``.
            app_name: The app's name.
            environment: ``STAGE`` or ``PRODUCTION`` where the provider has
                environments.
        """
        entry = self._app_keys.get((provider, app_name, environment))
        return None if entry is None else dict(entry.keys)

    def add_app_key(
        self,
        provider: str,
        app_name: str,
        keys: Mapping[str, Any],
        *,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Register an app key without a request, as a POST would; return its metadata.

        Args:
            provider: Leaf's provider segment, e.g. ``"JohnDeere"``.
            app_name: The app's name.
            keys: The camelCase body, e.g. ``{"clientKey": ..., "clientSecret": ...}``.
            environment: ``STAGE`` or ``PRODUCTION``, where the provider has
                environments.

        Raises:
            LookupError: Leaf has no app keys for that provider (or
                environment).
            ValueError: The keys are invalid, or the app key exists.
        """
        try:
            rule = self._rule(provider)
            if rule.environments != (environment is not None):
                needs = "need an" if rule.environments else "take no"
                raise Problem(404, f"{provider} app keys {needs} environment")
            return self._store_app_key(provider, app_name, environment, dict(keys), create=True)
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    @property
    def magic_links(self) -> list[dict[str, Any]]:
        """Every Magic Link as ``GET`` answers it, oldest first."""
        return [link.wire() for link in self._links.values()]

    def magic_link(self, link: str) -> dict[str, Any]:
        """Return a Magic Link as ``GET`` answers it.

        Args:
            link: The link's id or its URL.

        Raises:
            LookupError: No such link.
        """
        return self._find_link(link).wire()

    @property
    def api_keys(self) -> list[dict[str, Any]]:
        """Every Leaf Link API key as the list answers it, oldest first."""
        now = self._clock()
        return [key.wire(now) for key in self._api_keys.values()]

    def connect(
        self,
        link: str,
        provider: str | CredentialResource[Any, Any],
        *,
        grant_permissions: bool = True,
    ) -> dict[str, Any]:
        """Connect a provider through a Magic Link as a grower does on its page.

        Opening the link counts one use, as the page does. Call it inside the
        event loop when a webhook may get an alert.

        Args:
            link: The link's id or its URL.
            provider: Leaf's Magic Link name (``"JohnDeere"``), or the
                provider's slug or resource.
            grant_permissions: False leaves the credential
                ``MISSING_PERMISSION``, as a grower who withholds
                organization access.

        Returns:
            A copy of the stored credential record.

        Raises:
            LookupError: No such link, or the provider is not offered on it.
            ValueError: The link has expired or is used up.
        """
        entry = self._find_link(link)
        name = _link_name(provider)
        try:
            self._usable(entry)
            # A provider the link does not offer is a test's mistake: no use is counted.
            if name not in self._offered(entry):
                raise Problem(404, f"{name} is not offered on link {entry.id}")
            self._open(entry)
            return self._connect(entry, name, grant_permissions=grant_permissions)
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    # -- HTTP: which paths are ours ----------------------------------------

    async def answer(
        self, request: web.Request, path: str, service: str | None
    ) -> web.Response | None:
        """Answer a request on an onboarding path; None when the path is not one.

        Raises:
            Problem: Leaf's error answer (turned into problem JSON by the server).
        """
        if path == MAGIC_LINK_PAGE or path.startswith(MAGIC_LINK_PAGE + "/"):
            return await self._page(request, path)
        if path.startswith(WIDGETS_SERVICE + "/"):
            self._authorize(request)
            return await self._widgets(request, path[len(WIDGETS_SERVICE) :])
        if service is None:
            return None
        for prefix, handler in (
            (APP_KEYS_PATH, self._app_keys_endpoint),
            (API_KEYS_PATH, self._api_keys_endpoint),
        ):
            if service == prefix or service.startswith(prefix + "/"):
                self._authorize(request)
                return await handler(request, _segments(service[len(prefix) :]))
        return None

    # -- app keys ----------------------------------------------------------

    def _rule(self, provider: str) -> _AppKeyRule:
        rule = _APP_KEY_RULES.get(provider)
        if rule is None:
            raise Problem(404, f"no app keys for provider {provider!r}")
        return rule

    async def _app_keys_endpoint(self, request: web.Request, segments: list[str]) -> web.Response:
        if not segments or not segments[0]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        provider = segments[0]
        rule = self._rule(provider)
        if len(segments) == 1:
            _allow(request, "GET")
            listed = [e.wire() for e in self._app_keys.values() if e.provider == provider]
            return _json_list(request, listed, self._paged)
        depth = 3 if rule.environments else 2
        if len(segments) != depth or not segments[1]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        app_name = segments[1]
        environment = segments[2] if rule.environments else None
        if environment is not None and environment not in ENVIRONMENTS:
            raise Problem(400, f"clientEnvironment must be one of {', '.join(ENVIRONMENTS)}")
        _allow(request, "GET", "POST", "PUT", "DELETE")
        if request.method == "GET":
            return web.json_response(self._app_key(provider, app_name, environment).wire())
        if request.method == "DELETE":
            del self._app_keys[self._app_key(provider, app_name, environment).key]
            return web.Response(status=204)
        body = _object(await read_json(request))
        created = request.method == "POST"
        wire = self._store_app_key(provider, app_name, environment, body, create=created)
        if created:
            return web.json_response(
                wire, status=201, headers={"Location": request.rel_url.raw_path}
            )
        return web.json_response(wire)

    def _app_key(self, provider: str, app_name: str, environment: str | None) -> _AppKey:
        entry = self._app_keys.get((provider, app_name, environment))
        if entry is None:
            where = f" ({environment})" if environment else ""
            raise Problem(404, f"no {provider} app key named {app_name!r}{where}")
        return entry

    def _store_app_key(
        self,
        provider: str,
        app_name: str,
        environment: str | None,
        body: dict[str, Any],
        *,
        create: bool,
    ) -> dict[str, Any]:
        rule = self._rule(provider)
        keys = _app_key_body(rule, body)
        key = (provider, app_name, environment)
        existing = self._app_keys.get(key)
        if create and existing is not None:
            raise Problem(
                409,
                f"a {provider} app key named {app_name!r} exists; update it with PUT",
                error_key="appkeyexists",
            )
        if not create and existing is None:
            self._app_key(provider, app_name, environment)  # raises the 404
        if existing is not None:
            existing.keys = keys
            return existing.wire()
        entry = _AppKey(provider, app_name, environment, keys, self._clock())
        self._app_keys[key] = entry
        return entry.wire()

    # -- Magic Links -------------------------------------------------------

    async def _widgets(self, request: web.Request, rest: str) -> web.Response:
        segments = _segments(rest)
        if not segments or segments[0] != "magic-link" or len(segments) < 2:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if segments[1] == "users" and len(segments) == 4 and segments[3] in _WIDGETS:
            _allow(request, "POST")
            user_id = segments[2]
            self._state.user(user_id)
            body = _object(await read_json(request))
            return self._created_link(request, segments[3], user_id, body)
        kind = segments[1]
        if kind not in _WIDGETS or len(segments) > 3:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if len(segments) == 2:
            _allow(request, "GET", "POST")
            if request.method == "GET":
                listed = [link.wire() for link in self._links.values() if link.kind == kind]
                return _json_list(request, listed, self._paged)
            body = _object(await read_json(request))
            user_id = self._user_by_external_id(kind, body)
            return self._created_link(request, kind, user_id, body)
        _allow(request, "GET", "DELETE")
        entry = self._links.get(segments[2])
        if entry is None or entry.kind != kind:
            raise Problem(404, f"no {kind} magic link {segments[2]}")
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
            errors.append(_field_error(name, "externalId", "must be a non-empty string"))
        errors += [
            _field_error(name, key, "must be a string")
            for key in ("name", "email")
            if body.get(key) is not None and not isinstance(body[key], str)
        ]
        if errors:
            raise _invalid(errors)
        # Check the rest of the body before a user is created for it.
        self._link_fields(kind, body)
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

    def _link_fields(
        self, kind: str, body: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any], tuple[str, ...]]:
        name = _object_name(kind)
        errors: list[Mapping[str, str | None]] = []
        try:
            expires_in = _expires_in(body, name, MIN_EXPIRES_IN, MAX_LINK_EXPIRES_IN)
        except Problem as exc:
            errors += exc.field_errors
            expires_in = MIN_EXPIRES_IN
        settings, settings_errors = _settings(kind, body.get("settings"), name)
        errors += settings_errors
        providers: tuple[str, ...] = ()
        if kind == "provider":
            value = body.get("allowedProviders")
            if value is None:
                providers = ("Other",)
            elif (
                not isinstance(value, list)
                or not value
                or not all(isinstance(item, str) and _known_provider(item) for item in value)
            ):
                errors.append(
                    _field_error(
                        name,
                        "allowedProviders",
                        "must list Magic Link providers: " + ", ".join(LINK_PROVIDERS),
                    )
                )
            else:
                providers = tuple(dict.fromkeys(value))
        elif kind == "authentication":
            value = body.get("provider")
            if isinstance(value, str) and value in LINK_PROVIDERS:
                providers = (value,)
            else:
                errors.append(
                    _field_error(name, "provider", "must be one of " + ", ".join(LINK_PROVIDERS))
                )
        if errors:
            raise _invalid(errors)
        return expires_in, settings, providers

    def _created_link(
        self, request: web.Request, kind: str, user_id: str, body: Mapping[str, Any]
    ) -> web.Response:
        expires_in, settings, providers = self._link_fields(kind, body)
        # Whole milliseconds, so the create's 9 digits and GET's 3 tell one time.
        now = round(self._clock(), 3)
        link_id = str(uuid.uuid4())
        entry = _MagicLink(
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

    def _find_link(self, link: str) -> _MagicLink:
        link_id = link.rstrip("/").rpartition("/")[2]
        entry = self._links.get(link_id)
        if entry is None:
            raise LookupError(f"no magic link {link_id}")
        return entry

    # -- Leaf Link API keys ------------------------------------------------

    async def _api_keys_endpoint(self, request: web.Request, segments: list[str]) -> web.Response:
        if len(segments) > 1:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if segments:
            _allow(request, "DELETE")
            entry = self._api_keys.get(segments[0])
            if entry is None:
                raise Problem(404, f"no API key {segments[0]}")
            if entry.revoked is None:
                entry.revoked = self._clock()
            return web.Response(status=204)
        _allow(request, "GET", "POST")
        now = self._clock()
        if request.method == "GET":
            user_id = request.query.get("leafUserId")
            if not user_id:
                raise Problem(400, "Required request parameter 'leafUserId' is not present")
            self._state.user(user_id)
            listed = [k.wire(now) for k in self._api_keys.values() if k.leaf_user_id == user_id]
            return _json_list(request, listed, self._paged)
        body = _object(await read_json(request))
        errors: list[Mapping[str, str | None]] = []
        user_id = body.get("leafUserId")
        if not isinstance(user_id, str) or not user_id:
            errors.append(_field_error("apiKey", "leafUserId", "must be a Leaf user id"))
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            errors.append(_field_error("apiKey", "description", "must be a string"))
        try:
            expires_in = _expires_in(body, "apiKey", API_KEY_LIFETIME, None)
        except Problem as exc:
            errors += exc.field_errors
            expires_in = API_KEY_LIFETIME
        if errors:
            raise _invalid(errors)
        assert isinstance(user_id, str)
        self._state.user(user_id)
        entry = _ApiKey(
            id=str(uuid.uuid4()),
            key="lk_" + secrets.token_urlsafe(24),
            leaf_user_id=user_id,
            expires=now + expires_in,
            description=description,
        )
        self._api_keys[entry.id] = entry
        # Leaf's create answer has no id (onboarding.md §3).
        created = {"key": entry.key, "expiresAt": _timestamp(entry.expires, 6, ""), "valid": True}
        return web.json_response(created, status=201)

    # -- the Magic Link page -----------------------------------------------

    def _offered(self, entry: _MagicLink) -> list[str]:
        """Return the providers a link's page offers: allowed, and with an app key."""
        wanted = (
            list(LINK_PROVIDERS)
            if any(name.lower() in _CATCH_ALL for name in entry.providers)
            else list(entry.providers)
        )
        registered = {key.provider for key in self._app_keys.values()}
        return [name for name in wanted if name in registered and name in LINK_PROVIDERS]

    def _usable(self, entry: _MagicLink) -> None:
        if self._clock() >= entry.expires:
            raise Problem(410, "This link has expired. Ask for a new one.")

    def _open(self, entry: _MagicLink) -> str:
        """Count one use of a link and start a page session; return its token."""
        self._usable(entry)
        if entry.usage_count >= entry.max_usage:
            raise Problem(410, "This link has been used as many times as it may be.")
        entry.usage_count += 1
        entry.last_accessed = self._clock()
        session = secrets.token_urlsafe(16)
        self._sessions[session] = entry.id
        return session

    def _connect(self, entry: _MagicLink, name: str, *, grant_permissions: bool) -> dict[str, Any]:
        """Store an OK credential for the link's user from the provider's app key."""
        slug = LINK_PROVIDERS[name]
        try:
            resource = self._state.registry.get(slug)
        except UnknownProviderError:
            raise Problem(404, f"this fake serves no {slug} credentials") from None
        app_key = next(key for key in self._app_keys.values() if key.provider == name)
        body = _credential_body(resource, app_key)
        user_id = entry.leaf_user_id
        self._state.user(user_id)
        if self._state.peek(user_id, slug) is not None:
            # Connecting again replaces the credential: Leaf has no update.
            self._state.delete_credential(user_id, slug)
        record = self._state.create_credential(user_id, slug, body)
        self._alerts.credential_status_changed(user_id, slug, record, now=self._clock())
        if not grant_permissions:
            self._set_status(user_id, slug, "MISSING_PERMISSION")
        return dict(self._state.credential(user_id, slug))

    async def _page(self, request: web.Request, path: str) -> web.Response:
        segments = _segments(path[len(MAGIC_LINK_PAGE) :])
        try:
            disconnect = len(segments) == 3 and segments[2] == "disconnect"
            if not segments or len(segments) > 2 + disconnect:
                raise Problem(404, "There is no such link.")
            entry = self._links.get(segments[0])
            if entry is None:
                raise Problem(404, "There is no such link. It may have been deleted.")
            if len(segments) == 1:
                _allow(request, "GET")
                return self._landing(request, entry)
            _allow(request, *(("POST",) if disconnect else ("GET", "POST")))
            name = segments[1]
            form = await read_form(request) if request.method == "POST" else {}
            session = form.get("session")
            if not isinstance(session, str):
                session = request.query.get("session", "")
            self._usable(entry)
            if self._sessions.get(session) != entry.id:
                raise Problem(403, "Open the link again to start over.")
            if name not in self._offered(entry):
                raise Problem(404, f"{html.escape(name)} is not offered on this link.")
            if disconnect:
                return self._disconnected(entry, name, session)
            if request.method == "GET":
                return _page(entry, _consent_form(entry, name, session, self._label(name)))
            return await self._consented(request, entry, name, session)
        except Problem as exc:
            return _page(None, _error(exc), status=exc.status)

    def _landing(self, request: web.Request, entry: _MagicLink) -> web.Response:
        session = request.query.get("session", "")
        if self._sessions.get(session) != entry.id:
            session = self._open(entry)
        else:
            self._usable(entry)
        if entry.kind == "file-upload":
            return _page(entry, '<p id="file-upload">The fake does not simulate file uploads.</p>')
        user = self._state.users.get(entry.leaf_user_id)
        parts = []
        if entry.settings.get("showLeafUserName") and user is not None:
            parts.append(f'<p id="leaf-user">{html.escape(user.name or user.id)}</p>')
        offered = self._offered(entry)
        if not offered:
            parts.append('<p id="no-providers">No provider is available on this link yet.</p>')
        items = []
        for name in offered:
            connected = self._state.peek(entry.leaf_user_id, LINK_PROVIDERS[name]) is not None
            href = f"{MAGIC_LINK_PAGE}/{entry.id}/{name}?session={quote(session)}"
            mark = f' <span id="connected-{name}">connected</span>' if connected else ""
            if connected and entry.settings.get("disconnectEnabled"):
                action = html.escape(f"{MAGIC_LINK_PAGE}/{entry.id}/{name}/disconnect")
                mark += (
                    f'<form id="disconnect-form-{name}" method="post" action="{action}">'
                    f'<input type="hidden" name="session" value="{html.escape(session)}">'
                    f'<button id="disconnect-{name}" type="submit">Disconnect</button></form>'
                )
            items.append(
                f'<li><a id="provider-{name}" href="{html.escape(href)}">'
                f"{html.escape(self._label(name))}</a>{mark}</li>"
            )
        if items:
            parts.append('<ul id="providers">' + "".join(items) + "</ul>")
        return _page(entry, "\n".join(parts))

    def _disconnected(self, entry: _MagicLink, name: str, session: str) -> web.Response:
        """Delete the link's user's credential for a provider, as Leaf's Disconnect does."""
        if not entry.settings.get("disconnectEnabled"):
            raise Problem(403, "Disconnecting is not enabled on this link.")
        slug = LINK_PROVIDERS[name]
        if self._state.peek(entry.leaf_user_id, slug) is not None:
            self._state.delete_credential(entry.leaf_user_id, slug)
        back = f"{MAGIC_LINK_PAGE}/{entry.id}?session={quote(session)}"
        return _page(
            entry,
            f'<p id="result" data-status="DISCONNECTED">'
            f"{html.escape(self._label(name))} is disconnected.</p>\n"
            f'<p><a id="back" href="{html.escape(back)}">Back</a></p>',
        )

    async def _consented(
        self, request: web.Request, entry: _MagicLink, name: str, session: str
    ) -> web.Response:
        form = await read_form(request)
        username = form.get("username")
        label = self._label(name)
        if not isinstance(username, str) or not username.strip():
            body = _consent_form(entry, name, session, label, error="Enter your username.")
            return _page(entry, body, status=400)
        granted = form.get("permissions") == "granted"
        record = self._connect(entry, name, grant_permissions=granted)
        back = f"{MAGIC_LINK_PAGE}/{entry.id}?session={quote(session)}"
        return _page(
            entry,
            f'<p id="result" data-status="{html.escape(str(record["status"]))}">'
            f"{html.escape(label)} is connected.</p>\n"
            f'<p><a id="back" href="{html.escape(back)}">Connect another provider</a></p>',
        )

    def _label(self, name: str) -> str:
        try:
            return self._state.registry.get(LINK_PROVIDERS[name]).name
        except UnknownProviderError:
            return name


# -- pure helpers --------------------------------------------------------


def _segments(rest: str) -> list[str]:
    """Split ``/a/b%2Fc/`` into ``["a", "b/c"]``: each segment unquoted once."""
    parts = rest.split("/")[1:]
    if parts and parts[-1] == "":
        parts.pop()
    return [unquote(part) for part in parts]


def _allow(request: web.Request, *methods: str) -> None:
    if request.method not in methods:
        raise Problem(
            405, f"{request.method} is not supported", headers={"Allow": ", ".join(methods)}
        )


def _json_list(
    request: web.Request,
    items: list[Any],
    paged: Callable[[web.Request, list[Any]], tuple[list[Any], dict[str, str]]],
) -> web.Response:
    if "page" in request.query or "size" in request.query:
        page, headers = paged(request, items)
        return web.json_response(page, headers=headers)
    return web.json_response(items)


def _object_name(kind: str) -> str:
    return {"provider": "providerMagicLink", "authentication": "authenticationMagicLink"}.get(
        kind, "fileUploadMagicLink"
    )


def _known_provider(name: str) -> bool:
    return name in LINK_PROVIDERS or name.lower() in _CATCH_ALL


def _link_name(provider: str | CredentialResource[Any, Any]) -> str:
    slug = provider.slug if isinstance(provider, CredentialResource) else provider
    for name, known in LINK_PROVIDERS.items():
        if slug in (name, known):
            return name
    return slug


def _app_key_body(rule: _AppKeyRule, body: Mapping[str, Any]) -> dict[str, Any]:
    """Check an app key's body as Leaf would; return the fields kept."""

    def filled(field: str) -> bool:
        value = body.get(field)
        return isinstance(value, str) and bool(value.strip())

    shape = next((s for s in rule.shapes if all(filled(f) for f in s)), None)
    errors: list[Mapping[str, str | None]] = []
    if shape is None:
        # Name the missing fields of the shape the body came closest to.
        closest = max(rule.shapes, key=lambda s: sum(filled(f) for f in s))
        errors = [
            _field_error("appKeys", field, "must be a non-empty string")
            for field in closest
            if not filled(field)
        ]
    kept = {field: body[field] for field in shape or ()}
    for field in rule.optional:
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            errors.append(_field_error("appKeys", field, "must be a list of strings"))
        kept[field] = value
    if errors:
        raise Problem(400, "Method argument not valid", field_errors=errors)
    return kept


def _settings(
    kind: str, value: Any, object_name: str
) -> tuple[dict[str, Any], list[Mapping[str, str | None]]]:
    settings: dict[str, Any] = {"backgroundColor": "#F5F5F5", "showLeafUserName": False}
    if kind != "file-upload":
        settings["disconnectEnabled"] = False
    if value is None:
        return settings, []
    if not isinstance(value, dict):
        return settings, [_field_error(object_name, "settings", "must be an object")]
    errors: list[Mapping[str, str | None]] = []
    for key in _SETTINGS_TEXT:
        if value.get(key) is None:
            continue
        if isinstance(value[key], str):
            settings[key] = value[key]
        else:
            errors.append(_field_error(object_name, f"settings.{key}", "must be a string"))
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
            errors.append(_field_error(object_name, f"settings.{key}", "must be a boolean"))
    return settings, errors


def _credential_body(resource: CredentialResource[Any, Any], app_key: _AppKey) -> dict[str, Any]:
    """Build the credential Leaf would attach: the app's keys, the grower's fresh tokens."""
    body: dict[str, Any] = {}
    for attribute in attrs.fields(resource.schema):
        wire = wire_name(attribute)
        if wire in app_key.keys:
            body[wire] = app_key.keys[wire]
        elif wire == "clientEnvironment":
            body[wire] = app_key.environment or "PRODUCTION"
        elif attribute.default is attrs.NOTHING:
            body[wire] = f"fake-{wire}-{secrets.token_hex(16)}"
    return body


# -- HTML ------------------------------------------------------------------


def _page(entry: _MagicLink | None, content: str, *, status: int = 200) -> web.Response:
    settings = entry.settings if entry is not None else {}
    color = html.escape(str(settings.get("backgroundColor", "#F5F5F5")))
    company = settings.get("companyName")
    header = [f'<h1 id="title">{html.escape(company or "Connect your farm data")}</h1>']
    logo = settings.get("companyLogo")
    if logo:
        header.insert(0, f'<img id="company-logo" alt="" src="{html.escape(logo)}">')
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Leaf Magic Link (fake)</title></head>\n"
        f'<body style="background-color: {color}">\n'
        + "\n".join(header)
        + "\n"
        + content
        + "\n</body></html>\n"
    )
    return web.Response(status=status, text=text, content_type=_HTML)


def _consent_form(
    entry: _MagicLink, name: str, session: str, label: str, *, error: str | None = None
) -> str:
    action = html.escape(f"{MAGIC_LINK_PAGE}/{entry.id}/{name}")
    problem = f'<p id="error">{html.escape(error)}</p>\n' if error else ""
    return (
        f'<h2 id="provider">Sign in to {html.escape(label)}</h2>\n{problem}'
        f'<form id="consent-form" method="post" action="{action}">\n'
        f'<input type="hidden" id="session" name="session" value="{html.escape(session)}">\n'
        '<label>Username <input id="username" name="username" autocomplete="off"></label>\n'
        '<label>Password <input id="password" name="password" type="password"></label>\n'
        '<label><input id="grant-permissions" name="permissions" type="checkbox"'
        ' value="granted" checked> Share my organizations</label>\n'
        '<button id="sign-in" type="submit">Sign in and allow</button>\n'
        "</form>"
    )


def _error(problem: Problem) -> str:
    return f'<p id="error" data-status="{problem.status}">{html.escape(problem.detail or "")}</p>'
