"""The fake's app keys: ``/services/usermanagement/api/app-keys/{Provider}/{appName}``.

JohnDeere, CNHI and CNHIFieldOps take one more segment, the
``clientEnvironment`` (``STAGE`` or ``PRODUCTION``), as Leaf does
(``../shared/leaf-api/onboarding.md`` §1). Choices Leaf leaves undocumented:

- a create answers 201 with the app key's metadata (never its secrets), a
  PUT 200, a DELETE 204; a missing app key is 404, a POST over an existing one
  409 (use PUT); a provider's list is paged only when ``page`` or ``size`` is
  given;
- every field an app key's body lists is a required non-empty string, except
  ``scopes`` (a list of strings); Stara accepts ``user``/``pwd`` or
  ``accessTokenClient`` on both verbs; unknown keys are ignored, as Spring does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from ._web import USER_MANAGEMENT, allow, json_list, read_json, segments
from ._wire import FieldErrors, Problem, field_error, invalid, json_object, timestamp

__all__ = ["APP_KEYS_PATH", "ENVIRONMENTS", "FakeAppKeys", "StoredAppKey"]

APP_KEYS_PATH: Final = USER_MANAGEMENT + "/app-keys"
ENVIRONMENTS: Final = ("STAGE", "PRODUCTION")


@attrs.frozen
class _Rule:
    """What Leaf's app-key endpoints take for one provider segment."""

    # Each shape is one set of required fields; a body must fill one of them.
    shapes: tuple[tuple[str, ...], ...]
    optional: tuple[str, ...] = ()
    environments: bool = False


# onboarding.md §1.2-1.3. FarmEngage, Lindsay and CNHIFieldOps are INF there.
_RULES: Final[Mapping[str, _Rule]] = {
    "AgLeader": _Rule((("privateKey", "publicKey"),)),
    "ClimateFieldView": _Rule((("apiKey", "clientId", "clientSecret"),), ("scopes",)),
    "CNHI": _Rule((("clientId", "clientSecret", "subscriptionKey"),), environments=True),
    "CNHIFieldOps": _Rule((("clientId", "clientSecret", "subscriptionKey"),), environments=True),
    "JohnDeere": _Rule((("clientKey", "clientSecret"),), ("scopes",), environments=True),
    "Trimble": _Rule((("applicationName", "clientId", "clientSecret"),)),
    "RavenSlingshot": _Rule((("apiKey", "sharedSecret"),)),
    # The docs' POST sends user/pwd, its PUT and one cURL accessTokenClient.
    "Stara": _Rule((("user", "pwd"), ("accessTokenClient",))),
    "FarmEngage": _Rule((("clientId", "clientSecret"),)),
    "Lindsay": _Rule((("clientId", "clientSecret"),)),
}


@attrs.define
class StoredAppKey:
    """One registered app key, its secrets included."""

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
            "createdTime": timestamp(self.created, 6),
        }


def _rule(provider: str) -> _Rule:
    rule = _RULES.get(provider)
    if rule is None:
        raise Problem(404, f"no app keys for provider {provider!r}")
    return rule


def _checked_keys(rule: _Rule, body: Mapping[str, Any]) -> dict[str, Any]:
    """Check an app key's body as Leaf would; return the fields kept."""

    def filled(field: str) -> bool:
        value = body.get(field)
        return isinstance(value, str) and bool(value.strip())

    shape = next((s for s in rule.shapes if all(filled(f) for f in s)), None)
    errors: FieldErrors = []
    if shape is None:
        # Name the missing fields of the shape the body came closest to.
        closest = max(rule.shapes, key=lambda s: sum(filled(f) for f in s))
        errors = [
            field_error("appKeys", field, "must be a non-empty string")
            for field in closest
            if not filled(field)
        ]
    kept = {field: body[field] for field in shape or ()}
    for field in rule.optional:
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            errors.append(field_error("appKeys", field, "must be a list of strings"))
        kept[field] = value
    if errors:
        raise invalid(errors)
    return kept


class FakeAppKeys:
    """The app keys registered with a fake Leaf, by provider, app and environment.

    Args:
        clock: The fake's clock (seconds since the epoch).
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._keys: dict[tuple[str, str, str | None], StoredAppKey] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def reset(self) -> None:
        """Forget every app key."""
        self._keys.clear()

    # -- inspection and set-up ---------------------------------------------

    @property
    def listed(self) -> list[dict[str, Any]]:
        """The app keys as Leaf lists them (no secrets), oldest first."""
        return [entry.wire() for entry in self._keys.values()]

    def keys_of(
        self, provider: str, app_name: str, environment: str | None = None
    ) -> dict[str, Any] | None:
        """Return a copy of an app's stored keys, secrets included, or None."""
        entry = self._keys.get((provider, app_name, environment))
        return None if entry is None else dict(entry.keys)

    def add(
        self,
        provider: str,
        app_name: str,
        keys: Mapping[str, Any],
        *,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Register an app key without a request, as a POST would; return its metadata.

        Raises:
            LookupError: Leaf has no app keys for that provider (or environment).
            ValueError: The keys are invalid, or the app key exists.
        """
        try:
            rule = _rule(provider)
            if rule.environments != (environment is not None):
                needs = "need an" if rule.environments else "take no"
                raise Problem(404, f"{provider} app keys {needs} environment")
            return self._store(provider, app_name, environment, dict(keys), create=True)
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    def providers(self) -> set[str]:
        """Return the providers that have at least one app key."""
        return {entry.provider for entry in self._keys.values()}

    def first(self, provider: str) -> StoredAppKey:
        """Return the provider's oldest app key.

        Raises:
            StopIteration: The provider has none.
        """
        return next(entry for entry in self._keys.values() if entry.provider == provider)

    # -- HTTP --------------------------------------------------------------

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/app-keys``; ``rest`` is the raw path after it.

        Raises:
            Problem: Leaf's error answer.
        """
        parts = segments(rest)
        if not parts or not parts[0]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        provider = parts[0]
        rule = _rule(provider)
        if len(parts) == 1:
            allow(request, "GET")
            listed = [e.wire() for e in self._keys.values() if e.provider == provider]
            return json_list(request, listed)
        depth = 3 if rule.environments else 2
        if len(parts) != depth or not parts[1]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        app_name = parts[1]
        environment = parts[2] if rule.environments else None
        if environment is not None and environment not in ENVIRONMENTS:
            raise Problem(400, f"clientEnvironment must be one of {', '.join(ENVIRONMENTS)}")
        allow(request, "GET", "POST", "PUT", "DELETE")
        if request.method == "GET":
            return web.json_response(self._get(provider, app_name, environment).wire())
        if request.method == "DELETE":
            del self._keys[self._get(provider, app_name, environment).key]
            return web.Response(status=204)
        body = json_object(await read_json(request))
        created = request.method == "POST"
        wire = self._store(provider, app_name, environment, body, create=created)
        if created:
            return web.json_response(
                wire, status=201, headers={"Location": request.rel_url.raw_path}
            )
        return web.json_response(wire)

    def _get(self, provider: str, app_name: str, environment: str | None) -> StoredAppKey:
        entry = self._keys.get((provider, app_name, environment))
        if entry is None:
            where = f" ({environment})" if environment else ""
            raise Problem(404, f"no {provider} app key named {app_name!r}{where}")
        return entry

    def _store(
        self,
        provider: str,
        app_name: str,
        environment: str | None,
        body: dict[str, Any],
        *,
        create: bool,
    ) -> dict[str, Any]:
        keys = _checked_keys(_rule(provider), body)
        existing = self._keys.get((provider, app_name, environment))
        if create and existing is not None:
            raise Problem(
                409,
                f"a {provider} app key named {app_name!r} exists; update it with PUT",
                error_key="appkeyexists",
            )
        if not create and existing is None:
            self._get(provider, app_name, environment)  # raises the 404
        if existing is not None:
            existing.keys = keys
            return existing.wire()
        entry = StoredAppKey(provider, app_name, environment, keys, self._clock())
        self._keys[entry.key] = entry
        return entry.wire()
