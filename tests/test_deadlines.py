"""The transport's total timeout, kept by one timer for all requests in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

import leaf_creds as lc

ANSWER = {"id": "c1", "status": "OK", "username": "grower"}


@pytest.fixture
async def slow() -> AsyncIterator[str]:
    """Serve answers that take as long as the path says: /wait/{seconds}/..."""

    async def handler(request: web.Request) -> web.StreamResponse:
        delay = float(request.match_info["seconds"])
        if request.match_info["how"] == "body":
            # Headers at once, then a body that trickles in.
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            await response.prepare(request)
            await response.write(b'{"id": "c1", ')
            await asyncio.sleep(delay)
            await response.write(b'"status": "OK"}')
            return response
        await asyncio.sleep(delay)
        return web.json_response(ANSWER)

    app = web.Application()
    app.router.add_get("/wait/{seconds}/{how}/{tail:.*}", handler)
    runner = web.AppRunner(app, handler_cancellation=True)  # a client gone ends its handler
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def session(base: str, seconds: float, how: str = "head") -> lc.LeafSession:
    """A session whose requests all wait `seconds` at the slow server."""
    return lc.LeafSession(
        token="t", base_url=f"{base}/wait/{seconds}/{how}", retry=lc.RetryPolicy(max_retries=0)
    )


class TestTotalTimeout:
    @pytest.mark.parametrize("how", ["head", "body"])
    async def test_a_slow_answer_times_out_on_time(self, slow: str, how: str) -> None:
        """An answer slower than the timeout raises RequestTimeoutError soon after it."""
        async with session(slow, 5, how) as leaf:
            started = time.monotonic()
            with pytest.raises(lc.RequestTimeoutError, match=r"no complete answer within 0\.2s"):
                await leaf.get(lc.SENTERA, "u1", timeout=0.2)
            took = time.monotonic() - started

        assert 0.2 <= took < 1.5

    async def test_a_timeout_leaves_no_cancellation_behind(self, slow: str) -> None:
        """After a timeout, the caller's task is not cancelled and goes on awaiting."""
        async with session(slow, 5) as leaf:
            with pytest.raises(lc.RequestTimeoutError):
                await leaf.get(lc.SENTERA, "u1", timeout=0.1)
            task = asyncio.current_task()
            assert task is not None
            assert 0 == task.cancelling()
            await asyncio.sleep(0.05)  # would raise CancelledError if one were pending

    async def test_fast_answers_are_not_cut_by_an_earlier_deadline(self, slow: str) -> None:
        """Answers within their own timeout succeed while a shorter one expires beside them."""
        async with session(slow, 0.3) as leaf:
            short = asyncio.create_task(leaf.get(lc.SENTERA, "u1", timeout=0.1))
            long = [asyncio.create_task(leaf.get(lc.SENTERA, f"u{i}", timeout=5)) for i in range(5)]
            results = await asyncio.gather(short, *long, return_exceptions=True)

        assert isinstance(results[0], lc.RequestTimeoutError)
        assert ["OK"] * 5 == [getattr(r, "status", r) for r in results[1:]]

    async def test_a_callers_cancellation_stays_a_cancellation(self, slow: str) -> None:
        """Cancelling the caller's task raises CancelledError, never a timeout."""
        async with session(slow, 5) as leaf:
            call = asyncio.create_task(leaf.get(lc.SENTERA, "u1", timeout=10))
            await asyncio.sleep(0.1)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call

    async def test_a_retried_attempt_gets_a_deadline_of_its_own(self, slow: str) -> None:
        """Each attempt has the whole timeout: two attempts of 0.2s take about 0.4s."""
        leaf = lc.LeafSession(
            token="t", base_url=f"{slow}/wait/5/head",
            retry=lc.RetryPolicy(max_retries=1, backoff_base=0),
        )  # fmt: skip
        async with leaf:
            started = time.monotonic()
            with pytest.raises(lc.RequestTimeoutError) as info:
                await leaf.get(lc.SENTERA, "u1", timeout=0.2)
            took = time.monotonic() - started

        assert 2 == info.value.attempts
        assert 0.4 <= took < 2.0
