"""pytest plugin: the ``leaf_fake`` and ``leaf_session`` fixtures.

Loaded automatically through the ``pytest11`` entry point when leaf-creds is
installed. Both fixtures are async and function-scoped; they work with
pytest-asyncio in auto and in strict mode. Configure the fake per test with
the ``leaf_fake`` marker, whose keyword arguments go to :class:`FakeLeaf`::

    @pytest.mark.leaf_fake(seed=7, token_lifetime=60)
    async def test_something(leaf_fake): ...

Without pytest-asyncio the plugin still loads, so it never breaks a pytest
run; only a test that asks for one of its fixtures fails, saying why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from leaf_creds import LeafSession
    from leaf_creds.testing import FakeLeaf

__all__ = ["leaf_fake", "leaf_session"]

F = TypeVar("F", bound=Callable[..., Any])

MISSING_PYTEST_ASYNCIO = (
    "the leaf_fake and leaf_session fixtures need pytest-asyncio: "
    "pip install pytest-asyncio (or leaf-creds[test])"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "leaf_fake(**options): keyword arguments for the FakeLeaf of the leaf_fake fixture",
    )


def _async_fixture(func: F) -> F:
    """Make ``func`` an async fixture, or one that fails clearly without pytest-asyncio."""
    try:
        import pytest_asyncio
    except ImportError:

        def missing() -> None:
            pytest.fail(MISSING_PYTEST_ASYNCIO, pytrace=False)

        return cast(F, pytest.fixture(name=func.__name__)(missing))
    return cast(F, pytest_asyncio.fixture(func))


@_async_fixture
async def leaf_fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeLeaf]:
    """Yield a started :class:`~leaf_creds.testing.FakeLeaf` on 127.0.0.1."""
    from leaf_creds.testing import FakeLeaf

    marker = request.node.get_closest_marker("leaf_fake")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    async with FakeLeaf(**options) as fake:
        yield fake


@_async_fixture
async def leaf_session(leaf_fake: FakeLeaf) -> AsyncIterator[LeafSession]:
    """Yield a :class:`~leaf_creds.LeafSession` with the fake's token and URL."""
    from leaf_creds import LeafSession

    async with LeafSession(
        token=leaf_fake.token, base_url=leaf_fake.url, registry=leaf_fake.registry
    ) as session:
        yield session
