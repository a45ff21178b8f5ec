"""Working days in mainland China and deadlines counted in them.

chinese-calendar knows the State Council's holidays and make-up working days for
the years it was built with; accounts.yaml can add later years. A year known to
neither falls back to Monday-Friday, with a warning logged once and listed in
``fallback_years`` so reports can say so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import chinese_calendar

from monitor.clock import SHANGHAI, as_utc

log = logging.getLogger(__name__)


class WorkCalendar:
    def __init__(self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()) -> None:
        self.extra_holidays = frozenset(extra_holidays)
        self.extra_workdays = frozenset(extra_workdays)
        self._configured_years = {d.year for d in self.extra_holidays | self.extra_workdays}
        self.fallback_years: set[int] = set()

    def is_workday(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if day.year not in self._configured_years:
            try:
                return bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                self._fallback(day.year)
        return day.weekday() < 5

    def _fallback(self, year: int) -> None:
        if year not in self.fallback_years:
            self.fallback_years.add(year)
            log.warning(
                "no holiday calendar for %d: working days fall back to Monday-Friday; "
                "add calendar.extra_holidays/extra_workdays to accounts.yaml", year)

    def deadline(self, sent_at: datetime, working_days: int) -> datetime:
        """End (Shanghai midnight) of the N-th working day after the day of ``sent_at``, in UTC."""
        day = as_utc(sent_at).astimezone(SHANGHAI).date()
        counted = 0
        while counted < working_days:
            day += timedelta(days=1)
            if self.is_workday(day):
                counted += 1
        return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(as_utc(sent_at).tzinfo)
