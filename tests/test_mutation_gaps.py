"""What mutation testing found unpinned in reading answers (_http.py).

Each test here kills mutants that survived the module's other tests: a
changed message, a dropped keyword argument, a flipped condition. The mutant
each one kills is named in its comment; the README's Development section says
how to run mutmut and read its results.
"""

from __future__ import annotations

from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import LeafMock
from tests.helpers import SENTERA_URL

NO_RETRY = lc.RetryPolicy(max_retries=0, rate_limit_max_wait=0)


async def failed_get(http: LeafMock, error: type[lc.LeafError] = lc.DecodeError, **kw: Any) -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY, **kw) as leaf:
        with pytest.raises(error) as info:
            await leaf.get(lc.SENTERA, "u1")
    return info.value


class TestUnreadableSuccess:
    async def test_nested_too_deeply(self, http: LeafMock) -> None:
        """A 2xx nested past the recursion limit says so, with its size, method, URL and status."""
        # Kills any argument of its _not_json(...) call changed, dropped or reworded.
        deep = b"[" * 20_000 + b"]" * 20_000
        http.get(SENTERA_URL, body=deep)

        error = await failed_get(http)

        assert (
            f"200 from GET {SENTERA_URL} is JSON nested too deeply to parse (40000 bytes)"
        ) == str(error)
        assert ("GET", SENTERA_URL, 200) == (error.method, error.url, error.status)

    async def test_not_json(self, http: LeafMock) -> None:
        """A 2xx that is not JSON says so, with its size, method, URL and status."""
        # Kills the default `what` of _not_json reworded and method=None in either call.
        http.get(SENTERA_URL, body=b"<html>oops</html>")

        error = await failed_get(http)

        assert f"200 from GET {SENTERA_URL} is not JSON (17 bytes)" == str(error)
        assert ("GET", SENTERA_URL, 200) == (error.method, error.url, error.status)

    @pytest.mark.parametrize("body", [b"", b" \r\n\t"])
    async def test_empty_is_no_value_not_broken_json(self, http: LeafMock, body: bytes) -> None:
        """An empty or blank 2xx is read as no value (not an object), not as broken JSON."""
        # Kills `not body or body.isspace()` turned into `and`: b"" would then be
        # handed to json.loads and reported as "is not JSON".
        http.get(SENTERA_URL, body=body)

        error = await failed_get(http)

        assert f"200 from GET {SENTERA_URL}: expected a JSON object" == str(error)

    async def test_too_large(self, http: LeafMock) -> None:
        """A 2xx past max_response_bytes names the limit and keeps method, URL, status, limit."""
        # Kills the message replaced by None and each keyword argument set to None or dropped.
        http.get(SENTERA_URL, body=b'["' + b"a" * 20_000 + b'"]')

        error = await failed_get(http, lc.ResponseTooLargeError, max_response_bytes=10_000)

        assert (
            f"200 from GET {SENTERA_URL} is longer than max_response_bytes "
            "(10000 bytes); it was not read"
        ) == str(error)
        assert ("GET", SENTERA_URL, 200, 10_000) == (
            error.method,
            error.url,
            error.status,
            error.limit,
        )


class TestErrorAnswers:
    async def test_problem_json_after_blank_lines(self, http: LeafMock) -> None:
        """Problem JSON preceded by blank lines is still read as problem JSON."""
        # Kills text.lstrip() turned into text.rstrip().
        http.get(SENTERA_URL, status=400, body='\n  {"title": "Bad Request", "detail": "no"}')

        error = await failed_get(http, lc.BadRequestError)

        assert ("Bad Request", "no", None) == (error.title, error.detail, error.body)

    async def test_leaf_rate_limit_body_names_the_error(self, http: LeafMock) -> None:
        """Leaf's 429 body {"error", "message", "status_code"} gives the error's title."""
        # Kills field("error") changed to field(None), field("XXerrorXX") or field("ERROR").
        body = {"error": "Too Many Requests", "message": "Rate limit exceeded", "status_code": 429}
        http.get(SENTERA_URL, status=429, payload=body)

        error = await failed_get(http, lc.RateLimitError)

        assert "Too Many Requests" == error.title
        assert f"429 from GET {SENTERA_URL}: Too Many Requests; Rate limit exceeded" == str(error)

    async def test_title_wins_over_error(self, http: LeafMock) -> None:
        """When a body has both, `title` is the title and `error` is not shown."""
        http.get(SENTERA_URL, status=400, payload={"title": "Bad Request", "error": "other"})

        error = await failed_get(http, lc.BadRequestError)

        assert "Bad Request" == error.title
        assert "other" not in str(error)

    async def test_field_too_deep_to_show_is_summed_up(self, http: LeafMock) -> None:
        """A problem field parsed but too deep to show again is named by its JSON type."""
        # Kills type(value) changed to type(None) in the summary ("a JSON NoneType").
        # Somewhere in this range parsing still fits under the recursion limit
        # and dumping the field a few frames deeper does not.
        details = set()
        async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as leaf:
            for depth in range(400, 1100, 2):
                nested = "[" * depth + "]" * depth
                http.get(SENTERA_URL, status=400, body='{"detail": ' + nested + "}")
                with pytest.raises(lc.BadRequestError) as info:
                    await leaf.get(lc.SENTERA, "u1")
                details.add(info.value.detail)
                if "(a JSON list nested too deeply to show)" in details:
                    break

        assert "(a JSON list nested too deeply to show)" in details


class TestShortSecrets:
    async def test_a_short_secret_as_a_whole_value_is_masked(self, http: LeafMock) -> None:
        """A 3-character secret that is the whole value of a problem field is masked."""
        # Kills mask_secrets(parsed) called without secrets=: by value alone a
        # secret under 4 characters is masked only inside quotes.
        http.post(SENTERA_URL, status=400, payload={"title": "Bad", "detail": "pw1"})
        body = {"username": "grower", "password": "pw1", "organizationName": "Acme"}

        async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as leaf:
            with pytest.raises(lc.BadRequestError) as info:
                await leaf.create(lc.SENTERA, "u1", body)

        assert "***" == info.value.detail
        assert "pw1" not in str(info.value)

    async def test_a_problem_too_deep_to_mask_whole_keeps_its_other_fields(
        self, http: LeafMock
    ) -> None:
        """A problem masked field by field still shows a shallow field and masks a short secret."""
        # Kills, in the field-by-field masking: the request's secrets dropped
        # (secrets=None or left out) and `item == MASK and ...` turned into
        # `or` (or the summary made unconditional), which sums up every field.
        body = {"username": "grower", "password": "pw1", "organizationName": "Acme"}
        seen = []
        async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as leaf:
            for depth in range(400, 1100, 2):
                nested = "[" * depth + "]" * depth
                answer = '{"title": {"a": 1}, "detail": "pw1", "message": ' + nested + "}"
                http.post(SENTERA_URL, status=400, body=answer)
                with pytest.raises(lc.BadRequestError) as info:
                    await leaf.create(lc.SENTERA, "u1", body)
                seen.append(info.value)
                if info.value.message == "(a JSON list nested too deeply to show)":
                    break

        error = seen[-1]
        assert "(a JSON list nested too deeply to show)" == error.message
        assert ('{"a": 1}', "***") == (error.title, error.detail)
