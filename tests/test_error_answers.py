"""What an error answer turns into, field by field, and what is and is not retried.

These pin the exact shape of errors and waits so that a changed constant or a
dropped branch in _http.py, _retry.py or _resource.py is noticed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import LeafMock, sent
from tests.helpers import FAILING_RETRY, SENTERA_URL, failed_sentera_get

NO_RETRY = lc.RetryPolicy(max_retries=0)
FAST = lc.RetryPolicy(max_retries=3, backoff_base=0, backoff_max=0)


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


async def failed_get(leaf: lc.LeafSession) -> lc.APIError:
    with pytest.raises(lc.APIError) as info:
        await leaf.get(lc.SENTERA, "u1")
    return info.value


class TestErrorBody:
    async def test_plain_text_body_is_kept_as_text(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A plain-text 500 is the text itself, in the message and in `body`, and nothing else."""
        http.get(SENTERA_URL, status=500, body="upstream exploded")

        error = await failed_get(leaf)

        assert f"500 from GET {SENTERA_URL}: upstream exploded" == str(error)
        assert "upstream exploded" == error.body
        assert (None, None, None, None, None) == (
            error.title,
            error.detail,
            error.message,
            error.error_key,
            error.type,
        )

    async def test_problem_json_fills_fields_not_body(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Problem JSON goes to its fields, `type` included, and `body` stays None."""
        http.get(
            SENTERA_URL,
            status=400,
            payload={
                "type": "https://www.jhipster.tech/problem/problem-with-message",
                "title": "Bad Request",
                "detail": "organizationName is required",
                "errorKey": "badreq",
            },
        )

        error = await failed_get(leaf)

        assert "https://www.jhipster.tech/problem/problem-with-message" == error.type
        assert "Bad Request" == error.title
        assert "organizationName is required" == error.detail
        assert "badreq" == error.error_key
        assert None is error.body
        assert (
            f"400 from GET {SENTERA_URL}: Bad Request; organizationName is required; "
            "errorKey=badreq"
        ) == str(error)

    async def test_non_string_problem_fields_become_json_text(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A problem field that is not a string is shown as its JSON text."""
        http.get(SENTERA_URL, status=400, payload={"title": "Bad", "detail": {"code": 7}})

        error = await failed_get(leaf)

        assert '{"code": 7}' == error.detail

    async def test_empty_body(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An empty error body leaves every field None and the message bare."""
        http.get(SENTERA_URL, status=502, body="")

        error = await failed_get(leaf)

        assert None is error.body
        assert f"502 from GET {SENTERA_URL}" == str(error)

    async def test_non_utf8_body_is_read_with_replacement(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A body that is not UTF-8 is still shown, with replacement characters."""
        http.get(SENTERA_URL, status=500, body=b"caf\xe9 closed")

        error = await failed_get(leaf)

        assert "caf\ufffd closed" == error.body

    async def test_long_text_is_cut_at_500_characters(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A long plain-text body is kept to its first 500 characters."""
        http.get(SENTERA_URL, status=500, body="x" * 499 + "yz" + "w" * 1000)

        error = await failed_get(leaf)

        assert "x" * 499 + "y" == error.body

    async def test_non_object_json_is_raw_text(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A JSON value that is not an object is kept as raw text, not as problem fields."""
        http.get(SENTERA_URL, status=500, body='["a", "b"]')

        error = await failed_get(leaf)

        assert '["a", "b"]' == error.body
        assert None is error.title


class TestRequestId:
    @pytest.mark.parametrize(
        "header", ["X-Request-Id", "X-Amzn-RequestId", "X-Amz-Request-Id", "X-Correlation-Id"]
    )
    async def test_each_header_is_read(
        self, http: LeafMock, leaf: lc.LeafSession, header: str
    ) -> None:
        """Each request-id header Leaf's gateway or a proxy may send is read."""
        http.get(SENTERA_URL, status=500, body="", headers={header: "rid-1"})

        error = await failed_get(leaf)

        assert "rid-1" == error.request_id
        assert str(error).endswith("request id rid-1")

    async def test_first_present_header_wins(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """With several request-id headers, the first in the documented order wins."""
        http.get(
            SENTERA_URL,
            status=500,
            body="",
            headers={
                "X-Correlation-Id": "corr",
                "X-Amzn-RequestId": "amzn",
                "X-Amz-Request-Id": "amz",
            },
        )

        error = await failed_get(leaf)

        assert "amzn" == error.request_id

    async def test_no_header_no_id(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Without a request-id header the error has none."""
        http.get(SENTERA_URL, status=500, body="")

        error = await failed_get(leaf)

        assert None is error.request_id


class TestRetryAfter:
    """The wait a 503 asks for, as read into `APIError.retry_after`."""

    @staticmethod
    async def wait(http: LeafMock, leaf: lc.LeafSession, headers: dict[str, str]) -> float | None:
        http.get(SENTERA_URL, status=503, body="", headers=headers)
        error = await failed_get(leaf)
        return error.retry_after

    async def test_milliseconds_exact(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """retry-after-ms is read as milliseconds, exactly."""
        assert 0.25 == await self.wait(http, leaf, {"retry-after-ms": "250"})

    async def test_milliseconds_win_over_seconds(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """retry-after-ms is read before Retry-After."""
        assert 0.5 == await self.wait(http, leaf, {"retry-after-ms": "500", "Retry-After": "9"})

    async def test_unreadable_milliseconds_fall_back_to_seconds(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An unreadable retry-after-ms falls back to Retry-After, spaces trimmed."""
        assert 4.0 == await self.wait(http, leaf, {"retry-after-ms": "soon", "Retry-After": " 4 "})

    @pytest.mark.parametrize("header", ["Retry-After", "retry-after-ms"])
    async def test_negative_is_now(
        self, http: LeafMock, leaf: lc.LeafSession, header: str
    ) -> None:
        """A negative wait means now."""
        assert 0.0 == await self.wait(http, leaf, {header: "-3"})

    async def test_future_date(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An HTTP date is the seconds from now until then."""
        then = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)

        wait = await self.wait(http, leaf, {"Retry-After": then})

        assert wait is not None
        assert 115 <= wait <= 120

    async def test_past_date_is_now(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An HTTP date in the past means now, not a negative wait."""
        past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)

        assert 0.0 == await self.wait(http, leaf, {"Retry-After": past})

    async def test_date_without_zone_is_ignored(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An HTTP date with no time zone cannot be placed in time, so it is ignored."""
        headers = {"Retry-After": "Wed, 02 Dec 2026 18:00:00 -0000"}

        assert None is await self.wait(http, leaf, headers)

    async def test_absent(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """No header, no wait."""
        assert None is await self.wait(http, leaf, {})


class TestBackoffDefaults:
    def test_default_ceilings(self) -> None:
        """By default backoff starts at 0.5 s and caps at 30 s; Retry-After caps at 60 s."""
        policy = lc.RetryPolicy()

        assert (0.5, 30.0, 60.0) == (
            policy.backoff_base,
            policy.backoff_max,
            policy.retry_after_max,
        )

    def test_ceiling_is_reached_not_passed(self) -> None:
        """The default backoff reaches its 30 s cap by the seventh retry and stays there."""
        policy = lc.RetryPolicy()

        waits = [policy.backoff(7) for _ in range(500)]

        assert max(waits) <= 30.0
        assert max(waits) > 20.0
        assert max(policy.backoff(1) for _ in range(500)) <= 0.5


class TestWhatIsRetried:
    @pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505])
    async def test_status_outside_the_retried_set_is_not_retried(
        self, http: LeafMock, status: int
    ) -> None:
        """A status outside 408, 429, 500, 502, 503, 504 is raised after one attempt."""
        http.get(SENTERA_URL, status=status, body="", repeat=True)

        async with lc.LeafSession(token="bearer-token-value", retry=FAST) as leaf:
            with pytest.raises(lc.APIError) as info:
                await leaf.get(lc.SENTERA, "u1")

        assert status == info.value.status
        assert 1 == info.value.attempts
        assert 1 == len(sent(http, "GET", SENTERA_URL))

    @pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
    async def test_retried_statuses(self, http: LeafMock, status: int) -> None:
        """Each of the retried statuses gets another attempt on a GET."""
        http.get(SENTERA_URL, status=status, body="")
        http.get(SENTERA_URL, status=404, body="")

        async with lc.LeafSession(token="bearer-token-value", retry=FAST) as leaf:
            with pytest.raises(lc.NotFoundError) as info:
                await leaf.get(lc.SENTERA, "u1")

        assert 2 == info.value.attempts


# What mutation testing found unpinned in reading answers (_http.py): each test
# kills mutants that survived the module's other tests, named in its comment.
class TestErrorAnswers:
    async def test_problem_json_after_blank_lines(self, http: LeafMock) -> None:
        """Problem JSON preceded by blank lines is still read as problem JSON."""
        # Kills text.lstrip() turned into text.rstrip().
        http.get(SENTERA_URL, status=400, body='\n  {"title": "Bad Request", "detail": "no"}')

        error = await failed_sentera_get(http, lc.BadRequestError)

        assert ("Bad Request", "no", None) == (error.title, error.detail, error.body)

    async def test_leaf_rate_limit_body_names_the_error(self, http: LeafMock) -> None:
        """Leaf's 429 body {"error", "message", "status_code"} gives the error's title."""
        # Kills field("error") changed to field(None), field("XXerrorXX") or field("ERROR").
        body = {"error": "Too Many Requests", "message": "Rate limit exceeded", "status_code": 429}
        http.get(SENTERA_URL, status=429, payload=body)

        error = await failed_sentera_get(http, lc.RateLimitError)

        assert "Too Many Requests" == error.title
        assert f"429 from GET {SENTERA_URL}: Too Many Requests; Rate limit exceeded" == str(error)

    async def test_title_wins_over_error(self, http: LeafMock) -> None:
        """When a body has both, `title` is the title and `error` is not shown."""
        http.get(SENTERA_URL, status=400, payload={"title": "Bad Request", "error": "other"})

        error = await failed_sentera_get(http, lc.BadRequestError)

        assert "Bad Request" == error.title
        assert "other" not in str(error)

    async def test_field_too_deep_to_show_is_summed_up(self, http: LeafMock) -> None:
        """A problem field parsed but too deep to show again is named by its JSON type."""
        # Kills type(value) changed to type(None) in the summary ("a JSON NoneType").
        # Somewhere in this range parsing still fits under the recursion limit
        # and dumping the field a few frames deeper does not.
        details = set()
        async with lc.LeafSession(token="bearer-token-value", retry=FAILING_RETRY) as leaf:
            for depth in range(400, 1100, 2):
                nested = "[" * depth + "]" * depth
                http.get(SENTERA_URL, status=400, body='{"detail": ' + nested + "}")
                with pytest.raises(lc.BadRequestError) as info:
                    await leaf.get(lc.SENTERA, "u1")
                details.add(info.value.detail)
                if "(a JSON list nested too deeply to show)" in details:
                    break

        assert "(a JSON list nested too deeply to show)" in details
