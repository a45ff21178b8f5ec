"""Alerts to the units, end to end on real parts: a SQLite store reopened like a restarted
daemon, e-mail received by aiosmtpd, and WeCom/DingTalk-style webhooks received by an aiohttp
server on 127.0.0.1 through Apprise's json:// URLs (the wecombot/dingtalk schemes have fixed
hosts, so json:// is what can point at a local receiver; the path is the same Apprise code)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from dashboards.alerts import Alert, deliver, evaluate, send_digests
from dashboards.alerts.providers import AppriseProvider, DeliveryError
from emulator.server import EmulatorServer
from monitor import clock
from monitor.config import Config, load_config
from monitor.errors import BadInput
from monitor.store import Account, ColumnResult, ContentItem, PrivacyFinding, ProbeRun, Store
from monitor.store.alerts import AlertState, NewMessage

try:
    from probe_harness import ProbeHarness
    from store_fixtures import store_url
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness
    from tests.store_fixtures import store_url  # noqa: F401

T0 = datetime.fromisoformat("2023-09-04T10:00:00+08:00")
HOOK_ENV = "WXMON_TEST_WECOM_KEY"
HOOK_KEY = "k3y-7f1c9a2e4b6d8f00-SECRET"  # what a real WeCom/DingTalk webhook key looks like: in the path
SUP_ENV = "WXMON_TEST_DING_URL"
ACCOUNTS = [(f"acc-{i}", f"测试账号{i}（模拟）", f"测试单位{i}（模拟）") for i in range(1, 7)]


# ----------------------------------------------------------------------------- receivers

@dataclass
class Post:
    path: str
    payload: dict[str, Any]


class WebhookReceiver:
    """An aiohttp server on 127.0.0.1 standing in for the WeCom/DingTalk webhook endpoints."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.status = 200
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.posts.append(Post(request.path, json.loads(body)))
        return web.Response(status=self.status, text="{}")

    def start(self) -> None:
        self._thread.start()
        assert self._started.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def titles(self, path_part: str = "") -> list[str]:
        return [p.payload["title"] for p in self.posts if path_part in p.path]


@dataclass
class Mailbox:
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 queued"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.received if address in rcpts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n").rstrip("\n")  # type: ignore[attr-defined]


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def vclock() -> Iterator[clock.VirtualClock]:
    virtual = clock.VirtualClock(T0)
    previous = clock.set_clock(virtual)
    yield virtual
    clock.set_clock(previous)


# ----------------------------------------------------------------------------- the office

def write_config(tmp_path: Path, hooks: WebhookReceiver, smtp_port: int, *, digest: bool = False,
                 storm_min: int = 3) -> Path:
    accounts = []
    for i, (aid, name, unit) in enumerate(ACCOUNTS, 1):
        accounts.append(f"""  - id: {aid}
    name: {name}
    unit: {unit}
    category: 政府部门
    api: false
    columns: [{{path: 办事/通知公告, type: view, url: "https://example.gov.cn/{aid}"}}]
    contacts:
      - name: 联系人{i}
        email: contact{i}@example.gov.cn
        apprise: ["json://127.0.0.1:{hooks.port}/wecom/{aid}/${{{HOOK_ENV}}}"]
        digest: {json.dumps(digest and i == 1)}
""")
    text = f"""store: sqlite:///{tmp_path / 'wxmon.db'}
smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none, sender: wxmon@example.gov.cn}}
supervisors:
  - name: 周明（模拟）
    email: zhouming@example.gov.cn
    apprise: ["${{{SUP_ENV}}}"]
alerts: {{enabled: true, storm_percent: 50, storm_min_accounts: {storm_min}, digest_time: "17:30"}}
accounts:
{''.join(accounts)}"""
    path = tmp_path / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def office(tmp_path: Path, hooks: WebhookReceiver, mailbox: tuple[Mailbox, int], vclock: clock.VirtualClock,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Config, Store]]:
    monkeypatch.setenv(HOOK_ENV, HOOK_KEY)
    monkeypatch.setenv(SUP_ENV, f"json://127.0.0.1:{hooks.port}/dingtalk/supervisors/{HOOK_KEY}")
    config = load_config(write_config(tmp_path, hooks, mailbox[1]), check_env=True)
    with Store.open(config.store_url) as store:
        store.upsert_accounts(Account(a.id, a.name, a.unit, a.category) for a in config.accounts)
        yield config, store


def column(account: str, status: str, at: datetime, path: str = "办事/通知公告") -> ColumnResult:
    return ColumnResult(account_id=account, column_path=path, status=status, checked_at=at, type="view",
                        target=f"https://example.gov.cn/{account}", reason="页面不存在（HTTP 404）" if status != "ok"
                        else "HTTP 200", http_status=404 if status != "ok" else 200, elapsed_ms=50.0,
                        consecutive_failures=3 if status == "broken" else 0, first_failure_at=None)


def columns_round(store: Store, statuses: dict[str, str], at: datetime, *, skipped: bool = False) -> ProbeRun:
    run = store.start_run("columns", accounts_total=len(ACCOUNTS), started_at=at)
    store.apply_column_results([column(a, s, at) for a, s in statuses.items()], run_id=run.id)
    errors = sum(1 for s in statuses.values() if s == "error")
    detail: dict[str, Any] = {"skipped": True} if skipped else {}
    return store.finish_run(run.id, "error" if skipped else "ok", accounts_error=len(ACCOUNTS) if skipped else errors,
                            finished_at=at, detail=detail)


def all_ok() -> dict[str, str]:
    return {a: "ok" for a, _, _ in ACCOUNTS}


def after_columns(store: Store, config: Config, at: datetime, run: ProbeRun | None = None) -> None:
    evaluate(store, config, ["broken_column"], at, rounds=[run] if run else [])
    deliver(store, config, at)


# ----------------------------------------------------------------------------- tests

def test_a_broken_column_is_told_once_and_its_recovery_once(office: tuple[Config, Store], hooks: WebhookReceiver,
                                                              mailbox: tuple[Mailbox, int]) -> None:
    config, store = office
    box = mailbox[0]
    at = T0
    after_columns(store, config, at, columns_round(store, all_ok(), at))
    assert hooks.posts == [] and box.received == []  # a healthy start is no news

    for hour in range(1, 4):  # broken, then still broken on the next rounds
        at = T0 + timedelta(hours=hour)
        after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-2": "broken"}, at))
    assert hooks.titles() == ["【政务新媒体监测】测试账号2（模拟）：栏目无法访问"]
    assert hooks.posts[0].path == f"/wecom/acc-2/{HOOK_KEY}"
    mails = box.to("contact2@example.gov.cn")
    assert len(mails) == 1 and len(box.received) == 1
    text = body_of(mails[0])
    for expected in ("测试单位2（模拟）", "测试账号2（模拟）", "栏目无法访问", "“办事/通知公告”", "页面不存在",
                     "处理建议", "2023-09-04 11:00"):
        assert expected in text

    for hour in range(4, 6):
        at = T0 + timedelta(hours=hour)
        after_columns(store, config, at, columns_round(store, all_ok(), at))
    assert hooks.titles() == ["【政务新媒体监测】测试账号2（模拟）：栏目无法访问",
                              "【政务新媒体监测】测试账号2（模拟）：栏目无法访问已恢复"]
    assert [str(m["Subject"]) for m in box.to("contact2@example.gov.cn")][1].endswith("栏目无法访问已恢复")
    assert len(box.received) == 2


def test_no_repeat_after_a_restart_and_nothing_lost_in_a_crash(
        tmp_path: Path, office: tuple[Config, Store], hooks: WebhookReceiver) -> None:
    config, store = office
    at = T0
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-3": "broken"}, at))
    assert len(hooks.titles("/wecom/acc-3/")) == 1
    # A crash after the state changed and before the delivery: the message waits in the store.
    at += timedelta(hours=1)
    columns_round(store, {**all_ok(), "acc-3": "broken", "acc-4": "broken"}, at)
    evaluate(store, config, ["broken_column"], at)
    store.close()

    for hour in (2, 3):  # the daemon restarted, twice
        at = T0 + timedelta(hours=hour)
        with Store.open(config.store_url) as reopened:
            after_columns(reopened, config, at,
                          columns_round(reopened, {**all_ok(), "acc-3": "broken", "acc-4": "broken"}, at))
    assert len(hooks.titles("/wecom/acc-3/")) == 1  # still once
    assert hooks.titles("/wecom/acc-4/") == ["【政务新媒体监测】测试账号4（模拟）：栏目无法访问"]  # delivered once


def test_the_monitors_own_trouble_raises_no_account_alert_and_no_false_recovery(
        office: tuple[Config, Store], hooks: WebhookReceiver, mailbox: tuple[Mailbox, int]) -> None:
    config, store = office
    at = T0
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-1": "broken"}, at))
    assert hooks.titles("/wecom/") == ["【政务新媒体监测】测试账号1（模拟）：栏目无法访问"]
    # The monitor cannot check acc-1's broken column, and acc-2's turns error: nothing is told.
    at += timedelta(hours=1)
    after_columns(store, config, at,
                  columns_round(store, {**all_ok(), "acc-1": "error", "acc-2": "unverifiable"}, at))
    assert len(hooks.posts) == 1 and len(mailbox[0].received) == 1
    # acc-1 seen again, broken still: no repeat; then really fixed: the recovery.
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-1": "broken"}, at))
    assert len(hooks.posts) == 1
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, all_ok(), at))
    assert hooks.titles("/wecom/")[-1].endswith("栏目无法访问已恢复") and len(hooks.posts) == 2


def test_a_platform_outage_is_one_message_to_the_supervisors(
        office: tuple[Config, Store], hooks: WebhookReceiver, mailbox: tuple[Mailbox, int]) -> None:
    config, store = office
    box = mailbox[0]
    at = T0
    after_columns(store, config, at, columns_round(store, all_ok(), at))
    # The canary said the monitor's network is down: the round checked nothing, twice.
    for hour in (1, 2):
        at = T0 + timedelta(hours=hour)
        after_columns(store, config, at, columns_round(store, {}, at, skipped=True))
    assert [p.path for p in hooks.posts] == [f"/dingtalk/supervisors/{HOOK_KEY}"]
    assert "栏目检查异常" in hooks.posts[0].payload["title"]
    assert "不计入各账号的考核结果" in hooks.posts[0].payload["message"]
    assert [rcpts for rcpts, _ in box.received] == [["zhouming@example.gov.cn"]]
    # Then every account's API fails in one round (error, not broken): still no new message.
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, {a: "error" for a, _, _ in ACCOUNTS}, at))
    assert len(hooks.posts) == 1
    # Back: one notice to the supervisors, nothing to the units.
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, all_ok(), at))
    assert [p.payload["title"] for p in hooks.posts][-1].endswith("栏目检查已恢复")
    assert all("/dingtalk/supervisors/" in p.path for p in hooks.posts) and len(hooks.posts) == 2


def test_many_accounts_changing_at_once_is_one_message_to_the_supervisors(
        office: tuple[Config, Store], hooks: WebhookReceiver) -> None:
    config, store = office
    at = T0
    after_columns(store, config, at, columns_round(store, all_ok(), at))
    at += timedelta(hours=1)
    broken = {a: ("broken" if a != "acc-6" else "ok") for a, _, _ in ACCOUNTS}  # 5 of 6 at once
    after_columns(store, config, at, columns_round(store, broken, at))
    assert [p.path for p in hooks.posts] == [f"/dingtalk/supervisors/{HOOK_KEY}"]
    assert "5个账号同时状态变化" in hooks.posts[0].payload["title"]
    # The states moved: the next round of the same picture tells nobody anything.
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, broken, at))
    assert len(hooks.posts) == 1
    # One account fixed alone is an ordinary recovery to its unit.
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, {**broken, "acc-1": "ok"}, at))
    assert hooks.titles("/wecom/acc-1/") == ["【政务新媒体监测】测试账号1（模拟）：栏目无法访问已恢复"]


def test_a_digest_recipient_gets_the_days_changes_in_one_message(
        tmp_path: Path, hooks: WebhookReceiver, mailbox: tuple[Mailbox, int], vclock: clock.VirtualClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, HOOK_KEY)
    monkeypatch.setenv(SUP_ENV, f"json://127.0.0.1:{hooks.port}/dingtalk/supervisors/{HOOK_KEY}")
    config = load_config(write_config(tmp_path, hooks, mailbox[1], digest=True), check_env=True)
    box = mailbox[0]
    with Store.open(config.store_url) as store:
        store.upsert_accounts(Account(a.id, a.name, a.unit, a.category) for a in config.accounts)
        at = T0
        after_columns(store, config, at, columns_round(store, all_ok(), at))
        at += timedelta(hours=1)
        after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-1": "broken"}, at))
        at += timedelta(hours=2)
        store.add_privacy_findings([PrivacyFinding("acc-1", "https://example.gov.cn/acc-1/a1", "mobile", 10, 23,
                                                   "138****5678", at)])
        store.record_looks("privacy", at, ["acc-1"])
        evaluate(store, config, ["privacy"], at)
        deliver(store, config, at)
        assert hooks.posts == [] and box.received == []  # acc-1's contact chose the digest

        digest_at = datetime.fromisoformat("2023-09-04T17:30:00+08:00")
        assert send_digests(store, config, digest_at).sent == 2  # e-mail and webhook
        assert len(hooks.posts) == 1 and len(box.received) == 1
        payload = hooks.posts[0].payload
        assert payload["title"] == "【政务新媒体监测】2023-09-04监测提醒汇总（2条）"
        assert "栏目无法访问" in payload["message"] and "发布内容含个人信息" in payload["message"]
        assert "138****5678" in payload["message"]
        assert body_of(box.to("contact1@example.gov.cn")[0]) == payload["message"]
        assert send_digests(store, config, digest_at + timedelta(days=1)).sent == 0  # nothing twice


def test_the_no_update_warning_comes_at_12_days_and_only_on_watched_days(
        office: tuple[Config, Store], hooks: WebhookReceiver, vclock: clock.VirtualClock) -> None:
    config, store = office
    published = T0 - timedelta(days=13)
    store.upsert_content_items([ContentItem(a, "feed", f"{a}-1", "通知", None, published, published)
                                for a, _, _ in ACCOUNTS[:2]])
    # acc-3 is seen only through freepublish, which cannot see 群发: its silence proves nothing.
    store.upsert_content_items([ContentItem("acc-3", "freepublish", "acc-3-1", "通知", None, published, published)])
    # acc-1 and acc-3 watched every day since; acc-2's watch stopped 10 days ago (the monitor's outage).
    for back in range(13, -1, -1):
        look = T0 - timedelta(days=back)
        store.record_looks("freshness", look, ["acc-1", "acc-3"] + (["acc-2"] if back >= 10 else []))
    evaluate(store, config, ["no_update"], T0)
    deliver(store, config, T0)
    assert hooks.titles("/wecom/") == ["【政务新媒体监测】测试账号1（模拟）：长期未更新预警"]
    message = hooks.posts[0].payload["message"]
    assert "超过12天未更新" in message and "14天" in message

    later = T0 + timedelta(days=1)  # a new article: recovery
    fresh = later - timedelta(hours=2)
    store.upsert_content_items([ContentItem("acc-1", "feed", "acc-1-2", "新闻", None, fresh, fresh)])
    store.record_looks("freshness", later - timedelta(hours=1), ["acc-1"])
    evaluate(store, config, ["no_update"], later)
    deliver(store, config, later)
    assert hooks.titles("/wecom/")[-1] == "【政务新媒体监测】测试账号1（模拟）：长期未更新预警已恢复"
    assert hooks.titles("/wecom/acc-2/") == [] and hooks.titles("/wecom/acc-3/") == []


def test_an_overdue_inquiry_is_told_and_the_next_answer_in_time_recovers(
        office: tuple[Config, Store], hooks: WebhookReceiver) -> None:
    config, store = office
    sent = T0 - timedelta(days=5)
    q, _ = store.create_inquiry("acc-5", "2023-W35", channel="manual", question="请问社保卡如何补办？",
                                created_at=sent, deadline_at=sent + timedelta(days=3))
    store.update_inquiry(q.id, state="unanswered", sent_at=sent)
    open_q, _ = store.create_inquiry("acc-6", "2023-W35", channel="manual", question="请问办事时间？",
                                     created_at=sent, deadline_at=sent + timedelta(days=3))
    store.update_inquiry(open_q.id, state="sent", sent_at=sent)  # past deadline, never looked at: not the unit's
    evaluate(store, config, ["inquiry_overdue"], T0)
    deliver(store, config, T0)
    assert hooks.titles("/wecom/") == ["【政务新媒体监测】测试账号5（模拟）：测试留言超期未答复"]
    assert "请问社保卡如何补办？" in hooks.posts[0].payload["message"]

    evaluate(store, config, ["inquiry_overdue"], T0 + timedelta(hours=1))  # a late answer: still past deadline
    store.update_inquiry(q.id, state="late", human_reply_at=T0)
    evaluate(store, config, ["inquiry_overdue"], T0 + timedelta(hours=2))
    nxt, _ = store.create_inquiry("acc-5", "2023-W36", channel="manual", question="请问办事时间？",
                                  created_at=T0 + timedelta(days=1), deadline_at=T0 + timedelta(days=4))
    store.update_inquiry(nxt.id, state="answered", sent_at=T0 + timedelta(days=1),
                         human_reply_at=T0 + timedelta(days=1, hours=2))
    evaluate(store, config, ["inquiry_overdue"], T0 + timedelta(days=2))
    deliver(store, config, T0 + timedelta(days=2))
    assert hooks.titles("/wecom/") == ["【政务新媒体监测】测试账号5（模拟）：测试留言超期未答复",
                                       "【政务新媒体监测】测试账号5（模拟）：测试留言超期未答复已恢复"]


def test_no_webhook_key_in_logs_store_or_errors(office: tuple[Config, Store], hooks: WebhookReceiver,
                                                caplog: pytest.LogCaptureFixture,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config, store = office
    caplog.set_level(logging.DEBUG)
    hooks.status = 500  # the service refuses: the failure is recorded, and retried at the next round
    at = T0
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-2": "broken"}, at))
    [webhook] = [m for m in store.alert_messages() if m.recipient.startswith("apprise:")]
    assert webhook.status == "pending" and webhook.attempts == 1 and "did not accept" in (webhook.error or "")
    hooks.status = 200
    at += timedelta(hours=1)
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-2": "broken"}, at))
    assert [p.path for p in hooks.posts] == [f"/wecom/acc-2/{HOOK_KEY}"] * 2  # refused once, then delivered
    assert {m.status for m in store.alert_messages()} == {"sent"}
    # An unreachable webhook: its error names the service, not the key.
    with pytest.raises(DeliveryError) as refused:
        AppriseProvider(f"json://127.0.0.1:{_free_port()}/wecom/x/${{{HOOK_ENV}}}").send(Alert("t", "b"))
    assert "JSON POST URL: http://127.0.0.1" in caplog.text  # Apprise logged the URL, at DEBUG: scrubbed
    assert "/wecom/acc-2/***" in caplog.text
    out = capsys.readouterr()
    stored = repr(store.alert_messages())
    for where in (caplog.text, out.out, out.err, str(refused.value), stored):
        assert HOOK_KEY not in where


def test_alert_urls_in_accounts_yaml_are_checked_and_their_variables_kept_secret(
        tmp_path: Path, hooks: WebhookReceiver, mailbox: tuple[Mailbox, int]) -> None:
    path = write_config(tmp_path, hooks, mailbox[1])
    config = load_config(path)
    assert {HOOK_ENV, SUP_ENV} <= set(config.secret_env_names())
    with pytest.raises(BadInput) as unset:  # as wxmon run and config check load it: the key must be there
        load_config(path, check_env=True, environ={})
    assert f"accounts.yaml:18: accounts[0].contacts[0].apprise[0]: environment variable {HOOK_ENV} is not set" in \
        "\n".join(unset.value.problems)
    bad = path.read_text(encoding="utf-8").replace(f"${{{HOOK_ENV}}}", "${not-a-name}", 1)
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(BadInput) as exc:
        load_config(path)
    line = next(p for p in exc.value.problems if "apprise" in p)
    assert "accounts.yaml:" in line and "${...} reference" in line and "not-a-name" not in line


def test_the_daemons_columns_job_alerts_a_unit_through_the_real_probe(
        emulator: EmulatorServer, demo_config: Callable[..., Path], hooks: WebhookReceiver,
        mailbox: tuple[Mailbox, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """wxmon.jobs.run_event as the daemon calls it: real column rounds on the emulator (jd-chengdong's
    办事指南 answers a soft 404 from 2023-08-05), then the alert to its unit's webhook, once."""
    import re

    from monitor.clock import SHANGHAI
    from monitor.scheduler import Event
    from wxmon.jobs import run_event

    monkeypatch.setenv(HOOK_ENV, HOOK_KEY)
    path = demo_config(emulator)
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"smtp:\n  host: 127.0.0.1\n  port: \d+", f"smtp:\n  host: 127.0.0.1\n  port: {mailbox[1]}", text)
    text = text.replace("email: jd-chengdong@example.gov.cn,",
                        f'email: jd-chengdong@example.gov.cn, apprise: ["json://127.0.0.1:{hooks.port}/wecom/'
                        f'jd-chengdong/${{{HOOK_ENV}}}"],')
    path.write_text(text + "alerts: {enabled: true}\n", encoding="utf-8")
    start = datetime(2023, 8, 7, 9, 0, tzinfo=SHANGHAI)

    async def body(h: ProbeHarness) -> None:
        for hour in range(5):  # hourly rounds: confirmed broken after 3 failures over 60 minutes
            at = start + timedelta(hours=hour)
            h.clock.set(at)
            await run_event(h.ctx, Event(at, "columns"))
        assert h.store.alert_states(["broken_column"])[("jd-chengdong", "broken_column")].state == "failing"

    ProbeHarness.run(emulator, path, body)
    assert hooks.titles("/wecom/jd-chengdong/") == ["【政务新媒体监测】城东街道（模拟）：栏目无法访问"]
    assert "办事指南" in hooks.posts[0].payload["message"]
    assert mailbox[0].to("jd-chengdong@example.gov.cn")  # and its e-mail, to the same unit


def test_the_daemon_schedules_the_digest_only_while_alerts_are_on(
        emulator: EmulatorServer, demo_config: Callable[..., Path]) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.clock import SHANGHAI
    from monitor.context import ProbeContext
    from wxmon.daemon import Daemon

    path = demo_config(emulator)
    text = path.read_text(encoding="utf-8")
    path.write_text(text + 'alerts: {enabled: true, digest_time: "18:05"}\n', encoding="utf-8")
    config = load_config(path)

    async def go() -> tuple[str | None, bool]:
        with Store.open(config.store_url) as store:
            daemon = Daemon(path)
            daemon.ctx = ProbeContext.open(config, store)
            daemon.scheduler = AsyncIOScheduler(timezone=SHANGHAI)
            daemon.scheduler.start(paused=True)
            try:
                daemon._install_jobs()
                job = daemon.scheduler.get_job("alerts_digest")
                fires = job.trigger.get_next_fire_time(None, datetime(2023, 9, 4, 12, 0, tzinfo=SHANGHAI))
                path.write_text(text + "alerts: {enabled: false}\n", encoding="utf-8")
                daemon.reload()
                return (fires.isoformat() if fires else None), daemon.scheduler.get_job("alerts_digest") is None
            finally:
                daemon.scheduler.shutdown(wait=False)
                await daemon.ctx.aclose()

    fires, removed = asyncio.run(go())
    assert fires == "2023-09-04T18:05:00+08:00" and removed


def test_the_alert_store_on_both_databases(store_url: str, vclock: clock.VirtualClock) -> None:
    """State and queue in one transaction; a failed delivery is retried, then given up; sent stays sent."""
    with Store.open(store_url) as store:
        failing = AlertState("acc-1", "broken_column", "failing", ("办事/通知公告",), "1个栏目", T0, T0)
        ids = store.apply_alert_changes([failing], [NewMessage("mail:a@example.gov.cn", "acc-1", "broken_column",
                                                               "alert", "主题", "正文"),
                                                    NewMessage("apprise:0123", "acc-1", "broken_column", "alert",
                                                               "主题", "正文", digest=True)], at=T0)
        assert store.alert_states() == {("acc-1", "broken_column"): failing}
        with pytest.raises(ValueError):  # a bad kind writes nothing, not even the state
            store.apply_alert_changes([AlertState("acc-2", "privacy", "failing", (), None, T0, T0)],
                                      [NewMessage("mail:b", "acc-2", "privacy", "nonsense", "s", "b")])
        assert ("acc-2", "privacy") not in store.alert_states()
        ok = AlertState("acc-1", "broken_column", "ok", (), "恢复", T0 + timedelta(hours=1), T0 + timedelta(hours=1))
        store.apply_alert_changes([ok], [])
        assert store.alert_states(["broken_column"])[("acc-1", "broken_column")] == ok

        assert [m.id for m in store.pending_alert_messages(digest=False)] == ids[:1]
        assert [m.id for m in store.pending_alert_messages(digest=True, before=T0)] == []  # queued at T0
        assert [m.id for m in store.pending_alert_messages(digest=True, before=T0 + timedelta(seconds=1))] == ids[1:]
        for attempt in (1, 2):
            store.mark_alert_messages(ids[:1], sent=False, error="timed out", max_attempts=2)
            [m] = store.alert_messages(recipient="mail:a@example.gov.cn")
            assert (m.attempts, m.status, m.error) == (attempt, "pending" if attempt == 1 else "failed", "timed out")
        assert store.pending_alert_messages(digest=False) == []
        store.mark_alert_messages(ids[1:], sent=True, at=T0 + timedelta(hours=2))
        store.mark_alert_messages(ids[1:], sent=False, error="late failure")  # sent stays sent
        [m] = store.alert_messages(recipient="apprise:0123")
        assert (m.status, m.sent_at, m.error, m.digest) == ("sent", T0 + timedelta(hours=2), None, True)


def test_wxmon_alerts_test_and_status_for_the_office(office: tuple[Config, Store], hooks: WebhookReceiver,
                                                     mailbox: tuple[Mailbox, int],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from wxmon.cli import main

    config, store = office
    assert config.source is not None
    assert main(["alerts", "test", "--config", str(config.source), "--account", "acc-4"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == ["已送达\tmail:contact4@example.gov.cn", "已送达\tjson://127.0.0.1/…"]
    assert hooks.titles() == ["【政务新媒体监测】测试消息"] and mailbox[0].to("contact4@example.gov.cn")

    hooks.status = 500  # every webhook refuses: exit 1, each failure on its line, no key shown
    assert main(["alerts", "test", "--config", str(config.source)]) == 1
    out = capsys.readouterr().out
    assert out.count("失败\tjson://127.0.0.1/…\tthe service did not accept the message") == 6
    assert "失败\tapprise://***/…\tthe service did not accept the message" in out  # the supervisors' ${URL}
    assert out.count("已送达\tmail:") == 7
    assert HOOK_KEY not in out

    after_columns(store, config, T0, columns_round(store, {**all_ok(), "acc-1": "broken"}, T0))
    assert main(["alerts", "status", "--config", str(config.source)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "提醒：已启用"
    assert lines[1].startswith("测试账号1（模拟）\t栏目无法访问\t自2023-09-04 10:00\t1个栏目经复核确认无法正常访问")
    assert lines[2] == "待发送1条，发送失败0条"  # the webhook refused: it waits for the next round
    assert main(["alerts", "test", "--config", str(config.source), "--account", "nope"]) == 2


def test_a_second_problem_of_the_same_kind_is_told_as_new_and_a_privacy_finding_clears_after_its_window(
        office: tuple[Config, Store], hooks: WebhookReceiver) -> None:
    config, store = office
    at = T0
    after_columns(store, config, at, columns_round(store, {**all_ok(), "acc-1": "broken"}, at))
    at += timedelta(hours=1)
    run = store.start_run("columns", accounts_total=6, started_at=at)
    store.apply_column_results([column(a, "ok", at) for a, _, _ in ACCOUNTS[1:]]
                               + [column("acc-1", "broken", at), column("acc-1", "broken", at, "互动/在线访谈")],
                               run_id=run.id)
    after_columns(store, config, at, store.finish_run(run.id, "ok", finished_at=at))
    [first, second] = [p.payload for p in hooks.posts]
    assert first["title"] == second["title"] == "【政务新媒体监测】测试账号1（模拟）：栏目无法访问"
    assert "新增1项。2个栏目经复核确认无法正常访问" in second["message"] and "“互动/在线访谈”" in second["message"]

    found = T0 + timedelta(hours=2)
    store.add_privacy_findings([PrivacyFinding("acc-2", "https://example.gov.cn/acc-2/a7", "id_card", 5, 23,
                                               "110105********1234", found)])
    store.record_looks("privacy", found, ["acc-2"])
    evaluate(store, config, ["privacy"], found)
    deliver(store, config, found)
    leak = hooks.posts[-1].payload
    assert leak["title"] == "【政务新媒体监测】测试账号2（模拟）：发布内容含个人信息"
    assert "身份证号110105********1234（https://example.gov.cn/acc-2/a7）" in leak["message"]
    later = found + timedelta(days=config.alerts.privacy_days, hours=1)
    evaluate(store, config, ["privacy"], later)  # no scan since the finding aged out: nothing proven yet
    assert len(hooks.posts) == 3
    store.record_looks("privacy", later, ["acc-2"])
    evaluate(store, config, ["privacy"], later + timedelta(minutes=1))
    deliver(store, config, later + timedelta(minutes=1))
    assert hooks.posts[-1].payload["title"] == "【政务新媒体监测】测试账号2（模拟）：发布内容含个人信息已恢复"
