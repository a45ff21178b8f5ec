"""The web console over HTTP (uvicorn on 127.0.0.1, a real SQLite store, real Argon2 hashes):
sign-in, roles, CSRF, escaping, the login rate limit, downloads, the public page, the audit log."""

from __future__ import annotations

import ast
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from console_fixtures import EVIL_NAME, PASSWORD, UNIT_A, UNIT_B, Office, make_office
from console_server import running_console
from openpyxl import load_workbook
from test_metrics_support import NOW, sh

from console.app import create_app
from console.web import form_endpoint
from monitor import clock
from monitor.period import parse_period
from monitor.scoring import format_rate, metrics_table, pass_rate
from monitor.store.alerts import NewMessage
from wxmon.web import ConsoleServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def vclock() -> Iterator[clock.VirtualClock]:
    virtual = clock.VirtualClock(NOW)
    previous = clock.set_clock(virtual)
    try:
        yield virtual
    finally:
        clock.set_clock(previous)


@pytest.fixture
def office(tmp_path: Path, vclock: clock.VirtualClock) -> Iterator[Office]:
    made = make_office(tmp_path)
    with made.store:
        yield made


@pytest.fixture
def server(office: Office) -> Iterator[ConsoleServer]:
    with running_console(office.config, office.store) as running:
        yield running


def csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


def client(server: ConsoleServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


def login(server: ConsoleServer, name: str, password: str = PASSWORD) -> httpx.Client:
    c = client(server)
    answer = c.post("/login", data={"csrf_token": csrf(c.get("/login").text), "username": name,
                                    "password": password})
    assert answer.status_code == 303, answer.text
    return c


def test_the_overview_shows_the_reports_pass_rate_and_what_changed(office: Office, server: ConsoleServer) -> None:
    c = login(server, "boss")
    page = c.get("/?period=2023Q3")
    assert page.status_code == 200
    table = metrics_table(office.store, office.config, parse_period("2023Q3"))
    _, _, rate = pass_rate(table)
    assert f'id="pass-rate">{format_rate(rate)}<' in page.text  # the reports' figure, not a second computation
    assert format_rate(rate) == "合格率25.0%"
    changes = page.text.split('id="changes"')[1].split("</table>")[0]
    assert "模拟甲街道服务" in changes and "不合格" in changes  # its column was confirmed broken on the last day
    assert "模拟乙卫健" not in changes
    assert 'id="trend-weeks"' in page.text and "2023-W39" in page.text
    assert "2023Q3" in page.text.split('id="trend-quarters"')[1]


def test_an_account_page_shows_columns_inquiries_freshness_and_masked_findings(server: ConsoleServer) -> None:
    c = login(server, "boss")
    a2 = c.get("/accounts/a2?period=2023Q3").text
    assert "不可用" in a2.split('id="columns"')[1] and "1个栏目无法正常访问" in a2
    b1 = c.get("/accounts/b1?period=2023Q3").text
    assert "未答复" in b1.split('id="inquiries"')[1]
    b2 = c.get("/accounts/b2?period=2023Q3").text
    findings = b2.split('id="privacy"')[1].split("</table>")[0]
    assert "110101********1234" in findings and "身份证号" in findings
    assert 'class="pub"' in b2.split('id="timeline"')[1]
    assert "订阅源" in b2  # the source the freshness rests on


def test_a_unit_editor_sees_only_their_unit(server: ConsoleServer) -> None:
    c = login(server, "jia")
    overview = c.get("/?period=2023Q3").text
    assert "模拟甲街道发布" in overview and "模拟乙卫健" not in overview
    assert c.get("/accounts/a1").status_code == 200
    assert c.get("/accounts/b1").status_code == 404  # another unit's account: as if it did not exist
    assert c.get("/accounts/no-such").status_code == 404
    assert c.get(f"/downloads/2023Q3/export.xlsx?unit={UNIT_B}").status_code == 404
    assert c.get("/downloads/2023Q3/bulletin.md").status_code == 404
    assert c.get("/weeks/2023-W38").status_code == 404
    assert c.get("/audit").status_code == 404
    own = c.get("/downloads/2023Q3/export.csv")
    assert own.status_code == 200
    text = own.content.decode("utf-8-sig")
    assert UNIT_A in text and UNIT_B not in text


def test_an_inspector_sees_their_tasks_not_the_accounts(server: ConsoleServer) -> None:
    c = login(server, "insp")
    assert c.get("/").headers["location"] == "/tasks"
    assert c.get("/tasks").status_code == 200
    assert c.get("/accounts/a1").status_code == 404
    assert c.get("/downloads/2023Q3/export.csv").status_code == 404


def test_the_quarters_xlsx_is_the_export(office: Office, server: ConsoleServer) -> None:
    c = login(server, "boss")
    answer = c.get("/downloads/2023Q3/export.xlsx")
    assert answer.status_code == 200
    assert "wxmon-2023Q3.xlsx" in answer.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "账号ID" and len(rows) == 1 + 4
    assert {r[-2] for r in rows[1:]} == {"合格", "不合格"}
    assert c.get("/downloads/2023Q3/bulletin.md").text.startswith("# 关于2023年第三季度")
    week = c.get("/weeks/2023-W38")
    assert week.status_code == 200 and "data:image/png;base64," in week.text
    assert c.get("/downloads/2023Q9/export.xlsx").status_code == 404


def test_a_form_without_its_csrf_token_is_refused(server: ConsoleServer) -> None:
    c = client(server)
    c.get("/login")
    refused = c.post("/login", data={"username": "boss", "password": PASSWORD})
    assert refused.status_code == 403
    wrong = c.post("/login", data={"csrf_token": "x" * 43, "username": "boss", "password": PASSWORD})
    assert wrong.status_code == 403
    signed_in = login(server, "boss")
    assert signed_in.post("/logout", data={}).status_code == 403
    token = csrf(signed_in.get("/").text)
    other_site = signed_in.post("/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert signed_in.get("/").status_code == 200  # still signed in: the forged logout did nothing


def test_every_post_route_checks_csrf(office: Office) -> None:
    app = create_app(office.config, office.store, key="k" * 64)
    posts = [r for r in app.routes if "POST" in (getattr(r, "methods", None) or ())]
    assert posts
    assert all(getattr(r.endpoint, "csrf_checked", False) for r in posts)  # type: ignore[attr-defined]
    assert form_endpoint  # the one wrapper that sets it


def test_an_account_name_holding_html_is_shown_as_text(server: ConsoleServer) -> None:
    c = login(server, "boss")
    for url in ("/?period=2023Q3", "/accounts/b2?period=2023Q3"):
        page = c.get(url).text
        assert EVIL_NAME not in page
        assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in page
    assert "script-src 'self'" in c.get("/").headers["content-security-policy"]


def test_five_wrong_passwords_slow_the_next_try(office: Office, server: ConsoleServer,
                                                vclock: clock.VirtualClock) -> None:
    c = client(server)
    for _ in range(5):
        answer = c.post("/login", data={"csrf_token": csrf(c.get("/login").text), "username": "boss",
                                        "password": "wrong password"})
        assert answer.status_code == 401 and "用户名或密码错误" in answer.text
    slowed = c.post("/login", data={"csrf_token": csrf(c.get("/login").text), "username": "boss",
                                    "password": PASSWORD})
    assert slowed.status_code == 429 and "秒后再试" in slowed.text  # even the right password waits
    vclock.advance(timedelta(seconds=31))
    login(server, "boss")
    actions = [e.action for e in office.store.audit_log(limit=20)]
    assert actions.count("login.failed") == 5 and "login.throttled" in actions and actions[0] == "login"
    audit = login(server, "boss").get("/audit").text
    assert "login.throttled" in audit and "login.failed" in audit


def test_a_changed_password_or_a_disabled_user_ends_the_session(office: Office, server: ConsoleServer) -> None:
    from console.auth import hash_password

    boss, jia = login(server, "boss"), login(server, "jia")
    office.store.set_password_hash("boss", hash_password("another password 1"), actor="test")
    assert boss.get("/").headers["location"] == "/login"
    office.store.disable_user("jia", actor="test")
    assert jia.get("/").headers["location"] == "/login"
    c = client(server)
    refused = c.post("/login", data={"csrf_token": csrf(c.get("/login").text), "username": "jia",
                                     "password": PASSWORD})
    assert refused.status_code == 401


def test_pages_need_a_signed_in_user(server: ConsoleServer) -> None:
    c = client(server)
    for url in ("/", "/accounts/a1", "/downloads", "/downloads/2023Q3/export.xlsx", "/tasks", "/public"):
        answer = c.get(url)
        assert answer.status_code in (303, 404), url
        assert answer.status_code == 404 or answer.headers["location"] == "/login"
    forged = httpx.Client(base_url=server.url, cookies={"wxmon_session": "eyJ1c2VyIjogImJvc3MifQ==.x.y"})
    assert forged.get("/").headers["location"] == "/login"


def test_the_public_page_is_opt_in_and_shows_only_what_is_chosen(tmp_path: Path, vclock: clock.VirtualClock) -> None:
    office = make_office(tmp_path, public="web:\n  public:\n    enabled: true\n    title: 某区政务新媒体\n"
                                          "    show: [pass_rate, categories]\n")
    with office.store, running_console(office.config, office.store) as running:
        page = client(running).get("/public")
    assert page.status_code == 200
    assert "某区政务新媒体" in page.text and "合格率25.0%" in page.text and "乡镇街道" in page.text
    assert "模拟甲街道服务" not in page.text and "1个栏目无法正常访问" not in page.text  # accounts not chosen


def test_the_console_reaches_no_network() -> None:
    network = {"httpx", "aiohttp", "requests", "urllib.request", "http.client", "smtplib", "socket", "probes",
               "emulator"}
    for path in sorted((ROOT / "console").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in network and name not in network, f"{path}: imports {name}"


def test_a_bad_period_is_a_clear_400_not_a_crash(server: ConsoleServer) -> None:
    c = login(server, "boss")
    answer = c.get("/?period=2023Q9")
    assert answer.status_code == 400 and "2023Q9" in answer.text
    assert c.get("/?period=2023Q3").status_code == 200  # the console carries on


def test_an_account_page_shows_the_evidence_kept_and_the_alerts_sent(office: Office, server: ConsoleServer) -> None:
    task, _ = office.store.add_task("manual:b1:w9", "b1", tester="张三", question="请问办事时间？",
                                    issued_at=sh(2023, 9, 4, 9), send_by=sh(2023, 9, 4, 17), inspector="insp")
    office.store.add_evidence(task.id, stage="reply", file_name="ab.png", original_name="回复截图.png",
                              media_type="image/png", size=2048, sha256="ab" * 32)
    office.store.apply_alert_changes([], [NewMessage("unit:乙", "b1", "inquiry_deadline", "alert",
                                                     "【告警】模拟乙卫健 测试留言超时未答复", "正文")])
    c = login(server, "boss")
    page = c.get("/accounts/b1?period=2023Q3").text
    assert "回复截图.png" in page.split('id="evidence"')[1] and "回复截图" in page
    assert "测试留言超时未答复" in page.split('id="alerts"')[1] and "待发送" in page
    tasks = login(server, "insp").get("/tasks").text
    assert "请问办事时间？" in tasks and "模拟乙卫健" in tasks  # the inspector's own open task
