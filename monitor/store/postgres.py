"""PostgreSQL: what the store does its own way on a PostgreSQL server (see ``dialect.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_sql
from sqlalchemy.engine import URL, Engine

from monitor.store.core import chunks
from monitor.store.dialect import Daily, Dialect, Pending
from monitor.store.records import COLUMN_STATUSES, ColumnEvent
from monitor.store.tables import column_daily, column_events, column_state

# Rows per INSERT/UPDATE ... FROM unnest(arrays): one statement, one round trip each.
_BULK = 20_000
# Any constant will do: it serialises concurrent upgrades of one database.
_MIGRATION_LOCK_KEY = 0x77786D6F6E  # "wxmon"

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
    "healthy_landing",
)

_Conflict = Callable[[pg_sql.Insert], pg_sql.Insert]


def _unnest(columns: Sequence[tuple[str, sa.types.TypeEngine[Any]]], rows: Sequence[dict[str, Any]]) -> Any:
    """``unnest(:a::T1[], :b::T2[], ...) AS v(a, b, ...)``: rows as one set of arrays."""
    arrays = []
    for name, type_ in columns:
        values = [row[name] for row in rows]
        if isinstance(type_, sa.Float):  # psycopg refuses a list mixing int and float
            values = [None if v is None else float(v) for v in values]
        elif isinstance(type_, sa.Integer):
            values = [None if v is None else int(v) for v in values]
        arrays.append(sa.bindparam(f"a_{name}", values, type_=pg_sql.ARRAY(type_)))
    return sa.func.unnest(*arrays).table_valued(*(name for name, _ in columns)).render_derived(name="v")


def _bulk_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], *,
                 conflict: _Conflict | None = None) -> None:
    """One ``INSERT ... SELECT FROM unnest(arrays)`` per chunk (a statement per row
    costs a round trip each, even pipelined)."""
    if not rows:
        return
    names = list(rows[0])
    for chunk in chunks(rows, _BULK):
        v = _unnest([(n, table.c[n].type) for n in names], chunk)
        stmt = pg_sql.insert(table).from_select(names, sa.select(*(v.c[n] for n in names)))
        conn.execute(conflict(stmt) if conflict else stmt)


def _state_values(pending: Pending, key: tuple[str, str]) -> dict[str, Any]:
    r = pending[key].last
    assert r is not None
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
        "healthy_landing": r.healthy_landing,
    }


class PostgresDialect:
    name = "postgresql"

    # ---------------------------------------------------------- engine, opening

    def normalise_url(self, url: URL) -> URL:
        if url.drivername == "postgresql":
            # psycopg 3 is the driver wxmon ships with (psycopg2 is not a dependency).
            return url.set(drivername="postgresql+psycopg")
        return url

    def database_file(self, url: URL) -> Path | None:
        return None

    def create_engine(self, url: URL) -> Engine:
        return sa.create_engine(url, pool_pre_ping=True)

    def precheck(self, url: URL) -> None:
        pass  # nothing to look at before connecting

    def lock_for_migration(self, conn: sa.Connection) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})

    def foreign_tables(self, present: set[str], ours: set[str]) -> set[str]:
        return present & ours  # a shared database is normal; only a table wxmon would create clashes

    # ------------------------------------------------------------------ values

    def bind_instant(self, value: datetime) -> datetime:
        return value  # timestamptz

    # -------------------------------------------------------------- statements

    def insert(self, table: sa.Table) -> pg_sql.Insert:
        return pg_sql.insert(table)

    # ----------------------------------------------------- a round's column writes

    def load_columns(self, conn: sa.Connection, account_ids: Sequence[str]) -> Iterable[Sequence[Any]]:
        cs = column_state.c
        # Lock in one global order (account, path) so two writers cannot deadlock.
        query = (
            sa.select(cs.id, cs.account_id, cs.column_path, cs.status)
            .where(cs.account_id.in_(account_ids))
            .order_by(cs.account_id, cs.column_path)
            .with_for_update()
        )
        return conn.execute(query)

    def write_states(self, conn: sa.Connection, pending: Pending) -> None:
        new_keys = {k for k, p in pending.items() if p.id is None}
        if new_keys:
            rows = [{**_state_values(pending, key), "account_id": key[0], "column_path": key[1],
                     "last_change_at": pending[key].change_at} for key in new_keys]
            # Insert, then read the ids back: RETURNING in parameter order
            # degrades to one statement per row on some drivers.
            _bulk_insert(conn, column_state, rows)
            for chunk in chunks(sorted({a for a, _ in new_keys})):
                query = sa.select(column_state.c.id, column_state.c.account_id, column_state.c.column_path).where(
                    column_state.c.account_id.in_(chunk)
                )
                for row in conn.execute(query):
                    key = (row.account_id, row.column_path)
                    if key in new_keys:
                        pending[key].id = row.id

        updates = [{"id": p.id, **_state_values(pending, key), "change_at": p.change_at}
                   for key, p in pending.items() if key not in new_keys and p.last is not None]
        if not updates:
            return
        cs = column_state.c
        columns = [
            ("id", cs.id.type),
            *((k, cs[k].type) for k in _STATE_FIELDS),
            ("change_at", cs.last_change_at.type),
        ]
        for part in chunks(updates, _BULK):
            v = _unnest(columns, part)
            values = {k: v.c[k] for k in _STATE_FIELDS}
            values["healthy_landing"] = sa.func.coalesce(v.c.healthy_landing, cs.healthy_landing)
            # Status unchanged in this batch: keep the time of the last real change.
            values["last_change_at"] = sa.func.coalesce(v.c.change_at, cs.last_change_at)
            conn.execute(sa.update(column_state).where(cs.id == v.c.id).values(values))

    def insert_events(self, conn: sa.Connection, events: Sequence[ColumnEvent]) -> None:
        _bulk_insert(conn, column_events, [
            {"account_id": e.account_id, "column_path": e.column_path, "at": e.at, "old_status": e.old_status,
             "new_status": e.new_status, "reason": e.reason, "http_status": e.http_status, "run_id": e.run_id}
            for e in events])

    def write_daily(self, conn: sa.Connection, pending: Pending, daily: Daily) -> None:
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

        def on_conflict(stmt: pg_sql.Insert) -> pg_sql.Insert:
            d = column_daily.c
            return stmt.on_conflict_do_update(
                index_elements=[d.day, d.column_id],
                set_={
                    **{c: d[c] + stmt.excluded[c] for c in ("checks", *COLUMN_STATUSES)},
                    "max_elapsed_ms": sa.func.greatest(d.max_elapsed_ms, stmt.excluded.max_elapsed_ms),  # NULLs ignored
                },
            )

        _bulk_insert(conn, column_daily, rows, conflict=on_conflict)

    # ---------------------------------------------------------------- analysis

    def epoch_seconds(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
        return sa.cast(sa.extract("epoch", column), sa.Float)

    def unindexed(self, column: sa.Column[datetime]) -> sa.ColumnElement[datetime]:
        return column

    # ------------------------------------------------------------------ health

    def integrity_check(self, conn: sa.Connection) -> str | None:
        return None

    def file_sizes(self, url: URL) -> tuple[int | None, int | None]:
        return None, None


DIALECT: Dialect = PostgresDialect()  # mypy checks it against the protocol
