"""The inspectors' workflow for `manual` accounts, end to end.

Real parts throughout: the emulator as a real HTTP server (the platform: API, customer-service
records, and a follower standing in for the inspector's phone), a real SQLite store, a real
SMTP server (aiosmtpd) receiving the task mail, the real `wxmon` command line, real .csv and
.xlsx files. Time is the emulator's virtual clock, installed for the whole program.
"""

from __future__ import annotations

import asyncio
import csv
import email
import email.policy
import hashlib
import json
import socket
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor import clock as clock_mod
from monitor.clock import SHANGHAI, VirtualClock, as_utc
from monitor.config import Config, load_config
from monitor.context import ProbeContext
from monitor.scheduler import Event
from monitor.store import Inquiry, Store
from monitor.store.tasks import InquiryTask
from probes.channels import EmulatorChannel
from wxmon.cli import main as wxmon
from wxmon.jobs import run_event
from wxmon.runner import run_probe

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(80))
QUESTIONS = {"jd-shouji": "请问社区食堂几点开门？", "jd-binhe": "请问居住证续签需要带什么材料？",
             "jd-xiaoxi": "请问老年人助餐补贴怎么申请？"}
INSPECTOR_A, INSPECTOR_B = "inspector-a@example.gov.cn", "inspector-b@example.gov.cn"


def at(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI))


def scenario() -> dict[str, Any]:
    return {
        "seed": 13,
        "clock": {"start": "2023-07-03T08:00:00+08:00"},
        "accounts": [{
            "id": "jd-shouji", "name": "手机街道（模拟）", "unit": "手机街道办事处（模拟）", "category": "乡镇街道",
            "appid": "wx5e1f0c0ffee00013", "secret_env": "WXMON_TEST_TASKS_SECRET",
            # A desk answering around the clock within 40 minutes, through customer service (msgrecord).
            "operator": {"median_minutes": 20, "p90_minutes": 30, "max_minutes": 40, "hours": "always"},
            "autoreply": {"default": "感谢您的留言，我们会尽快回复。"},
        }],
    }


@dataclass
class Mailbox:
    received: list[email.message.EmailMessage] = field(default_factory=list)
    refuse: int = 0  # refuse this many recipients first (a mail server having trouble)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.received.append(msg)
        return "250 2.0.0 queued"

    def texts(self) -> list[tuple[str, str, str]]:
        out = []
        for msg in self.received:
            body = msg.get_body(("plain",))
            assert body is not None
            out.append((str(msg["To"]), str(msg["Subject"]), body.get_content()))
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
    yield box, port
    controller.stop()


class Office:
    """A district office: three manual accounts (one with API access), two inspectors."""

    def __init__(self, server: EmulatorServer, tmp_path: Path, smtp_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.server = server
        self.clock: VirtualClock = server.clock  # type: ignore[assignment]
        self.secrets = demo_secret_env(server.scenario)
        for name, value in self.secrets.items():
            monkeypatch.setenv(name, value)
        [emu] = server.scenario.accounts

        def street(account_id: str, name: str) -> dict[str, Any]:
            return {"id": account_id, "name": f"{name}（模拟）", "unit": f"{name}办事处（模拟）",
                    "category": "乡镇街道", "api": False, "inquiry": manual(account_id)}

        def manual(account_id: str, **extra: Any) -> dict[str, Any]:
            return {"channel": "manual", "tester": "检查员手机A", "questions": [QUESTIONS[account_id]], **extra}

        data = {
            "store": "sqlite:///data/wxmon.db",
            "wechat": {"api_base": server.base_url, "timeout_s": 5},
            "policy": "demo-default",
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "sender": "wxmon@example.gov.cn"},
            "channels": {"manual": {"inspector": {"name": "李检查", "email": INSPECTOR_B}}},
            "accounts": [
                {"id": emu.id, "name": emu.name, "unit": emu.unit, "category": emu.category, "appid": emu.appid,
                 "secret_env": emu.secret_env, "api": True,
                 "inquiry": manual(emu.id, inspector={"name": "王检查", "email": INSPECTOR_A})},
                street("jd-binhe", "滨河街道"),
                street("jd-xiaoxi", "小溪街道"),
            ],
        }
        (tmp_path / "data").mkdir()
        self.dir = tmp_path
        self.path = tmp_path / "accounts.yaml"
        self.path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        self.config: Config = load_config(self.path)
        self.store = Store.open(self.config.store_url)

    def round(self, when: str) -> dict[str, dict[str, Any]]:
        """One inquiry round (`wxmon probe inquiry`'s code path, task mail included)."""
        self.clock.set(at(when))

        async def go() -> dict[str, dict[str, Any]]:
            ctx = ProbeContext.open(self.config, self.store, clock=self.clock)
            try:
                [result] = await run_probe(ctx, "inquiry", self.config.accounts)
                return {r.account: r.to_json() for r in result.rows}
            finally:
                await ctx.aclose()

        return asyncio.run(go())

    def daemon_sends(self, when: str) -> None:
        """The daemon's inquiry_send job for every account (what `wxmon run` does in the window)."""
        self.daemon_jobs(when, [("inquiry_send", a.id) for a in self.config.accounts])

    def daemon_jobs(self, when: str, jobs: list[tuple[str, str]]) -> None:
        self.clock.set(at(when))

        async def go() -> None:
            ctx = ProbeContext.open(self.config, self.store, clock=self.clock)
            try:
                for job, account_id in jobs:
                    await run_event(ctx, Event(at(when), job, account_id))
            finally:
                await ctx.aclose()

        asyncio.run(go())

    def task(self, account_id: str) -> InquiryTask:
        [row] = self.store.tasks(account_id=account_id)
        return row.task

    def inquiry(self, account_id: str) -> Inquiry:
        [q] = self.store.inquiries_between(at("2023-01-01T00:00"), at("2024-01-01T00:00"), account_id=account_id)
        return q

    def cli(self, *argv: str) -> int:
        return wxmon(["inquiry", *argv, "--config", str(self.path)])

    def phone_sends(self, account_id: str, when: str) -> None:
        """The inspector's phone (the emulator's follower) sends the task's question."""
        self.clock.set(at(when))
        account = self.config.account(account_id)

        async def go() -> None:
            chan = EmulatorChannel(self.server.base_url)
            try:
                await chan.send(account, "检查员手机A", QUESTIONS[account_id])
            finally:
                await chan.aclose()

        asyncio.run(go())


@pytest.fixture
def office(make_emulator: Callable[..., EmulatorServer], tmp_path: Path, mailbox: tuple[Mailbox, int],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Office]:
    server = make_emulator(scenario())
    o = Office(server, tmp_path, mailbox[1], monkeypatch)
    previous = clock_mod.set_clock(o.clock)  # the command line's "now" is the office's virtual now
    try:
        yield o
    finally:
        clock_mod.set_clock(previous)
        o.store.close()


def test_the_inspectors_week(office: Office, mailbox: tuple[Mailbox, int], capsys: pytest.CaptureFixture[str]) -> None:
    box, _ = mailbox
    # Monday 09:00: `wxmon probe inquiry` issues a task per account and mails it to its inspector.
    office.clock.set(at("2023-07-03T09:00"))
    assert wxmon(["probe", "inquiry", "--json", "--config", str(office.path)]) == 0
    rows = {r["account"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert {r["state"] for r in rows.values()} == {"scheduled"}
    mails = box.texts()
    assert sorted(to for to, _, _ in mails) == sorted([f"王检查 <{INSPECTOR_A}>", f"李检查 <{INSPECTOR_B}>",
                                                       f"李检查 <{INSPECTOR_B}>"])
    binhe = office.task("jd-binhe")
    [(_, subject, text)] = [m for m in mails if f"任务{binhe.id}" in m[1]]
    assert "滨河街道（模拟）" in subject
    assert "请于2023-07-10 00:00前，用测试微信号“检查员手机A”向公众号“滨河街道（模拟）”" in text
    assert QUESTIONS["jd-binhe"] in text and f"wxmon inquiry sent {binhe.id}" in text
    assert "答复时限：发送后3个工作日" in text and "截止2023-07-07 00:00" in text  # 3 working days after Monday
    [(_, _, api_text)] = [m for m in mails if m[0].endswith(f"<{INSPECTOR_A}>")]
    assert "客服消息记录" in api_text  # that account's sends and replies are confirmed without hand entry
    assert office.store.tasks_to_mail() == []
    office.daemon_sends("2023-07-03T09:30")  # the daemon's job for the window: the same tasks
    office.round("2023-07-03T09:40")
    assert len(box.received) == 3  # mailed once

    # The inspector sends from the phone and records it, with screenshots, afterwards.
    office.phone_sends("jd-shouji", "2023-07-03T10:00")
    office.clock.set(at("2023-07-03T11:00"))
    (office.dir / "sent.png").write_bytes(PNG)
    (office.dir / "reply.jpg").write_bytes(JPEG)
    (office.dir / "notes.txt").write_text("这不是截图", encoding="utf-8")
    assert office.cli("sent", str(binhe.id), "--at", "2023-07-03 10:15", "--evidence",
                      str(office.dir / "sent.png")) == 0
    assert office.cli("reply", str(binhe.id), "--at", "2023-07-03 10:40", "--text", "您好，需携带身份证和居住证。",
                      "--evidence", str(office.dir / "reply.jpg")) == 0
    out = capsys.readouterr().out
    assert f"已登记：任务{binhe.id}于2023-07-03 10:15发送，截图已保存" in out
    # A file that is not an image is refused, naming it, and nothing is recorded.
    assert office.cli("reply", str(binhe.id), "--at", "2023-07-03 10:41", "--text", "x", "--evidence",
                      str(office.dir / "notes.txt")) == 2
    assert "notes.txt: 不是PNG、JPEG或WebP图片" in capsys.readouterr().err
    assert len(office.store.task_replies([binhe.id])) == 1
    # Evidence is kept beside the store, under its hash, recorded with the task.
    kept = {e.stage: e for e in office.store.task_evidence(binhe.id)}
    assert set(kept) == {"sent", "reply"}
    for stage, data, media in (("sent", PNG, "image/png"), ("reply", JPEG, "image/jpeg")):
        e = kept[stage]
        assert e.sha256 == hashlib.sha256(data).hexdigest() and e.media_type == media and e.size == len(data)
        assert (office.dir / "data" / "evidence" / e.file_name).read_bytes() == data

    # The week's records of jd-xiaoxi come in a spreadsheet; one bad row and nothing is applied.
    sheet = office.dir / "tasks.csv"
    assert office.cli("template", "--out", str(sheet)) == 0
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    assert header[:2] == ["任务编号", "公众号"] and len(body) == 3  # every open task, binhe's too
    col = {name: header.index(name) for name in header}
    by_id = {row[col["任务编号"]]: row for row in body}
    xiaoxi = office.task("jd-xiaoxi")
    by_id[str(xiaoxi.id)][col["发送时间"]] = "2023/7/3 10:20"
    by_id[str(xiaoxi.id)][col["截图文件"]] = "sent.png"  # relative to the sheet
    by_id[str(binhe.id)][col["回复时间"]] = "2023-07-02 10:00"  # a day before the task existed
    by_id[str(binhe.id)][col["回复内容"]] = "您好"

    def write(rows: list[list[str]]) -> None:
        with open(sheet, "w", encoding="utf-8-sig", newline="") as f:
            csv.writer(f).writerows([header, *rows])

    write(body)
    bad_row = body.index(by_id[str(binhe.id)]) + 2  # the spreadsheet's own numbering: header is row 1
    assert office.cli("import", str(sheet)) == 2
    err = capsys.readouterr().err
    assert f"第{bad_row}行 回复时间：回复时间2023-07-02 10:00早于任务下发时间" in err and "未导入任何一行" in err
    assert len(err.strip().splitlines()) == 2  # one line per problem, and the verdict on the file
    assert office.task("jd-xiaoxi").sent_at is None and office.store.task_evidence(xiaoxi.id) == []
    by_id[str(binhe.id)][col["回复时间"]] = ""
    by_id[str(binhe.id)][col["回复内容"]] = ""
    write(body)
    assert office.cli("import", str(sheet)) == 0
    assert "登记发送1条、回复0条" in capsys.readouterr().out
    assert office.task("jd-xiaoxi").sent_at == at("2023-07-03T10:20")
    assert [e.stage for e in office.store.task_evidence(xiaoxi.id)] == ["sent"]

    # jd-shouji: the inspector also typed a send time (from an .xlsx), three minutes off the records'.
    from openpyxl import load_workbook

    xlsx = office.dir / "tasks.xlsx"
    assert office.cli("template", "--out", str(xlsx)) == 0
    wb = load_workbook(xlsx)
    ws = wb.active
    names = [c.value for c in ws[1]]
    shouji = office.task("jd-shouji")
    [line] = [r for r in ws.iter_rows(min_row=2) if str(r[0].value) == str(shouji.id)]
    line[names.index("发送时间")].value = datetime(2023, 7, 3, 10, 3)  # a date cell, as Excel makes it
    wb.save(xlsx)
    assert office.cli("import", str(xlsx)) == 0
    capsys.readouterr()

    # Noon: the round reads the records. jd-shouji closes itself (no reply typed by anyone); the
    # records' send time counts and the difference is said; binhe is answered from what was typed.
    rows = office.round("2023-07-03T12:00")
    assert rows["jd-shouji"]["state"] == "answered" and rows["jd-binhe"]["state"] == "answered"
    assert rows["jd-xiaoxi"]["state"] == "sent"
    q = office.inquiry("jd-shouji")
    assert q.sent_at == at("2023-07-03T10:00")
    shouji = office.task("jd-shouji")
    assert shouji.closed_by == "records" and shouji.records_sent_at == at("2023-07-03T10:00")
    [recorded] = office.store.task_replies([shouji.id])
    assert recorded.source == "records" and q.human_reply_at == recorded.at
    assert at("2023-07-03T10:00") < recorded.at <= at("2023-07-03T10:41")
    assert shouji.sent_at == at("2023-07-03T10:03") and "检查员登记发送时间2023-07-03 10:03" in (shouji.note or "")
    assert office.inquiry("jd-binhe").latency_minutes == 25
    assert office.cli("list", "--all") == 0
    listed = capsys.readouterr().out
    assert "以消息记录为准" in listed and "已按时答复（客服消息记录核实）" in listed
    assert office.cli("list") == 0
    open_now = capsys.readouterr().out
    assert f"任务{xiaoxi.id}" in open_now and f"任务{binhe.id} " not in open_now

    # Friday: nothing came for jd-xiaoxi by the deadline. The verdicts come from the tasks.
    rows = office.round("2023-07-07T09:00")
    assert rows["jd-xiaoxi"]["state"] == "unanswered"
    assert wxmon(["metrics", "--period", "2023-W27", "--json", "--config", str(office.path)]) == 0
    metrics = {r["account_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert metrics["jd-binhe"]["inquiries_answered_in_time"] == 1
    assert metrics["jd-shouji"]["inquiries_answered_in_time"] == 1
    assert metrics["jd-xiaoxi"]["inquiries_answered_in_time"] == 0 and metrics["jd-xiaoxi"]["verdict"] == "不合格"

    # No secret anywhere an inspector looks.
    secret = office.secrets["WXMON_TEST_TASKS_SECRET"]
    assert all(secret not in text and secret not in subject for _, subject, text in box.texts())
    assert secret not in listed and secret not in open_now


def test_a_task_mail_the_server_refused_is_sent_at_the_next_poll(office: Office,
                                                                mailbox: tuple[Mailbox, int]) -> None:
    box, _ = mailbox
    box.refuse = 6  # the server is in trouble during the window's sends (each send job tries every pending task)
    office.daemon_sends("2023-07-03T09:00")
    assert box.received == [] and len(office.store.tasks_to_mail()) == 3
    office.daemon_jobs("2023-07-03T09:10", [("inquiry_poll", "")])
    assert len(box.received) == 3 and office.store.tasks_to_mail() == []
    office.daemon_jobs("2023-07-03T09:20", [("inquiry_poll", "")])
    assert len(box.received) == 3  # once each


def test_an_xlsx_with_a_bad_row_applies_nothing(office: Office, capsys: pytest.CaptureFixture[str]) -> None:
    from openpyxl import load_workbook

    office.round("2023-07-03T09:00")
    office.clock.set(at("2023-07-03T11:00"))
    xlsx = office.dir / "tasks.xlsx"
    assert office.cli("template", "--out", str(xlsx)) == 0
    wb = load_workbook(xlsx)
    ws = wb.active
    names = [c.value for c in ws[1]]
    ws.cell(row=2, column=names.index("发送时间") + 1, value="2023-07-03 10:05")
    ws.cell(row=3, column=names.index("发送时间") + 1, value="周一上午")
    ws.cell(row=4, column=names.index("任务编号") + 1, value="abc")
    ws.cell(row=4, column=names.index("回复时间") + 1, value="2023-07-03 10:30")
    wb.save(xlsx)
    assert office.cli("import", str(xlsx)) == 2
    err = capsys.readouterr().err.splitlines()
    assert any("第3行 发送时间：无法识别时间“周一上午”" in line for line in err)
    assert any("第4行 任务编号：“abc”不是任务编号" in line for line in err)
    assert all(r.task.sent_at is None for r in office.store.tasks())
    # A file that is not a spreadsheet at all: one line, exit 2.
    (office.dir / "fake.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    assert office.cli("import", str(office.dir / "fake.xlsx")) == 2
    assert "不是有效的xlsx表格" in capsys.readouterr().err


def test_an_old_json_file_is_imported_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = {"store": "sqlite:///wxmon.db", "wechat": {"api_base": "http://127.0.0.1:9"}, "policy": "demo-default",
            "accounts": [{"id": "jd-binhe", "name": "滨河街道（模拟）", "unit": "滨河街道办事处（模拟）",
                          "category": "乡镇街道", "api": False,
                          "inquiry": {"channel": "manual", "tester": "检查员手机A", "questions": ["请问？"]}}]}
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    old = {"tasks": [{"key": "wxmon-inquiry-7", "account": "jd-binhe", "account_name": "滨河街道（模拟）",
                      "tester": "检查员手机A", "text": "请问？", "issued_at": "2023-07-03T09:00:00+08:00",
                      "due": "2023-07-10T00:00:00+08:00", "sent_at": "2023-07-03T10:15:00+08:00"}],
           "replies": [{"account": "jd-binhe", "tester": None, "at": "2023-07-03T14:02:00+08:00", "text": "您好"}]}
    (tmp_path / "manual-inquiries.json").write_text(json.dumps(old, ensure_ascii=False), encoding="utf-8")
    assert wxmon(["inquiry", "list", "--all", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "导入数据库" in out and "请问？" in out and "发送2023-07-03 10:15" in out
    assert not (tmp_path / "manual-inquiries.json").exists()
    assert (tmp_path / "manual-inquiries.json.imported").exists()  # nothing is lost
    with Store.open(load_config(path).store_url) as store:
        [row] = store.tasks()
        assert row.task.key == "wxmon-inquiry-7" and row.task.inquiry_id is None  # no such inquiry in this store
        assert [(r.at, r.text) for r in store.task_replies([row.task.id])] == [(at("2023-07-03T14:02"), "您好")]
    assert wxmon(["inquiry", "list", "--all", "--config", str(path)]) == 0
    assert "导入数据库" not in capsys.readouterr().out  # once


# ---------------------------------------------------------------------------
# the store's part, on SQLite and PostgreSQL


try:
    from store_fixtures import store, store_url, vclock
except ImportError:  # tests/ became a package
    from tests.store_fixtures import store, store_url, vclock  # noqa: F401


def test_tasks_replies_and_evidence_are_idempotent_and_kept_side_by_side(store: Store) -> None:
    issued = at("2023-07-03T09:00")
    task, created = store.add_task("wxmon-inquiry-x", "acc-a", tester="手机A", question="请问？", issued_at=issued,
                                   send_by=at("2023-07-10T00:00"), inspector="王检查",
                                   inspector_email=INSPECTOR_A)
    again, created_again = store.add_task("wxmon-inquiry-x", "acc-a", tester="别的", question="别的",
                                          issued_at=issued, send_by=issued)
    assert created and not created_again and again == task  # a task is issued once per key
    assert store.tasks_to_mail() == [task]
    store.update_task(task.id, mailed_at=issued, sent_at=at("2023-07-03T10:15"))
    assert store.tasks_to_mail() == []
    # The inspector's reply and the records' reply of the same moment are both kept.
    _, new1 = store.add_task_reply(task.id, at("2023-07-03T10:40"), "您好", source="inspector")
    _, new2 = store.add_task_reply(task.id, at("2023-07-03T10:40:17"), "您好", source="records")
    _, new3 = store.add_task_reply(task.id, at("2023-07-03T10:40"), "您好", source="inspector")
    assert new1 and new2 and not new3 and [r.source for r in store.task_replies([task.id])] == ["inspector", "records"]
    e, made = store.add_evidence(task.id, stage="reply", file_name="ab.png", original_name="回复.png",
                                 media_type="image/png", size=10, sha256="ab")
    _, made_again = store.add_evidence(task.id, stage="reply", file_name="ab.png", original_name="回复2.png",
                                       media_type="image/png", size=10, sha256="ab")
    assert made and not made_again and store.task_evidence(task.id) == [e]
    [row] = store.tasks(open_only=True)
    assert row.inquiry_state is None and row.task.sent_at == at("2023-07-03T10:15")
    store.update_task(task.id, closed_at=at("2023-07-03T12:00"), closed_by="records")
    assert store.tasks(open_only=True) == [] and len(store.tasks()) == 1
    with pytest.raises(ValueError):
        store.add_task_reply(task.id, at("2023-07-03T11:00"), "x", source="guess")


def test_a_screenshot_is_judged_by_content_and_size(tmp_path: Path) -> None:
    from monitor.errors import BadInput
    from monitor.evidence import check_screenshot, keep

    webp = tmp_path / "reply.bin"  # the name says nothing; the first bytes do
    webp.write_bytes(b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(40))
    shot = check_screenshot(webp, 1024)
    assert shot.media_type == "image/webp" and shot.file_name == hashlib.sha256(webp.read_bytes()).hexdigest() + ".webp"
    kept = keep(shot, tmp_path / "evidence")
    assert kept.read_bytes() == webp.read_bytes() and keep(shot, tmp_path / "evidence") == kept
    assert [p.name for p in (tmp_path / "evidence").iterdir()] == [shot.file_name]  # no temporary file left
    big = tmp_path / "big.png"
    big.write_bytes(PNG + bytes(2000))
    with pytest.raises(BadInput, match=r"big\.png: 截图文件超过"):
        check_screenshot(big, 1024)
    fake = tmp_path / "photo.png"
    fake.write_bytes(b"<html>not a picture</html>")
    with pytest.raises(BadInput, match=r"photo\.png: 不是PNG、JPEG或WebP图片"):
        check_screenshot(fake, 1024)
    with pytest.raises(BadInput, match=r"missing\.png: 截图文件不存在"):
        check_screenshot(tmp_path / "missing.png", 1024)
