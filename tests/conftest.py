"""Shared fixtures: aioresponses made to work with aiohttp 3.14."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_VARIABLES, SECRET, Cli

# Loaded here rather than by its entry point (disabled in pyproject.toml), so
# that coverage sees leaf_creds being imported.
pytest_plugins = ["leaf_creds.testing.pytest_plugin"]

BASE = "https://api.withleaf.io"
UM = BASE + "/services/usermanagement/api"


class _SentStream:
    """Stands in for the request writer of a request that was already sent."""

    output_size = 0


class _CompatResponse(aiohttp.ClientResponse):
    # aiohttp 3.14 made `stream_writer` required; aioresponses 0.7.9 does not
    # pass it (pnuckowski/aioresponses#289). Default it for mocked answers.
    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentStream())
        super().__init__(method, url, **kwargs)


class LeafMock(aioresponses):
    """aioresponses whose answers aiohttp 3.14 can build."""

    def add(self, url: Any, method: str = "GET", *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("response_class", _CompatResponse)
        super().add(url, method, *args, **kwargs)


def sent(http: LeafMock, method: str, url: str) -> list[Any]:
    """Return the calls aioresponses saw for one method and URL."""
    return list(http.requests.get((method, URL(url)), []))


def total_requests(http: LeafMock) -> int:
    """Return how many requests aioresponses saw in all."""
    return sum(len(calls) for calls in http.requests.values())


@pytest.fixture
def http() -> Iterator[LeafMock]:
    """Mock every aiohttp request of the test; unmatched ones fail."""
    mock = LeafMock()
    with mock:
        yield mock


@pytest.fixture
def seen_headers() -> list[Any]:
    """The headers of each request that `raw_paths` served."""
    return []


@pytest.fixture
async def raw_paths(seen_headers: list[Any]) -> Any:
    """Serve any request on 127.0.0.1 with a Sentera record; collect each raw path."""
    from aiohttp import web

    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        seen_headers.append(request.headers)
        return web.json_response({"id": "x", "status": "OK"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def callback_result(**kwargs: Any) -> CallbackResult:
    """Build an aioresponses CallbackResult that aiohttp 3.14 can turn into a response."""
    kwargs.setdefault("response_class", _CompatResponse)
    return CallbackResult(**kwargs)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """Serve a FakeLeaf with its defaults, for the modules that define no `fake` of their own."""
    async with FakeLeaf() as server:
        yield server


@pytest.fixture
def cli_secrets() -> list[str]:
    """The secrets `cli` must never show besides the fake's token; a module may override it."""
    return [SECRET]


@pytest.fixture
def cli(
    fake: FakeLeaf,
    cli_secrets: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """Run `main(argv)` in-process against `fake`, no other Leaf settings in the environment."""
    for name in LEAF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAF_TOKEN", fake.token)
    monkeypatch.setenv("LEAF_BASE_URL", fake.url)
    return Cli(capsys, [*cli_secrets, fake.token])


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server of our own on 127.0.0.1, for the session (skips without one)."""
    from tests.postgres_server import running_postgres

    with running_postgres() as dsn:
        yield dsn
