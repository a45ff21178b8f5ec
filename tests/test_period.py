"""Periods: the four forms, Shanghai midnights, ISO weeks, and one-line errors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from monitor.clock import SHANGHAI
from monitor.errors import BadInput
from monitor.period import ACCEPTED_FORMS, Period, iso_weeks, parse_period


@pytest.mark.parametrize(
    ("text", "first", "last", "key", "label"),
    [
        ("2023Q3", date(2023, 7, 1), date(2023, 9, 30), "2023Q3", "2023年第三季度"),
        ("2023q4", date(2023, 10, 1), date(2023, 12, 31), "2023Q4", "2023年第四季度"),
        ("2024-Q1", date(2024, 1, 1), date(2024, 3, 31), "2024Q1", "2024年第一季度"),
        ("2023-W38", date(2023, 9, 18), date(2023, 9, 24), "2023-W38", "2023年第38周（9月18日至9月24日）"),
        ("2023w1", date(2023, 1, 2), date(2023, 1, 8), "2023-W01", "2023年第1周（1月2日至1月8日）"),
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3), "2020-W53",
         "2020年第53周（2020年12月28日至2021年1月3日）"),
        ("2023-09", date(2023, 9, 1), date(2023, 9, 30), "2023-09", "2023年9月"),
        ("2024-2", date(2024, 2, 1), date(2024, 2, 29), "2024-02", "2024年2月"),
        ("2023-12", date(2023, 12, 1), date(2023, 12, 31), "2023-12", "2023年12月"),
        ("2023-07-01..2023-09-30", date(2023, 7, 1), date(2023, 9, 30), "2023-07-01..2023-09-30",
         "2023年7月1日至2023年9月30日"),
        (" 2023-09-30..2023-09-30 ", date(2023, 9, 30), date(2023, 9, 30), "2023-09-30..2023-09-30",
         "2023年9月30日至2023年9月30日"),
    ],
)
def test_forms(text: str, first: date, last: date, key: str, label: str) -> None:
    p = parse_period(text)
    assert (p.first_day, p.last_day, p.key, p.label_zh) == (first, last, key, label)
    assert p.check_date == last
    assert str(p) == key
    assert parse_period(p.key) == p  # the key parses back to the same period


def test_instants_are_shanghai_midnights_in_utc() -> None:
    p = parse_period("2023Q3")
    assert p.start == datetime(2023, 6, 30, 16, 0, tzinfo=UTC)
    assert p.end == datetime(2023, 9, 30, 16, 0, tzinfo=UTC)
    assert p.start.tzinfo is not None and p.start.utcoffset().total_seconds() == 0
    assert p.start.astimezone(SHANGHAI).isoformat() == "2023-07-01T00:00:00+08:00"
    assert p.end.astimezone(SHANGHAI).isoformat() == "2023-10-01T00:00:00+08:00"
    assert p.days == 92
    assert parse_period("2023-W38").days == 7


def test_contains_days_and_shanghai_instants() -> None:
    p = parse_period("2023-09")
    assert date(2023, 9, 1) in p and date(2023, 9, 30) in p
    assert date(2023, 10, 1) not in p
    # 2023-09-30 23:30 in Shanghai is 15:30 UTC: inside; 16:10 UTC is October 1st there.
    assert datetime(2023, 9, 30, 15, 30, tzinfo=UTC) in p
    assert datetime(2023, 9, 30, 16, 10, tzinfo=UTC) not in p


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("", None),
        ("2023", None),
        ("2023Q5", None),
        ("2023Q0", None),
        ("Q3 2023", None),
        ("2023-13", "no month 13"),
        ("2023-00", "no month 0"),
        ("2023-W00", "2023 has ISO weeks 1 to 52"),
        ("2021-W53", "2021 has ISO weeks 1 to 52"),
        ("2023-02-30..2023-03-01", "2023-02-30 is not a date"),
        ("2023-09-30..2023-07-01", "2023-07-01 is before 2023-09-30"),
        ("2023-07-01..", None),
        ("2023-07-01", None),
        ("2023/07", None),
    ],
)
def test_bad_period_is_one_line_naming_value_and_forms(text: str, detail: str | None) -> None:
    with pytest.raises(BadInput) as err:
        parse_period(text)
    assert err.value.exit_code == 2
    assert len(err.value.problems) == 1
    line = err.value.problems[0]
    assert "\n" not in line
    assert f"'{text}'" in line
    assert ACCEPTED_FORMS in line
    if detail:
        assert detail in line


def test_iso_weeks_of_a_quarter() -> None:
    weeks = iso_weeks(parse_period("2023Q3"))
    assert [w.key for w in weeks] == [f"2023-W{n:02d}" for n in range(26, 40)]
    assert weeks[0].first_day == date(2023, 6, 26)  # the week holding July 1st (a Saturday)
    assert weeks[-1].last_day == date(2023, 10, 1)
    assert all(isinstance(w, Period) and w.days == 7 for w in weeks)


def test_iso_weeks_of_a_week_and_across_new_year() -> None:
    assert [w.key for w in iso_weeks(parse_period("2023-W38"))] == ["2023-W38"]
    assert [w.key for w in iso_weeks(parse_period("2020-12-30..2021-01-05"))] == ["2020-W53", "2021-W01"]
    assert [w.key for w in iso_weeks(parse_period("2023-09-24..2023-09-25"))] == ["2023-W38", "2023-W39"]
