"""Tests of LeafSession.users: paging over Leaf users, against servers on 127.0.0.1.

Also its edge cases, with answers mocked: filter messages, the page-size
floor, repeated pages.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.conftest import BASE, UM, LeafMock, total_requests


class PagedUsers:
    """A GET /users that pages a fixed list and sends the headers it is told to."""

    def __init__(self, count: int, *, total: bool | str, link: bool) -> None:
        self.users: list[dict[str, Any]] = [
            {"id": f"u{i}", "name": f"User {i}", "externalId": f"x{i}", "phone": None}
            for i in range(count)
        ]
        self.total = total
        self.link = link
        self.queries: list[dict[str, str]] = []
        self.body: Any = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        if self.body is not None:
            return web.json_response(self.body)
        page, size = int(request.query["page"]), int(request.query["size"])
        items = self.users[page * size : (page + 1) * size]
        headers = {}
        if self.total:
            headers["X-Total-Count"] = str(len(self.users)) if self.total is True else self.total
        if self.link:
            more = (page + 1) * size < len(self.users)
            rel = ['<http://x/users?page=0>; rel="first"']
            rel += [f'<http://x/users?page={page + 1}>; rel="next"'] if more else []
            headers["Link"] = ", ".join(rel)
        return web.json_response(items, headers=headers)


async def serve(server: PagedUsers) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/services/usermanagement/api/users", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    return runner


@pytest.fixture
async def paged(request: pytest.FixtureRequest) -> AsyncIterator[PagedUsers]:
    count, total, link = getattr(request, "param", (5, False, False))
    server = PagedUsers(count, total=total, link=link)
    runner = await serve(server)
    yield server
    await runner.cleanup()


async def all_users(server: PagedUsers, **options: Any) -> list[lc.LeafUser]:
    async with lc.LeafSession(token="t", base_url=server.url) as leaf:
        return [user async for user in leaf.users(**options)]


class TestUsers:
    @pytest.mark.parametrize(
        ("paged", "pages"),
        [
            ((5, False, False), 3),  # no headers: stops on the short page
            ((4, False, False), 3),  # a multiple of the size: stops on the empty page
            ((4, True, False), 2),  # X-Total-Count reached
            ((4, False, True), 2),  # Link without rel="next"
            ((0, True, True), 1),
            ((4, "many", False), 3),  # an unreadable total is ignored
        ],
        indirect=["paged"],
    )
    async def test_stops_on_the_last_page(self, paged: PagedUsers, pages: int) -> None:
        """Every user is yielded once, and no page past the last is asked for."""
        users = await all_users(paged, size=2)

        assert [u["id"] for u in paged.users] == [user.id for user in users]
        assert [str(page) for page in range(pages)] == [q["page"] for q in paged.queries]

    async def test_user_fields(self, paged: PagedUsers) -> None:
        """Users carry id, name, external id and credential ids; unknown keys are ignored."""
        paged.users[0]["johnDeereCredentials"] = {"id": "c1", "clientSecret": "s3cret"}

        users = await all_users(paged)

        assert (
            lc.LeafUser(
                id="u0", name="User 0", external_id="x0", credentials={"john-deere": "c1"}
            )
            == users[0]
        )
        assert "s3cret" not in repr(users)

    async def test_filters_are_sent(self, paged: PagedUsers) -> None:
        """Sort and filters go into the query string, camelCase."""
        await all_users(paged, size=100, sort="name,asc", email="a@b.c", external_id="x1")

        expected = {"page": "0", "size": "100", "sort": "name,asc", "email": "a@b.c"}
        assert {**expected, "externalId": "x1"} == paged.queries[0]

    async def test_not_a_list(self, paged: PagedUsers) -> None:
        """A page that is not a JSON array is a DecodeError."""
        paged.body = {"content": []}

        with pytest.raises(lc.DecodeError, match="array of users"):
            await all_users(paged)

    async def test_bad_user(self, paged: PagedUsers) -> None:
        """A user without an id is a DecodeError."""
        paged.body = [{"name": "nobody"}]

        with pytest.raises(lc.DecodeError, match="LeafUser"):
            await all_users(paged)

    @pytest.mark.parametrize("size", [0, 101, True, "10"])
    async def test_bad_size(self, size: Any) -> None:
        """A page size outside 1..100 is refused at once."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match="size"):
                leaf.users(size=size)

    async def test_against_the_fake(self) -> None:
        """Paging through the fake Leaf server's users yields every one of them."""
        async with FakeLeaf() as fake:
            expected = {fake.add_user(name=f"n{i}").id for i in range(7)}
            async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                seen = [user.id async for user in leaf.users(size=3)]

        assert expected == set(seen)
        assert 7 == len(seen)


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
