"""The alert receiver: its framework-neutral core, and the aiohttp handler in a real app.

Also the handler against hostile peers: cut-off and trickled bodies,
replays, restarts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

import leaf_creds as lc
from leaf_creds._alerts import (
    CONFIRMATION_MESSAGE,
    CREDENTIALS_UNAUTHENTICATED,
    Alert,
    CredentialAlert,
    UnknownAlert,
    WebhookConfirmation,
)
from leaf_creds._receiver import AlertReceiver, ReceiverResponse, aiohttp_handler
from tests.helpers import ALERT, alert_body, encode

SECRET = "webhook-signing-secret-value"
MARKER = "private-grower-detail"  # in bodies, to prove they are never logged


def signature(body: bytes, secret: str = SECRET) -> str:
    """Sign like Leaf, independently of the SDK: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def signed(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Leaf-Signature": signature(body)}


class Recorder:
    """An alert callback that records its calls, fails when told to, and may wait on a gate."""

    def __init__(self, *, failures: int = 0) -> None:
        self.calls: list[Alert] = []
        self.failures = failures
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def __call__(self, alert: Alert) -> None:
        self.calls.append(alert)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the app's database is down")


def status_of(answer: ReceiverResponse) -> tuple[int, dict[str, Any]]:
    return answer.status, json.loads(answer.body)


class TestSignatures:
    async def test_a_signed_alert_runs_the_callback(self) -> None:
        """A signed credential alert is parsed, passed to the callback and acknowledged."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        answer = await receiver.handle(signed(body), body)

        assert (200, {"result": "accepted"}) == status_of(answer)
        assert "application/json" == answer.content_type
        (alert,) = recorder.calls
        assert isinstance(alert, CredentialAlert)
        assert "5f0c1b5e-0000-4000-8000-000000000009" == alert.credential_id

    @pytest.mark.parametrize(
        "headers",
        [
            {"x-leaf-signature": "SIG"},
            {"X-LEAF-SIGNATURE": "SIG"},
            CIMultiDict({"x-Leaf-signature": "SIG"}),
        ],
    )
    async def test_the_header_name_is_case_insensitive(self, headers: Any) -> None:
        """The signature is found in a plain dict or a multidict, whatever the case."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()
        for name in list(headers):
            headers[name] = signature(body)

        answer = await receiver.handle(headers, body)

        assert 200 == answer.status
        assert 1 == len(recorder.calls)

    @pytest.mark.parametrize(
        ("headers", "body"),
        [
            ({}, alert_body()),
            ({"X-Leaf-Signature": ""}, alert_body()),
            ({"X-Leaf-Signature": signature(alert_body())}, alert_body(status="OK")),
            ({"X-Leaf-Signature": signature(alert_body())}, alert_body() + b" "),
            ({"X-Leaf-Signature": signature(alert_body(), SECRET + "x")}, alert_body()),
            ({"X-Leaf-Signature": signature(alert_body())[::-1]}, alert_body()),
            ({"X-Leaf-Signature": "%%% not base64 ü"}, alert_body()),
            ({"X-Other-Signature": signature(alert_body())}, alert_body()),
        ],
        ids=[
            "missing",
            "empty",
            "tampered-body",
            "appended-byte",
            "other-secret",
            "tampered-signature",
            "garbage",
            "wrong-header",
        ],
    )
    async def test_bad_signatures_get_401_and_no_callback(
        self, headers: dict[str, str], body: bytes
    ) -> None:
        """A missing, wrong or tampered signature gets 401 and the callback never runs."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)

        answer = await receiver.handle(headers, body)

        assert 401 == answer.status
        assert [] == recorder.calls

    async def test_a_refusal_never_logs_the_body_or_secret(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The 401 is logged as a warning without the body, the header value or the secret."""
        caplog.set_level(logging.DEBUG)
        receiver = AlertReceiver(SECRET, Recorder())
        body = alert_body(message=MARKER)
        bad = signature(body, "guess")

        await receiver.handle({"X-Leaf-Signature": bad}, body)
        await receiver.handle({}, body)

        assert ["WARNING", "WARNING"] == [record.levelname for record in caplog.records]
        assert MARKER not in caplog.text
        assert bad not in caplog.text
        assert SECRET not in caplog.text

    async def test_the_secret_is_not_in_the_repr(self) -> None:
        """The receiver's repr shows its bound, never its secret."""
        assert SECRET not in repr(AlertReceiver(SECRET, Recorder()))
        assert SECRET not in repr(AlertReceiver(SECRET.encode(), Recorder()))


class TestBodies:
    async def test_over_the_bound_is_413_even_when_signed(self) -> None:
        """A body one byte over max_body is refused with 413 before anything else."""
        recorder = Recorder()
        body = alert_body(message="x" * 300)
        receiver = AlertReceiver(SECRET, recorder, max_body=len(body) - 1)

        answer = await receiver.handle(signed(body), body)

        assert 413 == answer.status
        assert [] == recorder.calls

    async def test_exactly_the_bound_is_accepted(self) -> None:
        """A body of exactly max_body bytes is handled."""
        recorder = Recorder()
        body = alert_body()
        receiver = AlertReceiver(SECRET, recorder, max_body=len(body))

        assert 200 == (await receiver.handle(signed(body), body)).status
        assert 1 == len(recorder.calls)

    @pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b"", b"[" * 60_000])
    async def test_a_signed_body_that_is_not_an_object_is_400(
        self, body: bytes, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A signed body that is not a JSON object gets 400 and no callback, and is not logged."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)

        answer = await receiver.handle(signed(body), body)

        assert 400 == answer.status
        assert [] == recorder.calls
        assert "not json" not in caplog.text

    async def test_an_unknown_event_reaches_the_callback_whole(self) -> None:
        """Events the SDK does not model are passed on as UnknownAlert, not refused."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        payload = {"type": "fieldCreated", "fieldId": "f1", "leafUserId": "u1"}
        body = encode(payload)

        answer = await receiver.handle(signed(body), body)

        assert 200 == answer.status
        assert [UnknownAlert(type="fieldCreated", raw=payload)] == recorder.calls


class TestConfirmation:
    async def test_acknowledged_without_the_callback(self) -> None:
        """The registration confirmation is answered 200 and not passed on by default."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        body = encode({"message": CONFIRMATION_MESSAGE})

        answer = await receiver.handle(signed(body), body)

        assert (200, {"result": "confirmed"}) == status_of(answer)
        assert [] == recorder.calls

    async def test_passed_on_when_asked_and_never_deduplicated(self) -> None:
        """With confirmations=True the callback gets each confirmation, a second one too."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder, confirmations=True)
        body = encode({"message": CONFIRMATION_MESSAGE})

        first = await receiver.handle(signed(body), body)
        second = await receiver.handle(signed(body), body)

        assert [200, 200] == [first.status, second.status]
        assert 2 == len(recorder.calls)
        assert all(isinstance(call, WebhookConfirmation) for call in recorder.calls)

    async def test_an_unsigned_confirmation_is_refused(self) -> None:
        """The confirmation needs a valid signature like any delivery."""
        receiver = AlertReceiver(SECRET, Recorder())
        body = encode({"message": CONFIRMATION_MESSAGE})

        assert 401 == (await receiver.handle({}, body)).status

    async def test_a_failing_callback_on_a_confirmation_is_500(self) -> None:
        """When the callback fails on the confirmation, Leaf is told so."""
        receiver = AlertReceiver(SECRET, Recorder(failures=1), confirmations=True)
        body = encode({"message": CONFIRMATION_MESSAGE})

        assert 500 == (await receiver.handle(signed(body), body)).status


class TestDuplicates:
    async def test_a_redelivery_is_acknowledged_without_the_callback(self) -> None:
        """Leaf's retry of a handled alert gets 200 and does not run the callback again."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        await receiver.handle(signed(body), body)
        again = await receiver.handle(signed(body), body)

        assert (200, {"result": "duplicate"}) == status_of(again)
        assert 1 == len(recorder.calls)

    async def test_a_reserialized_redelivery_is_a_duplicate(self) -> None:
        """The same alert with other key order and spacing is recognized."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        first = alert_body()
        again = json.dumps(dict(reversed(list(ALERT.items())))).encode()

        await receiver.handle(signed(first), first)
        answer = await receiver.handle(signed(again), again)

        assert (200, {"result": "duplicate"}) == status_of(answer)
        assert 1 == len(recorder.calls)

    async def test_a_later_alert_for_the_same_credential_is_new(self) -> None:
        """A second status change (another timestamp) runs the callback again."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        first, later = alert_body(), alert_body(timestamp="2024-06-16T00:00:00Z")

        await receiver.handle(signed(first), first)
        answer = await receiver.handle(signed(later), later)

        assert (200, {"result": "accepted"}) == status_of(answer)
        assert 2 == len(recorder.calls)

    async def test_unknown_events_are_deduplicated_by_body(self) -> None:
        """The same unknown event twice runs the callback once."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder)
        body = encode({"type": "fieldCreated", "fieldId": "f1"})

        await receiver.handle(signed(body), body)
        await receiver.handle(signed(body), body)

        assert 1 == len(recorder.calls)

    async def test_the_memory_is_bounded_least_recently_seen_first(self) -> None:
        """With dedupe_size=2 the least recently seen alert is forgotten first."""
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder, dedupe_size=2)
        a, b, c = (alert_body(credentialId=name) for name in "abc")

        for body in (a, b, a, c):  # a is seen again, so b is the oldest when c comes
            await receiver.handle(signed(body), body)
        answers = [(await receiver.handle(signed(body), body)).status for body in (a, b)]

        assert [200, 200] == answers
        assert ["a", "b", "c", "b"] == [
            call.credential_id for call in recorder.calls if isinstance(call, CredentialAlert)
        ]

    async def test_concurrent_duplicates_run_the_callback_once(self) -> None:
        """Two deliveries of one alert at the same time run the callback once and both get 200."""
        recorder = Recorder()
        recorder.gate = asyncio.Event()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        first = asyncio.create_task(receiver.handle(signed(body), body))
        await recorder.entered.wait()
        second = asyncio.create_task(receiver.handle(signed(body), body))
        await asyncio.sleep(0)
        recorder.gate.set()
        answers = await asyncio.gather(first, second)

        assert [(200, {"result": "accepted"}), (200, {"result": "duplicate"})] == [
            status_of(answer) for answer in answers
        ]
        assert 1 == len(recorder.calls)

    async def test_a_concurrent_duplicate_of_a_failure_fails_too(self) -> None:
        """When the first delivery's callback fails, its concurrent twin gets 500 as well."""
        recorder = Recorder(failures=1)
        recorder.gate = asyncio.Event()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        first = asyncio.create_task(receiver.handle(signed(body), body))
        await recorder.entered.wait()
        second = asyncio.create_task(receiver.handle(signed(body), body))
        await asyncio.sleep(0)
        recorder.gate.set()
        answers = await asyncio.gather(first, second)

        assert [500, 500] == [answer.status for answer in answers]
        assert 1 == len(recorder.calls)

    async def test_a_cancelled_twin_does_not_disturb_the_first(self) -> None:
        """Cancelling a waiting duplicate leaves the first delivery to finish and be remembered."""
        recorder = Recorder()
        recorder.gate = asyncio.Event()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        first = asyncio.create_task(receiver.handle(signed(body), body))
        await recorder.entered.wait()
        second = asyncio.create_task(receiver.handle(signed(body), body))
        await asyncio.sleep(0)
        second.cancel()
        recorder.gate.set()

        assert 200 == (await first).status
        with pytest.raises(asyncio.CancelledError):
            await second
        assert "duplicate" == json.loads((await receiver.handle(signed(body), body)).body)["result"]

    async def test_a_cancelled_delivery_is_not_remembered(self) -> None:
        """A delivery cancelled inside the callback is not handled, so a redelivery runs it."""
        recorder = Recorder()
        recorder.gate = asyncio.Event()
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body()

        first = asyncio.create_task(receiver.handle(signed(body), body))
        await recorder.entered.wait()
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        recorder.gate.set()

        assert (200, {"result": "accepted"}) == status_of(await receiver.handle(signed(body), body))
        assert 2 == len(recorder.calls)


class TestCallbackFailure:
    async def test_500_then_a_redelivery_succeeds(self, caplog: pytest.LogCaptureFixture) -> None:
        """A failing callback gets 500 and is not remembered, so Leaf's retry runs it again."""
        recorder = Recorder(failures=1)
        receiver = AlertReceiver(SECRET, recorder)
        body = alert_body(message=MARKER)

        failed = await receiver.handle(signed(body), body)
        retried = await receiver.handle(signed(body), body)
        duplicate = await receiver.handle(signed(body), body)

        assert [500, 200, 200] == [failed.status, retried.status, duplicate.status]
        assert 2 == len(recorder.calls)
        (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert "5f0c1b5e-0000-4000-8000-000000000009" in record.getMessage()
        assert MARKER not in record.getMessage()


class TestOptions:
    @pytest.mark.parametrize(
        ("args", "kwargs"),
        [
            (("", Recorder()), {}),
            ((None, Recorder()), {}),
            ((SECRET, "not callable"), {}),
            ((SECRET, Recorder()), {"max_body": 0}),
            ((SECRET, Recorder()), {"max_body": True}),
            ((SECRET, Recorder()), {"dedupe_size": -1}),
            ((SECRET, Recorder()), {"dedupe_size": 1.5}),
        ],
    )
    async def test_bad_options_raise_validation_error(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """An empty secret, a non-callable callback or a bad bound raise ValidationError."""
        with pytest.raises(lc.ValidationError):
            AlertReceiver(*args, **kwargs)
        with pytest.raises(lc.ValidationError):
            aiohttp_handler(*args, **kwargs)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(8 if depth < 3 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return rng.random() < 0.5
    if choice == 2:
        return rng.randrange(-(10**12), 10**12)
    if choice == 3:
        return rng.random() * 10 ** rng.randrange(-5, 300)
    if choice == 4:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 12)))
    if choice == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    keys = [*ALERT, "x", ""]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def random_body(rng: random.Random) -> bytes:
    kind = rng.randrange(5)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 300))
    if kind == 1:
        return json.dumps(random_json(rng)).encode()
    if kind == 2:  # a credential alert with some fields replaced by junk
        payload: dict[str, Any] = dict(ALERT)
        for key in rng.sample(list(ALERT), rng.randrange(0, 4)):
            payload[key] = random_json(rng, 2)
        return json.dumps(payload).encode()
    if kind == 3:
        body = bytearray(alert_body())
        for _ in range(rng.randrange(1, 4)):
            body[rng.randrange(len(body))] = rng.randrange(256)
        return bytes(body)
    return rng.choice([b"", b"{", b"[" * 5000, encode({"message": CONFIRMATION_MESSAGE})])


def random_headers(rng: random.Random, body: bytes) -> dict[str, str]:
    headers = {
        "".join(chr(rng.randrange(33, 0x250)) for _ in range(rng.randrange(1, 10))): "".join(
            chr(rng.randrange(0, 0x250)) for _ in range(rng.randrange(0, 30))
        )
        for _ in range(rng.randrange(0, 4))
    }
    kind = rng.randrange(4)
    if kind == 0:
        headers["X-Leaf-Signature"] = signature(body)
    elif kind == 1:
        headers["x-leaf-signature"] = signature(body)[: rng.randrange(0, 44)]
    elif kind == 2:
        headers["X-Leaf-Signature"] = base64.b64encode(rng.randbytes(32)).decode()
    return headers


class TestFuzz:
    async def test_random_deliveries_never_crash_the_receiver(self) -> None:
        """Thousands of random deliveries get an answer; only signed ones run the callback."""
        rng = random.Random(20240615)
        recorder = Recorder()
        receiver = AlertReceiver(SECRET, recorder, max_body=4096, dedupe_size=64)
        statuses: set[int] = set()
        for _ in range(3000):
            body = random_body(rng)
            headers = random_headers(rng, body)
            recorder.failures = rng.randrange(2)
            before = len(recorder.calls)

            answer = await receiver.handle(headers, body)

            statuses.add(answer.status)
            assert isinstance(json.loads(answer.body), dict)
            if len(recorder.calls) > before:
                assert signature(body) == headers.get("X-Leaf-Signature")
                assert answer.status in {200, 500}
        assert {200, 400, 401, 413, 500} == statuses


@asynccontextmanager
async def serve(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """Mount the handler at /leaf/alerts in a real aiohttp app on 127.0.0.1; yield its URL."""
    app = web.Application()
    app.router.add_post("/leaf/alerts", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/leaf/alerts"
    finally:
        await runner.cleanup()


class TestAiohttpHandler:
    async def test_a_signed_alert_over_http(self) -> None:
        """A signed POST is verified, passed to the callback, and a redelivery is a duplicate."""
        recorder = Recorder()
        body = alert_body()
        async with (
            serve(aiohttp_handler(SECRET, recorder)) as url,
            aiohttp.ClientSession() as client,
        ):
            async with client.post(url, data=body, headers=signed(body)) as response:
                first = response.status, await response.json()
            async with client.post(url, data=body, headers=signed(body)) as response:
                again = response.status, await response.json()

        assert (200, {"result": "accepted"}) == first
        assert (200, {"result": "duplicate"}) == again
        (alert,) = recorder.calls
        assert isinstance(alert, CredentialAlert)
        assert CREDENTIALS_UNAUTHENTICATED == alert.type

    async def test_refusals_over_http(self) -> None:
        """Unsigned and tampered POSTs get 401, the confirmation 200; none runs the callback."""
        recorder = Recorder()
        body = alert_body()
        confirmation = encode({"message": CONFIRMATION_MESSAGE})
        async with (
            serve(aiohttp_handler(SECRET, recorder)) as url,
            aiohttp.ClientSession() as client,
        ):
            statuses = []
            for data, headers in [
                (body, {}),
                (alert_body(status="OK"), signed(body)),
                (confirmation, signed(confirmation)),
            ]:
                async with client.post(url, data=data, headers=headers) as response:
                    statuses.append(response.status)

        assert [401, 401, 200] == statuses
        assert [] == recorder.calls

    async def test_a_failing_callback_gets_500_then_the_retry_200(self) -> None:
        """The handler answers 500 when the callback raises, and 200 to Leaf's retry."""
        recorder = Recorder(failures=1)
        body = alert_body()
        async with (
            serve(aiohttp_handler(SECRET, recorder)) as url,
            aiohttp.ClientSession() as client,
        ):
            statuses = []
            for _ in range(2):
                async with client.post(url, data=body, headers=signed(body)) as response:
                    statuses.append(response.status)

        assert [500, 200] == statuses
        assert 2 == len(recorder.calls)

    async def test_a_large_content_length_is_refused_unread(self) -> None:
        """A declared length over the bound gets 413 and the callback never runs."""
        recorder = Recorder()
        body = alert_body(message="x" * 2000)
        async with (
            serve(aiohttp_handler(SECRET, recorder, max_body=1024)) as url,
            aiohttp.ClientSession() as client,
            client.post(url, data=body, headers=signed(body)) as response,
        ):
            status = response.status

        assert 413 == status
        assert [] == recorder.calls

    async def test_a_chunked_body_is_read_only_up_to_the_bound(self) -> None:
        """A body without Content-Length is refused with 413 once it passes the bound."""
        recorder = Recorder()
        body = alert_body(message="x" * 5000)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 512):
                yield body[start : start + 512]

        async with (
            serve(aiohttp_handler(SECRET, recorder, max_body=1024)) as url,
            aiohttp.ClientSession() as client,
            client.post(url, data=chunks(), headers=signed(body)) as response,
        ):
            status = response.status

        assert 413 == status
        assert [] == recorder.calls

    async def test_a_chunked_body_within_the_bound_is_handled(self) -> None:
        """A chunked body under the bound is reassembled and verified."""
        recorder = Recorder()
        body = alert_body()

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 7):
                yield body[start : start + 7]

        async with (
            serve(aiohttp_handler(SECRET, recorder)) as url,
            aiohttp.ClientSession() as client,
            client.post(url, data=chunks(), headers=signed(body)) as response,
        ):
            status = response.status

        assert 200 == status
        assert 1 == len(recorder.calls)

    async def test_a_broken_body_is_400(self) -> None:
        """A body the server cannot read (broken encoding, cut off) gets 400 and no callback."""
        recorder = Recorder()
        handler = aiohttp_handler(SECRET, recorder)
        loop = asyncio.get_running_loop()
        payload = aiohttp.StreamReader(BaseProtocol(loop), 2**16, loop=loop)
        payload.feed_data(b'{"type": ')
        payload.set_exception(web.RequestPayloadError("Not enough data to satisfy content length"))
        request = make_mocked_request(
            "POST", "/leaf/alerts", headers={"X-Leaf-Signature": "AAAA"}, payload=payload
        )

        response = await handler(request)

        assert 400 == response.status
        assert [] == recorder.calls


SIX_HOURS = timedelta(hours=6)


def stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def fresh_body(**changes: Any) -> bytes:
    return alert_body(timestamp=stamp(datetime.now(UTC) - timedelta(minutes=30)), **changes)


@asynccontextmanager
async def serve_on_port(handler: Any) -> AsyncIterator[tuple[int, web.AppRunner]]:
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
        async with serve_on_port(lc.aiohttp_handler(SECRET, recorder)) as (port, runner):
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
        async with serve_on_port(handler) as (port, _):
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
