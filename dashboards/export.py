"""CSV/XLSX export of the per-account metrics and verdicts (``wxmon export``).

Input: the scored frame of ``monitor.scoring.score`` (docs/metrics.md). Output:
SPEC's export columns, in order, with English (``headers='en'``) or Chinese
(``headers='zh'``) names. Only those columns are written, so nothing else in the
frame (and never a secret) can leak into a file.

CSV: UTF-8 with a BOM and CRLF line endings, so Excel and WPS open it with the
right encoding. Rates are ratios 0..1 (4 decimals), minutes and days have one
decimal, ``last_update`` is Shanghai wall time ``YYYY-MM-DD HH:MM:SS``, a missing
value is an empty field. Values are identical under both header languages.

XLSX: bold header, frozen below the header, an auto-filter, widths sized to the
content (CJK characters count double), numbers as numbers (rates with a percent
format), ids as text, ``last_update`` as an Excel datetime in Shanghai time, the
verdict cell coloured (不合格 red, 合格 green, 无法判定 amber).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from dashboards.labels import (
    DATETIME_COLUMNS,
    EXPORT_COLUMNS,
    FLOAT_DECIMALS,
    INT_COLUMNS,
    RATE_COLUMNS,
    RATE_DECIMALS,
    TEXT_COLUMNS,
    VERDICT_XLSX_STYLE,
    display_width,
    headers_for,
    is_missing,
)
from monitor.clock import SHANGHAI
from monitor.errors import BadInput
from monitor.files import write_output

Headers = Literal["zh", "en"]
FORMATS = (".csv", ".xlsx")
DATETIME_TEXT_FORMAT = "%Y-%m-%d %H:%M:%S"

# Spreadsheet programs run a cell starting with these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------- values


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The SPEC columns of ``df``, in order. Raises ValueError naming missing columns."""
    missing = [c for c in EXPORT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"the frame lacks export column(s): {', '.join(missing)} (see docs/metrics.md)")
    return df.loc[:, list(EXPORT_COLUMNS)]


def _local_naive(value: Any) -> datetime | None:
    """An aware instant as naive Asia/Shanghai wall time (naive input is taken as Shanghai already)."""
    if is_missing(value):
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(SHANGHAI).tz_localize(None)
    local: datetime = ts.to_pydatetime()
    return local.replace(microsecond=0)  # Excel has no sub-second precision worth keeping here


def _number(value: Any) -> float | None:
    if is_missing(value):
        return None
    number = float(value)
    return None if math.isinf(number) or math.isnan(number) else number


def cell_value(column: str, value: Any) -> str | int | float | datetime | None:
    """A typed, native Python value of one export cell (None when missing)."""
    if column in DATETIME_COLUMNS:
        return _local_naive(value)
    if column in INT_COLUMNS:
        number = _number(value)
        return None if number is None else round(number)
    if column in RATE_COLUMNS:
        number = _number(value)
        return None if number is None else round(number, RATE_DECIMALS)
    if column in FLOAT_DECIMALS:
        number = _number(value)
        return None if number is None else round(number, FLOAT_DECIMALS[column])
    if is_missing(value):
        return None
    return str(value)


def _guard_text(text: str) -> str:
    # A leading apostrophe is what Excel itself uses to mark "this is text".
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_text(column: str, value: str | int | float | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_TEXT_FORMAT)
    if isinstance(value, float):
        decimals = RATE_DECIMALS if column in RATE_COLUMNS else FLOAT_DECIMALS.get(column, 4)
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
        return text or "0"
    if isinstance(value, int):
        return str(value)
    return _guard_text(value) if column in TEXT_COLUMNS and column != "account_id" else value


def _rows(df: pd.DataFrame) -> list[list[str | int | float | datetime | None]]:
    frame = export_frame(df)
    columns = list(frame.columns)
    return [[cell_value(c, v) for c, v in zip(columns, row)] for row in frame.itertuples(index=False, name=None)]


# --------------------------------------------------------------------------- CSV


def csv_bytes(df: pd.DataFrame, headers: Headers = "zh") -> bytes:
    """The CSV export as bytes (UTF-8 with BOM, CRLF)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(headers_for(headers))
    for row in _rows(df):
        writer.writerow([_csv_text(c, v) for c, v in zip(EXPORT_COLUMNS, row)])
    return buf.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- XLSX

_NUMBER_FORMATS: dict[str, str] = {
    **dict.fromkeys(INT_COLUMNS, "0"),
    **dict.fromkeys(RATE_COLUMNS, "0.0%"),
    **dict.fromkeys(FLOAT_DECIMALS, "0.0"),
    **dict.fromkeys(DATETIME_COLUMNS, "yyyy-mm-dd hh:mm"),
}
_MIN_WIDTH, _MAX_WIDTH, _REASONS_WIDTH = 8, 40, 60


def _xlsx_display(column: str, value: Any) -> str:
    """Roughly what Excel shows in the cell, for sizing the column."""
    if value is None:
        return ""
    if column in RATE_COLUMNS:
        return f"{value * 100:.1f}%"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def xlsx_bytes(df: pd.DataFrame, headers: Headers = "zh", *, sheet_title: str = "监测结果") -> bytes:
    """The XLSX export as bytes."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    rows = _rows(df)
    header = headers_for(headers)
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_title[:31]  # Excel's limit
    wb.properties.creator = "wxmon"

    bold = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="D9E1F2")
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for col, text in enumerate(header, start=1):
        cell = ws.cell(row=1, column=col, value=text)
        cell.font, cell.fill, cell.alignment = bold, header_fill, center

    verdict_col = EXPORT_COLUMNS.index("verdict")
    styles = {
        verdict: (PatternFill("solid", fgColor=fill), Font(bold=True, color=font))
        for verdict, (fill, font) in VERDICT_XLSX_STYLE.items()
    }
    wrap = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows, start=2):
        for c, (column, value) in enumerate(zip(EXPORT_COLUMNS, row), start=1):
            cell = ws.cell(row=r, column=c)
            cell.value = value
            if isinstance(value, str):
                # openpyxl would store "=..." as a formula; text stays text.
                cell.data_type = "s"
            if column in _NUMBER_FORMATS:
                cell.number_format = _NUMBER_FORMATS[column]
            elif column == "account_id":
                cell.number_format = "@"
            if column == "reasons":
                cell.alignment = wrap
            if c - 1 == verdict_col and isinstance(value, str) and value in styles:
                cell.fill, cell.font = styles[value]

    for c, (column, title) in enumerate(zip(EXPORT_COLUMNS, header), start=1):
        widest = max([display_width(title)] + [display_width(_xlsx_display(column, row[c - 1])) for row in rows])
        limit = _REASONS_WIDTH if column == "reasons" else _MAX_WIDTH
        ws.column_dimensions[get_column_letter(c)].width = max(_MIN_WIDTH, min(limit, widest + 2))

    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(1, len(rows) + 1)}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- files

_WRITERS: dict[str, Callable[[pd.DataFrame, Headers], bytes]] = {".csv": csv_bytes, ".xlsx": xlsx_bytes}


def write_export(df: pd.DataFrame, path: str | os.PathLike[str], headers: Headers = "zh") -> Path:
    """Write the export to ``path``; the format follows the extension (``.csv`` or ``.xlsx``).

    The file is replaced atomically (a reader never sees half a file). Raises
    :class:`BadInput` (one line naming the path) for an unknown extension, a bad
    ``headers`` value or a path that cannot be written, RuntimeFailure (exit 1)
    for a full disk.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        raise BadInput(f"{target}: unknown export format '{target.suffix or '(none)'}' (use .csv or .xlsx)")
    if headers not in ("zh", "en"):
        raise BadInput(f"{target}: --headers must be zh or en, not {headers!r}")
    data = _WRITERS[suffix](df, headers)
    write_output(target, data)
    return target
