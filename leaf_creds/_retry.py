"""RetryPolicy, backoff, and reading ``Retry-After``."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

__all__ = ["RETRYABLE_STATUSES", "RetryBudget", "RetryPolicy", "parse_retry_after"]

# 408, 429 and 503 say the request was not processed; 500, 502 and 504 leave
# it open. The session decides per method what that allows (see _session.py).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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
