"""The fake's bearer tokens: HS256 JWTs signed with a key of its own.

Built on the standard library only (``hmac``, ``hashlib``, ``base64``): the
fake needs no JWT dependency, and its tokens decode like Leaf's, so a client
that reads ``exp`` sees a real expiry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from typing import Any

__all__ = ["TokenIssuer"]

_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Sign and check the JWTs of one fake server.

    Args:
        static: Opaque tokens accepted as they are, which never expire.
    """

    def __init__(self, static: Iterable[str] = ()) -> None:
        # A fresh random key per server: a token of one fake is refused by another.
        self._key = secrets.token_bytes(32)
        self._static = frozenset(static)

    def __repr__(self) -> str:
        return "<TokenIssuer>"

    def issue(self, *, subject: str, now: float, lifetime: float) -> str:
        """Return a signed JWT for ``subject`` whose ``exp`` is ``now + lifetime``."""
        claims = {
            "sub": subject,
            "auth": "ROLE_USER",
            "iat": int(now),
            "exp": int(now + lifetime),
        }
        signing_input = ".".join(
            _b64(json.dumps(part, separators=(",", ":")).encode()) for part in (_HEADER, claims)
        )
        return signing_input + "." + _b64(self._sign(signing_input))

    def check(self, token: str, *, now: float) -> str | None:
        """Return why ``token`` is refused at ``now``, or None when it is valid."""
        if token in self._static:
            return None
        claims = self.claims(token)
        if claims is None:
            return "invalid token"
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return "invalid token"
        if exp <= now:
            return "token expired"
        return None

    def claims(self, token: str) -> dict[str, Any] | None:
        """Return the claims of a token this issuer signed, or None."""
        try:
            signing_input, signature = token.rsplit(".", 1)
            if not hmac.compare_digest(_unb64(signature), self._sign(signing_input)):
                return None
            claims = json.loads(_unb64(signing_input.split(".")[1]))
        except (ValueError, IndexError, binascii.Error):
            return None
        return claims if isinstance(claims, dict) else None

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
