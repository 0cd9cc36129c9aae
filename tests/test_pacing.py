"""Tests of the session's pacing after Leaf's 429s, and of the fake's rate limit."""

from __future__ import annotations

import asyncio
import collections
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf, RateLimit

SENTERA_BODY = {"username": "grower", "password": "hunter2-secret", "organizationName": "Acme"}
LEAF_MESSAGE = (
    "You have exceeded the maximum allowed requests of 1 per minute. "
    "Please reduce your request rate and try again after a short delay."
)


def statuses(fake: FakeLeaf) -> collections.Counter[int | None]:
    """Count the statuses the fake answered."""
    return collections.Counter(entry.status for entry in fake.requests)


async def gets(leaf: lc.LeafSession, user_ids: list[str], concurrency: int) -> list[lc.Outcome]:
    """Run one bulk Get per user id; return every outcome."""
    operations = [lc.Get(lc.SENTERA, user_id) for user_id in user_ids]
    async with aclosing(leaf.bulk(operations, concurrency=concurrency)) as outcomes:
        return [outcome async for outcome in outcomes]


class Bucket:
    """A server that is all token bucket: Leaf's 429 past it, else a 404 (no such user).

    ``per_second`` requests a second, ``burst`` at once; a 429 says
    ``Retry-After: retry_after`` when that is set (FakeLeaf's limit never
    does, as Leaf probably never does). ``answers`` holds (arrival on the
    monotonic clock, status) of every request.
    """

    def __init__(self, per_second: float, burst: int, retry_after: int | None = None) -> None:
        self.per_second, self.capacity, self.retry_after = per_second, float(burst), retry_after
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.answers: list[tuple[float, int]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        if self.tokens < 1.0:
            self.answers.append((now, 429))
            headers = {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}
            body = {"error": "Request limit exceeded", "message": LEAF_MESSAGE, "status_code": 429}
            return web.json_response(body, status=429, headers=headers)
        self.tokens -= 1.0
        self.answers.append((now, 404))
        problem = {"title": "Not Found", "status": 404}
        return web.Response(
            status=404, text=json.dumps(problem), content_type="application/problem+json"
        )

    def count(self, status: int, after: float = 0.0) -> int:
        """Count the answers of ``status`` given ``after`` seconds from the first or later."""
        first = self.answers[0][0]
        return sum(1 for at, code in self.answers if code == status and at - first >= after)


@asynccontextmanager
async def bucket(
    per_second: float, burst: int, retry_after: int | None = None
) -> AsyncIterator[Bucket]:
    """Serve a :class:`Bucket` on 127.0.0.1 for the block."""
    limited = Bucket(per_second, burst, retry_after)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", limited.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    limited.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield limited
    finally:
        await runner.cleanup()


def not_found_only(outcomes: list[lc.Outcome]) -> list[str]:
    """Return the errors that are not the bucket's 404 (a RateLimitError, say)."""
    return [repr(o.error) for o in outcomes if not isinstance(o.error, lc.NotFoundError)]


class TestLeafsAnswer:
    async def test_429_body_becomes_rate_limit_error_with_its_message(self) -> None:
        """Leaf's {"error", "message", "status_code"} 429 is a RateLimitError with its message."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0)
        async with FakeLeaf(rate_limit=RateLimit(per_minute=1)) as fake:
            user = fake.add_user()
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                with pytest.raises(lc.RateLimitError) as info:
                    await leaf.get(lc.SENTERA, user.id)

        assert (429, LEAF_MESSAGE, "Request limit exceeded") == (
            info.value.status,
            info.value.message,
            info.value.title,
        )
        assert LEAF_MESSAGE in str(info.value)

    async def test_fake_answers_leafs_body(self) -> None:
        """The fake's 429 is Leaf's JSON body, not problem JSON."""
        import aiohttp

        limit = RateLimit(per_minute=1)
        async with FakeLeaf(rate_limit=limit) as fake, aiohttp.ClientSession() as http:
            await (await http.get(fake.url + "/api/anything")).read()
            async with http.get(fake.url + "/api/anything") as response:
                body = await response.json()
                kind = response.content_type

        assert ("application/json", {"error", "message", "status_code"}) == (kind, set(body))
        assert (429, "Request limit exceeded") == (body["status_code"], body["error"])


class TestPacedResends:
    async def test_429s_do_not_spend_fault_retries(self) -> None:
        """A GET answered 429 five times succeeds with max_retries=1: pacing is not a fault."""
        policy = lc.RetryPolicy(max_retries=1)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            fake.faults.add(status=429, times=5)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                outcome = (await gets(leaf, [user.id], 1))[0]

        assert (True, 6) == (outcome.ok, outcome.attempts)

    async def test_a_fault_after_429s_still_has_its_retries(self) -> None:
        """After 429s, a 503 is still retried max_retries times."""
        policy = lc.RetryPolicy(max_retries=1, backoff_base=0)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            fake.faults.add(status=429, times=3)
            fake.faults.add(status=503, times=1)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                record = await leaf.get(lc.SENTERA, user.id)

        assert "OK" == record.status
        assert [429, 429, 429, 503, 200] == [entry.status for entry in fake.requests]

    async def test_a_create_answered_429_is_sent_again_and_applied_once(self) -> None:
        """429 says "not processed", so a POST is resent even with max_retries=0."""
        policy = lc.RetryPolicy(max_retries=0)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(method="POST", status=429, times=2)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                record = await leaf.create(lc.SENTERA, user.id, SENTERA_BODY)

        assert 3 == fake.count("POST", "/sentera-credentials")
        assert record.id == (fake.credential(user.id, lc.SENTERA) or {}).get("id")

    async def test_the_wait_is_bounded_by_rate_limit_max_wait(self) -> None:
        """A request that keeps meeting 429 fails with RateLimitError once its wait is over."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0.3)
        async with FakeLeaf(rate_limit=RateLimit(per_minute=1)) as fake:
            user = fake.add_user()
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                with pytest.raises(lc.RateLimitError) as info:
                    await leaf.get(lc.SENTERA, user.id)

        assert info.value.attempts > 1
        assert info.value.attempts == statuses(fake)[429]

    async def test_a_turn_past_the_wait_is_not_awaited(self) -> None:
        """A Retry-After beyond rate_limit_max_wait raises the 429 without sleeping on it."""
        policy = lc.RetryPolicy(rate_limit_max_wait=5)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=429, retry_after=30)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.RateLimitError) as info:
                    await leaf.get(lc.SENTERA, user.id)

        assert (30.0, 1) == (info.value.retry_after, len(fake.requests))

    async def test_zero_wait_raises_the_first_429(self) -> None:
        """rate_limit_max_wait=0 raises the first 429 without sending again."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=429)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.RateLimitError) as info:
                    await leaf.get(lc.SENTERA, user.id)

        assert (1, 1) == (info.value.attempts, len(fake.requests))

    async def test_a_long_retry_after_still_raises_at_once(self) -> None:
        """A 429 asking for more than retry_after_max is raised at once, as before."""
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=429, retry_after=3600)
            async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                with pytest.raises(lc.RateLimitError) as info:
                    await leaf.get(lc.SENTERA, user.id)

        assert (3600.0, 1) == (info.value.retry_after, len(fake.requests))


class TestConvergence:
    async def test_a_bulk_job_settles_under_the_limit(self) -> None:
        """At concurrency 32 against 100 requests/s, every operation succeeds and few meet a 429."""
        async with FakeLeaf(rate_limit=RateLimit(per_second=100, burst=10)) as fake:
            users = [fake.add_user().id for _ in range(300)]
            async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                outcomes = await gets(leaf, users, 32)
                pacer: Any = leaf.transport.pacer

        counts = statuses(fake)
        assert [] == [o for o in outcomes if not isinstance(o.error, lc.NotFoundError)]
        assert 300 == counts[404]
        # Unpaced, about two requests in three would be refused here, and
        # lines would fail; paced, most 429s are the first burst's.
        assert counts[429] <= 0.3 * sum(counts.values()), counts
        assert pacer.engaged

    async def test_every_kind_of_call_is_paced(self) -> None:
        """Listing users goes through the same pacing as the credential calls."""
        async with FakeLeaf(rate_limit=RateLimit(per_second=20, burst=2)) as fake:
            for _ in range(3):
                fake.add_user()
            async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                listed = [[user.id async for user in leaf.users(size=1)] for _ in range(4)]

        assert [3, 3, 3, 3] == [len(ids) for ids in listed]
        assert 0 < statuses(fake)[429]


class TestRidingTheLimit:
    async def test_a_job_at_a_limit_it_found_meets_few_429s(self) -> None:
        """1,000 GETs at concurrency 64 against 100/s, burst 10: under 7.5% answered 429.

        Sent freely, the first requests meet the limit at once; then the
        session paces. The second flight of free requests (sent as the first
        answers came back, before the 429s did) is not sent, and once the
        limit is known the rate stays just under it between probes, rather
        than probing back into a 429 every second or so (about 9% and 8
        429s after the first second before).
        """
        async with (
            bucket(100, 10) as limited,
            lc.LeafSession(token="t", base_url=limited.url) as leaf,
        ):
            outcomes = await gets(leaf, [f"user-{n}" for n in range(1000)], 64)

        refused = limited.count(429)
        assert [] == not_found_only(outcomes)
        # A sanity bound on a shared machine's real clock (the old pacer's
        # 9% passes it too): the target, at most 1%, is bench/ratelimit.py's,
        # and the probing is pinned in virtual time in test_pacing_unit.py.
        assert refused <= 0.15 * len(limited.answers), (refused, len(limited.answers))
        # How few 429s the probing itself costs once the limit is known is
        # pinned in virtual time (test_pacing_unit.py): counted here, on a
        # shared machine's real clock, an event loop woken late sends a burst.


class TestRetryAfter:
    async def test_a_retry_after_does_not_stop_the_learning(self) -> None:
        """300 GETs, 100/s, burst 10, Retry-After: 1: done in seconds, not half a minute.

        Before, each hold let the curve regrow, the next cut started from
        the regrown rate, and a burst met a 429 (and a hold) every second:
        11 requests/s, and 109 429s.
        """
        started = time.monotonic()
        async with (
            bucket(100, 10, retry_after=1) as limited,
            lc.LeafSession(token="t", base_url=limited.url) as leaf,
            asyncio.timeout(25),
        ):
            outcomes = await gets(leaf, [f"user-{n}" for n in range(300)], 32)
        elapsed = time.monotonic() - started

        assert [] == not_found_only(outcomes)
        # Bounds a loaded machine keeps (the first flight alone meets about
        # 24 429s); the old pacer took 30 s and more, and met 109.
        assert elapsed < 20.0
        assert limited.count(429) <= 80

    async def test_sessions_held_together_keep_going(self) -> None:
        """Eight sessions on 40/s, burst 2, Retry-After: 1: all done, under one 429 per success.

        Before, they fell to about 2 requests/s, three or four 429s per
        success, and would have ended in RateLimitError.
        """

        async def one(url: str, number: int) -> list[lc.Outcome]:
            async with lc.LeafSession(token="t", base_url=url) as leaf:
                return await gets(leaf, [f"user-{number}-{n}" for n in range(10)], 8)

        async with bucket(40, 2, retry_after=1) as limited, asyncio.timeout(40):
            results = await asyncio.gather(*(one(limited.url, k) for k in range(8)))

        assert [] == not_found_only([o for outcomes in results for o in outcomes])
        assert limited.count(429) < limited.count(404)


class TestCeiling:
    async def test_rate_limit_keeps_below_the_servers_limit(self) -> None:
        """With rate_limit below the fake's limit, nothing is ever answered 429."""
        async with FakeLeaf(rate_limit=RateLimit(per_second=40, burst=3)) as fake:
            users = [fake.add_user().id for _ in range(30)]
            async with lc.LeafSession(token=fake.token, base_url=fake.url, rate_limit=25) as leaf:
                outcomes = await gets(leaf, users, 16)

        assert 30 == len(outcomes)
        assert 0 == statuses(fake)[429]
        assert 25.0 == leaf.rate_limit

    async def test_429s_under_a_ceiling_are_waited_out(self) -> None:
        """A session with a ceiling still slows down, and resends, after a 429."""
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            fake.faults.add(status=429, times=3)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, rate_limit=500) as leaf:
                record = await leaf.get(lc.SENTERA, user.id)

        assert "OK" == record.status
        assert 4 == len(fake.requests)

    async def test_no_ceiling_by_default(self) -> None:
        """A session has no ceiling unless given one."""
        async with lc.LeafSession(token="t") as leaf:
            assert leaf.rate_limit is None

    @pytest.mark.parametrize("value", [0, -1, True, "10", float("inf"), float("nan")])
    def test_bad_rate_limit_is_refused(self, value: Any) -> None:
        """rate_limit must be a positive, finite number."""
        with pytest.raises(lc.ValidationError, match="rate_limit"):
            lc.LeafSession(token="t", rate_limit=value)


class TestFakeRateLimit:
    async def test_one_budget_for_every_client(self) -> None:
        """Two sessions with different tokens spend the one budget of the fake."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0)
        async with FakeLeaf(rate_limit=RateLimit(per_minute=2)) as fake:
            user = fake.add_user()
            other = fake.issue_token(subject="someone@example.com")
            for token in (fake.token, other):
                async with lc.LeafSession(token=token, base_url=fake.url, retry=policy) as leaf:
                    with pytest.raises(lc.NotFoundError):
                        await leaf.get(lc.SENTERA, user.id)
            async with lc.LeafSession(token=other, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.RateLimitError):
                    await leaf.get(lc.SENTERA, user.id)

    async def test_the_minute_window_resets(self) -> None:
        """Leaf's per-minute window opens again when the fake's clock reaches the next minute."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0)
        async with FakeLeaf(rate_limit=RateLimit(per_minute=1)) as fake:
            user = fake.add_user()
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                with pytest.raises(lc.RateLimitError):
                    await leaf.get(lc.SENTERA, user.id)
                fake.advance_clock(60)
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)

    async def test_setting_the_limit_starts_a_fresh_budget(self) -> None:
        """Assigning rate_limit replaces the budget; None turns it off."""
        policy = lc.RetryPolicy(rate_limit_max_wait=0)
        async with FakeLeaf(rate_limit=RateLimit(per_minute=1)) as fake:
            user = fake.add_user()
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as leaf:
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                fake.rate_limit = RateLimit(per_minute=1)
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                fake.rate_limit = None
                for _ in range(3):
                    with pytest.raises(lc.NotFoundError):
                        await leaf.get(lc.SENTERA, user.id)

        assert fake.rate_limit is None
        assert 0 == statuses(fake)[429]

    def test_a_rate_limit_object_is_required(self) -> None:
        """Anything but a RateLimit or None is refused."""
        with pytest.raises(TypeError):
            FakeLeaf(rate_limit=100)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("200/s", RateLimit(per_second=200)),
            ("200/s:20", RateLimit(per_second=200, burst=20)),
            ("1000/min", RateLimit(per_minute=1000)),
            ("5/s:2, 1000/min", RateLimit(per_second=5, burst=2, per_minute=1000)),
        ],
    )
    def test_parse(self, text: str, expected: RateLimit) -> None:
        """A limit is read from the command line's short form."""
        assert expected == RateLimit.parse(text)

    @pytest.mark.parametrize("text", ["", "fast", "10/h", "10/min:5", "0/s"])
    def test_parse_refuses_other_text(self, text: str) -> None:
        """Anything else is a ValueError."""
        with pytest.raises(ValueError, match=r"rate limit|positive|burst"):
            RateLimit.parse(text)

    @pytest.mark.parametrize(
        "options",
        [
            {},
            {"burst": 3},
            {"burst": 3, "per_minute": 10},
            {"per_second": 0},
            {"per_minute": -1},
            {"per_second": float("inf")},
        ],
    )
    def test_bad_limits_are_refused(self, options: dict[str, Any]) -> None:
        """A limit needs a positive rate; a burst needs a per-second rate."""
        with pytest.raises(ValueError, match=r"per_second|per_minute|burst"):
            RateLimit(**options)

    def test_leafs_own_limit(self) -> None:
        """RateLimit.leaf() is Leaf's draft 1,000 requests per minute."""
        assert RateLimit(per_minute=1000) == RateLimit.leaf()

    def test_fake_server_refuses_a_bad_limit(self) -> None:
        """leaf-creds fake-server --rate-limit with a bad limit exits 2 before listening."""
        done = subprocess.run(
            [sys.executable, "-m", "leaf_creds.cli", "fake-server", "--rate-limit", "lots"],
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert 2 == done.returncode
        assert "--rate-limit" in done.stderr
