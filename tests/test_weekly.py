"""The weekly report, sent to a real SMTP server (aiosmtpd on 127.0.0.1) with a real SQLite store."""

from __future__ import annotations

import re
import socket
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller

from dashboards.export import csv_bytes
from dashboards.weekly import WeeklyReport, build_weekly_report
from monitor.config import load_config
from monitor.errors import BadInput
from monitor.scoring import format_rate, pass_rate
from monitor.store import Store
from wxmon.reports import send_weekly

try:
    from dashboard_frames import bulletin_frame, inquiries_for, weekly_frames
except ImportError:  # pragma: no cover
    from tests.dashboard_frames import bulletin_frame, inquiries_for, weekly_frames

WEEK = "2023-W38"
ZHOU, LIN = "zhouming@example.gov.cn", "linfang@example.gov.cn"


# --------------------------------------------------------------------------- SMTP server


@dataclass
class Handler:
    refuse: set[str] = field(default_factory=set)  # 550 at RCPT
    received: list[tuple[list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [_parse(raw) for rcpts, raw in self.received if address in rcpts]


def _parse(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=email_policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Handler]]:
    handler = Handler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
        controller.start()
    yield controller, handler
    controller.stop()


# --------------------------------------------------------------------------- config, store, report

ACCOUNTS_YAML = """\
timezone: Asia/Shanghai
store: sqlite:///wxmon.db
policy: demo-default
smtp:
  host: 127.0.0.1
  port: {port}
  security: none
  sender: wxmon-test@example.gov.cn
supervisors:
  - {{name: 周明（模拟）, email: {zhou}}}
  - {{name: 林芳（模拟）, email: {lin}}}
accounts:
  - id: jb-fabu
    name: 江滨发布（模拟）
    unit: 江滨区人民政府办公室（模拟）
    category: 区政府
    api: false
    columns:
      - {{path: 办事服务/社保查询, type: view, url: "https://example.gov.cn/sb"}}
  - id: jd-binhe
    name: 滨河街道（模拟）
    unit: 江滨区滨河街道办事处（模拟）
    category: 乡镇街道
    api: false
    columns:
      - {{path: 便民服务, type: view, url: "https://example.gov.cn/bm"}}
"""


@pytest.fixture
def config(tmp_path: Path, smtp: tuple[Controller, Handler]) -> Any:
    path = tmp_path / "accounts.yaml"
    path.write_text(ACCOUNTS_YAML.format(port=smtp[0].port, zhou=ZHOU, lin=LIN), encoding="utf-8")
    return load_config(path)


@pytest.fixture
def store(config: Any) -> Iterator[Store]:
    s = Store.open(config.store_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return bulletin_frame()


@pytest.fixture(scope="module")
def report(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> WeeklyReport:
    weeks = [f"2023-W{w}" for w in range(33, 39)]
    history = weekly_frames(frame, weeks)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing glyph anywhere in the mail's charts
        return build_weekly_report(frame, WEEK, tmp_path_factory.mktemp("weekly"), history=history,
                                   inquiries=inquiries_for(frame), district="江滨区")


# --------------------------------------------------------------------------- the report itself


def test_subject_text_and_html(report: WeeklyReport, frame: pd.DataFrame) -> None:
    rate = format_rate(pass_rate(frame)[2])
    assert rate == "合格率61.9%"
    assert report.subject == f"【wxmon】江滨区政务新媒体监测周报 {WEEK}（{rate}）"
    assert "本周共检查政务新媒体21个，合格13个，不合格8个，合格率61.9%" in report.text
    assert "较上周（2023-W37，61.9%）持平。" in report.text  # the seeded W37 also has 13 of 21
    assert "近期合格率：W33 " in report.text
    failed = frame[frame["verdict"] == "不合格"]
    for name, reasons in zip(failed["account_name"], failed["reasons"]):
        assert name in report.text and reasons in report.text
    cids = re.findall(r'src="cid:([^"]+)"', report.html)
    assert cids == [cid for cid, _ in report.pngs]
    assert {c.split("-")[0] for c in cids} == {"trend", "heatmap", "latency", "freshness", "columns"}
    assert report.csv_bytes == csv_bytes(frame, "zh")
    assert report.csv_filename == f"政务新媒体监测周报_{WEEK}.csv"


def test_week_on_week_change() -> None:
    from dashboards.weekly import _delta_text

    assert _delta_text(13 / 21, "2023-W37", 12 / 21) == "较上周（2023-W37，57.1%）上升4.8个百分点。"
    assert _delta_text(12 / 21, "2023-W37", 13 / 21) == "较上周（2023-W37，61.9%）下降4.8个百分点。"
    assert _delta_text(float("nan"), "2023-W37", 0.5) == ""


def test_out_dir_has_a_browsable_copy(report: WeeklyReport) -> None:
    html_file = next(p for p in report.files if p.suffix == ".html")
    page = html_file.read_text(encoding="utf-8")
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs and all((html_file.parent / s).is_file() for s in srcs)
    assert "cid:" not in page
    assert any(p.suffix == ".csv" and p.read_bytes() == report.csv_bytes for p in report.files)


# --------------------------------------------------------------------------- sending


def test_mail_as_received(config: Any, store: Store, report: WeeklyReport,
                          smtp: tuple[Controller, Handler]) -> None:
    _, handler = smtp
    results = send_weekly(config, store, report, WEEK)
    assert [(r.recipient, r.status) for r in results] == [(ZHOU, "sent"), (LIN, "sent")]
    for address in (ZHOU, LIN):
        (msg,) = handler.to(address)
        assert msg["Subject"] == report.subject  # Chinese intact after RFC 2047
        assert msg["To"].addresses[0].addr_spec == address
        html_part = msg.get_body(preferencelist=("html",))
        text_part = msg.get_body(preferencelist=("plain",))
        assert html_part is not None and text_part is not None
        assert "合格率61.9%" in text_part.get_content()
        html = html_part.get_content()
        cids = re.findall(r'src="cid:([^"]+)"', html)
        assert cids and len(cids) == len(report.pngs)
        images = {part["Content-ID"].strip("<>"): part.get_content() for part in msg.walk()
                  if part.get_content_type() == "image/png"}
        assert set(cids) == set(images)
        assert all(images[cid] == png for cid, png in report.pngs)
        (csv_part,) = [p for p in msg.iter_attachments() if p.get_filename() == report.csv_filename]
        assert csv_part.get_content_type() == "text/csv"
        data = csv_part.get_payload(decode=True)
        assert data == report.csv_bytes and data.startswith(b"\xef\xbb\xbf")
    rows = {r.recipient: r.status for r in store.reports(kind="weekly", period_key=WEEK)}
    assert rows == {ZHOU: "sent", LIN: "sent"}


def test_second_run_sends_nothing(config: Any, store: Store, report: WeeklyReport,
                                  smtp: tuple[Controller, Handler]) -> None:
    _, handler = smtp
    send_weekly(config, store, report, WEEK)
    assert len(handler.received) == 2
    # a restart: a new Store object on the same file
    again = Store.open(config.store_url)
    try:
        results = send_weekly(config, again, report, WEEK)
    finally:
        again.close()
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert len(handler.received) == 2
    # another week is another report
    send_weekly(config, store, report, "2023-W39")
    assert len(handler.received) == 4


def test_refused_address_does_not_stop_the_other(config: Any, store: Store, report: WeeklyReport,
                                                 smtp: tuple[Controller, Handler]) -> None:
    _, handler = smtp
    handler.refuse.add(ZHOU)  # the first one fails, the second must still go
    results = {r.recipient: r for r in send_weekly(config, store, report, WEEK)}
    assert results[ZHOU].status == "failed" and "550" in (results[ZHOU].error or "")
    assert results[LIN].status == "sent"
    assert len(handler.to(LIN)) == 1 and handler.to(ZHOU) == []
    rows = {r.recipient: r for r in store.reports(kind="weekly", period_key=WEEK)}
    assert rows[ZHOU].status == "failed" and "550" in (rows[ZHOU].error or "")
    assert rows[LIN].status == "sent"
    # the address is fixed: the next run sends to it alone
    handler.refuse.clear()
    results = {r.recipient: r.status for r in send_weekly(config, store, report, WEEK)}
    assert results == {ZHOU: "sent", LIN: "skipped"}
    assert len(handler.to(ZHOU)) == 1 and len(handler.to(LIN)) == 1


def test_without_smtp_or_supervisors_is_bad_input(config: Any, store: Store, report: WeeklyReport) -> None:
    with pytest.raises(BadInput, match="smtp"):
        send_weekly(config.model_copy(update={"smtp": None}), store, report)
    with pytest.raises(BadInput, match="supervisors"):
        send_weekly(config.model_copy(update={"supervisors": []}), store, report)


def test_missing_smtp_credentials_is_bad_input_and_nothing_recorded(config: Any, store: Store,
                                                                    report: WeeklyReport) -> None:
    smtp = config.smtp.model_copy(update={"username_env": "WXMON_TEST_NO_SUCH_USER",
                                          "password_env": "WXMON_TEST_NO_SUCH_PASSWORD"})
    with pytest.raises(BadInput, match="WXMON_TEST_NO_SUCH_USER"):
        send_weekly(config.model_copy(update={"smtp": smtp}), store, report, env={})
    assert store.reports(kind="weekly") == []


def test_week_without_history_or_inquiries(frame: pd.DataFrame) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build_weekly_report(frame, WEEK)
    assert {c.split("-")[0] for c, _ in report.pngs} == {"trend", "freshness", "columns"}
    assert report.subject == f"【wxmon】政务新媒体监测周报 {WEEK}（合格率61.9%）"
    assert "较上周" not in report.text


def test_real_metrics_of_an_empty_store(config: Any, store: Store) -> None:
    # monitor.scoring.metrics_table on a store with no measurement: every account 无法判定.
    from monitor.period import parse_period
    from monitor.scoring import metrics_table

    period = parse_period(WEEK)
    df = metrics_table(store, config, period)
    df.attrs["calendar_fallback_years"] = [2027]  # as monitor.metrics reports a year without holiday data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = build_weekly_report(df, period, policy=config.selected_policy)
    assert report.subject == f"【wxmon】政务新媒体监测周报 {WEEK}（合格率—）"
    assert "均未取得足以判定的监测数据" in report.text and "无法判定（2个" in report.text
    assert "2027年的法定节假日和调休安排未知" in report.text and "2027年的法定节假日" in report.html
