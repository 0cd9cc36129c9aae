"""The checks of LeafSession's options: pure, and raising ValidationError before any request."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from yarl import URL

from ._auth import DAY, Auth, LoginAuth, ProviderAuth, StaticAuth, usable_token
from ._exceptions import ValidationError

__all__ = [
    "DEFAULT_BASE_URL",
    "check_base_url",
    "check_byte_count",
    "check_rate",
    "environ_base_url",
    "make_auth",
]

DEFAULT_BASE_URL: Final = "https://api.withleaf.io"

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def environ_base_url(base_url: str) -> str:
    """Return ``LEAF_BASE_URL`` if set and ``base_url`` is the default, as the CLI reads it."""
    if base_url == DEFAULT_BASE_URL:
        return os.environ.get("LEAF_BASE_URL") or base_url
    return base_url


def check_base_url(base_url: str, allow_http: bool) -> URL:
    """Return the API host as a URL: absolute, https (or http on loopback), nothing else.

    The default host gives way to ``LEAF_BASE_URL`` when that is set.

    Raises:
        ValidationError: It is not.
    """
    base_url = environ_base_url(base_url)
    try:
        url = URL(base_url)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"base_url is not a URL: {exc}") from None
    if url.scheme not in {"https", "http"} or not url.host:
        raise ValidationError("base_url must be an absolute https:// URL")
    if url.query_string or url.fragment or url.user or url.password:
        raise ValidationError("base_url must not carry credentials, a query or a fragment")
    if url.scheme == "http" and not (allow_http or _is_loopback(url.host)):
        raise ValidationError(
            "base_url must be https:// (plain http is only allowed on a loopback host; "
            "pass allow_http=True, or --allow-http to leaf-creds, to send the bearer token "
            "in clear anyway)"
        )
    return url


def check_byte_count(name: str, value: object) -> int:
    """Return a positive byte count, or raise ValidationError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive int, got {value!r}")
    return value


def check_rate(name: str, value: object) -> float:
    """Return a positive finite rate in requests per second, or raise ValidationError."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < float("inf")
    ):
        raise ValidationError(f"{name} must be a positive number of requests/s, got {value!r}")
    return float(value)


def make_auth(
    *,
    token: str | None,
    username: str | None,
    password: str | None,
    remember_me: bool,
    token_provider: Callable[[], Awaitable[str]] | None,
    login: Callable[[Mapping[str, Any]], Awaitable[str]],
) -> Auth:
    """Check the authentication options and return the session's :class:`Auth`.

    Args:
        login: The username/password exchange (the transport's), called
            with the login body whenever a token is needed.

    With none given, the environment the CLI reads is read: ``LEAF_TOKEN``,
    else ``LEAF_USERNAME`` with ``LEAF_PASSWORD`` (as openai-python reads
    ``OPENAI_API_KEY``).

    Raises:
        ValidationError: Not exactly one way to authenticate was given, or
            it is malformed.
    """
    if token is None and username is None and password is None and token_provider is None:
        token = os.environ.get("LEAF_TOKEN", "").strip() or None
        if token is None:
            username = os.environ.get("LEAF_USERNAME") or None
            password = os.environ.get("LEAF_PASSWORD") or None
    kinds = [
        name
        for name, given in (
            ("token", token is not None),
            ("username/password", username is not None or password is not None),
            ("token_provider", token_provider is not None),
        )
        if given
    ]
    if len(kinds) != 1:
        raise ValidationError(
            "pass exactly one of token=, username= with password=, or token_provider="
            + (f" (got {' and '.join(kinds)})" if kinds else "")
            + ("" if kinds else ", or set LEAF_TOKEN, or LEAF_USERNAME and LEAF_PASSWORD")
        )
    if token is not None:
        if not usable_token(token):
            raise ValidationError("token must be a non-empty string of printable ASCII")
        return StaticAuth(token)
    if token_provider is not None:
        if not callable(token_provider):
            raise ValidationError("token_provider must be an async callable")
        return ProviderAuth(token_provider)
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise ValidationError("username and password must both be non-empty strings")
    # Leaf's docs send rememberMe as the string "true"/"false" in every
    # example; its Postman collection sends a JSON boolean. Send what the
    # docs show (the fake accepts both).
    credentials = {
        "username": username,
        "password": password,
        "rememberMe": "true" if remember_me else "false",
    }
    return LoginAuth(lambda: login(credentials), 30 * DAY if remember_me else DAY)
