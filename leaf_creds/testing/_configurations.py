"""The fake's Config service: the API owner's configuration and each Leaf user's.

Leaf's paths, under ``/services/config/api`` (``../shared/leaf-api/onboarding.md``
section 5.2): ``GET``/``PATCH /configs`` (the owner's defaults) and
``GET``/``POST``/``PATCH``/``DELETE /configs/{leafUserId}``. An answer is
one flat object: ``apiOwnerUsername``, ``leafUserId`` (``""`` for the
owner) and every key; a user's shows its own keys over the owner's, so a
key it set no longer follows the owner's changes, and a delete makes it
inherit everything again.

Choices Leaf leaves undocumented: a user without a configuration of its own
is 404 on ``GET``, ``PATCH`` and ``DELETE``; ``POST`` over an existing one
is 409; a create answers 201, a delete 204; unknown keys are kept (Leaf's
Postman bodies hold keys its docs do not), documented ones are type-checked
(400 with ``fieldErrors``); the owner's keys cannot be set to null, and a
user's key set to null inherits the owner's again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from ._state import State
from ._web import allow, read_json, segments
from ._wire import FieldErrors, Problem, field_error, invalid, json_object

__all__ = ["CONFIG_PATH", "OWNER_DEFAULTS", "FakeConfigurations"]

CONFIG_PATH: Final = "/services/config/api/configs"
# Leaf's documented defaults (configurations_overview.md); the processing
# ranges are taken to be months, and the geoimages keys come from the
# Postman bodies.
OWNER_DEFAULTS: Final[Mapping[str, Any]] = {
    "organizationDataSync": "ALL",
    "customDataSync": True,
    "syncPartnerData": False,
    "fieldsAutoSync": True,
    "operationsAutoSync": True,
    "implementsAutoSync": False,
    "machinesAutoSync": False,
    "operatorsAutoSync": False,
    "productsAutoSync": False,
    "zonesAutoSync": False,
    "operationsProcessingRange": 12,
    "irrigationProcessingRange": 12,
    "operationsImageCreation": True,
    "geoimagesShape": "SQUARE",
    "geoimagesProjection": "EPSG:3857",
}
_BOOLEAN_KEYS: Final = frozenset(k for k, v in OWNER_DEFAULTS.items() if isinstance(v, bool))
_CHOICES: Final[Mapping[str, tuple[str, ...]]] = {
    "organizationDataSync": ("ALL", "SELECTED_ONLY"),
    "geoimagesShape": ("SQUARE", "ROUND"),
}


def _checked(body: Any, *, owner: bool) -> dict[str, Any]:
    """Check a configuration body as Leaf would; return it.

    Raises:
        Problem: 400 with a field error per bad key.
    """
    data = json_object(body)
    errors: FieldErrors = []
    for key, value in data.items():
        if value is None:
            if owner:
                errors.append(field_error("config", key, "owner defaults cannot be null"))
        elif key in _BOOLEAN_KEYS and not isinstance(value, bool):
            errors.append(field_error("config", key, "must be a boolean"))
        elif key in _CHOICES and value not in _CHOICES[key]:
            errors.append(field_error("config", key, "must be one of " + ", ".join(_CHOICES[key])))
    if errors:
        raise invalid(errors)
    return data


def _apply(keys: dict[str, Any], changes: Mapping[str, Any]) -> None:
    # A user's key set to null inherits the owner's again (undocumented).
    for key, value in changes.items():
        if value is None:
            keys.pop(key, None)
        else:
            keys[key] = value


class FakeConfigurations:
    """The configurations of a fake Leaf; ``fake.configurations``.

    Args:
        state: The users that configurations belong to.
        api_owner: The ``apiOwnerUsername`` answered.
    """

    def __init__(self, state: State, api_owner: str) -> None:
        self._state = state
        self.api_owner = api_owner
        self._owner: dict[str, Any] = dict(OWNER_DEFAULTS)
        self._users: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"<FakeConfigurations users={len(self._users)}>"

    def reset(self) -> None:
        """Forget every user's configuration and go back to Leaf's defaults."""
        self._owner = dict(OWNER_DEFAULTS)
        self._users.clear()

    # -- set-up and inspection -----------------------------------------------

    @property
    def owner(self) -> dict[str, Any]:
        """A copy of the owner's keys."""
        return dict(self._owner)

    def own(self, user_id: str) -> dict[str, Any] | None:
        """Return a copy of the keys a user set itself, or None when it inherits all."""
        keys = self._users.get(user_id)
        return None if keys is None else dict(keys)

    def effective(self, user_id: str) -> dict[str, Any]:
        """Return the keys that apply to a user: its own over the owner's."""
        return {**self._owner, **self._users.get(user_id, {})}

    def set(self, user_id: str, keys: Mapping[str, Any]) -> dict[str, Any]:
        """Set keys of a user's own configuration without a request; return what applies.

        Raises:
            LookupError: No such user.
            ValueError: A key's value does not fit.
        """
        try:
            self._state.user(user_id)
            checked = _checked(dict(keys), owner=False)
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            detail = "; ".join(f"{e['field']}: {e['message']}" for e in exc.field_errors)
            raise error(detail or exc.detail) from None
        _apply(self._users.setdefault(user_id, {}), checked)
        return self.effective(user_id)

    # -- HTTP ----------------------------------------------------------------

    def _owner_json(self) -> dict[str, Any]:
        return {"apiOwnerUsername": self.api_owner, "leafUserId": "", **self._owner}

    def _user_json(self, user_id: str) -> dict[str, Any]:
        return {
            "apiOwnerUsername": self.api_owner,
            "leafUserId": user_id,
            **self.effective(user_id),
        }

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/configs``; ``rest`` is the raw path after it.

        Raises:
            Problem: Leaf's error answer.
        """
        parts = segments(rest)
        if not parts:
            allow(request, "GET", "PATCH")
            if request.method == "PATCH":
                self._owner.update(_checked(await read_json(request), owner=True))
            return web.json_response(self._owner_json())
        if len(parts) > 1:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        user_id = parts[0]
        allow(request, "GET", "POST", "PATCH", "DELETE")
        self._state.user(user_id)
        held = self._users.get(user_id)
        if request.method == "POST":
            if held is not None:
                raise Problem(409, f"Leaf user {user_id} has a configuration: PATCH it")
            _apply(
                self._users.setdefault(user_id, {}), _checked(await read_json(request), owner=False)
            )
            return web.json_response(self._user_json(user_id), status=201)
        if held is None:
            raise Problem(404, f"Leaf user {user_id} has no configuration of its own")
        if request.method == "DELETE":
            del self._users[user_id]
            return web.Response(status=204)
        if request.method == "PATCH":
            _apply(held, _checked(await read_json(request), owner=False))
        return web.json_response(self._user_json(user_id))
