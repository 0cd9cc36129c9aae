"""Repairs when things go wrong: Leaf refusing, links gone, leases lost, callbacks failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

import leaf_creds as lc
from leaf_creds.repair import (
    Case,
    CaseLink,
    CaseStore,
    Cause,
    RepairPolicy,
    Repairs,
    Source,
    SQLiteStore,
    StoreError,
    TransitionKind,
)
from leaf_creds.testing import FakeLeaf
from tests.repair_helpers import Clock, Recorder, add_john_deere_app, connected_grower

POLICY = RepairPolicy(quiet_period=60, reminders=(3600,))
JD = lc.JohnDeereCredentials(
    client_key="jd", client_secret="jd-secret", refresh_token="rt",
    client_environment=lc.ClientEnvironment.PRODUCTION,
)  # fmt: skip


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf with John Deere app keys."""
    async with FakeLeaf() as started:
        add_john_deere_app(started)
        yield started


@pytest.fixture
async def leaf(fake: FakeLeaf) -> AsyncIterator[lc.LeafSession]:
    """A session on the fake, without retries (a fault answers at once)."""
    policy = lc.RetryPolicy(max_retries=0)
    async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=policy) as session:
        yield session


def repairs_on(leaf: lc.LeafSession, store: CaseStore, clock: Clock, hook: Recorder) -> Repairs:
    """Repairs with the test's clock and hook."""
    return Repairs(leaf, store=store, deliver=hook, clock=clock, policy=POLICY)


class TestLeafRefuses:
    async def test_a_link_that_cannot_be_made_is_tried_later(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """Leaf refuses the link's create: nothing delivered, tried delivery_retry later."""
        clock, hook = Clock(), Recorder()
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = repairs_on(leaf, store, clock, hook)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            fake.faults.add(method="POST", path="*/magic-link/*", status=400)
            await repairs.run_once()
            case = await store.get("u1", "john-deere")
            assert case is not None
            assert (0, []) == (case.sends, hook.deliveries)
            assert case.next_action_at == clock.now + timedelta(seconds=POLICY.delivery_retry)
            clock.advance(POLICY.delivery_retry)
            await repairs.run_once()
            assert 1 == len(hook.deliveries)

    async def test_a_status_that_cannot_be_read_backs_off(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """Leaf refuses the status read: the read counts for the backoff, nothing else changes."""
        clock, hook = Clock(), Recorder()
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = repairs_on(leaf, store, clock, hook)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            await repairs.run_once()
            clock.advance(60)
            fake.faults.add(method="GET", path="/users/u1/john-deere-credentials", status=400)
            await repairs.run_once()
            case = await store.get("u1", "john-deere")
            assert case is not None
            assert (1, None) == (case.checks, case.last_status)

    async def test_a_deleted_link_is_replaced_and_usage_errors_ignored(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """A reminder whose link was deleted at Leaf makes a new one; a failed usage read is ok."""
        clock, hook = Clock(), Recorder()
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = repairs_on(leaf, store, clock, hook)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            await repairs.run_once()
            first = hook.deliveries[0]
            link_id = fake.onboarding.magic_link(first.url)["id"]
            await leaf.magic_links.delete("authentication", link_id)
            clock.advance(3600)
            await repairs.run_once()
            second = hook.deliveries[1]
            assert (False, True) == (second.reused, first.url != second.url)
            fake.faults.add(method="GET", path="*/magic-link/authentication/*", status=400)
            clock.advance(60)
            await repairs.run_once()  # OK read; the usage read fails and is skipped
            assert TransitionKind.RECOVERING in [t.kind for t in await store.transitions()]


class LeaseThief(SQLiteStore):
    """A store whose deliveries are always begun by someone else first."""

    async def begin_delivery(
        self, case: Case, *, owner: str, kind: str, link: CaseLink, now: object
    ) -> int | None:
        return None


class TestTheLoop:
    async def test_a_delivery_another_watcher_began_is_not_sent(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """begin_delivery refused (the lease went to another): the hook is not called."""
        clock, hook = Clock(), Recorder()
        async with LeaseThief(tmp_path / "c.db") as store:
            repairs = repairs_on(leaf, store, clock, hook)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            await repairs.run_once()
            assert [] == hook.deliveries

    async def test_a_case_with_nothing_due_waits(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """A case claimed with nothing due (muted just now) is given its next time."""
        clock, hook = Clock(), Recorder()
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = repairs_on(leaf, store, clock, hook)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            await repairs.run_once()
            await repairs.mute("u1", "john-deere")
            await repairs.run_once()
            case = await store.get("u1", "john-deere")
            assert case is not None
            assert clock.now + timedelta(seconds=POLICY.first_check) == case.next_action_at

    async def test_failing_callbacks_and_stores_are_logged_not_fatal(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:  # fmt: skip
        """on_transition raising, the store failing, an audit failing: logged; run() goes on."""

        def explode(_: object) -> None:
            raise RuntimeError("callback bug")

        store = SQLiteStore(tmp_path / "c.db")
        repairs = Repairs(leaf, store=store, deliver=Recorder(), on_transition=explode)
        async with repairs:
            assert store is repairs.store
            assert isinstance(repairs.policy, RepairPolicy)
            await connected_grower(fake, leaf, "u1")
            await repairs.open("u1", "john-deere")
            fake.faults.add(method="GET", path="/users", status=400)
            task = asyncio.create_task(repairs.run(poll=0.01, audit_every=0.05))
            await asyncio.sleep(0.2)
            await store.aclose()  # the loop's reads now fail
            await asyncio.sleep(0.05)
            repairs.stop()
            await asyncio.wait_for(task, 5)
        messages = [record.getMessage() for record in caplog.records]
        assert any("on_transition callback failed" in m for m in messages)
        assert any("periodic audit failed" in m for m in messages)
        assert any("failed to read the store" in m for m in messages)

    async def test_a_receiver_of_our_own(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """repairs.receiver() opens cases through the owners' enrichment."""
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = Repairs(leaf, store=store, deliver=Recorder())
            receiver = repairs.receiver("secret")
            user = await connected_grower(fake, leaf, "u1")
            record = await leaf.get(lc.JOHN_DEERE, user)
            body = (
                b'{"type": "credentialsUnauthenticated", "provider": "JohnDeere", "credentialId": "'
                + record.id.encode()
                + b'", "status": "UNAUTHENTICATED", "timestamp": "2030-01-01T00:00:00Z"}'
            )
            answer = await receiver.handle({lc.SIGNATURE_HEADER: lc.sign(body, "secret")}, body)
            assert 200 == answer.status
            case = await store.get(user, "john-deere")
            assert case is not None
            assert record.id == case.credential_id


class TestAudits:
    async def test_many_statuses_and_failed_reads(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """An audit over more than a batch of statuses writes them all; a failed read counts."""
        for i in range(520):
            fake.add_user(id=f"u{i:03d}")
            fake.add_credential(f"u{i:03d}", lc.JOHN_DEERE, JD)
        fake.faults.add(method="GET", path="/users/u007/john-deere-credentials", status=400)
        async with SQLiteStore(tmp_path / "c.db") as store:
            summary = await Repairs(leaf, store=store, deliver=Recorder()).audit()
            rows = await store.fetch("SELECT COUNT(*) AS n FROM repair_credentials")
        assert (520, 519, 1) == (summary.users, summary.credentials, summary.failed)
        assert [{"n": 519}] == rows

    async def test_an_alert_for_another_provider_name_is_mapped_by_its_owner(
        self, fake: FakeLeaf, leaf: lc.LeafSession, tmp_path: Path
    ) -> None:
        """An alert not enriched (Leaf's provider name) finds its owner by the walk."""
        user = await connected_grower(fake, leaf, "u1")
        record = await leaf.get(lc.JOHN_DEERE, user)
        body = (
            b'{"type": "credentialsLimitedPermission", "provider": "JohnDeere", "credentialId": "'
            + record.id.encode()
            + b'", "status": "MISSING_PERMISSION", "timestamp": "2030-01-01T00:00:00Z"}'
        )
        async with SQLiteStore(tmp_path / "c.db") as store:
            repairs = Repairs(leaf, store=store, deliver=Recorder())
            case = await repairs.on_alert(lc.parse_alert(body))
        assert case is not None
        assert (Cause.MISSING_PERMISSION, Source.ALERT) == (case.cause, case.source)


class TestSQLite:
    async def test_another_process_holding_the_lock_is_waited_for_then_refused(
        self, tmp_path: Path
    ) -> None:
        """The write lock held elsewhere: retried without blocking, then StoreError."""
        import sqlite3

        path = tmp_path / "c.db"
        async with SQLiteStore(path) as store:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            patient = SQLiteStore(path, busy_timeout=0.05)
            with pytest.raises(StoreError, match="stayed locked"):
                await patient.count()
            other.execute("ROLLBACK")
            assert 0 == await patient.count()
            await patient.aclose()
            other.close()
            with pytest.raises(StoreError, match="OperationalError"):
                await store.fetch("SELECT * FROM no_such_table")
            with pytest.raises(StoreError):
                await store.fetch("INSERT INTO repair_schema VALUES (1, 'again', 0)")
            assert logging.getLogger("leaf_creds.repair") is not None
