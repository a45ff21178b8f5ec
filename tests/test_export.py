"""CSV/XLSX export: SPEC's columns, Excel-friendly encoding, types that survive the round trip."""

from __future__ import annotations

import csv
import io
import math
from datetime import datetime
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from dashboards.export import csv_bytes, write_export
from dashboards.labels import EXPORT_COLUMNS, ZH_HEADERS
from monitor.errors import BadInput

try:
    from dashboard_frames import bulletin_frame, many_accounts_frame
except ImportError:  # pragma: no cover - run from the repository root
    from tests.dashboard_frames import bulletin_frame, many_accounts_frame

SPEC_COLUMNS = ["account_id", "account_name", "unit", "category", "inquiries_sent", "inquiries_answered_in_time",
                "response_rate", "median_reply_minutes", "p90_reply_minutes", "columns_checked", "columns_broken",
                "broken_column_rate", "last_update", "max_gap_days", "privacy_findings", "verdict", "reasons"]
ZH_ROW = ["账号ID", "账号名称", "主办单位", "类别", "测试留言数", "按时答复数", "答复率", "回复时长中位数（分钟）",
          "回复时长P90（分钟）", "检查栏目数", "不可用栏目数", "栏目不可用率", "最后更新时间", "最长未更新天数",
          "隐私泄露数", "结论", "问题"]


@pytest.fixture
def frame() -> pd.DataFrame:
    df = bulletin_frame()
    # A secret-looking extra column must never reach a file.
    df["appsecret"] = "SECRET-do-not-export"
    return df


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_columns_constant_is_spec() -> None:
    assert list(EXPORT_COLUMNS) == SPEC_COLUMNS
    assert [ZH_HEADERS[c] for c in EXPORT_COLUMNS] == ZH_ROW


def test_csv_en_bom_crlf_and_exact_columns(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = write_export(frame, tmp_path / "out.csv", headers="en")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:]
    assert body.count(b"\r\n") == len(frame) + 1 and body.count(b"\n") == body.count(b"\r\n")
    rows = _read_csv(path)
    assert rows[0] == SPEC_COLUMNS
    assert len(rows) == len(frame) + 1
    assert b"SECRET" not in raw


def test_csv_zh_header_and_same_values(frame: pd.DataFrame, tmp_path: Path) -> None:
    zh = _read_csv(write_export(frame, tmp_path / "zh.csv", headers="zh"))
    en = _read_csv(write_export(frame, tmp_path / "en.csv", headers="en"))
    assert zh[0] == ZH_ROW
    assert zh[1:] == en[1:]


def test_csv_numbers_parse_back_and_ids_keep_zeros(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = write_export(frame, tmp_path / "out.csv", headers="en")
    back = pd.read_csv(path, encoding="utf-8-sig", dtype={"account_id": str})
    assert back["account_id"].tolist() == frame["account_id"].tolist()
    assert "007" in back["account_id"].tolist()
    assert back["inquiries_sent"].dtype.kind == "i"
    assert back["inquiries_sent"].tolist() == frame["inquiries_sent"].tolist()
    assert back["response_rate"].dtype.kind == "f"
    assert back["response_rate"].round(4).tolist() == frame["response_rate"].round(4).tolist()
    assert back["median_reply_minutes"].tolist() == frame["median_reply_minutes"].round(1).tolist()
    assert back["verdict"].tolist() == frame["verdict"].tolist()
    # last_update: Shanghai wall time, seconds precision
    first = pd.Timestamp(frame["last_update"].iloc[0]).tz_convert("Asia/Shanghai").tz_localize(None)
    assert pd.Timestamp(back["last_update"].iloc[0]) == first.floor("s")


def test_csv_missing_values_are_empty_and_formulas_neutralised(tmp_path: Path) -> None:
    df = many_accounts_frame(40)
    df.loc[1, "account_name"] = "=HYPERLINK(\"http://evil\")"
    rows = _read_csv(write_export(df, tmp_path / "m.csv", headers="en"))
    unknown = rows[1]  # account 0 has no measurement at all
    assert unknown[SPEC_COLUMNS.index("response_rate")] == ""
    assert unknown[SPEC_COLUMNS.index("last_update")] == ""
    assert unknown[SPEC_COLUMNS.index("verdict")] == "无法判定"
    assert rows[2][SPEC_COLUMNS.index("account_name")].startswith("'=")


def test_csv_bytes_match_file(frame: pd.DataFrame, tmp_path: Path) -> None:
    assert write_export(frame, tmp_path / "a.csv").read_bytes() == csv_bytes(frame, "zh")


def test_xlsx_types_and_layout(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame.loc[0, "reasons"] = "=1+1"  # text stays text, never a formula
    path = write_export(frame, tmp_path / "out.xlsx", headers="zh")
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == ZH_ROW
    assert all(c.font.bold for c in ws[1])
    assert ws.freeze_panes == "A2"
    assert ws.max_row == len(frame) + 1
    col = {name: i + 1 for i, name in enumerate(SPEC_COLUMNS)}
    ids = [ws.cell(row=r, column=col["account_id"]).value for r in range(2, ws.max_row + 1)]
    assert ids == frame["account_id"].tolist() and all(isinstance(v, str) for v in ids)
    assert "007" in ids
    sent = ws.cell(row=2, column=col["inquiries_sent"])
    assert isinstance(sent.value, int) and sent.data_type == "n"
    rate = ws.cell(row=3, column=col["response_rate"])
    assert isinstance(rate.value, float) and "%" in rate.number_format
    assert math.isclose(rate.value, frame["response_rate"].iloc[1], abs_tol=1e-4)
    when = ws.cell(row=2, column=col["last_update"])
    assert isinstance(when.value, datetime) and when.value.tzinfo is None
    expected = pd.Timestamp(frame["last_update"].iloc[0]).tz_convert("Asia/Shanghai").tz_localize(None)
    assert when.value == expected.floor("s").to_pydatetime()
    reasons = ws.cell(row=2, column=col["reasons"])
    assert reasons.value == "=1+1" and reasons.data_type == "s"
    # the verdict column: 不合格 filled red, 合格 green
    verdicts = {ws.cell(row=r, column=col["verdict"]).value: ws.cell(row=r, column=col["verdict"])
                for r in range(2, ws.max_row + 1)}
    assert verdicts["不合格"].fill.fgColor.rgb.endswith("FFC7CE")
    assert verdicts["合格"].fill.fgColor.rgb.endswith("C6EFCE")
    # widths: CJK counted double, the name column wider than the id column
    width = {name: ws.column_dimensions[openpyxl.utils.get_column_letter(i)].width for name, i in col.items()}
    longest_unit = max(frame["unit"], key=len)  # all CJK: two columns per character, plus padding
    assert width["unit"] == 2 * len(longest_unit) + 2
    assert width["account_name"] == 40  # the 20-character name hits the cap
    assert width["account_id"] < width["unit"]
    assert all(v is None or "SECRET" not in str(v) for row in ws.iter_rows(values_only=True) for v in row)


def test_xlsx_en_headers(frame: pd.DataFrame, tmp_path: Path) -> None:
    ws = openpyxl.load_workbook(write_export(frame, tmp_path / "out.xlsx", headers="en")).active
    assert [c.value for c in ws[1]] == SPEC_COLUMNS


@pytest.mark.parametrize("name", ["out.txt", "out", "out.xls"])
def test_unknown_extension_is_bad_input(frame: pd.DataFrame, tmp_path: Path, name: str) -> None:
    with pytest.raises(BadInput) as info:
        write_export(frame, tmp_path / name)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / name) in message
    assert not (tmp_path / name).exists()


def test_missing_directory_is_bad_input(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        write_export(frame, tmp_path / "nope" / "out.csv")


def test_frame_without_export_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="verdict"):
        write_export(bulletin_frame().drop(columns=["verdict"]), tmp_path / "x.csv")
