"""The content check inside the monitor: articles the privacy round reads and menu links become
review candidates; a link redirecting to a blocklisted host is caught through the page fetcher
(address policy and all) without the blocked host ever being requested."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from monitor.clock import SHANGHAI, VirtualClock
from monitor.config import load_config
from monitor.context import ProbeContext
from monitor.store import Account, ColumnResult, Store
from probes.content_probe import Doc, check_account, menu_docs
from wxmon.content_cli import decide, review_as_scenario

try:
    from probe_harness import ProbeHarness
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness

AUG = datetime(2023, 8, 10, 9, tzinfo=SHANGHAI)
BLOCKED_LANDING = "http://www.harmful-sample.example/landing"


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""store: sqlite:///{tmp_path / 'wxmon.db'}
checks: {{allow_private: [127.0.0.1/32], per_host_rate: null, timeout_s: 3}}
content: {{samples: true}}
accounts:
  - id: jd-a
    name: 测试街道（模拟）
    unit: 测试街道办事处（模拟）
    category: 乡镇街道
    api: false
    columns: [{{path: 办事/通知公告, type: view, url: "https://example.gov.cn/a"}}]
""", encoding="utf-8")
    return path


async def start_site(seen: list[str]) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        targets = {"/go": BLOCKED_LANDING, "/hop": "/go", "/private": "http://10.1.2.3/x"}
        if request.path in targets:
            raise web.HTTPFound(targets[request.path])
        return web.Response(text="<p>正常页面</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def test_blocklisted_links_and_redirects_to_them(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    account = config.account("jd-a")
    seen: list[str] = []

    async def go() -> None:
        runner, base = await start_site(seen)
        store = Store.open(config.store_url)
        clock = VirtualClock(AUG)
        ctx = ProbeContext.open(config, store, clock=clock)
        try:
            store.upsert_accounts([Account("jd-a", "测试街道（模拟）", None, None)])
            html = (f'<p>报名：<a href="http://casino-sample.invalid/r">直接</a>，'
                    f'<a href="{base}/hop">跳转</a>，<a href="{base}/fine">正常</a>，'
                    f'<a href="{base}/private">内网</a></p>')
            new = await check_account(ctx, account, [Doc("https://mp.example/s/1", html, "报名通知", AUG)])
            found = store.content_findings(status="candidate")
            assert new == 2
            assert sorted((f.kind, f.text, f.context) for f in found) == sorted([
                ("link_host", "http://casino-sample.invalid/r", "链接“直接”"),
                ("link_host", f"{base}/hop -> {BLOCKED_LANDING}", "链接“跳转”"),
            ])
            # the redirect was followed hop by hop through our fetcher, up to the blocked host and not into it;
            # the link to a private address outside allow_private was refused, not followed
            assert sorted(seen) == ["/fine", "/go", "/hop", "/private"]

            # A menu column whose target redirects to the blocked host.
            store.apply_column_results([ColumnResult("jd-a", "服务/报名", "ok", clock.now(), type="view",
                                                     target=f"{base}/go")])
            menus = menu_docs(ctx, account)
            assert [d.title for d in menus] == ["菜单“服务/报名”"]
            assert await check_account(ctx, account, menus) == 1
            menu = store.content_findings(status="candidate")[-1]
            assert (menu.source, menu.title) == (f"{base}/go", "菜单“服务/报名”")
            assert menu_docs(ctx, account) == []  # checked this week already

            # Dismissed: the same text is not raised again from this account.
            decide(store, menu.id or 0, "dismissed", reason="测试", reviewer="r")
            clock.set(AUG + timedelta(days=8))
            assert await check_account(ctx, account, menu_docs(ctx, account)) == 0
        finally:
            await ctx.aclose()
            store.close()
            await runner.cleanup()

    asyncio.run(go())


def test_demo_articles_give_exactly_the_planted_errors(emulator, demo_config) -> None:
    """The privacy round over the demo world: candidates in exactly the articles that carry errors,
    nothing in the others; the simulated reviewer confirms them all."""
    path = demo_config(emulator)
    accounts = ["zh-lishui", "bm-wjw", "jd-chengdong", "jb-fabu", "zh-baisha", "bm-scjg"]

    async def body(h: ProbeHarness) -> None:
        # daily pairs as the demo runs them, a few of them (the article pages are rate-limited per minute)
        for day in ("2023-07-01T07:00:00", "2023-08-01T07:00:00", "2023-08-20T07:00:00", "2023-09-30T23:00:00"):
            await h.round("freshness", datetime.fromisoformat(day).replace(tzinfo=SHANGHAI), accounts)
            rows = await h.round("privacy", None, accounts)
            assert all(r["status"] == "ok" for r in rows), rows
        end = h.clock.now()
        truth = h.server.world.truth(datetime(2023, 7, 1, tzinfo=SHANGHAI), end, h.server.base_url)["accounts"]
        found = h.store.content_findings(status="candidate")
        for account in accounts:
            incidents = truth[account]["incidents"]
            mine = [f for f in found if f.account_id == account]
            assert {f.source for f in mine} == {i["url"] for i in incidents}, account
            assert all(any(f.text.split(" -> ")[0] in i["text"] for i in incidents) for f in mine), account
        assert {f.account_id for f in found} == {"zh-lishui", "bm-wjw", "jd-chengdong"}
        confirmed, dismissed = review_as_scenario(h.store, truth)
        assert (confirmed, dismissed) == (len(found), 0)
        assert h.store.content_findings(status="candidate") == []

    ProbeHarness.run(emulator, path, body)


def test_a_broken_rule_file_is_logged_not_fatal(tmp_path: Path, caplog) -> None:
    path = write_config(tmp_path)
    (tmp_path / "office.yaml").write_text("version: 1\nname: office\nrevision: a\nkind: sensitive\nrules: []\n",
                                          encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace("content: {samples: true}",
                                                             "content: {samples: true, rules: [office.yaml]}"),
                    encoding="utf-8")
    config = load_config(path)

    async def go() -> None:
        store = Store.open(config.store_url)
        ctx = ProbeContext.open(config, store, clock=VirtualClock(AUG))
        try:
            doc = Doc("https://mp.example/s/1", "<p>工作布署到位</p>", "通知", AUG)
            assert await check_account(ctx, config.account("jd-a"), [doc]) == 0
        finally:
            await ctx.aclose()
            store.close()

    asyncio.run(go())
    assert any("rule files unusable" in r.getMessage() and "office.yaml:5: rules" in r.getMessage()
               for r in caplog.records)
