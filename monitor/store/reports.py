"""Reports sent: one row per report, period and recipient, so none is sent twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore
from monitor.store.records import REPORT_STATUSES, ReportSent, check_choice
from monitor.store.tables import reports_sent


class ReportStore(StoreCore):
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
        r = reports_sent.c
        stmt = self._dialect.insert(reports_sent).values(
            kind=kind, period_key=period_key, recipient=recipient, sent_at=sent_at, status=status, error=error,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[r.kind, r.period_key, r.recipient],
            set_={c: stmt.excluded[c] for c in ("sent_at", "status", "error", "updated_at")},
            where=r.status != "sent",
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


def _report_query(kind: str, period_key: str, recipient: str) -> sa.Select[Any]:
    r = reports_sent.c
    return sa.select(reports_sent).where(r.kind == kind, r.period_key == period_key, r.recipient == recipient)


def _report(row: sa.RowMapping) -> ReportSent:
    return ReportSent(**{k: v for k, v in row.items() if k != "id"})
