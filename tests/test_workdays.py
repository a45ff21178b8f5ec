import logging
from datetime import date, datetime

from monitor.clock import SHANGHAI
from monitor.workdays import WorkCalendar


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_plain_week_counts_weekdays():
    cal = WorkCalendar()
    # Monday 2023-09-11 10:00 + 3 working days -> end of Thursday 09-14
    assert cal.deadline(local(2023, 9, 11, 10), 3) == local(2023, 9, 15, 0)


def test_national_day_2023_holiday_and_makeup_days():
    cal = WorkCalendar()
    # 2023: 09-29..10-06 off, Sat 10-07 and Sun 10-08 are make-up working days.
    assert not cal.is_workday(date(2023, 10, 2))
    assert cal.is_workday(date(2023, 10, 7))
    # Sent Thu 09-28: working days after are 10-07, 10-08, 10-09.
    assert cal.deadline(local(2023, 9, 28, 20), 3) == local(2023, 10, 10, 0)


def test_message_on_weekend_counts_from_next_working_day():
    cal = WorkCalendar()
    assert cal.deadline(local(2023, 9, 16, 11), 1) == local(2023, 9, 19, 0)


def test_year_beyond_library_uses_extra_days():
    cal = WorkCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 1, 2)])
    assert not cal.is_workday(date(2027, 1, 1))  # a Friday, configured holiday
    assert cal.is_workday(date(2027, 1, 2))  # a Saturday, configured make-up day
    assert cal.fallback_years == set()


def test_unknown_year_falls_back_to_weekends_with_warning(caplog):
    cal = WorkCalendar()
    with caplog.at_level(logging.WARNING):
        assert cal.is_workday(date(2031, 1, 1))  # a Wednesday
        assert not cal.is_workday(date(2031, 1, 4))  # a Saturday
    assert cal.fallback_years == {2031}
    assert sum("2031" in r.message for r in caplog.records) == 1
