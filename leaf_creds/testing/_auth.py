"""The fake's authentication service: ``POST /api/authenticate`` and bearer tokens.

A login with one of the fake's accounts answers ``{"id_token": JWT}``, a
token that lasts 24 hours (30 days with ``rememberMe``), as Leaf's does; a
wrong password or unknown user is a 401 ``Bad credentials``. Every other
service checks the ``Authorization: Bearer`` header through
:meth:`FakeAuth.authorize`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from aiohttp import web

from ._tokens import TokenIssuer
from ._web import allow, read_json
from ._wire import Problem

__all__ = ["DAY", "LOGIN_PATH", "FakeAuth"]

LOGIN_PATH: Final = "/api/authenticate"
DAY: Final = 86_400.0


class FakeAuth:
    """The accounts a fake logs in, and the tokens it issues and accepts.

    Args:
        accounts: Usernames and passwords that a login accepts.
        tokens: Opaque bearer tokens accepted as they are; they never expire.
        clock: The fake's clock (seconds since the epoch).
        token_lifetime: Seconds a login token lasts; None for Leaf's 24
            hours, or 30 days with ``rememberMe``.
    """

    def __init__(
        self,
        accounts: Mapping[str, str],
        tokens: Iterable[str],
        clock: Callable[[], float],
        token_lifetime: float | None,
    ) -> None:
        self._accounts = dict(accounts)
        self._issuer = TokenIssuer(tokens)
        self._clock = clock
        self.token_lifetime = token_lifetime

    def issue(self, *, subject: str | None = None, lifetime: float = DAY) -> str:
        """Return a token valid until ``lifetime`` seconds from now (negative: expired)."""
        if subject is None:
            subject = next(iter(self._accounts), "user@example.com")
        return self._issuer.issue(subject=subject, now=self._clock(), lifetime=lifetime)

    def authorize(self, request: web.Request) -> None:
        """Check a request's bearer token.

        Raises:
            Problem: 401 for a missing, unknown, tampered or expired token.
        """
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Full authentication is required to access this resource")
        reason = self._issuer.check(token.strip(), now=self._clock())
        if reason is not None:
            raise Problem(401, reason)

    async def login(self, request: web.Request, rest: str) -> web.Response:
        """Answer ``POST /api/authenticate`` with a fresh token.

        Raises:
            Problem: 404 under the path, 405, 400 for a body that is not a
                JSON object, 401 for unknown credentials.
        """
        if rest:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        allow(request, "POST")
        body = await read_json(request)
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        username, password = body.get("username"), body.get("password")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and self._password_matches(username, password)
        ):
            raise Problem(401, "Bad credentials")
        lifetime = self.token_lifetime
        if lifetime is None:
            lifetime = 30 * DAY if _remember_me(body.get("rememberMe")) else DAY
        token = self._issuer.issue(subject=username, now=self._clock(), lifetime=lifetime)
        return web.json_response({"id_token": token})

    def _password_matches(self, username: str, password: str) -> bool:
        known = self._accounts.get(username)
        return known is not None and hmac.compare_digest(known.encode(), password.encode())


def _remember_me(value: object) -> bool:
    # Leaf's docs send the string "true", its Postman collection and older
    # clients a JSON boolean; Spring's Jackson reads both (and "True", "TRUE").
    return value is True or value in {"true", "True", "TRUE"}
