"""Accounts (from the configuration) and probe runs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import NotFound, StoreCore, aware, chunks
from monitor.store.records import RUN_KINDS, RUN_STATUSES, Account, ProbeRun, check_choice
from monitor.store.tables import accounts, probe_runs


class AccountStore(StoreCore):
    def upsert_accounts(self, items: Iterable[Account]) -> int:
        """Insert or update accounts (from the configuration). Returns how many."""
        now = clock.now()
        rows = [
            {"id": a.id, "name": a.name, "unit": a.unit, "category": a.category, "updated_at": now} for a in items
        ]
        if not rows:
            return 0
        stmt = self._dialect.insert(accounts)
        stmt = stmt.on_conflict_do_update(
            index_elements=[accounts.c.id],
            set_={c: stmt.excluded[c] for c in ("name", "unit", "category", "updated_at")},
        )
        with self._write() as conn:
            for chunk in chunks(rows):
                conn.execute(stmt, list(chunk))
        return len(rows)

    # ---------------------------------------------------------------- probe runs

    def start_run(
        self, kind: str, *, accounts_total: int = 0, started_at: datetime | None = None
    ) -> ProbeRun:
        check_choice("run kind", kind, RUN_KINDS)
        started = aware("started_at", started_at) if started_at else clock.now()
        with self._write() as conn:
            result = conn.execute(
                sa.insert(probe_runs).values(
                    kind=kind, started_at=started, status="running", accounts_total=accounts_total
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            run_id = int(key[0])
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
            "finished_at": aware("finished_at", finished_at) if finished_at else clock.now(),
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

    def last_runs(self, kind: str | None = None, limit: int = 20) -> list[ProbeRun]:
        """Most recent runs first."""
        query = sa.select(probe_runs).order_by(probe_runs.c.started_at.desc(), probe_runs.c.id.desc()).limit(limit)
        if kind is not None:
            query = query.where(probe_runs.c.kind == check_choice("run kind", kind, RUN_KINDS))
        with self._read() as conn:
            return [run_record(row) for row in conn.execute(query).mappings()]

    def _get_run(self, conn: sa.Connection, run_id: int) -> ProbeRun:
        row = conn.execute(sa.select(probe_runs).where(probe_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"probe run {run_id} does not exist")
        return run_record(row)


def run_record(row: sa.RowMapping) -> ProbeRun:
    values = dict(row)
    values["detail"] = json.loads(values["detail"]) if values["detail"] else None
    return ProbeRun(**values)
