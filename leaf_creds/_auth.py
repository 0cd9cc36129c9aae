"""How a session gets its bearer token: fixed, logged in, or provided.

Leaf has no refresh flow: a session with a username and password logs in
again before the token's ``exp`` and after a 401. Logins are single flight:
however many calls find the token missing or stale at once, one login runs
and the others wait for its result.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import attrs

from ._exceptions import ValidationError

__all__ = ["Auth", "LoginAuth", "ProviderAuth", "StaticAuth", "jwt_expiry", "usable_token"]

# Renew this long before `exp`, so a token never expires in flight.
RENEW_EARLY = 60.0
DAY = 86_400.0


def usable_token(token: object) -> bool:
    """Tell whether a value can be sent as a bearer token (printable ASCII)."""
    return isinstance(token, str) and bool(token) and token.isascii() and token.isprintable()


def jwt_expiry(token: str) -> float | None:
    """Return the ``exp`` claim of a JWT (seconds since the epoch), or None.

    Decodes the payload only: the token is Leaf's to verify, ours to carry.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims["exp"]
    # RecursionError: a payload nested too deeply to parse says no `exp` either.
    except (IndexError, ValueError, KeyError, TypeError, RecursionError, binascii.Error):
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


class Auth(Protocol):
    """What the session asks of an authentication strategy."""

    kind: str
    renewable: bool

    async def token(self) -> str:
        """Return a bearer token to send."""

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after Leaf refused it, if it is still the current one."""


@attrs.define(repr=False)
class StaticAuth:
    """A fixed token: a 401 is final."""

    _token: str
    kind: str = attrs.field(default="token", init=False)
    renewable: bool = attrs.field(default=False, init=False)

    async def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        return None


@attrs.define(repr=False)
class ProviderAuth:
    """A user's async callable, asked for a token before every request.

    After a 401 it is asked once more and the request replayed once.
    """

    _provider: Callable[[], Awaitable[str]]
    kind: str = attrs.field(default="token_provider", init=False)
    renewable: bool = attrs.field(default=True, init=False)

    async def token(self) -> str:
        token = await self._provider()
        if not usable_token(token):
            raise ValidationError("token_provider returned no usable bearer token")
        return token

    def invalidate(self, token: str) -> None:
        return None


@attrs.define(repr=False)
class LoginAuth:
    """Username and password, traded for a JWT at ``/api/authenticate``.

    ``login`` does the HTTP exchange and returns the ``id_token``; this class
    only decides when to call it. All callers that find the token missing or
    stale share one login: its token, or its exception (so a wrong password
    is tried once, not once per waiting call).
    """

    _login: Callable[[], Awaitable[str]]
    _lifetime: float
    _clock: Callable[[], float] = time.time
    _token: str | None = attrs.field(default=None, init=False)
    _renew_at: float = attrs.field(default=0.0, init=False)
    _inflight: asyncio.Future[str] | None = attrs.field(default=None, init=False)
    kind: str = attrs.field(default="login", init=False)
    renewable: bool = attrs.field(default=True, init=False)

    def _fresh(self) -> str | None:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        return None

    async def token(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._renew())
            self._inflight.add_done_callback(self._settle)
        # Shielded: one caller giving up must not cancel the login others await.
        return await asyncio.shield(self._inflight)

    async def _renew(self) -> str:
        token = await self._login()
        now = self._clock()
        expiry = jwt_expiry(token) or now + self._lifetime
        self._token = token
        if expiry > now:
            self._renew_at = expiry - min(RENEW_EARLY, (expiry - now) / 10)
        else:
            # Already past `exp` by our clock: ours is probably the skewed
            # one, so use the token briefly and let a 401 decide.
            self._renew_at = now + RENEW_EARLY
        return token

    def _settle(self, login: asyncio.Future[str]) -> None:
        self._inflight = None
        if not login.cancelled():
            login.exception()  # retrieved here, in case every waiter gave up

    def invalidate(self, token: str) -> None:
        # Only the token that failed: if another call already logged in
        # again, its newer token stays.
        if self._token == token:
            self._token = None
