"""The SQLite case store: a file, no server, no set-up; the default.

Python's own :mod:`sqlite3`, on one thread of our own: every statement of
the store runs there, in order, so the event loop never blocks on the disk
and the connection is only ever used by the thread that made it. No
dependency (aiosqlite would be the same thread with a queue, and one more
package to install). The file is in WAL mode, so the report and a second
process read while a watcher writes; each write transaction starts with
``BEGIN IMMEDIATE``, taking the file's write lock at once, which is what
makes the store's read-then-write steps safe between processes too.
``synchronous=NORMAL``: a commit survives the process being killed (even
``kill -9``); only a power loss may take the last ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from ._store import CaseStore, StoreError, Tx

__all__ = ["SQLiteStore"]

T = TypeVar("T")


class _SQLiteTx:
    def __init__(self, store: SQLiteStore, connection: sqlite3.Connection) -> None:
        self._store = store
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            cursor = self._connection.execute(sql, args)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return await self._store.call(run)

    async def execute(self, sql: str, *args: Any) -> int:
        def run() -> int:
            return self._connection.execute(sql, args).rowcount

        return await self._store.call(run)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._store.call(lambda: self._connection.executemany(sql, rows))


class SQLiteStore(CaseStore):
    """Repair cases in a SQLite file.

    Args:
        path: The file; created with its directory's permissions when missing.
        busy_timeout: Seconds to wait for another process's write lock.

    Raises:
        StoreError: (on first use) the file cannot be opened.
    """

    def __init__(self, path: str | PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self._path = Path(path)
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leaf-creds-sqlite")
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<SQLiteStore {str(self._path)!r}>"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def call(self, work: Callable[[], T]) -> T:
        """Run ``work`` on the store's thread; return what it returns.

        Raises:
            StoreError: SQLite failed (sqlite3's errors are chained to it).
        """
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except sqlite3.Error as exc:
            raise StoreError(f"the case store failed: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self._path, timeout=self._busy_timeout, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the case store {str(self._path)!r}: {exc}") from exc
        return connection

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Run one transaction, holding the file's write lock from its start."""
        if self._closed:
            raise StoreError("this case store is closed")
        async with self._lock:
            if self._connection is None:
                self._connection = await self.call(self._connect)
            connection = self._connection
            await self.call(lambda: connection.execute("BEGIN IMMEDIATE"))
            try:
                yield _SQLiteTx(self, connection)
            except BaseException:
                # Queued, not awaited: it runs before any later statement
                # (one thread, in order), even when we are being cancelled.
                self._executor.submit(connection.rollback)
                raise
            else:
                await self.call(connection.commit)

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                await self.call(connection.close)
        self._executor.shutdown(wait=True)
