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

from monitor.clock import SHANGHAI, UTC, to_local
from monitor.errors import BadInput

ACCEPTED_FORMS = "2023Q3, 2023-W38, 2023-09 or 2023-07-01..2023-09-30"
# Years a period may name: WeChat official accounts exist since 2012, and the far
# ends of the calendar overflow the date arithmetic (9999-12 has no "next month").
FIRST_YEAR, LAST_YEAR = 2000, 2099
# A longer range is almost surely a typo (2032 for 2023); a year-long review fits easily.
MAX_RANGE_DAYS = 3 * 366
_SHOWN_CHARS = 40  # how much of a bad value an error line repeats

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


def _shown(text: str) -> str:
    """The value as an error line can repeat it: one line, escaped, not too long."""
    shown = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS] + "..."


def _bad(text: str, why: str = "", forms: str = ACCEPTED_FORMS, what: str = "period") -> BadInput:
    detail = f" ({why})" if why else ""
    return BadInput(f"bad {what} '{_shown(text)}'{detail}: use {forms}")


def _check_year(raw: str, year: int, forms: str = ACCEPTED_FORMS, what: str = "period") -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _bad(raw, f"year {year} is outside {FIRST_YEAR} to {LAST_YEAR}", forms, what)


def quarter(year: int, q: int) -> Period:
    first = date(year, 3 * q - 2, 1)
    last = (date(year + 1, 1, 1) if q == 4 else date(year, 3 * q + 1, 1)) - timedelta(days=1)
    return Period(first, last, f"{year}Q{q}", f"{year}年第{_QUARTER_ZH[q]}季度")


def week_key(day: date) -> str:
    """The ISO week of a calendar day as wxmon names weeks everywhere, e.g. ``2023-W27``."""
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def week_key_at(at: datetime) -> str:
    """The ISO week of an instant in Asia/Shanghai: an inquiry's window."""
    return week_key(to_local(at).date())


def previous_week_key(at: datetime) -> str:
    """The ISO week before the one containing ``at`` (Shanghai): what a Monday report covers."""
    return week_key(to_local(at).date() - timedelta(days=7))


def iso_week(year: int, week: int) -> Period:
    """ISO week ``week`` of ISO year ``year`` (Monday to Sunday). ValueError if it does not exist."""
    first = date.fromisocalendar(year, week, 1)
    last = first + timedelta(days=6)
    if first.year == last.year == year:
        span = f"{_md(first)}至{_md(last)}"
    else:  # a week across New Year
        span = f"{_ymd(first)}至{_ymd(last)}"
    return Period(first, last, week_key(first), f"{year}年第{week}周（{span}）")


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
    (inclusive), years 2000 to 2099, a range at most ``MAX_RANGE_DAYS`` long. Raises
    :class:`BadInput` (one line naming the value and the accepted forms) for anything else."""
    raw = text if isinstance(text, str) else str(text)
    s = raw.strip()
    if m := _QUARTER.match(s):
        _check_year(raw, int(m[1]))
        return quarter(int(m[1]), int(m[2]))
    if m := _WEEK.match(s):
        return _parse_week(raw, m, ACCEPTED_FORMS, "period")
    if m := _MONTH.match(s):
        year, mon = int(m[1]), int(m[2])
        _check_year(raw, year)
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
            _check_year(raw, days[-1].year)
        try:
            period = day_range(days[0], days[1])
        except ValueError as exc:
            raise _bad(raw, str(exc)) from None
        if period.days > MAX_RANGE_DAYS:
            raise _bad(raw, f"{period.days} days; a range can span at most {MAX_RANGE_DAYS} days")
        return period
    raise _bad(raw)


def parse_week(text: str) -> Period:
    """An ISO week like ``2023-W38`` (what a weekly report covers); BadInput for anything else."""
    raw = text if isinstance(text, str) else str(text)
    forms = "an ISO week like 2023-W38"
    if m := _WEEK.match(raw.strip()):
        return _parse_week(raw, m, forms, "week")
    raise _bad(raw, "", forms, "week")


def _parse_week(raw: str, m: re.Match[str], forms: str, what: str) -> Period:
    year, week = int(m[1]), int(m[2])
    _check_year(raw, year, forms, what)
    try:
        return iso_week(year, week)
    except ValueError:
        weeks = date(year, 12, 28).isocalendar().week  # Dec 28 is always in the last ISO week
        raise _bad(raw, f"{year} has ISO weeks 1 to {weeks}", forms, what) from None


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
