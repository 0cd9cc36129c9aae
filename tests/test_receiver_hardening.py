"""The alert receiver against hostile peers: cut-off and trickled bodies, replays, restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from tests.helpers import alert_body, encode
from tests.test_receiver import SECRET, Recorder, signed, status_of

SIX_HOURS = timedelta(hours=6)


def stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def fresh_body(**changes: Any) -> bytes:
    return alert_body(timestamp=stamp(datetime.now(UTC) - timedelta(minutes=30)), **changes)


@asynccontextmanager
async def serve(handler: Any) -> AsyncIterator[tuple[int, web.AppRunner]]:
    """Mount the handler at /leaf/alerts on 127.0.0.1; yield its port and runner."""
    app = web.Application()
    app.router.add_post("/leaf/alerts", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1], runner
    finally:
        await runner.cleanup()


async def start_upload(
    port: int, declared: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a POST's headers and wait until the handler is reading its body (100 Continue)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /leaf/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Expect: 100-continue\r\nContent-Length: " + str(declared).encode() + b"\r\n\r\n"
    )
    await writer.drain()
    assert b"HTTP/1.1 100 Continue\r\n" == await reader.readline()
    await reader.readline()  # the blank line after it
    return reader, writer


class TestCutOffBodies:
    async def test_a_peer_hanging_up_mid_body_logs_no_error(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A delivery cut off mid-body logs one DEBUG line and no ERROR or traceback."""
        caplog.set_level(logging.DEBUG)
        recorder = Recorder()
        async with serve(lc.aiohttp_handler(SECRET, recorder)) as (port, runner):
            _, writer = await start_upload(port, 1000)
            writer.write(b'{"type": "credentia')
            await writer.drain()
            writer.transport.abort()
            await runner.shutdown()  # waits for the handler to end

        loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
        ours = [r for r in caplog.records if r.name.startswith("leaf_creds")]
        assert [] == [(r.name, r.getMessage()) for r in loud]
        assert [logging.DEBUG] == [r.levelno for r in ours]
        assert [] == recorder.calls


class TestSlowBodies:
    async def test_a_trickled_body_gets_408_and_the_connection_closes(self) -> None:
        """A body slower than read_timeout is answered 408, the callback never runs."""
        recorder = Recorder()
        handler = lc.aiohttp_handler(SECRET, recorder, read_timeout=0.2)
        async with serve(handler) as (port, _):
            reader, writer = await start_upload(port, 500)
            writer.write(b"{")  # then nothing more
            await writer.drain()

            status_line = await reader.readline()
            rest = await reader.read()  # returns once the server closes the connection
            writer.close()

        assert b"HTTP/1.1 408 Request Timeout\r\n" == status_line
        assert b"body not received in time" in rest
        assert [] == recorder.calls

    def test_the_default_read_timeout_is_documented(self) -> None:
        """A receiver says its read_timeout, 10 seconds unless told otherwise."""
        assert 10.0 == lc.AlertReceiver(SECRET, Recorder()).read_timeout
        assert 2.5 == lc.AlertReceiver(SECRET, Recorder(), read_timeout=2.5).read_timeout

    @pytest.mark.parametrize(
        "options",
        [
            {"read_timeout": 0},
            {"read_timeout": -1.0},
            {"read_timeout": "10"},
            {"read_timeout": float("inf")},
            {"max_age": 0},
            {"max_age": timedelta(seconds=-1)},
            {"max_age": True},
            {"store": object()},
        ],
    )
    def test_bad_options_are_validation_errors(self, options: dict[str, Any]) -> None:
        """A timeout, age or store that cannot work is refused when the receiver is built."""
        with pytest.raises(lc.ValidationError):
            lc.AlertReceiver(SECRET, Recorder(), **options)


class TestFreshness:
    @pytest.mark.parametrize(
        "when",
        [datetime(2001, 9, 1, tzinfo=UTC), datetime.now(UTC) + timedelta(days=2)],
        ids=["2001", "future"],
    )
    async def test_an_alert_dated_outside_max_age_is_refused(self, when: datetime) -> None:
        """With max_age, an alert dated 2001 (or days ahead) gets 400 and no callback."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_age=SIX_HOURS)
        body = alert_body(timestamp=stamp(when))

        answer = await receiver.handle(signed(body), body)

        assert (400, {"error": "alert too old or too far in the future"}) == status_of(answer)
        assert [] == recorder.calls

    async def test_an_alert_within_max_age_runs(self) -> None:
        """An alert dated half an hour ago, inside Leaf's retry schedule, runs the callback."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_age=SIX_HOURS.total_seconds())
        body = fresh_body()

        answer = await receiver.handle(signed(body), body)

        assert 200 == answer.status
        assert 1 == len(recorder.calls)

    async def test_other_events_are_dated_by_their_timestamp_if_any(self) -> None:
        """An unknown event with an old timestamp is refused; one without a date is accepted."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_age=SIX_HOURS)
        old = encode({"type": "fieldCreated", "timestamp": "2001-09-01T00:00:00"})
        undated = encode({"type": "fieldCreated", "fieldId": "f1"})

        statuses = [(await receiver.handle(signed(b), b)).status for b in (old, undated)]

        assert [400, 200] == statuses
        assert [
            lc.UnknownAlert(type="fieldCreated", raw={"type": "fieldCreated", "fieldId": "f1"})
        ] == (recorder.calls)

    async def test_a_confirmation_has_no_date_to_check(self) -> None:
        """The registration confirmation carries no timestamp and passes max_age."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_age=SIX_HOURS, confirmations=True)
        body = encode({"message": "confirmation of webhook upon registration"})

        answer = await receiver.handle(signed(body), body)

        assert 200 == answer.status
        assert 1 == len(recorder.calls)

    async def test_without_max_age_any_date_is_accepted(self) -> None:
        """The freshness window is opt-in: by default an old alert still runs."""
        recorder = Recorder()
        body = alert_body(timestamp="2001-09-01T00:00:00Z")

        answer = await lc.AlertReceiver(SECRET, recorder).handle(signed(body), body)

        assert 200 == answer.status


class SharedStore:
    """A DeliveryStore over one dict, standing for Redis or a table that workers share."""

    def __init__(self) -> None:
        self.keys: dict[str, float | None] = {}
        self.fail_seen = False
        self.fail_remember = False

    async def seen(self, key: str) -> bool:
        if self.fail_seen:
            raise ConnectionError("the shared store is down")
        return key in self.keys

    async def remember(self, key: str, ttl: float | None) -> None:
        if self.fail_remember:
            raise ConnectionError("the shared store is down")
        self.keys[key] = ttl


class TestDeliveryStore:
    async def test_a_shared_store_survives_a_restart(self) -> None:
        """A second receiver (another worker, or after a restart) on one store drops the retry."""
        store = SharedStore()
        first, second = Recorder(), Recorder()
        body = fresh_body()

        one = await lc.AlertReceiver(SECRET, first, store=store).handle(signed(body), body)
        two = await lc.AlertReceiver(SECRET, second, store=store).handle(signed(body), body)

        assert [(200, {"result": "accepted"}), (200, {"result": "duplicate"})] == [
            status_of(one),
            status_of(two),
        ]
        assert (1, 0) == (len(first.calls), len(second.calls))

    async def test_the_store_is_told_how_long_to_remember(self) -> None:
        """With max_age the store gets a ttl within it; without, None (keep it)."""
        bounded, unbounded = SharedStore(), SharedStore()
        body = fresh_body()

        await lc.AlertReceiver(SECRET, Recorder(), store=bounded, max_age=SIX_HOURS).handle(
            signed(body), body
        )
        await lc.AlertReceiver(SECRET, Recorder(), store=unbounded).handle(signed(body), body)

        (ttl,) = bounded.keys.values()
        assert ttl is not None
        assert 0 < ttl <= 2 * SIX_HOURS.total_seconds()
        assert [None] == list(unbounded.keys.values())

    async def test_a_failing_store_gets_500_before_the_callback(self) -> None:
        """A store that cannot tell answers 500 (Leaf retries) and the callback does not run."""
        store = SharedStore()
        store.fail_seen = True
        recorder = Recorder()
        body = fresh_body()

        answer = await lc.AlertReceiver(SECRET, recorder, store=store).handle(signed(body), body)

        assert 500 == answer.status
        assert [] == recorder.calls

    async def test_a_store_failing_to_remember_still_acknowledges(self) -> None:
        """The callback ran, so the answer is 200 even when remembering it failed."""
        store = SharedStore()
        store.fail_remember = True
        recorder = Recorder()
        body = fresh_body()

        answer = await lc.AlertReceiver(SECRET, recorder, store=store).handle(signed(body), body)

        assert 200 == answer.status
        assert 1 == len(recorder.calls)

    async def test_the_memory_store_forgets_at_the_end_of_a_ttl(self) -> None:
        """MemoryDeliveryStore keeps a key without ttl and forgets one whose ttl has run out."""
        store = lc.MemoryDeliveryStore(size=10)
        await store.remember("kept", None)
        await store.remember("gone", 0.0)

        assert (True, False) == (await store.seen("kept"), await store.seen("gone"))
        assert 1 == len(store)
        assert isinstance(store, lc.DeliveryStore)

    def test_reprs_name_the_store_never_the_secret(self) -> None:
        """A receiver's repr counts what its memory store holds, or names a store of one's own."""
        store = SharedStore()
        own = lc.AlertReceiver(SECRET, Recorder(), store=store)
        default = lc.AlertReceiver(SECRET, Recorder(), dedupe_size=5)

        assert "<AlertReceiver max_body=65536 store=SharedStore>" == repr(own)
        assert "<AlertReceiver max_body=65536 handled=0>" == repr(default)
        assert "<MemoryDeliveryStore size=5 handled=0>" == repr(default.store)
        assert store is own.store
        assert SECRET not in repr(own) + repr(default)


class TestEventDates:
    @pytest.mark.parametrize(
        ("timestamp", "status"),
        [
            ("not a date", 200),  # cannot tell: accepted
            (stamp(datetime.now(UTC) - timedelta(hours=1))[:-1], 200),  # no offset: UTC
            ("2001-09-01T00:00:00+02:00", 400),
        ],
        ids=["unreadable", "naive", "offset"],
    )
    async def test_an_unknown_events_timestamp_is_read_leniently(
        self, timestamp: str, status: int
    ) -> None:
        """An unreadable date is accepted, one without an offset is read as UTC."""
        receiver = lc.AlertReceiver(SECRET, Recorder(), max_age=SIX_HOURS)
        body = encode({"type": "fieldCreated", "timestamp": timestamp})

        assert status == (await receiver.handle(signed(body), body)).status
