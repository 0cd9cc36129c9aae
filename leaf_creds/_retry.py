"""RetryPolicy, backoff, ``Retry-After``, and the pure decision for one failed attempt.

What is retried (see the README's "Retries" section), decided by :func:`decide`:

- GET and DELETE: connection errors, timeouts, 408, 429, 500, 502, 503, 504.
  A DELETE whose earlier attempt may have been applied treats a later 404 as
  success.
- POST (create): only when the request provably never left (connection
  refused, connect timeout) or the answer says it was not processed (408,
  429, 503). When the outcome is unknown (read timeout, dropped connection,
  500, 502, 504), the request's reconcile (the matching GET, for a
  credential) decides: it was applied, so it is done; it was not, so it is
  retried; it cannot tell, so ``OutcomeUnknownError``. Without a reconcile,
  an unknown outcome is raised.
- A 429 is not a fault: the request waits its turn in the session's pacing
  and is sent again, spending none of ``max_retries``, until
  ``rate_limit_max_wait`` has passed.
- A 401 to a renewable token renews it and replays once.
"""

from __future__ import annotations

import enum
import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple

import attrs

__all__ = [
    "NOT_PROCESSED",
    "RETRYABLE_STATUSES",
    "Decision",
    "RetryBudget",
    "RetryPolicy",
    "Step",
    "decide",
    "parse_retry_after",
]

# 408, 429 and 503 say the request was not processed; 500, 502 and 504 leave
# it open. decide() says per method what that allows.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Statuses that say the server did not process the request, so even a POST
# may be sent again. 408 is left out on purpose: a server may time out
# after it started applying the body, so a POST answered 408 is checked.
NOT_PROCESSED = frozenset({429, 503})


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _budget(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{attribute.name} must be an int >= 0 or None, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a session retries transient failures.

    Attributes:
        max_retries: Retries after the first attempt; 0 disables retrying.
        backoff_base: The first backoff ceiling in seconds; it doubles on
            each retry (exponential backoff with full jitter).
        backoff_max: The largest backoff ceiling in seconds.
        retry_after_max: The longest ``Retry-After`` we are willing to sleep;
            when the server asks for more, the call fails at once with the
            parsed ``retry_after`` on the error instead of sleeping.
        rate_limit_max_wait: Seconds a request answered 429 keeps waiting
            its turn in the session's pacing and being sent again, from its
            first 429; then the last 429 is raised as ``RateLimitError``.
            Being paced spends none of ``max_retries``. 0 raises the first 429.
        retry_budget: The session-wide allowance of retries (the AWS SDKs'
            retry quota): each retry of a 5xx, a 408 or a connection error
            spends ``retry_cost``, of a timeout ``timeout_retry_cost``, and
            each success gives back ``retry_refill``, up to this capacity.
            When a retry cannot be paid for, the call fails at once with its
            error: in an outage the session stops multiplying the load.
            None turns the budget off.
        retry_cost: What one retry of a 5xx, 408 or connection error spends.
        timeout_retry_cost: What one retry after a timeout spends.
        retry_refill: What one success gives back.
        unreachable_after: Seconds after which ``LeafSession.bulk`` stops
            when every connection attempt since the last answer was refused
            (or timed out connecting); it stops sooner when the retry budget
            runs dry meanwhile.
    """

    max_retries: int = attrs.field(default=3, validator=_non_negative)
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=30.0, validator=_non_negative)
    retry_after_max: float = attrs.field(default=60.0, validator=_non_negative)
    rate_limit_max_wait: float = attrs.field(default=120.0, validator=_non_negative)
    retry_budget: int | None = attrs.field(default=500, validator=_budget)
    retry_cost: int = attrs.field(default=5, validator=_non_negative)
    timeout_retry_cost: int = attrs.field(default=10, validator=_non_negative)
    retry_refill: int = attrs.field(default=1, validator=_non_negative)
    unreachable_after: float = attrs.field(default=5.0, validator=_non_negative)

    def backoff(self, retry: int, *, rng: random.Random | None = None) -> float:
        """Return the seconds to wait before retry number ``retry`` (from 1).

        Full jitter: a uniform draw between 0 and the exponential ceiling,
        which spreads the retries of many clients hit by one outage.
        """
        # The exponent is capped so a huge max_retries cannot overflow a float.
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(retry - 1, 64))
        return (rng or random).uniform(0, ceiling)


class RetryBudget:
    """What one session knows of its faults: the retry allowance, and how long the host is gone.

    Attributes:
        short: Whether a success has something to do here: the allowance is
            below capacity, or connections have been failing. The session's
            hot path reads only this.
        empty: Whether a retry was refused for want of budget since the
            last success.
        refused: Connection attempts refused since the last answer.
        refused_since: When the first of them was made (monotonic), or None.
    """

    __slots__ = ("_capacity", "_level", "_refill", "empty", "refused", "refused_since", "short")

    def __init__(self, policy: RetryPolicy) -> None:
        self._capacity = policy.retry_budget
        self._level = 0 if policy.retry_budget is None else policy.retry_budget
        self._refill = policy.retry_refill
        self.short = False
        self.empty = False
        self.refused = 0
        self.refused_since: float | None = None

    @property
    def level(self) -> int | None:
        """The allowance left, or None when the budget is off."""
        return None if self._capacity is None else self._level

    def spend(self, cost: int) -> bool:
        """Pay for one retry; return False (spending nothing) when it cannot be paid for."""
        if self._capacity is None:
            return True
        if cost > self._level:
            self.empty = True
            return False
        self._level -= cost
        self.short = True
        return True

    def succeeded(self) -> None:
        """Take a success: refill, and the host answers again."""
        self.answered()
        self.empty = False
        if self._capacity is not None:
            self._level = min(self._capacity, self._level + self._refill)
            self.short = self._level < self._capacity

    def answered(self) -> None:
        """Take an answer of any status: the host is reachable."""
        self.refused = 0
        self.refused_since = None
        self.short = self._capacity is not None and self._level < self._capacity

    def unreachable(self) -> None:
        """Take a connection attempt that never reached the host."""
        if self.refused_since is None:
            self.refused_since = time.monotonic()
        self.refused += 1
        self.short = True


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Return the wait a server asked for, in seconds, or None.

    Reads ``retry-after-ms`` first, then ``Retry-After`` as delay-seconds or
    as an HTTP date. Unreadable values are ignored; a date in the past is 0.
    """
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


class Step(enum.Enum):
    """What to do after one attempt that was not a plain success."""

    RETURN = "return"  # take the answer as a success (a DELETE's 404 after a lost attempt)
    RENEW = "renew"  # forget the refused token, get another, replay (not a retry)
    WAIT = "wait"  # a 429: wait for a turn in the pacing, send again (not a retry)
    RECONCILE = "reconcile"  # the outcome is unknown: ask the request's reconcile first
    RETRY = "retry"  # back off ``delay`` seconds, pay ``cost`` from the budget, send again
    RAISE = "raise"  # give up with the attempt's error


class Decision(NamedTuple):
    """The step after an attempt, and what it needs."""

    step: Step
    delay: float = 0.0
    cost: int = 0
    # The attempt may have been applied (its outcome is unknown).
    unknown: bool = False


_RAISE = Decision(Step.RAISE)


def decide(
    policy: RetryPolicy,
    *,
    method: str,
    status: int | None,
    sent: bool | None = None,
    timed_out: bool = False,
    retry_after: float | None = None,
    idempotent: bool,
    retries: int,
    renewable: bool = False,
    renewed: bool = False,
    maybe_applied: bool = False,
    can_reconcile: bool = False,
    reconciled: bool = False,
    throttled_for: float = 0.0,
    rng: random.Random | None = None,
) -> Decision:
    """Decide what follows one attempt that was not a plain 2xx; pure, no I/O.

    Args:
        policy: The session's retry policy.
        method: The request's method.
        status: The answer's status, or None when no answer came (a
            connection error or a timeout).
        sent: For no answer: False when the request provably never left
            (connection refused, connect timeout); None or True otherwise.
        timed_out: For no answer: whether it was a timeout (it costs more).
        retry_after: The wait the answer asked for, in seconds.
        idempotent: Whether sending it twice is harmless.
        retries: Retries made so far (renewals and 429 resends not counted).
        renewable: Whether the request carried a token that can be renewed.
        renewed: Whether a 401 already renewed the token for this request.
        maybe_applied: Whether an earlier attempt may have been applied.
        can_reconcile: Whether the request has a reconcile (a check of
            whether an unknown outcome was applied).
        reconciled: Whether the reconcile already ran for this attempt and
            found nothing.
        throttled_for: Seconds since the request's first 429 (0 before one).
        rng: The jitter's random source.

    Returns:
        The :class:`Decision`; the caller does the I/O it names.
    """
    if status is not None:
        if status == 401 and renewable and not renewed:
            return Decision(Step.RENEW)
        if status == 404 and method == "DELETE" and maybe_applied:
            return Decision(Step.RETURN)
        if status == 429:
            too_long = retry_after is not None and retry_after > policy.retry_after_max
            if too_long or throttled_for >= policy.rate_limit_max_wait:
                return _RAISE
            return Decision(Step.WAIT)
        if status not in RETRYABLE_STATUSES:
            return _RAISE
        unknown = status not in NOT_PROCESSED
    else:
        unknown = sent is not False
        retry_after = None
    if unknown and not idempotent:
        if can_reconcile and not reconciled:
            return Decision(Step.RECONCILE, unknown=True)
        if not can_reconcile:
            return Decision(Step.RAISE, unknown=True)
    if retries >= policy.max_retries:
        return Decision(Step.RAISE, unknown=unknown)
    if retry_after is not None and retry_after > policy.retry_after_max:
        return Decision(Step.RAISE, unknown=unknown)
    delay = retry_after if retry_after is not None else policy.backoff(retries + 1, rng=rng)
    cost = policy.timeout_retry_cost if timed_out else policy.retry_cost
    return Decision(Step.RETRY, delay, cost, unknown)
