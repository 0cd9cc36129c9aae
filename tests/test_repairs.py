"""Repairs on the fake Leaf: alerts open cases, links go out, growers reconnect, cases close."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.repair import (
    CaseState,
    Cause,
    CommandDelivery,
    DeliveryError,
    LinkDelivery,
    RepairPolicy,
    Repairs,
    Source,
    SQLiteStore,
    Transition,
    TransitionKind,
    WebhookDelivery,
)
from leaf_creds.testing import FakeLeaf
from tests.repair_helpers import (
    SECRET,
    Clock,
    Recorder,
    add_john_deere_app,
    app_on_loopback,
    connected_grower,
)

POLICY = RepairPolicy(quiet_period=600, reminders=(3600, 7200))


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf with John Deere app keys and quick webhook retries."""
    async with FakeLeaf(webhook_retry_delays=(0.01,)) as started:
        add_john_deere_app(started)
        yield started


@pytest.fixture
async def leaf(fake: FakeLeaf) -> AsyncIterator[lc.LeafSession]:
    """A session on the fake."""
    async with lc.LeafSession(token=fake.token, base_url=fake.url) as session:
        yield session


class Rig:
    """Repairs over a SQLite store, with a test clock, a recording hook and a transition log."""

    def __init__(self, leaf: lc.LeafSession, path: Path, **options: object) -> None:
        self.clock = Clock()
        self.hook = Recorder()
        self.transitions: list[Transition] = []
        self.store = SQLiteStore(path)
        self.repairs = Repairs(
            leaf, store=self.store, deliver=self.hook, clock=self.clock,
            policy=POLICY, on_transition=self.transitions.append, **options,  # type: ignore[arg-type]
        )  # fmt: skip

    def kinds(self) -> list[TransitionKind]:
        """The transitions so far, by kind."""
        return [transition.kind for transition in self.transitions]


@pytest.fixture
async def rig(leaf: lc.LeafSession, tmp_path: Path) -> AsyncIterator[Rig]:
    """Repairs on the fake, its store migrated."""
    made = Rig(leaf, tmp_path / "cases.db")
    async with made.store:
        yield made


class TestTheWholeRepair:
    async def test_alert_link_reconnect_resolve_reopen(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """An alert through the receiver opens a case; the grower reconnects; it resolves."""
        user = await connected_grower(fake, leaf, "u1")
        handler = rig.repairs.aiohttp_handler(SECRET)
        async with app_on_loopback({"/leaf/alerts": handler}) as app:
            await leaf.register_webhook(name="alerts", url=app + "/leaf/alerts", secret=SECRET)
            fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
            await fake.alerts.drain()
        case = await rig.store.get(user, "john-deere")
        assert case is not None
        assert (Cause.UNAUTHENTICATED, Source.ALERT) == (case.cause, case.source)

        assert 1 == await rig.repairs.run_once()
        [delivery] = rig.hook.deliveries
        assert ("link", 0, user, "john-deere", False) == (
            delivery.kind, delivery.reminder, delivery.leaf_user_id, delivery.provider,
            delivery.reused,
        )
        assert delivery.url in {link["link"] for link in fake.onboarding.magic_links}
        assert "AUTHENTICATION" == fake.onboarding.magic_link(delivery.url)["widget"]

        fake.onboarding.connect(delivery.url, "JohnDeere")
        rig.clock.advance(60)
        assert 1 == await rig.repairs.run_once()
        rig.clock.advance(600)
        assert 1 == await rig.repairs.run_once()
        case = await rig.store.get(user, "john-deere")
        assert case is not None
        assert case.link is not None
        assert (CaseState.RESOLVED, "OK", 1) == (
            case.state, case.last_status, case.link.usage_count
        )
        assert [
            TransitionKind.OPENED, TransitionKind.LINK_SENT, TransitionKind.RECOVERING,
            TransitionKind.RESOLVED,
        ] == rig.kinds()  # fmt: skip

        # It breaks again: the same case reopens, and the link (1 use of 3) is reused.
        rig.clock.advance(60)
        await rig.repairs.open(user, "john-deere", Cause.MISSING_PERMISSION, source=Source.ALERT)
        assert 1 == await rig.repairs.run_once()
        case = await rig.store.get(user, "john-deere")
        assert case is not None
        assert (2, 1, 1) == (case.episode, case.reopen_count, case.sends)
        assert rig.hook.deliveries[1].reused
        assert delivery.url == rig.hook.deliveries[1].url
        assert 1 == await rig.store.count()

    async def test_ten_alerts_make_one_case_and_one_link(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """Opening is idempotent: ten alerts for one credential, one case, one link."""
        user = await connected_grower(fake, leaf, "u1")
        links_before = len(fake.onboarding.magic_links)
        for _ in range(10):
            await rig.repairs.open(user, "john-deere")
        await rig.repairs.run_once()
        await rig.repairs.run_once()
        case = await rig.store.get(user, "john-deere")
        assert case is not None
        assert (10, 1) == (case.alerts, case.sends)
        assert 1 == len(rig.hook.deliveries)
        assert links_before + 1 == len(fake.onboarding.magic_links)

    async def test_reminders_then_a_new_link_when_the_old_is_used_up(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """Reminders resend the link while it has uses; a used-up link is replaced."""
        user = await connected_grower(fake, leaf, "u1")
        fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
        await rig.repairs.open(user, "john-deere")
        await rig.repairs.run_once()
        first = rig.hook.deliveries[0]
        rig.clock.advance(3600)
        await rig.repairs.run_once()  # the first reminder: same link
        assert (first.url, "reminder", 1, True) == (
            rig.hook.deliveries[1].url, rig.hook.deliveries[1].kind,
            rig.hook.deliveries[1].reminder, rig.hook.deliveries[1].reused,
        )  # fmt: skip
        # The grower opens it until it is used up, each time withholding access.
        link = fake.onboarding.magic_link(first.url)
        for _ in range(link["maxUsage"] - link["usageCount"]):
            fake.onboarding.connect(first.url, "JohnDeere", grant_permissions=False)
        rig.clock.advance(3600)
        await rig.repairs.run_once()
        second = rig.hook.deliveries[-1]
        assert ("reminder", 2, False) == (second.kind, second.reminder, second.reused)
        assert first.url != second.url

    async def test_a_failed_delivery_is_tried_again_later(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """The hook raised: delivery-failed (the link masked in its error), then a retry."""
        user = await connected_grower(fake, leaf, "u1")
        rig.hook.failing = 1
        await rig.repairs.open(user, "john-deere")
        await rig.repairs.run_once()
        assert [] == rig.hook.deliveries
        failed = rig.transitions[-1]
        assert TransitionKind.DELIVERY_FAILED is failed.kind
        assert "mail server down (tried ***)" in failed.detail["error"]
        rig.clock.advance(POLICY.delivery_retry)
        await rig.repairs.run_once()
        assert 1 == len(rig.hook.deliveries)
        assert rig.hook.deliveries[0].reused  # the link made for the failed try
        [failed_row, sent_row] = await rig.store.deliveries()
        assert ("failed", "sent") == (failed_row.state, sent_row.state)

    async def test_muted_cases_get_no_link(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """A muted case is checked and resolves, but nothing is delivered."""
        user = await connected_grower(fake, leaf, "u1")
        await rig.repairs.open(user, "john-deere")
        assert await rig.repairs.mute(user, "john-deere", reason="support is on it") is not None
        assert await rig.repairs.mute("nobody", "john-deere") is None
        rig.clock.advance(60)
        await rig.repairs.run_once()
        assert [] == rig.hook.deliveries
        assert TransitionKind.RECOVERING in rig.kinds()
        unmuted = await rig.repairs.unmute(user, "john-deere")
        assert unmuted is not None
        assert not unmuted.muted

    async def test_a_provider_without_magic_links_is_muted(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """Sentera has no Magic Link: the case is muted, saying why, and still checked."""
        fake.add_user(id="u2")
        await rig.repairs.open("u2", "sentera")
        await rig.repairs.run_once()
        muted = [t for t in rig.transitions if t.kind is TransitionKind.MUTED]
        assert ["Leaf offers no Magic Link for sentera"] == [t.detail["reason"] for t in muted]
        rig.clock.advance(60)
        await rig.repairs.run_once()
        case = await rig.store.get("u2", "sentera")
        assert case is not None
        assert "MISSING" == case.last_status


class TestSources:
    async def test_an_audit_opens_cases_for_broken_and_missing(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """The audit reads every credential; broken and expected-but-missing ones open cases."""
        rig = Rig(leaf, tmp_path / "a.db", expect=lambda user: ["john-deere", "cnhi"])
        async with rig.store:
            for user in ("u1", "u2", "u3"):
                await connected_grower(fake, leaf, user)
            fake.set_status("u2", lc.JOHN_DEERE, "MISSING_PERMISSION")
            summary = await rig.repairs.audit()
            assert (3, 3, 4, 4, 0) == (
                summary.users, summary.credentials, summary.broken, summary.opened, summary.failed
            )
            case = await rig.store.get("u2", "john-deere")
            assert case is not None
            assert (Cause.MISSING_PERMISSION, Source.AUDIT) == (case.cause, case.source)
            missing = await rig.store.get("u1", "cnhi")
            assert missing is not None
            assert Cause.MISSING_CREDENTIAL is missing.cause
            again = await rig.repairs.audit()
            assert 0 == again.opened
            rows = await rig.store.fetch(
                "SELECT status, COUNT(*) AS n FROM repair_credentials "
                "GROUP BY status ORDER BY status"
            )
            assert [("MISSING", 3), ("MISSING_PERMISSION", 1), ("OK", 2)] == [
                (row["status"], row["n"]) for row in rows
            ]

    async def test_failed_calls_open_cases_checked_first(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """An alert Leaf failed to deliver opens a case whose status is read before any link."""
        user = await connected_grower(fake, leaf, "u1")
        await leaf.register_webhook(name="down", url="http://127.0.0.1:9/leaf", secret=SECRET)
        fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
        await fake.alerts.drain()
        assert 1 <= await rig.repairs.replay_failed_calls()
        assert 0 == await rig.repairs.replay_failed_calls()  # since the last one: none new
        case = await rig.store.get(user, "john-deere")
        assert case is not None
        assert Source.FAILED_CALL is case.source
        await rig.repairs.run_once()  # the check
        assert [] == rig.hook.deliveries
        await rig.repairs.run_once()  # broken indeed: the link
        assert 1 == len(rig.hook.deliveries)

    async def test_an_alert_of_a_credential_no_one_holds_opens_nothing(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """A credential alert no user owns (deleted since) is dropped; other alerts too."""
        body = json.dumps({
            "type": "credentialsUnauthenticated", "provider": "JohnDeere",
            "credentialId": "gone", "status": "UNAUTHENTICATED",
            "timestamp": "2025-01-01T00:00:00Z", "credential": "x", "message": "m",
        }).encode()  # fmt: skip
        assert await rig.repairs.on_alert(lc.parse_alert(body)) is None
        assert await rig.repairs.on_alert(lc.parse_alert(b'{"type": "fieldCreated"}')) is None
        assert 0 == await rig.store.count()


class TestTheLoop:
    async def test_run_wakes_on_news_and_stops(
        self, fake: FakeLeaf, leaf: lc.LeafSession, rig: Rig
    ) -> None:
        """run() delivers as soon as news comes, and returns after stop()."""
        user = await connected_grower(fake, leaf, "u1")
        running = rig.repairs.run(poll=30, audit_every=3600, failed_calls_every=3600)
        task = asyncio.create_task(running)
        await asyncio.sleep(0.05)
        await rig.repairs.open(user, "john-deere")
        for _ in range(100):
            if rig.hook.deliveries:
                break
            await asyncio.sleep(0.01)
        rig.repairs.stop()
        await asyncio.wait_for(task, 5)
        assert 1 == len(rig.hook.deliveries)

    def test_options_are_checked(self, leaf: lc.LeafSession, tmp_path: Path) -> None:
        """Bad options raise ValidationError."""
        store = SQLiteStore(tmp_path / "x.db")
        with pytest.raises(lc.ValidationError, match="store"):
            Repairs(leaf, store=object(), deliver=Recorder())  # type: ignore[arg-type]
        with pytest.raises(lc.ValidationError, match="deliver"):
            Repairs(leaf, store=store, deliver=object())  # type: ignore[arg-type]
        with pytest.raises(lc.ValidationError, match="batch"):
            Repairs(leaf, store=store, deliver=Recorder(), batch=0)
        with pytest.raises(lc.ValidationError, match="lease"):
            Repairs(leaf, store=store, deliver=Recorder(), lease=0)
        repairs = Repairs(leaf, store=store, deliver=Recorder(), owner="w1")
        assert "w1" == repairs.owner
        assert "w1" in repr(repairs)


def delivery() -> LinkDelivery:
    """A delivery with a recognisable link."""
    return LinkDelivery(
        id="c:1:0", case_id="c", kind="link", reminder=0, leaf_user_id="u1",
        provider="john-deere", provider_name="John Deere", cause=Cause.UNAUTHENTICATED,
        url="https://magic.example/SECRET-LINK",
    )  # fmt: skip


class TestHooks:
    def test_a_delivery_never_shows_its_link(self) -> None:
        """The repr masks the URL; the JSON carries it (the hook needs it)."""
        assert "SECRET-LINK" not in repr(delivery())
        assert "https://magic.example/SECRET-LINK" == delivery().json()["url"]

    async def test_a_command_gets_the_json_on_stdin(self, tmp_path: Path) -> None:
        """CommandDelivery runs the command with the delivery's JSON; non-zero fails."""
        out = tmp_path / "got.json"
        script = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"
        await CommandDelivery([sys.executable, "-c", script])(delivery())
        assert "c:1:0" == json.loads(out.read_text())["id"]
        with pytest.raises(DeliveryError, match="exited 3"):
            await CommandDelivery(f"{sys.executable} -c 'raise SystemExit(3)'")(delivery())
        with pytest.raises(DeliveryError, match="cannot run"):
            await CommandDelivery(["/nonexistent/deliver"])(delivery())
        slow = CommandDelivery([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)
        with pytest.raises(DeliveryError, match="killed"):
            await slow(delivery())
        with pytest.raises(lc.ValidationError):
            CommandDelivery("")
        assert "SECRET" not in repr(CommandDelivery(["deliver", "--token", "SECRET"]))

    async def test_a_url_gets_a_signed_post(self) -> None:
        """WebhookDelivery signs the body as Leaf does; a non-2xx fails."""
        got: list[tuple[bytes, str]] = []
        status = 204

        async def receive(request: web.Request) -> web.Response:
            got.append((await request.read(), request.headers["X-Leaf-Creds-Signature"]))
            return web.Response(status=status)

        async with app_on_loopback({"/deliver": receive}) as app:
            hook = WebhookDelivery(app + "/deliver?token=QUERY-SECRET", "hook-secret")
            await hook(delivery())
            status = 500
            with pytest.raises(DeliveryError, match="answered 500"):
                await hook(delivery())
            await hook.aclose()
            await hook.aclose()
            assert "QUERY-SECRET" not in repr(hook)
        body, signature = got[0]
        assert lc.verify_signature(body, "hook-secret", signature)
        unreachable = WebhookDelivery("http://127.0.0.1:9/x", "s")
        with pytest.raises(DeliveryError, match="reached"):
            await unreachable(delivery())
        await unreachable.aclose()
        with pytest.raises(lc.ValidationError):
            WebhookDelivery("ftp://x", "s")
        with pytest.raises(lc.ValidationError):
            WebhookDelivery("http://x", "")
