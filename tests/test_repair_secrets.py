"""No secret of a repair (a link, its id, the token, a webhook or hook secret) is ever shown."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import leaf_creds as lc
import leaf_creds.repair as repair
from leaf_creds.repair import (
    CommandDelivery,
    LinkDelivery,
    RepairPolicy,
    Repairs,
    SQLiteStore,
    Transition,
    WebhookDelivery,
    build_report,
    render_html,
    report_json,
)
from leaf_creds.testing import FakeLeaf
from tests.repair_helpers import (
    SECRET,
    Clock,
    add_john_deere_app,
    app_on_loopback,
    connected_grower,
)

HOOK_SECRET = "hook-signing-S3cret-5678"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf with John Deere app keys."""
    async with FakeLeaf(webhook_retry_delays=(0.01,)) as started:
        add_john_deere_app(started)
        yield started


class Leaky:
    """A hook that fails once with the link in its message, then keeps what it is handed."""

    def __init__(self) -> None:
        self.handed: list[LinkDelivery] = []

    async def __call__(self, delivery: LinkDelivery) -> None:
        if not self.handed and not getattr(self, "failed", False):
            self.failed = True
            raise RuntimeError(f"could not mail {delivery.url} (link {delivery.url[-36:]})")
        self.handed.append(delivery)


class TestNothingSecretIsShown:
    async def test_a_whole_repair_leaks_nothing(
        self, fake: FakeLeaf, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Logs, transitions, reprs, the report and its JSON hold no link, id, token or secret."""
        caplog.set_level(logging.DEBUG, logger="leaf_creds")
        clock = Clock()
        hook = Leaky()
        shown: list[str] = []
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            user = await connected_grower(fake, leaf, "u1")
            store = SQLiteStore(tmp_path / "cases.db")
            repairs = Repairs(
                leaf, store=store, deliver=hook, clock=clock,
                policy=RepairPolicy(quiet_period=0, delivery_retry=1),
                on_transition=lambda t: shown.append(json.dumps(t.json()) + repr(t)),
            )  # fmt: skip
            async with store, app_on_loopback({"/a": repairs.aiohttp_handler(SECRET)}) as app:
                await leaf.register_webhook(name="a", url=app + "/a", secret=SECRET)
                fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
                await fake.alerts.drain()
                await repairs.run_once()  # the hook fails, the link in its message
                clock.advance(2)
                await repairs.run_once()  # handed over
                fake.onboarding.connect(hook.handed[0].url, "JohnDeere")
                clock.advance(60)
                await repairs.run_once()  # OK: resolved
                case = await store.get(user, "john-deere")
                assert case is not None
                assert not case.is_open
                report = await build_report(store, now=datetime.now(UTC))
                attempts = await store.deliveries()
                transitions = await store.transitions()
                shown += [
                    repr(case), repr(case.link), repr(store), repr(repairs), repr(hook.handed[0]),
                    repr(attempts), repr(transitions), render_html(report),
                    json.dumps(report_json(report)),
                    repr(WebhookDelivery("https://app.example/hook", HOOK_SECRET)),
                    repr(CommandDelivery(["deliver", HOOK_SECRET])),
                ]  # fmt: skip
        shown += [record.getMessage() for record in caplog.records]
        shown += [str(record.exc_info) for record in caplog.records if record.exc_info]
        link = hook.handed[0]
        secrets = {link.url, link.url.rsplit("/", 1)[-1], fake.token, SECRET, HOOK_SECRET}
        assert all(len(secret) > 8 for secret in secrets)
        leaks = [(secret, text[:200]) for text in shown for secret in secrets if secret in text]
        assert [] == leaks
        failed = [t for t in transitions if t.kind == "delivery-failed"]
        assert "could not mail *** (link ***)" in failed[0].detail["error"]

    def test_a_transition_carries_no_link(self) -> None:
        """A transition's JSON is its facts only."""
        transition = Transition(
            kind=repair.TransitionKind.LINK_SENT, case_id="c", user_id="u", provider="p",
            at=datetime(2025, 1, 1, tzinfo=UTC), detail={"attempt": 0},
        )  # fmt: skip
        assert {"at", "event", "case", "leafUserId", "provider", "episode", "attempt"} == set(
            transition.json()
        )


class TestPublicSurface:
    def test_all_is_sorted_and_complete(self) -> None:
        """leaf_creds.repair's __all__: constants, classes, functions, each sorted; all exist."""

        def kind(name: str) -> int:
            return 0 if name.isupper() else 1 if name[0].isupper() else 2

        assert sorted(repair.__all__, key=lambda n: (kind(n), n)) == repair.__all__
        assert all(hasattr(repair, name) for name in repair.__all__)
        names = [n for n in vars(repair) if n.isidentifier() and not n.startswith("_")]
        public = set(names) - {"annotations"}
        assert set() == public - set(repair.__all__)
