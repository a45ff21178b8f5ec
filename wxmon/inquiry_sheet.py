"""The inspectors' spreadsheet: ``wxmon inquiry template`` writes the open tasks as .csv or
.xlsx; ``wxmon inquiry import`` reads a filled-in copy back.

Columns are found by their (Chinese) header, so an inspector may reorder them or delete the
informational ones; ``任务编号`` and at least one of ``发送时间`` / ``回复时间`` must stay. One
row records a task's send time and/or one reply (more replies: more rows with the same task
number). Row numbers in messages are the spreadsheet's own (the header is row 1).

An import checks every row first and applies nothing when any row is wrong (exit 2, one line
per problem naming the row and column); a good file is applied in one transaction. The file is
read with bounds (size, rows, cell length, the xlsx archive's unpacked size) and its cells are
never trusted to have the type they should.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.clock import to_local
from monitor.config import Config
from monitor.errors import BadInput, file_error
from monitor.evidence import Screenshot, check_screenshot
from monitor.store import Store
from monitor.store.tasks import InquiryTask
from probes.channels.base import MINUTE, floor_to
from probes.channels.manual import TaskDesk, parse_time

ID, ACCOUNT, TESTER, QUESTION, SEND_BY = "任务编号", "公众号", "测试微信号", "留言内容", "发送截止"
SENT, REPLY_AT, REPLY_TEXT, AUTO, SHOT = "发送时间", "回复时间", "回复内容", "自动回复", "截图文件"
HEADERS = (ID, ACCOUNT, TESTER, QUESTION, SEND_BY, SENT, REPLY_AT, REPLY_TEXT, AUTO, SHOT)
FILLED = (SENT, REPLY_AT, REPLY_TEXT, AUTO, SHOT)  # what the inspector fills in
MAX_FILE_BYTES = 5_000_000
MAX_UNPACKED_BYTES = 50_000_000
MAX_ROWS = 5000
MAX_CELL_CHARS = 1000
_YES, _NO = {"是", "y", "yes", "true", "1", "√", "自动"}, {"", "否", "n", "no", "false", "0", "人工"}


def _time_text(value: datetime | None) -> str:
    return f"{to_local(value):%Y-%m-%d %H:%M}" if value is not None else ""


def template_rows(config: Config, tasks: list[InquiryTask]) -> list[list[str]]:
    accounts = config.accounts_by_id
    rows = []
    for t in tasks:
        name = accounts[t.account_id].name if t.account_id in accounts else t.account_id
        rows.append([str(t.id), f"{name}（{t.account_id}）", t.tester, t.question, _time_text(t.send_by),
                     _time_text(t.sent_at), "", "", "", ""])
    return rows


def write_template(path: Path, config: Config, tasks: list[InquiryTask]) -> int:
    """Write the open tasks to ``path`` (.csv, UTF-8 with BOM, or .xlsx); returns the row count."""
    rows = template_rows(config, tasks)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, "w", encoding="utf-8-sig", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(HEADERS)
                writer.writerows(rows)
        elif suffix == ".xlsx":
            from openpyxl import Workbook
            from openpyxl.styles import Font
            from openpyxl.utils import get_column_letter

            wb = Workbook()
            ws = wb.active
            ws.title = "测试留言任务"
            ws.append(list(HEADERS))
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for row in rows:
                ws.append(row)
            for i, width in enumerate((10, 28, 16, 40, 18, 18, 18, 40, 10, 24), 1):
                ws.column_dimensions[get_column_letter(i)].width = width
                for cell in ws[get_column_letter(i)]:
                    cell.number_format = "@"  # text: Excel must not turn a typed time into a number
            ws.freeze_panes = "A2"
            wb.save(path)
        else:
            raise BadInput(f"{path}: the template is written as .csv or .xlsx")
    except OSError as exc:
        raise file_error(path, exc) from None
    return len(rows)


# ---------------------------------------------------------------------------
# reading


def _read_cells(path: Path) -> list[list[Any]]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise file_error(path, exc, "cannot read") from None
    if size > MAX_FILE_BYTES:
        raise BadInput(f"{path}: 文件超过{MAX_FILE_BYTES // 1_000_000}MB，请拆分后导入")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):  # WPS and older Excel save CSV as GBK
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:  # pragma: no cover - gb18030 decodes nearly anything
            raise BadInput(f"{path}: 无法识别文件编码（请另存为UTF-8的CSV）")
        try:
            return list(csv.reader(io.StringIO(text)))[:MAX_ROWS + 2]
        except csv.Error as exc:
            raise BadInput(f"{path}: 不是有效的CSV文件（{exc}）") from None
    if suffix == ".xlsx":
        try:
            with zipfile.ZipFile(path) as z:
                if sum(i.file_size for i in z.infolist()) > MAX_UNPACKED_BYTES:
                    raise BadInput(f"{path}: 表格解压后过大，请拆分后导入")
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True, data_only=True)
        except BadInput:
            raise
        except Exception:  # openpyxl raises many kinds on a broken file
            raise BadInput(f"{path}: 不是有效的xlsx表格") from None
        try:
            ws = wb.worksheets[0]
            out = []
            for row in ws.iter_rows(values_only=True):
                out.append(list(row))
                if len(out) > MAX_ROWS + 1:
                    break
            return out
        finally:
            wb.close()
    raise BadInput(f"{path}: 只能导入 .csv 或 .xlsx 文件")


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()[:MAX_CELL_CHARS]
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()[:MAX_CELL_CHARS]


@dataclass
class _Row:
    number: int
    task: InquiryTask
    sent_at: datetime | None
    reply_at: datetime | None
    reply_text: str
    auto: bool
    shot: Screenshot | None


def _get(raw: list[Any], col: dict[str, int], name: str) -> Any:
    i = col.get(name)
    return _cell(raw[i]) if i is not None and i < len(raw) else None


def _when(value: Any, where: str, bad: list[str]) -> datetime | None:
    if _text(value) == "":
        return None
    try:
        return parse_time(value if isinstance(value, datetime) else _text(value))
    except ValueError as exc:
        bad.append(f"{where}：{exc}")
        return None


def _check_row(path: Path, number: int, id_text: str, filled: dict[str, Any], desk: TaskDesk, max_bytes: int,
               sends: dict[int, tuple[datetime, int]]) -> tuple[_Row | None, list[str]]:
    """One filled-in row: the row to apply, or the problems (one line each)."""
    where = f"{path}: 第{number}行"
    bad: list[str] = []
    task: InquiryTask | None = None
    if not id_text.isdigit():
        bad.append(f"{where} {ID}：“{id_text}”不是任务编号")
    else:
        try:
            task = desk.task(int(id_text))
        except BadInput as exc:
            bad.append(f"{where} {ID}：{exc.problems[0]}")
    sent_at = _when(filled[SENT], f"{where} {SENT}", bad)
    reply_at = _when(filled[REPLY_AT], f"{where} {REPLY_AT}", bad)
    reply_text = _text(filled[REPLY_TEXT])
    auto_text = _text(filled[AUTO]).lower()
    if auto_text not in _YES | _NO:
        bad.append(f"{where} {AUTO}：“{auto_text}”应填“是”或“否”")
    if _text(filled[REPLY_AT]) == "" and (reply_text or auto_text in _YES):
        bad.append(f"{where} {REPLY_AT}：填写了回复内容，但没有回复时间")
    shot = None
    if _text(filled[SHOT]):
        shot_path = Path(_text(filled[SHOT]))
        try:
            shot = check_screenshot(shot_path if shot_path.is_absolute() else path.parent / shot_path, max_bytes)
        except BadInput as exc:
            bad.append(f"{where} {SHOT}：{exc.problems[0]}")
    if task is not None:
        if sent_at is not None:
            bad += [f"{where} {SENT}：{p}" for p in desk.check_sent(task, sent_at)]
            earlier = sends.get(task.id)
            if earlier is not None and floor_to(earlier[0], MINUTE) != floor_to(sent_at, MINUTE):
                bad.append(f"{where} {SENT}：与第{earlier[1]}行登记的同一任务发送时间不一致")
            sends.setdefault(task.id, (sent_at, number))
        if reply_at is not None:
            bad += [f"{where} {REPLY_AT}：{p}" for p in desk.check_reply(task, reply_at, reply_text)]
    if bad or task is None:
        return None, bad
    if sent_at is not None and shot is None and task.sent_at == floor_to(sent_at, MINUTE):
        sent_at = None  # as recorded already (the template repeats it): nothing to do
    if sent_at is None and reply_at is None:
        if shot is not None:
            return None, [f"{where} {SHOT}：截图需与发送时间或回复时间一起填写"]
        return None, []
    return _Row(number, task, sent_at, reply_at, reply_text, auto_text in _YES, shot), []


def read_rows(path: Path, config: Config, desk: TaskDesk) -> list[_Row]:
    """Every filled-in row, checked; BadInput with one line per problem (nothing applied)."""
    cells = _read_cells(path)
    if not cells:
        raise BadInput(f"{path}: 文件是空的")
    header = [_text(h) for h in cells[0]]
    col = {name: header.index(name) for name in HEADERS if name in header}
    problems = [f"{path}: 第1行：缺少“{ID}”列"] if ID not in col else []
    if SENT not in col and REPLY_AT not in col:
        problems.append(f"{path}: 第1行：缺少“{SENT}”或“{REPLY_AT}”列")
    if problems:
        raise BadInput(problems)
    if len(cells) > MAX_ROWS + 1:
        raise BadInput(f"{path}: 超过{MAX_ROWS}行，请拆分后导入")
    max_bytes = config.channels.manual.evidence_max_bytes
    rows: list[_Row] = []
    sends: dict[int, tuple[datetime, int]] = {}
    for number, raw in enumerate(cells[1:], 2):
        filled = {name: _get(raw, col, name) for name in FILLED}
        if all(_text(v) == "" for v in filled.values()):
            continue  # a task not worked on (or an empty row)
        row, bad = _check_row(path, number, _text(_get(raw, col, ID)), filled, desk, max_bytes, sends)
        problems += bad
        if row is not None:
            rows.append(row)
    if problems:
        raise BadInput(problems + [f"{path}: 有错误，未导入任何一行；请改正后重新导入"])
    return rows


def import_sheet(path: Path, config: Config, store: Store, desk: TaskDesk) -> tuple[int, int]:
    """Check every row, then apply all in one transaction; returns (sends, replies) recorded."""
    rows = read_rows(path, config, desk)
    sends = replies = 0
    with store.transaction():
        for row in rows:
            if row.sent_at is not None:
                desk.record_sent(row.task.id, row.sent_at, row.shot if row.reply_at is None else None)
                sends += 1
            if row.reply_at is not None:
                desk.record_reply(row.task.id, row.reply_at, row.reply_text, auto=row.auto, evidence=row.shot)
                replies += 1
    return sends, replies
