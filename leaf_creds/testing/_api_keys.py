"""The fake's Leaf Link API keys: ``/services/usermanagement/api/api-keys``.

A key is created for a Leaf user (``leafUserId``, an optional
``description``, ``expiresIn`` seconds: a year by default, at least 900),
listed by user, and revoked with a DELETE (``../shared/leaf-api/onboarding.md``
§3). Choices Leaf leaves undocumented: the create answers 201 with the key
but no id, as documented; the list shows every key in full (so a client can
find the id of a key it just created), with ``revokedAt`` only once revoked,
and is paged only when ``page`` or ``size`` is given; revoking twice is a 204.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web

from ._state import State
from ._web import USER_MANAGEMENT, allow, json_list, read_json, segments
from ._wire import (
    FieldErrors,
    Problem,
    check_expires_in,
    field_error,
    invalid,
    json_object,
    timestamp,
)

__all__ = ["API_KEYS_PATH", "FakeApiKeys"]

API_KEYS_PATH: Final = USER_MANAGEMENT + "/api-keys"
API_KEY_LIFETIME: Final = 31_536_000  # Leaf's default: one year


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
            "expiresAt": timestamp(self.expires, 6, ""),
            "valid": self.valid(now),
        }
        if self.description is not None:
            data["description"] = self.description
        if self.revoked is not None:
            data["revokedAt"] = timestamp(self.revoked, 6, "")
        return data


def _checked(body: Mapping[str, Any]) -> tuple[str, str | None, int]:
    """Check a create's body; return its user id, description and lifetime.

    Raises:
        Problem: 400 with every field error of the body.
    """
    errors: FieldErrors = []
    user_id = body.get("leafUserId")
    if not isinstance(user_id, str) or not user_id:
        errors.append(field_error("apiKey", "leafUserId", "must be a Leaf user id"))
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        errors.append(field_error("apiKey", "description", "must be a string"))
    try:
        expires_in = check_expires_in(body, "apiKey", API_KEY_LIFETIME, None)
    except Problem as exc:
        errors += exc.field_errors
        expires_in = API_KEY_LIFETIME
    if errors:
        raise invalid(errors)
    assert isinstance(user_id, str)
    return user_id, description, expires_in


class FakeApiKeys:
    """The Leaf Link API keys of a fake Leaf.

    Args:
        state: The users keys are made for.
        clock: The fake's clock (seconds since the epoch).
    """

    def __init__(self, state: State, clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock
        self._keys: dict[str, _ApiKey] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def reset(self) -> None:
        """Forget every key."""
        self._keys.clear()

    @property
    def listed(self) -> list[dict[str, Any]]:
        """Every key as the list answers it, oldest first."""
        now = self._clock()
        return [key.wire(now) for key in self._keys.values()]

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/api-keys``; ``rest`` is the raw path after it.

        Raises:
            Problem: Leaf's error answer.
        """
        parts = segments(rest)
        if len(parts) > 1:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if parts:
            allow(request, "DELETE")
            entry = self._keys.get(parts[0])
            if entry is None:
                raise Problem(404, f"no API key {parts[0]}")
            if entry.revoked is None:
                entry.revoked = self._clock()
            return web.Response(status=204)
        allow(request, "GET", "POST")
        now = self._clock()
        if request.method == "GET":
            user_id = request.query.get("leafUserId")
            if not user_id:
                raise Problem(400, "Required request parameter 'leafUserId' is not present")
            self._state.user(user_id)
            listed = [k.wire(now) for k in self._keys.values() if k.leaf_user_id == user_id]
            return json_list(request, listed)
        user_id, description, expires_in = _checked(json_object(await read_json(request)))
        self._state.user(user_id)
        entry = _ApiKey(
            id=str(uuid.uuid4()),
            key="lk_" + secrets.token_urlsafe(24),
            leaf_user_id=user_id,
            expires=now + expires_in,
            description=description,
        )
        self._keys[entry.id] = entry
        # Leaf's create answer has no id (onboarding.md §3).
        created = {"key": entry.key, "expiresAt": timestamp(entry.expires, 6, ""), "valid": True}
        return web.json_response(created, status=201)
