"""Retries through the public API: what is retried, how often, and never a create twice."""

from __future__ import annotations

import json
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from tests.conftest import LeafMock, sent
from tests.helpers import SENTERA_ANSWER, SENTERA_URL, sentera_credentials

FAST = lc.RetryPolicy(max_retries=3, backoff_base=0, backoff_max=0)


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=FAST) as session:
        yield session


def counts(http: LeafMock) -> tuple[int, int]:
    """Return how many POSTs and GETs the Sentera credential URL saw."""
    return len(sent(http, "POST", SENTERA_URL)), len(sent(http, "GET", SENTERA_URL))


class TestRetryPolicy:
    def test_defaults(self) -> None:
        """Three retries by default, with finite backoff and Retry-After ceilings."""
        policy = lc.RetryPolicy()

        assert 3 == policy.max_retries
        assert 0 < policy.backoff_base <= policy.backoff_max < float("inf")
        assert 0 < policy.retry_after_max < float("inf")

    @pytest.mark.parametrize(
        "name", ["max_retries", "backoff_base", "backoff_max", "retry_after_max"]
    )
    def test_negative_values_refused(self, name: str) -> None:
        """Negative settings are refused when the policy is made."""
        with pytest.raises(ValueError, match=name):
            lc.RetryPolicy(**{name: -1})

    def test_full_jitter_stays_under_the_exponential_ceiling(self) -> None:
        """Each backoff lies between 0 and base * 2**(n-1), capped at backoff_max."""
        policy = lc.RetryPolicy(backoff_base=0.5, backoff_max=3.0)

        for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
            waits = [policy.backoff(retry) for _ in range(200)]
            assert all(0 <= wait <= ceiling for wait in waits)
            assert max(waits) > ceiling / 2  # jittered, not a constant

    def test_frozen(self) -> None:
        """A policy cannot be changed once made."""
        policy = lc.RetryPolicy()

        with pytest.raises(AttributeError):
            policy.max_retries = 9  # type: ignore[misc]


class TestIdempotentRetries:
    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    async def test_get_retries_transient_statuses(
        self, http: LeafMock, leaf: lc.LeafSession, status: int
    ) -> None:
        """A GET that meets a transient status is retried and then succeeds."""
        http.get(SENTERA_URL, status=status, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        record = await leaf.get(lc.SENTERA, "u1")

        assert "OK" == record.status
        assert 2 == len(sent(http, "GET", SENTERA_URL))

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
    async def test_get_does_not_retry_client_errors(
        self, http: LeafMock, leaf: lc.LeafSession, status: int
    ) -> None:
        """Client errors are final: one request, attempts == 1."""
        http.get(SENTERA_URL, status=status, body="")

        with pytest.raises(lc.APIError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert 1 == info.value.attempts
        assert 1 == len(sent(http, "GET", SENTERA_URL))

    async def test_500s_until_retries_run_out(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """After max_retries the last error is raised, carrying the number of attempts."""
        http.get(SENTERA_URL, status=500, body="", repeat=True)

        with pytest.raises(lc.ServerError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert 4 == info.value.attempts
        assert "after 4 attempts" in str(info.value)
        assert 4 == len(sent(http, "GET", SENTERA_URL))

    async def test_zero_retries_disables_retrying(self, http: LeafMock) -> None:
        """max_retries=0 makes exactly one attempt."""
        http.get(SENTERA_URL, status=503, body="", repeat=True)

        async with lc.LeafSession(token="t", retry=lc.RetryPolicy(max_retries=0)) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.get(lc.SENTERA, "u1")

        assert 1 == len(sent(http, "GET", SENTERA_URL))

    async def test_connection_errors_are_retried(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A dropped connection and a timeout on GET are retried."""
        http.get(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.get(SENTERA_URL, exception=TimeoutError())
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.get(lc.SENTERA, "u1")

        assert 3 == len(sent(http, "GET", SENTERA_URL))

    async def test_connection_refused_everywhere(self) -> None:
        """A refused connection is retried, then raised as a TransportError that was not sent."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # Nothing listens on `port` now.
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=FAST
        ) as leaf:
            with pytest.raises(lc.TransportError) as info:
                await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert info.value.sent is False
        assert 4 == info.value.attempts

    async def test_delete_404_after_lost_attempt_is_success(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A DELETE whose first answer was lost treats the retry's 404 as already deleted."""
        http.delete(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.delete(SENTERA_URL, status=404, body="")

        await leaf.delete(lc.SENTERA, "u1")

        assert 2 == len(sent(http, "DELETE", SENTERA_URL))

    async def test_delete_404_after_unprocessed_attempt_is_not_found(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A 503 says nothing was deleted, so a later 404 is a real NotFoundError."""
        http.delete(SENTERA_URL, status=503, body="")
        http.delete(SENTERA_URL, status=404, body="")

        with pytest.raises(lc.NotFoundError) as info:
            await leaf.delete(lc.SENTERA, "u1")

        assert 2 == info.value.attempts

    async def test_delete_404_first_is_not_found(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A DELETE of a missing credential is a NotFoundError."""
        http.delete(SENTERA_URL, status=404, body="")

        with pytest.raises(lc.NotFoundError):
            await leaf.delete(lc.SENTERA, "u1")


class TestRetryAfter:
    async def test_seconds_are_honoured(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Retry-After in seconds makes the client wait at least that long."""
        http.get(SENTERA_URL, status=429, headers={"Retry-After": "0.2"}, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        started = time.monotonic()
        await leaf.get(lc.SENTERA, "u1")

        assert time.monotonic() - started >= 0.2
        assert 2 == len(sent(http, "GET", SENTERA_URL))

    async def test_milliseconds_header(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """retry-after-ms is read in milliseconds."""
        http.get(SENTERA_URL, status=503, headers={"retry-after-ms": "150"}, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        started = time.monotonic()
        await leaf.get(lc.SENTERA, "u1")

        assert time.monotonic() - started >= 0.15

    async def test_http_date(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Retry-After as an HTTP date in the past means retry now."""
        past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
        http.get(SENTERA_URL, status=503, headers={"Retry-After": past}, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.get(lc.SENTERA, "u1")

        assert 2 == len(sent(http, "GET", SENTERA_URL))

    @pytest.mark.parametrize(
        ("status", "error_class"), [(429, lc.RateLimitError), (503, lc.ServerError)]
    )
    async def test_too_long_a_wait_raises_at_once(
        self, http: LeafMock, leaf: lc.LeafSession, status: int, error_class: type[lc.APIError]
    ) -> None:
        """A wait beyond retry_after_max raises at once with the parsed retry_after."""
        http.get(SENTERA_URL, status=status, headers={"Retry-After": "3600"}, body="")

        with pytest.raises(error_class) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert 3600.0 == info.value.retry_after
        assert 1 == len(sent(http, "GET", SENTERA_URL))

    async def test_far_http_date_raises_at_once(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An HTTP date an hour away is parsed into seconds and not slept on."""
        later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
        http.get(SENTERA_URL, status=429, headers={"Retry-After": later}, body="")

        with pytest.raises(lc.RateLimitError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert info.value.retry_after is not None
        assert 3500 < info.value.retry_after <= 3600


class TestCreateIsNeverDuplicated:
    @pytest.mark.parametrize("status", [429, 503])
    async def test_unprocessed_answers_are_retried(
        self, http: LeafMock, leaf: lc.LeafSession, status: int
    ) -> None:
        """429 and 503 say nothing was applied, so the POST is sent again."""
        http.post(SENTERA_URL, status=status, body="")
        http.post(SENTERA_URL, payload=SENTERA_ANSWER, status=201)

        await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert (2, 0) == counts(http)

    async def test_connect_timeout_is_retried(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A connect timeout means the POST never left, so it is sent again."""
        http.post(SENTERA_URL, exception=aiohttp.ConnectionTimeoutError())
        http.post(SENTERA_URL, payload=SENTERA_ANSWER, status=201)

        await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert (2, 0) == counts(http)

    @pytest.mark.parametrize(
        "failure",
        [
            {"exception": aiohttp.ServerDisconnectedError()},
            {"exception": TimeoutError()},
            {"exception": aiohttp.ClientPayloadError("truncated")},
            {"status": 502, "body": ""},
            {"status": 504, "body": ""},
            {"status": 500, "body": ""},
            {"status": 408, "body": ""},
        ],
    )
    async def test_unknown_outcome_found_applied(
        self, http: LeafMock, leaf: lc.LeafSession, failure: dict[str, Any]
    ) -> None:
        """When the outcome is unknown and the GET finds the credential, it is the result."""
        http.post(SENTERA_URL, **failure)
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        record = await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert SENTERA_ANSWER["id"] == record.id
        assert (1, 1) == counts(http)

    async def test_unknown_outcome_not_applied_is_retried(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """When the GET finds nothing, the create is sent again, once."""
        http.post(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.get(SENTERA_URL, status=404, body="")
        http.post(SENTERA_URL, payload=SENTERA_ANSWER, status=201)

        await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert (2, 1) == counts(http)

    async def test_someone_elses_credential_is_not_ours(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A stored credential with other values means ours was not applied: retry, get the 409."""
        http.post(SENTERA_URL, status=502, body="")
        http.get(SENTERA_URL, payload={**SENTERA_ANSWER, "username": "someone-else"})
        http.post(SENTERA_URL, status=409, body="")

        with pytest.raises(lc.ConflictError):
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert (2, 1) == counts(http)

    async def test_unknown_outcome_undecidable(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """When the GET cannot tell either, OutcomeUnknownError says what to check."""
        http.post(SENTERA_URL, status=502, body="")
        http.get(SENTERA_URL, status=500, body="", repeat=True)

        with pytest.raises(lc.OutcomeUnknownError) as info:
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        error = info.value
        assert isinstance(error, lc.LeafError)
        assert ("sentera", "u1", 1) == (error.provider, error.user_id, error.attempts)
        assert "get('sentera', 'u1')" in str(error)
        assert isinstance(error.__cause__, lc.ServerError)
        assert (1, 4) == counts(http)

    async def test_unknown_outcome_on_the_last_attempt_is_still_checked(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Even with no retries left, a create that may have landed is looked up."""
        http.post(SENTERA_URL, status=503, body="", repeat=3)
        http.post(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        record = await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert "OK" == record.status
        assert (4, 1) == counts(http)

    async def test_final_failure_when_known_not_applied(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Out of retries and known not applied: the last error is raised."""
        http.post(SENTERA_URL, status=504, body="", repeat=True)
        http.get(SENTERA_URL, status=404, body="", repeat=True)

        with pytest.raises(lc.ServerError) as info:
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert 4 == info.value.attempts
        assert (4, 4) == counts(http)

    @pytest.mark.parametrize("status", [400, 409, 422])
    async def test_client_errors_are_final(
        self, http: LeafMock, leaf: lc.LeafSession, status: int
    ) -> None:
        """A 4xx answer to a create is final: no retry, no GET."""
        http.post(SENTERA_URL, status=status, body="")

        with pytest.raises(lc.APIError):
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        assert (1, 0) == counts(http)

    async def test_retried_create_sends_the_same_body(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Every attempt of a create carries the same JSON."""
        http.post(SENTERA_URL, status=503, body="")
        http.post(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        first, second = sent(http, "POST", SENTERA_URL)
        assert json.loads(first.kwargs["data"]) == json.loads(second.kwargs["data"])


class TestVisibility:
    async def test_each_retry_is_logged(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """One DEBUG line per retry says which retry it is and why."""
        caplog.set_level(logging.DEBUG, logger="leaf_creds")
        http.get(SENTERA_URL, status=503, body="")
        http.get(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.get(lc.SENTERA, "u1")

        retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
        assert 2 == len(retries)
        assert "retry 1/3" in retries[0]
        assert "ServerError 503" in retries[0]
        assert "retry 2/3" in retries[1]
        assert "TransportError" in retries[1]
        assert "bearer-token-value" not in caplog.text


class TestUnreadableRetryAfter:
    @pytest.mark.parametrize(
        "headers",
        [{"Retry-After": "soon"}, {"retry-after-ms": "x"}, {"Retry-After": "Mon, 99 Foo"}],
    )
    async def test_falls_back_to_backoff(
        self, http: LeafMock, leaf: lc.LeafSession, headers: dict[str, str]
    ) -> None:
        """An unreadable Retry-After is ignored and the normal backoff applies."""
        http.get(SENTERA_URL, status=503, headers=headers, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.get(lc.SENTERA, "u1")

        assert 2 == len(sent(http, "GET", SENTERA_URL))

    async def test_transport_error_message(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A transport error names the request and how many attempts were made."""
        http.get(SENTERA_URL, exception=aiohttp.ServerDisconnectedError(), repeat=True)

        with pytest.raises(lc.TransportError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert (
            f"connection failed: ServerDisconnectedError (GET {SENTERA_URL}) (after 4 attempts)"
            == str(info.value)
        )
