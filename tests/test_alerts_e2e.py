"""Credential alerts end to end: the fake Leaf's webhooks, delivering to a receiver in an app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds._alerts import (
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    Alert,
    CredentialAlert,
    UnknownAlert,
)
from leaf_creds._receiver import aiohttp_handler
from leaf_creds.testing import Delivery, FakeLeaf

SECRET = "e2e-webhook-secret-value"
WEBHOOKS = "/services/alerts/api/alerts/webhooks"
FAST = (0.01, 0.02, 0.03)  # retry delays for the fake: Leaf's schedule, much shortened


def leaf_signature(body: bytes, secret: str = SECRET) -> str:
    """Sign like Leaf documents, independently of the SDK."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def sentera() -> lc.SenteraCredentials:
    return lc.SenteraCredentials(
        username="grower", password="hunter2-password", organization_name="Acme Farms"
    )


@asynccontextmanager
async def app_on_loopback(
    routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
) -> AsyncIterator[str]:
    """Serve POST routes in a real aiohttp app on 127.0.0.1; yield its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class Tap:
    """A route that records each raw delivery (signature, body) and answers a fixed status."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[tuple[str | None, bytes]] = []
        self.arrived = asyncio.Event()
        self.release: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.headers.get("X-Leaf-Signature"), await request.read()))
        self.arrived.set()
        if self.release is not None:
            await self.release.wait()
        return web.Response(status=self.status)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf(webhook_retry_delays=FAST) as server:
        server.add_user(id="u1")
        server.add_credential("u1", lc.SENTERA, sentera())
        yield server


@pytest.fixture
async def leaf(fake: FakeLeaf) -> AsyncIterator[lc.LeafSession]:
    async with lc.LeafSession(token=fake.token, base_url=fake.url) as session:
        yield session


class TestEndToEnd:
    async def test_an_unauthenticated_credential_reaches_the_app(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """The fake flips a credential, the receiver verifies it, the callback reads the events."""
        handled: list[tuple[CredentialAlert, list[lc.CredentialEvent]]] = []
        # Leaf's alerts carry no user id: the app maps the credential ids it
        # created (or read) to their user and provider.
        record = fake.credential("u1", lc.SENTERA)
        assert record is not None
        owners = {record["id"]: ("u1", lc.SENTERA)}

        async def on_alert(alert: Alert) -> None:
            assert isinstance(alert, CredentialAlert)
            user_id, provider = owners[alert.credential_id]
            handled.append((alert, await leaf.events(provider, user_id)))

        captured: list[tuple[str, bytes]] = []
        async with (
            app_on_loopback({"/leaf/alerts": aiohttp_handler(SECRET, on_alert)}) as app,
            aiohttp.ClientSession() as client,
        ):

            async def forward(request: web.Request) -> web.Response:
                # Keeps the exact bytes Leaf sent, then hands them to the real handler.
                body = await request.read()
                signature = request.headers.get("X-Leaf-Signature", "")
                captured.append((signature, body))
                async with client.post(
                    app + "/leaf/alerts", data=body, headers={"X-Leaf-Signature": signature}
                ) as answer:
                    return web.Response(status=answer.status, body=await answer.read())

            async with app_on_loopback({"/forward": forward}) as proxy:
                webhook = await leaf.register_webhook(
                    name="credential alerts", url=proxy + "/forward", secret=SECRET
                )
                await fake.alerts.drain()
                fake.set_status("u1", lc.SENTERA, lc.CredentialStatus.UNAUTHENTICATED)
                await fake.alerts.drain()

            # A replay of the exact signed delivery is acknowledged and ignored...
            signature, body = captured[-1]
            async with client.post(
                app + "/leaf/alerts", data=body, headers={"X-Leaf-Signature": signature}
            ) as replay:
                replayed = replay.status, await replay.json()
            # ...and a tampered one is refused.
            tampered = body.replace(b'"UNAUTHENTICATED"', b'"OK"')
            async with client.post(
                app + "/leaf/alerts", data=tampered, headers={"X-Leaf-Signature": signature}
            ) as forged:
                forged_status = forged.status

        ((alert, events),) = handled
        assert CREDENTIALS_UNAUTHENTICATED == alert.type
        assert "Sentera" == alert.provider
        assert "grower" == alert.credential
        assert record["id"] == alert.credential_id
        assert lc.CredentialStatus.UNAUTHENTICATED == alert.status
        assert "UNAUTHENTICATED" in (events[-1].body or "")  # the change the fake logged
        assert leaf_signature(body) == signature
        assert tampered != body
        assert (200, {"result": "duplicate"}) == replayed
        assert 401 == forged_status
        assert [
            Delivery(webhook.id, "confirmation", 1, 200),
            Delivery(webhook.id, CREDENTIALS_UNAUTHENTICATED, 1, 200),
        ] == fake.alerts.deliveries

    async def test_a_failing_callback_is_delivered_again(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """The receiver answers 500 when the app fails, and the fake's retry is handled."""
        calls: list[Alert] = []

        async def flaky(alert: Alert) -> None:
            calls.append(alert)
            if len(calls) == 1:
                raise RuntimeError("the app's database is down")

        async with app_on_loopback({"/leaf/alerts": aiohttp_handler(SECRET, flaky)}) as app:
            webhook = await leaf.register_webhook(name="n", url=app + "/leaf/alerts", secret=SECRET)
            fake.set_status("u1", lc.SENTERA, "UNAUTHENTICATED")
            await fake.alerts.drain()

        assert 2 == len(calls)
        assert calls[0] == calls[1]
        assert [(1, 500), (2, 200)] == [
            (d.attempt, d.status)
            for d in fake.alerts.deliveries
            if d.webhook_id == webhook.id and d.event == CREDENTIALS_UNAUTHENTICATED
        ]


class TestFakeWebhookEndpoints:
    async def test_register_list_get_delete(self, fake: FakeLeaf, leaf: lc.LeafSession) -> None:
        """The fake stores registrations and answers them through LeafSession."""
        webhook = await leaf.register_webhook(
            name="n", url="http://127.0.0.1:9/h", secret=SECRET, events=["fieldCreated"]
        )

        assert [webhook] == await leaf.webhooks()
        assert webhook == await leaf.webhook(webhook.id)
        assert ("fieldCreated",) == webhook.events
        assert SECRET not in repr(webhook)
        await leaf.delete_webhook(webhook.id)
        assert [] == await leaf.webhooks()
        with pytest.raises(lc.NotFoundError):
            await leaf.webhook(webhook.id)
        with pytest.raises(lc.NotFoundError):
            await leaf.delete_webhook(webhook.id)

    async def test_an_event_cannot_have_two_webhooks(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """Like Leaf, the fake refuses a second webhook for an event with eventRegisteredTwice."""
        await leaf.register_webhook(name="a", url="http://127.0.0.1:9/a", secret=SECRET)

        with pytest.raises(lc.BadRequestError) as caught:
            await leaf.register_webhook(
                name="b", url="http://127.0.0.1:9/b", secret=SECRET + "-b",
                events=[CREDENTIALS_LIMITED_PERMISSION],
            )  # fmt: skip

        assert "eventRegisteredTwice" == caught.value.error_key
        assert SECRET not in str(caught.value)

    async def test_unknown_paths_and_methods(self, fake: FakeLeaf) -> None:
        """A path below a webhook id is 404; a method the endpoint lacks is 405."""
        headers = {"Authorization": "Bearer " + fake.token}
        async with aiohttp.ClientSession(headers=headers) as client:
            async with client.get(fake.url + WEBHOOKS + "/wh-1/extra") as deeper:
                deeper_status = deeper.status
            async with client.put(fake.url + WEBHOOKS, json={}) as put:
                put_status = put.status

        assert (404, 405) == (deeper_status, put_status)

    @pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
    async def test_a_bearer_token_is_required(self, fake: FakeLeaf, method: str) -> None:
        """Every Alerts endpoint answers 401 without a bearer token."""
        path = WEBHOOKS + ("/wh-1" if method == "DELETE" else "")
        async with (
            aiohttp.ClientSession() as client,
            client.request(method, fake.url + path, json={}) as response,
        ):
            assert 401 == response.status

    @pytest.mark.parametrize(
        "body",
        [
            {"name": "n", "url": "ftp://x", "secret": "s", "events": ["a"]},
            {"name": "", "url": "http://x", "secret": "s", "events": ["a"]},
            {"name": "n", "url": "http://x", "secret": "s", "events": []},
            {"name": "n", "url": "http://x", "secret": "s", "events": [{}]},
            [],
        ],
    )
    async def test_an_invalid_registration_is_400(self, fake: FakeLeaf, body: Any) -> None:
        """The fake checks a registration as Leaf documents it, and stores nothing."""
        headers = {"Authorization": "Bearer " + fake.token}
        async with (
            aiohttp.ClientSession() as client,
            client.post(fake.url + WEBHOOKS, json=body, headers=headers) as response,
        ):
            assert 400 == response.status
        assert [] == fake.alerts.webhooks


class TestFakeDeliveries:
    async def test_the_confirmation_is_signed_right_after_registration(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """Registering sends one signed confirmation to the URL."""
        tap = Tap()
        async with app_on_loopback({"/h": tap.handle}) as app:
            await leaf.register_webhook(name="n", url=app + "/h", secret=SECRET)
            await tap.arrived.wait()
            await fake.alerts.drain()

        ((signature, body),) = tap.seen
        assert {"message": "confirmation of webhook upon registration"} == json.loads(body)
        assert leaf_signature(body) == signature

    @pytest.mark.parametrize(
        ("slug", "provider", "credential"),
        [
            ("sentera", "Sentera", "username-value"),
            ("john-deere", "JohnDeere", "clientKey-value"),
            ("cnhi", "CNHI", "clientId-value"),
            ("cnhi-field-ops", "CNHIFieldOps", "clientId-value"),
            ("climate-field-view", "ClimateFieldView", "clientId-value"),
            ("ag-leader", "AgLeader", "publicKey-value"),
            ("agvance", "Agvance", "databaseId-value"),
            ("farm-engage", "FarmEngage", "clientId-value"),
            ("stara", "Stara", None),  # only secrets: the credential's id
        ],
    )
    async def test_a_credential_alert_is_leafs_documented_body(
        self, fake: FakeLeaf, leaf: lc.LeafSession, slug: str, provider: str, credential: str | None
    ) -> None:
        """The alert has exactly Leaf's keys, credential a string, provider Leaf's name, no user."""
        resource = fake.registry.get(slug)
        body = {
            f.wire: "PRODUCTION" if f.wire == "clientEnvironment" else f"{f.wire}-value"
            for f in resource.fields
        }
        fake.add_user(id="u2")
        record = fake.add_credential("u2", slug, body)
        tap = Tap()
        async with app_on_loopback({"/h": tap.handle}) as app:
            await leaf.register_webhook(name="n", url=app + "/h", secret=SECRET)
            fake.set_status("u2", slug, "MISSING_PERMISSION")
            await fake.alerts.drain()

        (_, delivered), *_ = tap.seen[1:]
        alert = json.loads(delivered)
        # Leaf's docs (alerts_events.md), copied by hand.
        assert {
            "credential", "provider", "credentialId", "message", "status", "type", "timestamp"
        } == set(alert)  # fmt: skip
        assert (provider, credential or record["id"], record["id"]) == (
            alert["provider"], alert["credential"], alert["credentialId"]
        )  # fmt: skip
        assert (CREDENTIALS_LIMITED_PERMISSION, "MISSING_PERMISSION") == (
            alert["type"], alert["status"]
        )  # fmt: skip
        parsed = lc.parse_alert(delivered)
        assert isinstance(parsed, CredentialAlert)
        assert alert["credential"] == parsed.credential

    async def test_only_subscribed_webhooks_get_an_alert(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """A status change goes to the webhooks of its event only, and only on a change."""
        unauthenticated, limited = Tap(), Tap()
        async with app_on_loopback({"/u": unauthenticated.handle, "/l": limited.handle}) as app:
            await leaf.register_webhook(
                name="u", url=app + "/u", secret=SECRET, events=[CREDENTIALS_UNAUTHENTICATED]
            )
            await leaf.register_webhook(
                name="l", url=app + "/l", secret=SECRET, events=[CREDENTIALS_LIMITED_PERMISSION]
            )
            for status in ("MISSING_PERMISSION", "MISSING_PERMISSION", "TEMPORARILY_UNAVAILABLE",
                           "OK", "UNAUTHENTICATED"):  # fmt: skip
                fake.set_status("u1", lc.SENTERA, status)
            await fake.alerts.drain()

        assert [CREDENTIALS_UNAUTHENTICATED] == [
            json.loads(body).get("type") for _, body in unauthenticated.seen[1:]
        ]
        assert [("MISSING_PERMISSION", CREDENTIALS_LIMITED_PERMISSION)] == [
            (json.loads(body)["status"], json.loads(body)["type"]) for _, body in limited.seen[1:]
        ]

    async def test_a_failed_delivery_follows_the_retry_schedule(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """Non-2xx answers are retried once per configured delay, then given up."""
        tap = Tap(status=503)
        async with app_on_loopback({"/h": tap.handle}) as app:
            webhook = await leaf.register_webhook(name="n", url=app + "/h", secret=SECRET)
            fake.set_status("u1", lc.SENTERA, "UNAUTHENTICATED")
            await fake.alerts.drain()

        expected = [Delivery(webhook.id, CREDENTIALS_UNAUTHENTICATED, n, 503) for n in (1, 2, 3, 4)]
        assert expected == [d for d in fake.alerts.deliveries if d.event != "confirmation"]
        assert 1 == len({body for _, body in tap.seen[1:]})  # the same alert each time

    async def test_an_unreachable_url_is_retried(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """A receiver that cannot be reached is logged with no status and retried."""
        async with app_on_loopback({}) as app:
            closed_url = app + "/h"
        webhook = await leaf.register_webhook(name="n", url=closed_url, secret=SECRET)
        fake.set_status("u1", lc.SENTERA, "UNAUTHENTICATED")
        await fake.alerts.drain()

        assert [None] * 4 == [
            d.status for d in fake.alerts.deliveries
            if d.webhook_id == webhook.id and d.event == CREDENTIALS_UNAUTHENTICATED
        ]  # fmt: skip

    async def test_deleting_a_webhook_stops_its_retries(
        self, fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """Once a webhook is deleted, a failed delivery to it is not tried again."""
        tap = Tap(status=500)
        async with app_on_loopback({"/h": tap.handle}) as app:
            webhook = await leaf.register_webhook(name="n", url=app + "/h", secret=SECRET)
            await fake.alerts.drain()
            tap.release = asyncio.Event()
            fake.set_status("u1", lc.SENTERA, "UNAUTHENTICATED")
            tap.arrived.clear()
            await tap.arrived.wait()
            await leaf.delete_webhook(webhook.id)
            tap.release.set()
            await fake.alerts.drain()

        assert [1] == [
            d.attempt for d in fake.alerts.deliveries if d.event == CREDENTIALS_UNAUTHENTICATED
        ]

    async def test_any_event_can_be_sent(self, fake: FakeLeaf, leaf: lc.LeafSession) -> None:
        """fake.alerts.send delivers an arbitrary event, which the receiver keeps whole."""
        received: list[Alert] = []

        async def on_alert(alert: Alert) -> None:
            received.append(alert)

        async with app_on_loopback({"/h": aiohttp_handler(SECRET, on_alert)}) as app:
            await leaf.register_webhook(
                name="n", url=app + "/h", secret=SECRET, events=["fieldCreated"]
            )
            assert 1 == fake.alerts.send("fieldCreated", {"fieldId": "f1"})
            assert 0 == fake.alerts.send("fieldBoundaryUpdated", {"fieldId": "f1"})
            await fake.alerts.drain()

        raw = {"fieldId": "f1", "type": "fieldCreated"}
        assert [UnknownAlert(type="fieldCreated", raw=raw)] == received

    async def test_closing_the_fake_cancels_deliveries(self) -> None:
        """Deliveries still waiting on a receiver are cancelled and awaited on close."""
        tap = Tap()
        tap.release = asyncio.Event()
        async with app_on_loopback({"/h": tap.handle}) as app:
            async with FakeLeaf() as fake:
                async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                    await leaf.register_webhook(name="n", url=app + "/h", secret=SECRET)
                await tap.arrived.wait()
            tap.release.set()

            assert "pending=0" in repr(fake.alerts)
            assert [] == fake.alerts.deliveries  # the confirmation never got its answer

    async def test_reset_forgets_webhooks(self, fake: FakeLeaf, leaf: lc.LeafSession) -> None:
        """fake.reset() drops registrations and the deliveries log."""
        await leaf.register_webhook(name="n", url="http://127.0.0.1:9/h", secret=SECRET)

        fake.reset()
        await fake.alerts.drain()

        assert ([], []) == (fake.alerts.webhooks, fake.alerts.deliveries)
