"""Tests of the session-wide retry budget that successes refill.

Also the edge cases of its bookkeeping, seen through bulk() stopping or going on.
"""

from __future__ import annotations

import asyncio
import random
import socket
from contextlib import aclosing
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

SENTERA_BODY = {"username": "grower", "password": "hunter2-secret", "organizationName": "Acme"}


def policy(**options: Any) -> lc.RetryPolicy:
    """Return a policy with no backoff, so the tests wait for nothing."""
    return lc.RetryPolicy(backoff_base=0, **options)


async def attempts_of(leaf: lc.LeafSession, user_id: str) -> int:
    """Return how many attempts a GET made before it failed."""
    with pytest.raises(lc.LeafError) as info:
        await leaf.get(lc.SENTERA, user_id)
    return info.value.attempts


def free_port() -> int:
    """Return a port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class TestBudget:
    async def test_an_empty_budget_fails_fast(self) -> None:
        """Once the budget is spent, a 503 is raised after one attempt."""
        retry = policy(max_retries=5, retry_budget=10, retry_cost=5)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=503, probability=1.0)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                spent = [await attempts_of(leaf, user.id) for _ in range(3)]

        assert [3, 1, 1] == spent
        assert 5 == len(fake.requests)

    async def test_successes_refill_it(self) -> None:
        """Each success gives back retry_refill, so a later failure may retry again."""
        retry = policy(max_retries=5, retry_budget=10, retry_cost=5, retry_refill=1)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                fake.faults.add(status=503, probability=1.0)
                before = [await attempts_of(leaf, user.id) for _ in range(2)]
                fake.faults.clear()
                for _ in range(5):
                    await leaf.get(lc.SENTERA, user.id)
                fake.faults.add(status=503, probability=1.0)
                after = [await attempts_of(leaf, user.id) for _ in range(2)]

        assert ([3, 1], [2, 1]) == (before, after)

    async def test_it_never_grows_past_its_capacity(self) -> None:
        """Successes beyond the capacity are not saved up."""
        retry = policy(max_retries=5, retry_budget=5, retry_cost=5)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                for _ in range(20):
                    await leaf.get(lc.SENTERA, user.id)
                fake.faults.add(status=503, probability=1.0)
                spent = await attempts_of(leaf, user.id)

        assert 2 == spent

    async def test_timeouts_cost_more(self) -> None:
        """A retry after a timeout spends timeout_retry_cost."""
        retry = policy(max_retries=5, retry_budget=10, retry_cost=1, timeout_retry_cost=10)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(delay=5, probability=1.0)
            async with lc.LeafSession(
                token=fake.token, base_url=fake.url, retry=retry, timeout=0.2
            ) as leaf:
                spent = [await attempts_of(leaf, user.id) for _ in range(2)]

        assert [2, 1] == spent

    async def test_connection_errors_spend_it(self) -> None:
        """Refused connections are retried from the same budget."""
        retry = policy(max_retries=3, retry_budget=5, retry_cost=5)
        url = f"http://127.0.0.1:{free_port()}"
        async with lc.LeafSession(token="t", base_url=url, retry=retry) as leaf:
            spent = [await attempts_of(leaf, "u1") for _ in range(2)]

        assert [2, 1] == spent

    async def test_it_can_be_turned_off(self) -> None:
        """retry_budget=None retries every failure max_retries times."""
        retry = policy(max_retries=2, retry_budget=None)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=503, probability=1.0)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                spent = [await attempts_of(leaf, user.id) for _ in range(10)]

        assert [3] * 10 == spent

    async def test_429s_spend_nothing(self) -> None:
        """With no budget at all, 429s are still sent again; a 503 is not."""
        retry = policy(retry_budget=0)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            fake.faults.add(status=429, times=3)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                record = await leaf.get(lc.SENTERA, user.id)
                fake.faults.add(status=503)
                spent = await attempts_of(leaf, user.id)

        assert ("OK", 1) == (record.status, spent)


class TestPolicy:
    def test_defaults(self) -> None:
        """The defaults are the AWS SDKs' retry quota, and a two-minute wait for 429s."""
        retry = lc.RetryPolicy()

        assert (500, 5, 10, 1, 120.0, 5.0) == (
            retry.retry_budget,
            retry.retry_cost,
            retry.timeout_retry_cost,
            retry.retry_refill,
            retry.rate_limit_max_wait,
            retry.unreachable_after,
        )

    @pytest.mark.parametrize(
        "options",
        [
            {"retry_budget": -1},
            {"retry_budget": True},
            {"retry_budget": 1.5},
            {"retry_cost": -1},
            {"timeout_retry_cost": -1},
            {"retry_refill": -1},
            {"rate_limit_max_wait": -1},
            {"unreachable_after": -1},
        ],
    )
    def test_bad_values_are_refused(self, options: dict[str, Any]) -> None:
        """Negative costs, waits and capacities are refused."""
        with pytest.raises(ValueError, match=next(iter(options))):
            lc.RetryPolicy(**options)


class Ceiling(random.Random):
    """A random source whose uniform draw is always the top of its range."""

    def uniform(self, a: float, b: float) -> float:
        """Return the upper bound."""
        return b


async def run(leaf: lc.LeafSession, count: int) -> tuple[list[lc.Outcome], BaseException | None]:
    """Run `count` Sentera GETs one at a time; return the outcomes and what the job raised."""
    outcomes: list[lc.Outcome] = []
    operations: list[lc.Operation] = [lc.Get(lc.SENTERA, f"u{i}") for i in range(count)]
    try:
        async with aclosing(leaf.bulk(operations, concurrency=1)) as stream:
            async for outcome in stream:
                outcomes.append(outcome)
    except lc.LeafError as exc:
        return outcomes, exc
    return outcomes, None


async def refused(leaf: lc.LeafSession) -> None:
    """Send one GET that the dead host refuses."""
    with pytest.raises(lc.TransportError):
        await leaf.get(lc.SENTERA, "u0")


async def answered(leaf: lc.LeafSession, port: int, *, found: bool) -> None:
    """Bring the host up on `port` for one GET, answered 200 or 404, then take it down."""
    async with FakeLeaf(port=port, tokens=["t"]) as fake:
        user = fake.add_user()
        if found:
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            await leaf.get(lc.SENTERA, user.id)
        else:
            with pytest.raises(lc.NotFoundError):
                await leaf.get(lc.SENTERA, user.id)
    # Let the session see the closed keep-alive connection before the next request.
    await asyncio.sleep(0.05)


class TestUnreachableAfter:
    async def test_refusals_shorter_than_unreachable_after_do_not_stop_bulk(self) -> None:
        """A host refused for less than unreachable_after, with budget left, does not stop a job."""
        # Kills RetryBudget.__init__'s `empty = False` -> True and `refused_since` mutants that
        # make every refusal look old (the job would stop at its first outcome).
        retry = policy(max_retries=0, unreachable_after=60)
        url = f"http://127.0.0.1:{free_port()}"
        async with lc.LeafSession(token="t", base_url=url, retry=retry) as leaf:
            outcomes, error = await run(leaf, 10)

        assert (None, 10) == (error, len(outcomes))
        assert all(isinstance(o.error, lc.TransportError) for o in outcomes)

    async def test_refusals_longer_than_unreachable_after_stop_bulk(self) -> None:
        """A host refused since longer than unreachable_after stops a job at its first outcome."""
        # Kills unreachable()'s `if refused_since is None` -> `is not None`, its
        # `refused_since = time.monotonic()` -> None, and __init__'s `refused_since = None` -> "":
        # each leaves the clock unset, so the first refusal never looks 0.2 s old.
        retry = policy(max_retries=0, retry_budget=None, unreachable_after=0.2)
        url = f"http://127.0.0.1:{free_port()}"
        async with lc.LeafSession(token="t", base_url=url, retry=retry) as leaf:
            await refused(leaf)
            await asyncio.sleep(0.3)
            outcomes, error = await run(leaf, 10)

        assert isinstance(error, lc.BulkStoppedError)
        assert ("unreachable", 1) == (error.reason, len(outcomes))
        assert ", 2 attempt(s) refused with no answer in between" in str(error)

    async def test_the_refusals_are_counted_one_per_attempt(self) -> None:
        """The stop message counts every refused attempt since the last answer, retries included."""
        # Kills unreachable()'s `refused += 1` -> `refused = 1` / `+= 2` / `-= 1`, and
        # __init__'s `refused = 0` -> 1.
        retry = policy(max_retries=2, retry_budget=None, unreachable_after=0)
        url = f"http://127.0.0.1:{free_port()}"
        async with lc.LeafSession(token="t", base_url=url, retry=retry) as leaf:
            outcomes, error = await run(leaf, 10)

        assert isinstance(error, lc.BulkStoppedError)
        assert 1 == len(outcomes)
        assert ", 3 attempt(s) refused with no answer in between" in str(error)


class TestAnAnswerResetsTheClock:
    @pytest.mark.parametrize("found", [True, False], ids=["success", "404"])
    async def test_an_answer_after_a_long_outage_starts_a_new_one(self, found: bool) -> None:
        """After any answer, refusals are timed and counted afresh, not from the old ones."""
        # Kills succeeded() losing its answered() call, and answered()'s `refused = 0` -> 1 and
        # `refused_since = None` -> "" (the old clock or count would stop the job at once).
        # Also unreachable()'s `short = True` -> False/None: a success then skips succeeded().
        port = free_port()
        retry = policy(max_retries=0, retry_budget=None, unreachable_after=0.2)
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as leaf:
            await refused(leaf)
            await asyncio.sleep(0.3)
            await answered(leaf, port, found=found)
            outcomes, error = await run(leaf, 3)

        assert (None, 3) == (error, len(outcomes))

    @pytest.mark.parametrize("found", [True, False], ids=["success", "404"])
    async def test_a_new_outage_is_timed_from_its_first_refusal(self, found: bool) -> None:
        """An outage that begins after an answer stops a job once it lasts unreachable_after."""
        # Kills answered()'s `refused_since = None` -> "": the clock would never be set again.
        port = free_port()
        retry = policy(max_retries=0, retry_budget=None, unreachable_after=0.2)
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as leaf:
            await refused(leaf)
            await answered(leaf, port, found=found)
            await refused(leaf)
            await asyncio.sleep(0.3)
            outcomes, error = await run(leaf, 10)

        assert isinstance(error, lc.BulkStoppedError)
        assert 1 == len(outcomes)
        assert ", 2 attempt(s) refused with no answer in between" in str(error)


class TestEmpty:
    async def test_a_success_clears_a_refused_retry(self) -> None:
        """After a retry was refused for want of budget, a success lets refusals run on again."""
        # Kills succeeded()'s `empty = False` -> True (the last job would stop) and spend()'s
        # `empty = True` -> False/None (the first job would go on to its 20th outcome).
        port = free_port()
        retry = policy(max_retries=1, retry_budget=5, retry_cost=5, unreachable_after=60)
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as leaf:
            # Refused GETs: the first spends the whole budget, the others cannot retry,
            # and the 16th refusal in a row with the budget spent stops the job.
            stopped, stop = await run(leaf, 20)
            # Five successes refill it to 5, so the next refused GET is retried once.
            for _ in range(5):
                await answered(leaf, port, found=True)
            went_on, error = await run(leaf, 1)

        assert isinstance(stop, lc.BulkStoppedError)
        assert ("unreachable", 15) == (stop.reason, len(stopped))
        assert (None, 1, 2) == (error, len(went_on), went_on[0].attempts)


class TestRefill:
    async def test_an_error_answer_after_refusals_leaves_successes_refilling(self) -> None:
        """After refusals, an error answer keeps the budget short, so a success refills it."""
        # Kills answered()'s `short = capacity is not None and level < capacity` -> None: the
        # success after the 404 would skip the refill, and the last 503 would not be retried.
        port = free_port()
        retry = policy(max_retries=2, retry_budget=10, retry_cost=5, retry_refill=5)
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as leaf:
            await refused(leaf)  # two retries: 10 -> 0
            async with FakeLeaf(port=port, tokens=["t"]) as fake:
                user = fake.add_user()
                with pytest.raises(lc.NotFoundError):
                    await leaf.get(lc.SENTERA, user.id)
                fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
                await leaf.get(lc.SENTERA, user.id)  # 0 -> 5
                fake.faults.add(status=503, probability=1.0)
                with pytest.raises(lc.ServerError) as info:
                    await leaf.get(lc.SENTERA, user.id)  # one retry of 5

        assert 2 == info.value.attempts

    async def test_each_success_refills_by_retry_refill_up_to_the_capacity(self) -> None:
        """Successes give back retry_refill each, and never more than the capacity."""
        # Kills succeeded()'s `min(capacity, level + refill)` -> max / `level - refill`, and
        # `_refill = policy.retry_refill` -> None.
        retry = policy(max_retries=10, retry_budget=12, retry_cost=4, retry_refill=3)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                fake.faults.add(status=503, times=3)
                await leaf.get(lc.SENTERA, user.id)  # 3 retries: 12 -> 0, then +3 -> 3
                await leaf.get(lc.SENTERA, user.id)  # -> 6
                fake.faults.add(status=503, probability=1.0)
                with pytest.raises(lc.ServerError) as once:
                    await leaf.get(lc.SENTERA, user.id)  # 6: one retry of 4 -> 2
                fake.faults.clear()
                for _ in range(10):
                    await leaf.get(lc.SENTERA, user.id)  # 2 + 30, capped at 12
                fake.faults.add(status=503, probability=1.0)
                with pytest.raises(lc.ServerError) as full:
                    await leaf.get(lc.SENTERA, user.id)  # 12: three retries of 4

        assert (2, 4) == (once.value.attempts, full.value.attempts)


class TestCosts:
    async def test_a_timeout_retry_costs_timeout_retry_cost_and_a_5xx_retry_cost(self) -> None:
        """With the same budget, a 5xx is retried more often than a timeout that costs more."""
        # Kills the session's choice between timeout_retry_cost and retry_cost, and
        # spend()'s `cost > level` -> `cost >= level` (a retry that exactly empties it is paid).
        retry = policy(max_retries=10, retry_budget=12, retry_cost=3, timeout_retry_cost=6)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            async with (
                lc.LeafSession(
                    token=fake.token, base_url=fake.url, retry=retry, timeout=0.2
                ) as five,
                lc.LeafSession(
                    token=fake.token, base_url=fake.url, retry=retry, timeout=0.2
                ) as slow,
            ):
                fake.faults.add(status=503, probability=1.0)
                with pytest.raises(lc.ServerError) as server:
                    await five.get(lc.SENTERA, user.id)
                fake.faults.clear()
                fake.faults.add(delay=5, probability=1.0)
                with pytest.raises(lc.RequestTimeoutError) as timeout:
                    await slow.get(lc.SENTERA, user.id)

        assert (5, 3) == (server.value.attempts, timeout.value.attempts)


class TestBackoff:
    def test_the_ceiling_doubles_from_backoff_base_up_to_backoff_max(self) -> None:
        """The backoff ceiling is backoff_base times 2**(retry - 1), capped at backoff_max."""
        # Kills backoff()'s `*` -> `/`, `**` -> `*`, `2.0` -> `3.0` and `retry - 1` -> `retry + 1`
        # / `retry - 2`, and the exponent cap 64 -> 65 (seen with a huge backoff_max).
        top = Ceiling()
        retry = lc.RetryPolicy(backoff_base=0.5, backoff_max=30.0)
        huge = lc.RetryPolicy(backoff_base=1.0, backoff_max=1e30)

        assert [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0] == [
            retry.backoff(n, rng=top) for n in range(1, 9)
        ]
        assert 2.0**64 == huge.backoff(500, rng=top)


class TestNoBudget:
    async def test_none_never_refuses_a_retry(self) -> None:
        """retry_budget=None retries every failure max_retries times, however many there are."""
        # Kills __init__'s `_level = 0 if budget is None else budget` mutants and spend()'s
        # `if capacity is None: return True` -> False.
        retry = policy(max_retries=3, retry_budget=None, retry_cost=1000)
        async with FakeLeaf() as fake:
            user = fake.add_user()
            fake.faults.add(status=503, probability=1.0)
            async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=retry) as leaf:
                spent = []
                for _ in range(20):
                    with pytest.raises(lc.ServerError) as info:
                        await leaf.get(lc.SENTERA, user.id)
                    spent.append(info.value.attempts)

        assert [4] * 20 == spent
