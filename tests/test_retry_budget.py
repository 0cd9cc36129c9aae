"""Tests of the session-wide retry budget that successes refill."""

from __future__ import annotations

import socket
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
