"""The case store: one case per (user, provider), leases, fenced writes, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from leaf_creds.repair import (
    MIGRATIONS,
    SCHEMA_VERSION,
    CaseLink,
    CaseState,
    CaseStore,
    Cause,
    CredentialSeen,
    PostgresStore,
    RepairPolicy,
    Source,
    SQLiteStore,
    StoreError,
    Transition,
    TransitionKind,
    after_check,
)
from tests.postgres_server import fresh_database

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """Return T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CaseStore]:
    """A migrated store: a SQLite file, or a fresh database on the tests' PostgreSQL."""
    made: CaseStore
    if request.param == "sqlite":
        made = SQLiteStore(tmp_path / "cases.db")
    else:
        dsn: str = request.getfixturevalue("postgres_dsn")
        made = PostgresStore(await fresh_database(dsn, f"store_{uuid.uuid4().hex[:12]}"))
    async with made as opened:
        yield opened


async def news(store: CaseStore, user: str = "u1", when: datetime = T0, **kw: object) -> object:
    """Record an UNAUTHENTICATED alert of (user, john-deere)."""
    options: dict[str, object] = {"cause": Cause.UNAUTHENTICATED, "source": Source.ALERT, **kw}
    return await store.record_news(user_id=user, provider="john-deere", now=when, **options)  # type: ignore[arg-type]


LINK = CaseLink(id="link-1", url="https://magic.example/link-1", expires_at=at(86400), max_usage=3)


def note(kind: TransitionKind, case_id: str, when: datetime) -> Transition:
    """A transition of u1's john-deere case."""
    return Transition(kind=kind, case_id=case_id, user_id="u1", provider="john-deere", at=when)


class TestNews:
    async def test_one_case_per_user_and_provider(self, store: CaseStore) -> None:
        """Ten alerts for one credential make one case counting ten alerts."""
        for i in range(10):
            await news(store, when=at(i))
        assert 1 == await store.count()
        case = await store.get("u1", "john-deere")
        assert case is not None
        assert (10, 1, CaseState.OPEN) == (case.alerts, case.episode, case.state)
        assert [TransitionKind.OPENED] == [t.kind for t in await store.transitions(case.id)]

    async def test_concurrent_news_opens_one_case(self, store: CaseStore) -> None:
        """A hundred alerts at once for one credential still make one case."""
        await asyncio.gather(*(news(store, when=at(i)) for i in range(100)))
        case = await store.get("u1", "john-deere")
        assert case is not None
        assert (1, 100) == (await store.count(), case.alerts)

    async def test_other_users_and_providers_get_their_own(self, store: CaseStore) -> None:
        """(user, provider) is the key."""
        await news(store, "u1")
        await news(store, "u2")
        await store.record_news(
            user_id="u1", provider="cnhi", cause=Cause.MISSING_PERMISSION, source=Source.AUDIT,
            now=T0,
        )  # fmt: skip
        assert 3 == await store.count(state=CaseState.OPEN)
        assert ["u1", "u1", "u2"] == sorted([case.user_id async for case in store.cases(batch=2)])


class TestLeases:
    async def test_a_due_case_is_claimed_once(self, store: CaseStore) -> None:
        """Two owners claiming together: the case goes to one."""
        await news(store)
        first, second = await asyncio.gather(
            store.claim(owner="a", now=at(1), lease=60, limit=10),
            store.claim(owner="b", now=at(1), lease=60, limit=10),
        )
        assert 1 == len(first) + len(second)

    async def test_an_expired_lease_is_claimed_again(self, store: CaseStore) -> None:
        """A watcher that died gives its cases back when the lease ends."""
        await news(store)
        assert 1 == len(await store.claim(owner="a", now=at(1), lease=60, limit=10))
        assert [] == await store.claim(owner="b", now=at(30), lease=60, limit=10)
        assert 1 == len(await store.claim(owner="b", now=at(62), lease=60, limit=10))

    async def test_a_case_not_due_is_not_claimed(self, store: CaseStore) -> None:
        """Only cases whose next_action_at has come."""
        await news(store, when=at(100))
        assert [] == await store.claim(owner="a", now=at(99), lease=60, limit=10)

    async def test_save_writes_back_and_ends_the_lease(self, store: CaseStore) -> None:
        """The loop's write lands, with its transitions, and the case can be claimed again."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        checked, kinds = after_check(case, "OK", RepairPolicy(quiet_period=0), at(2))
        saved = await store.save(
            checked, owner="a", transitions=[note(k, case.id, at(2)) for k in kinds]
        )
        assert saved
        stored = await store.get("u1", "john-deere")
        assert stored is not None
        assert (CaseState.RESOLVED, "OK", at(2)) == (
            stored.state, stored.last_status, stored.resolved_at
        )
        [_, _, resolved] = await store.transitions(case.id)
        assert TransitionKind.RESOLVED is resolved.kind
        rows = await store.fetch("SELECT duration FROM repair_transitions WHERE kind = 'resolved'")
        assert [{"duration": 2.0}] == rows

    async def test_news_during_a_lease_refuses_the_stale_write(self, store: CaseStore) -> None:
        """A relapse that comes while the loop holds the case is not overwritten."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        recovering, _ = after_check(case, "OK", RepairPolicy(), at(2))
        assert await store.save(recovering, owner="a")
        [case] = await store.claim(owner="a", now=at(1000), lease=60, limit=10)
        await news(store, when=at(1001))  # broke again: relapse, version bumped
        resolved, _ = after_check(case, "OK", RepairPolicy(), at(1002))
        assert not await store.save(resolved, owner="a")
        stored = await store.get("u1", "john-deere")
        assert stored is not None
        assert (CaseState.OPEN, None) == (stored.state, stored.ok_since)
        assert 1 == len(await store.claim(owner="b", now=at(1003), lease=60, limit=10))

    async def test_a_lost_lease_refuses_the_write(self, store: CaseStore) -> None:
        """An owner whose lease went to another writes nothing."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        await store.claim(owner="b", now=at(100), lease=60, limit=10)
        assert not await store.save(attrs.evolve(case, last_status="OK"), owner="a")


class TestDeliveries:
    async def test_a_delivery_is_begun_once(self, store: CaseStore) -> None:
        """The same step begun twice (two watchers, a restart) is refused the second time."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        assert 0 == await store.begin_delivery(case, owner="a", kind="link", link=LINK, now=at(1))
        again = await store.begin_delivery(case, owner="a", kind="link", link=LINK, now=at(1))
        assert again is None
        stored = await store.get("u1", "john-deere")
        assert stored is not None
        assert (1, LINK) == (stored.sends, stored.link)
        [attempt] = await store.deliveries(case.id)
        assert ("sending", "link", 0) == (attempt.state, attempt.kind, attempt.attempt)
        assert "link-1" not in repr(attempt)

    async def test_a_delivery_needs_the_lease(self, store: CaseStore) -> None:
        """Without the lease (expired, or another's), nothing is begun."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        theirs = await store.begin_delivery(case, owner="b", kind="link", link=LINK, now=at(1))
        late = await store.begin_delivery(case, owner="a", kind="link", link=LINK, now=at(62))
        assert (None, None) == (theirs, late)

    async def test_finish_records_sent_or_failed(self, store: CaseStore) -> None:
        """Sent sets the send times; failed gives the step back and counts the failure."""
        await news(store)
        [case] = await store.claim(owner="a", now=at(1), lease=60, limit=10)
        attempt = await store.begin_delivery(case, owner="a", kind="link", link=LINK, now=at(1))
        assert attempt is not None
        failed = note(TransitionKind.DELIVERY_FAILED, case.id, at(2))
        await store.finish_delivery(case, attempt, now=at(2), error="boom", transition=failed)
        stored = await store.get("u1", "john-deere")
        assert stored is not None
        assert (0, 1, at(2), None) == (
            stored.sends, stored.failed_sends, stored.last_failed_at, stored.first_sent_at
        )
        again = await store.begin_delivery(stored, owner="a", kind="link", link=LINK, now=at(3))
        assert 1 == again
        done = note(TransitionKind.LINK_SENT, case.id, at(4))
        await store.finish_delivery(stored, again, now=at(4), error=None, transition=done)
        stored = await store.get("u1", "john-deere")
        assert stored is not None
        assert (1, at(4), at(4)) == (stored.sends, stored.first_sent_at, stored.last_sent_at)
        assert ["failed", "sent"] == [d.state for d in await store.deliveries(case.id)]


class TestOperators:
    async def test_mute_and_unmute(self, store: CaseStore) -> None:
        """Muting is recorded with a transition; an unknown case gives None."""
        await news(store)
        muted = await store.set_muted("u1", "john-deere", True, now=at(5), reason="asked")
        assert muted is not None
        assert muted[0].muted
        assert {"reason": "asked"}.items() <= muted[1].detail.items()
        unmuted = await store.set_muted("u1", "john-deere", False, now=at(6))
        assert unmuted is not None
        case = unmuted[0]
        assert not case.muted
        assert await store.set_muted("nobody", "john-deere", True, now=at(6)) is None
        kinds = [t.kind for t in await store.transitions(case.id)]
        assert [TransitionKind.OPENED, TransitionKind.MUTED, TransitionKind.UNMUTED] == kinds

    async def test_statuses_are_kept_per_credential(self, store: CaseStore) -> None:
        """record_statuses keeps the last status of each (user, provider)."""
        await store.record_statuses(
            [CredentialSeen(user_id="u1", provider="cnhi", status="OK", credential_id="c")],
            now=T0,
        )
        await store.record_statuses(
            [CredentialSeen(user_id="u1", provider="cnhi", status="UNAUTHENTICATED")], now=at(1)
        )
        assert 0 == await store.record_statuses([], now=at(2))
        rows = await store.fetch("SELECT user_id, status, credential_id FROM repair_credentials")
        assert [{"user_id": "u1", "status": "UNAUTHENTICATED", "credential_id": None}] == rows


class TestMigrations:
    async def test_migrate_is_idempotent(self, store: CaseStore) -> None:
        """Migrating a migrated store changes nothing."""
        assert SCHEMA_VERSION == await store.migrate()
        assert SCHEMA_VERSION == await store.schema_version()

    async def test_an_old_store_is_upgraded(self, tmp_path: Path) -> None:
        """A store at version 1 gets migration 2 and keeps its cases."""
        path = tmp_path / "old.db"
        connection = sqlite3.connect(path)
        connection.execute(
            "CREATE TABLE repair_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at DOUBLE PRECISION NOT NULL)"
        )
        for statement in MIGRATIONS[0].statements:
            connection.execute(statement.replace("{id}", "INTEGER PRIMARY KEY"))
        connection.execute("INSERT INTO repair_schema VALUES (1, 'v1', 0)")
        connection.commit()
        connection.close()
        async with SQLiteStore(path) as store:
            assert SCHEMA_VERSION == await store.schema_version()
            rows = await store.fetch("SELECT version FROM repair_schema ORDER BY version")
            assert [m.version for m in MIGRATIONS] == [row["version"] for row in rows]

    async def test_a_newer_store_is_refused(self, tmp_path: Path) -> None:
        """A store migrated by a newer leaf_creds raises StoreError, untouched."""
        path = tmp_path / "new.db"
        async with SQLiteStore(path) as store:
            await store.fetch("INSERT INTO repair_schema VALUES (99, 'x', 0) RETURNING version")
        with pytest.raises(StoreError, match="newer"):
            async with SQLiteStore(path):
                pass

    async def test_an_unopenable_file_is_a_store_error(self, tmp_path: Path) -> None:
        """A path that cannot be a database raises StoreError."""
        with pytest.raises(StoreError):
            async with SQLiteStore(tmp_path / "missing-dir" / "cases.db"):
                pass

    async def test_a_closed_store_refuses_work(self, tmp_path: Path) -> None:
        """After aclose (idempotent), the store raises StoreError."""
        store = SQLiteStore(tmp_path / "c.db")
        await store.migrate()
        await store.aclose()
        await store.aclose()
        assert "c.db" in repr(store)
        with pytest.raises(StoreError, match="closed"):
            await store.count()
