"""Pacer: the session-wide client-side rate limiter, learned from Leaf's 429s.

Leaf's (draft) limit is 1,000 requests per minute per account, shared by
every worker, and it says nothing but ``429`` when it is passed. So the
session learns the rate: it sends freely until the first 429, then paces
every request through one schedule whose rate follows CUBIC, the curve
botocore's "adaptive" retry mode uses (and TCP before it):

- a 429 cuts the rate to ``BETA`` (0.8) times ``W_max``, the rate where the
  limit was met: the rate of requests that got through (were not answered
  429) over the last half second, once that is measured, else the rate in
  force; the very first 429 takes a quarter of the rate sent freely so far;
- the rate then grows back along ``W_max * (C * (t - K)**3 + 1)``: quickly
  at first, flat near ``W_max``, then faster again, probing for more;
- the requests already waiting for a start reserved at the old rate take new
  turns at the new one, and the schedule restarts with no catch-up burst;
- only a 429 to a request reserved after the last cut cuts again: the
  requests already on their way met the same limit, and one overshoot is one
  cut (TCP's rule), or a burst of 429s would cut the rate to nothing;
- the rate never exceeds twice what was measured being sent (or twice
  ``W_max``), so a session that sends little does not "earn" a rate it never
  tried;
- ``LeafSession(rate_limit=...)`` is a hard ceiling, enforced from the first
  request, with starts spaced ``1/rate`` apart.

The schedule is a GCRA (a token bucket written as a "theoretical arrival
time"): each request reserves the next start time and sleeps until it, so
there is no lock, no polling, and the order is first come, first served.

Until the first 429, with no ceiling, the session pays one attribute check
(``engaged``) and one counter increment per request, nothing else (only the
very first request goes through :meth:`Pacer.acquire`, to start the clock).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Final

__all__ = ["BETA", "MIN_RATE", "Pacer"]

log = logging.getLogger("leaf_creds")

# The cut: the rate kept after a 429. botocore and CUBIC keep 0.7; W_max here
# is what got through, not the rate that overshot, so a gentler cut suffices.
BETA: Final = 0.8
# CUBIC's C, per s**3, as a share of W_max rather than botocore's fixed 0.4
# requests/s per s**3: the curve then has one shape at 2 requests/s and at
# 200 (back to W_max in K = (0.2 / 0.1) ** (1/3) = 1.26 s, twice it 2.2 s
# later), and a worker sharing the limit with others probes as fast as one
# alone, so it takes up the room a finished worker leaves within seconds.
SCALE: Final = 0.1
MIN_RATE: Final = 0.5  # requests/s: never slower, so a probe always goes out
_WINDOW: Final = 0.25  # seconds per measurement window; rates span the last two
_FIRST_CUT: Final = 0.25  # of the free rate, taken as W_max at the first 429
_SPAN_MIN: Final = 0.4  # seconds of measurement before a rate is trusted
# How far behind "now" the schedule may be, when the learned rate binds: the
# event loop wakes sleepers late under load, and without a little catch-up
# the rate actually sent would sag below the rate learned.
_SLACK: Final = 0.02


class Pacer:
    """When each request of a session may start.

    Attributes:
        engaged: Whether requests go through :meth:`acquire`: there is a
            ceiling, or a 429 was met. The session's hot path reads only this.
        sent: Requests sent while not engaged (the first rate is learned
            from them).
    """

    __slots__ = (
        "_adaptive",
        "_ceiling",
        "_cut_at",
        "_grants",
        "_k",
        "_previous",
        "_refused",
        "_since",
        "_started",
        "_tat",
        "_w_max",
        "_window_start",
        "engaged",
        "sent",
    )

    def __init__(self, ceiling: float | None = None) -> None:
        self._ceiling = ceiling
        # Engaged for the very first request, which starts the clock of the
        # free rate (a session may be made long before it is used).
        self.engaged = True
        self._started = False
        self.sent = 0
        self._since = time.monotonic()
        self._adaptive = False
        self._tat = 0.0
        self._cut_at = -math.inf
        self._w_max = math.inf
        self._k = 0.0
        # Requests reserved and answered 429 in the current measurement
        # window, and the window before it (grants, refused, start).
        self._grants = 0
        self._refused = 0
        self._window_start = self._since
        self._previous: tuple[int, int, float] | None = None

    @property
    def ceiling(self) -> float | None:
        """The hard ceiling in requests per second, or None."""
        return self._ceiling

    def rate(self, now: float) -> float:
        """Return the rate requests may start at ``now``, in requests per second (inf: free)."""
        rate = math.inf
        if self._adaptive:
            t = now - self._cut_at - self._k
            rate = max(MIN_RATE, self._w_max * (SCALE * t * t * t + 1.0))
            sent = self._measured(now, admitted=False)
            if sent is not None:
                # Never far above what is really sent: a rate never tried
                # proves nothing about the limit.
                rate = min(rate, max(MIN_RATE, 2.0 * sent, 2.0 * self._w_max))
        if self._ceiling is not None and self._ceiling < rate:
            rate = self._ceiling
        return rate

    async def acquire(self, deadline: float | None = None) -> float | None:
        """Reserve the next start and sleep until it.

        Returns:
            When the start was reserved (monotonic seconds), to hand to
            :meth:`throttled` if the request meets a 429; None, reserving
            nothing, when the start would come after ``deadline``.
        """
        now = time.monotonic()
        if not self._started:
            self._started = True
            self._since = self._window_start = now
            self.engaged = self._ceiling is not None or self._adaptive
        while True:
            rate = self.rate(now)
            if rate == math.inf:
                self.sent += 1
                return now
            floor = now if rate == self._ceiling else now - _SLACK
            start = self._tat if self._tat > floor else floor
            if deadline is not None and start > deadline:
                return None
            self._tat = start + 1.0 / rate
            self._roll(now)
            self._grants += 1
            if start <= now:
                return now
            await asyncio.sleep(start - now)
            if self._cut_at <= now:
                # The reservation's time, not the start's: a start reserved
                # at the old rate must not count as the new rate's overshoot.
                return now
            # A 429 cut the rate while this request waited: its start was
            # spaced at the old rate, so it takes a turn at the new one.
            self._grants -= 1
            now = time.monotonic()

    def throttled(self, sent_at: float, retry_after: float | None = None) -> None:
        """Take a 429 to a request reserved at ``sent_at`` (0 when sent freely)."""
        now = time.monotonic()
        self._roll(now)
        if sent_at:  # one of the grants counted (not a request sent freely)
            self._refused += 1
        if not self._adaptive:
            # The first 429: the limit was met somewhere below the rate
            # sent so far, freely; most of a free burst is what the server
            # refuses, so start from a quarter of it. (An overestimate costs more
            # cuts, each a few 429s; an underestimate, e.g. of a session
            # that idled before its burst, a few seconds of CUBIC's probing.)
            elapsed = max(now - self._since, 1e-3)
            self._adaptive = True
            self.engaged = True
            # Measuring starts now: the free sends were not counted as grants.
            self._grants = self._refused = 0
            self._window_start = now
            self._previous = None
            self._cut(now, _FIRST_CUT * self.sent / elapsed)
        elif sent_at > self._cut_at:
            # Where the limit is: what got through, once that is measured.
            # Repeated 429s while it holds keep W_max there, rather than
            # cutting below what the server is seen to admit.
            admitted = self._measured(now, admitted=True)
            self._cut(now, self.rate(now) if admitted is None else admitted)
        if retry_after:
            # The server said when: nobody of this session starts before then.
            self._tat = max(self._tat, now + retry_after)

    def _cut(self, now: float, basis: float) -> None:
        if self._ceiling is not None:
            basis = min(basis, self._ceiling)
        self._w_max = max(basis, MIN_RATE)
        self._k = ((1.0 - BETA) / SCALE) ** (1.0 / 3.0)
        self._cut_at = now
        # The requests waiting for a start reserved at the old rate take
        # new turns (see acquire); the schedule restarts one interval from
        # now, with no catch-up burst (a 429 says the server has no room).
        self._tat = min(self._tat, now) + 1.0 / self.rate(now)
        log.debug("429: pacing requests at %.1f/s (the limit was met near %.1f/s)",
                  self.rate(now), self._w_max)  # fmt: skip

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < _WINDOW:
            return
        # A window older than one window ago says nothing of now.
        fresh = elapsed < 2 * _WINDOW
        self._previous = (self._grants, self._refused, self._window_start) if fresh else None
        self._grants = self._refused = 0
        self._window_start = now

    def _measured(self, now: float, *, admitted: bool) -> float | None:
        """Return the rate reserved (or reserved and not refused) lately, per second."""
        grants, refused, start = self._grants, self._refused, self._window_start
        if self._previous is not None:
            grants += self._previous[0]
            refused += self._previous[1]
            start = self._previous[2]
        span = now - start
        if span < _SPAN_MIN:
            return None
        return max(0, grants - refused if admitted else grants) / span
