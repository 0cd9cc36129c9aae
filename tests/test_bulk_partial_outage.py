"""Tests of bulk jobs against a host that refuses some connections but answers most."""

from __future__ import annotations

import socket
from contextlib import aclosing
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

SENTERA_BODY = {"username": "grower", "password": "hunter2-secret", "organizationName": "Acme"}


def free_port() -> int:
    """Return a port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class OneInFiveDead(AbstractResolver):
    """Resolves the host to a live port, and every fifth time to a dead one."""

    def __init__(self, live: int, dead: int) -> None:
        self.live, self.dead, self.count = live, dead, 0

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.count += 1
        chosen = self.dead if self.count % 5 == 0 else self.live
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=chosen, family=socket.AF_INET,
                proto=0, flags=socket.AI_NUMERICHOST,
            )
        ]  # fmt: skip

    async def close(self) -> None:
        return None


class TestPartialOutage:
    async def test_a_fifth_of_connections_refused_does_not_stop_the_job(self) -> None:
        """Every operation runs, and most succeed, while 80% of connections get through."""
        async with FakeLeaf(tokens=["t"]) as fake:
            users = [fake.add_user().id for _ in range(1500)]
            connector = aiohttp.TCPConnector(
                resolver=OneInFiveDead(URL(fake.url).port or 80, free_port()),
                use_dns_cache=False,
                force_close=True,  # a new connection, and so a resolve, per request
            )
            async with aiohttp.ClientSession(connector=connector) as http:
                leaf = lc.LeafSession(
                    token="t", base_url="http://leaf.test", allow_http=True,
                    session=http, retry=lc.RetryPolicy(backoff_base=0, retry_budget=50),
                )  # fmt: skip
                operations = [lc.Create(lc.SENTERA, user, SENTERA_BODY) for user in users]
                outcomes: list[lc.Outcome] = []
                error: Any = None
                try:
                    async with aclosing(leaf.bulk(operations, concurrency=16)) as stream:
                        async for outcome in stream:
                            outcomes.append(outcome)
                except lc.BulkStoppedError as exc:
                    error = exc
                await leaf.aclose()

        assert None is error
        assert len(users) == len(outcomes)
        assert sum(o.ok for o in outcomes) >= 0.75 * len(users)
        assert {lc.TransportError} >= {type(o.error) for o in outcomes if not o.ok}
