"""The case store: cases, deliveries and transitions in SQL, one schema for two databases.

:class:`CaseStore` holds every query; a subclass gives it a connection and
a dialect: :class:`~leaf_creds.repair.SQLiteStore` (a file, the default,
nothing to set up) and :class:`~leaf_creds.repair.PostgresStore` (several
watchers sharing one fleet). The guarantees, and how each is kept:

- **one case per (user, provider)**: a unique key; news takes the row's lock
  (``SELECT ... FOR UPDATE`` on PostgreSQL, the write lock of ``BEGIN
  IMMEDIATE`` on SQLite) and :func:`~leaf_creds.repair.on_news` decides;
- **one watcher at a time per case**: :meth:`CaseStore.claim` leases due
  cases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so watchers never wait
  on each other), and every later write is fenced by the lease's owner;
- **no delivery twice**: :meth:`CaseStore.begin_delivery` counts the
  delivery on the case and writes its row, keyed (case, episode, attempt),
  in one transaction *before* the hook runs; a watcher killed while the hook
  runs leaves that delivery counted (``sending``, shown as unknown), and the
  next watcher moves on to the next reminder rather than send it again;
- **no news lost**: news bumps the case's ``version`` when it changes what
  is due, and a loop's write of a case read before is refused.

Schema changes are numbered migrations (:data:`MIGRATIONS`), applied in
order by :meth:`CaseStore.migrate`, each in its own transaction with its
row in ``repair_schema``; PostgreSQL takes an advisory lock so that two
watchers starting together migrate once. A store migrated by a newer
leaf_creds is refused rather than misread. Times are stored as seconds
since the epoch (UTC).
"""

from __future__ import annotations

import abc
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, Protocol

import attrs

from leaf_creds import LeafError, masked

from ._cases import Case, CaseLink, CaseState, Cause, Source, Transition, TransitionKind
from ._policy import on_news

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "CaseStore",
    "CredentialSeen",
    "DeliveryAttempt",
    "Migration",
    "StoreError",
]


class StoreError(LeafError):
    """The case store cannot be used: unreachable, or migrated by a newer leaf_creds."""


class Migration(NamedTuple):
    """One numbered change of the schema.

    Attributes:
        version: Its number; applied in increasing order, each once.
        name: What it does.
        statements: Its SQL; ``{id}`` stands for an auto-numbered primary key.
    """

    version: int
    name: str
    statements: tuple[str, ...]


_T = "DOUBLE PRECISION"  # a time: seconds since the epoch
MIGRATIONS: Final = (
    Migration(1, "cases, deliveries, links, transitions, credentials", (
        f"""CREATE TABLE repair_cases (
            id TEXT PRIMARY KEY, user_id TEXT NOT NULL, provider TEXT NOT NULL,
            state TEXT NOT NULL, cause TEXT NOT NULL, source TEXT NOT NULL,
            credential_id TEXT, first_opened_at {_T} NOT NULL, opened_at {_T} NOT NULL,
            updated_at {_T} NOT NULL, alerts INTEGER NOT NULL, last_alert_at {_T},
            episode INTEGER NOT NULL, reopen_count INTEGER NOT NULL, muted INTEGER NOT NULL,
            last_status TEXT, checked_at {_T}, checks INTEGER NOT NULL, ok_since {_T},
            sends INTEGER NOT NULL, failed_sends INTEGER NOT NULL, last_failed_at {_T},
            first_sent_at {_T}, last_sent_at {_T}, link_id TEXT, link_url TEXT,
            link_expires_at {_T}, link_usage_count INTEGER, link_max_usage INTEGER,
            link_created_at {_T}, resolved_at {_T}, resolution TEXT, next_action_at {_T},
            version INTEGER NOT NULL, lease_owner TEXT, lease_until {_T},
            UNIQUE (user_id, provider))""",
        "CREATE INDEX repair_cases_due ON repair_cases (next_action_at) WHERE state = 'open'",
        f"""CREATE TABLE repair_deliveries (
            case_id TEXT NOT NULL, episode INTEGER NOT NULL, attempt INTEGER NOT NULL,
            kind TEXT NOT NULL, link_id TEXT NOT NULL, state TEXT NOT NULL,
            started_at {_T} NOT NULL, finished_at {_T}, error TEXT, owner TEXT NOT NULL,
            PRIMARY KEY (case_id, episode, attempt))""",
        f"""CREATE TABLE repair_links (
            link_id TEXT PRIMARY KEY, case_id TEXT NOT NULL, episode INTEGER NOT NULL,
            expires_at {_T}, created_at {_T} NOT NULL)""",
        f"""CREATE TABLE repair_transitions (
            id {{id}}, case_id TEXT NOT NULL, user_id TEXT NOT NULL, provider TEXT NOT NULL,
            at {_T} NOT NULL, kind TEXT NOT NULL, episode INTEGER NOT NULL,
            duration {_T}, detail TEXT NOT NULL)""",
        "CREATE INDEX repair_transitions_case ON repair_transitions (case_id, id)",
        f"""CREATE TABLE repair_credentials (
            user_id TEXT NOT NULL, provider TEXT NOT NULL, credential_id TEXT,
            status TEXT NOT NULL, seen_at {_T} NOT NULL, PRIMARY KEY (user_id, provider))""",
    )),
    Migration(2, "indexes for the report", (
        "CREATE INDEX repair_transitions_resolved ON repair_transitions (kind, duration)",
        "CREATE INDEX repair_cases_state ON repair_cases (state, opened_at)",
    )),
)  # fmt: skip
SCHEMA_VERSION: Final = MIGRATIONS[-1].version

_CASE_COLUMNS: Final = (
    "id", "user_id", "provider", "state", "cause", "source", "credential_id",
    "first_opened_at", "opened_at", "updated_at", "alerts", "last_alert_at", "episode",
    "reopen_count", "muted", "last_status", "checked_at", "checks", "ok_since", "sends",
    "failed_sends", "last_failed_at", "first_sent_at", "last_sent_at", "link_id", "link_url",
    "link_expires_at", "link_usage_count", "link_max_usage", "link_created_at", "resolved_at",
    "resolution", "next_action_at", "version",
)  # fmt: skip
# What the repair loop writes back (fenced by its lease); news, deliveries and
# muting write their own columns.
_LOOP_COLUMNS: Final = (
    "state", "cause", "last_status", "checked_at", "checks", "ok_since", "resolved_at",
    "resolution", "next_action_at", "updated_at", "link_expires_at", "link_usage_count",
    "link_max_usage",
)  # fmt: skip


@attrs.frozen(kw_only=True)
class DeliveryAttempt:
    """One delivery of a case's link to the hook, as the store keeps it.

    Attributes:
        case_id: The case.
        episode: The case's episode.
        attempt: Its number in the episode, from 0.
        kind: ``link`` (the first) or ``reminder``.
        link_id: The link handed over (``'***'`` in reprs).
        state: ``sending`` (begun, and the hook has not returned: if that
            watcher died, unknown), ``sent`` or ``failed``.
        started_at: When it was begun.
        finished_at: When the hook returned or raised.
        error: Why it failed.
    """

    case_id: str
    episode: int
    attempt: int
    kind: str
    link_id: str = attrs.field(repr=masked)
    state: str
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None


@attrs.frozen(kw_only=True)
class CredentialSeen:
    """A credential's status as an audit or a check read it, for the report.

    Attributes:
        user_id: The Leaf user.
        provider: Our provider slug.
        status: What Leaf answered (``MISSING`` when the user holds none).
        credential_id: Its id, when it exists.
    """

    user_id: str
    provider: str
    status: str
    credential_id: str | None = None


class Tx(Protocol):
    """A transaction of a store's database, with ``?`` placeholders."""

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a query; return its rows."""
        ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; return how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row of arguments."""
        ...


def seconds(moment: datetime | None) -> float | None:
    """Return a time as seconds since the epoch (None stays None)."""
    return None if moment is None else moment.timestamp()


def moment(value: float | None) -> datetime | None:
    """Return seconds since the epoch as an aware UTC datetime (None stays None)."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _at(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def case_row(case: Case) -> tuple[Any, ...]:
    """Return a case as the values of :data:`_CASE_COLUMNS`."""
    link = case.link
    return (
        case.id, case.user_id, case.provider, str(case.state), str(case.cause),
        str(case.source), case.credential_id, seconds(case.first_opened_at),
        seconds(case.opened_at), seconds(case.updated_at), case.alerts,
        seconds(case.last_alert_at), case.episode, case.reopen_count, int(case.muted),
        case.last_status, seconds(case.checked_at), case.checks, seconds(case.ok_since),
        case.sends, case.failed_sends, seconds(case.last_failed_at),
        seconds(case.first_sent_at), seconds(case.last_sent_at),
        None if link is None else link.id, None if link is None else link.url,
        None if link is None else seconds(link.expires_at),
        None if link is None else link.usage_count, None if link is None else link.max_usage,
        None if link is None else seconds(link.created_at), seconds(case.resolved_at),
        case.resolution, seconds(case.next_action_at), case.version,
    )  # fmt: skip


def case_from_row(row: Mapping[str, Any]) -> Case:
    """Return the case of a ``repair_cases`` row."""
    link = None
    if row["link_id"] is not None:
        link = CaseLink(
            id=row["link_id"], url=row["link_url"], expires_at=moment(row["link_expires_at"]),
            usage_count=row["link_usage_count"], max_usage=row["link_max_usage"],
            created_at=moment(row["link_created_at"]),
        )  # fmt: skip
    return Case(
        id=row["id"], user_id=row["user_id"], provider=row["provider"],
        state=CaseState(row["state"]), cause=Cause(row["cause"]), source=Source(row["source"]),
        credential_id=row["credential_id"], first_opened_at=_at(row["first_opened_at"]),
        opened_at=_at(row["opened_at"]), updated_at=_at(row["updated_at"]),
        alerts=row["alerts"], last_alert_at=moment(row["last_alert_at"]),
        episode=row["episode"], reopen_count=row["reopen_count"], muted=bool(row["muted"]),
        last_status=row["last_status"], checked_at=moment(row["checked_at"]),
        checks=row["checks"], ok_since=moment(row["ok_since"]), sends=row["sends"],
        failed_sends=row["failed_sends"], last_failed_at=moment(row["last_failed_at"]),
        first_sent_at=moment(row["first_sent_at"]), last_sent_at=moment(row["last_sent_at"]),
        link=link, resolved_at=moment(row["resolved_at"]), resolution=row["resolution"],
        next_action_at=moment(row["next_action_at"]), version=row["version"],
    )  # fmt: skip


def transition_from_row(row: Mapping[str, Any]) -> Transition:
    """Return the transition of a ``repair_transitions`` row."""
    return Transition(
        kind=TransitionKind(row["kind"]), case_id=row["case_id"], user_id=row["user_id"],
        provider=row["provider"], at=_at(row["at"]), episode=row["episode"],
        detail=json.loads(row["detail"]),
    )  # fmt: skip


_SELECT_CASE: Final = "SELECT * FROM repair_cases"
_INSERT_CASE: Final = (
    f"INSERT INTO repair_cases ({', '.join(_CASE_COLUMNS)}, lease_owner, lease_until) "  # noqa: S608
    f"VALUES ({', '.join('?' * len(_CASE_COLUMNS))}, NULL, NULL)"
)
# The SQL is built from the constants above, never from data: S608 does not apply.
_NEWS_UPDATE: Final = (
    "UPDATE repair_cases SET "  # noqa: S608
    + ", ".join(f"{column} = ?" for column in _CASE_COLUMNS[1:])
    + " WHERE id = ?"
)
_LOOP_UPDATE: Final = (
    "UPDATE repair_cases SET "  # noqa: S608
    + ", ".join(f"{column} = ?" for column in _LOOP_COLUMNS)
    + ", lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ? AND version = ?"
)
_INSERT_TRANSITION: Final = (
    "INSERT INTO repair_transitions (case_id, user_id, provider, at, kind, episode, duration, "
    "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def _transition_row(transition: Transition, duration: float | None) -> tuple[Any, ...]:
    return (
        transition.case_id, transition.user_id, transition.provider, transition.at.timestamp(),
        str(transition.kind), transition.episode, duration,
        json.dumps(dict(transition.detail), sort_keys=True),
    )  # fmt: skip


class CaseStore(abc.ABC):
    """Where repair cases live: the queries, over a subclass's database.

    Use it with ``async with`` (or :meth:`aclose`); :meth:`migrate` runs
    first, on entering. Every method is safe to call from several tasks at
    once, and (with :class:`~leaf_creds.repair.PostgresStore`, or SQLite
    on one machine) from several processes.
    """

    #: ``FOR UPDATE`` where the database takes row locks ('' on SQLite, whose
    #: write transactions lock the whole file).
    for_update: str = ""
    skip_locked: str = ""
    serial: str = "INTEGER PRIMARY KEY"

    @abc.abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """Return a context that runs one write transaction."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the connections; idempotent."""

    async def _lock_migrations(self, tx: Tx) -> None:
        """Keep other processes from migrating at the same time (SQLite's write lock does)."""
        del tx

    async def __aenter__(self) -> CaseStore:
        try:
            await self.migrate()
        except BaseException:
            await self.aclose()  # __aexit__ does not run when entering fails
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the schema ------------------------------------------------------------

    async def migrate(self) -> int:
        """Apply the migrations the store lacks; return the schema version.

        Raises:
            StoreError: The store was migrated by a newer leaf_creds.
        """
        version = 0
        for migration in (None, *MIGRATIONS):
            async with self.transaction() as tx:
                await self._lock_migrations(tx)
                await tx.execute(
                    "CREATE TABLE IF NOT EXISTS repair_schema (version INTEGER PRIMARY KEY, "
                    f"name TEXT NOT NULL, applied_at {_T} NOT NULL)"
                )
                rows = await tx.fetch("SELECT MAX(version) AS version FROM repair_schema")
                version = rows[0]["version"] or 0
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"the case store is at schema version {version}, newer than this "
                        f"leaf_creds knows ({SCHEMA_VERSION}): upgrade leaf_creds"
                    )
                if migration is None or migration.version <= version:
                    continue
                for statement in migration.statements:
                    await tx.execute(statement.replace("{id}", self.serial))
                await tx.execute(
                    "INSERT INTO repair_schema (version, name, applied_at) VALUES (?, ?, ?)",
                    migration.version, migration.name, datetime.now(UTC).timestamp(),
                )  # fmt: skip
                version = migration.version
        return version

    async def schema_version(self) -> int:
        """Return the version the store's schema is at (0 before any migration)."""
        async with self.transaction() as tx:
            await tx.execute(
                "CREATE TABLE IF NOT EXISTS repair_schema (version INTEGER PRIMARY KEY, "
                f"name TEXT NOT NULL, applied_at {_T} NOT NULL)"
            )
            rows = await tx.fetch("SELECT MAX(version) AS version FROM repair_schema")
        version: int = rows[0]["version"] or 0
        return version

    # -- news ------------------------------------------------------------------

    async def record_news(
        self,
        *,
        user_id: str,
        provider: str,
        cause: Cause,
        source: Source,
        now: datetime,
        credential_id: str | None = None,
        observed_at: datetime | None = None,
    ) -> tuple[Case, Transition | None]:
        """Open, update or reopen the case of (user, provider); see :func:`on_news`.

        Returns:
            The case as stored, and its transition (None for an update).
        """
        select = f"{_SELECT_CASE} WHERE user_id = ? AND provider = ?{self.for_update}"
        async with self.transaction() as tx:
            rows = await tx.fetch(select, user_id, provider)
            if not rows:
                fresh, kind = on_news(
                    None, new_id=uuid.uuid4().hex, user_id=user_id, provider=provider,
                    cause=cause, source=source, now=now, credential_id=credential_id,
                    observed_at=observed_at,
                )  # fmt: skip
                inserted = await tx.execute(
                    _INSERT_CASE + " ON CONFLICT (user_id, provider) DO NOTHING",
                    *case_row(fresh),
                )
                if inserted:
                    return fresh, await self._note(tx, fresh, kind)
                # Another watcher opened it between the two statements: update theirs.
                rows = await tx.fetch(select, user_id, provider)
            stored = case_from_row(rows[0])
            case, kind = on_news(
                stored, new_id=stored.id, user_id=user_id, provider=provider, cause=cause,
                source=source, now=now, credential_id=credential_id, observed_at=observed_at,
            )  # fmt: skip
            if case is not stored:
                await tx.execute(_NEWS_UPDATE, *case_row(case)[1:], case.id)
            return case, await self._note(tx, case, kind)

    async def _note(
        self,
        tx: Tx,
        case: Case,
        kind: TransitionKind | None,
        detail: Mapping[str, Any] | None = None,
    ) -> Transition | None:
        if kind is None:
            return None
        facts = {"cause": str(case.cause), "source": str(case.source), **(detail or {})}
        transition = Transition(
            kind=kind, case_id=case.id, user_id=case.user_id, provider=case.provider,
            at=case.updated_at, episode=case.episode, detail=facts,
        )  # fmt: skip
        await self._insert_transitions(tx, case, [transition])
        return transition

    async def _insert_transitions(
        self, tx: Tx, case: Case, transitions: Sequence[Transition]
    ) -> None:
        rows = []
        for transition in transitions:
            duration = None
            if transition.kind is TransitionKind.RESOLVED and case.resolved_at is not None:
                duration = (case.resolved_at - case.opened_at).total_seconds()
            rows.append(_transition_row(transition, duration))
        if rows:
            await tx.executemany(_INSERT_TRANSITION, rows)

    # -- the repair loop ---------------------------------------------------------

    async def claim(self, *, owner: str, now: datetime, lease: float, limit: int) -> list[Case]:
        """Lease up to ``limit`` open cases that are due; return them, soonest due first.

        A case leased by another owner is skipped until its lease ends (a
        watcher that died gives its cases back that way).
        """
        at = now.timestamp()
        sql = (
            "UPDATE repair_cases SET lease_owner = ?, lease_until = ? WHERE id IN ("  # noqa: S608
            "SELECT id FROM repair_cases WHERE state = 'open' AND next_action_at <= ? "
            "AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_action_at "
            f"LIMIT ?{self.skip_locked}) RETURNING *"
        )
        async with self.transaction() as tx:
            rows = await tx.fetch(sql, owner, at + lease, at, at, limit)
        cases = [case_from_row(row) for row in rows]
        cases.sort(key=lambda case: case.next_action_at or case.updated_at)
        return cases

    async def save(self, case: Case, *, owner: str, transitions: Sequence[Transition] = ()) -> bool:
        """Write back what the loop changed in a leased case, and end the lease.

        Returns:
            False when the write was refused: the lease was lost, or news
            came since the case was claimed (its version moved). The lease
            ends either way, and the case is due again at once.
        """
        values: list[Any] = [getattr(case, column) for column in _LOOP_COLUMNS[:-3]]
        link = case.link
        values += [
            None if link is None else seconds(link.expires_at),
            None if link is None else link.usage_count,
            None if link is None else link.max_usage,
        ]
        row = [
            str(value) if isinstance(value, CaseState | Cause) else
            seconds(value) if isinstance(value, datetime) else value
            for value in values
        ]  # fmt: skip
        async with self.transaction() as tx:
            written = await tx.execute(_LOOP_UPDATE, *row, case.id, owner, case.version)
            if written:
                await self._insert_transitions(tx, case, transitions)
                return True
            await tx.execute(
                "UPDATE repair_cases SET lease_owner = NULL, lease_until = NULL, "
                "next_action_at = ? WHERE id = ? AND lease_owner = ?",
                case.updated_at.timestamp(), case.id, owner,
            )  # fmt: skip
        return False

    async def begin_delivery(
        self, case: Case, *, owner: str, kind: str, link: CaseLink, now: datetime
    ) -> int | None:
        """Count a delivery on the case and record it, before the hook runs.

        Fenced by the lease and by the case's delivery counts as claimed: a
        delivery another watcher began since is never begun again.

        Returns:
            The delivery's attempt number, or None when it must not be sent.
        """
        attempt = case.sends + case.failed_sends
        at = now.timestamp()
        async with self.transaction() as tx:
            counted = await tx.execute(
                "UPDATE repair_cases SET sends = sends + 1, checks = 0, link_id = ?, "
                "link_url = ?, link_expires_at = ?, link_usage_count = ?, link_max_usage = ?, "
                "link_created_at = ?, updated_at = ? WHERE id = ? AND lease_owner = ? "
                "AND lease_until >= ? AND state = 'open' AND episode = ? AND sends = ? "
                "AND failed_sends = ?",
                link.id, link.url, seconds(link.expires_at), link.usage_count, link.max_usage,
                seconds(link.created_at), at, case.id, owner, at, case.episode, case.sends,
                case.failed_sends,
            )  # fmt: skip
            if not counted:
                return None
            await tx.execute(
                "INSERT INTO repair_deliveries (case_id, episode, attempt, kind, link_id, state, "
                "started_at, owner) VALUES (?, ?, ?, ?, ?, 'sending', ?, ?)",
                case.id, case.episode, attempt, kind, link.id, at, owner,
            )  # fmt: skip
            await tx.execute(
                "INSERT INTO repair_links (link_id, case_id, episode, expires_at, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (link_id) DO NOTHING",
                link.id, case.id, case.episode, seconds(link.expires_at),
                seconds(link.created_at) or at,
            )  # fmt: skip
        return attempt

    async def finish_delivery(
        self,
        case: Case,
        attempt: int,
        *,
        now: datetime,
        error: str | None,
        transition: Transition,
    ) -> None:
        """Record how a begun delivery ended: handed over, or refused by the hook (``error``)."""
        at = now.timestamp()
        async with self.transaction() as tx:
            await tx.execute(
                "UPDATE repair_deliveries SET state = ?, finished_at = ?, error = ? "
                "WHERE case_id = ? AND episode = ? AND attempt = ?",
                "sent" if error is None else "failed", at, error, case.id, case.episode, attempt,
            )  # fmt: skip
            if error is None:
                await tx.execute(
                    "UPDATE repair_cases SET first_sent_at = COALESCE(first_sent_at, ?), "
                    "last_sent_at = ?, updated_at = ? WHERE id = ? AND episode = ?",
                    at, at, at, case.id, case.episode,
                )  # fmt: skip
            else:
                await tx.execute(
                    "UPDATE repair_cases SET sends = sends - 1, failed_sends = failed_sends + 1, "
                    "last_failed_at = ?, updated_at = ? WHERE id = ? AND episode = ?",
                    at, at, case.id, case.episode,
                )  # fmt: skip
            await self._insert_transitions(tx, case, [transition])

    # -- operators ---------------------------------------------------------------

    async def set_muted(
        self, user_id: str, provider: str, muted: bool, *, now: datetime, reason: str | None = None
    ) -> tuple[Case, Transition] | None:
        """Mute (no more links or reminders) or unmute a case.

        Returns:
            The case and its transition; None when there is no such case.
        """
        async with self.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE repair_cases SET muted = ?, updated_at = ?, next_action_at = "
                "CASE WHEN state = 'open' THEN ? ELSE next_action_at END "
                "WHERE user_id = ? AND provider = ? RETURNING *",
                int(muted), now.timestamp(), now.timestamp(), user_id, provider,
            )  # fmt: skip
            if not rows:
                return None
            case = case_from_row(rows[0])
            kind = TransitionKind.MUTED if muted else TransitionKind.UNMUTED
            noted = await self._note(tx, case, kind, None if reason is None else {"reason": reason})
        assert noted is not None
        return case, noted

    # -- reading -------------------------------------------------------------------

    async def get(self, user_id: str, provider: str) -> Case | None:
        """Return the case of (user, provider), or None."""
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"{_SELECT_CASE} WHERE user_id = ? AND provider = ?", user_id, provider
            )
        return case_from_row(rows[0]) if rows else None

    async def case(self, case_id: str) -> Case | None:
        """Return the case with this id, or None."""
        async with self.transaction() as tx:
            rows = await tx.fetch(f"{_SELECT_CASE} WHERE id = ?", case_id)
        return case_from_row(rows[0]) if rows else None

    async def cases(
        self, *, state: CaseState | None = None, batch: int = 500
    ) -> AsyncIterator[Case]:
        """Yield every case (or those in ``state``), by id, ``batch`` rows at a time."""
        after = ""
        where = "" if state is None else " AND state = ?"
        extra: tuple[Any, ...] = () if state is None else (str(state),)
        while True:
            async with self.transaction() as tx:
                rows = await tx.fetch(
                    f"{_SELECT_CASE} WHERE id > ?{where} ORDER BY id LIMIT ?", after, *extra, batch
                )
            for row in rows:
                yield case_from_row(row)
            if len(rows) < batch:
                return
            after = rows[-1]["id"]

    async def count(self, *, state: CaseState | None = None) -> int:
        """Return how many cases there are (in ``state``)."""
        where, extra = ("", ()) if state is None else (" WHERE state = ?", (str(state),))
        async with self.transaction() as tx:
            rows = await tx.fetch(f"SELECT COUNT(*) AS n FROM repair_cases{where}", *extra)  # noqa: S608
        count: int = rows[0]["n"]
        return count

    async def deliveries(self, case_id: str | None = None) -> list[DeliveryAttempt]:
        """Return the deliveries of a case (every case's when None), in order."""
        where, extra = ("", ()) if case_id is None else (" WHERE case_id = ?", (case_id,))
        async with self.transaction() as tx:
            rows = await tx.fetch(
                f"SELECT * FROM repair_deliveries{where} ORDER BY case_id, episode, attempt",  # noqa: S608
                *extra,
            )
        return [
            DeliveryAttempt(
                case_id=row["case_id"], episode=row["episode"], attempt=row["attempt"],
                kind=row["kind"], link_id=row["link_id"], state=row["state"],
                started_at=_at(row["started_at"]), finished_at=moment(row["finished_at"]),
                error=row["error"],
            )
            for row in rows
        ]

    async def transitions(self, case_id: str | None = None) -> list[Transition]:
        """Return the transitions of a case (every case's when None), oldest first."""
        where, extra = ("", ()) if case_id is None else (" WHERE case_id = ?", (case_id,))
        async with self.transaction() as tx:
            sql = f"SELECT * FROM repair_transitions{where} ORDER BY id"  # noqa: S608
            rows = await tx.fetch(sql, *extra)
        return [transition_from_row(row) for row in rows]

    # -- what audits and checks saw ------------------------------------------------

    async def record_statuses(self, seen: Iterable[CredentialSeen], *, now: datetime) -> int:
        """Keep the statuses an audit or a check read, for the report; return how many."""
        rows = [
            (item.user_id, item.provider, item.credential_id, item.status, now.timestamp())
            for item in seen
        ]
        if rows:
            async with self.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO repair_credentials (user_id, provider, credential_id, status, "
                    "seen_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, provider) DO UPDATE "
                    "SET credential_id = excluded.credential_id, status = excluded.status, "
                    "seen_at = excluded.seen_at",
                    rows,
                )
        return len(rows)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a read-only query of the report; return its rows."""
        async with self.transaction() as tx:
            return await tx.fetch(sql, *args)
