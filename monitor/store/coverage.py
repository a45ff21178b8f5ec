"""Coverage: when the monitor looked at each account successfully, per probe kind and day.

The store keeps what the probes saw (articles, column checks, replies); this part
keeps whether they could see at all, so that a rule is judged only on the time
the monitor actually watched (``monitor.metrics``), never on its own outages.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from monitor.store.core import StoreCore, aware, chunks, shanghai_day
from monitor.store.records import COVERAGE_KINDS, CoverageTotals, check_choice
from monitor.store.tables import accounts, coverage_daily
from monitor.store.types import UTCDateTime


def _earlier(new: Any, old: Any) -> Any:
    # Portable (SQLite's min() and PostgreSQL's LEAST treat NULL differently); instants of
    # one column compare correctly on both (SQLite keeps them as fixed-format text).
    return sa.case((new.is_(None), old), (old.is_(None) | (new < old), new), else_=old)


def _later(new: Any, old: Any) -> Any:
    return sa.case((new.is_(None), old), (old.is_(None) | (new > old), new), else_=old)


class CoverageStore(StoreCore):
    def record_looks(self, kind: str, at: datetime, ok: Iterable[str], failed: Iterable[str] = ()) -> int:
        """Count one look at each account at ``at``: successful (``ok``) or not (``failed``;
        an account in both counts as successful). Returns how many accounts were recorded."""
        check_choice("coverage kind", kind, COVERAGE_KINDS)
        at = aware("look time", at)
        day = shanghai_day(at)
        good = set(ok)
        bad = set(failed) - good
        if not good and not bad:
            return 0
        t = coverage_daily
        names = ["kind", "day", "account_id", "ok", "failed", "first_ok_at", "last_ok_at"]
        with self._write() as conn:
            known = self._known_accounts(conn, good | bad)
            if known != good | bad:
                missing = sorted((good | bad) - known)[:3]
                raise ValueError(f"coverage for accounts not in the store: {', '.join(missing)}")
            # One INSERT ... SELECT per chunk of accounts (the account ids as one expanding list),
            # not a row of parameters per account: a round records 10,000 accounts at once.
            for ids, looked in ((sorted(good), True), (sorted(bad), False)):
                for chunk in chunks(ids):
                    when = sa.literal(at if looked else None, UTCDateTime())
                    select = sa.select(
                        sa.literal(kind, sa.Text()), sa.literal(day, sa.Date()), accounts.c.id,
                        sa.literal(1 if looked else 0, sa.Integer()), sa.literal(0 if looked else 1, sa.Integer()),
                        when, when,
                    ).where(accounts.c.id.in_(chunk))
                    stmt = self._dialect.insert(t).from_select(names, select)
                    x = stmt.excluded
                    stmt = stmt.on_conflict_do_update(
                        index_elements=[t.c.kind, t.c.day, t.c.account_id],
                        set_={
                            "ok": t.c.ok + x.ok,
                            "failed": t.c.failed + x.failed,
                            "first_ok_at": _earlier(x.first_ok_at, t.c.first_ok_at),
                            "last_ok_at": _later(x.last_ok_at, t.c.last_ok_at),
                        },
                    )
                    conn.execute(stmt)
        return len(good) + len(bad)

    @staticmethod
    def _known_accounts(conn: sa.Connection, ids: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(sorted(ids)):
            found.update(conn.execute(sa.select(accounts.c.id).where(accounts.c.id.in_(chunk))).scalars())
        return found

    def last_looks(self, kind: str, before: datetime, *, since: date | None = None) -> dict[str, datetime]:
        """Per account: the last successful look of ``kind`` before ``before`` (on Shanghai
        days from ``since`` on, if given: a bounded scan; an older look is left out).

        Within ``before``'s own day only the day's first and last looks are kept, so a
        look between them is answered with the first: never later than the truth.
        """
        check_choice("coverage kind", kind, COVERAGE_KINDS)
        before = aware("before", before)
        c = coverage_daily.c
        when = sa.case((c.last_ok_at < before, c.last_ok_at), (c.first_ok_at < before, c.first_ok_at))
        query = (
            sa.select(c.account_id, sa.func.max(when).label("at"))
            .where(c.kind == kind, c.day <= shanghai_day(before), c.first_ok_at.is_not(None))
            .group_by(c.account_id)
        )
        if since is not None:
            query = query.where(c.day >= since)
        with self._read() as conn:
            return {r.account_id: r.at for r in conn.execute(query) if r.at is not None}

    def coverage_between(self, kind: str, first_day: date, last_day: date) -> list[CoverageTotals]:
        """Per account looked at (successfully or not) by ``kind`` in an inclusive range of days."""
        check_choice("coverage kind", kind, COVERAGE_KINDS)
        c = coverage_daily.c
        query = (
            sa.select(
                c.account_id,
                sa.func.sum(sa.case((c.ok > 0, 1), else_=0)).label("days_ok"),
                sa.func.sum(sa.case((c.ok == 0, 1), else_=0)).label("days_failed"),
                sa.func.max(c.last_ok_at).label("last_ok_at"),
            )
            .where(c.kind == kind, c.day >= first_day, c.day <= last_day)
            .group_by(c.account_id)
            .order_by(c.account_id)
        )
        with self._read() as conn:
            return [CoverageTotals(r.account_id, int(r.days_ok), int(r.days_failed), r.last_ok_at)
                    for r in conn.execute(query)]
