"""The program's one source of time.

Nothing calls ``datetime.now()`` directly: production uses :class:`SystemClock`,
the demo and the tests a :class:`VirtualClock` that jumps. Times are aware
datetimes in UTC; convert with :data:`SHANGHAI` for anything a person reads.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


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


class OffsetClock:
    """Real time shifted to start at ``start`` (a simulation running at wall speed)."""

    def __init__(self, start: datetime) -> None:
        self._offset = as_utc(start) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


def as_utc(value: datetime) -> datetime:
    """Aware UTC datetime; a naive value is read as Asia/Shanghai wall time."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=SHANGHAI)
    return value.astimezone(UTC)


def to_local(value: datetime) -> datetime:
    return as_utc(value).astimezone(SHANGHAI)


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
