"""Daily call budgets per account and endpoint, in Asia/Shanghai days.

The platform's quotas reset at Shanghai midnight. Once it says 45009, or once
our own budget for an endpoint is spent, we stop calling that endpoint for that
account until the next day instead of burning calls the account may need.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, time, timedelta

from monitor.clock import SHANGHAI, Clock, get_clock

# Our own budgets, below the platform's limits so the account keeps calls for itself.
DEFAULT_BUDGETS: dict[str, int] = {
    "cgi-bin/freepublish/batchget": 20,
    "cgi-bin/freepublish/getarticle": 200,
    "cgi-bin/material/batchget_material": 50,
}


def next_shanghai_midnight(at: datetime) -> datetime:
    local = at.astimezone(SHANGHAI)
    return datetime.combine(local.date() + timedelta(days=1), time(0), SHANGHAI)


class QuotaBook:
    """Calls made today per (account, endpoint), today's exhausted endpoints.

    Only the current Shanghai day is kept: a daemon runs for months, and per-day keys
    for thousands of accounts would grow without end.
    """

    def __init__(self, budgets: dict[str, int] | None = None, clock: Clock | None = None) -> None:
        self.budgets = dict(DEFAULT_BUDGETS if budgets is None else budgets)
        self._clock = clock
        self._used: dict[tuple[str, str], int] = defaultdict(int)
        self._day_start: datetime | None = None  # the Shanghai day _used counts
        self._day_end: datetime | None = None
        self._exhausted_until: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def _roll(self, now: datetime) -> None:
        """Start counting a new day when ``now`` left the one counted (call with the lock held)."""
        if self._day_start is None or not self._day_start <= now < self._day_end:  # type: ignore[operator]
            self._day_end = next_shanghai_midnight(now)
            self._day_start = self._day_end - timedelta(days=1)
            self._used.clear()

    def blocked_until(self, appid: str, endpoint: str) -> datetime | None:
        """When calls may resume, or None if a call may be made now."""
        now = self._now()
        with self._lock:
            until = self._exhausted_until.get((appid, endpoint))
            if until and until > now:
                return until
            budget = self.budgets.get(endpoint)
            if budget is not None:
                self._roll(now)
                if self._used[(appid, endpoint)] >= budget:
                    return self._day_end
        return None

    def spend(self, appid: str, endpoint: str, calls: int = 1) -> None:
        now = self._now()
        with self._lock:
            self._roll(now)
            self._used[(appid, endpoint)] += calls

    def used_today(self, appid: str, endpoint: str) -> int:
        now = self._now()
        with self._lock:
            self._roll(now)
            return self._used.get((appid, endpoint), 0)

    def mark_exhausted(self, appid: str, endpoint: str) -> datetime:
        until = next_shanghai_midnight(self._now())
        with self._lock:
            self._exhausted_until[(appid, endpoint)] = until
        return until
