"""Names, colours and small formatting helpers shared by the dashboards.

Everything a person reads is Chinese; identifiers stay English. The export
columns are SPEC's (``--headers en``) with their Chinese names (``--headers zh``)
in the same order.

The pass rate is always taken from ``monitor.scoring`` (one home for each rule);
:func:`pass_rate` and :func:`format_rate` only fall back to an identical local
computation while that module does not exist yet.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from monitor.period import Period

# --------------------------------------------------------------------------- export columns

#: SPEC "Export columns", in order.
EXPORT_COLUMNS: tuple[str, ...] = (
    "account_id",
    "account_name",
    "unit",
    "category",
    "inquiries_sent",
    "inquiries_answered_in_time",
    "response_rate",
    "median_reply_minutes",
    "p90_reply_minutes",
    "columns_checked",
    "columns_broken",
    "broken_column_rate",
    "last_update",
    "max_gap_days",
    "privacy_findings",
    "verdict",
    "reasons",
)

#: Chinese header of each export column (``--headers zh``).
ZH_HEADERS: dict[str, str] = {
    "account_id": "账号ID",
    "account_name": "账号名称",
    "unit": "主办单位",
    "category": "类别",
    "inquiries_sent": "测试留言数",
    "inquiries_answered_in_time": "按时答复数",
    "response_rate": "答复率",
    "median_reply_minutes": "回复时长中位数（分钟）",
    "p90_reply_minutes": "回复时长P90（分钟）",
    "columns_checked": "检查栏目数",
    "columns_broken": "不可用栏目数",
    "broken_column_rate": "栏目不可用率",
    "last_update": "最后更新时间",
    "max_gap_days": "最长未更新天数",
    "privacy_findings": "隐私泄露数",
    "verdict": "结论",
    "reasons": "问题",
}

TEXT_COLUMNS = frozenset({"account_id", "account_name", "unit", "category", "verdict", "reasons"})
INT_COLUMNS = frozenset(
    {"inquiries_sent", "inquiries_answered_in_time", "columns_checked", "columns_broken", "privacy_findings"}
)
RATE_COLUMNS = frozenset({"response_rate", "broken_column_rate"})
#: Float columns and the decimals they are written with.
FLOAT_DECIMALS: dict[str, int] = {"median_reply_minutes": 1, "p90_reply_minutes": 1, "max_gap_days": 1}
RATE_DECIMALS = 4
DATETIME_COLUMNS = frozenset({"last_update"})


def headers_for(headers: str) -> list[str]:
    """The header row for ``headers='en'`` or ``'zh'``."""
    if headers == "en":
        return list(EXPORT_COLUMNS)
    if headers == "zh":
        return [ZH_HEADERS[c] for c in EXPORT_COLUMNS]
    raise ValueError(f"headers must be 'zh' or 'en', not {headers!r}")


# --------------------------------------------------------------------------- verdicts

PASS = "合格"
FAIL = "不合格"
UNKNOWN = "无法判定"
VERDICTS: tuple[str, ...] = (PASS, FAIL, UNKNOWN)

#: Chart colours (fill) per verdict; "no data" is the week an account was not in the frame.
VERDICT_COLORS: dict[str, str] = {PASS: "#4caf50", FAIL: "#e53935", UNKNOWN: "#b0bec5"}
NO_DATA_COLOR = "#eeeeee"
NO_DATA_LABEL = "无数据"

#: Excel "good/bad/neutral" cell styles: (fill, font colour).
VERDICT_XLSX_STYLE: dict[str, tuple[str, str]] = {
    PASS: ("C6EFCE", "006100"),
    FAIL: ("FFC7CE", "9C0006"),
    UNKNOWN: ("FFEB9C", "9C5700"),
}

# Inquiry outcomes (store states) as shown in charts.
INQUIRY_OUTCOME_LABELS: dict[str, str] = {"answered": "按时答复", "late": "超期答复", "unanswered": "未答复"}
INQUIRY_OUTCOME_COLORS: dict[str, str] = {"answered": "#2e7d32", "late": "#ef6c00", "unanswered": "#c62828"}

REASON_SEPARATOR = "；"


# --------------------------------------------------------------------------- text width and wrapping


def char_width(ch: str) -> int:
    """Display columns of one character: CJK (wide/fullwidth) count 2."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    """Display columns of ``text`` (the widest line when it has several)."""
    return max((sum(char_width(c) for c in line) for line in str(text).split("\n")), default=0)


def wrap_cjk(text: str, width: int, max_lines: int = 2) -> str:
    """Wrap ``text`` to lines of at most ``width`` display columns (CJK counts 2).

    Chinese has no spaces to break at, so lines break between any characters;
    ASCII runs are kept whole where they fit. Beyond ``max_lines`` the last line
    ends with "…".
    """
    text = " ".join(str(text).split())
    lines: list[str] = []
    line, used = "", 0
    for ch in text:
        w = char_width(ch)
        if used + w > width and line:
            lines.append(line.rstrip())
            line, used = ("" if ch == " " else ch), (0 if ch == " " else w)
        else:
            line += ch
            used += w
    if line:
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and display_width(last) + 1 > width:
            last = last[:-1]
        lines = [*lines[: max_lines - 1], last + "…"]
    return "\n".join(lines)


def account_labels(frame: pd.DataFrame) -> dict[str, str]:
    """account_id -> what a person calls it (the account name; the id when names repeat or are missing)."""
    ids = [str(x) for x in frame["account_id"]]
    if "account_name" in frame.columns:
        names = [("" if _missing(n) else str(n)) for n in frame["account_name"]]
    else:
        names = [""] * len(ids)
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    return {i: (n if n and counts[n] == 1 else (f"{n}（{i}）" if n else i)) for i, n in zip(ids, names)}


# --------------------------------------------------------------------------- numbers


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


is_missing = _missing


def half_up(value: float | Fraction | Decimal, decimals: int = 1) -> Decimal:
    """Round the way reports do (四舍五入), not banker's rounding."""
    if isinstance(value, Fraction):
        dec = Decimal(value.numerator) / Decimal(value.denominator)
    else:
        dec = Decimal(repr(float(value))) if not isinstance(value, Decimal) else value
    return dec.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def percent_text(part: int, whole: int, decimals: int = 1) -> str:
    """``part/whole`` as a percentage with one decimal: 1/21 -> ``4.8%``."""
    if whole <= 0:
        return "—"
    return f"{half_up(Fraction(part * 100, whole), decimals)}%"


# --------------------------------------------------------------------------- pass rate (monitor.scoring)


def pass_rate(verdicts: pd.DataFrame) -> tuple[int, int, float]:
    """(passed, checked, rate): scoring's one definition (``无法判定`` is neither)."""
    from monitor.scoring import pass_rate as scoring_pass_rate

    passed, checked, rate = scoring_pass_rate(verdicts)
    return int(passed), int(checked), float(rate)


def format_rate(rate: float) -> str:
    """``合格率61.9%``, as scoring writes it."""
    from monitor.scoring import format_rate as scoring_format_rate

    return str(scoring_format_rate(rate))


def rate_number(rate: float) -> str:
    """The number part of :func:`format_rate`: ``61.9%``."""
    text = format_rate(rate)
    return text.removeprefix("合格率")


# --------------------------------------------------------------------------- periods (monitor.period)


@dataclass(frozen=True)
class PeriodInfo:
    key: str
    label_zh: str
    first_day: date | None
    last_day: date | None

    @property
    def span_zh(self) -> str:
        """``2023年7月1日至2023年9月30日`` (empty when the days are unknown)."""
        if self.first_day is None or self.last_day is None:
            return ""
        return f"{date_zh(self.first_day)}至{date_zh(self.last_day)}"


def date_zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def period_info(period: Period | str) -> PeriodInfo:
    """Key, Chinese label and days of a ``monitor.period.Period`` (or of its text form)."""
    if isinstance(period, str):
        from monitor.period import parse_period

        period = parse_period(period)
    return PeriodInfo(period.key, period.label_zh or period.key, period.first_day, period.last_day)


def week_tick(week_key: str) -> str:
    """``2023-W38`` -> ``W38`` for chart axes."""
    _, sep, week = str(week_key).partition("-W")
    return f"W{week}" if sep else str(week_key)


# --------------------------------------------------------------------------- reasons and rules


def split_reasons(reasons: Any) -> list[str]:
    """The ``；``-joined reasons of one account as a list (empty when none)."""
    if _missing(reasons):
        return []
    return [p.strip() for p in str(reasons).split(REASON_SEPARATOR) if p.strip()]


def rule_ids(value: Any) -> list[str]:
    """``failed_rules`` of one row as a list of ids (list, tuple, array or a comma/；-joined string)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.replace(REASON_SEPARATOR, ",").split(",") if p.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value if not _missing(v)]
    return [] if _missing(value) else [str(value)]


def calendar_fallback_note(years: Iterable[int]) -> str:
    listed = "、".join(f"{y}年" for y in sorted(set(years)))
    return (f"{listed}的法定节假日和调休安排未知，答复期限暂按周一至周五为工作日计算；"
            f"请在 accounts.yaml 的 calendar.extra_holidays / extra_workdays 中补充国务院公布的安排。")


def frame_notes(*frames: pd.DataFrame | None) -> list[str]:
    """Notes the reports must show about how a frame was computed, deduplicated, in order:
    the years whose working days fell back to Monday-Friday (``attrs['calendar_fallback_years']``,
    set by monitor.metrics) and any ``attrs['warnings']`` (text)."""
    seen: list[str] = []
    years: set[int] = set()
    for frame in frames:
        if frame is None:
            continue
        years.update(int(y) for y in frame.attrs.get("calendar_fallback_years") or ())
        notes = frame.attrs.get("warnings") or ()
        for note in [notes] if isinstance(notes, str) else notes:
            if str(note) not in seen:
                seen.append(str(note))
    return ([calendar_fallback_note(years)] if years else []) + seen
