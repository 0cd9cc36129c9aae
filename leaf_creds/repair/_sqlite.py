"""The SQLite case store: a file, no server, no set-up; the default.

Python's own :mod:`sqlite3`, no dependency. Its statements run inline on
the event loop: against a local file in WAL mode each takes microseconds,
less than a hop to a worker thread would (which is all aiosqlite adds, at
that cost per statement). What could block, waiting for another process's
write lock, is never waited for inside SQLite (``busy_timeout`` 0): each
write transaction starts with ``BEGIN IMMEDIATE``, taking the file's write
lock at once or failing at once, and is retried after an ``asyncio.sleep``
until ``busy_timeout`` has passed. That lock, held from the transaction's
start, is what makes the store's read-then-write steps safe between
processes too. In WAL mode the report and other readers never wait on it.
``synchronous=NORMAL``: a commit survives the process being killed (even
``kill -9``); only a power loss may take the last ones.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from os import PathLike
from pathlib import Path
from typing import Any

from ._store import CaseStore, StoreError, Tx

__all__ = ["SQLiteStore"]

# The first and the longest pause between two tries for the write lock.
_FIRST_PAUSE = 0.001
_LONGEST_PAUSE = 0.05


def _failed(exc: sqlite3.Error) -> StoreError:
    return StoreError(f"the case store failed: {type(exc).__name__}: {exc}")


class _SQLiteTx:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        try:
            cursor = self._connection.execute(sql, args)
            names = [column[0] for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except sqlite3.Error as exc:
            raise _failed(exc) from exc

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return self._connection.execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise _failed(exc) from exc

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            self._connection.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _failed(exc) from exc


class SQLiteStore(CaseStore):
    """Repair cases in a SQLite file.

    Args:
        path: The file; created when missing (its directory must exist).
        busy_timeout: Seconds to keep trying for another process's write lock.

    Raises:
        StoreError: (on first use) the file cannot be opened.
    """

    def __init__(self, path: str | PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self._path = Path(path)
        self._busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"<SQLiteStore {str(self._path)!r}>"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the case store {str(self._path)!r}: {exc}") from exc
        return connection

    async def _begin(self, connection: sqlite3.Connection) -> None:
        """Take the write lock, retrying without blocking the loop while another process has it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout
        pause = _FIRST_PAUSE
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise _failed(exc) from exc
                if loop.time() >= deadline:
                    raise StoreError(
                        f"the case store {str(self._path)!r} stayed locked by another process "
                        f"for {self._busy_timeout:g}s"
                    ) from exc
            await asyncio.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """Run one transaction, holding the file's write lock from its start."""
        if self._closed:
            raise StoreError("this case store is closed")
        async with self._lock:
            if self._connection is None:
                self._connection = self._connect()
            connection = self._connection
            await self._begin(connection)
            try:
                yield _SQLiteTx(connection)
            except BaseException:
                connection.rollback()
                raise
            try:
                connection.commit()
            except sqlite3.Error as exc:
                connection.rollback()
                raise _failed(exc) from exc

    async def aclose(self) -> None:
        """Close the file; idempotent."""
        self._closed = True
        async with self._lock:
            connection, self._connection = self._connection, None
            if connection is not None:
                connection.close()
