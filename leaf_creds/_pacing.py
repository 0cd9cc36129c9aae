"""Pacer: the session-wide client-side rate limiter, learned from Leaf's 429s.

Leaf's (draft) limit is 1,000 requests per minute per account, shared by
every worker, and it says nothing but ``429`` when it is passed. So the
session learns the rate: it sends freely until the first 429, then paces
every request through one schedule whose rate follows CUBIC, the curve
botocore's "adaptive" retry mode uses (and TCP before it):

- a 429 cuts the rate to ``BETA`` (0.8) times ``W_max``, where the limit
  was met: what got through (was not answered 429) since the last cut, per
  second this session was free to send (a ``Retry-After`` hold is not), or
  over the last second, whichever is more. A token bucket is empty at both
  429s, so the first is the limit itself unless the bucket overflowed
  meanwhile, and the second the limit plus what was left in the bucket a
  second ago; neither is the rate that overshot. Until that can be measured
  (the last cut was less than ``_SPAN_MIN`` of sending ago), the cut keeps
  at least half the rate in force; the very first 429 takes a quarter of
  the rate sent freely so far;
- the rate then grows back along ``W_max * (C * (t - K)**3 + 1)``: quickly
  at first, flat near ``W_max``, then faster again, probing for more;
- once the limit was met at about the same ``W_max`` twice running (within
  ``_STEADY``), it is known: the next cut is shallower (``_BETA_KNOWN``),
  and the rate stays at ``W_max`` for ``_DWELL`` seconds before the same
  probe starts, so a job riding a known limit meets a 429 every few seconds
  rather than every one or two. A plateau that lasted its whole dwell is
  not below the limit, and the next ``W_max`` is not below it either. A
  probe that finds the limit elsewhere (a worker finished, the limit rose,
  another worker took a share) is not "the same twice", and the next curve
  is CUBIC's again;
- after a cut nobody starts for the round trip of the 429 that made it
  (at most ``_SETTLE_MAX``): the requests already on their way met the same
  limit, and their answers, and a server's queue that is behind, come in
  before the new rate's first request goes. The requests waiting for a
  start reserved at the old rate then take new turns at the new one, with
  no catch-up burst;
- only a 429 to a request let go after the last cut cuts again: one
  overshoot is one cut (TCP's rule), or a burst of 429s would cut the rate
  to nothing;
- a ``Retry-After`` holds every request of the session until then, plus a
  random share of up to ``_JITTER`` of it, so sessions refused together do
  not come back together. The hold is not time the rate grows (the curve,
  and the measuring of what gets through, stand still), and the session
  resumes from what surely got through (since the last cut, over the time
  since, the hold included), doubling every ``_RAMP`` seconds up to the
  cut rate, rather than spending at once the bucket the hold refilled and
  meeting the next 429, and hold, at once;
- the rate never exceeds twice what was measured being sent (or twice
  ``W_max``) while nothing waits for a turn, so a session that sends little
  does not "earn" a rate it never tried;
- ``LeafSession(rate_limit=...)`` is a hard ceiling, enforced from the first
  request, with starts spaced ``1/rate`` apart.

The schedule is a GCRA (a token bucket written as a "theoretical arrival
time"): each request reserves the next start time, spaced at the rate of
that time, and sleeps until it, so there is no lock, no polling, and the
order is first come, first served.

The first flight of a session (with no ceiling) goes through
:meth:`Pacer.acquire` (see :meth:`Pacer._fly`): a request sent because one
of it was answered waits until the rest of it is, at most half a second from
the first request, so that a limit is found by that flight's 429s and not
also by a second flight sent before they came back. After it, until the
first 429, the session pays one attribute check (``engaged``) and one
counter increment per request, nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

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
_FIRST_CUT: Final = 0.25  # of the free rate, taken as W_max at the first 429
_SPAN_MIN: Final = 0.4  # seconds of sending before a rate measured is trusted
_RECENT: Final = 1.0  # seconds: "what got through lately", for W_max
_BLIND: Final = 0.5  # of the rate in force: the least W_max of a cut not measured
_STEADY: Final = 0.1  # two measured limits this close (relatively): the limit is known
_BETA_KNOWN: Final = 0.9  # the cut when the limit is known: it was only just passed
_DWELL: Final = 2.0  # seconds at a known limit before probing above it
_DWELL_HELD: Final = 2.0  # Retry-Afters at W_max, at least, after a cut that held one
_SETTLE_MAX: Final = 0.25  # seconds: the longest hold after a cut, for its round trip
_RAMP: Final = 0.25  # seconds per doubling of the rate, resuming after a Retry-After
_JITTER: Final = 0.2  # of a Retry-After, at most, added to the hold at random
_MARK: Final = 0.1  # seconds between marks of the counts of requests
_MARKS: Final = 30  # marks kept: three seconds of them
_SENT_SPAN: Final = 0.5  # seconds over which the rate sent is measured
# How far behind "now" the schedule may be, when the learned rate binds: the
# event loop wakes sleepers late under load, and without a little catch-up
# the rate actually sent would sag below the rate learned.
_SLACK: Final = 0.02
_WARMUP: Final = 256  # requests in the first flight, at most (see Pacer._fly)
_FLY_MAX: Final = 0.5  # seconds from the first request: the first flight's end, at the latest


class Pacer:
    """When each request of a session may start.

    Args:
        ceiling: The hard ceiling in requests per second, or None.
        clock: Monotonic seconds; the event loop's sleeps must agree with it.
        rng: Uniform numbers in [0, 1), for the jitter of a ``Retry-After``.

    Attributes:
        engaged: Whether requests go through :meth:`acquire`: there is a
            ceiling, a 429 was met, or the first flight is not over. The
            session's hot path reads only this.
        sent: Requests sent freely (the first rate is learned from them).
    """

    __slots__ = (
        "_adaptive",
        "_answered",
        "_ceiling",
        "_clock",
        "_cut_at",
        "_depth",
        "_dwell",
        "_epoch",
        "_held",
        "_hold_until",
        "_k",
        "_known",
        "_marks",
        "_origin",
        "_out",
        "_ramp_from",
        "_refused",
        "_rng",
        "_since",
        "_started",
        "_starts",
        "_steady",
        "_tat",
        "_w_max",
        "_warmup",
        "engaged",
        "sent",
    )

    def __init__(
        self,
        ceiling: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._ceiling = ceiling
        self._clock = clock
        self._rng = rng
        # Engaged for the first flight (with a ceiling: for good), which also
        # starts the clock of the free rate (a session may be made long
        # before it is used).
        self.engaged = True
        self._started = False
        self.sent = 0
        self._since = clock()
        self._adaptive = False
        # The first flight (see _fly): requests it may still take, the tasks
        # with a request of it out, and the event set once they are answered.
        self._warmup = _WARMUP if ceiling is None else 0
        self._out: set[asyncio.Task[Any] | None] = set()
        self._answered: asyncio.Event | None = None
        self._tat = -math.inf
        # The last cut; the curve's t = 0 (the cut, moved on by every second
        # of hold since: the curve stands still in them); W_max, how deep
        # the cut went below it, and the seconds back to it.
        self._cut_at = -math.inf
        self._origin = 0.0
        self._w_max = math.inf
        self._depth = 1.0 - BETA
        self._dwell = 0.0  # seconds at W_max before probing above it
        self._k = math.cbrt(self._depth / SCALE)
        self._hold_until = -math.inf
        # Resuming after a Retry-After: the rate ramps up from here.
        self._ramp_from = math.inf
        # The limit as last measured (None: not yet), and whether the last
        # two measurements agreed on it.
        self._known: float | None = None
        self._steady = False
        # Requests let go by acquire (not freely), and those answered 429;
        # marks of both (time, starts, refused) at most every _MARK seconds,
        # for the rates of the last seconds; the mark of the last cut, and
        # the seconds of hold since it.
        self._starts = 0
        self._refused = 0
        self._marks: deque[tuple[float, int, int]] = deque(maxlen=_MARKS)
        self._epoch = (self._since, 0, 0)
        self._held = 0.0

    @property
    def ceiling(self) -> float | None:
        """The hard ceiling in requests per second, or None."""
        return self._ceiling

    def rate(self, now: float) -> float:
        """Return the rate requests may start at ``now``, in requests per second (inf: free).

        During a ``Retry-After`` hold: the rate the session resumes at.
        """
        return self._rate(now, now)

    def _rate(self, now: float, at: float) -> float:
        """Return the rate of a start at ``at`` reserved at ``now``."""
        rate = math.inf
        if self._adaptive:
            t = max(at, self._hold_until) - self._origin
            rate = self._curve(t)
            if self._ramp_from < rate:
                doublings = t / _RAMP
                if doublings < 64.0:
                    rate = min(rate, self._ramp_from * 2.0**doublings)
            rate = max(MIN_RATE, rate)
            if self._tat <= now and rate > 2.0 * self._w_max:
                # Nothing waits for a turn: the session does not use the
                # rate it has. Never far above what it really sends, then: a
                # rate never tried proves nothing about the limit.
                sent = self._measured(now)
                if sent is not None:
                    rate = min(rate, max(MIN_RATE, 2.0 * sent, 2.0 * self._w_max))
        if self._ceiling is not None and self._ceiling < rate:
            rate = self._ceiling
        return rate

    def _curve(self, t: float) -> float:
        """Return CUBIC's rate ``t`` seconds (of sending) after the last cut."""
        w_max, k = self._w_max, self._k
        if t < k:
            d = (k - t) / k
            return w_max * (1.0 - self._depth * d * d * d)
        t -= k + self._dwell
        if t <= 0.0:
            return w_max
        return w_max * (1.0 + SCALE * t * t * t)

    async def acquire(self, deadline: float | None = None) -> float | None:
        """Wait for this request's turn.

        Returns:
            When the request was let go (the clock's seconds), to hand to
            :meth:`throttled` if it meets a 429, or 0.0 if it went freely;
            None, reserving nothing, when its turn would come after
            ``deadline``.
        """
        clock = self._clock
        now = clock()
        if not self._started:
            self._started = True
            self._since = now
        while True:
            rate = self._rate(now, now)
            if rate == math.inf:
                if self._warmup:
                    await self._fly(now)
                    if self._adaptive:  # a 429 came meanwhile: take a turn
                        now = clock()
                        continue
                self.sent += 1
                return 0.0
            floor = now if rate == self._ceiling else now - _SLACK
            start = self._tat if self._tat > floor else floor
            if start < self._hold_until:
                start = self._hold_until
            if deadline is not None and start > deadline:
                return None
            if start > now:
                # Spaced at the rate of its own turn: the curve moves on
                # while the requests queued ahead of it go.
                rate = self._rate(now, start)
            self._tat = start + 1.0 / rate
            if start > now:
                reserved = now
                await asyncio.sleep(start - now)
                now = clock()
                if self._cut_at > reserved or self._hold_until > start:
                    # A 429 cut the rate, or a hold began, while it waited:
                    # its start was spaced at the old rate, or falls in the
                    # hold, so it takes a new turn.
                    continue
            self._starts += 1
            marks = self._marks
            if not marks or now - marks[-1][0] >= _MARK:
                marks.append((now, self._starts, self._refused))
            return now

    def throttled(self, sent_at: float, retry_after: float | None = None) -> None:
        """Take a 429 to a request let go at ``sent_at`` (0.0: it went freely)."""
        now = self._clock()
        through: int = 0
        since: float | None = None
        if sent_at:
            self._refused += 1
        if not self._adaptive:
            # The first 429: the limit was met somewhere below the rate
            # sent so far, freely; most of a free burst is what the server
            # refuses, so start from a quarter of it. (An overestimate costs more
            # cuts, each a few 429s; an underestimate, e.g. of a session
            # that idled before its burst, a few seconds of CUBIC's probing.)
            elapsed = max(now - self._since, 1e-3)
            self._adaptive = True
            if self._warmup:
                self._end_warmup()
            self.engaged = True
            through, since = self.sent, self._since
            self._cut(now, _FIRST_CUT * self.sent / elapsed, measured=False)
            self._hold(now, min(elapsed, _SETTLE_MAX))
        elif sent_at > self._cut_at:
            cut_at, starts, refused = self._epoch
            through, since = (self._starts - starts) - (self._refused - refused), cut_at
            self._cut(now, *self._limit(now))
            # The requests sent in the last round trip met the same limit.
            # Nobody starts until their answers are in (and the server's
            # queue, if it is behind, drained), so that the next 429, if
            # any, is the new rate's alone.
            self._hold(now, min(now - sent_at, _SETTLE_MAX))
        if retry_after is not None and retry_after > 0:
            # The server said when: nobody of this session starts before
            # then, and the sessions it refused at once resume apart.
            seconds = retry_after * (1.0 + _JITTER * self._rng())
            self._hold(now, seconds)
            if since is not None:
                # What got through since the last cut, over the time since,
                # holds included, surely gets through: resume from there.
                self._ramp_from = max(MIN_RATE, through / max(now + seconds - since, 1e-3))
                # And every probe past the limit costs a hold like this one:
                # probe less often.
                self._dwell = max(self._dwell, _DWELL_HELD * retry_after)

    async def _fly(self, now: float) -> None:
        """Let a request go in the first flight, or once the first flight is answered.

        Until the first 429 every request goes freely, and a 429 comes back
        after the answers the server gave the requests before it: a request
        sent because an earlier one was answered (its task asks again) would
        go before the server's 429s to the others are in, and most likely
        meet one too. So a task whose request of the first flight was
        answered waits until the others are (or a 429 comes: it then takes
        a turn), at most until ``_FLY_MAX`` after the session's first
        request; then every request goes freely, as before the first 429.
        New tasks, a job's concurrency, join the first flight at once.
        """
        task = asyncio.current_task()
        out = self._out
        if task not in out:
            out.add(task)
            self._warmup -= 1
            if not self._warmup:
                self._end_warmup()
            return
        out.discard(task)
        # A task that is done is not waiting for an answer any more.
        out.difference_update([other for other in out if other is not None and other.done()])
        if out:
            answered = self._answered
            if answered is None:
                answered = self._answered = asyncio.Event()
            try:
                async with asyncio.timeout(max(0.0, self._since + _FLY_MAX - now)):
                    await answered.wait()
            except TimeoutError:
                pass
        self._end_warmup()

    def _end_warmup(self) -> None:
        self._warmup = 0
        self._out.clear()
        self.engaged = self._ceiling is not None or self._adaptive
        self._wake()

    def _wake(self) -> None:
        if self._answered is not None:
            self._answered.set()
            self._answered = None

    def _limit(self, now: float) -> tuple[float, bool]:
        """Return where the limit was met, and whether that was measured."""
        in_force = self.rate(now)
        # The seconds of sending since the last cut: held seconds excluded.
        held = self._held - max(0.0, self._hold_until - now)
        cut_at, starts, refused = self._epoch
        span = now - cut_at - held
        admitted = (self._starts - starts) - (self._refused - refused)
        epoch = admitted / span if span > 0 else math.inf
        if span < _SPAN_MIN:
            # Too short to say: most of what was sent since was too much, and a
            # few requests' count is too noisy to go by. Not below half of it,
            # nor far below a limit measured (a server that stalled, then
            # refused its queue, says nothing new of the limit; if the limit
            # fell, each such cut brings the one known down by BETA).
            basis = max(_BLIND * in_force, min(epoch, in_force))
            if self._known is not None:
                basis = max(basis, BETA * self._known)
            return basis, False
        # The average since the last cut is short of the limit by what the
        # bucket could not hold while the rate was below it; what got
        # through lately (in the last second of sending) is over it by what
        # the bucket held a second ago. Whichever is more.
        basis = epoch
        mark = self._mark(max(now - _RECENT, cut_at, min(self._hold_until, now)))
        if mark is not None and now - mark[0] >= _SPAN_MIN:
            recent = ((self._starts - mark[1]) - (self._refused - mark[2])) / (now - mark[0])
            basis = max(basis, recent)
        basis = min(basis, in_force)
        if self._dwell and max(now, self._hold_until) - self._origin >= self._k + self._dwell:
            # The plateau lasted its whole dwell without a 429: the limit
            # is not below it, whatever the averages say.
            basis = max(basis, self._w_max)
        return basis, True

    def _cut(self, now: float, basis: float, measured: bool) -> None:
        if self._ceiling is not None:
            basis = min(basis, self._ceiling)
        basis = max(basis, MIN_RATE)
        known = self._known
        self._steady = measured and known is not None and abs(basis - known) <= _STEADY * known
        if measured or known is not None:
            self._known = basis
        self._w_max = basis
        self._depth = 1.0 - (_BETA_KNOWN if self._steady else BETA)
        self._dwell = _DWELL if self._steady else 0.0
        self._k = math.cbrt(self._depth / SCALE)
        self._cut_at = now
        # A hold under way (from an earlier 429) is not time the curve grows.
        self._origin = max(now, self._hold_until)
        self._held = self._origin - now
        self._epoch = (now, self._starts, self._refused)
        self._ramp_from = math.inf
        # The requests waiting for a start reserved at the old rate take
        # new turns (see acquire); the schedule restarts one interval from
        # now, with no catch-up burst (a 429 says the server has no room).
        self._tat = now + 1.0 / self.rate(now)
        log.debug(
            "429: pacing requests at %.1f/s (the limit was met near %.1f/s%s)",
            self.rate(now),
            basis,
            ", again" if self._steady else "",
        )

    def _hold(self, now: float, seconds: float) -> None:
        """Let nobody start for ``seconds`` from ``now``; the curve waits too."""
        end = now + seconds
        current = max(self._hold_until, now)
        if end <= current:
            return
        self._origin += end - current
        self._held += end - current
        self._hold_until = end
        if self._tat < end:
            self._tat = end

    def _mark(self, since: float) -> tuple[float, int, int] | None:
        """Return the last mark made at or before ``since``, else the first one."""
        marks = self._marks
        for index in range(len(marks) - 1, -1, -1):
            if marks[index][0] <= since:
                return marks[index]
        return marks[0] if marks else None

    def _measured(self, now: float) -> float | None:
        """Return the rate of requests let go lately, per second."""
        mark = self._mark(now - _SENT_SPAN)
        if mark is None or now - mark[0] < _SPAN_MIN:
            return None
        return (self._starts - mark[1]) / (now - mark[0])
