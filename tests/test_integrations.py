"""leaf.integrations against aioresponses: Leaf's summaries, its names mapped to our providers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, LeafMock, sent, total_requests

RESOURCES = BASE + "/services/integrations/api/resources"
USER = "u-1"
JD = {"provider": "JohnDeere", "leafUserId": USER, "growers": 12, "farms": 12, "fields": 100,
      "syncReferenceTime": "2023-08-30T18:39:33.230612Z"}  # fmt: skip
CFV = {"provider": "ClimateFieldView", "leafUserId": USER, "farms": 2, "fields": 9,
       "syncReferenceTime": "2023-08-29T00:00:00Z"}  # fmt: skip
NO_RETRY = lc.RetryPolicy(max_retries=0)


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


def page(number: int, user: str | None = USER) -> str:
    query = f"leafUserId={user}&" if user else ""
    return f"{RESOURCES}?{query}page={number}&size=100"


class TestSummaries:
    async def test_maps_leafs_names_to_our_providers(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Each summary carries our slug next to Leaf's name; absent counts are None."""
        http.get(page(0), payload={"message": "SUCCESS", "summaries": [JD, CFV,
                 {"provider": "Leaf", "fields": 1}]})  # fmt: skip

        found = await leaf.integrations.summaries(user_id=USER)

        assert [
            lc.IntegrationSummary(
                provider="john-deere",
                leaf_provider="JohnDeere",
                leaf_user_id=USER,
                growers=12,
                farms=12,
                fields=100,
                sync_reference_time=datetime(2023, 8, 30, 18, 39, 33, 230612, tzinfo=UTC),
            ),
            lc.IntegrationSummary(
                provider="climate-field-view",
                leaf_provider="ClimateFieldView",
                leaf_user_id=USER,
                farms=2,
                fields=9,
                sync_reference_time=datetime(2023, 8, 29, tzinfo=UTC),
            ),
            lc.IntegrationSummary(leaf_provider="Leaf", fields=1),
        ] == found

    async def test_walks_every_page(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Pages of 100 are asked for until a short one."""
        full = [{**JD, "leafUserId": f"u{i}"} for i in range(100)]
        http.get(page(0, None), payload={"summaries": full})
        http.get(page(1, None), payload={"summaries": [JD]})

        assert 101 == len(await leaf.integrations.summaries())

    async def test_a_page_past_the_size_ends_the_walk(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A server that ignores paging answered everything at once."""
        http.get(page(0, None), payload={"summaries": [JD] * 101})

        assert 101 == len(await leaf.integrations.summaries())
        assert 1 == total_requests(http)

    async def test_another_users_summaries_are_dropped(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A server that ignored leafUserId: only the user's are kept."""
        http.get(page(0), payload={"summaries": [JD, {**JD, "leafUserId": "someone-else"}]})

        assert [USER] == [s.leaf_user_id for s in await leaf.integrations.summaries(user_id=USER)]

    @pytest.mark.parametrize("provider", ["john-deere", lc.JOHN_DEERE, "JohnDeere", "johndeere"])
    async def test_filters_by_provider_here(
        self, http: LeafMock, leaf: lc.LeafSession, provider: Any
    ) -> None:
        """The provider filter is applied to the answer, not sent (Leaf's spellings differ)."""
        http.get(page(0), payload={"summaries": [JD, CFV]})

        found = await leaf.integrations.summaries(user_id=USER, provider=provider)

        assert ["john-deere"] == [s.provider for s in found]
        (call,) = sent(http, "GET", page(0))
        assert call is not None

    async def test_an_unregistered_name_filters_by_its_spelling(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A provider no registry knows is matched on Leaf's name, folded."""
        http.get(page(0), payload={"summaries": [JD, {"provider": "Leaf"}]})

        found = await leaf.integrations.summaries(user_id=USER, provider="LEAF")

        assert ["Leaf"] == [s.leaf_provider for s in found]

    @pytest.mark.parametrize(
        "body",
        [b"[]", b'{"summaries": {}}', b'{"summaries": [3]}', b"<html>"],
        ids=["array", "object", "int", "html"],
    )
    async def test_a_hostile_answer_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession, body: bytes
    ) -> None:
        """Anything but {"summaries": [...]} is a DecodeError."""
        http.get(page(0), body=body, content_type="application/json")

        with pytest.raises(lc.DecodeError):
            await leaf.integrations.summaries(user_id=USER)

    async def test_a_missing_list_is_empty(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """{"message": "SUCCESS"} alone: nothing synced."""
        http.get(page(0), payload={"message": "SUCCESS"})

        assert [] == await leaf.integrations.summaries(user_id=USER)

    async def test_a_bad_user_id_is_refused(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """The user id follows the rules of one in a path."""
        with pytest.raises(lc.ValidationError):
            await leaf.integrations.summaries(user_id="..")
        assert 0 == total_requests(http)

    async def test_an_endless_list_gives_up(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A server that always has another page stops at MAX_PAGES."""
        from leaf_creds import _transport

        full = {"summaries": [JD] * 100}
        for number in range(_transport.MAX_PAGES):
            http.get(page(number), payload=full)

        with pytest.raises(lc.DecodeError, match="still more summaries"):
            await leaf.integrations.summaries(user_id=USER)


class TestSummary:
    async def test_the_latest_of_the_provider(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """One provider's summary, the latest sync when Leaf sends several."""
        older = {**JD, "fields": 1, "syncReferenceTime": "2020-01-01T00:00:00Z"}
        http.get(page(0), payload={"summaries": [JD, older, {**JD, "syncReferenceTime": None}]})

        found = await leaf.integrations.summary(USER, "john-deere")

        assert found is not None
        assert 100 == found.fields

    async def test_none_when_nothing_synced(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """No summary of the provider: None, not an error."""
        http.get(page(0), payload={"summaries": [CFV]})

        assert None is await leaf.integrations.summary(USER, lc.JOHN_DEERE)
