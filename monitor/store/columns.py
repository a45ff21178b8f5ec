"""Menu columns: the state of each column, its status changes, and daily rollups.

Sizing: a quarter of 10,000 accounts with hourly checks would be 176 M raw
checks, so checks are folded as they come: ``column_state`` (one row per
column), ``column_events`` (status changes only) and ``column_daily`` (one row
per column and Shanghai day). The writes of a round are the dialect's
(``Dialect.write_states`` and friends): they are the store's hot path.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from monitor.store.core import StoreCore, aware, chunks, shanghai_day
from monitor.store.dialect import Daily, DayCounts, Pending, PendingColumn
from monitor.store.records import (
    COLUMN_STATUSES,
    ApplyOutcome,
    ColumnEvent,
    ColumnResult,
    ColumnState,
    ColumnTotals,
    check_choice,
)
from monitor.store.tables import column_daily, column_state


class ColumnStore(StoreCore):
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
                days[r.checked_at] = shanghai_day(aware("checked_at", r.checked_at))

        with self._write() as conn:
            pending = self._load_pending(conn, batch)
            events: list[ColumnEvent] = []
            daily: Daily = {}
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
                    counts = daily[(days[r.checked_at], key)] = DayCounts()
                counts.checks += 1
                counts.counts[r.status] += 1
                if r.elapsed_ms is not None:
                    ms = round(r.elapsed_ms)
                    counts.max_elapsed_ms = ms if counts.max_elapsed_ms is None else max(counts.max_elapsed_ms, ms)

            self._dialect.write_states(conn, pending)
            if events:
                self._dialect.insert_events(conn, events)
            self._dialect.write_daily(conn, pending, daily)
        return ApplyOutcome(len(batch), events)

    def _load_pending(self, conn: sa.Connection, batch: list[ColumnResult]) -> Pending:
        keys = {(r.account_id, r.column_path) for r in batch}
        pending: Pending = {}
        for chunk in chunks(sorted({a for a, _ in keys})):
            for id_, account_id, column_path, status in self._dialect.load_columns(conn, chunk):
                key = (account_id, column_path)
                if key in keys:
                    pending[key] = PendingColumn(id=id_, status=status)
        for key in keys:
            pending.setdefault(key, PendingColumn(id=None, status=None))
        return pending

    def get_column_states(self, account_id: str | None = None) -> list[ColumnState]:
        query = sa.select(column_state).order_by(column_state.c.account_id, column_state.c.column_path)
        if account_id is not None:
            query = query.where(column_state.c.account_id == account_id)
        with self._read() as conn:
            return [ColumnState(**row) for row in conn.execute(query).mappings()]

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
            return [_totals(row) for row in conn.execute(query).mappings()]


def _totals(row: sa.RowMapping) -> ColumnTotals:
    # Sums come back as int or Decimal depending on the backend.
    values: dict[str, Any] = {
        k: (int(v) if v is not None and k not in ("account_id", "column_path") else v) for k, v in row.items()
    }
    return ColumnTotals(**values)
