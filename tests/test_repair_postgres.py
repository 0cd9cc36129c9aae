"""The PostgreSQL store: several watchers on one database, migrations once, errors ours."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import leaf_creds as lc
from leaf_creds.repair import (
    SCHEMA_VERSION,
    LinkDelivery,
    PostgresStore,
    RepairPolicy,
    Repairs,
    SQLiteStore,
    StoreError,
    open_store,
)
from leaf_creds.repair._postgres import numbered
from leaf_creds.testing import FakeLeaf
from tests.postgres_server import fresh_database
from tests.repair_helpers import Clock, add_john_deere_app


@pytest.fixture
async def database(postgres_dsn: str) -> str:
    """The DSN of a fresh, empty database."""
    return await fresh_database(postgres_dsn, f"pg_{uuid.uuid4().hex[:12]}")


class TestStore:
    async def test_two_watchers_starting_together_migrate_once(self, database: str) -> None:
        """Concurrent migrations take turns on the advisory lock: each version applied once."""
        stores = [PostgresStore(database) for _ in range(4)]
        try:
            versions = await asyncio.gather(*(store.migrate() for store in stores))
            rows = await stores[0].fetch("SELECT version FROM repair_schema ORDER BY version")
        finally:
            await asyncio.gather(*(store.aclose() for store in stores))
        assert [SCHEMA_VERSION] * 4 == versions
        assert [1, 2] == [row["version"] for row in rows]

    async def test_a_newer_database_is_refused(self, database: str) -> None:
        """A schema version past ours raises StoreError."""
        async with PostgresStore(database) as store:
            await store.fetch("INSERT INTO repair_schema VALUES (99, 'x', 0) RETURNING version")
        with pytest.raises(StoreError, match="newer"):
            async with PostgresStore(database):
                pass

    async def test_errors_are_store_errors_and_the_password_is_never_shown(self) -> None:
        """An unreachable server raises StoreError; neither it nor the repr holds the password."""
        store = PostgresStore("postgresql://leaf:TOPSECRET@127.0.0.1:9/cases")
        assert "postgresql://127.0.0.1:9/cases" in repr(store)
        assert "TOPSECRET" not in repr(store)
        with pytest.raises(StoreError) as raised:
            await store.migrate()
        assert "TOPSECRET" not in str(raised.value)
        await store.aclose()
        with pytest.raises(StoreError, match="closed"):
            await store.count()

    def test_placeholders_are_numbered(self) -> None:
        """? becomes $1, $2... in order."""
        assert "SELECT $1, $2 WHERE a = $3" == numbered("SELECT ?, ? WHERE a = ?")

    def test_open_store_picks_by_url(self, tmp_path: Path) -> None:
        """postgresql:// and postgres:// open PostgreSQL; anything else is a SQLite file."""
        assert isinstance(open_store("postgresql://h/db"), PostgresStore)
        assert isinstance(open_store("postgres://h/db"), PostgresStore)
        # tmp_path is absolute: sqlite:/// and its leading / make SQLAlchemy's sqlite:////.
        for where in (tmp_path / "a.db", f"sqlite:///{tmp_path}/a.db", f"sqlite:{tmp_path}/a.db"):
            store = open_store(where)
            assert isinstance(store, SQLiteStore)
            assert tmp_path / "a.db" == store.path


class SlowHook:
    """A hook that takes a while, and counts what it was handed."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.handed: Counter[str] = Counter()

    async def __call__(self, delivery: LinkDelivery) -> None:
        await asyncio.sleep(self.delay)
        self.handed[delivery.case_id] += 1


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf with John Deere app keys."""
    async with FakeLeaf() as started:
        add_john_deere_app(started)
        yield started


class TestTwoWatchers:
    @pytest.mark.parametrize(("lease", "delay"), [(30.0, 0.0), (0.05, 0.1)])
    async def test_no_link_is_sent_twice(
        self, fake: FakeLeaf, database: str, lease: float, delay: float
    ) -> None:
        """Two watchers on one database hand over each case's link once, even as leases run out."""
        users = [fake.add_user(id=f"u{i}").id for i in range(120)]
        hook = SlowHook(delay)
        clock = Clock()
        policy = RepairPolicy(reminders=(86400,))
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            stores = [PostgresStore(database), PostgresStore(database)]
            watchers = [
                Repairs(leaf, store=store, deliver=hook, clock=clock, policy=policy,
                        owner=f"w{i}", lease=lease, batch=20, concurrency=8)
                for i, store in enumerate(stores)
            ]  # fmt: skip
            try:
                for store in stores:
                    await store.migrate()
                await asyncio.gather(*(watchers[i % 2].open(user, "john-deere")
                                       for i, user in enumerate(users)))  # fmt: skip
                for _ in range(40):
                    await asyncio.gather(*(watcher.run_once() for watcher in watchers))
                    if len(hook.handed) == len(users):
                        break
                deliveries = await stores[0].deliveries()
                count = await stores[0].count()
            finally:
                for store in stores:
                    await store.aclose()
        assert len(users) == count
        assert len(users) == len(hook.handed)
        assert {1} == set(hook.handed.values())
        assert len(users) == len(deliveries)
