"""``serve()``: a :class:`FakeLeaf` until cancelled, for ``leaf-creds fake-server``.

It greets on standard error with the fake's URL, the accounts it accepts, a
ready bearer token and how to add a user; it uses the fake's public API only.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from leaf_creds import Registry

from ._ratelimit import RateLimit
from ._seed import seed_users
from ._server import DEFAULT_ACCOUNTS, FakeLeaf
from ._users import USERS_PATH

__all__ = ["serve"]


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    accounts: Mapping[str, str] | None = DEFAULT_ACCOUNTS,
    tokens: Iterable[str] = (),
    registry: Registry | None = None,
    token_lifetime: float | None = None,
    seed: int | None = None,
    stream: TextIO | None = None,
    rate_limit: RateLimit | None = None,
    users: int = 0,
    seed_document: Any = None,
    token: str | None = None,
) -> None:
    """Run a :class:`FakeLeaf` until cancelled (``leaf-creds fake-server``).

    Writes its URL, the accounts it accepts, a ready bearer token and how to
    add a user to ``stream`` (standard error by default). A password is
    written only for :data:`DEFAULT_ACCOUNTS`, whose well-known password is
    the fake's own and no secret; a token given as ``token`` is never echoed.

    ``accounts``, ``tokens``, ``registry``, ``token_lifetime``, ``seed`` and
    ``rate_limit`` are as for :class:`FakeLeaf`.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 picks a free one.
        stream: Where to write the greeting.
        users: Users to add first, with ids that are the same on every run
            (``Grower 0000``, ...; no credentials).
        seed_document: A seed document to load after them (see
            :meth:`FakeLeaf.load_seed`).
        token: An opaque bearer token to accept besides the issued ones; it
            never expires, so a client keeps working across restarts.

    Raises:
        ValidationError: ``seed_document`` does not fit, before listening.
    """
    out = sys.stderr if stream is None else stream
    fake = FakeLeaf(
        registry=registry,
        accounts=accounts,
        tokens=[*tokens, token] if token is not None else tokens,
        host=host,
        port=port,
        token_lifetime=token_lifetime,
        seed=seed,
        rate_limit=rate_limit,
    )
    seed_users(fake.add_user, users)
    credentials = 0
    if seed_document is not None:
        fake.load_seed(seed_document)  # checked whole: each entry is an object
        seeded = seed_document.get("users", [])
        credentials = sum(len(entry.get("credentials", {})) for entry in seeded)
    async with fake:
        out.write(_greeting(fake, accounts, credentials, given_token=token is not None))
        out.flush()
        await asyncio.Event().wait()


def _greeting(
    fake: FakeLeaf, accounts: Mapping[str, str] | None, credentials: int, *, given_token: bool
) -> str:
    names = ", ".join(accounts or {}) or "none (login refused)"
    if accounts == DEFAULT_ACCOUNTS:
        # Printed on purpose: it is the fake's own default, documented in the
        # README; anything passed in is never echoed.
        names += ' (password "password": the fake\'s default, not a secret)'
    token = (
        "bearer token: the one given with --token (never expires)"
        if given_token
        else f"bearer token (24 h): {fake.token}"
    )
    users = f"{_plural(len(fake.users), 'user')}, {_plural(credentials, 'credential')}"
    add = (
        f"curl -X POST {fake.url}{USERS_PATH} -H 'Authorization: Bearer TOKEN' "
        """-H 'Content-Type: application/json' -d '{"name": "Ada"}'"""
    )
    return (
        f"Fake Leaf API listening on {fake.url}\n"
        f"  accounts: {names}\n"
        f"  {token}\n"
        f"  holding {users}\n"
        f"  add a user: {add}\n"
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
