"""Leaf Link API keys: leaf.api_keys against aioresponses."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock, sent, total_requests

API_KEYS = UM + "/api-keys"
USER = "5f0c1b5e-0000-4000-8000-00000000000b"
KEY = "lk_live-api-key-value"
NO_RETRY = lc.RetryPolicy(max_retries=0)
LISTED = [
    {
        "id": "k1",
        "key": KEY,
        "leafUserId": USER,
        "expiresAt": "2024-04-25T18:36:37.965906",
        "description": "test",
        "revokedAt": "2023-04-26T21:27:55.674731",
        "valid": False,
    },
    {"key": "lk_other", "expiresAt": "2025-10-01T00:00:00.000Z", "valid": True},
]


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestCreate:
    async def test_posts_the_body(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """POST /api-keys sends leafUserId, expiresIn and description; the key stays masked."""
        http.post(
            API_KEYS,
            payload={"key": KEY, "expiresAt": "2024-04-25T18:36:37.965906", "valid": True},
        )
        caplog.set_level(logging.DEBUG, logger="leaf_creds")

        key = await leaf.api_keys.create(USER, expires_in=3600, description="widget")

        (call,) = sent(http, "POST", API_KEYS)
        assert {"leafUserId": USER, "expiresIn": 3600, "description": "widget"} == json.loads(
            call.kwargs["data"]
        )
        assert KEY == key.key
        assert (
            lc.ApiKey(
                key=KEY,
                expires_at=datetime(2024, 4, 25, 18, 36, 37, 965906, tzinfo=UTC),
                valid=True,
                leaf_user_id=USER,
            )
            == key
        )
        assert KEY not in repr(key)
        assert "key='***'" in repr(key)
        assert KEY not in caplog.text

    @pytest.mark.parametrize("seconds", [900, 31_536_001, 10 * 31_536_000])
    async def test_no_maximum_lifetime(
        self, http: LeafMock, leaf: lc.LeafSession, seconds: int
    ) -> None:
        """Leaf documents a minimum expiresIn of 900 and no maximum: longer than a year is sent."""
        http.post(API_KEYS, payload={"key": KEY})

        await leaf.api_keys.create(USER, expires_in=seconds)

        (call,) = sent(http, "POST", API_KEYS)
        assert seconds == json.loads(call.kwargs["data"])["expiresIn"]

    async def test_only_the_user_is_required(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Unset options are not sent."""
        http.post(API_KEYS, payload={"key": KEY, "leafUserId": "as-answered"})

        key = await leaf.api_keys.create(USER)

        (call,) = sent(http, "POST", API_KEYS)
        assert {"leafUserId": USER} == json.loads(call.kwargs["data"])
        assert "as-answered" == key.leaf_user_id

    async def test_an_unknown_outcome_is_not_sent_twice(self, http: LeafMock) -> None:
        """A 500 is raised at once: a second key would be another live secret."""
        http.post(API_KEYS, status=500)
        http.post(API_KEYS, payload={"key": KEY})

        async with lc.LeafSession(
            token="t-value", retry=lc.RetryPolicy(max_retries=3, backoff_base=0)
        ) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.api_keys.create(USER)

        assert 1 == len(sent(http, "POST", API_KEYS))

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"user_id": ""}, "must not be empty"),
            ({"user_id": None}, "must be a string"),
            ({"user_id": USER, "expires_in": 60}, "at least 900"),
            ({"user_id": USER, "expires_in": 899}, "at least 900"),
            ({"user_id": USER, "expires_in": "3600"}, "an int"),
            ({"user_id": USER, "description": 5}, "description"),
        ],
    )
    async def test_refused_before_sending(
        self, http: LeafMock, leaf: lc.LeafSession, arguments: dict[str, Any], message: str
    ) -> None:
        """Bad input raises ValidationError; nothing is sent."""
        with pytest.raises(lc.ValidationError, match=message):
            await leaf.api_keys.create(**arguments)

        assert 0 == total_requests(http)



class TestUnreadableCreate:
    """A 2xx create answer that is not a key: one was made or may have been (issue 19 gap 6)."""

    @pytest.mark.parametrize(
        ("answer", "why"),
        [
            ({"body": b"<html>ok</html>"}, " is not JSON (15 bytes)"),
            ({"body": b""}, ": expected a JSON object"),
            ({"payload": [{"key": KEY}]}, ": expected a JSON object"),
            (
                {"payload": {"key": KEY, "valid": "perhaps"}},
                " does not fit ApiKey: invalid value for type, expected bool | None @ $.valid",
            ),
        ],
    )
    async def test_raises_unreadable_create(
        self, http: LeafMock, answer: dict[str, Any], why: str
    ) -> None:
        """UnreadableCreateError says it may be applied, never shows the key, is never resent."""
        http.post(API_KEYS, status=201, **answer)
        http.post(API_KEYS, payload={"key": "lk_second", "valid": True})

        retry = lc.RetryPolicy(max_retries=3, backoff_base=0)
        async with lc.LeafSession(token="t-value", retry=retry) as leaf:
            with pytest.raises(lc.UnreadableCreateError) as caught:
                await leaf.api_keys.create(USER, description="widget")

        error = caught.value
        assert isinstance(error, lc.OutcomeUnknownError)
        assert isinstance(error, lc.DecodeError)
        assert isinstance(error.__cause__, lc.DecodeError)
        assert (
            f"the create of an API key for Leaf user {USER!r} was answered 201, so it was "
            f"applied or may have been, but its answer is not the key (201 from POST "
            f"{API_KEYS}{why}). Do not create another blindly: list the user's keys with "
            f"api_keys.list({USER!r}) and revoke any you do not hold."
        ) == str(error)
        assert KEY not in str(error)
        assert (USER, "", 1) == (error.user_id, error.provider, error.attempts)
        assert ("POST", API_KEYS, 201) == (error.method, error.url, error.status)
        assert 1 == total_requests(http)


class TestListAndRevoke:
    async def test_lists_a_users_keys(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /api-keys?leafUserId= answers revoked keys too; timestamps without Z are UTC."""
        http.get(f"{API_KEYS}?leafUserId={USER}&page=0&size=100", payload=LISTED)

        revoked, other = await leaf.api_keys.list(USER)

        assert (
            lc.ApiKey(
                id="k1",
                key=KEY,
                leaf_user_id=USER,
                expires_at=datetime(2024, 4, 25, 18, 36, 37, 965906, tzinfo=UTC),
                description="test",
                revoked_at=datetime(2023, 4, 26, 21, 27, 55, 674731, tzinfo=UTC),
                valid=False,
            )
            == revoked
        )
        assert datetime(2025, 10, 1, tzinfo=UTC) == other.expires_at
        assert KEY not in repr([revoked, other])

    async def test_the_user_id_is_encoded_in_the_query(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An odd user id is percent-encoded in the query string."""
        http.get(f"{API_KEYS}?leafUserId=a%26b&page=0&size=100", payload=[])

        assert [] == await leaf.api_keys.list("a&b")

    async def test_revoke(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """DELETE /api-keys/{id}, the id one segment."""
        url = API_KEYS + "/k%2F1"
        http.delete(url, status=204)

        await leaf.api_keys.revoke("k/1")

        assert 1 == len(sent(http, "DELETE", url))

    async def test_bad_ids(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An empty key id or user id raises ValidationError before sending."""
        with pytest.raises(lc.ValidationError, match="API key id"):
            await leaf.api_keys.revoke("")
        with pytest.raises(lc.ValidationError):
            await leaf.api_keys.list("")

        assert 0 == total_requests(http)

    async def test_a_bad_answer_never_shows_the_key(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An item that does not fit raises DecodeError without the keys' values."""
        http.get(
            f"{API_KEYS}?leafUserId={USER}&page=0&size=100",
            payload=[{"key": KEY, "valid": "perhaps"}],
        )

        with pytest.raises(lc.DecodeError) as caught:
            await leaf.api_keys.list(USER)

        assert KEY not in str(caught.value)

    def test_the_resource_is_cached_on_the_session(self) -> None:
        """leaf.api_keys is one object per session."""
        leaf = lc.LeafSession(token="t-value")

        assert leaf.api_keys is leaf.api_keys
        assert repr(leaf.api_keys).startswith("<ApiKeys of")
