"""巡检任务 in the console: an inspector records a test inquiry's send and replies from a phone.

Over HTTP (uvicorn on 127.0.0.1, a real SQLite store, real Argon2 hashes): another inspector's task
answers 404 and records nothing; a form without its CSRF token is refused; a file that is not an
image is refused with a Chinese message and nothing is recorded; a time the CLI refuses is refused
with the CLI's own words; what is recorded is in the store and the audit log (who and when). In
Debian's chromium (Playwright, tests/test_console_browser.py's fixture): an inspector on a phone-sized
page signs in, opens the task, records a reply with a screenshot, and sees it recorded; the store
has the reply and the evidence file. Screenshots go to test-artifacts/console-tasks/."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_fixtures import PASSWORD, Office, make_office
from console_server import running_console
from PIL import Image
from test_console import csrf, login
from test_metrics_support import NOW, sh

from console.auth import hash_password
from monitor import clock
from monitor.evidence import evidence_dir
from monitor.store.tasks import InquiryTask
from monitor.taskdesk import TaskDesk
from wxmon.web import ConsoleServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console-tasks"
ISSUED = sh(2023, 10, 9, 8, 0)  # a Monday, an hour before NOW (09:00)
QUESTION = "请问居住证续签需要带什么材料？"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    previous = clock.set_clock(clock.VirtualClock(NOW))
    try:
        made = make_office(tmp_path)
        with made.store:
            made.store.add_user("insp2", role="inspector", unit=None, password_hash=hash_password(PASSWORD),
                                actor="test")
            yield made
    finally:
        clock.set_clock(previous)


@pytest.fixture
def server(office: Office) -> Iterator[ConsoleServer]:
    with running_console(office.config, office.store) as running:
        yield running


def issue(office: Office, inspector: str, account_id: str = "a1") -> InquiryTask:
    task, _ = office.store.add_task(f"test-{inspector}-{account_id}", account_id, tester="检查员手机A",
                                    question=QUESTION, issued_at=ISSUED, send_by=sh(2023, 10, 16),
                                    inspector=inspector)
    return task


def png(width: int = 90, height: int = 160) -> bytes:
    """A small real PNG, like a phone's screenshot (only smaller)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 160, 90)).save(out, format="PNG")
    return out.getvalue()


def nothing_recorded(office: Office, task: InquiryTask) -> None:
    assert office.store.task_replies([task.id]) == []
    assert office.store.task_evidence(task.id) == []
    assert office.store.get_task(task.id).sent_at is None
    kept = evidence_dir(office.config)
    assert not kept.exists() or list(kept.iterdir()) == []
    assert [e for e in office.store.audit_log() if e.action.startswith("task.")] == []


def reply_form(c: httpx.Client, task: InquiryTask, **fields: str) -> dict[str, str]:
    data = {"csrf_token": csrf(c.get(f"/tasks/{task.id}").text), "reply_at": "2023-10-09T08:40",
            "text": "您好，需携带身份证和居住证。", "auto": "0"}
    data.update(fields)
    return data


# -- over HTTP ---------------------------------------------------------------------------------------

def test_an_inspector_sees_and_records_only_their_own_tasks(office: Office, server: ConsoleServer) -> None:
    mine, theirs = issue(office, "insp"), issue(office, "insp2", "a2")
    c = login(server, "insp")
    listing = c.get("/tasks").text
    assert f'id="task-{mine.id}"' in listing and QUESTION in listing
    assert f'id="task-{theirs.id}"' not in listing
    token = csrf(c.get(f"/tasks/{mine.id}").text)
    assert c.get(f"/tasks/{theirs.id}").status_code == 404  # as absent as a wrong number
    assert c.get("/tasks/999999").status_code == 404
    answer = c.post(f"/tasks/{theirs.id}/reply", data={"csrf_token": token, "reply_at": "2023-10-09T08:40",
                                                       "text": "冒充登记", "auto": "0"},
                    files={"screenshot": ("回复.png", png(), "image/png")})
    assert answer.status_code == 404
    assert c.post(f"/tasks/{theirs.id}/sent", data={"csrf_token": token, "sent_at": "2023-10-09T08:30"}
                  ).status_code == 404
    nothing_recorded(office, theirs)
    boss = login(server, "boss")  # a supervisor sees every task
    assert f'id="task-{theirs.id}"' in boss.get("/tasks").text
    assert boss.get(f"/tasks/{theirs.id}").status_code == 200


def test_a_form_without_its_csrf_token_is_refused(office: Office, server: ConsoleServer) -> None:
    task = issue(office, "insp")
    c = login(server, "insp")
    fields = {"reply_at": "2023-10-09T08:40", "text": "您好", "auto": "0"}
    assert c.post(f"/tasks/{task.id}/reply", data=fields).status_code == 403
    assert c.post(f"/tasks/{task.id}/reply", data={**fields, "csrf_token": "x" * 43}).status_code == 403
    assert c.post(f"/tasks/{task.id}/sent", data={"sent_at": "2023-10-09T08:30"}).status_code == 403
    nothing_recorded(office, task)


def test_a_file_that_is_not_an_image_is_refused_and_nothing_recorded(office: Office, server: ConsoleServer) -> None:
    task = issue(office, "insp")
    c = login(server, "insp")
    fake = b"<html><script>alert(1)</script></html>" * 10  # named .png, sent as image/png
    answer = c.post(f"/tasks/{task.id}/reply", data=reply_form(c, task),
                    files={"screenshot": ("回复截图.png", fake, "image/png")})
    assert answer.status_code == 400
    assert "回复截图.png: 不是PNG、JPEG或WebP图片，不能作为截图证据" in answer.text
    assert "未登记任何内容" in answer.text
    assert "您好，需携带身份证和居住证。" in answer.text  # what was typed is kept on the page
    both = c.post(f"/tasks/{task.id}/reply", data=reply_form(c, task, reply_at="2023-10-09T09:05"),
                  files={"screenshot": ("x.png", fake, "image/png")})
    assert both.status_code == 400  # everything wrong is said at once
    assert "x.png: 不是PNG、JPEG或WebP图片" in both.text and "回复时间2023-10-09 09:05晚于当前时间" in both.text
    nothing_recorded(office, task)


def test_times_are_refused_with_the_clis_words(office: Office, server: ConsoleServer) -> None:
    task = issue(office, "insp")
    c = login(server, "insp")
    desk = TaskDesk(office.config, office.store)
    for given, expected in [
        ("2023-10-09T07:59", desk.check_reply(task, sh(2023, 10, 9, 7, 59), "x")[0]),  # before it was issued
        ("2023-10-09T09:01", desk.check_reply(task, sh(2023, 10, 9, 9, 1), "x")[0]),  # in the future
        ("明天上午", "回复时间：无法识别时间“明天上午”"),
        ("", "请填写回复时间"),
    ]:
        answer = c.post(f"/tasks/{task.id}/reply", data=reply_form(c, task, reply_at=given))
        assert answer.status_code == 400, given
        assert expected in answer.text, (given, expected)
    assert "早于任务下发时间2023-10-09 08:00" in desk.check_reply(task, sh(2023, 10, 9, 7, 59), "x")[0]
    answer = c.post(f"/tasks/{task.id}/sent", data={"csrf_token": csrf(c.get(f"/tasks/{task.id}").text),
                                                    "sent_at": "2023-10-09T09:01"})
    assert answer.status_code == 400 and "发送时间2023-10-09 09:01晚于当前时间，请核对" in answer.text
    nothing_recorded(office, task)


def test_a_send_and_a_reply_are_stored_and_audited(office: Office, server: ConsoleServer) -> None:
    task = issue(office, "insp")
    c = login(server, "insp")
    page = c.get(f"/tasks/{task.id}").text
    assert 'type="datetime-local"' in page and 'value="2023-10-09T09:00"' in page  # the send defaults to now
    assert 'accept="image/*"' in page
    answer = c.post(f"/tasks/{task.id}/reply", data=reply_form(c, task, reply_at="2023-10-09T08:12", auto="1",
                                                               text="感谢关注！"))
    assert answer.status_code == 303
    shown = c.get(f"/tasks/{task.id}").text
    assert "已登记：2023-10-09 08:12收到自动回复" in shown and "尚未登记发送时间" in shown  # the desk's note
    shot = png()
    answer = c.post(f"/tasks/{task.id}/sent", data={"csrf_token": csrf(shown), "sent_at": "2023-10-09T08:10"},
                    files={"screenshot": ("发送.png", shot, "image/png")})
    assert answer.status_code == 303
    stored = office.store.get_task(task.id)
    assert stored.sent_at == sh(2023, 10, 9, 8, 10)
    [reply] = office.store.task_replies([task.id])
    assert (reply.at, reply.text, reply.auto, reply.source) == (sh(2023, 10, 9, 8, 12), "感谢关注！", True, "inspector")
    [kept] = office.store.task_evidence(task.id)
    assert kept.stage == "sent" and kept.sha256 == hashlib.sha256(shot).hexdigest()
    image = c.get(f"/tasks/{task.id}/evidence/{kept.id}")
    assert image.content == shot and image.headers["content-type"] == "image/png"
    assert login(server, "insp2").get(f"/tasks/{task.id}/evidence/{kept.id}").status_code == 404
    entries = {e.action: e for e in office.store.audit_log() if e.action.startswith("task.")}
    assert set(entries) == {"task.reply", "task.sent"}
    assert all(e.actor == "insp" and e.target == f"task:{task.id}" and e.at == NOW for e in entries.values())
    assert entries["task.sent"].detail == {"account": "a1", "at": "2023-10-09 08:10", "evidence": kept.sha256}
    assert entries["task.reply"].detail["auto"] is True


# -- in a real browser -------------------------------------------------------------------------------

def test_an_inspector_records_a_reply_with_a_screenshot_from_a_phone(browser: Any, office: Office,
                                                                     server: ConsoleServer, tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    task = issue(office, "insp")
    shot = tmp_path / "回复截图.png"
    shot.write_bytes(png())
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
    page = context.new_page()
    base = server.url
    page.goto(f"{base}/login")
    page.fill("#username", "insp")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/tasks")  # an inspector lands on their tasks
    assert QUESTION in page.text_content(f"#task-{task.id}")
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / "tasks-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone

    page.click(f"#task-{task.id} a.button")
    page.wait_for_url(f"{base}/tasks/{task.id}")
    page.fill("#reply-at", "2023-10-09T08:40")
    page.fill("#reply-text", "您好，需携带身份证和居住证。")
    page.check("input[name=auto][value='0']")
    not_image = tmp_path / "聊天记录.png"
    not_image.write_text("这不是图片", encoding="utf-8")
    page.set_input_files("#reply-shot", str(not_image))
    with page.expect_navigation():
        page.click("#reply-form button[type=submit]")
    assert "聊天记录.png: 不是PNG、JPEG或WebP图片" in page.text_content("#reply-errors")
    page.screenshot(path=str(ARTIFACTS / "task-refused-phone.png"), full_page=True)
    assert office.store.task_replies([task.id]) == []
    assert page.input_value("#reply-text") == "您好，需携带身份证和居住证。"  # typed once, kept
    page.set_input_files("#reply-shot", str(shot))
    with page.expect_navigation():
        page.click("#reply-form button[type=submit]")
    assert "已登记：2023-10-09 08:40收到回复，截图已保存" in page.text_content("#flash")
    assert "您好，需携带身份证和居住证。" in page.text_content("#replies")
    page.wait_for_function("document.querySelector('#evidence img').naturalWidth > 0")  # the kept picture shows
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / "task-recorded-phone.png"), full_page=True)
    context.close()

    [reply] = office.store.task_replies([task.id])
    assert (reply.at, reply.text, reply.auto) == (sh(2023, 10, 9, 8, 40), "您好，需携带身份证和居住证。", False)
    [kept] = office.store.task_evidence(task.id)
    data = shot.read_bytes()
    assert (kept.stage, kept.original_name, kept.sha256) == ("reply", "回复截图.png", hashlib.sha256(data).hexdigest())
    assert (evidence_dir(office.config) / kept.file_name).read_bytes() == data
    assert [e.actor for e in office.store.audit_log() if e.action == "task.reply"] == ["insp"]

