"""Creates whose outcome is unclear: an unreadable reconcile GET, an unreadable 2xx answer."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.conftest import LeafMock, sent
from tests.helpers import SENTERA_ANSWER, SENTERA_URL, sentera_credentials

FAST = lc.RetryPolicy(max_retries=3, backoff_base=0, backoff_max=0)
PASSWORD = "hunter2-password"  # sentera_credentials()'s
# Answers to a 2xx that are not the record: a proxy's page, a cut body, no body,
# JSON of the wrong shape, an object that does not fit the record.
NOT_A_RECORD = [
    pytest.param({"body": "<html><body>Bad gateway</body></html>"}, id="html"),
    pytest.param({"body": '{"id": "5f0c1b5e-0000-40'}, id="cut"),
    pytest.param({"body": ""}, id="empty"),
    pytest.param({"payload": []}, id="array"),
    pytest.param({"payload": {"id": 5, "status": []}}, id="misfit"),
]


@pytest.fixture
def user(leaf_fake: FakeLeaf) -> str:
    return leaf_fake.add_user(name="Grower").id


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=FAST) as session:
        yield session


def connect(fake: FakeLeaf) -> lc.LeafSession:
    return lc.LeafSession(token=fake.token, base_url=fake.url, retry=FAST)


def counts(http: LeafMock) -> tuple[int, int]:
    """Return how many POSTs and GETs the Sentera credential URL saw."""
    return len(sent(http, "POST", SENTERA_URL)), len(sent(http, "GET", SENTERA_URL))


class TestUnreadableReconcile:
    @pytest.mark.parametrize("answer", NOT_A_RECORD)
    async def test_unreadable_get_is_outcome_unknown(
        self, http: LeafMock, leaf: lc.LeafSession, answer: dict[str, Any]
    ) -> None:
        """A reconcile GET answered 2xx with something that is not a credential cannot tell."""
        http.post(SENTERA_URL, status=502, body="")
        http.get(SENTERA_URL, status=200, **answer)

        with pytest.raises(lc.OutcomeUnknownError) as info:
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        error = info.value
        assert ("sentera", "u1", 1) == (error.provider, error.user_id, error.attempts)
        assert "get('sentera', 'u1')" in str(error)
        assert isinstance(error.__cause__, lc.ServerError)
        assert (1, 1) == counts(http)

    async def test_unreadable_get_against_the_fake(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A create whose answer is lost, then a GET answered with HTML, is outcome unknown."""
        leaf_fake.faults.add(method="POST", drop="after_body")
        leaf_fake.faults.add(method="GET", malformed=True)

        async with connect(leaf_fake) as leaf:
            with pytest.raises(lc.OutcomeUnknownError):
                await leaf.create(lc.SENTERA, user, sentera_credentials())

        assert 1 == leaf_fake.count("POST")
        assert None is not leaf_fake.credential(user, "sentera")

    async def test_unreadable_get_in_bulk(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """In bulk, the same create ends as an OutcomeUnknownError outcome, not a DecodeError."""
        http.post(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.get(SENTERA_URL, status=200, body="<html></html>")

        outcomes = [o async for o in leaf.bulk([lc.Create("sentera", "u1", sentera_credentials())])]

        assert lc.OutcomeUnknownError is type(outcomes[0].error)
        assert 1 == outcomes[0].attempts


class TestUnreadableCreateAnswer:
    @pytest.mark.parametrize("answer", NOT_A_RECORD)
    async def test_record_recovered_with_a_get(
        self, http: LeafMock, leaf: lc.LeafSession, answer: dict[str, Any]
    ) -> None:
        """A create answered 2xx with a body that is not the record returns what a GET finds."""
        http.post(SENTERA_URL, status=201, **answer)
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        record = await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert SENTERA_ANSWER["id"] == record.id
        assert (1, 1) == counts(http)

    @pytest.mark.parametrize(
        ("get", "why"),
        [
            ({"status": 404, "body": ""}, "finds no credential"),
            ({"payload": {**SENTERA_ANSWER, "username": "someone-else"}}, "other values"),
            ({"status": 500, "body": "", "repeat": True}, "failed with ServerError 500"),
            ({"body": "<html></html>"}, "failed with DecodeError"),
        ],
    )
    async def test_unrecovered_says_it_may_have_been_applied(
        self, http: LeafMock, leaf: lc.LeafSession, get: dict[str, Any], why: str
    ) -> None:
        """When the GET cannot recover the record, UnreadableCreateError says it may be applied."""
        http.post(SENTERA_URL, status=200, body="<html>proxy</html>")
        http.get(SENTERA_URL, **get)

        with pytest.raises(lc.UnreadableCreateError) as info:
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        error = info.value
        assert isinstance(error, lc.OutcomeUnknownError)
        assert isinstance(error, lc.DecodeError)  # what this case raised before
        assert ("sentera", "u1", 1) == (error.provider, error.user_id, error.attempts)
        assert ("POST", SENTERA_URL, 200) == (error.method, error.url, error.status)
        assert "applied or may have been" in str(error)
        assert why in str(error)
        assert "get('sentera', 'u1')" in str(error)
        assert PASSWORD not in str(error)
        assert isinstance(error.__cause__, lc.DecodeError)
        assert 1 == counts(http)[0]  # never sent twice

    async def test_recovered_against_the_fake(self, leaf_fake: FakeLeaf, user: str) -> None:
        """The fake's malformed 200 to a create it applied yields the stored record."""
        leaf_fake.faults.add(method="POST", malformed=True)

        async with connect(leaf_fake) as leaf:
            record = await leaf.create(lc.SENTERA, user, sentera_credentials())
            stored = await leaf.get(lc.SENTERA, user)

        assert stored == record
        assert 1 == leaf_fake.count("POST")

    async def test_recovered_in_bulk(self, leaf_fake: FakeLeaf, user: str) -> None:
        """In bulk, a create answered with garbage is an ok outcome holding the record."""
        leaf_fake.faults.add(method="POST", malformed=True)

        async with connect(leaf_fake) as leaf:
            outcomes = [
                o async for o in leaf.bulk([lc.Create(lc.SENTERA, user, sentera_credentials())])
            ]

        assert [None] == [o.error for o in outcomes]
        assert "grower" == outcomes[0].value.username
        assert 1 == outcomes[0].attempts

    def test_pickles(self) -> None:
        """The error keeps its attributes across a process pool."""
        import pickle

        error = lc.UnreadableCreateError(
            "m", provider="sentera", user_id="u1", attempts=2, method="POST", url="u", status=201
        )

        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes

        assert ("sentera", "u1", 2, 201, "m") == (
            copy.provider, copy.user_id, copy.attempts, copy.status, str(copy)
        )  # fmt: skip
