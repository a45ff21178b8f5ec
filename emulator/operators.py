"""When an account's operator answers: working time (Asia/Shanghai) and seeded latencies."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar

from emulator.scenario import Operator
from monitor.clock import SHANGHAI, as_utc, to_local

WORK_PERIODS = ((time(9, 0), time(12, 0)), (time(13, 30), time(17, 30)))
WORKDAY_MINUTES = 390.0
_Z90 = 1.2815515655446004  # standard normal 90th percentile


@lru_cache(maxsize=4096)
def is_workday(day: date) -> bool:
    """Chinese working day (holidays and make-up days); weekends-only outside chinese_calendar's range."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def _periods(day: date) -> list[tuple[datetime, datetime]]:
    if not is_workday(day):
        return []
    return [(datetime.combine(day, a, SHANGHAI), datetime.combine(day, b, SHANGHAI)) for a, b in WORK_PERIODS]


def add_working_minutes(start: datetime, minutes: float) -> datetime:
    """The moment ``minutes`` of working time after ``start`` (0: the next working moment)."""
    cursor = to_local(start)
    remaining = timedelta(minutes=max(0.0, minutes))
    day = cursor.date()
    for _ in range(3660):  # ten years of days bounds any sane latency
        for begin, end in _periods(day):
            begin = max(begin, cursor)
            if begin >= end:
                continue
            if remaining <= end - begin:
                return as_utc(begin + remaining)
            remaining -= end - begin
        day += timedelta(days=1)
    raise ValueError(f"latency of {minutes} working minutes is out of range")


def working_minutes_between(start: datetime, end: datetime) -> float:
    start, end = to_local(start), to_local(end)
    total = 0.0
    day = start.date()
    while day <= end.date():
        for begin, stop in _periods(day):
            lo, hi = max(begin, start), min(stop, end)
            if hi > lo:
                total += (hi - lo).total_seconds() / 60
        day += timedelta(days=1)
    return total


def human_delay_minutes(op: Operator, rng: random.Random) -> float | None:
    """Working minutes until a person answers, or None when nobody will."""
    if op.mode in ("never", "autoreply_only"):
        return None
    mu = math.log(op.median_minutes)
    sigma = max(math.log(op.p90_minutes) - mu, 0.0) / _Z90
    minutes = rng.lognormvariate(mu, sigma)
    if op.max_minutes is not None:
        minutes = min(minutes, op.max_minutes)
    if op.mode == "late":
        minutes += op.late_working_days * WORKDAY_MINUTES
    return minutes


def human_reply_at(op: Operator, sent_at: datetime, rng: random.Random) -> datetime | None:
    """When the human answer reaches the follower (whole seconds, like message records)."""
    delay = human_delay_minutes(op, rng)
    if delay is None:
        return None
    end = sent_at + timedelta(minutes=delay) if op.hours == "always" else add_working_minutes(sent_at, delay)
    at = (end + timedelta(microseconds=500_000)).replace(microsecond=0)
    return max(at, sent_at.replace(microsecond=0) + timedelta(seconds=1))
