"""Scripted faults: answer some requests with an error, late, garbled, or not at all."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from fnmatch import fnmatchcase
from typing import Literal

import attrs

__all__ = ["Drop", "Fault", "Faults"]

Drop = Literal["before_body", "after_body"]
_DROPS = ("before_body", "after_body")


@attrs.define(kw_only=True, eq=False)
class Fault:
    """One scripted fault; see :meth:`Faults.add` for the meaning of each field.

    Attributes:
        fired: How many requests it has hit so far.
    """

    method: str | None
    path: str | None
    status: int | None
    retry_after: str | None
    times: int | None
    probability: float | None
    delay: float
    drop: Drop | None
    malformed: bool
    fired: int = 0

    @property
    def spent(self) -> bool:
        """Whether it has fired as many times as it may."""
        return self.times is not None and self.fired >= self.times

    def matches(self, method: str, paths: tuple[str, ...]) -> bool:
        """Tell whether a request's method and one of its paths fit this fault."""
        if self.method is not None and self.method != method:
            return False
        return self.path is None or any(fnmatchcase(path, self.path) for path in paths)


class Faults:
    """The ordered list of a fake server's scripted faults.

    For each request the faults are tried in the order they were added; the
    first one that matches the request, is not spent and (with a
    ``probability``) wins its draw, fires. A request hits at most one fault.
    """

    def __init__(self, *, seed: int | None = None) -> None:
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)

    def __repr__(self) -> str:
        return f"<Faults pending={sum(not f.spent for f in self._faults)}>"

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def add(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        retry_after: str | float | datetime | None = None,
        times: int | None = None,
        probability: float | None = None,
        delay: float = 0.0,
        drop: Drop | None = None,
        malformed: bool = False,
    ) -> Fault:
        """Script a fault.

        Args:
            method: Only requests with this method (any when None).
            path: Only requests whose path matches this glob (``*`` also
                matches ``/``), either the whole path
                (``/services/usermanagement/api/users/*/sentera-credentials``)
                or the path under the User Management service
                (``/users/*/sentera-credentials``). Paths are matched as
                sent, percent-encoded. Any path when None.
            status: Answer with this status and a problem-JSON body instead
                of handling the request.
            retry_after: The ``Retry-After`` header of that answer: seconds,
                or an HTTP date (a string, or an aware datetime).
            times: Fire on this many matching requests at most. Without
                ``times`` and ``probability`` a fault fires once; with a
                ``probability`` alone, without limit (``probability=1.0``
                fires on every matching request).
            probability: Fire on each matching request with this probability,
                drawn from the server's ``seed``.
            delay: Wait this many seconds before anything else (latency); a
                fault with only a delay then handles the request normally. A
                request whose client gave up during the wait is dropped
                without being applied.
            drop: Close the connection without answering: ``"before_body"``
                before the request body is read (nothing is applied), or
                ``"after_body"`` once the request was handled and applied
                (the client cannot know it was).
            malformed: Handle the request, then answer 200 (or ``status``)
                with a body that is not JSON.

        Returns:
            The fault, whose ``fired`` counts its hits.

        Raises:
            ValueError: The options contradict each other or are out of range.
        """
        if drop is not None and drop not in _DROPS:
            raise ValueError(f"drop must be one of {', '.join(_DROPS)}, got {drop!r}")
        if drop is not None and (status is not None or malformed):
            raise ValueError("a dropped connection has no status and no body")
        if status is not None and not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {status!r}")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be between 0 and 1, got {probability!r}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay!r}")
        if status is None and drop is None and not malformed and not delay:
            raise ValueError("a fault needs a status, a drop, malformed=True or a delay")
        if times is None and probability is None:
            times = 1
        fault = Fault(
            method=method.upper() if method else None,
            path=path,
            status=status,
            retry_after=_retry_after(retry_after),
            times=times,
            probability=probability,
            delay=float(delay),
            drop=drop,
            malformed=malformed,
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every fault."""
        self._faults.clear()

    def next_for(self, method: str, paths: tuple[str, ...]) -> Fault | None:
        """Return the fault a request hits, counting the hit, or None."""
        for fault in self._faults:
            if fault.spent or not fault.matches(method, paths):
                continue
            if fault.probability is not None and self._rng.random() >= fault.probability:
                continue
            fault.fired += 1
            return fault
        return None


def _retry_after(value: str | float | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after as a datetime must be timezone-aware")
        return format_datetime(value.astimezone(UTC), usegmt=True)
    return f"{value:g}"

