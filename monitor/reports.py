"""Feeds the reports: measurements from the store, verdicts from scoring, drawing by dashboards/.

The one place where the weekly report, the export and the bulletin get their
inputs, so the CLI, the daemon and the demo produce the same documents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.period import Period, iso_week, parse_week
from monitor.scoring import metrics_table

HISTORY_WEEKS = 8  # weeks shown in the trend and the heatmap


def previous_weeks(week: Period, count: int) -> list[Period]:
    """``count`` ISO weeks ending with ``week``, oldest first."""
    weeks = []
    for back in range(count - 1, -1, -1):
        year, num, _ = (week.first_day - timedelta(days=7 * back)).isocalendar()
        weeks.append(iso_week(year, num))  # not parse_period: history may reach before FIRST_YEAR
    return weeks


def weekly_report(config: Any, store: Any, week_key: str, out_dir: Path | None = None, *,
                  send: bool = False, now: datetime | None = None) -> tuple[Any, list[Any]]:
    """Build (and with ``send`` e-mail) the weekly report of ``week_key``; returns (report, send results)."""
    from dashboards.charts import inquiries_frame
    from dashboards.weekly import build_weekly_report, send_weekly

    week = parse_week(week_key)
    history = {w.key: metrics_table(store, config, w, now=now) for w in previous_weeks(week, HISTORY_WEEKS)}
    verdicts = history[week.key]
    inquiries = inquiries_frame(store.inquiries_between(week.start, week.end))
    target = out_dir / week.key if out_dir is not None else None
    report = build_weekly_report(verdicts, week, target, history=history, inquiries=inquiries,
                                 policy=config.selected_policy)
    results = send_weekly(config, store, report, week.key) if send else []
    return report, results
