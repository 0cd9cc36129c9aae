"""The PostgreSQL case store: several watchers sharing one fleet (the ``postgres`` extra).

asyncpg: an asyncio driver of its own (no libpq, no thread), with a
connection pool and the binary protocol; the fastest of Python's drivers,
and the one that fits an aiohttp app. Its errors stop here: they become
:class:`~leaf_creds.repair.StoreError`, chained.

What makes two watchers safe on one database (see :mod:`._store`): news
takes the case's row with ``SELECT ... FOR UPDATE`` and the unique key on
(user, provider) settles two first alerts racing; claims are
``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)``, so watchers
never wait on each other's cases; every write of a claimed case is fenced
by its lease; a delivery is counted and recorded (primary key: case,
episode, attempt) in the transaction before the hook runs; migrations take
a transaction-level advisory lock.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from ._store import CaseStore, StoreError, Tx

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresStore"]

# Any number: two watchers starting at once take turns on it to migrate.
_MIGRATION_LOCK: Final = 7_220_122_022
_COUNT = re.compile(r"(\d+)$")


@functools.lru_cache(maxsize=256)
def numbered(sql: str) -> str:
    """Return ``sql`` with its ``?`` placeholders numbered for PostgreSQL (``$1``, ``$2``...)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${index}{part}" for index, part in enumerate(parts[1:], 1))


def _shown(dsn: str) -> str:
    # The DSN may hold a password: only the host and the database are shown.
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "postgresql://?"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _PostgresTx:
    def __init__(self, connection: asyncpg.pool.PoolConnectionProxy[Any]) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._connection.fetch(numbered(sql), *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._connection.execute(numbered(sql), *args)
        found = _COUNT.search(status)
        return int(found.group(1)) if found else 0

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._connection.executemany(numbered(sql), rows)


class PostgresStore(CaseStore):
    """Repair cases in a PostgreSQL database, for several watchers at once.

    Needs the ``postgres`` extra (``pip install 'leaf-creds[postgres]'``).

    Args:
        dsn: A ``postgresql://user:password@host:port/database`` URL (its
            password is never shown).
        min_size: Connections the pool keeps open.
        max_size: The most connections the pool opens.

    Raises:
        StoreError: asyncpg is not installed (or, on first use, the server
            cannot be reached).
    """

    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    serial = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        try:
            import asyncpg  # noqa: F401 - checked now, used on first use
        except ImportError:
            raise StoreError(
                "the PostgreSQL store needs asyncpg: pip install 'leaf-creds[postgres]'"
            ) from None
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool[Any] | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<PostgresStore {_shown(self._dsn)!r}>"

    async def _get_pool(self) -> asyncpg.Pool[Any]:
        if self._closed:
            raise StoreError("this case store is closed")
        async with self._opening:
            if self._pool is None:
                import asyncpg

                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=self._min_size, max_size=self._max_size
                )
            return self._pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Run one transaction on a connection of the pool."""
        import asyncpg

        try:
            pool = await self._get_pool()
            async with pool.acquire() as connection, connection.transaction():
                yield _PostgresTx(connection)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            # The one place asyncpg's errors are translated.
            raise StoreError(
                f"the case store {_shown(self._dsn)} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _lock_migrations(self, tx: Tx) -> None:
        await tx.fetch("SELECT pg_advisory_xact_lock(?)", _MIGRATION_LOCK)

    async def aclose(self) -> None:
        """Close the pool; idempotent."""
        self._closed = True
        async with self._opening:
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()
