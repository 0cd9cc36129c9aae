"""The Pacer's decisions, on a clock of the test's own (no real time passes).

Every test runs in a :class:`VirtualLoop`: an event loop whose clock moves
only when every task waits, straight to the next timer, so a sleep takes no
time and a minute of pacing takes milliseconds. The Pacer reads the same
clock. :func:`job` sends requests the way ``LeafSession`` drives its Pacer
(``engaged``, ``acquire``, ``sent``, ``throttled``, resending after a 429
until ``rate_limit_max_wait``) against a :class:`Server` of one queue and a
token bucket and/or a fixed minute window, optionally answering
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import math
import random
import selectors
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from leaf_creds import _pacing
from leaf_creds._pacing import BETA, MIN_RATE, Pacer

T = TypeVar("T")
START = 1000.0  # the virtual clock's start: a slot of 0.0 means "sent freely"


class _Selector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout:
            self._loop.now += timeout
        return ready


class VirtualLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer whenever nothing is ready."""

    def __init__(self) -> None:
        self.now = START
        super().__init__(_Selector(self))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self.now


def run(main: Callable[[VirtualLoop], Awaitable[T]]) -> T:
    """Run ``main(loop)`` to its end in a fresh virtual loop."""
    loop = VirtualLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.close()


def pacer(loop: VirtualLoop, ceiling: float | None = None, jitter: float = 0.0) -> Pacer:
    return Pacer(ceiling, clock=loop.time, rng=lambda: jitter)


class Server:
    """One queue of ``service`` seconds a request, ``delay`` each way, and a limit.

    Attributes:
        answers: (arrival, passed) of every request, in order.
    """

    def __init__(
        self,
        loop: VirtualLoop,
        per_second: float | None = None,
        burst: int = 1,
        *,
        per_minute: int | None = None,
        retry_after: float | None = None,
        service: float = 0.0004,
        delay: float = 0.001,
    ) -> None:
        self.loop = loop
        self.per_second, self.capacity = per_second, float(burst)
        self.per_minute, self.retry_after = per_minute, retry_after
        self.service, self.delay = service, delay
        self.tokens, self.stamp = float(burst), START
        self.window, self.in_window = -1, 0
        self.free_at = START
        self.answers: list[tuple[float, bool]] = []

    def passes(self, now: float) -> bool:
        passed = True
        if self.per_second is not None:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.per_second)
            self.stamp = now
            passed = self.tokens >= 1.0
        if passed and self.per_minute is not None:
            window = int((now - START) // 60)
            if window != self.window:
                self.window, self.in_window = window, 0
            passed = self.in_window < self.per_minute
            self.in_window += passed
        if passed and self.per_second is not None:
            self.tokens -= 1.0
        self.answers.append((now, passed))
        return passed

    async def call(self) -> bool:
        await asyncio.sleep(self.delay)
        now = self.loop.time()
        begin = max(now, self.free_at)
        self.free_at = begin + self.service
        await asyncio.sleep(self.free_at - now)
        passed = self.passes(self.loop.time())
        await asyncio.sleep(self.delay)
        return passed

    def figures(self, limit: float | None = None) -> dict[str, float]:
        first, last = self.answers[0][0], self.answers[-1][0]
        passed = sum(ok for _, ok in self.answers)
        refused = len(self.answers) - passed
        return {
            "requests": len(self.answers),
            "refused": refused,
            "share_429": refused / len(self.answers),
            "per_second": passed / (last - first),
            "goodput": passed / (last - first) / limit if limit else math.nan,
            "refused_after_1s": sum(1 for at, ok in self.answers if not ok and at - first > 1.0),
        }


async def request(pacer: Pacer, server: Server, max_wait: float = 120.0) -> bool:
    """Send one request as LeafSession does; return whether it got through in max_wait."""
    paced_until: float | None = None
    slot = 0.0
    while True:
        if pacer.engaged:
            turn = await pacer.acquire(paced_until)
            if turn is None and paced_until is not None:
                return False  # its turn would come after rate_limit_max_wait
            slot = turn or 0.0
        else:
            pacer.sent += 1
        if await server.call():
            return True
        pacer.throttled(slot, server.retry_after)
        now = server.loop.time()
        if paced_until is None:
            paced_until = now + max_wait
        if now >= paced_until:
            return False


async def job(pacer: Pacer, server: Server, operations: int, concurrency: int) -> int:
    """Run ``operations`` requests on ``concurrency`` workers; return how many failed."""
    todo = iter(range(operations))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for _ in todo:
            failed += not await request(pacer, server)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed


async def spaced(loop: VirtualLoop, pacer: Pacer, count: int, every: float) -> float:
    """Let ``count`` requests go, one every ``every`` seconds at most; return the last's slot."""
    slot = 0.0
    for _ in range(count):
        due = loop.time() + every
        slot = await pacer.acquire() or 0.0
        await asyncio.sleep(max(0.0, due - loop.time()))
    return slot


async def limited(loop: VirtualLoop, p: Pacer, free_rate: float = 400.0) -> float:
    """Bring ``p`` to its first 429 after one second sent freely at ``free_rate``; return now."""
    await p.acquire()
    p.sent += round(free_rate) - 1
    await asyncio.sleep(1.0)
    p.throttled(0.0)
    await asyncio.sleep(_pacing._SETTLE_MAX)  # the hold after the cut, for its round trip
    return loop.time()


# -- before the first 429 -------------------------------------------------------


class TestFree:
    def test_requests_go_freely_and_the_first_flight_ends(self) -> None:
        """No 429: nothing waits; after the first flight the session stops asking."""

        async def main(loop: VirtualLoop) -> tuple[list[float | None], bool]:
            p = pacer(loop)
            turns = [await p.acquire() for _ in range(_pacing._WARMUP)]
            return turns, p.engaged

        turns, engaged = run(main)

        assert (set(turns), engaged) == ({0.0}, False)

    def test_the_first_429_takes_a_quarter_of_the_free_rate(self) -> None:
        """400 requests sent freely in a second: W_max 100/s, paced at BETA of it."""

        async def main(loop: VirtualLoop) -> tuple[bool, float, float]:
            p = pacer(loop)
            now = await limited(loop, p, free_rate=400)
            return p.engaged, p._w_max, p.rate(now)

        engaged, w_max, rate = run(main)

        assert engaged
        assert (w_max, rate) == pytest.approx((100, BETA * 100))

    def test_a_task_answered_waits_for_the_flight_still_out(self) -> None:
        """A task whose request was answered waits while another is out, until it is answered."""

        async def main(loop: VirtualLoop) -> list[tuple[str, float]]:
            p = pacer(loop)
            events: list[tuple[str, float]] = []

            async def first() -> None:
                await p.acquire()
                await asyncio.sleep(0.010)  # answered after 10 ms
                await p.acquire()
                events.append(("first's second request", loop.time() - START))

            async def second() -> None:
                await p.acquire()
                await asyncio.sleep(0.015)  # answered after 15 ms
                events.append(("second answered", loop.time() - START))
                await p.acquire()

            await asyncio.gather(first(), second())
            return events

        events = run(main)

        assert [name for name, _ in events] == ["second answered", "first's second request"]
        assert events[1][1] == pytest.approx(0.015)

    def test_the_wait_for_the_flight_is_bounded(self) -> None:
        """A request out that never comes back holds the others until 0.5 s from the first."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)

            async def lost() -> None:
                await p.acquire()
                await asyncio.sleep(3600)

            task = asyncio.ensure_future(lost())
            await p.acquire()
            await asyncio.sleep(0.010)
            began = loop.time()
            await p.acquire()
            waited = loop.time() - began
            task.cancel()
            return waited

        assert run(main) == pytest.approx(_pacing._FLY_MAX - 0.010)

    def test_a_task_that_is_done_holds_nobody(self) -> None:
        """A request of a task that has ended was answered: the next one does not wait for it."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)

            async def once() -> None:
                await p.acquire()
                await asyncio.sleep(0.001)

            await asyncio.gather(once(), once())
            await p.acquire()
            await asyncio.sleep(0.010)
            began = loop.time()
            await p.acquire()
            return loop.time() - began

        assert run(main) == 0.0

    def test_after_the_first_flight_nothing_waits(self) -> None:
        """Once the first flight was waited for, a request answered goes again at once."""

        async def main(loop: VirtualLoop) -> tuple[bool, float]:
            p = pacer(loop)

            async def slow() -> None:
                await p.acquire()
                await asyncio.sleep(0.100)
                await p.acquire()

            task = asyncio.ensure_future(slow())
            await p.acquire()
            await asyncio.sleep(0.010)
            await p.acquire()  # waits for slow's answer, at 0.1 s
            began = loop.time()
            await asyncio.sleep(0.010)
            await p.acquire()
            await task
            return p.engaged, loop.time() - began

        engaged, waited = run(main)

        assert not engaged
        assert waited == pytest.approx(0.010)

    def test_a_429_ends_the_wait_with_a_paced_turn(self) -> None:
        """A request waiting for its flight is let go paced once a 429 comes."""

        async def main(loop: VirtualLoop) -> tuple[float | None, float]:
            p = pacer(loop)

            async def refused() -> None:
                await p.acquire()
                await asyncio.sleep(0.015)
                p.sent += 999  # makes the free rate high: the cut is not the point here
                p.throttled(0.0)

            task = asyncio.ensure_future(refused())
            await p.acquire()
            await asyncio.sleep(0.010)
            turn = await p.acquire()
            await task
            return turn, loop.time() - START

        turn, now = run(main)

        assert turn == pytest.approx(START + now)  # paced: its slot, not 0.0 (free)
        assert now >= 0.015


# -- the cut --------------------------------------------------------------------


class TestCut:
    def test_a_cut_starts_from_what_got_through_not_the_rate_in_force(self) -> None:
        """At 50/s through for 3 s (the curve well above it), a 429 takes W_max near 50/s."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)  # paced at 800/s: far above
            slot = await spaced(loop, p, 150, 1 / 50)
            in_force = p.rate(loop.time())
            p.throttled(slot)
            return in_force, p._w_max

        in_force, w_max = run(main)

        assert in_force > 500
        assert w_max == pytest.approx(50, rel=0.05)

    def test_one_overshoot_is_one_cut(self) -> None:
        """A 429 to a request let go before the last cut changes nothing."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p)
            await spaced(loop, p, 10, 0.01)
            before = p.rate(loop.time())
            p.throttled(START + 0.5)  # let go before the cut at START + 1.0
            return before, p.rate(loop.time())

        before, after = run(main)

        assert before == after

    @pytest.mark.parametrize(("rtt", "hold"), [(0.05, 0.05), (2.0, 0.25)])
    def test_after_a_cut_nobody_starts_for_its_round_trip(self, rtt: float, hold: float) -> None:
        """The first start after a 429 comes its round trip later (at most 0.25 s)."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)
            await limited(loop, p)
            slot = await spaced(loop, p, 400, 1 / 200)
            await asyncio.sleep(rtt - (loop.time() - slot))
            cut = loop.time()
            p.throttled(slot)
            return (await p.acquire() or 0.0) - cut

        assert run(main) == pytest.approx(hold, abs=1e-6)

    def test_an_unmeasured_cut_keeps_half_the_rate(self) -> None:
        """A 429 0.3 s after a cut, nothing through, no limit measured: W_max half the rate."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            slot = await p.acquire() or 0.0
            await asyncio.sleep(0.3)
            in_force = p.rate(loop.time())
            p.throttled(slot)
            return in_force, p._w_max

        in_force, w_max = run(main)

        assert w_max == pytest.approx(in_force * _pacing._BLIND)

    def test_an_unmeasured_cut_takes_what_got_through_above_half(self) -> None:
        """Four through in 5 ms (the fifth refused): W_max 800/s, above half the rate."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            slot = await spaced(loop, p, 5, 0.001)
            in_force = p.rate(loop.time())
            p.throttled(slot)
            return in_force, p._w_max

        in_force, w_max = run(main)

        assert w_max == pytest.approx(800)
        assert _pacing._BLIND * in_force < w_max <= in_force

    def test_an_unmeasured_cut_keeps_most_of_a_limit_measured(self) -> None:
        """Once a limit was measured, a quick second 429 (a stalled server) takes BETA of it."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            p.throttled(await spaced(loop, p, 150, 1 / 50))
            measured = p._w_max
            await asyncio.sleep(0.3)
            p.throttled(await spaced(loop, p, 2, 0.01))
            return measured, p._w_max

        measured, w_max = run(main)

        assert w_max == pytest.approx(BETA * measured)

    def test_never_below_the_least_rate(self) -> None:
        """Nothing got through for seconds: the rate is MIN_RATE, not zero."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)
            await limited(loop, p, free_rate=4)
            for _ in range(5):
                slot = await p.acquire() or 0.0
                await asyncio.sleep(1.0)
                p.throttled(slot)
            return p.rate(loop.time())

        assert run(main) == MIN_RATE


# -- growing back -------------------------------------------------------------


class TestGrowth:
    def test_cubic_back_to_w_max_then_beyond(self) -> None:
        """BETA of W_max at the cut, W_max after K, twice it 2.15 s later."""

        async def main(loop: VirtualLoop) -> tuple[float, list[float]]:
            p = pacer(loop)
            await limited(loop, p, free_rate=400)
            origin, k = p._origin, p._k
            await spaced(loop, p, 1, 0)  # something waits: no cap on what is unused
            p._tat = math.inf
            return p._w_max, [p.rate(origin + t) for t in (0.0, k, k + (1 / 0.1) ** (1 / 3))]

        w_max, rates = run(main)

        assert rates == pytest.approx([BETA * w_max, w_max, 2 * w_max], rel=1e-6)

    def test_a_limit_met_twice_is_held_before_probing(self) -> None:
        """The same W_max twice: a shallower cut, W_max held for _DWELL seconds, then the probe."""

        async def main(loop: VirtualLoop) -> tuple[float, float, list[float]]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            for _ in range(2):
                p.throttled(await spaced(loop, p, 150, 1 / 50))
                await asyncio.sleep(0.3)
            origin, k = p._origin, p._k
            p._tat = math.inf
            times = (0.0, k, k + _pacing._DWELL, k + _pacing._DWELL + 1.0)
            return p._w_max, k, [p.rate(origin + t) for t in times]

        w_max, k, rates = run(main)

        assert k == pytest.approx((0.1 / 0.1) ** (1 / 3))
        assert rates[:3] == pytest.approx([0.9 * w_max, w_max, w_max])
        assert rates[3] == pytest.approx(w_max * 1.1)

    def test_a_plateau_that_lasted_is_not_undercut(self) -> None:
        """A 429 after the whole dwell: W_max stays, though less got through on average."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            for _ in range(2):
                p.throttled(await spaced(loop, p, 150, 1 / 50))
                await asyncio.sleep(0.3)
            known = p._w_max
            slot = await spaced(loop, p, 160, 1 / 40)  # 4 s at 40/s: below W_max
            p.throttled(slot)
            return known, p._w_max

        known, w_max = run(main)

        assert w_max == pytest.approx(known)

    def test_an_idle_session_earns_no_rate(self) -> None:
        """Nothing waiting for a turn: at most twice what was sent lately (or twice W_max)."""

        async def main(loop: VirtualLoop) -> tuple[float, float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=400)
            await spaced(loop, p, 100, 0.1)  # 10 s at 10/s
            now = loop.time()
            return p._w_max, p.rate(now)

        w_max, rate = run(main)

        assert rate == pytest.approx(2 * w_max)

    def test_a_ceiling_is_hard_from_the_first_request(self) -> None:
        """rate_limit=10: starts 0.1 s apart from the first, no first flights, no free sends."""

        async def main(loop: VirtualLoop) -> list[float]:
            p = pacer(loop, ceiling=10)
            assert p.engaged
            return [(await p.acquire() or 0.0) - START for _ in range(4)]

        assert run(main) == pytest.approx([0.0, 0.1, 0.2, 0.3])


# -- Retry-After ------------------------------------------------------------------


class TestRetryAfter:
    def test_nobody_starts_before_it_ends(self) -> None:
        """Retry-After: 1 with no jitter: the next start is one second on."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)
            await limited(loop, p)
            slot = await spaced(loop, p, 10, 0.01)
            now = loop.time()
            p.throttled(slot, 1.0)
            return (await p.acquire() or 0.0) - now

        assert run(main) == pytest.approx(1.0)

    @pytest.mark.parametrize(("draw", "hold"), [(0.0, 2.0), (0.5, 2.2), (0.999, 2.3996)])
    def test_the_resume_is_jittered_by_up_to_a_fifth(self, draw: float, hold: float) -> None:
        """Sessions refused together resume apart: Retry-After times 1 to 1.2."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop, jitter=draw)
            await limited(loop, p)
            slot = await spaced(loop, p, 10, 0.01)
            now = loop.time()
            p.throttled(slot, 2.0)
            return (await p.acquire() or 0.0) - now

        assert run(main) == pytest.approx(hold, abs=1e-3)

    def test_the_hold_is_not_time_the_rate_grows(self) -> None:
        """Held 5 s, the curve resumes where it stood: as a pacer that was never held."""

        async def main(loop: VirtualLoop, retry_after: float | None) -> list[float]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            slot = await spaced(loop, p, 150, 1 / 50)
            p.throttled(slot, retry_after)
            p._ramp_from = math.inf  # the ramp is another test's
            p._tat = math.inf
            resume = max(p._hold_until, loop.time())
            return [p.rate(resume + t) for t in (0.0, 0.5, 1.0, p._k)]

        held = run(lambda loop: main(loop, 5.0))
        never = run(lambda loop: main(loop, None))

        assert held == pytest.approx(never, rel=0.02)

    def test_a_cut_after_a_hold_starts_from_what_got_through(self) -> None:
        """At 50/s through, a 429 and a hold of 3 s, 2 s more at 50/s: W_max is 50, not 30."""

        async def main(loop: VirtualLoop) -> float:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            p.throttled(await spaced(loop, p, 150, 1 / 50), 3.0)
            await asyncio.sleep(3.0)
            p.throttled(await spaced(loop, p, 100, 1 / 50))
            return p._w_max

        assert run(main) == pytest.approx(50, rel=0.05)

    def test_the_resume_ramps_up_from_what_surely_got_through(self) -> None:
        """After the hold: what got through over the time since the cut, doubling every 0.25 s."""

        async def main(loop: VirtualLoop) -> tuple[float, list[float], list[float]]:
            p = pacer(loop)
            await limited(loop, p, free_rate=4000)
            cut = p._cut_at
            slot = await spaced(loop, p, 100, 1 / 50)  # 100 let go in 2 s
            now = loop.time()
            p.throttled(slot, 5.0)
            surely = 99 / (now + 5.0 - cut)  # the one refused did not get through
            resume = p._hold_until
            p._tat = math.inf
            times = (0.0, 0.25, 0.5, 1.0)
            ramped = [p.rate(resume + t) for t in times]
            p._ramp_from = math.inf
            curve = [p.rate(resume + t) for t in times]
            return (
                surely,
                ramped,
                [min(surely * 2 ** (t / 0.25), c) for t, c in zip(times, curve, strict=True)],
            )

        surely, ramped, expected = run(main)

        assert ramped == pytest.approx(expected, rel=1e-6)
        assert ramped[:2] == pytest.approx([surely, 2 * surely], rel=0.01)


# -- jobs against a limit -----------------------------------------------------------


class TestJobs:
    def test_one_worker_rides_a_token_bucket_with_few_429s(self) -> None:
        """200/s, burst 20, 6,000 requests at concurrency 64 (bench/ratelimit.py's "one")."""

        async def main(loop: VirtualLoop) -> tuple[int, dict[str, float]]:
            server = Server(loop, 200, 20)
            failed = await job(pacer(loop), server, 6000, 64)
            return failed, server.figures(200)

        failed, figures = run(main)

        assert failed == 0
        assert figures["goodput"] >= 0.98, figures
        assert figures["share_429"] <= 0.012, figures
        assert figures["refused_after_1s"] <= 12, figures

    def test_a_worker_takes_the_room_a_finished_one_leaves(self) -> None:
        """Two workers share 200/s; when one is done the other is back near 200/s within 3 s."""

        async def main(loop: VirtualLoop) -> tuple[float, list[int]]:
            server = Server(loop, 200, 20)
            short = asyncio.ensure_future(job(pacer(loop), server, 1000, 32))
            long = asyncio.ensure_future(job(pacer(loop), server, 4000, 32))
            await short
            done = loop.time()
            await long
            per_second = [0] * 40
            for at, passed in server.answers:
                if passed and 0 <= at - done < 40:
                    per_second[int(at - done)] += 1
            return done, per_second

        _, per_second = run(main)

        assert min(per_second[3:8]) >= 180, per_second

    def test_retry_after_does_not_stop_the_learning(self) -> None:
        """600 requests, 100/s, burst 10, Retry-After: 1 (and 2): most of the limit, few 429s."""
        for retry_after, least in ((1.0, 50.0), (2.0, 35.0)):

            async def main(loop: VirtualLoop, ra: float = retry_after) -> dict[str, float]:
                server = Server(loop, 100, 10, retry_after=ra)
                assert 0 == await job(pacer(loop, jitter=0.5), server, 600, 32)
                return server.figures()

            figures = run(main)

            assert figures["per_second"] >= least, figures
            assert figures["refused"] <= 30, figures

    def test_sessions_refused_together_keep_going(self) -> None:
        """Eight sessions, 20/s, burst 2, Retry-After: 1: none fails, most requests get through."""

        async def main(loop: VirtualLoop) -> tuple[int, dict[str, float]]:
            server = Server(loop, 20, 2, retry_after=1.0)
            draws = random.Random(7)
            jobs = [job(Pacer(clock=loop.time, rng=draws.random), server, 40, 8) for _ in range(8)]
            failed = sum(await asyncio.gather(*jobs))
            return failed, server.figures()

        failed, figures = run(main)

        assert failed == 0
        assert figures["per_second"] >= 6.0, figures
        assert figures["refused"] <= 0.5 * (figures["requests"] - figures["refused"]), figures

    def test_leafs_minute_window(self) -> None:
        """1,000 per fixed minute for two minutes and more: about 16 requests/s, none failed."""

        async def main(loop: VirtualLoop) -> tuple[int, dict[str, float]]:
            server = Server(loop, per_minute=1000)
            failed = await job(pacer(loop), server, 2100, 16)
            return failed, server.figures()

        failed, figures = run(main)

        assert failed == 0
        assert figures["per_second"] >= 15.5, figures
