"""The transport's paged list walk against servers that ignore paging or never end."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import LeafMock, callback_result, total_requests

WIDGETS = "https://api.withleaf.io/services/widgets/api/magic-link"
LINK_ID = "f2a6e0c1-3b0d-4c7e-9d2a-5a1f0e9c7b44"


def link(number: int) -> dict[str, Any]:
    """One Magic Link as Leaf lists it."""
    return {"id": f"link-{number:05d}", "link": f"https://link.withleaf.io/{number}"}


@pytest.fixture
async def leaf() -> Any:
    """A session with a small answer cap, so the walk's bound is quick to reach."""
    async with lc.LeafSession(token="t-value", max_response_bytes=20_000) as session:
        yield session


class TestPagingIgnored:
    @pytest.mark.parametrize("count", [99, 100, 101])
    async def test_a_server_that_ignores_paging_gives_each_item_once(
        self, http: LeafMock, leaf: lc.LeafSession, count: int
    ) -> None:
        """Every page the same: the walk stops at the repeat, with each link once."""
        http.get(
            re.compile(re.escape(WIDGETS + "/provider?") + ".*"),
            payload=[link(i) for i in range(count)],
            repeat=True,
        )

        links = await leaf.magic_links.list("provider")

        assert count == len(links) == len({item.id for item in links})
        assert total_requests(http) <= 2


class TestBounded:
    async def test_the_whole_walk_is_bounded_in_bytes(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Distinct full pages without end raise ResponseTooLargeError past 4x the cap."""

        def page(url: Any, **kwargs: Any) -> Any:
            start = int(url.query["page"]) * 100
            return callback_result(payload=[link(start + i) for i in range(100)])

        http.get(re.compile(re.escape(WIDGETS + "/provider?") + ".*"), callback=page, repeat=True)

        with pytest.raises(lc.ResponseTooLargeError, match="more than 80000 bytes in all"):
            await leaf.magic_links.list("provider")
        assert total_requests(http) < 20


class TestMagicLinkCapabilities:
    async def test_a_link_id_is_masked_in_errors_and_debug_lines(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A Magic Link's id never reaches an error's URL, its text or a DEBUG line."""
        http.get(
            f"{WIDGETS}/provider/{LINK_ID}",
            status=404,
            payload={"title": "Not Found", "detail": f"no link {LINK_ID}"},
        )
        http.delete(f"{WIDGETS}/provider/{LINK_ID}", status=500, repeat=True)

        with caplog.at_level(logging.DEBUG, logger="leaf_creds"):
            with pytest.raises(lc.NotFoundError) as found:
                await leaf.magic_links.get("provider", LINK_ID)
            with pytest.raises(lc.ServerError) as failed:
                await leaf.magic_links.delete("provider", LINK_ID)

        for error in (found.value, failed.value):
            assert LINK_ID not in str(error)
            assert LINK_ID not in repr(vars(error))
            assert error.url.endswith("/provider/***")
        assert caplog.records
        assert LINK_ID not in caplog.text

    def test_a_links_repr_masks_its_id_and_url(self) -> None:
        """repr() of a MagicLink shows neither the id nor the page's URL."""
        made = lc.MagicLink(id=LINK_ID, link="https://link.withleaf.io/" + LINK_ID)

        assert LINK_ID not in repr(made)
        assert LINK_ID == made.id
