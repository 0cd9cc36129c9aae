"""The fake's rate limit: a token bucket per second, Leaf's fixed window per minute.

Leaf's (draft) limits page: 1,000 requests per minute per API-owner account,
across every method and endpoint; past it, ``429`` with a small JSON body
that is not problem JSON, and (probably) no ``Retry-After``, until the minute
resets. The fake counts every request it receives against one budget,
whichever token or client sent it, as Leaf counts one account's workers.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import attrs
from aiohttp import web

__all__ = ["LEAF_LIMIT_MESSAGE", "RateLimit", "RateLimiter"]

# Leaf's 429 body, word for word from its draft limits page.
LEAF_LIMIT_MESSAGE = (
    "You have exceeded the maximum allowed requests of {limit} per minute. "
    "Please reduce your request rate and try again after a short delay."
)
_SPEC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|m|min|minute)\s*(?::\s*(\d+))?\s*$")


def _positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


@attrs.frozen(kw_only=True)
class RateLimit:
    """How many requests the fake answers before it says ``429``.

    Either limit, or both, may be set; a request must pass every one that is.

    Attributes:
        per_second: Requests per second, as a token bucket that holds
            ``burst`` requests.
        burst: The token bucket's size; by default one second's worth
            (at least 1).
        per_minute: Requests per fixed calendar minute of the fake's clock
            (:meth:`FakeLeaf.advance_clock` moves it), as Leaf counts them.
    """

    per_second: float | None = attrs.field(default=None, validator=_positive_or_none)
    burst: int | None = attrs.field(default=None, validator=_positive_or_none)
    per_minute: int | None = attrs.field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        if self.per_second is None and self.per_minute is None:
            raise ValueError("set per_second, per_minute, or both")
        if self.burst is not None and self.per_second is None:
            raise ValueError("burst needs per_second")

    @classmethod
    def leaf(cls) -> RateLimit:
        """Return Leaf's documented (draft) limit: 1,000 requests per minute."""
        return cls(per_minute=1000)

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read ``"200/s"``, ``"200/s:20"`` (a burst of 20), ``"1000/min"``, or both, comma-joined.

        Raises:
            ValueError: The text is not in that form.
        """
        options: dict[str, Any] = {}
        for part in text.split(","):
            match = _SPEC.match(part)
            if match is None:
                raise ValueError(f"not a rate limit: {part.strip()!r} (try 200/s:20 or 1000/min)")
            number, unit, burst = match.groups()
            if unit.startswith("s"):
                options["per_second"] = float(number)
                if burst is not None:
                    options["burst"] = int(burst)
            else:
                if burst is not None:
                    raise ValueError("a per-minute window has no burst")
                options["per_minute"] = int(float(number))
        return cls(**options)


class RateLimiter:
    """The fake's one budget: tell each arriving request whether it is answered."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._capacity = float(
            limit.burst if limit.burst is not None else max(1.0, limit.per_second or 1.0)
        )
        self._tokens = self._capacity
        self._stamp: float | None = None
        self._window = -1
        self._in_window = 0
        self.refused = 0
        """How many requests were answered 429."""

    def refuse(self, now: float) -> web.Response | None:
        """Count a request arriving at ``now`` (seconds); return Leaf's 429 when over a limit."""
        limit = self.limit
        if limit.per_second is not None:
            if self._stamp is not None:
                elapsed = max(0.0, now - self._stamp)
                self._tokens = min(self._capacity, self._tokens + elapsed * limit.per_second)
            self._stamp = now
            if self._tokens < 1.0:
                return self._too_many()
        if limit.per_minute is not None:
            window = int(now // 60)
            if window != self._window:
                self._window, self._in_window = window, 0
            if self._in_window >= limit.per_minute:
                return self._too_many()
            self._in_window += 1
        if limit.per_second is not None:
            # Taken only once every limit let it through: a refused request
            # spends nothing, as at Leaf.
            self._tokens -= 1.0
        return None

    def _too_many(self) -> web.Response:
        self.refused += 1
        per_minute = self.limit.per_minute
        if per_minute is None:
            per_minute = round((self.limit.per_second or 0) * 60)
        body = {
            "error": "Request limit exceeded",
            "message": LEAF_LIMIT_MESSAGE.format(limit=per_minute),
            "status_code": 429,
        }
        return web.Response(status=429, text=json.dumps(body), content_type="application/json")
