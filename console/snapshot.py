"""The overview's numbers: the period's verdicts, the trend by week and quarter, and what changed
since yesterday, all from ``monitor.scoring.metrics_table`` (the reports' own entry point).

Measuring a period of 10,000 accounts takes seconds, a page must take less than one: the
snapshot is computed off the event loop and kept until the store has new data (a probe round
started or finished), then recomputed in the background while the old one is still served.
Filtering for a viewer (an editor's unit) is done on the kept tables, with the same
``pass_rate`` the reports use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd

from monitor import clock
from monitor.config import Config
from monitor.period import Period, day_range, iso_weeks, quarter
from monitor.scoring import FAIL, PASS, format_rate, metrics_table, pass_rate
from monitor.store import Store

log = logging.getLogger("wxmon.console")

T = TypeVar("T")
TREND_QUARTERS = 4
_KEEP = ("account_id", "verdict", "reasons")


@dataclass(frozen=True)
class Snapshot:
    period: Period
    stamp: str  # the store's data stamp it was computed at
    as_of: datetime  # the moment "now" and "yesterday" are measured at
    table: pd.DataFrame  # metrics_table of the period
    weeks: tuple[tuple[Period, pd.DataFrame], ...]  # account_id, verdict, reasons per week
    quarters: tuple[tuple[Period, pd.DataFrame], ...]
    yesterday: pd.DataFrame  # the verdicts of the period up to the day before as_of
    seconds: float  # how long computing it took


@dataclass(frozen=True)
class Rate:
    passed: int
    checked: int
    rate: float

    @property
    def text(self) -> str:
        return format_rate(self.rate).removeprefix("合格率")

    @property
    def percent(self) -> float:
        return 0.0 if math.isnan(self.rate) else round(self.rate * 100, 1)


@dataclass(frozen=True)
class Change:
    account_id: str
    account_name: str
    before: str
    after: str
    reasons: str


def rate_of(frame: pd.DataFrame) -> Rate:
    return Rate(*pass_rate(frame))


def data_stamp(store: Store) -> str:
    """Changes whenever a probe round starts or finishes (what new data arrives with), and when a
    content finding is confirmed or dismissed (the verdicts count the confirmed ones)."""
    reviews = store.content_review_stamp()
    runs = store.last_runs(limit=1)
    if not runs:
        return f"empty|{reviews}"
    run = runs[0]
    return f"{run.id}:{run.status}:{run.finished_at.isoformat() if run.finished_at else ''}|{reviews}"


def _reviews_of(stamp: str) -> str:
    return stamp.rpartition("|")[2]


def latest_data_at(store: Store) -> datetime | None:
    runs = store.last_runs(limit=1)
    if not runs:
        return None
    return runs[0].finished_at or runs[0].started_at


def default_period(store: Store) -> Period:
    """The quarter of the latest probe round (of now, for an empty store): a store that has stopped
    being fed (the demo's) opens on the quarter it holds."""
    at = clock.to_local(latest_data_at(store) or clock.now())
    return quarter(at.year, (at.month - 1) // 3 + 1)


def compute_snapshot(store: Store, config: Config, period: Period, previous: Snapshot | None = None) -> Snapshot:
    """Measure the period (and its trend, and yesterday). With ``previous`` taken the same day, the
    parts that only change from day to day (closed weeks, other quarters, yesterday) are reused:
    new data then costs the period and its open week, not the whole trend again."""
    started = time.perf_counter()
    stamp = data_stamp(store)
    now = clock.now()
    as_of = min(now, latest_data_at(store) or now)
    today = clock.to_local(as_of).date()
    # A review decision can change any week of the past, so nothing is reused across one.
    same_day = previous is not None and previous.period.key == period.key \
        and clock.to_local(previous.as_of).date() == today and _reviews_of(previous.stamp) == _reviews_of(stamp)
    kept_weeks = {w.key: f for w, f in previous.weeks} if previous is not None and same_day else {}
    kept_quarters = {q.key: f for q, f in previous.quarters} if previous is not None and same_day else {}

    def measured(p: Period) -> pd.DataFrame:
        return _kept(metrics_table(store, config, p))

    table = metrics_table(store, config, period)
    weeks = tuple((w, kept_weeks[w.key] if w.key in kept_weeks and w.last_day < today else measured(w))
                  for w in iso_weeks(period) if w.first_day <= today)
    last_q = quarter(period.last_day.year, (period.last_day.month - 1) // 3 + 1)
    quarters = []
    for back in range(TREND_QUARTERS - 1, -1, -1):
        index = last_q.first_day.year * 4 + (last_q.first_day.month - 1) // 3 - back
        q = quarter(index // 4, index % 4 + 1)
        if q.first_day > today:
            continue
        if q.key == period.key:
            quarters.append((q, _kept(table)))
        else:
            quarters.append((q, kept_quarters[q.key] if q.key in kept_quarters else measured(q)))
    # Since yesterday: the period up to the day before as_of, judged the same way (periods are day ranges).
    last = min(today, period.last_day) - timedelta(days=1)
    if previous is not None and same_day:
        yesterday = previous.yesterday
    elif last >= period.first_day:
        yesterday = measured(day_range(period.first_day, last))
    else:
        yesterday = table.loc[[], list(_KEEP)]
    return Snapshot(period, stamp, as_of, table, weeks, tuple(quarters), yesterday, time.perf_counter() - started)


def _kept(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.loc[:, list(_KEEP)]


def only(frame: pd.DataFrame, ids: Sequence[str] | None) -> pd.DataFrame:
    """The rows of these accounts (None: all)."""
    if ids is None:
        return frame
    return frame[frame["account_id"].isin(ids)]


def changes(snapshot: Snapshot, ids: Sequence[str] | None) -> list[Change]:
    now = only(snapshot.table, ids)
    before = dict(zip(snapshot.yesterday["account_id"], snapshot.yesterday["verdict"]))
    out = []
    for row in now.itertuples(index=False):
        old = before.get(row.account_id)
        if old is not None and old != row.verdict:
            out.append(Change(str(row.account_id), str(row.account_name), str(old), str(row.verdict),
                              str(row.reasons or "")))
    order = {FAIL: 0, PASS: 2}
    out.sort(key=lambda c: (order.get(c.after, 1), c.account_id))
    return out


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a daemon thread of its own. Unlike ``asyncio.to_thread`` a stop does not wait
    for it: measuring a large store takes minutes, and it only reads, so SIGTERM need not wait."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def run() -> None:
        try:
            outcome: tuple[bool, Any] = (True, fn(*args))
        except BaseException as exc:
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=run, name="console-measure", daemon=True).start()
    return await future


def _log_failure(task: asyncio.Task[Snapshot]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("console: measuring failed: %s", task.exception())


class SnapshotCache:
    """One snapshot per period; recomputed in the background when the data stamp moves."""

    def __init__(self, store: Store, config: Config, *, keep: int = 8) -> None:
        self.store = store
        self.config = config
        self.keep = keep
        self._snapshots: dict[str, Snapshot] = {}
        self._running: dict[str, asyncio.Task[Snapshot]] = {}

    async def get(self, period: Period) -> Snapshot:
        stamp = await asyncio.to_thread(data_stamp, self.store)
        kept = self._snapshots.get(period.key)
        if kept is not None and kept.stamp == stamp:
            return kept
        task = self._running.get(period.key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._compute(period))
            task.add_done_callback(_log_failure)
            self._running[period.key] = task
        if kept is not None:
            return kept  # served while the new one is computed
        return await asyncio.shield(task)

    async def settled(self, period: Period) -> Snapshot:
        """The snapshot of the data as it is now, waiting for a computation under way (unlike
        :meth:`get`, which serves the previous one meanwhile)."""
        while True:
            snapshot = await self.get(period)
            if snapshot.stamp == await asyncio.to_thread(data_stamp, self.store):
                return snapshot
            task = self._running.get(period.key)
            if task is not None:
                await asyncio.shield(task)

    def put(self, snapshot: Snapshot) -> None:
        """Keep a snapshot computed elsewhere (a benchmark, a warm-up)."""
        self._snapshots[snapshot.period.key] = snapshot

    def refreshing(self, period_key: str) -> bool:
        return period_key in self._running

    async def _compute(self, period: Period) -> Snapshot:
        try:
            previous = self._snapshots.get(period.key)
            snapshot = await off_loop(compute_snapshot, self.store, self.config, period, previous)
            log.info("console: %s measured in %.2fs", period.key, snapshot.seconds)
            self._snapshots[period.key] = snapshot
            while len(self._snapshots) > self.keep:
                self._snapshots.pop(next(iter(self._snapshots)))
            return snapshot
        finally:
            self._running.pop(period.key, None)

    async def aclose(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
