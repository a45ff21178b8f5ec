"""Reporting periods: a quarter, an ISO week, a month or an inclusive range of days.

    from monitor.period import parse_period
    p = parse_period("2023Q3")
    p.first_day, p.last_day        # date(2023, 7, 1), date(2023, 9, 30)
    p.start, p.end                 # aware UTC instants of Shanghai midnights, [start, end)
    p.check_date                   # the inspection's check date: the last day
    p.key, p.label_zh              # "2023Q3", "2023年第三季度"

Days are Asia/Shanghai calendar days: the inspection and the store's daily
rollups count in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from monitor.clock import SHANGHAI, UTC
from monitor.errors import BadInput

ACCEPTED_FORMS = "2023Q3, 2023-W38, 2023-09 or 2023-07-01..2023-09-30"

_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_WEEK = re.compile(r"^(\d{4})-?[Ww](\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\s*\.\.\s*(\d{4}-\d{2}-\d{2})$")
_QUARTER_ZH = {1: "一", 2: "二", 3: "三", 4: "四"}


@dataclass(frozen=True, slots=True)
class Period:
    """An inclusive range of Shanghai days with a canonical key and a Chinese label."""

    first_day: date
    last_day: date
    key: str
    label_zh: str

    @property
    def start(self) -> datetime:
        """Shanghai midnight at the start of ``first_day``, aware UTC (inclusive)."""
        return _midnight_utc(self.first_day)

    @property
    def end(self) -> datetime:
        """Shanghai midnight after ``last_day``, aware UTC (exclusive)."""
        return _midnight_utc(self.last_day + timedelta(days=1))

    @property
    def check_date(self) -> date:
        """The inspection's check date (监测时间点): the period's last day."""
        return self.last_day

    @property
    def days(self) -> int:
        """Number of calendar days in the period."""
        return (self.last_day - self.first_day).days + 1

    def __contains__(self, day: object) -> bool:
        if isinstance(day, datetime):
            day = day.astimezone(SHANGHAI).date() if day.tzinfo else day.date()
        return isinstance(day, date) and self.first_day <= day <= self.last_day

    def __str__(self) -> str:
        return self.key


def _midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)


def _md(day: date) -> str:
    return f"{day.month}月{day.day}日"


def _ymd(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _bad(text: str, why: str = "") -> BadInput:
    detail = f" ({why})" if why else ""
    return BadInput(f"bad period '{text}'{detail}: use {ACCEPTED_FORMS}")


def quarter(year: int, q: int) -> Period:
    first = date(year, 3 * q - 2, 1)
    last = (date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)) - timedelta(days=1)
    return Period(first, last, f"{year}Q{q}", f"{year}年第{_QUARTER_ZH[q]}季度")


def iso_week(year: int, week: int) -> Period:
    """ISO week ``week`` of ISO year ``year`` (Monday to Sunday). ValueError if it does not exist."""
    first = date.fromisocalendar(year, week, 1)
    last = first + timedelta(days=6)
    if first.year == last.year == year:
        span = f"{_md(first)}至{_md(last)}"
    else:  # a week across New Year
        span = f"{_ymd(first)}至{_ymd(last)}"
    return Period(first, last, f"{year}-W{week:02d}", f"{year}年第{week}周（{span}）")


def month(year: int, m: int) -> Period:
    first = date(year, m, 1)
    last = (date(year + 1, 1, 1) if m == 12 else date(year, m + 1, 1)) - timedelta(days=1)
    return Period(first, last, f"{year}-{m:02d}", f"{year}年{m}月")


def day_range(first: date, last: date) -> Period:
    """The inclusive range ``first..last`` (ValueError when last is before first)."""
    if last < first:
        raise ValueError(f"{last.isoformat()} is before {first.isoformat()}")
    return Period(first, last, f"{first.isoformat()}..{last.isoformat()}", f"{_ymd(first)}至{_ymd(last)}")


def parse_period(text: str) -> Period:
    """``2023Q3``, ``2023-W38`` (ISO week), ``2023-09`` or ``2023-07-01..2023-09-30``
    (inclusive). Raises :class:`BadInput` naming the value and the accepted forms."""
    raw = text if isinstance(text, str) else str(text)
    s = raw.strip()
    if m := _QUARTER.match(s):
        return quarter(int(m[1]), int(m[2]))
    if m := _WEEK.match(s):
        year, week = int(m[1]), int(m[2])
        try:
            return iso_week(year, week)
        except ValueError:
            weeks = date(year, 12, 28).isocalendar().week  # Dec 28 is always in the last ISO week
            raise _bad(raw, f"{year} has ISO weeks 1 to {weeks}") from None
    if m := _MONTH.match(s):
        year, mon = int(m[1]), int(m[2])
        if not 1 <= mon <= 12:
            raise _bad(raw, f"no month {mon}")
        return month(year, mon)
    if m := _RANGE.match(s):
        days: list[date] = []
        for part in (m[1], m[2]):
            try:
                days.append(date.fromisoformat(part))
            except ValueError:
                raise _bad(raw, f"{part} is not a date") from None
        try:
            return day_range(days[0], days[1])
        except ValueError as exc:
            raise _bad(raw, str(exc)) from None
    raise _bad(raw)


def iso_weeks(period: Period) -> list[Period]:
    """The whole ISO weeks the period touches, in order (the first and last may
    extend beyond the period's edges)."""
    weeks: list[Period] = []
    monday = period.first_day - timedelta(days=period.first_day.weekday())
    while monday <= period.last_day:
        iso = monday.isocalendar()
        weeks.append(iso_week(iso.year, iso.week))
        monday += timedelta(days=7)
    return weeks
