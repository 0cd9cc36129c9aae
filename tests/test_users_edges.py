"""Edge cases of LeafSession.users: filter messages, the page-size floor, repeated pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, UM, LeafMock, total_requests

USERS = re.compile(re.escape(UM + "/users") + r"\?.*")


def session() -> lc.LeafSession:
    """Return a session on Leaf's production URL, which aioresponses intercepts."""
    return lc.LeafSession(token="t", base_url=BASE, retry=lc.RetryPolicy(max_retries=0))


class TestFilters:
    @pytest.mark.parametrize(
        ("filters", "message"),
        [
            ({"sort": 1}, "sort must be a string, got int"),
            ({"name": b"x"}, "name must be a string, got bytes"),
            ({"email": ["a"]}, "email must be a string, got list"),
            ({"external_id": 2.5}, "external_id must be a string, got float"),
            (
                {"name": "ab\ud800"},
                "name must be valid Unicode text (a lone surrogate at position 2)",
            ),
        ],
    )
    async def test_a_bad_filter_is_named_exactly(
        self, http: LeafMock, filters: dict[str, Any], message: str
    ) -> None:
        """A filter that is not a valid string is refused at once, with its name and why."""
        # Kills the mutants of check_filters' two messages (text, name, type, position).
        async with session() as leaf:
            with pytest.raises(lc.ValidationError) as info:
                leaf.users(**filters)

        assert message == str(info.value)
        assert 0 == total_requests(http)

    async def test_none_filters_are_left_out(self, http: LeafMock) -> None:
        """A filter given as None is not sent, while the others are."""
        # Kills `continue` -> `break` on a None filter, which would drop the filters after it.
        http.get(USERS, payload=[])
        async with session() as leaf:
            users = [u async for u in leaf.users(size=5, sort=None, name="Ann", email=None)]

        ((_, url),) = http.requests
        assert ([], {"page": "0", "size": "5", "name": "Ann"}) == (users, dict(url.query))


class TestPageSize:
    async def test_zero_is_refused_with_the_range(self, http: LeafMock) -> None:
        """size=0 is refused before any request, and the message gives the range."""
        # Kills `1 <= size` -> `2 <= size` / `0 <= size`, and the message mutants.
        async with session() as leaf:
            with pytest.raises(lc.ValidationError) as info:
                leaf.users(size=0)

        assert "size must be an int from 1 to 100, got 0" == str(info.value)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize("size", [1, 100])
    async def test_the_bounds_are_accepted(self, http: LeafMock, size: int) -> None:
        """size=1 and size=100 are valid page sizes and are sent as asked."""
        # Kills `1 <= size` -> `2 <= size` and `size <= 100` -> `size < 100`.
        http.get(USERS, payload=[])
        async with session() as leaf:
            users = [u async for u in leaf.users(size=size)]

        ((_, url),) = http.requests
        assert ([], str(size)) == (users, url.query["size"])


class TestRepeatedPage:
    async def test_the_error_carries_method_url_and_status(self, http: LeafMock) -> None:
        """A full page of users already listed ends the walk with an error naming the request."""
        # Kills the mutants of UserWalk.advance's PaginationError: its method/url/status and text.
        page = [{"id": "u1"}, {"id": "u2"}]
        http.get(USERS, payload=page, repeat=True)
        seen: list[str] = []
        async with session() as leaf:
            walk = leaf.users(size=2)
            seen += [(await anext(walk)).id, (await anext(walk)).id]
            with pytest.raises(lc.PaginationError) as info:
                await anext(walk)

        error = info.value
        assert (["u1", "u2"], "GET", UM + "/users", 200) == (
            seen,
            error.method,
            error.url,
            error.status,
        )
        assert (
            f"GET {UM}/users: page 1 repeats 2 users already listed and says more follow; "
            "stopped rather than ask for pages forever"
        ) == str(error)
        assert 2 == total_requests(http)
