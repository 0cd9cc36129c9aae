"""The retry decision, as a pure function: no HTTP, no clock, no I/O."""

from __future__ import annotations

import random

import pytest

from leaf_creds._retry import Decision, RetryPolicy, Step, decide

POLICY = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=30.0, retry_after_max=60.0)


def step(**kwargs: object) -> Step:
    """Decide with GET defaults and return only the step."""
    options: dict[str, object] = {"method": "GET", "idempotent": True, "retries": 0}
    options.update(kwargs)
    return decide(POLICY, **options).step  # type: ignore[arg-type]


class TestStatuses:
    @pytest.mark.parametrize("status", [400, 403, 404, 409, 422, 301, 302])
    def test_a_final_status_is_raised(self, status: int) -> None:
        """A status that is not transient is raised at once, whatever the method."""
        assert Step.RAISE == step(status=status)
        assert Step.RAISE == step(status=status, method="POST", idempotent=False)

    @pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
    def test_a_transient_status_of_a_get_is_retried(self, status: int) -> None:
        """GET and DELETE retry 408 and the 5xx that may pass."""
        decision = decide(POLICY, method="GET", status=status, idempotent=True, retries=0)
        assert (Step.RETRY, POLICY.retry_cost) == (decision.step, decision.cost)
        assert 0 <= decision.delay <= POLICY.backoff_base

    def test_a_post_answered_503_was_not_processed_and_is_retried(self) -> None:
        """503 and 429 say nothing was applied, so even a create is sent again."""
        decision = decide(POLICY, method="POST", status=503, idempotent=False, retries=0)
        assert (Step.RETRY, False) == (decision.step, decision.unknown)

    @pytest.mark.parametrize("status", [408, 500, 502, 504])
    def test_a_post_with_an_unknown_outcome_is_reconciled_first(self, status: int) -> None:
        """A create that may have been applied asks its reconcile before anything else."""
        decision = decide(
            POLICY, method="POST", status=status, idempotent=False, retries=0, can_reconcile=True
        )
        assert Decision(Step.RECONCILE, unknown=True) == decision

    def test_a_reconciled_post_that_found_nothing_is_retried(self) -> None:
        """Once the reconcile found nothing, the create may be sent again."""
        decision = decide(
            POLICY, method="POST", status=500, idempotent=False, retries=0,
            can_reconcile=True, reconciled=True,
        )  # fmt: skip
        assert (Step.RETRY, True) == (decision.step, decision.unknown)

    def test_a_post_with_an_unknown_outcome_and_no_reconcile_is_raised(self) -> None:
        """Without a way to check, an unknown outcome is never resent blindly."""
        decision = decide(POLICY, method="POST", status=502, idempotent=False, retries=0)
        assert Decision(Step.RAISE, unknown=True) == decision

    def test_an_idempotent_post_is_retried_without_reconcile(self) -> None:
        """A POST marked idempotent (a login) is retried like a GET."""
        assert Step.RETRY == step(method="POST", status=500, idempotent=True)


class TestNoAnswer:
    def test_a_refused_connection_is_retried_even_for_a_post(self) -> None:
        """A request that provably never left may be sent again."""
        decision = decide(
            POLICY, method="POST", status=None, sent=False, idempotent=False, retries=0
        )
        assert (Step.RETRY, False) == (decision.step, decision.unknown)

    def test_a_dropped_post_is_reconciled(self) -> None:
        """A dropped connection leaves the create's outcome unknown."""
        assert Step.RECONCILE == step(
            method="POST", status=None, sent=None, idempotent=False, can_reconcile=True
        )

    def test_a_timeout_costs_more_of_the_budget(self) -> None:
        """A retry after a timeout spends timeout_retry_cost, others retry_cost."""
        timeout = decide(
            POLICY, method="GET", status=None, timed_out=True, idempotent=True, retries=0
        )
        dropped = decide(POLICY, method="GET", status=None, idempotent=True, retries=0)
        assert (POLICY.timeout_retry_cost, POLICY.retry_cost) == (timeout.cost, dropped.cost)

    def test_retry_after_is_ignored_without_an_answer(self) -> None:
        """Only an answer can ask for a wait; a lost attempt backs off."""
        decision = decide(
            POLICY, method="GET", status=None, retry_after=500.0, idempotent=True, retries=0
        )
        assert Step.RETRY == decision.step
        assert decision.delay <= POLICY.backoff_base


class TestLimits:
    def test_retries_stop_at_max_retries(self) -> None:
        """The retry after the last allowed one is raised."""
        assert Step.RETRY == step(status=500, retries=POLICY.max_retries - 1)
        assert Step.RAISE == step(status=500, retries=POLICY.max_retries)

    def test_a_retry_after_is_the_delay(self) -> None:
        """A server's Retry-After replaces the backoff."""
        decision = decide(
            POLICY, method="GET", status=503, retry_after=7.0, idempotent=True, retries=0
        )
        assert (Step.RETRY, 7.0) == (decision.step, decision.delay)

    def test_a_retry_after_too_long_is_raised(self) -> None:
        """A wait past retry_after_max fails at once instead of sleeping."""
        assert Step.RAISE == step(status=503, retry_after=61.0)

    def test_the_backoff_doubles_with_full_jitter_under_the_cap(self) -> None:
        """Each retry's ceiling doubles from backoff_base, up to backoff_max."""
        rng = random.Random(7)
        delays = [
            decide(
                POLICY, method="GET", status=500, idempotent=True, retries=n, rng=rng
            ).delay
            for n in range(3)
        ]
        assert all(0 <= d <= POLICY.backoff_base * 2**n for n, d in enumerate(delays))


class TestThrottlingAndTokens:
    def test_a_429_waits_its_turn_without_spending_a_retry(self) -> None:
        """A 429 is paced and resent, even for a create, and even after max_retries."""
        assert Step.WAIT == step(status=429, retries=POLICY.max_retries)
        assert Step.WAIT == step(status=429, method="POST", idempotent=False)

    def test_a_429_past_the_wait_limit_is_raised(self) -> None:
        """After rate_limit_max_wait since the first 429, the 429 is raised."""
        assert Step.WAIT == step(status=429, throttled_for=POLICY.rate_limit_max_wait - 1)
        assert Step.RAISE == step(status=429, throttled_for=POLICY.rate_limit_max_wait)

    def test_a_429_asking_too_long_a_wait_is_raised(self) -> None:
        """A 429 whose Retry-After passes retry_after_max is raised at once."""
        assert Step.RAISE == step(status=429, retry_after=POLICY.retry_after_max + 1)

    def test_a_401_renews_a_renewable_token_once(self) -> None:
        """A refused renewable token is renewed and replayed once, then raised."""
        assert Step.RENEW == step(status=401, renewable=True)
        assert Step.RAISE == step(status=401, renewable=True, renewed=True)
        assert Step.RAISE == step(status=401, renewable=False)

    def test_a_delete_404_after_a_lost_attempt_is_a_success(self) -> None:
        """Gone is gone: a DELETE that may have been applied takes a later 404 as done."""
        assert Step.RETURN == step(method="DELETE", status=404, maybe_applied=True)
        assert Step.RAISE == step(method="DELETE", status=404)
        assert Step.RAISE == step(method="GET", status=404, maybe_applied=True)
