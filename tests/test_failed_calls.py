"""Failed webhook calls: leaf.webhooks.failed_calls(), and replaying them through the receiver."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, LeafMock, total_requests

FAILED = BASE + "/services/alerts/api/alerts/webhooks/failed-calls"
SECRET = "webhook-signing-secret-value"
NEW_SECRET = "the-next-signing-secret"
ALERT = {
    "type": "credentialsUnauthenticated",
    "provider": "JohnDeere",
    "credentialId": "c-1",
    "status": "UNAUTHENTICATED",
    "message": "revoked",
    "timestamp": "2024-06-15T14:30:00.123456Z",
    "credential": "jd-application-id",
}
BODY = json.dumps(ALERT)
CALL: dict[str, Any] = {"apiOwner": "owner@example.com", "createdAt": "2024-06-15T14:31:00.000000Z",
        "url": "https://app.example.com/leaf?token=url-token", "status": 502,
        "response": "<html>bad gateway</html>", "requestBody": BODY}  # fmt: skip
NO_RETRY = lc.RetryPolicy(max_retries=0)


def signature(body: bytes, secret: str) -> str:
    """Sign like Leaf: base64 of the HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class Recorder:
    """A callback that records the alerts it gets."""

    def __init__(self) -> None:
        self.alerts: list[lc.Alert] = []

    async def __call__(self, alert: lc.Alert) -> None:
        self.alerts.append(alert)


class TestFailedCalls:
    async def test_reads_leafs_items(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET .../failed-calls answers {"items": [...]}; every field optional."""
        unreachable = {"url": "https://down.example", "connectionError": "refused"}
        http.get(FAILED + "?page=0&size=100", payload={"items": [CALL, unreachable]})

        calls = await leaf.webhooks.failed_calls()

        assert 2 == len(calls)
        first = calls[0]
        assert (502, datetime(2024, 6, 15, 14, 31, tzinfo=UTC)) == (first.status, first.created_at)
        assert BODY.encode() == first.body
        assert "answered 502" == first.failure()
        assert "not reached: refused" == calls[1].failure()
        assert "failed" == lc.FailedCall().failure()

    async def test_filters_by_url_and_time(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """url= and since= keep the calls to one webhook, since a moment."""
        later = {**CALL, "createdAt": "2024-06-16T00:00:00Z"}
        other = {**CALL, "url": "https://other.example"}
        http.get(FAILED + "?page=0&size=100", payload={"items": [CALL, later, other, {}]})

        calls = await leaf.webhooks.failed_calls(
            url=CALL["url"], since=datetime(2024, 6, 15, 20, tzinfo=UTC)
        )

        assert [datetime(2024, 6, 16, tzinfo=UTC)] == [c.created_at for c in calls]

    @pytest.mark.parametrize("since", [datetime(2024, 1, 1), "2024-01-01"])
    async def test_since_must_be_aware(
        self, http: LeafMock, leaf: lc.LeafSession, since: Any
    ) -> None:
        """A naive datetime (or text) is refused before sending."""
        with pytest.raises(lc.ValidationError, match="aware datetime"):
            await leaf.webhooks.failed_calls(since=since)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize("body", [b"[]", b'{"items": 3}', b'{"items": [{"status": "x"}]}'])
    async def test_a_hostile_answer_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession, body: bytes
    ) -> None:
        """Anything but {"items": [...]} of calls is a DecodeError."""
        http.get(FAILED + "?page=0&size=100", body=body, content_type="application/json")

        with pytest.raises(lc.DecodeError):
            await leaf.webhooks.failed_calls()

    def test_the_repr_hides_the_body_and_the_query(self) -> None:
        """No alert body, no URL query string, and a receiver's answer masked and cut."""
        call = lc.FailedCall(
            url=CALL["url"],
            request_body=BODY,
            response='{"access_token": "leaked-token"}' + "x" * 100,
        )
        shown = repr(call)
        assert "url-token" not in shown
        assert "jd-application-id" not in shown
        assert "leaked-token" not in shown
        assert f"request_body=<{len(BODY)} characters>" in shown
        assert "..." in shown
        assert "None" in repr(lc.FailedCall())

    def test_the_alert_it_holds(self) -> None:
        """alert() parses the undelivered body; no body is a ValidationError."""
        alert = lc.FailedCall(request_body=BODY).alert()
        assert isinstance(alert, lc.CredentialAlert)
        assert "c-1" == alert.credential_id
        with pytest.raises(lc.ValidationError, match="no requestBody"):
            lc.FailedCall().alert()


class TestReplay:
    async def test_runs_the_callback_once(self) -> None:
        """A replayed alert is handled; replayed again, it is a duplicate."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder)
        call = lc.FailedCall(request_body=BODY)

        first = await receiver.replay(call)
        second = await receiver.replay(call.body)

        assert (200, 200) == (first.status, second.status)
        assert {"result": "accepted"} == json.loads(first.body)
        assert {"result": "duplicate"} == json.loads(second.body)
        assert 1 == len(recorder.alerts)

    async def test_an_alert_handled_live_is_not_handled_again(self) -> None:
        """The same de-duplication as live deliveries: a retry that got through counts."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder)
        live = await receiver.handle({"X-Leaf-Signature": signature(BODY.encode(), SECRET)},
                                     BODY.encode())  # fmt: skip

        replayed = await receiver.replay(lc.FailedCall(request_body=BODY))

        assert 200 == live.status
        assert {"result": "duplicate"} == json.loads(replayed.body)
        assert 1 == len(recorder.alerts)

    async def test_max_age_does_not_refuse_a_replay(self) -> None:
        """An alert missed for longer than max_age is replayed, and remembered a while."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_age=timedelta(hours=6))
        signed = {"X-Leaf-Signature": signature(BODY.encode(), SECRET)}

        live = await receiver.handle(signed, BODY.encode())
        first = await receiver.replay(BODY.encode())
        second = await receiver.replay(BODY.encode())

        assert 400 == live.status  # too old for a live delivery
        assert ({"result": "accepted"}, {"result": "duplicate"}) == (
            json.loads(first.body),
            json.loads(second.body),
        )

    async def test_bad_bodies(self) -> None:
        """Not JSON: 400; past max_body: 413; the callback never runs."""
        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, max_body=100)

        assert 400 == (await receiver.replay(b"not json")).status
        assert 413 == (await receiver.replay(b"{" + b" " * 200 + b"}")).status
        assert [] == recorder.alerts

    @pytest.mark.parametrize("given", ["text", None, {"requestBody": BODY}])
    async def test_only_a_failed_call_or_bytes(self, given: Any) -> None:
        """Anything else is a ValidationError."""
        receiver = lc.AlertReceiver(SECRET, Recorder())
        with pytest.raises(lc.ValidationError, match="FailedCall or its body"):
            await receiver.replay(given)


class TestSecrets:
    async def test_any_listed_secret_verifies(self) -> None:
        """During a rotation the receiver takes the old secret and the new one."""
        recorder = Recorder()
        receiver = lc.AlertReceiver([SECRET, NEW_SECRET.encode()], recorder)
        old = BODY.encode()
        new = json.dumps({**ALERT, "credentialId": "c-2"}).encode()

        first = await receiver.handle({"X-Leaf-Signature": signature(old, SECRET)}, old)
        second = await receiver.handle({"X-Leaf-Signature": signature(new, NEW_SECRET)}, new)
        wrong = await receiver.handle({"X-Leaf-Signature": signature(new, "other")}, new)

        assert (200, 200, 401) == (first.status, second.status, wrong.status)
        assert 2 == len(recorder.alerts)

    @pytest.mark.parametrize("secret", [[], [""], ["ok", 3], {"a": "b"}, 3, None])
    def test_a_bad_list_is_refused(self, secret: Any) -> None:
        """Empty lists, empty secrets, non-strings and mappings are refused."""
        with pytest.raises(lc.ValidationError, match="secret must be"):
            lc.AlertReceiver(secret, Recorder())

    def test_no_secret_in_the_repr(self) -> None:
        """Neither secret shows in the receiver's repr."""
        shown = repr(lc.AlertReceiver([SECRET, NEW_SECRET], Recorder()))
        assert SECRET not in shown
        assert NEW_SECRET not in shown


class TestEnrich:
    async def test_the_callback_gets_the_enriched_alert(self) -> None:
        """enrich= runs on each alert before the callback."""
        recorder = Recorder()

        async def enrich(alert: lc.Alert) -> lc.Alert:
            assert isinstance(alert, lc.CredentialAlert)
            import attrs

            return attrs.evolve(alert, leaf_user_id="u-1", provider="john-deere")

        receiver = lc.AlertReceiver(SECRET, recorder, enrich=enrich)
        await receiver.replay(BODY.encode())

        (alert,) = recorder.alerts
        assert isinstance(alert, lc.CredentialAlert)
        assert ("u-1", "john-deere") == (alert.leaf_user_id, alert.provider)

    async def test_a_failing_enrich_is_a_500_and_not_remembered(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Leaf delivers it again later; nothing is logged of the body."""

        async def enrich(alert: lc.Alert) -> lc.Alert:
            raise lc.ServerError(status=503, method="GET", url="https://x")

        recorder = Recorder()
        receiver = lc.AlertReceiver(SECRET, recorder, enrich=enrich)
        caplog.set_level(logging.DEBUG)

        assert 500 == (await receiver.replay(BODY.encode())).status
        assert 500 == (await receiver.replay(BODY.encode())).status
        assert [] == recorder.alerts
        assert "jd-application-id" not in caplog.text

    def test_enrich_must_be_callable(self) -> None:
        """A non-callable enrich= is refused."""
        with pytest.raises(lc.ValidationError, match="enrich must be"):
            lc.AlertReceiver(SECRET, Recorder(), enrich="no")  # type: ignore[arg-type]

    async def test_the_aiohttp_handler_takes_both(self) -> None:
        """aiohttp_handler() accepts a list of secrets and enrich=."""

        async def enrich(alert: lc.Alert) -> lc.Alert:
            return alert

        handler = lc.aiohttp_handler([SECRET, NEW_SECRET], Recorder(), enrich=enrich)
        assert callable(handler)
