"""Tests of LeafSession.users: paging over Leaf users, against servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf


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
