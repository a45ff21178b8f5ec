"""The program's one source of time.

Nothing calls ``datetime.now()`` directly: production uses :class:`SystemClock`,
the demo and the tests a :class:`VirtualClock` that jumps. Times are aware
datetimes in UTC; convert with :data:`SHANGHAI` for anything a person reads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = ["MINUTE", "SECOND", "SHANGHAI", "UTC", "Clock", "SystemClock", "VirtualClock", "as_utc", "floor_to",
           "get_clock", "now", "set_clock", "to_local"]

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, aware, UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = as_utc(when)

    def advance(self, delta: timedelta | float) -> datetime:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        with self._lock:
            self._now = self._now + delta
            return self._now


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is read as Asia/Shanghai wall time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    return as_utc(value).astimezone(SHANGHAI)


SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)


def floor_to(value: datetime, resolution: timedelta) -> datetime:
    """The start of the ``resolution``-long interval holding ``value`` (whole minutes: hh:mm:00)."""
    if resolution <= SECOND:
        return value
    step = int(resolution.total_seconds())
    return datetime.fromtimestamp(int(value.timestamp()) // step * step, value.tzinfo)


_current: Clock = SystemClock()


def now() -> datetime:
    return _current.now()


def get_clock() -> Clock:
    return _current


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` for the whole program; returns the previous one."""
    global _current
    previous, _current = _current, clock
    return previous
