"""Bulk credential jobs: operations, outcomes, and the engine of ``LeafSession.bulk``.

The engine runs ``concurrency`` worker tasks. Each worker pulls the next
operation from the input only when it is free, runs it through the
credentials resource (whose ``*_counted`` methods report attempts), and
hands an :class:`Outcome` to the
consumer. So the input is streamed, at most ``concurrency`` operations are in
flight, and no task is created per operation.

A finished outcome holds its worker's slot until the consumer takes it:
when the consumer is slow, the workers wait instead of piling up outcomes.

Every ``Exception`` raised while running one operation becomes that
operation's failed outcome, so one failure never stops or hides another;
a ``LeafError`` is the expected case, anything else (a bug, or an error from
your own ``token_provider``) is kept as is in ``Outcome.error``. An error
raised by the input iterable itself is not an operation's failure: no more
operations are pulled, the ones in flight finish and are yielded, and then
the error is raised to the consumer.

The engine also stops pulling when a failure shows that nothing can succeed
(:class:`BulkStoppedError`): the token is refused for good, or the host has
refused every connection for a while. The operations in flight finish and
are yielded first; the ones never started get no outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from ._converter import plain_constructor
from ._exceptions import (
    AuthenticationError,
    BulkStoppedError,
    LeafError,
    NotFoundError,
    TransportError,
    ValidationError,
)
from ._pacing import Pacer
from ._resource import CredentialResource

if TYPE_CHECKING:
    from ._credentials import Credentials
    from ._transport import Transport

__all__ = [
    "DEFAULT_CONCURRENCY",
    "Call",
    "Create",
    "Delete",
    "Events",
    "Get",
    "Operation",
    "Outcome",
    "Progress",
    "Replace",
    "run_bulk",
]


Provider: TypeAlias = "str | CredentialResource[Any, Any]"

# Operations in flight at once in LeafSession.bulk.
DEFAULT_CONCURRENCY = 16
# Refused connections in a row, with the retry budget spent, that stop a job
# before unreachable_after: at least this many, and at least one per slot.
_STREAK = 16


def _credentials_repr(value: object) -> str:
    # A mapping body would show its secrets; a schema masks its own, but one
    # rule for both keeps reprs short.
    return f"<{type(value).__name__}>"


@attrs.frozen
class Operation:
    """The base of the bulk operations: a provider and a Leaf user.

    Pass its subclasses to :meth:`LeafSession.bulk`: :class:`Create`,
    :class:`Replace`, :class:`Delete`, :class:`Get` and :class:`Events`. A
    list mixing them is a ``list[Operation]`` to mypy.

    Attributes:
        provider: The provider's slug or resource.
        user_id: The Leaf user's id.
    """

    provider: Provider
    user_id: str


@attrs.frozen
class Create(Operation):
    """Attach a provider credential to a Leaf user.

    Args:
        provider: The provider's slug or resource.
        user_id: The Leaf user's id.
        credentials: The provider's create schema, or its camelCase JSON body
            as a mapping.
    """

    credentials: object = attrs.field(repr=_credentials_repr)


@attrs.frozen
class Replace(Operation):
    """Delete a Leaf user's credential for a provider, then create this one.

    A missing credential (404 on the delete) is fine. The credentials are
    checked before the delete, so bad input never removes anything.

    Args:
        provider: The provider's slug or resource.
        user_id: The Leaf user's id.
        credentials: The provider's create schema, or its camelCase JSON body.
    """

    credentials: object = attrs.field(repr=_credentials_repr)


@attrs.frozen
class Delete(Operation):
    """Detach a provider credential from a Leaf user."""


@attrs.frozen
class Get(Operation):
    """Read a Leaf user's credential for a provider."""


@attrs.frozen
class Events(Operation):
    """Read the troubleshooting log of a Leaf user's credential."""


@attrs.frozen
class Call(Operation):
    """Run one request of another Leaf service in a bulk job (used by ``leaf-creds invite``).

    Not public: ``call`` gets the run's timeouts and returns the value and
    the HTTP attempts it made, as the session's internals do.
    ``provider`` and ``user_id`` only label the outcome.
    """

    call: Callable[[Any], Awaitable[tuple[Any, int]]] = attrs.field(repr=False)


@attrs.frozen
class Outcome:
    """The result of one bulk operation.

    Attributes:
        operation: The operation, as it was given.
        index: Its position in the input, from 0.
        value: What it returned when it succeeded: the record for create,
            replace and get, the list of events for events, ``None`` for
            delete.
        error: Why it failed, or ``None``. Usually a ``LeafError``; any other
            exception raised while running it is kept here too.
        attempts: HTTP attempts it made (0 when refused before any request;
            a replace counts its delete's and its create's).
    """

    operation: Operation
    index: int
    value: Any = None
    error: Exception | None = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """Whether the operation succeeded."""
        return self.error is None


# One Outcome per operation: built without running its __init__.
_outcome = plain_constructor(Outcome)


@attrs.frozen
class Progress:
    """Counts of a bulk run so far: what ``on_progress`` receives.

    Attributes:
        done: Outcomes delivered.
        ok: Of which succeeded.
        failed: Of which failed.
        total: Operations in the input, when it has a length; else ``None``.
    """

    done: int
    ok: int
    failed: int
    total: int | None = None


def run_bulk(
    credentials: Credentials,
    transport: Transport,
    operations: Iterable[Operation] | AsyncIterable[Operation],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate: float | None = None,
    on_progress: Callable[[Progress], object] | None = None,
) -> AsyncGenerator[Outcome, None]:
    """Check the options, then return the async generator of outcomes.

    Raises:
        ValidationError: An option is invalid (raised here, not on iteration).
    """
    given: object = concurrency
    if isinstance(given, bool) or not isinstance(given, int) or given < 1:
        raise ValidationError(f"concurrency must be an int >= 1, got {concurrency!r}")
    per_second: object = rate
    if per_second is not None and (
        isinstance(per_second, bool)
        or not isinstance(per_second, int | float)
        or not per_second > 0
    ):
        raise ValidationError(f"rate must be a positive number of requests/s, got {rate!r}")
    if on_progress is not None and not callable(on_progress):
        raise ValidationError("on_progress must be callable")
    if isinstance(operations, AsyncIterable):
        source: Iterator[Operation] | AsyncIterator[Operation] = aiter(operations)
    elif isinstance(operations, Iterable):
        source = iter(operations)
    else:
        raise ValidationError(
            f"operations must be an iterable or async iterable, got {type(operations).__name__}"
        )
    try:
        total: int | None = len(operations)  # type: ignore[arg-type]
    except TypeError:
        total = None
    engine = _Engine(credentials, transport, source, concurrency, rate, on_progress, total)
    return engine.run()


class _Engine:
    """The state of one bulk run, shared by its workers and its consumer."""

    def __init__(
        self,
        credentials: Credentials,
        transport: Transport,
        source: Iterator[Operation] | AsyncIterator[Operation],
        concurrency: int,
        rate: float | None,
        on_progress: Callable[[Progress], object] | None,
        total: int | None,
    ) -> None:
        self._credentials = credentials
        self._transport = transport
        self._sync = source if isinstance(source, Iterator) else None
        self._async = source if isinstance(source, AsyncIterator) else None
        self._lock = asyncio.Lock() if self._async is not None else None
        self._concurrency = concurrency
        self._rate = rate
        # bulk(rate=): the operations' own starts, spaced 1/rate apart (the
        # session's rate_limit, a ceiling on every request, is the transport's).
        self._pacer = None if rate is None else Pacer(rate)
        self._on_progress = on_progress
        self._total = total
        self._next_index = 0
        self._exhausted = False
        self._source_error: BaseException | None = None
        self._stop: BulkStoppedError | None = None
        self._ready: deque[Outcome] = deque()
        self._workers = 0
        self._waiter: asyncio.Future[None] | None = None
        self._room: asyncio.Future[None] | None = None
        # The session's default timeouts, resolved once for the whole run.
        self._timeouts = transport.timeouts

    # -- the consumer ------------------------------------------------------

    async def run(self) -> AsyncGenerator[Outcome, None]:
        loop = asyncio.get_running_loop()
        # No more workers than operations, when their number is known.
        workers = self._concurrency if self._total is None else min(self._concurrency, self._total)
        self._workers = max(workers, 1)
        observer = self._transport.observer
        # The job's span (with telemetry on) is current while the workers
        # start, so their requests are its children; not while it yields.
        watch = None if observer is None else observer.bulk(self._total)
        tasks = [loop.create_task(self._work()) for _ in range(self._workers)]
        if watch is not None:
            watch.detach()
        ready = self._ready
        done = ok = 0
        failure: BaseException | None = None
        try:
            while True:
                if ready:
                    outcome = ready.popleft()
                    room = self._room
                    if room is not None:
                        self._room = None
                        room.set_result(None)
                    if self._on_progress is not None:
                        done += 1
                        ok += outcome.error is None
                        self._on_progress(Progress(done, ok, done - ok, self._total))
                    if watch is not None:
                        watch.outcome(type(outcome.operation).__name__, outcome.error is None)
                    yield outcome
                    continue
                if not self._workers:
                    break
                self._waiter = waiter = loop.create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
            if self._stop is not None:
                failure = self._stop
                raise self._stop from self._stop.error
            if self._source_error is not None:
                failure = self._source_error
                raise self._source_error
        finally:
            # Reached on exhaustion, on aclose() (a consumer that broke out of
            # its loop), and when the consumer's task is cancelled.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if watch is not None:
                watch.end(failure)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- the workers -------------------------------------------------------

    async def _work(self) -> None:
        ready = self._ready
        try:
            while True:
                if len(ready) >= self._concurrency:
                    # The consumer is behind: keep the slot until it catches up.
                    if self._room is None:
                        self._room = asyncio.get_running_loop().create_future()
                    await self._room
                    continue
                item = self._pull() if self._sync is not None else await self._pull_async()
                if item is None:
                    return
                ready.append(await self._run_one(*item))
                waiter = self._waiter  # self._wake(), inline: once per operation
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        except Exception as exc:  # pragma: no cover - a bug of the engine itself: surface it
            if self._source_error is None:
                self._source_error = exc
            self._exhausted = True
        finally:
            self._workers -= 1
            self._wake()

    def _pull(self) -> tuple[int, Operation] | None:
        if self._exhausted:
            return None
        assert self._sync is not None
        try:
            operation = next(self._sync)
        except StopIteration:
            self._exhausted = True
            return None
        except Exception as exc:
            self._exhausted = True
            self._source_error = exc
            return None
        index = self._next_index
        self._next_index = index + 1
        return index, operation

    async def _pull_async(self) -> tuple[int, Operation] | None:
        assert self._async is not None
        assert self._lock is not None
        # An async iterator (an async generator especially) must not be
        # advanced by two workers at once.
        async with self._lock:
            if self._exhausted:
                return None
            try:
                operation = await anext(self._async)
            except StopAsyncIteration:
                self._exhausted = True
                return None
            except Exception as exc:
                self._exhausted = True
                self._source_error = exc
                return None
            index = self._next_index
            self._next_index = index + 1
            return index, operation

    async def _run_one(self, index: int, operation: Operation) -> Outcome:
        credentials = self._credentials
        timeouts = self._timeouts
        pacer = self._pacer
        before = 0  # attempts of a replace's delete
        checked: object = None  # a replace's credentials, checked
        value: Any
        try:
            if not isinstance(operation, _KINDS):
                raise _not_an_operation(operation)
            if type(operation) is Call:
                # Another Leaf service's request (a Magic Link...): no resource.
                if pacer is not None:
                    await pacer.acquire()
                value, attempts = await operation.call(timeouts)
                return _outcome(operation, index, value, None, attempts)
            provider = operation.provider
            resource = (
                provider if type(provider) is CredentialResource else credentials.resource(provider)
            )
            if isinstance(operation, Replace):
                # Checked before the delete: bad input must never remove anything.
                checked = credentials.checked(resource, operation.credentials)
            if pacer is not None:
                await pacer.acquire()
            if isinstance(operation, Get):
                value, attempts = await credentials.get_counted(
                    resource, operation.user_id, timeouts
                )
            elif isinstance(operation, Create):
                value, attempts = await credentials.create_counted(
                    resource, operation.user_id, operation.credentials, timeouts
                )
            elif isinstance(operation, Delete):
                value, attempts = await credentials.delete_counted(
                    resource, operation.user_id, timeouts
                )
            elif isinstance(operation, Events):
                value, attempts = await credentials.events_counted(
                    resource, operation.user_id, timeouts
                )
            else:
                try:
                    _, before = await credentials.delete_counted(
                        resource, operation.user_id, timeouts
                    )
                except NotFoundError as exc:
                    before = exc.attempts
                if pacer is not None:
                    await pacer.acquire()
                value, attempts = await credentials.create_counted(
                    resource, operation.user_id, checked, timeouts
                )
                attempts += before
        except Exception as exc:
            if self._stop is None and isinstance(exc, LeafError):
                self._judge(exc)
            return _outcome(operation, index, None, exc, before + getattr(exc, "attempts", 0))
        return _outcome(operation, index, value, None, attempts)

    def _judge(self, error: LeafError) -> None:
        """Stop pulling operations when ``error`` shows that none can succeed."""
        transport = self._transport
        if isinstance(error, AuthenticationError):
            # Leaf's 401 is about the bearer token, never one credential: it
            # is raised only once a new token was refused too (or the login
            # failed, or the token is fixed), so every request would meet it.
            reason = "unauthenticated"
            why = f"the session cannot authenticate: {error}"
        elif isinstance(error, TransportError) and error.sent is False:
            budget = transport.budget
            now = time.monotonic()
            down_for = now - (budget.refused_since or now)
            # Nothing gets through: every attempt refused for unreachable_after
            # seconds, or, once the budget is spent, a streak of refusals no
            # partial outage makes (a host whose addresses refuse one
            # connection in five gives a streak of 16 once in 10**11).
            streak = budget.empty and budget.refused >= max(self._concurrency, _STREAK)
            if down_for < transport.retry.unreachable_after and not streak:
                return
            reason = "unreachable"
            why = (
                f"no connection to {transport.base_url} for {down_for:.1f}s, "
                f"{budget.refused} attempt(s) refused with no answer in between: {error}"
            )
        else:
            return
        self._stop = BulkStoppedError(
            f"bulk job stopped: {why}; the operations not yet started were not run",
            reason=reason,
            error=error,
        )
        self._exhausted = True  # no worker pulls another operation


_KINDS = (Get, Create, Delete, Events, Replace, Call)


def _not_an_operation(item: object) -> ValidationError:
    return ValidationError(
        f"not a bulk operation: {type(item).__name__} "
        "(expected Create, Replace, Delete, Get or Events)"
    )
