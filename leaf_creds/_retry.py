"""RetryPolicy, backoff, and reading ``Retry-After``."""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import attrs

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "parse_retry_after"]

# 408, 429 and 503 say the request was not processed; 500, 502 and 504 leave
# it open. The session decides per method what that allows (see _session.py).
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


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
    """

    max_retries: int = attrs.field(default=3, validator=_non_negative)
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative)
    backoff_max: float = attrs.field(default=30.0, validator=_non_negative)
    retry_after_max: float = attrs.field(default=60.0, validator=_non_negative)

    def backoff(self, retry: int, *, rng: random.Random | None = None) -> float:
        """Return the seconds to wait before retry number ``retry`` (from 1).

        Full jitter: a uniform draw between 0 and the exponential ceiling,
        which spreads the retries of many clients hit by one outage.
        """
        # The exponent is capped so a huge max_retries cannot overflow a float.
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** min(retry - 1, 64))
        return (rng or random).uniform(0, ceiling)


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
