"""Jobs and their fire times, built once from the schedules in accounts.yaml.

The daemon hands these triggers to APScheduler in real time; the demo
enumerates the same triggers' fire times on a virtual clock. Test inquiries are
the one exception to "a cron per job": each account's inquiry goes out at a
random working-hour moment of its weekly window (so operators cannot predict
it), chosen by a keyed hash so a restart picks the same moment again.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger

from monitor.clock import SHANGHAI, as_utc
from monitor.workdays import WorkCalendar

if TYPE_CHECKING:
    from monitor.config import Account, Config

# Jobs that run one probe round over all accounts, by schedule name.
ROUND_JOBS = {"columns": "columns", "freshness": "freshness", "privacy": "privacy"}
# Working-hour slots an inquiry may be sent in (Shanghai wall time).
SEND_SLOTS = ((time(9, 0), time(11, 30)), (time(14, 0), time(17, 0)))


@dataclass(frozen=True, order=True)
class Event:
    at: datetime
    job: str  # columns | freshness | privacy | inquiry_window | inquiry_send | inquiry_poll | weekly_report
    account_id: str = ""


def fire_times(trigger: BaseTrigger, start: datetime, end: datetime) -> Iterator[datetime]:
    """Fire times of ``trigger`` in [start, end), aware UTC."""
    start, end = as_utc(start), as_utc(end)
    previous = None
    now = start - timedelta(microseconds=1)
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire >= end:
            return
        fire = as_utc(fire)
        if fire >= start:
            yield fire
        previous, now = fire, fire


def plan_inquiry_time(account_id: str, window_start: datetime, window_end: datetime,
                      calendar: WorkCalendar, key: bytes) -> datetime:
    """A working-hour moment in [window_start, window_end), unpredictable without ``key``."""
    slots: list[tuple[datetime, datetime]] = []
    day = as_utc(window_start).astimezone(SHANGHAI).date()
    last = as_utc(window_end).astimezone(SHANGHAI).date()
    while day <= last:
        if calendar.is_workday(day):
            for begin, finish in SEND_SLOTS:
                lo = max(datetime.combine(day, begin, SHANGHAI), window_start)
                hi = min(datetime.combine(day, finish, SHANGHAI), window_end)
                if lo < hi:
                    slots.append((lo, hi))
        day += timedelta(days=1)
    if not slots:  # a window with no working hour at all (a long holiday): its start
        return as_utc(window_start)
    total = sum((hi - lo).total_seconds() for lo, hi in slots)
    digest = hmac.new(key, f"{account_id}|{as_utc(window_start).isoformat()}".encode(), hashlib.sha256).digest()
    offset = int.from_bytes(digest[:8], "big") / 2**64 * total
    for lo, hi in slots:
        span = (hi - lo).total_seconds()
        if offset < span:
            return as_utc(lo + timedelta(seconds=int(offset)))
        offset -= span
    return as_utc(slots[-1][0])


def inquiry_windows(trigger: BaseTrigger, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Consecutive windows opened by the inquiry trigger that overlap [start, end)."""
    opens = list(fire_times(trigger, start - timedelta(days=31), end + timedelta(days=31)))
    return [(a, b) for a, b in pairwise(opens) if b > as_utc(start) and a < as_utc(end)]


def current_window(trigger: BaseTrigger, at: datetime) -> tuple[datetime, datetime] | None:
    """The inquiry window holding ``at``: the last opening at or before it (within 31 days) and the next.

    Looks back over growing spans, so a frequent schedule costs a few fire times, not a
    month of them (a schedule every 20 s has 130,000 a month: seconds on the event loop).
    """
    at = as_utc(at)
    opened = None
    for back in (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=31)):
        for fire in fire_times(trigger, at - back, at + timedelta(microseconds=1)):
            opened = fire
        if opened is not None:
            break
    if opened is None:
        return None
    following = next(fire_times(trigger, opened + timedelta(microseconds=1), at + timedelta(days=31, seconds=1)), None)
    if following is None or following <= at:
        return None
    return opened, following


def timeline(config: Config, start: datetime, end: datetime, key: bytes,
             accounts: Sequence[Account] | None = None) -> list[Event]:
    """Every event in [start, end), in order: what the daemon would do, for the demo."""
    accounts = list(config.accounts if accounts is None else accounts)
    triggers = config.schedules.triggers()
    calendar = config.work_calendar()
    events: list[Event] = []
    for job in (*ROUND_JOBS, "weekly_report", "inquiry_poll"):
        events += [Event(at, job) for at in fire_times(triggers[job], start, end)]
    with_inquiry = [a for a in accounts if a.inquiry.channel != "none"]
    for window_start, window_end in inquiry_windows(triggers["inquiry"], start, end):
        for account in with_inquiry:
            at = plan_inquiry_time(account.id, window_start, window_end, calendar, key)
            if as_utc(start) <= at < as_utc(end):
                events.append(Event(at, "inquiry_send", account.id))
    # Same instant: probe rounds before the report that reads them.
    order = {"inquiry_send": 0, "inquiry_poll": 1, "columns": 2, "freshness": 3, "privacy": 4, "weekly_report": 9}
    events.sort(key=lambda e: (e.at, order.get(e.job, 5), e.account_id))
    return events
