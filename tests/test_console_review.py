"""内容审核 in the console (issues 14 and 15), over HTTP against the running console with a real
SQLite store: candidates found by the real content check, a supervisor confirming one and dismissing
another with reasons through the CLI's own rule, what then counts (the verdict) and what the checker
no longer raises, CSRF, roles, refused decisions that change nothing, and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_fixtures import PASSWORD, Office, make_office
from console_server import running_console
from store_fixtures import store_url  # noqa: F401  (a fixture: SQLite and PostgreSQL)
from test_console import csrf, login
from test_metrics_support import NOW

from console.snapshot import compute_snapshot, data_stamp
from monitor import clock
from monitor.clock import SHANGHAI, VirtualClock
from monitor.context import ProbeContext
from monitor.period import parse_period
from monitor.scoring import metrics_table
from monitor.store import Account, Store
from monitor.store.content_findings import ContentFinding
from probes.content_probe import Doc, check_account
from wxmon.web import ConsoleServer

Q3 = parse_period("2023Q3")
AUG = datetime(2023, 8, 10, 9, tzinfo=SHANGHAI)
WRONG = "中国共产党第二十届全国代表大会"
RIGHT = "中国共产党第二十次全国代表大会"
TYPO = "布署"
ARTICLE = (f"<h1>学习会</h1><p>街道党工委召开会议，传达学习{WRONG}精神，"
           f"对下一阶段工作作出{TYPO}。</p>")
HOSTILE = '<img src=x onerror="document.title=1">'


@pytest.fixture
def vclock() -> Iterator[clock.VirtualClock]:
    virtual = clock.VirtualClock(NOW)
    previous = clock.set_clock(virtual)
    try:
        yield virtual
    finally:
        clock.set_clock(previous)


def scan(office: Office, account_id: str, *docs: Doc) -> int:
    """The monitor's own content check over articles of August (found then, so they fall in 2023Q3)."""

    async def go() -> int:
        ctx = ProbeContext.open(office.config, office.store, clock=VirtualClock(AUG))
        try:
            return await check_account(ctx, office.config.account(account_id), list(docs))
        finally:
            await ctx.aclose()

    # a thread of its own: the browser tests' Playwright holds an event loop in this one
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(asyncio.run, go()).result()


@pytest.fixture
def office(tmp_path: Path, vclock: clock.VirtualClock) -> Iterator[Office]:
    made = make_office(tmp_path)
    with made.store:
        assert scan(made, "a1", Doc("https://mp.example/s/1", ARTICLE, "学习会报道", AUG)) == 2
        yield made


@pytest.fixture
def server(office: Office) -> Iterator[ConsoleServer]:
    with running_console(office.config, office.store) as running:
        yield running


def candidate(office: Office, text: str) -> ContentFinding:
    return next(f for f in office.store.content_findings() if f.text == text)


def settled(server: ConsoleServer) -> None:
    """Wait until the console's kept snapshot of Q3 is of the data as it is now (a decision moved the
    data stamp; the overview serves the previous snapshot while the new one is computed)."""
    cache = server.app.state.console.cache
    asyncio.run_coroutine_threadsafe(cache.settled(Q3), server.task.get_loop()).result()


def post(c: httpx.Client, url: str, reason: str | None, token: str | None) -> httpx.Response:
    data = {} if reason is None else {"reason": reason}
    if token is not None:
        data["csrf_token"] = token
    return c.post(url, data=data)


def a1(office: Office) -> dict[str, Any]:
    table = metrics_table(office.store, office.config, Q3)
    row: dict[str, Any] = table.set_index("account_id").loc["a1"].to_dict()
    return row


def test_a_supervisor_confirms_one_dismisses_another_and_it_counts(office: Office, server: ConsoleServer) -> None:
    assert a1(office)["verdict"] == "合格"  # candidates count for nothing
    c = login(server, "boss")
    settled(server)
    assert "安全、泄密事故" not in c.get("/?period=2023Q3").text  # the overview keeps this snapshot
    page = c.get("/review")
    assert page.status_code == 200 and 'href="/review"' in page.text  # in the navigation
    listed = page.text.split('id="open"')[1].split('id="decided"')[0]
    assert "模拟甲街道发布" in listed and "《学习会报道》" in listed and "规范表述错误" in listed
    assert f"<mark>{WRONG}</mark>" in listed and f"“{RIGHT}”" in listed and "错别字" in listed
    wording, typo = candidate(office, WRONG), candidate(office, TYPO)

    token = csrf(page.text)
    done = post(c, f"/review/{wording.id}/confirm", "经核实，会议名称写错", token)
    assert done.status_code == 303 and done.headers["location"] == "/review#flash"
    assert post(c, f"/review/{typo.id}/dismiss", "  引用原文，  非错误 ", token).status_code == 303
    after = c.get("/review").text
    assert f"第{typo.id}条已排除" in after.split('id="flash"')[1].split("</div>")[0]
    assert "当前没有待核实的问题" in after
    decided = after.split('id="decided"')[1]
    assert "经核实，会议名称写错" in decided and "引用原文， 非错误" in decided and "boss" in decided
    assert "已确认" in decided and "已排除" in decided

    # The same rows the CLI decides: status, who and why.
    got = {f.text: (f.status, f.reviewer, f.reason) for f in office.store.content_findings()}
    assert got == {WRONG: ("confirmed", "boss", "经核实，会议名称写错"),
                   TYPO: ("dismissed", "boss", "引用原文， 非错误")}

    # Confirmed: a security incident in the account's verdict, in the metrics and on the overview.
    row = a1(office)
    assert row["security_incidents"] == 1 and row["verdict"] == "不合格"
    assert "security_incident" in row["failed_rules"]
    reason = f"发生1起安全、泄密事故（《学习会报道》严重表述错误“{WRONG}”（应为“{RIGHT}”））"
    assert reason in row["reasons"]
    settled(server)
    overview = c.get("/?period=2023Q3").text
    assert "安全、泄密事故" in overview and WRONG in overview
    account = c.get("/accounts/a1?period=2023Q3").text
    assert "安全、泄密事故" in account

    # Dismissed: the checker does not raise that text again for a1 (a new article with it adds nothing),
    # while the same text in another account is still raised.
    again = Doc("https://mp.example/s/2", f"<p>按照{TYPO}，各社区抓好落实。</p>", "工作动态", AUG)
    assert scan(office, "a1", again) == 0
    assert scan(office, "a2", again) == 1
    assert [(f.account_id, f.text) for f in office.store.content_findings(status="candidate")] == [("a2", TYPO)]

    # Every decision is in the audit log, with who and when.
    entries = [e for e in office.store.audit_log() if e.action.startswith("content.")]
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("boss", "content.dismiss", f"content:{typo.id}"), ("boss", "content.confirm", f"content:{wording.id}")]
    assert all(e.at == NOW for e in entries)
    assert entries[1].detail["reason"] == "经核实，会议名称写错" and entries[1].detail["account"] == "a1"
    log = c.get("/audit").text
    assert "content.confirm" in log and "content.dismiss" in log


def test_a_decision_needs_a_reason_and_a_token(office: Office, server: ConsoleServer) -> None:
    wording = candidate(office, WRONG)
    c = login(server, "boss")
    token = csrf(c.get("/review").text)
    for blank in (None, "", "   "):
        refused = post(c, f"/review/{wording.id}/confirm", blank, token)
        assert refused.status_code == 400
        assert "请写明确认或排除的理由" in refused.text and "未作任何更改" in refused.text
        assert "--reason" not in refused.text  # the CLI's option name is not the page's business
    too_long = post(c, f"/review/{wording.id}/dismiss", "长" * 501, token)
    assert too_long.status_code == 400 and "理由过长（最多500字）" in too_long.text
    assert post(c, f"/review/{wording.id}/confirm", "属实", None).status_code == 403
    assert post(c, f"/review/{wording.id}/confirm", "属实", "forged").status_code == 403
    assert [f.status for f in office.store.content_findings()] == ["candidate", "candidate"]
    assert not [e for e in office.store.audit_log() if e.action.startswith("content.")]
    assert a1(office)["security_incidents"] == 0


def test_a_decided_or_unknown_finding_is_not_decided_again(office: Office, server: ConsoleServer) -> None:
    wording = candidate(office, WRONG)
    c = login(server, "boss")
    token = csrf(c.get("/review").text)
    assert post(c, f"/review/{wording.id}/confirm", "属实", token).status_code == 303
    stale = post(c, f"/review/{wording.id}/dismiss", "误报", token)  # a second supervisor's old page
    assert stale.status_code == 400 and f"第{wording.id}条已由boss处理（已确认），未作更改" in stale.text
    assert office.store.content_finding(wording.id or 0).status == "confirmed"
    assert post(c, "/review/999999/confirm", "属实", token).status_code == 404
    assert post(c, "/review/x1/confirm", "属实", token).status_code == 404
    assert len([e for e in office.store.audit_log() if e.action.startswith("content.")]) == 1


@pytest.mark.parametrize("name", ["jia", "insp"])
def test_editors_and_inspectors_get_404(office: Office, server: ConsoleServer, name: str) -> None:
    wording = candidate(office, WRONG)
    c = login(server, name)
    assert c.get("/review").status_code == 404
    home = c.get("/tasks" if name == "insp" else "/").text
    assert 'href="/review"' not in home  # not in their navigation either
    assert post(c, f"/review/{wording.id}/confirm", "属实", csrf(home)).status_code == 404  # their own valid token
    assert office.store.content_finding(wording.id or 0).status == "candidate"


def test_the_outside_text_is_shown_as_text(office: Office, server: ConsoleServer) -> None:
    office.store.add_content_findings([ContentFinding(
        "b1", "javascript:alert(1)", "sensitive", "sensitive-sample", f"sensitive-sample:{HOSTILE}", "1", 0, 5,
        HOSTILE, f"前文{HOSTILE}后文</dd><script>x()</script>", None, f"<b>{HOSTILE}</b>", AUG)])
    page = login(server, "boss").get("/review").text
    assert HOSTILE not in page and "<script>x()" not in page and "<b>&lt;img" not in page
    assert "&lt;img src=x onerror=" in page and "&lt;script&gt;x()" in page
    assert 'href="javascript:' not in page  # an address not of the web is not made a link


def test_a_decision_remeasures_the_overview(office: Office) -> None:
    """The console's snapshot is keyed on the data stamp: a decision moves it, and the weeks it kept
    from earlier the same day are measured again (a confirmed finding can be in any of them)."""
    first = compute_snapshot(office.store, office.config, Q3)
    assert data_stamp(office.store) == first.stamp
    from monitor.content_review import decide  # the rule the page and the CLI share

    decide(office.store, candidate(office, WRONG).id or 0, "confirmed", reason="属实", reviewer="boss")
    assert data_stamp(office.store) != first.stamp
    second = compute_snapshot(office.store, office.config, Q3, first)
    assert second.table.set_index("account_id").loc["a1", "verdict"] == "不合格"
    august = parse_period("2023-W32")
    assert dict(second.weeks)[august].set_index("account_id").loc["a1", "verdict"] == "不合格"



def test_the_queue_and_the_review_stamp_in_the_store(store_url: str, vclock: clock.VirtualClock) -> None:  # noqa: F811
    """What the page reads, on SQLite and PostgreSQL: newest first, decisions by when they were taken,
    and a stamp that moves with every decision (even one taken at the same instant)."""
    with Store.open(store_url) as store:
        store.upsert_accounts([Account("a1", "a1", None, None)])
        made = store.add_content_findings([ContentFinding(
            "a1", f"https://mp.example/s/{i}", "wrong_char", "wrong-chars", f"wrong-chars:{t}", "1", 0, 2, t,
            f"【{t}】", None, None, AUG.replace(day=10 + i)) for i, t in enumerate(("布署", "签定", "坚苦奋斗"))])
        assert store.content_review_stamp() == "0:0:"
        assert [f.text for f in store.latest_content_findings(status="candidate", limit=2)] == ["坚苦奋斗", "签定"]
        assert store.count_content_findings("candidate") == 3
        stamps = {store.content_review_stamp()}
        store.review_content_finding(made[0].id or 0, "confirmed", reviewer="r", reason="属实")
        stamps.add(store.content_review_stamp())
        vclock.advance(timedelta(minutes=1))
        store.review_content_finding(made[2].id or 0, "dismissed", reviewer="r", reason="误报")
        stamps.add(store.content_review_stamp())
        store.review_content_finding(made[0].id or 0, "dismissed", reviewer="r", reason="改判")  # same instant
        stamps.add(store.content_review_stamp())
        assert len(stamps) == 4
        # the same instant: the later decision (higher id) first
        assert [f.text for f in store.latest_content_findings(decided=True)] == ["坚苦奋斗", "布署"]
        assert store.count_content_findings("candidate") == 1 and store.count_content_findings("dismissed") == 2


# -- in a real browser -------------------------------------------------------------------------------

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"


def test_a_supervisor_confirms_a_candidate_by_clicking(browser: Any, office: Office, server: ConsoleServer) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    wording = candidate(office, WRONG)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                  locale="zh-CN")
    page = context.new_page()
    base = server.url
    page.goto(f"{base}/login")
    page.fill("#username", "boss")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    with page.expect_navigation():
        page.click("header a[href='/review']")
    card = f"#finding-{wording.id}"
    assert WRONG in page.text_content(f"{card} mark")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling on a phone
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / "review-phone.png"), full_page=True)

    # Without a reason the browser does not even send the form.
    page.click(f"#confirm-{wording.id} button[type=submit]")
    assert page.evaluate(f"document.querySelector('#reason-{wording.id}-confirm').validity.valueMissing")
    assert office.store.content_finding(wording.id or 0).status == "candidate"

    page.fill(f"#reason-{wording.id}-confirm", "经核实，会议名称写错")
    with page.expect_navigation():
        page.click(f"#confirm-{wording.id} button[type=submit]")
    assert f"第{wording.id}条已确认（计入安全事故）" in page.text_content("#flash")
    assert "经核实，会议名称写错" in page.text_content(f"#decided-{wording.id}")
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(ARTIFACTS / "review-decided-phone.png"), full_page=True)
    context.close()
    got = office.store.content_finding(wording.id or 0)
    assert (got.status, got.reviewer, got.reason) == ("confirmed", "boss", "经核实，会议名称写错")
