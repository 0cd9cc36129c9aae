"""``open_store``: the case store a URL or a path names (what ``--store`` takes)."""

from __future__ import annotations

from os import PathLike
from typing import Final

from ._postgres import PostgresStore
from ._sqlite import SQLiteStore
from ._store import CaseStore

__all__ = ["DEFAULT_STORE", "open_store"]

DEFAULT_STORE: Final = "leaf-creds-cases.db"


def open_store(where: str | PathLike[str] = DEFAULT_STORE) -> CaseStore:
    """Return the store ``where`` names: ``postgresql://...`` (``postgres://``), else SQLite.

    ``sqlite:///relative.db`` and ``sqlite:////absolute.db`` (SQLAlchemy's
    forms) and ``sqlite:path`` name a file too. Nothing is opened until the
    store is first used (``async with``, or :meth:`CaseStore.migrate`).

    Raises:
        StoreError: A PostgreSQL URL without asyncpg installed.
    """
    text = str(where)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresStore(text)
    if text.startswith("sqlite:///"):  # SQLAlchemy's form: sqlite:///relative, sqlite:////absolute
        text = text.removeprefix("sqlite:///")
    elif text.startswith("sqlite:"):
        text = text.removeprefix("sqlite:")
    return SQLiteStore(text)
