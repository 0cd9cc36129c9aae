"""Tests of LeafSession.bulk and its operations, against a small Leaf on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import attrs
import pytest
from aiohttp import web

import leaf_creds as lc
from tests.conftest import LeafMock
from tests.helpers import SENTERA_ANSWER, SENTERA_URL

PREFIX = "/services/usermanagement/api/users"
SENTERA_BODY = {"username": "grower", "password": "hunter2-secret", "organizationName": "Acme"}


class TinyLeaf:
    """A minimal credentials API that counts what it is asked."""

    def __init__(self) -> None:
        self.store: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.hold: asyncio.Event | None = None
        self.unavailable_once: set[str] = set()
        self.refused: set[str] = set()
        self.url = ""
        self.arrivals = asyncio.Condition()

    async def until_in_flight(self, count: int) -> None:
        async with self.arrivals:
            await self.arrivals.wait_for(lambda: self.in_flight >= count)

    async def handle(self, request: web.Request) -> web.Response:
        user, kind = request.match_info["user"], request.match_info["kind"]
        self.requests.append((request.method, request.path))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        async with self.arrivals:
            self.arrivals.notify_all()
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            if user in self.unavailable_once:
                self.unavailable_once.discard(user)
                return web.Response(status=503, headers={"Retry-After": "0"})
            return await self.answer(request, user, kind.removesuffix("-credentials"))
        finally:
            self.in_flight -= 1

    async def answer(self, request: web.Request, user: str, slug: str) -> web.Response:
        key = (user, slug)
        if request.path.endswith("/events"):
            if key not in self.store:
                return web.json_response({"title": "Not Found"}, status=404)
            return web.json_response([{"id": "e1", "statusCode": 200}])
        if request.method == "POST":
            if user in self.refused:
                return web.json_response({"title": "Bad Request"}, status=400)
            if key in self.store:
                return web.json_response({"title": "Conflict"}, status=409)
            body = await request.json()
            record = {"id": f"{user}-{slug}", "status": "OK", "username": body.get("username")}
            self.store[key] = record
            return web.json_response(record, status=201)
        if key not in self.store:
            return web.json_response({"title": "Not Found"}, status=404)
        if request.method == "DELETE":
            del self.store[key]
            return web.Response(status=204)
        return web.json_response(self.store[key])

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)


@pytest.fixture
async def tiny() -> AsyncIterator[TinyLeaf]:
    server = TinyLeaf()
    app = web.Application()
    app.router.add_route("*", PREFIX + "/{user}/{kind}", server.handle)
    app.router.add_route("*", PREFIX + "/{user}/{kind}/events", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    yield server
    if server.hold is not None:
        server.hold.set()
    await runner.cleanup()


@pytest.fixture
async def leaf(tiny: TinyLeaf) -> AsyncIterator[lc.LeafSession]:
    retry = lc.RetryPolicy(max_retries=2, backoff_base=0.001)
    async with lc.LeafSession(token="t0ken-value", base_url=tiny.url, retry=retry) as session:
        yield session


async def collect(outcomes: AsyncIterator[lc.Outcome]) -> list[lc.Outcome]:
    return [outcome async for outcome in outcomes]


def engine_tasks() -> list[asyncio.Task[Any]]:
    return [
        task for task in asyncio.all_tasks() if "_Engine._work" in task.get_coro().__qualname__  # type: ignore[union-attr]
    ]


class TestOperations:
    def test_create_repr_hides_a_mapping_body(self) -> None:
        """A Create's repr names the body's type and never shows its secrets."""
        text = repr(lc.Create("sentera", "u1", dict(SENTERA_BODY)))

        assert "Create(provider='sentera', user_id='u1', credentials=<dict>)" == text

    def test_replace_repr_hides_a_schema_body(self) -> None:
        """A Replace's repr names the schema's type and never shows its secrets."""
        body = lc.SenteraCredentials(username="g", password="hunter2-secret", organization_name="A")

        assert "hunter2" not in repr(lc.Replace(lc.SENTERA, "u1", body))

    def test_outcome_ok_follows_error(self) -> None:
        """An outcome is ok exactly when it carries no error."""
        operation = lc.Get("sentera", "u1")

        assert (True, False) == (
            lc.Outcome(operation, 0).ok,
            lc.Outcome(operation, 0, error=lc.ValidationError("no")).ok,
        )


class TestBulk:
    async def test_one_outcome_per_operation(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """Every operation gets one outcome, with its index and its value."""
        operations = [lc.Create("sentera", f"u{i}", SENTERA_BODY) for i in range(5)]

        outcomes = await collect(leaf.bulk(operations, concurrency=2))

        assert list(range(5)) == sorted(o.index for o in outcomes)
        assert all(o.ok and o.attempts == 1 for o in outcomes)
        assert {f"u{i}-sentera" for i in range(5)} == {o.value.id for o in outcomes}
        assert all(operations[o.index] is o.operation for o in outcomes)

    async def test_outcomes_are_frozen_records_like_any_other(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """An engine-built Outcome equals, hashes and evolves like one built by hand."""
        operation = lc.Delete("sentera", "nobody")

        [outcome] = await collect(leaf.bulk([operation]))

        by_hand = lc.Outcome(operation, 0, None, outcome.error, outcome.attempts)
        assert by_hand == outcome
        assert hash(by_hand) == hash(outcome)
        assert repr(by_hand) == repr(outcome)
        assert 7 == attrs.evolve(outcome, index=7).index
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            outcome.index = 3  # type: ignore[misc]

    async def test_each_kind_returns_its_value(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """Get returns the record, Events the events, Delete None."""
        await collect(leaf.bulk([lc.Create(lc.SENTERA, "u1", SENTERA_BODY)]))
        operations = [lc.Get(lc.SENTERA, "u1"), lc.Events("sentera", "u1")]

        get, events = sorted(await collect(leaf.bulk(operations)), key=lambda o: o.index)
        [deleted] = await collect(leaf.bulk([lc.Delete("sentera", "u1")]))

        assert isinstance(get.value, lc.SenteraRecord)
        assert ["e1"] == [event.id for event in events.value]
        assert (True, None) == (deleted.ok, deleted.value)

    async def test_failures_do_not_stop_the_others(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """A failed operation is an outcome; the operations around it still run."""
        await collect(leaf.bulk([lc.Create("sentera", "u2", SENTERA_BODY)]))
        operations = [lc.Get("sentera", f"u{i}") for i in range(5)]

        outcomes = sorted(await collect(leaf.bulk(operations)), key=lambda o: o.index)

        assert [False, False, True, False, False] == [o.ok for o in outcomes]
        assert isinstance(outcomes[0].error, lc.NotFoundError)
        assert 1 == outcomes[0].attempts

    async def test_invalid_operations_fail_without_a_request(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """Unknown providers, bad credentials, bad ids and non-operations send nothing."""
        operations: list[Any] = [
            lc.Get("no-such-provider", "u1"),
            lc.Create("sentera", "u1", {"username": "g"}),
            lc.Replace("sentera", "u1", {"username": "g", "password": 3}),
            lc.Delete("sentera", ""),
            {"op": "get"},
            lc.Operation("sentera", "u1"),
        ]

        outcomes = sorted(await collect(leaf.bulk(operations)), key=lambda o: o.index)

        assert [] == tiny.requests
        expected: list[type[Exception]] = [
            lc.UnknownProviderError,
            lc.ValidationError,
            lc.ValidationError,
            lc.ValidationError,
            lc.ValidationError,
            lc.ValidationError,
        ]
        assert expected == [type(o.error) for o in outcomes]
        assert {0} == {o.attempts for o in outcomes}

    async def test_replace_deletes_then_creates(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """Replace deletes the old credential, creates the new one and counts both attempts."""
        await collect(leaf.bulk([lc.Create("sentera", "u1", SENTERA_BODY)]))
        tiny.requests.clear()

        body = lc.SenteraCredentials(username="g", password="pw-2", organization_name="A")

        [outcome] = await collect(leaf.bulk([lc.Replace(lc.SENTERA, "u1", body)]))

        assert ["DELETE", "POST"] == [method for method, _ in tiny.requests]
        assert (True, 2) == (outcome.ok, outcome.attempts)

    async def test_replace_without_a_credential_creates(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """A 404 on the replace's delete is fine: the create still happens."""
        [outcome] = await collect(leaf.bulk([lc.Replace("sentera", "u9", SENTERA_BODY)]))

        assert (True, "u9-sentera", 2) == (outcome.ok, outcome.value.id, outcome.attempts)

    async def test_bad_replace_deletes_nothing(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """A replace with invalid credentials fails before its delete."""
        await collect(leaf.bulk([lc.Create("sentera", "u1", SENTERA_BODY)]))

        [outcome] = await collect(leaf.bulk([lc.Replace("sentera", "u1", {"username": "g"})]))

        assert isinstance(outcome.error, lc.ValidationError)
        assert ("u1", "sentera") in tiny.store

    async def test_retries_count_as_attempts(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """An operation retried after a 503 reports two attempts."""
        tiny.unavailable_once.add("u1")

        [outcome] = await collect(leaf.bulk([lc.Create("sentera", "u1", SENTERA_BODY)]))

        assert (True, 2) == (outcome.ok, outcome.attempts)

    async def test_failed_attempts_are_counted(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """A replace whose create fails counts its delete's attempts too."""
        await collect(leaf.bulk([lc.Create("sentera", "u1", SENTERA_BODY)]))
        tiny.refused.add("u1")

        [outcome] = await collect(leaf.bulk([lc.Replace("sentera", "u1", SENTERA_BODY)]))

        assert (False, 2) == (outcome.ok, outcome.attempts)
        assert isinstance(outcome.error, lc.BadRequestError)

    async def test_other_exceptions_become_outcomes(self, tiny: TinyLeaf) -> None:
        """An error that is not a LeafError (here from a token provider) is an outcome too."""

        async def broken_token() -> str:
            raise RuntimeError("token store is down")

        async with lc.LeafSession(token_provider=broken_token, base_url=tiny.url) as leaf:
            outcomes = await collect(leaf.bulk([lc.Get("sentera", "u1"), lc.Get("sentera", "u2")]))

        assert [RuntimeError, RuntimeError] == [type(o.error) for o in outcomes]

    async def test_concurrency_bounds_requests_in_flight(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """No more than `concurrency` requests are in flight at once."""
        tiny.delay = 0.005

        operations = [lc.Get("sentera", f"u{i}") for i in range(20)]

        outcomes = await collect(leaf.bulk(operations, concurrency=3))

        assert 20 == len(outcomes)
        assert 3 == tiny.max_in_flight

    async def test_async_iterable_input(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """An async generator of operations is consumed like a list."""

        async def operations() -> AsyncIterator[lc.Create]:
            for i in range(6):
                yield lc.Create("sentera", f"u{i}", SENTERA_BODY)

        outcomes = await collect(leaf.bulk(operations(), concurrency=4))

        assert list(range(6)) == sorted(o.index for o in outcomes)
        assert 6 == len(tiny.store)

    async def test_input_is_streamed(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """An endless input is pulled only as slots free up."""
        pulled = 0

        def endless() -> Iterator[lc.Get]:
            nonlocal pulled
            for i in itertools.count():
                pulled += 1
                yield lc.Get("sentera", f"u{i}")

        seen = []
        async with aclosing(leaf.bulk(endless(), concurrency=4)) as outcomes:
            async for outcome in outcomes:
                seen.append(pulled)
                if outcome.index >= 10:
                    break

        # Delivered + waiting (< 2 x 4) + in flight (<= 4): never the whole input.
        assert all(count <= delivered + 3 * 4 for delivered, count in enumerate(seen, 1))

    async def test_slow_consumer_holds_back_the_input(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """While the consumer is busy, finished outcomes wait and no more input is pulled."""
        pulled = 0

        def endless() -> Iterator[lc.Get]:
            nonlocal pulled
            for i in itertools.count():
                pulled += 1
                yield lc.Get("sentera", f"u{i}")

        async with aclosing(leaf.bulk(endless(), concurrency=2)) as outcomes:
            async for _ in outcomes:
                await asyncio.sleep(0.1)
                break

        assert pulled <= 2 * 2 + 1

    async def test_progress_counts(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """on_progress sees done/ok/failed counts and the total of a sized input."""
        await collect(leaf.bulk([lc.Create("sentera", "u0", SENTERA_BODY)]))
        seen: list[lc.Progress] = []
        operations = [lc.Get("sentera", f"u{i}") for i in range(3)]

        await collect(leaf.bulk(operations, on_progress=seen.append))

        assert [1, 2, 3] == [p.done for p in seen]
        assert lc.Progress(done=3, ok=1, failed=2, total=3) == seen[-1]

    async def test_progress_total_unknown_for_generators(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """A generator has no length, so the total is None."""
        seen: list[lc.Progress] = []

        operations = (lc.Get("sentera", "u1") for _ in range(2))

        await collect(leaf.bulk(operations, on_progress=seen.append))

        assert [None, None] == [p.total for p in seen]

    async def test_rate_spaces_requests(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """At 50 requests/s, seven requests (a replace makes two) cannot start within 0.12 s."""
        operations = [
            lc.Get("sentera", "u1"),
            lc.Create("sentera", "u1", SENTERA_BODY),
            lc.Events("sentera", "u1"),
            lc.Replace("sentera", "u1", SENTERA_BODY),
            lc.Delete("sentera", "u1"),
            lc.Get("sentera", "u1"),
        ]
        started = time.monotonic()

        outcomes = await collect(leaf.bulk(operations, rate=50, concurrency=1))

        assert time.monotonic() - started >= 6 / 50
        assert [False, True, True, True, True, False] == [o.ok for o in outcomes]
        assert 7 == len(tiny.requests)

    async def test_input_error_is_raised_after_the_outcomes(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """An error of the input itself is raised once the operations already pulled are done."""

        def broken() -> Iterator[lc.Get]:
            yield lc.Get("sentera", "u1")
            yield lc.Get("sentera", "u2")
            raise OSError("plan file vanished")

        seen: list[lc.Outcome] = []

        async def consume() -> None:
            async for outcome in leaf.bulk(broken(), concurrency=4):
                seen.append(outcome)

        with pytest.raises(OSError, match="vanished"):
            await consume()

        assert [0, 1] == sorted(o.index for o in seen)

    async def test_async_input_error_is_raised(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """An error of an async input is raised too."""

        async def broken() -> AsyncIterator[lc.Get]:
            yield lc.Get("sentera", "u1")
            raise OSError("plan stream broke")

        with pytest.raises(OSError, match="broke"):
            await collect(leaf.bulk(broken()))

    async def test_aclose_cancels_work_in_flight(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """Closing the outcomes early cancels the requests in flight and leaves no task."""
        tiny.hold = asyncio.Event()
        outcomes = leaf.bulk([lc.Get("sentera", f"u{i}") for i in range(10)], concurrency=4)
        first = asyncio.ensure_future(anext(outcomes))
        await tiny.until_in_flight(4)

        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await outcomes.aclose()

        assert [] == engine_tasks()
        assert 4 == len(tiny.requests)

    async def test_cancelling_the_consumer_cancels_the_work(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """Cancelling the task that consumes the outcomes cancels the operations in flight."""
        tiny.hold = asyncio.Event()

        async def consume() -> list[lc.Outcome]:
            return await collect(leaf.bulk([lc.Get("sentera", f"u{i}") for i in range(10)]))

        consumer = asyncio.create_task(consume())
        await tiny.until_in_flight(10)
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer

        assert [] == engine_tasks()

    async def test_breaking_out_with_aclosing(self, tiny: TinyLeaf, leaf: lc.LeafSession) -> None:
        """Breaking out of an aclosing() loop stops the run at once."""
        operations = [lc.Get("sentera", f"u{i}") for i in range(50)]
        async with aclosing(leaf.bulk(operations, concurrency=2)) as outcomes:
            async for _ in outcomes:
                break

        assert [] == engine_tasks()
        assert len(tiny.requests) <= 4

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"concurrency": 0}, "concurrency"),
            ({"concurrency": True}, "concurrency"),
            ({"rate": 0}, "rate"),
            ({"rate": "fast"}, "rate"),
            ({"on_progress": 3}, "on_progress"),
        ],
    )
    def test_bad_options_fail_at_once(
        self, leaf: lc.LeafSession, options: dict[str, Any], message: str
    ) -> None:
        """Invalid options raise ValidationError when bulk() is called."""
        with pytest.raises(lc.ValidationError, match=message):
            leaf.bulk([], **options)

    def test_operations_must_be_iterable(self, leaf: lc.LeafSession) -> None:
        """A non-iterable input is refused at once."""
        with pytest.raises(lc.ValidationError, match="iterable"):
            leaf.bulk(3)  # type: ignore[arg-type]

    async def test_empty_input(self, leaf: lc.LeafSession) -> None:
        """An empty input yields nothing."""
        assert [] == await collect(leaf.bulk([]))

    async def test_secrets_never_in_outcome_reprs(
        self, tiny: TinyLeaf, leaf: lc.LeafSession
    ) -> None:
        """The repr of an outcome, failed or not, holds no secret."""
        operations = [lc.Create("sentera", "u1", SENTERA_BODY)] * 2

        outcomes = await collect(leaf.bulk(operations, concurrency=1))

        assert all("hunter2" not in repr(o) and "t0ken" not in repr(o) for o in outcomes)


class TestWorkers:
    async def test_no_more_workers_than_operations(self, http: LeafMock) -> None:
        """A short known input starts no more tasks than it has operations."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)
        before = len(asyncio.all_tasks())
        seen = []

        async with lc.LeafSession(token="t") as leaf:
            async for outcome in leaf.bulk(
                [lc.Get(lc.SENTERA, "u1")] * 3, concurrency=10_000
            ):
                seen.append(len(asyncio.all_tasks()) - before)
                assert outcome.ok

        assert 3 == len(seen)
        assert max(seen) <= 3
