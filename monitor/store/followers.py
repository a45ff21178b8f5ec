"""Follower conversations: customer-service messages, rolled up per account and Shanghai day."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore
from monitor.store.records import FollowerDay, FollowerMedians, FollowerTotals
from monitor.store.tables import follower_conversations


class FollowerStore(StoreCore):
    def upsert_follower_days(self, days: Iterable[FollowerDay]) -> int:
        """Set (replace) accounts' rollups for Shanghai days. Returns how many."""
        now = clock.now()
        rows = [
            {"account_id": d.account_id, "day": d.day, "messages": d.messages, "answered": d.answered,
             "median_reply_minutes": d.median_reply_minutes, "p90_reply_minutes": d.p90_reply_minutes,
             "updated_at": now}
            for d in days
        ]
        if not rows:
            return 0
        stmt = self._dialect.insert(follower_conversations)
        stmt = stmt.on_conflict_do_update(
            index_elements=[follower_conversations.c.account_id, follower_conversations.c.day],
            set_={c: stmt.excluded[c] for c in
                  ("messages", "answered", "median_reply_minutes", "p90_reply_minutes", "updated_at")},
        )
        with self._write() as conn:
            conn.execute(stmt, rows)
        return len(rows)

    def follower_totals_between(self, first_day: date, last_day: date) -> list[FollowerTotals]:
        """Messages and answered messages per account, summed over an inclusive range of days."""
        fc = follower_conversations.c
        query = (
            sa.select(fc.account_id, sa.func.sum(fc.messages).label("messages"),
                      sa.func.sum(fc.answered).label("answered"))
            .where(fc.day >= first_day, fc.day <= last_day)
            .group_by(fc.account_id)
        )
        with self._read() as conn:
            return [FollowerTotals(r.account_id, r.messages, r.answered) for r in conn.execute(query)]

    def follower_medians_between(self, first_day: date, last_day: date) -> FollowerMedians:
        """The days (inclusive range) with answered messages and a median reply time:
        account, answered and median, column-major and unordered."""
        fc = follower_conversations.c
        query = sa.select(fc.account_id, fc.answered, fc.median_reply_minutes).where(
            fc.day >= first_day, fc.day <= last_day, fc.answered > 0, fc.median_reply_minutes.is_not(None))
        with self._read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return FollowerMedians((), (), ())
        account_id, answered, median = zip(*rows)
        return FollowerMedians(account_id, answered, median)
