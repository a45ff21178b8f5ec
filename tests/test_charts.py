"""Charts: Chinese renders with real glyphs (any missing-glyph warning fails), 200 accounts paginate."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
from PIL import Image

from dashboards import charts

try:
    from dashboard_frames import bulletin_frame, inquiries_for, many_accounts_frame, weekly_frames
except ImportError:  # pragma: no cover
    from tests.dashboard_frames import bulletin_frame, inquiries_for, many_accounts_frame, weekly_frames

WEEKS = [f"2023-W{w}" for w in range(27, 40)]


@pytest.fixture(autouse=True)
def _isolated_rc() -> Iterator[None]:
    with matplotlib.rc_context():
        yield


def strict(render: Callable[[], list[bytes]]) -> list[bytes]:
    """Render with every warning an error: 'Glyph N missing from font(s)' fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return render()


def _size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as image:
        image.verify()
        return image.size


@pytest.fixture(scope="module")
def quarter() -> pd.DataFrame:
    return bulletin_frame()


def test_detector_really_catches_missing_glyphs() -> None:
    # Guard for the guard: DejaVu alone has no Han glyphs, and strict() must turn that into a failure.
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        fig = Figure()
        fig.subplots().set_title("合格率")
        with pytest.raises(UserWarning, match="missing from font"):
            strict(lambda: [fig.savefig(io.BytesIO(), format="png")])


def test_each_chart_renders_chinese(quarter: pd.DataFrame) -> None:
    frames = weekly_frames(quarter, WEEKS)
    renders = {
        "trend": lambda: charts.pass_rate_trend(frames),
        "heatmap": lambda: charts.verdict_heatmap(frames),
        "freshness": lambda: charts.freshness_chart(quarter, period_label="2023年第三季度"),
        "columns": lambda: charts.broken_columns_chart(quarter, period_label="2023年第三季度"),
        "latency": lambda: charts.latency_chart(inquiries_for(quarter), names=quarter, period_label="2023Q3"),
    }
    for name, render in renders.items():
        pngs = strict(render)
        assert len(pngs) == 1, name
        width, height = _size(pngs[0])
        assert width > 500 and height > 300, name


def test_two_hundred_accounts_paginate() -> None:
    big = many_accounts_frame(200)
    for render in (lambda: charts.freshness_chart(big), lambda: charts.broken_columns_chart(big)):
        pngs = strict(render)
        assert len(pngs) == 5
        assert len({_size(p) for p in pngs}) == 1  # same page size: 40 accounts on each
    heat = strict(lambda: charts.verdict_heatmap(weekly_frames(big, WEEKS[-4:])))
    assert len(heat) == 5
    lat = strict(lambda: charts.latency_chart(inquiries_for(big, per_account=3), names=big))
    assert len(lat) == 5


@pytest.mark.parametrize(("n", "sizes"), [(0, []), (1, [1]), (40, [40]), (41, [21, 20]), (200, [40] * 5),
                                          (201, [34, 34, 34, 34, 34, 31])])
def test_page_slices(n: int, sizes: list[int]) -> None:
    assert [s.stop - s.start for s in charts.page_slices(n, 40)] == sizes


def test_worst_first_ordering(quarter: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    original = charts._y_labels

    def spy(ax: object, labels: list[str]) -> None:
        seen.append(list(labels))
        original(ax, labels)

    monkeypatch.setattr(charts, "_y_labels", spy)
    strict(lambda: charts.freshness_chart(quarter))
    stale = set(quarter.loc[quarter["days_since_update"] > 14, "account_name"])
    assert set(seen[-1][: len(stale)]) == stale
    strict(lambda: charts.broken_columns_chart(quarter))
    assert seen[-1][0] == quarter.sort_values("columns_broken", ascending=False, kind="stable")["account_name"].iloc[0]


def test_latency_input_variants(quarter: pd.DataFrame) -> None:
    inq = inquiries_for(quarter)
    # explicit deadline_minutes instead of sent_at/deadline_at
    explicit = inq.assign(deadline_minutes=(pd.to_datetime(inq["deadline_at"], utc=True)
                                            - pd.to_datetime(inq["sent_at"], utc=True)).dt.total_seconds() / 60)
    assert len(strict(lambda: charts.latency_chart(explicit.drop(columns=["sent_at", "deadline_at"])))) == 1
    # no deadline at all: hours, approximate line, still renders
    hours = inq.drop(columns=["sent_at", "deadline_at"])
    assert len(strict(lambda: charts.latency_chart(hours, working_days=3))) == 1
    # only open/error inquiries: nothing to draw
    assert charts.latency_chart(inq.assign(state="sent")) == []
    with pytest.raises(ValueError, match="latency_minutes"):
        charts.latency_chart(inq.drop(columns=["latency_minutes"]))


def test_deadline_normalisation_puts_the_deadline_at_working_days() -> None:
    q = pd.DataFrame({"account_id": ["a", "a"], "state": ["answered", "late"], "latency_minutes": [60.0, 600.0],
                      "deadline_minutes": [300.0, 300.0]})
    pos, normalised = charts._latency_positions(q, 3)
    assert normalised and pos.tolist() == pytest.approx([0.6, 6.0])


def test_weeks_long_form_is_accepted(quarter: pd.DataFrame) -> None:
    frames = weekly_frames(quarter, WEEKS[-3:])
    long = charts.weeks_long(frames)
    assert list(long.columns) == ["week", "account_id", "account_name", "verdict"]
    assert len(long) == 3 * len(quarter)
    assert charts.weekly_pass_rates(long) == charts.weekly_pass_rates(frames)
    assert len(strict(lambda: charts.verdict_heatmap(long))) == 1
    assert len(strict(lambda: charts.pass_rate_trend(long))) == 1


def test_weekly_pass_rates_are_known_figures(quarter: pd.DataFrame) -> None:
    # Weeks whose counts are known by construction (not recomputed with the scorer), given out of order.
    def verdicts(*values: str) -> pd.DataFrame:
        return quarter.assign(verdict=list(values))

    n = len(quarter)
    frames = {
        "2023-W39": verdicts(*["无法判定"] * n),                                   # nothing checked
        "2023-W37": quarter,                                                       # 13 of 21 (FAILURES)
        "2023-W38": verdicts(*["无法判定"] * 3, *["合格"] * (n - 3)),              # 18 of 18
        "2023-W36": verdicts("合格", *["不合格"] * 5, *["无法判定"] * 5, *["不合格"] * (n - 11)),  # 1 of 16
    }
    rates = charts.weekly_pass_rates(frames)
    assert [r[:3] for r in rates] == [("2023-W36", 1, 16), ("2023-W37", 13, 21), ("2023-W38", 18, 18),
                                      ("2023-W39", 0, 0)]
    assert [r[3] for r in rates[:3]] == pytest.approx([1 / 16, 13 / 21, 1.0])
    assert math.isnan(rates[3][3])
    assert f"{rates[1][3]:.1%}" == "61.9%"


def test_save_pngs(tmp_path: Path, quarter: pd.DataFrame) -> None:
    pngs = strict(lambda: charts.freshness_chart(quarter))
    assert [p.name for p in charts.save_pngs(pngs, tmp_path, "fresh")] == ["fresh.png"]
    assert [p.name for p in charts.save_pngs(pngs * 2, tmp_path, "x")] == ["x-1.png", "x-2.png"]
