"""leaf.webhooks.rotate_secret: delete then create, checked first, and the gap read back."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.conftest import BASE, LeafMock, sent, total_requests

WEBHOOKS = BASE + "/services/alerts/api/alerts/webhooks"
OLD = "old-signing-secret-value"
NEW = "new-signing-secret-value"
HOOK = {"id": "w-1", "name": "alerts", "url": "https://app.example.com/leaf",
        "events": ["credentialsUnauthenticated"], "secret": OLD}  # fmt: skip
NO_RETRY = lc.RetryPolicy(max_retries=0)
JD = {"clientKey": "ck", "clientSecret": "jd-client-secret", "refreshToken": "jd-refresh",
      "clientEnvironment": "STAGE"}  # fmt: skip


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestAgainstMocks:
    async def test_deletes_then_registers_the_same_webhook(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Same name, URL and events, the new secret; never logged or shown."""
        caplog.set_level(logging.DEBUG)
        http.get(WEBHOOKS + "/w-1", payload=HOOK)
        http.delete(WEBHOOKS + "/w-1", status=204)
        http.post(WEBHOOKS, status=201, payload={**HOOK, "id": "w-2", "secret": NEW})
        http.get(WEBHOOKS + "/failed-calls?page=0&size=100", payload={"items": []})

        rotation = await leaf.webhooks.rotate_secret("w-1", NEW)

        (call,) = sent(http, "POST", WEBHOOKS)
        expected = {"name": "alerts", "url": HOOK["url"], "secret": NEW,
                    "events": ["credentialsUnauthenticated"]}  # fmt: skip
        assert expected == json.loads(call.kwargs["data"])
        assert ("w-2", "w-1", ()) == (
            rotation.webhook.id,
            rotation.replaced.id,
            rotation.failed_calls,
        )
        assert rotation.started_at <= rotation.finished_at
        shown = repr(rotation) + caplog.text
        assert NEW not in shown
        assert OLD not in shown

    @pytest.mark.parametrize(
        ("hook", "secret", "problem"),
        [
            (HOOK, "", "secret must be a non-empty string"),
            ({**HOOK, "url": None}, NEW, "url must be"),
            ({**HOOK, "events": []}, NEW, "events must name at least one event"),
        ],
    )
    async def test_nothing_is_deleted_when_it_cannot_finish(
        self, http: LeafMock, leaf: lc.LeafSession, hook: Any, secret: str, problem: str
    ) -> None:
        """A bad new secret, or a record Leaf cannot take back, stops before the delete."""
        http.get(WEBHOOKS + "/w-1", payload=hook)

        with pytest.raises(lc.ValidationError, match=problem):
            await leaf.webhooks.rotate_secret("w-1", secret)
        assert 1 == total_requests(http)

    async def test_a_failed_registration_says_the_webhook_is_gone(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The error carries a note naming the deleted webhook; a WARNING says it too."""
        http.get(WEBHOOKS + "/w-1", payload={**HOOK, "name": None})
        http.delete(WEBHOOKS + "/w-1", status=204)
        http.post(WEBHOOKS, status=400, payload={"errorKey": "eventRegisteredTwice",
                                                 "detail": f"secret {NEW}"})  # fmt: skip

        with pytest.raises(lc.BadRequestError) as caught:
            await leaf.webhooks.rotate_secret("w-1", NEW)

        notes = " ".join(getattr(caught.value, "__notes__", []))
        assert "webhook w-1 ('w-1', events credentialsUnauthenticated) was deleted" in notes
        assert "was deleted" in caplog.text
        assert NEW not in str(caught.value) + notes + caplog.text

    async def test_unreadable_failed_calls_do_not_fail_the_rotation(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The rotation is done; failed_calls is None and a WARNING says why."""
        http.get(WEBHOOKS + "/w-1", payload=HOOK)
        http.delete(WEBHOOKS + "/w-1", status=204)
        http.post(WEBHOOKS, status=201, payload={**HOOK, "id": "w-2"})
        http.get(WEBHOOKS + "/failed-calls?page=0&size=100", status=503)

        rotation = await leaf.webhooks.rotate_secret("w-1", NEW)

        assert None is rotation.failed_calls
        assert "failed calls could not be read" in caplog.text


class TestAgainstTheFake:
    async def test_no_alert_is_lost_with_a_receiver_taking_both(self) -> None:
        """Alerts before and after the swap reach a receiver that accepts both secrets."""
        seen: list[lc.Alert] = []

        async def on_alert(alert: lc.Alert) -> None:
            seen.append(alert)

        app = web.Application()
        app.router.add_post("/leaf", lc.aiohttp_handler([OLD, NEW], on_alert))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/leaf"
        try:
            async with FakeLeaf(webhook_retry_delays=()) as fake:
                fake.add_user(id="u1")
                fake.add_user(id="u2")
                fake.add_credential("u1", lc.JOHN_DEERE, JD)
                fake.add_credential("u2", lc.JOHN_DEERE, JD)
                async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                    hook = await leaf.register_webhook(name="alerts", url=url, secret=OLD)
                    fake.set_status("u1", lc.JOHN_DEERE, "UNAUTHENTICATED")
                    await fake.alerts.drain()
                    rotation = await leaf.webhooks.rotate_secret(hook.id, NEW)
                    fake.set_status("u2", lc.JOHN_DEERE, "UNAUTHENTICATED")
                    await fake.alerts.drain()
                assert [NEW] == [w["secret"] for w in fake.alerts.webhooks]
        finally:
            await runner.cleanup()
        credential_alerts = [a for a in seen if isinstance(a, lc.CredentialAlert)]
        assert 2 == len(credential_alerts)
        assert () == rotation.failed_calls
