"""The Store: every read and write of wxmon's database goes through here.

Conventions: datetimes in and out are aware UTC (a naive one is refused);
``*_between(start, end)`` on instants is half-open ``[start, end)``; on days
(``date``, Asia/Shanghai calendar days) it is inclusive. Every write runs in one
transaction; :meth:`Store.transaction` groups several calls into one.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Engine

from monitor import clock
from monitor.errors import BadInput, WxmonError
from monitor.store import migrate
from monitor.store.engine import WRITE_OPTION, display_url, make_engine, parse_url, sqlite_path
from monitor.store.records import (
    COLUMN_STATUSES,
    CONTENT_SOURCES,
    INQUIRY_STATES,
    OPEN_INQUIRY_STATES,
    REPLY_KINDS,
    REPORT_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
    Account,
    ApplyOutcome,
    ColumnDaily,
    ColumnEvent,
    ColumnResult,
    ColumnState,
    ColumnTotals,
    ContentItem,
    FollowerDay,
    Inquiry,
    InquiryReply,
    PrivacyFinding,
    ProbeRun,
    ReportSent,
    StoreHealth,
    check_choice,
)
from monitor.store.tables import (
    ALL_TABLES,
    VERSION_TABLE,
    accounts,
    column_daily,
    column_events,
    column_state,
    content_items,
    follower_conversations,
    inquiries,
    inquiry_replies,
    metadata,
    privacy_findings,
    probe_runs,
    reports_sent,
)

T = TypeVar("T")

# Keeps IN lists and multi-row statements under every backend's parameter limit.
_CHUNK = 500
_PG_BULK = 20_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
# A masked number never shows this many digits in a row (separators ignored).
_FULL_NUMBER = re.compile(r"\d{11,}")


class StoreUnavailable(WxmonError):
    """The database could not be reached or used (a runtime failure, exit 1)."""


class NotFound(LookupError):
    """A record that the caller named by id does not exist."""


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _aware(what: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value.isoformat()}; pass an aware (UTC) datetime")
    return value.astimezone(clock.UTC)


def _shanghai_day(value: datetime) -> date:
    return clock.to_local(value).date()


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _check_masked(finding: PrivacyFinding) -> None:
    compact = re.sub(r"[\s\-]", "", finding.masked)
    if _FULL_NUMBER.search(compact):
        raise ValueError(
            f"privacy finding in {finding.source!r} at {finding.start}: the masked text still shows a full "
            "number; mask it before it reaches the store"
        )


@dataclass(slots=True)
class _Pending:
    """One column's state while a batch of results is folded into it."""

    id: int | None
    status: str | None
    change_at: datetime | None = None
    last: ColumnResult | None = None


@dataclass(slots=True)
class _DayCounts:
    checks: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMN_STATUSES, 0))
    max_elapsed_ms: int | None = None


class Store:
    """wxmon's database. Open with :meth:`Store.open`; close with :meth:`close`."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._url = url
        self._pg = engine.dialect.name == "postgresql"
        self._local = threading.local()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, url: str | Path, *, migrate_schema: bool = True) -> Store:
        """Open (creating or upgrading to head) the store at ``url``.

        ``url`` is a SQLAlchemy URL (``sqlite:////abs/path.db``,
        ``postgresql+psycopg://user@host/db``) or a bare path to a SQLite file.
        Raises :class:`BadInput` for a missing directory, a file that is not a
        wxmon store, or a schema newer than this code; :class:`StoreUnavailable`
        when the database cannot be reached.
        """
        parsed = parse_url(url)
        path = sqlite_path(parsed)
        where = str(path) if path is not None else display_url(parsed)
        if path is not None:
            _precheck_sqlite_file(path)
        engine = make_engine(parsed)
        try:
            with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
                migrate.lock_for_migration(conn)
                _check_and_upgrade(conn, where, migrate_schema)
        except BadInput:
            engine.dispose()
            raise
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            message = _first_line(exc)
            if "file is not a database" in message:
                raise BadInput(f"{where}: not a wxmon store (not a SQLite database)") from None
            raise StoreUnavailable(f"{where}: cannot open the store: {message}") from None
        return cls(engine, parsed)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """For read-only analysis (pandas.read_sql). Writes go through the methods."""
        return self._engine

    @property
    def url(self) -> str:
        """The store URL with any password hidden (safe to print)."""
        return display_url(self._url)

    def url_for_child_process(self) -> str:
        """The full store URL, password included: only to hand to a child process. Never print it."""
        return self._url.render_as_string(hide_password=False)

    @property
    def backend(self) -> str:
        return self._engine.dialect.name

    # ------------------------------------------------------------- transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several store calls (this thread) into one transaction.

        Everything inside commits together or not at all; nested uses join the
        outer transaction.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._writer.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:  # read your own writes inside transaction()
            yield conn
            return
        with self._engine.connect() as conn:
            yield conn

    def _insert(self, table: sa.Table) -> Any:
        return (pg_dialect.insert if self._pg else sqlite_dialect.insert)(table)

    def _greatest(self, a: Any, b: Any) -> Any:
        if self._pg:
            return sa.func.greatest(a, b)  # ignores NULLs
        # SQLite's two-argument max() returns NULL if either is NULL.
        return sa.func.max(sa.func.coalesce(a, b), sa.func.coalesce(b, a))

    # ------------------------------------------------------------------ accounts

    def upsert_accounts(self, items: Iterable[Account]) -> int:
        """Insert or update accounts (from the configuration). Returns how many."""
        now = clock.now()
        rows = [
            {"id": a.id, "name": a.name, "unit": a.unit, "category": a.category, "updated_at": now} for a in items
        ]
        if not rows:
            return 0
        stmt = self._insert(accounts)
        stmt = stmt.on_conflict_do_update(
            index_elements=[accounts.c.id],
            set_={c: stmt.excluded[c] for c in ("name", "unit", "category", "updated_at")},
        )
        with self._write() as conn:
            for chunk in _chunks(rows):
                conn.execute(stmt, list(chunk))
        return len(rows)

    def list_accounts(self) -> list[Account]:
        with self._read() as conn:
            rows = conn.execute(sa.select(accounts).order_by(accounts.c.id)).mappings().all()
        return [Account(**row) for row in rows]

    # ---------------------------------------------------------------- probe runs

    def start_run(
        self, kind: str, *, accounts_total: int = 0, started_at: datetime | None = None
    ) -> ProbeRun:
        check_choice("run kind", kind, RUN_KINDS)
        started = _aware("started_at", started_at) if started_at else clock.now()
        with self._write() as conn:
            result = conn.execute(
                sa.insert(probe_runs).values(
                    kind=kind, started_at=started, status="running", accounts_total=accounts_total
                )
            )
            run_id = int(result.inserted_primary_key[0])
            return self._get_run(conn, run_id)

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        accounts_error: int = 0,
        accounts_total: int | None = None,
        detail: dict[str, Any] | None = None,
        finished_at: datetime | None = None,
    ) -> ProbeRun:
        check_choice("run status", status, RUN_STATUSES[1:])
        values: dict[str, Any] = {
            "status": status,
            "accounts_error": accounts_error,
            "finished_at": _aware("finished_at", finished_at) if finished_at else clock.now(),
        }
        if accounts_total is not None:
            values["accounts_total"] = accounts_total
        if detail is not None:
            values["detail"] = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
        with self._write() as conn:
            result = conn.execute(sa.update(probe_runs).where(probe_runs.c.id == run_id).values(**values))
            if result.rowcount == 0:
                raise NotFound(f"probe run {run_id} does not exist")
            return self._get_run(conn, run_id)

    def get_run(self, run_id: int) -> ProbeRun:
        with self._read() as conn:
            return self._get_run(conn, run_id)

    def last_runs(self, kind: str | None = None, limit: int = 20) -> list[ProbeRun]:
        """Most recent runs first."""
        query = sa.select(probe_runs).order_by(probe_runs.c.started_at.desc(), probe_runs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(probe_runs.c.kind == check_choice("run kind", kind, RUN_KINDS))
        with self._read() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def _get_run(self, conn: sa.Connection, run_id: int) -> ProbeRun:
        row = conn.execute(sa.select(probe_runs).where(probe_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"probe run {run_id} does not exist")
        return _run(row)

    # ------------------------------------------------------------------- columns

    def apply_column_results(self, results: Iterable[ColumnResult], *, run_id: int | None = None) -> ApplyOutcome:
        """Fold a batch of checks into ``column_state``, ``column_events`` (only
        on a status change) and ``column_daily``, in one transaction.

        Results are applied in the order given (several for one column are fine).
        Returns the status changes (``old_status`` None: a column seen first).
        """
        batch = list(results)
        if not batch:
            return ApplyOutcome(0, [])
        days: dict[datetime, date] = {}  # a round's results share one checked_at: convert it once
        for r in batch:
            if r.status not in COLUMN_STATUSES:
                check_choice(f"status of {r.account_id}/{r.column_path}", r.status, COLUMN_STATUSES)
            if r.checked_at not in days:
                days[r.checked_at] = _shanghai_day(_aware("checked_at", r.checked_at))

        with self._write() as conn:
            pending = self._load_pending(conn, batch)
            events: list[ColumnEvent] = []
            daily: dict[tuple[date, tuple[str, str]], _DayCounts] = {}
            for r in batch:
                key = (r.account_id, r.column_path)
                p = pending[key]
                if p.status != r.status:
                    events.append(
                        ColumnEvent(
                            account_id=r.account_id,
                            column_path=r.column_path,
                            at=r.checked_at,
                            old_status=p.status,
                            new_status=r.status,
                            reason=r.reason,
                            http_status=r.http_status,
                            run_id=run_id,
                        )
                    )
                    p.status = r.status
                    p.change_at = r.checked_at
                p.last = r
                counts = daily.get((days[r.checked_at], key))
                if counts is None:
                    counts = daily[(days[r.checked_at], key)] = _DayCounts()
                counts.checks += 1
                counts.counts[r.status] += 1
                if r.elapsed_ms is not None:
                    ms = int(round(r.elapsed_ms))
                    counts.max_elapsed_ms = ms if counts.max_elapsed_ms is None else max(counts.max_elapsed_ms, ms)

            self._write_states(conn, pending)
            if events:
                self._insert_events(conn, events)
            self._write_daily(conn, pending, daily)
        return ApplyOutcome(len(batch), events)

    def _insert_events(self, conn: sa.Connection, events: list[ColumnEvent]) -> None:
        if not self._pg:  # every column is "new" in a first round: this can be every row
            instant = _SqliteInstants()
            conn.exec_driver_sql(_SQLITE_INSERT_EVENT, [
                (e.account_id, e.column_path, instant(e.at), e.old_status, e.new_status, e.reason,
                 e.http_status, e.run_id) for e in events])
            return
        self._bulk_insert(conn, column_events, [
            {"account_id": e.account_id, "column_path": e.column_path, "at": e.at, "old_status": e.old_status,
             "new_status": e.new_status, "reason": e.reason, "http_status": e.http_status, "run_id": e.run_id}
            for e in events])

    def _load_pending(self, conn: sa.Connection, batch: list[ColumnResult]) -> dict[tuple[str, str], _Pending]:
        keys = {(r.account_id, r.column_path) for r in batch}
        pending: dict[tuple[str, str], _Pending] = {}
        account_ids = sorted({a for a, _ in keys})
        for chunk in _chunks(account_ids):
            if not self._pg:  # the driver's plain tuples: this runs for every column every round
                sql = (f"SELECT id, account_id, column_path, status FROM column_state "
                       f"WHERE account_id IN ({', '.join('?' * len(chunk))})")
                for id_, account_id, column_path, status in conn.exec_driver_sql(sql, tuple(chunk)):
                    key = (account_id, column_path)
                    if key in keys:
                        pending[key] = _Pending(id=id_, status=status)
                continue
            query = sa.select(column_state.c.id, column_state.c.account_id, column_state.c.column_path,
                              column_state.c.status).where(column_state.c.account_id.in_(chunk))
            if self._pg:
                # Lock in one global order (account, path) so two writers cannot deadlock.
                # SQLite needs nothing: BEGIN IMMEDIATE already excludes other writers.
                query = query.order_by(column_state.c.account_id, column_state.c.column_path).with_for_update()
            for row in conn.execute(query):
                key = (row.account_id, row.column_path)
                if key in keys:
                    pending[key] = _Pending(id=row.id, status=row.status)
        for key in keys:
            pending.setdefault(key, _Pending(id=None, status=None))
        return pending

    def _write_states(self, conn: sa.Connection, pending: dict[tuple[str, str], _Pending]) -> None:
        if not self._pg:
            return self._write_states_sqlite(conn, pending)
        new_keys = {k for k, p in pending.items() if p.id is None}
        if new_keys:
            rows = []
            for key in new_keys:
                r = pending[key].last
                assert r is not None
                rows.append({**_state_values(r), "account_id": r.account_id, "column_path": r.column_path,
                             "last_change_at": pending[key].change_at})
            # Insert, then read the ids back: RETURNING in parameter order
            # degrades to one statement per row on some drivers.
            self._bulk_insert(conn, column_state, rows)
            for chunk in _chunks(sorted({a for a, _ in new_keys})):
                query = sa.select(column_state.c.id, column_state.c.account_id, column_state.c.column_path).where(
                    column_state.c.account_id.in_(chunk)
                )
                for row in conn.execute(query):
                    key = (row.account_id, row.column_path)
                    if key in new_keys:
                        pending[key].id = row.id

        updates = []
        for key, p in pending.items():
            if key in new_keys or p.last is None:
                continue
            updates.append({"id": p.id, **_state_values(p.last), "change_at": p.change_at})
        if not updates:
            return
        cs = column_state.c
        if self._pg:
            columns = [
                ("id", cs.id.type),
                *((k, cs[k].type) for k in _STATE_FIELDS),
                ("change_at", cs.last_change_at.type),
            ]
            for chunk in _chunks(updates, _PG_BULK):
                v = _unnest(columns, chunk)
                values = {k: v.c[k] for k in _STATE_FIELDS}
                values["last_change_at"] = sa.func.coalesce(v.c.change_at, cs.last_change_at)
                conn.execute(sa.update(column_state).where(cs.id == v.c.id).values(values))
            return
        stmt = (
            sa.update(column_state)
            .where(cs.id == sa.bindparam("p_id"))
            .values(
                {k: sa.bindparam(f"p_{k}") for k in _STATE_FIELDS}
                | {
                    # Status unchanged in this batch: keep the time of the last real change.
                    "last_change_at": sa.func.coalesce(
                        sa.bindparam("p_change_at", type_=cs.last_change_at.type), cs.last_change_at
                    )
                }
            )
        )
        conn.execute(stmt, [{f"p_{k}": v for k, v in row.items()} for row in updates])

    def _write_daily(
        self,
        conn: sa.Connection,
        pending: dict[tuple[str, str], _Pending],
        daily: dict[tuple[date, tuple[str, str]], _DayCounts],
    ) -> None:
        if not self._pg:
            return self._write_daily_sqlite(conn, pending, daily)
        rows = [
            {
                "day": day,
                "column_id": pending[key].id,
                "checks": c.checks,
                **c.counts,
                "max_elapsed_ms": c.max_elapsed_ms,
            }
            for (day, key), c in daily.items()
        ]
        rows.sort(key=lambda row: (row["day"], row["column_id"]))  # clustered key order

        def on_conflict(stmt: Any) -> Any:
            return stmt.on_conflict_do_update(
                index_elements=[column_daily.c.day, column_daily.c.column_id],
                set_={
                    **{c: column_daily.c[c] + stmt.excluded[c] for c in ("checks", *COLUMN_STATUSES)},
                    "max_elapsed_ms": self._greatest(column_daily.c.max_elapsed_ms, stmt.excluded.max_elapsed_ms),
                },
            )

        self._bulk_insert(conn, column_daily, rows, conflict=on_conflict)

    # SQLite: the same writes as plain driver executemany over tuples. SQLAlchemy's per-row
    # parameter processing cost ~30 us a column (measured: bench/bench_columns.py), more than
    # the SQL itself; the statements and value formats below are those SQLAlchemy emits.

    def _write_states_sqlite(self, conn: sa.Connection, pending: dict[tuple[str, str], _Pending]) -> None:
        instant = _SqliteInstants()
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
                             r.reason, r.http_status, r.elapsed_ms))
            conn.exec_driver_sql(_SQLITE_INSERT_STATE, rows)
            # Read the ids back: executemany returns none.
            for chunk in _chunks(sorted({a for a, _ in new_keys})):
                sql = (f"SELECT id, account_id, column_path FROM column_state "
                       f"WHERE account_id IN ({', '.join('?' * len(chunk))})")
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
                            instant(r.checked_at), r.reason, r.http_status, r.elapsed_ms,
                            instant(p.change_at), p.id))
        if updates:
            conn.exec_driver_sql(_SQLITE_UPDATE_STATE, updates)

    def _write_daily_sqlite(
        self,
        conn: sa.Connection,
        pending: dict[tuple[str, str], _Pending],
        daily: dict[tuple[date, tuple[str, str]], _DayCounts],
    ) -> None:
        rows = []
        for (day, key), c in daily.items():
            n = c.counts
            rows.append((day.isoformat(), pending[key].id, c.checks, n["ok"], n["failing"], n["broken"],
                         n["unverifiable"], n["error"], c.max_elapsed_ms))
        rows.sort(key=lambda row: (row[0], row[1]))  # clustered key order
        if rows:
            conn.exec_driver_sql(_SQLITE_UPSERT_DAILY, rows)

    def _bulk_insert(
        self,
        conn: sa.Connection,
        table: sa.Table,
        rows: list[dict[str, Any]],
        *,
        conflict: Callable[[Any], Any] | None = None,
    ) -> None:
        """Insert many rows: executemany on SQLite (the driver loops in C);
        one ``INSERT ... SELECT FROM unnest(arrays)`` per chunk on PostgreSQL
        (a statement per row costs a round trip each, even pipelined)."""
        if not rows:
            return
        names = list(rows[0])
        if self._pg:
            for chunk in _chunks(rows, _PG_BULK):
                v = _unnest([(n, table.c[n].type) for n in names], chunk)
                stmt = pg_dialect.insert(table).from_select(names, sa.select(*(v.c[n] for n in names)))
                conn.execute(conflict(stmt) if conflict else stmt)
            return
        stmt = sqlite_dialect.insert(table)
        conn.execute(conflict(stmt) if conflict else stmt, rows)

    def get_column_states(self, account_id: str | None = None) -> list[ColumnState]:
        query = sa.select(column_state).order_by(column_state.c.account_id, column_state.c.column_path)
        if account_id is not None:
            query = query.where(column_state.c.account_id == account_id)
        with self._read() as conn:
            return [ColumnState(**row) for row in conn.execute(query).mappings()]

    def column_events_between(
        self, start: datetime, end: datetime, *, account_id: str | None = None
    ) -> list[ColumnEvent]:
        query = (
            sa.select(column_events)
            .where(column_events.c.at >= start, column_events.c.at < end)
            .order_by(column_events.c.at, column_events.c.id)
        )
        if account_id is not None:
            query = query.where(column_events.c.account_id == account_id)
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        return [ColumnEvent(**{k: v for k, v in row.items() if k != "id"}) for row in rows]

    def column_daily_between(
        self, first_day: date, last_day: date, *, account_id: str | None = None
    ) -> list[ColumnDaily]:
        """Per column and day (inclusive range of Shanghai days)."""
        query = (
            sa.select(
                column_daily.c.day,
                column_state.c.account_id,
                column_state.c.column_path,
                *(column_daily.c[c] for c in ("checks", *COLUMN_STATUSES, "max_elapsed_ms")),
            )
            .join(column_state, column_state.c.id == column_daily.c.column_id)
            .where(column_daily.c.day >= first_day, column_daily.c.day <= last_day)
            .order_by(column_daily.c.day, column_state.c.account_id, column_state.c.column_path)
        )
        if account_id is not None:
            query = query.where(column_state.c.account_id == account_id)
        with self._read() as conn:
            return [ColumnDaily(**row) for row in conn.execute(query).mappings()]

    def column_totals_between(
        self, first_day: date, last_day: date, *, account_id: str | None = None
    ) -> list[ColumnTotals]:
        """``column_daily`` summed per column over an inclusive range of days
        (what period metrics need: one row per column, not per check)."""
        d = column_daily.c
        inner = (
            sa.select(
                d.column_id,
                sa.func.count().label("days"),
                *(sa.func.sum(d[c]).label(c) for c in ("checks", *COLUMN_STATUSES)),
                sa.func.sum(sa.case((d.broken > 0, 1), else_=0)).label("broken_days"),
                sa.func.max(d.max_elapsed_ms).label("max_elapsed_ms"),
            )
            .where(d.day >= first_day, d.day <= last_day)
            .group_by(d.column_id)
            .subquery()
        )
        query = (
            sa.select(
                column_state.c.account_id,
                column_state.c.column_path,
                *(inner.c[c] for c in ("days", "checks", *COLUMN_STATUSES, "broken_days", "max_elapsed_ms")),
            )
            .join(inner, inner.c.column_id == column_state.c.id)
            .order_by(column_state.c.account_id, column_state.c.column_path)
        )
        if account_id is not None:
            query = query.where(column_state.c.account_id == account_id)
        with self._read() as conn:
            return [
                ColumnTotals(**{k: (int(v) if v is not None and k not in ("account_id", "column_path") else v)
                                for k, v in row.items()})
                for row in conn.execute(query).mappings()
            ]

    # ----------------------------------------------------------------- inquiries

    def create_inquiry(
        self,
        account_id: str,
        window_key: str,
        *,
        channel: str,
        question: str,
        tester: str | None = None,
        deadline_at: datetime | None = None,
        state: str = "scheduled",
        created_at: datetime | None = None,
    ) -> tuple[Inquiry, bool]:
        """Create the inquiry of ``(account_id, window_key)`` unless it exists.

        Returns ``(inquiry, created)``; when the window already has one, that one
        is returned unchanged (``created`` False) and nothing is written.
        """
        check_choice("inquiry state", state, INQUIRY_STATES)
        now = _aware("created_at", created_at) if created_at else clock.now()
        stmt = (
            self._insert(inquiries)
            .values(
                account_id=account_id,
                window_key=window_key,
                channel=channel,
                tester=tester,
                question=question,
                state=state,
                created_at=now,
                deadline_at=deadline_at,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[inquiries.c.account_id, inquiries.c.window_key])
            .returning(inquiries.c.id)
        )
        with self._write() as conn:
            # RETURNING, not rowcount: drivers disagree on rowcount after DO NOTHING.
            created = conn.execute(stmt).first() is not None
            row = conn.execute(
                sa.select(inquiries).where(inquiries.c.account_id == account_id, inquiries.c.window_key == window_key)
            ).mappings().one()
        return Inquiry(**row), created

    def update_inquiry(
        self,
        inquiry_id: int,
        *,
        state: str | _Unset = UNSET,
        tester: str | None | _Unset = UNSET,
        question: str | _Unset = UNSET,
        sent_at: datetime | None | _Unset = UNSET,
        deadline_at: datetime | None | _Unset = UNSET,
        auto_reply_at: datetime | None | _Unset = UNSET,
        first_reply_at: datetime | None | _Unset = UNSET,
        human_reply_at: datetime | None | _Unset = UNSET,
        latency_minutes: float | None | _Unset = UNSET,
        channel_ref: str | None | _Unset = UNSET,
        error: str | None | _Unset = UNSET,
    ) -> Inquiry:
        """Set the given fields (others untouched); ``updated_at`` becomes now."""
        given = {
            "state": state,
            "tester": tester,
            "question": question,
            "sent_at": sent_at,
            "deadline_at": deadline_at,
            "auto_reply_at": auto_reply_at,
            "first_reply_at": first_reply_at,
            "human_reply_at": human_reply_at,
            "latency_minutes": latency_minutes,
            "channel_ref": channel_ref,
            "error": error,
        }
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not UNSET}
        if "state" in values:
            check_choice("inquiry state", values["state"], INQUIRY_STATES)
        values["updated_at"] = clock.now()
        with self._write() as conn:
            if conn.execute(sa.update(inquiries).where(inquiries.c.id == inquiry_id).values(**values)).rowcount == 0:
                raise NotFound(f"inquiry {inquiry_id} does not exist")
            return self._get_inquiry(conn, inquiry_id)

    def claim_inquiry(self, inquiry_id: int, *, expected_ref: str | None, claim_ref: str) -> Inquiry | None:
        """Set ``channel_ref`` to ``claim_ref`` only if the inquiry is still ``scheduled`` with
        ``expected_ref``: one conditional UPDATE, so of two processes racing exactly one wins, on
        SQLite and on PostgreSQL alike. Returns the claimed inquiry, or None if the race was lost."""
        ref = inquiries.c.channel_ref
        same_ref = ref.is_(None) if expected_ref is None else ref == expected_ref
        with self._write() as conn:
            claimed = conn.execute(
                sa.update(inquiries)
                .where(inquiries.c.id == inquiry_id, inquiries.c.state == "scheduled", same_ref)
                .values(channel_ref=claim_ref, updated_at=clock.now())
            ).rowcount
            return self._get_inquiry(conn, inquiry_id) if claimed else None

    def get_inquiry(self, inquiry_id: int) -> Inquiry:
        with self._read() as conn:
            return self._get_inquiry(conn, inquiry_id)

    def find_inquiry(self, account_id: str, window_key: str) -> Inquiry | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(inquiries).where(inquiries.c.account_id == account_id, inquiries.c.window_key == window_key)
            ).mappings().first()
        return Inquiry(**row) if row else None

    def open_inquiries(
        self, *, states: Sequence[str] = OPEN_INQUIRY_STATES, account_id: str | None = None
    ) -> list[Inquiry]:
        """Inquiries still waiting (by default: scheduled or sent), oldest first."""
        for s in states:
            check_choice("inquiry state", s, INQUIRY_STATES)
        query = sa.select(inquiries).where(inquiries.c.state.in_(list(states))).order_by(inquiries.c.id)
        if account_id is not None:
            query = query.where(inquiries.c.account_id == account_id)
        with self._read() as conn:
            return [Inquiry(**row) for row in conn.execute(query).mappings()]

    def inquiries_between(self, start: datetime, end: datetime, *, account_id: str | None = None) -> list[Inquiry]:
        """Inquiries sent in ``[start, end)`` (not yet sent: by creation time)."""
        when = sa.func.coalesce(inquiries.c.sent_at, inquiries.c.created_at)
        query = (
            sa.select(inquiries)
            .where(when >= start, when < end)
            .order_by(when, inquiries.c.id)
        )
        if account_id is not None:
            query = query.where(inquiries.c.account_id == account_id)
        with self._read() as conn:
            return [Inquiry(**row) for row in conn.execute(query).mappings()]

    def add_inquiry_reply(self, inquiry_id: int, at: datetime, kind: str, text: str) -> tuple[InquiryReply, bool]:
        """Record a reply the tester received; a reply seen again is a no-op.

        Keeps the inquiry's ``auto_reply_at``, ``human_reply_at`` and
        ``first_reply_at`` at the earliest reply of each kind. The state and
        the latency (working-day rules) are the inquiry probe's to set.
        """
        check_choice("reply kind", kind, REPLY_KINDS)
        at = _aware("at", at)
        digest = _digest(text)
        stmt = (
            self._insert(inquiry_replies)
            .values(inquiry_id=inquiry_id, at=at, kind=kind, text=text, text_digest=digest)
            .on_conflict_do_nothing(
                index_elements=[inquiry_replies.c.inquiry_id, inquiry_replies.c.at, inquiry_replies.c.kind,
                                inquiry_replies.c.text_digest]
            )
            .returning(inquiry_replies.c.id)
        )
        with self._write() as conn:
            inquiry = self._get_inquiry(conn, inquiry_id)
            created = conn.execute(stmt).first() is not None
            row = conn.execute(
                sa.select(inquiry_replies).where(
                    inquiry_replies.c.inquiry_id == inquiry_id,
                    inquiry_replies.c.at == at,
                    inquiry_replies.c.kind == kind,
                    inquiry_replies.c.text_digest == digest,
                )
            ).mappings().one()
            if created:
                values: dict[str, Any] = {}
                kind_field = "auto_reply_at" if kind == "auto" else "human_reply_at"
                for name in (kind_field, "first_reply_at"):
                    current = getattr(inquiry, name)
                    if current is None or at < current:
                        values[name] = at
                if values:
                    values["updated_at"] = clock.now()
                    conn.execute(sa.update(inquiries).where(inquiries.c.id == inquiry_id).values(**values))
        return _reply(row), created

    def inquiry_replies(self, inquiry_id: int) -> list[InquiryReply]:
        query = (
            sa.select(inquiry_replies)
            .where(inquiry_replies.c.inquiry_id == inquiry_id)
            .order_by(inquiry_replies.c.at, inquiry_replies.c.id)
        )
        with self._read() as conn:
            return [_reply(row) for row in conn.execute(query).mappings()]

    def _get_inquiry(self, conn: sa.Connection, inquiry_id: int) -> Inquiry:
        row = conn.execute(sa.select(inquiries).where(inquiries.c.id == inquiry_id)).mappings().first()
        if row is None:
            raise NotFound(f"inquiry {inquiry_id} does not exist")
        return Inquiry(**row)

    # ------------------------------------------------------------------- content

    def upsert_content_items(self, items: Iterable[ContentItem]) -> list[ContentItem]:
        """Insert new items, refresh title/url/published_at of known ones.

        Returns the items seen for the first time (``first_seen_at`` set).
        """
        now = clock.now()
        by_key: dict[tuple[str, str, str], ContentItem] = {}
        for item in items:
            check_choice("content source", item.source, CONTENT_SOURCES)
            by_key[(item.account_id, item.source, item.item_id)] = item  # last one wins
        if not by_key:
            return []
        keys = list(by_key)
        c = content_items.c
        with self._write() as conn:
            existing: set[tuple[str, str, str]] = set()
            # Per (account, source), so the unique index answers: SQLite scanned the whole
            # index for a row-value IN list (measured: minutes at 760,000 items).
            groups: dict[tuple[str, str], list[str]] = {}
            for account_id, source, item_id in keys:
                groups.setdefault((account_id, source), []).append(item_id)
            for (account_id, source), item_ids in groups.items():
                for chunk in _chunks(item_ids, 500):
                    rows = conn.execute(
                        sa.select(c.item_id).where(c.account_id == account_id, c.source == source,
                                                   c.item_id.in_(list(chunk)))
                    )
                    existing.update((account_id, source, r.item_id) for r in rows)
            new = [
                ContentItem(
                    account_id=i.account_id,
                    source=i.source,
                    item_id=i.item_id,
                    title=i.title,
                    url=i.url,
                    published_at=i.published_at,
                    first_seen_at=i.first_seen_at or now,
                )
                for k, i in by_key.items()
                if k not in existing
            ]
            if new:
                conn.execute(
                    self._insert(content_items).on_conflict_do_nothing(
                        index_elements=[c.account_id, c.source, c.item_id]
                    ),
                    [_content_row(i) for i in new],
                )
            updates = [
                {"p_account_id": k[0], "p_source": k[1], "p_item_id": k[2], "p_title": i.title, "p_url": i.url,
                 "p_published_at": i.published_at}
                for k, i in by_key.items()
                if k in existing
            ]
            if updates:
                conn.execute(
                    sa.update(content_items)
                    .where(
                        c.account_id == sa.bindparam("p_account_id"),
                        c.source == sa.bindparam("p_source"),
                        c.item_id == sa.bindparam("p_item_id"),
                    )
                    .values(
                        title=sa.bindparam("p_title"),
                        url=sa.bindparam("p_url"),
                        published_at=sa.bindparam("p_published_at"),
                    ),
                    updates,
                )
        return new

    def latest_content(self, account_id: str, *, before: datetime | None = None) -> ContentItem | None:
        """The account's most recently published item (strictly before ``before``)."""
        query = (
            sa.select(content_items)
            .where(content_items.c.account_id == account_id, content_items.c.published_at.is_not(None))
            .order_by(content_items.c.published_at.desc(), content_items.c.id.desc())
            .limit(1)
        )
        if before is not None:
            query = query.where(content_items.c.published_at < before)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return _content(row) if row else None

    def last_published(self, *, before: datetime | None = None) -> dict[str, datetime]:
        """Latest publication time per account (one query for all accounts)."""
        query = sa.select(content_items.c.account_id, sa.func.max(content_items.c.published_at).label("last")).where(
            content_items.c.published_at.is_not(None)
        )
        if before is not None:
            query = query.where(content_items.c.published_at < before)
        query = query.group_by(content_items.c.account_id)
        with self._read() as conn:
            return {row.account_id: row.last for row in conn.execute(query)}

    def content_between(
        self, start: datetime, end: datetime, *, account_id: str | None = None
    ) -> list[ContentItem]:
        """Items published in ``[start, end)``, in publication order."""
        query = (
            sa.select(content_items)
            .where(content_items.c.published_at >= start, content_items.c.published_at < end)
            .order_by(content_items.c.published_at, content_items.c.id)
        )
        if account_id is not None:
            query = query.where(content_items.c.account_id == account_id)
        with self._read() as conn:
            return [_content(row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------------- privacy

    def add_privacy_findings(self, findings: Iterable[PrivacyFinding]) -> list[PrivacyFinding]:
        """Record findings (masked text only); one already known is a no-op.

        Returns the new ones. Refuses a ``masked`` that still shows a full number.
        """
        now = clock.now()
        batch = list(findings)
        for f in batch:
            _check_masked(f)
        new: list[PrivacyFinding] = []
        p = privacy_findings.c
        stmt = (
            self._insert(privacy_findings)
            .on_conflict_do_nothing(index_elements=[p.account_id, p.source, p.type, p.start_offset])
            .returning(p.id)
        )
        with self._write() as conn:
            for f in batch:  # findings are few; per-row rowcount says which are new
                found_at = _aware("found_at", f.found_at) if f.found_at else now
                row = {"account_id": f.account_id, "source": f.source, "type": f.type, "start_offset": f.start,
                       "end_offset": f.end, "masked": f.masked, "found_at": found_at}
                if conn.execute(stmt, row).first() is not None:
                    new.append(PrivacyFinding(f.account_id, f.source, f.type, f.start, f.end, f.masked, found_at))
        return new

    def privacy_findings_between(
        self, start: datetime, end: datetime, *, account_id: str | None = None
    ) -> list[PrivacyFinding]:
        """Findings first found in ``[start, end)``."""
        p = privacy_findings.c
        query = sa.select(privacy_findings).where(p.found_at >= start, p.found_at < end).order_by(p.found_at, p.id)
        if account_id is not None:
            query = query.where(p.account_id == account_id)
        with self._read() as conn:
            return [
                PrivacyFinding(r["account_id"], r["source"], r["type"], r["start_offset"], r["end_offset"],
                               r["masked"], r["found_at"])
                for r in conn.execute(query).mappings()
            ]

    # ----------------------------------------------------------------- followers

    def upsert_follower_day(
        self,
        account_id: str,
        day: date,
        *,
        messages: int,
        answered: int,
        median_reply_minutes: float | None = None,
        p90_reply_minutes: float | None = None,
    ) -> FollowerDay:
        """Set (replace) one account's follower-conversation rollup for a Shanghai day."""
        self.upsert_follower_days(
            [FollowerDay(account_id, day, messages, answered, median_reply_minutes, p90_reply_minutes)]
        )
        with self._read() as conn:
            row = conn.execute(
                sa.select(follower_conversations).where(
                    follower_conversations.c.account_id == account_id, follower_conversations.c.day == day
                )
            ).mappings().one()
        return FollowerDay(**row)

    def upsert_follower_days(self, days: Iterable[FollowerDay]) -> int:
        now = clock.now()
        rows = [
            {"account_id": d.account_id, "day": d.day, "messages": d.messages, "answered": d.answered,
             "median_reply_minutes": d.median_reply_minutes, "p90_reply_minutes": d.p90_reply_minutes,
             "updated_at": now}
            for d in days
        ]
        if not rows:
            return 0
        stmt = self._insert(follower_conversations)
        stmt = stmt.on_conflict_do_update(
            index_elements=[follower_conversations.c.account_id, follower_conversations.c.day],
            set_={c: stmt.excluded[c] for c in
                  ("messages", "answered", "median_reply_minutes", "p90_reply_minutes", "updated_at")},
        )
        with self._write() as conn:
            conn.execute(stmt, rows)
        return len(rows)

    def follower_days_between(
        self, first_day: date, last_day: date, *, account_id: str | None = None
    ) -> list[FollowerDay]:
        f = follower_conversations.c
        query = sa.select(follower_conversations).where(f.day >= first_day, f.day <= last_day).order_by(
            f.account_id, f.day
        )
        if account_id is not None:
            query = query.where(f.account_id == account_id)
        with self._read() as conn:
            return [FollowerDay(**row) for row in conn.execute(query).mappings()]

    # ------------------------------------------------------------------- reports

    def record_report_sent(
        self,
        kind: str,
        period_key: str,
        recipient: str,
        *,
        status: str = "sent",
        error: str | None = None,
        sent_at: datetime | None = None,
    ) -> ReportSent:
        """Record the outcome of sending one report to one recipient.

        A failure never overwrites an earlier success (a report sent stays sent).
        """
        check_choice("report status", status, REPORT_STATUSES)
        now = clock.now()
        if status == "sent" and sent_at is None:
            sent_at = now
        stmt = self._insert(reports_sent).values(
            kind=kind, period_key=period_key, recipient=recipient, sent_at=sent_at, status=status, error=error,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[reports_sent.c.kind, reports_sent.c.period_key, reports_sent.c.recipient],
            set_={c: stmt.excluded[c] for c in ("sent_at", "status", "error", "updated_at")},
            where=reports_sent.c.status != "sent",
        )
        with self._write() as conn:
            conn.execute(stmt)
            row = conn.execute(_report_query(kind, period_key, recipient)).mappings().one()
        return _report(row)

    def report_already_sent(self, kind: str, period_key: str, recipient: str) -> bool:
        with self._read() as conn:
            row = conn.execute(_report_query(kind, period_key, recipient)).mappings().first()
        return row is not None and row["status"] == "sent"

    def reports(self, *, kind: str | None = None, period_key: str | None = None) -> list[ReportSent]:
        r = reports_sent.c
        query = sa.select(reports_sent).order_by(r.kind, r.period_key, r.recipient)
        if kind is not None:
            query = query.where(r.kind == kind)
        if period_key is not None:
            query = query.where(r.period_key == period_key)
        with self._read() as conn:
            return [_report(row) for row in conn.execute(query).mappings()]

    # -------------------------------------------------------------------- health

    def health(self, *, integrity: bool = True) -> StoreHealth:
        """Schema version, row counts and (SQLite) integrity check and file sizes."""
        with self._read() as conn:
            version = migrate.current_revision(conn)
            counts = {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in ALL_TABLES
            }
            check: str | None = None
            if self.backend == "sqlite" and integrity:
                rows = conn.exec_driver_sql("PRAGMA integrity_check").scalars().all()
                check = "\n".join(str(r) for r in rows)
        path = sqlite_path(self._url)
        file_bytes = wal_bytes = None
        if path is not None:
            file_bytes = path.stat().st_size if path.exists() else 0
            wal = Path(f"{path}-wal")
            wal_bytes = wal.stat().st_size if wal.exists() else 0
        return StoreHealth(
            backend=self.backend,
            url=self.url,
            schema_version=version,
            head_version=migrate.head_revision(),
            row_counts=counts,
            integrity=check,
            file_bytes=file_bytes,
            wal_bytes=wal_bytes,
        )


# ---------------------------------------------------------------------- helpers

_STATE_FIELDS = (
    "type",
    "target",
    "status",
    "consecutive_failures",
    "first_failure_at",
    "last_checked_at",
    "reason",
    "http_status",
    "elapsed_ms",
)


_SQLITE_INSERT_STATE = (
    "INSERT INTO column_state (account_id, column_path, type, target, status, consecutive_failures, "
    "first_failure_at, last_checked_at, last_change_at, reason, http_status, elapsed_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_INSERT_EVENT = (
    "INSERT INTO column_events (account_id, column_path, at, old_status, new_status, reason, http_status, run_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# Status unchanged in this batch (change_at NULL): keep the time of the last real change.
_SQLITE_UPDATE_STATE = (
    "UPDATE column_state SET type = ?, target = ?, status = ?, consecutive_failures = ?, first_failure_at = ?, "
    "last_checked_at = ?, reason = ?, http_status = ?, elapsed_ms = ?, "
    "last_change_at = coalesce(?, last_change_at) WHERE id = ?"
)
_SQLITE_UPSERT_DAILY = (
    "INSERT INTO column_daily (day, column_id, checks, ok, failing, broken, unverifiable, error, max_elapsed_ms) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (day, column_id) DO UPDATE SET "
    + ", ".join(f"{c} = column_daily.{c} + excluded.{c}" for c in ("checks", *COLUMN_STATUSES))
    # SQLite's two-argument max() is NULL if either is: as Store._greatest
    + ", max_elapsed_ms = max(coalesce(column_daily.max_elapsed_ms, excluded.max_elapsed_ms), "
    "coalesce(excluded.max_elapsed_ms, column_daily.max_elapsed_ms))"
)


class _SqliteInstants:
    """Aware datetimes as the store keeps them in SQLite (UTCDateTime: naive UTC text in
    SQLAlchemy's format), converted once per distinct value."""

    def __init__(self) -> None:
        self._text: dict[datetime, str] = {}

    def __call__(self, value: datetime | None) -> str | None:
        if value is None:
            return None
        text = self._text.get(value)
        if text is None:
            u = _aware("instant", value)
            text = self._text[value] = (f"{u.year:04d}-{u.month:02d}-{u.day:02d} "
                                        f"{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}")
        return text


def _unnest(columns: Sequence[tuple[str, Any]], rows: Sequence[dict[str, Any]]) -> Any:
    """``unnest(:a::T1[], :b::T2[], ...) AS v(a, b, ...)``: rows as one set of arrays."""
    arrays = []
    for name, type_ in columns:
        values = [row[name] for row in rows]
        if isinstance(type_, sa.Float):  # psycopg refuses a list mixing int and float
            values = [None if v is None else float(v) for v in values]
        elif isinstance(type_, sa.Integer):
            values = [None if v is None else int(v) for v in values]
        arrays.append(sa.bindparam(f"a_{name}", values, type_=pg_dialect.ARRAY(type_)))
    return sa.func.unnest(*arrays).table_valued(*(name for name, _ in columns)).render_derived(name="v")


def _state_values(r: ColumnResult) -> dict[str, Any]:
    return {
        "type": r.type,
        "target": r.target,
        "status": r.status,
        "consecutive_failures": r.consecutive_failures,
        "first_failure_at": r.first_failure_at,
        "last_checked_at": r.checked_at,
        "reason": r.reason,
        "http_status": r.http_status,
        "elapsed_ms": r.elapsed_ms,
    }


def _run(row: Any) -> ProbeRun:
    values = dict(row)
    values["detail"] = json.loads(values["detail"]) if values["detail"] else None
    return ProbeRun(**values)


def _reply(row: Any) -> InquiryReply:
    return InquiryReply(id=row["id"], inquiry_id=row["inquiry_id"], at=row["at"], kind=row["kind"], text=row["text"])


def _content(row: Any) -> ContentItem:
    return ContentItem(**{k: v for k, v in row.items() if k != "id"})


def _content_row(item: ContentItem) -> dict[str, Any]:
    return {
        "account_id": item.account_id,
        "source": item.source,
        "item_id": item.item_id,
        "title": item.title,
        "url": item.url,
        "published_at": item.published_at,
        "first_seen_at": item.first_seen_at,
    }


def _report_query(kind: str, period_key: str, recipient: str) -> sa.Select[Any]:
    r = reports_sent.c
    return sa.select(reports_sent).where(r.kind == kind, r.period_key == period_key, r.recipient == recipient)


def _report(row: Any) -> ReportSent:
    return ReportSent(**{k: v for k, v in row.items() if k != "id"})


def _precheck_sqlite_file(path: Path) -> None:
    """Refuse a bad path before SQLite creates or converts anything.

    A foreign SQLite file is inspected read-only: opening it through the engine
    would switch it to WAL, which is not ours to do.
    """
    parent = path.parent
    if not parent.is_dir():
        raise BadInput(f"{path}: store directory {parent} does not exist")
    if path.is_dir():
        raise BadInput(f"{path}: is a directory, not a store file")
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the store file: {exc.strerror}") from None
    if header != _SQLITE_MAGIC:
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
        raise BadInput(f"{path}: not a wxmon store (it holds tables {_names(names)} and no {VERSION_TABLE})")


def _check_and_upgrade(conn: sa.Connection, where: str, migrate_schema: bool) -> None:
    current = migrate.current_revision(conn)
    head = migrate.head_revision()
    if current is None:
        names = set(sa.inspect(conn).get_table_names())
        names.discard(VERSION_TABLE)
        # SQLite: a file is wxmon's or not. PostgreSQL: a shared database is
        # normal; only a table wxmon would create is a clash.
        foreign = names if conn.dialect.name == "sqlite" else names & set(metadata.tables)
        if foreign:
            raise BadInput(f"{where}: not a wxmon store (it holds tables {_names(foreign)} and no {VERSION_TABLE})")
    elif current not in migrate.known_revisions():
        raise BadInput(
            f"{where}: store schema version {current} is newer than this wxmon knows (up to {head}); "
            "use a newer wxmon or another store"
        )
    if current != head:
        if not migrate_schema:
            raise BadInput(f"{where}: store schema is at {current or 'nothing'}, this wxmon needs {head}")
        migrate.upgrade(conn, "head")


def _names(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:5])
    return shown + (f" (+{len(ordered) - 5} more)" if len(ordered) > 5 else "")

