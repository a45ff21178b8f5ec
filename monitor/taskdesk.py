"""What inspectors record for their inquiry tasks (``manual`` accounts), checked and written in one
place: ``wxmon inquiry sent|reply``, the spreadsheet import and the console's 巡检任务 pages all
go through :class:`TaskDesk`, so a time is read, refused or accepted the same way everywhere.

Times are to the minute, Asia/Shanghai, as a phone shows them: "10:15" is the interval
[10:15:00, 10:16:00). A send or reply before the task was issued, or in the future, is refused
(:class:`RecordRefused`, Chinese, for the inspector) and nothing is written.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from monitor.clock import MINUTE, SHANGHAI, Clock, as_utc, floor_to, get_clock, to_local
from monitor.config import Config
from monitor.errors import BadInput
from monitor.evidence import Screenshot, evidence_dir, keep
from monitor.store import Store
from monitor.store.core import NotFound
from monitor.store.tasks import InquiryTask, TaskWithState

log = logging.getLogger(__name__)

REPLY_MAX_CHARS = 500


class RecordRefused(BadInput):
    """What the inspector asked to record cannot be right (the message says why, in Chinese)."""


_TIME = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+|\s*)(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?$")


def parse_time(value: str | datetime) -> datetime:
    """A time as an inspector writes it (or a spreadsheet cell holds it) as aware UTC: ISO 8601,
    or "2023-07-03 10:15", "2023/7/3 10:15", "2023年7月3日 10:15"; without an offset it is
    Asia/Shanghai. ValueError (Chinese) otherwise."""
    if isinstance(value, datetime):
        return as_utc(value if value.tzinfo else value.replace(tzinfo=SHANGHAI))
    text = str(value).strip()[:60]
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        m = _TIME.match(text)
        if m is None:
            raise ValueError(f"无法识别时间“{text}”（应为 2023-07-03 10:15 这样的日期和时间）") from None
        try:
            y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
            parsed = datetime(y, mo, d, h, mi, sec)
        except ValueError:
            raise ValueError(f"时间“{text}”不存在（请核对年月日时分）") from None
    return as_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=SHANGHAI))


def hhmm(value: datetime) -> str:
    return f"{to_local(value):%Y-%m-%d %H:%M}"


@dataclass(frozen=True, slots=True)
class Recorded:
    task: InquiryTask
    notes: list[str]  # for the inspector (Chinese), e.g. a reply recorded before this send


class TaskDesk:
    """Checks and writes what inspectors record (the CLI and the spreadsheet import both use it).

    ``check_*`` return the problems (Chinese, for inspectors) without writing; ``record_*``
    check, then write (and copy evidence). Inside :meth:`Store.transaction` several records
    commit together."""

    def __init__(self, config: Config, store: Store, clock: Clock | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or get_clock()

    def task(self, task_id: int) -> InquiryTask:
        try:
            return self.store.get_task(task_id)
        except NotFound:
            raise RecordRefused(f"没有编号为{task_id}的测试任务（wxmon inquiry list 列出任务）") from None

    def check_sent(self, task: InquiryTask, at: datetime) -> list[str]:
        minute = floor_to(at, MINUTE)
        if minute < floor_to(task.issued_at, MINUTE):
            return [f"发送时间{hhmm(at)}早于任务下发时间{hhmm(task.issued_at)}，请核对时间和任务编号"]
        if minute > self.clock.now():
            return [f"发送时间{hhmm(at)}晚于当前时间，请核对"]
        return []

    def check_reply(self, task: InquiryTask, at: datetime, text: str) -> list[str]:
        minute = floor_to(at, MINUTE)
        problems = []
        if minute < floor_to(task.issued_at, MINUTE):
            problems.append(f"回复时间{hhmm(at)}早于任务下发时间{hhmm(task.issued_at)}，不可能是对本任务的回复，"
                            "请核对时间和任务编号")
        if minute > self.clock.now():
            problems.append(f"回复时间{hhmm(at)}晚于当前时间，请核对")
        if len(text) > REPLY_MAX_CHARS:
            problems.append(f"回复内容超过{REPLY_MAX_CHARS}字，请只录入前{REPLY_MAX_CHARS}字")
        return problems

    def record_sent(self, task_id: int, at: datetime, evidence: Screenshot | None = None) -> Recorded:
        task = self.task(task_id)
        problems = self.check_sent(task, at)
        if problems:
            raise RecordRefused(problems)
        now = self.clock.now()
        with self.store.transaction():
            if task.sent_at is not None and floor_to(task.sent_at, MINUTE) != floor_to(at, MINUTE):
                log.info("task %d: send time corrected by the inspector", task.id)
            task = self.store.update_task(task.id, sent_at=floor_to(at, MINUTE), sent_recorded_at=now)
            if evidence is not None:
                self.keep_evidence(task, "sent", evidence)
        notes = []
        early = [r.at for r in self.store.task_replies([task.id]) if r.at < floor_to(at, MINUTE)]
        if early:
            notes.append(f"注意：已登记{hhmm(min(early))}收到的回复，早于本次登记的发送时间；"
                         "除非它答复的是更早的任务，发送时间将按该回复的时间计算")
        return Recorded(task, notes)

    def record_reply(self, task_id: int, at: datetime, text: str | None, *, auto: bool = False,
                     evidence: Screenshot | None = None) -> Recorded:
        task = self.task(task_id)
        text = (text or "").strip()
        problems = self.check_reply(task, at, text)
        if problems:
            raise RecordRefused(problems)
        if not text:  # a unique placeholder: an empty text must not look like a canned reply
            text = f"（检查员登记的回复，未录入文字；任务{task.id}，{hhmm(at)}）"
        with self.store.transaction():
            self.store.add_task_reply(task.id, floor_to(at, MINUTE), text, auto=auto, source="inspector",
                                      recorded_at=self.clock.now())
            if evidence is not None:
                self.keep_evidence(task, "reply", evidence)
        notes = []
        if task.sent_at is None and task.records_sent_at is None:
            notes.append("提示：本任务尚未登记发送时间，请补登发送时间（wxmon inquiry sent，或在巡检任务页面登记）")
        return Recorded(task, notes)

    def keep_evidence(self, task: InquiryTask, stage: str, shot: Screenshot) -> None:
        keep(shot, evidence_dir(self.config))
        self.store.add_evidence(task.id, stage=stage, file_name=shot.file_name, original_name=shot.original_name,
                                media_type=shot.media_type, size=len(shot.data), sha256=shot.sha256,
                                recorded_at=self.clock.now())


def task_status(row: TaskWithState) -> str:
    """Where the task stands, in Chinese (``wxmon inquiry list`` and the console)."""
    t = row.task
    settled = {"answered": "已按时答复", "late": "超时答复", "unanswered": "超时未答复",
               "error": "已作废（监测端原因，不计入考核）"}
    by_records = "（客服消息记录核实）" if t.closed_by == "records" else ""
    if row.inquiry_state in settled:
        return settled[row.inquiry_state] + by_records
    if t.closed_by == "records":
        return "已收到回复（客服消息记录核实），待下轮计算"
    if t.records_sent_at is not None or t.sent_at is not None:
        return "已发送，待登记回复"
    return "待发送"
