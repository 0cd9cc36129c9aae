"""Scripted faults: answer some requests with an error, late, garbled, or not at all.

:class:`Faults` is the script (``fake.faults``); :func:`answer_with` plays
one fault on one request, around the answer the fake would have given.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from fnmatch import fnmatchcase
from typing import Literal

import attrs
from aiohttp import web

from ._web import problem_response
from ._wire import Problem

__all__ = ["Drop", "Fault", "Faults", "answer_with", "drop_connection"]

Drop = Literal["before_body", "after_body"]
_DROPS = ("before_body", "after_body")
_MALFORMED = "<html><body><h1>502 Bad Gateway</h1></body></html>"


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


async def answer_with(
    fault: Fault | None,
    request: web.Request,
    answer: Callable[[], Awaitable[web.Response]],
    closing: asyncio.Event,
) -> web.Response | None:
    """Answer a request as ``fault`` scripts it; None when the connection is to be dropped.

    Args:
        fault: The fault the request hit, or None for the plain answer.
        request: The request.
        answer: Applies the request and returns the fake's answer to it.
        closing: Set when the fake closes, which cuts a delay short.
    """
    if fault is None:
        return await answer()
    if fault.delay:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), fault.delay)
        if _gone(request) or closing.is_set():
            # The client gave up (or the fake is closing) during the
            # stall: nothing is applied; drop="after_body" models the rest.
            return None
    if fault.drop == "before_body":
        return None
    if fault.status is not None and not fault.malformed:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        problem = Problem(fault.status, "injected fault", headers=headers)
        return problem_response(problem, request.rel_url.raw_path)
    response = await answer()
    if fault.drop == "after_body":
        return None
    if fault.malformed:
        return web.Response(status=fault.status or 200, text=_MALFORMED, content_type="text/html")
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def drop_connection(request: web.Request) -> None:
    """Close a request's connection without an answer."""
    transport = request.transport
    if transport is not None:
        transport.close()
