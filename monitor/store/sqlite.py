"""SQLite: what the store does its own way on a SQLite file (see ``dialect.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import sqlite as sqlite_sql
from sqlalchemy.engine import URL, Engine

from monitor.errors import BadInput
from monitor.store import engine as settings
from monitor.store.core import aware, chunks, table_names
from monitor.store.dialect import Daily, Dialect, Pending
from monitor.store.records import COLUMN_STATUSES, ColumnEvent
from monitor.store.tables import VERSION_TABLE

_MAGIC = b"SQLite format 3\x00"
_DAY_S = 86400.0
_UNIX_EPOCH_JULIAN_DAY = 2440587.5

# The column writes of a round, as plain driver executemany over tuples. SQLAlchemy's per-row
# parameter processing cost ~30 us a column (measured: bench/bench_columns.py), more than the
# SQL itself; the statements and value formats below are those SQLAlchemy emits.
_INSERT_STATE = (
    "INSERT INTO column_state (account_id, column_path, type, target, status, consecutive_failures, "
    "first_failure_at, last_checked_at, last_change_at, reason, http_status, elapsed_ms, healthy_landing) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_EVENT = (
    "INSERT INTO column_events (account_id, column_path, at, old_status, new_status, reason, http_status, run_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Status unchanged in this batch (change_at NULL): keep the time of the last real change.
_UPDATE_STATE = (
    "UPDATE column_state SET type = ?, target = ?, status = ?, consecutive_failures = ?, first_failure_at = ?, "
    "last_checked_at = ?, reason = ?, http_status = ?, elapsed_ms = ?, "
    "healthy_landing = coalesce(?, healthy_landing), last_change_at = coalesce(?, last_change_at) WHERE id = ?"
)
_UPSERT_DAILY = (
    "INSERT INTO column_daily (day, column_id, checks, ok, failing, broken, unverifiable, error, max_elapsed_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, column_id) DO UPDATE SET "
    + ", ".join(f"{c} = column_daily.{c} + excluded.{c}" for c in ("checks", *COLUMN_STATUSES))
    # SQLite's two-argument max() is NULL if either is: the greater of the two non-NULL ones
    + ", max_elapsed_ms = max(coalesce(column_daily.max_elapsed_ms, excluded.max_elapsed_ms), "
    "coalesce(excluded.max_elapsed_ms, column_daily.max_elapsed_ms))"
)


def _in_list(n: int) -> str:
    return ", ".join("?" * n)


class _Instants:
    """Aware datetimes as the store keeps them in SQLite (UTCDateTime: naive UTC text in
    SQLAlchemy's format), converted once per distinct value."""

    def __init__(self) -> None:
        self._text: dict[datetime, str] = {}

    def __call__(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._text.get(value)
        if text is None:
            u = aware("instant", value)
            text = self._text[value] = (f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
                                        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}")
        return text


def _install_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take BEGIN away from the sqlite3 module so that SQLAlchemy's transaction
        # is the database's transaction (and writers can BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={settings.SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with SQLITE_BUSY instead of waiting.
        if connection.get_execution_options().get(settings.WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


class SQLiteDialect:
    name = "sqlite"

    # ---------------------------------------------------------- engine, opening

    def normalise_url(self, url: URL) -> URL:
        return url

    def database_file(self, url: URL) -> Path | None:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        return Path(database)

    def create_engine(self, url: URL) -> Engine:
        # The pool hands a connection to one thread at a time.
        connect_args = {"check_same_thread": False, "timeout": settings.SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = sa.create_engine(url, connect_args=connect_args)
        _install_hooks(engine)
        return engine

    def precheck(self, url: URL) -> None:
        """Refuse a bad path before SQLite creates or converts anything.

        A foreign SQLite file is inspected read-only: opening it through the engine
        would switch it to WAL, which is not ours to do.
        """
        path = self.database_file(url)
        if path is None:
            return
        parent = path.parent
        if not parent.is_dir():
            raise BadInput(f"{path}: store directory {parent} does not exist")
        if path.is_dir():
            raise BadInput(f"{path}: is a directory, not a store file")
        if not path.exists() or path.stat().st_size == 0:
            return
        try:
            with path.open("rb") as fh:
                header = fh.read(len(_MAGIC))
        except OSError as exc:
            raise BadInput(f"{path}: cannot read the store file: {exc.strerror}") from None
        if header != _MAGIC:
            raise BadInput(f"{path}: not a wxmon store (not a SQLite database)")
        try:
            conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
            try:
                names = [r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
                )]
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise BadInput(f"{path}: not a wxmon store (not a SQLite database)") from None
            return  # e.g. a read-only directory for a WAL file: the engine will tell
        if names and VERSION_TABLE not in names:
            raise BadInput(f"{path}: not a wxmon store (it holds tables {table_names(names)} and no {VERSION_TABLE})")

    def lock_for_migration(self, conn: sa.Connection) -> None:
        pass  # the writer's BEGIN IMMEDIATE already excludes every other writer

    def foreign_tables(self, present: set[str], ours: set[str]) -> set[str]:
        return present  # a file is wxmon's or not

    # ------------------------------------------------------------------ values

    def bind_instant(self, value: datetime) -> datetime:
        return value.replace(tzinfo=None)  # no time zones in SQLite: naive UTC

    # -------------------------------------------------------------- statements

    def insert(self, table: sa.Table) -> sqlite_sql.Insert:
        return sqlite_sql.insert(table)

    # ----------------------------------------------------- a round's column writes

    def load_columns(self, conn: sa.Connection, account_ids: Sequence[str]) -> Iterable[Sequence[Any]]:
        # The driver's plain tuples: this runs for every column every round. No lock
        # needed: BEGIN IMMEDIATE already excludes other writers.
        sql = ("SELECT id, account_id, column_path, status FROM column_state "
               f"WHERE account_id IN ({_in_list(len(account_ids))})")
        return conn.exec_driver_sql(sql, tuple(account_ids))

    def write_states(self, conn: sa.Connection, pending: Pending) -> None:
        instant = _Instants()
        new_keys = [k for k, p in pending.items() if p.id is None and p.last is not None]
        fresh = set(new_keys)  # inserted here, so not updated below
        if new_keys:
            rows = []
            for key in new_keys:
                p = pending[key]
                r = p.last
                assert r is not None
                rows.append((r.account_id, r.column_path, r.type, r.target, r.status, r.consecutive_failures,
                             instant(r.first_failure_at), instant(r.checked_at), instant(p.change_at),
                             r.reason, r.http_status, r.elapsed_ms, r.healthy_landing))
            conn.exec_driver_sql(_INSERT_STATE, rows)
            # Read the ids back: executemany returns none.
            for chunk in chunks(sorted({a for a, _ in new_keys})):
                sql = ("SELECT id, account_id, column_path FROM column_state "
                       f"WHERE account_id IN ({_in_list(len(chunk))})")
                for id_, account_id, column_path in conn.exec_driver_sql(sql, tuple(chunk)):
                    key = (account_id, column_path)
                    if key in fresh:
                        pending[key].id = id_
        updates = []
        for key, p in pending.items():
            r = p.last
            if r is None or key in fresh:
                continue
            updates.append((r.type, r.target, r.status, r.consecutive_failures, instant(r.first_failure_at),
                            instant(r.checked_at), r.reason, r.http_status, r.elapsed_ms, r.healthy_landing,
                            instant(p.change_at), p.id))
        if updates:
            conn.exec_driver_sql(_UPDATE_STATE, updates)

    def insert_events(self, conn: sa.Connection, events: Sequence[ColumnEvent]) -> None:
        # Every column is "new" in a first round: this can be every row.
        instant = _Instants()
        conn.exec_driver_sql(_INSERT_EVENT, [
            (e.account_id, e.column_path, instant(e.at), e.old_status, e.new_status, e.reason, e.http_status,
             e.run_id) for e in events])

    def write_daily(self, conn: sa.Connection, pending: Pending, daily: Daily) -> None:
        rows = []
        for (day, key), c in daily.items():
            n = c.counts
            rows.append((day.isoformat(), pending[key].id, c.checks, n["ok"], n["failing"], n["broken"],
                         n["unverifiable"], n["error"], c.max_elapsed_ms))
        rows.sort(key=lambda row: (row[0], row[1]))  # clustered key order
        if rows:
            conn.exec_driver_sql(_UPSERT_DAILY, rows)

    # ---------------------------------------------------------------- analysis

    def epoch_seconds(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
        # Stored as naive UTC text.
        return (sa.func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY) * _DAY_S

    def unindexed(self, column: sa.Column[datetime]) -> sa.ColumnElement[datetime]:
        # Unary + keeps SQLite off the column's own index: scanning a covering
        # (account_id, published_at) index is in window order and 5x faster for a
        # period holding most rows.
        return sa.type_coerce(sa.literal_column(f"+{column.table.name}.{column.name}"), column.type)

    # ------------------------------------------------------------------ health

    def integrity_check(self, conn: sa.Connection) -> str | None:
        rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
        return "\n".join(str(r) for r in rows)

    def file_sizes(self, url: URL) -> tuple[int | None, int | None]:
        path = self.database_file(url)
        if path is None:
            return None, None
        wal = Path(f"{path}-wal")
        return (path.stat().st_size if path.exists() else 0), (wal.stat().st_size if wal.exists() else 0)


DIALECT: Dialect = SQLiteDialect()  # mypy checks it against the protocol
