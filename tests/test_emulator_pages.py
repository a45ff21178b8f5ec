"""Pages behind columns: government H5 pages, mp article pages, outages, canary."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from emulator.server import EmulatorServer

START = datetime.fromisoformat("2023-07-03T10:00:00+08:00")


def scenario() -> dict[str, Any]:
    return {"seed": 3, "clock": {"start": START.isoformat()}, "accounts": [{
        "id": "s1", "name": "测试街道（模拟）", "unit": "测试街道办事处（模拟）", "appid": "wxs1", "secret": "ss1",
        "pages": {
            "ok": {"title": "办事指南"},
            "soft": {"kind": "soft404"},
            "gone": {"kind": "http404"},
            "err": {"kind": "http500"},
            "hop": {"kind": "redirect", "hops": 3, "to": "ok"},
            "hopbad": {"kind": "redirect", "hops": 2, "to": "http404"},
            "hang": {"kind": "hang", "hang_s": 5},
            "slow": {"kind": "slow", "delay_s": 0.3},
            "later": {"kind": "http404", "since": "2023-07-10T00:00:00+08:00"},
            "wx": {"kind": "oauth"},
            "flaky": {"outages": [{"from": "2023-07-03T11:00:00+08:00", "until": "2023-07-03T12:00:00+08:00",
                                   "kind": "http500"}]},
        },
        "articles": [
            {"id": "a-ok", "title": "正常文章", "publish": "2023-07-01T09:00:00+08:00", "pii": ["mobile"]},
            {"id": "a-del", "title": "删", "publish": "2023-07-01T09:00:00+08:00", "page": "deleted"},
            {"id": "a-vio", "title": "违", "publish": "2023-07-01T09:00:00+08:00", "page": "violation"},
            {"id": "a-exp", "title": "期", "publish": "2023-07-01T09:00:00+08:00", "page": "expired"},
            {"id": "a-mig", "title": "迁", "publish": "2023-07-01T09:00:00+08:00", "page": "migrated"},
            *({"id": f"a-{kind}", "title": kind, "publish": "2023-07-01T09:00:00+08:00", "page": kind}
              for kind in ("infringement", "cancelled", "blocked", "banned", "unavailable", "send_failed")),
            {"id": "a-future", "title": "未来", "publish": "2023-08-01T09:00:00+08:00"},
        ],
    }]}


@pytest.fixture
def site(make_emulator: Callable[..., EmulatorServer]):
    server = make_emulator(scenario())
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        yield server, client


def test_site_page_kinds(site) -> None:
    _, client = site
    ok = client.get("/site/s1/ok")
    assert ok.status_code == 200 and "办事指南" in ok.text and "测试街道办事处" in ok.text
    soft = client.get("/site/s1/soft")
    assert soft.status_code == 200 and "页面不存在" in soft.text
    assert client.get("/site/s1/gone").status_code == 404
    assert client.get("/site/s1/err").status_code == 500
    assert client.get("/site/s1/none").status_code == 404
    assert client.get("/site/nobody/ok").status_code == 404


def test_redirect_chains(site) -> None:
    _, client = site
    r = client.get("/site/s1/hop", follow_redirects=True)
    assert r.status_code == 200 and len(r.history) == 3 and all(h.status_code == 302 for h in r.history)
    bad = client.get("/site/s1/hopbad", follow_redirects=True)
    assert bad.status_code == 404 and len(bad.history) == 2


def test_hang_and_slow(site) -> None:
    _, client = site
    # How soon a client gets away from a hanging page is measured in bench/bench_emulator.py, not bounded here.
    with pytest.raises(httpx.ReadTimeout):
        client.get("/site/s1/hang", timeout=0.3)
    began = time.monotonic()
    assert client.get("/site/s1/slow").status_code == 200
    assert time.monotonic() - began >= 0.3  # a lower bound: a loaded machine only makes it longer


def test_since_and_outage_windows(site) -> None:
    server, client = site
    assert client.get("/site/s1/later").status_code == 200
    assert client.get("/site/s1/flaky").status_code == 200
    server.clock.advance(timedelta(hours=1, minutes=30))
    assert client.get("/site/s1/flaky").status_code == 500
    server.clock.advance(timedelta(hours=1))
    assert client.get("/site/s1/flaky").status_code == 200
    server.clock.set(datetime.fromisoformat("2023-07-10T00:00:00+08:00"))
    assert client.get("/site/s1/later").status_code == 404


def shown(html: str) -> tuple[str, str]:
    """(visible message block title, visible article text), read as a browser shows them."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    message = ""
    for node in tree.css(".weui-msg"):
        if "display:none" not in (node.attributes.get("style") or "").replace(" ", ""):
            title = node.css_first(".weui-msg__title")
            message = title.text(strip=True) if title is not None else ""
            break
    body = tree.css_first("#js_content")
    return message, body.text(strip=True) if body is not None else ""


def test_article_pages(site) -> None:
    server, client = site
    world = server.world
    keys = {a.id: a.key for a in world.accounts["s1"].articles}
    ok = client.get(f"/mp/s/{keys['a-ok']}")
    message, body = shown(ok.text)
    assert ok.status_code == 200 and message == "" and "联系电话" in body and "正常文章" in ok.text
    # Like the real page: the body starts hidden, and the error-string tables ride along in scripts.
    assert 'id="js_content" style="visibility: hidden;"' in ok.text
    assert all(t in ok.text for t in ("参数错误", "链接已过期", "此帐号已被封禁", "<script"))
    gone = {"a-del": "该内容已被发布者删除", "a-vio": "此内容因违规无法查看", "a-exp": "链接已过期",
            "a-mig": "该公众号已迁移", "a-infringement": "此内容被投诉且经审核涉嫌侵权，无法查看。",
            "a-cancelled": "此帐号已自主注销，内容无法查看", "a-blocked": "此帐号已被屏蔽，内容无法查看",
            "a-banned": "此帐号已被封禁，内容无法查看", "a-unavailable": "该内容暂时无法查看",
            "a-send_failed": "此内容发送失败无法查看"}
    for art_id, text in gone.items():
        r = client.get(f"/mp/s/{keys[art_id]}")
        assert r.status_code == 200 and shown(r.text) == (text, ""), art_id
    assert shown(client.get(f"/mp/s/{keys['a-future']}").text)[0] == "参数错误"
    assert shown(client.get("/mp/s/unknown").text)[0] == "参数错误"


def test_large_soft404_and_oauth_pages(site) -> None:
    _, client = site
    soft = client.get("/site/s1/soft")
    # The site's whole frame (navigation, footer) around a short notice, answered with 200.
    assert soft.status_code == 200 and len(soft.content) > 10_000 and "测试街道办事处（模拟）" in soft.text
    assert 'class="navbar"' in soft.text and 'class="footer"' in soft.text and "页面不存在" in soft.text
    wx = client.get("/site/s1/wx", follow_redirects=True)
    assert wx.status_code == 200 and wx.history and wx.url.path == "/connect/oauth2/authorize"
    assert shown(wx.text)[0] == "请在微信客户端打开链接"
    assert wx.url.params["redirect_uri"].endswith("/site/s1/wx")


def test_verification_pages_for_clients_that_call_too_often(make_emulator) -> None:
    spec = scenario()
    spec["article_pages_per_minute"] = 3
    server = make_emulator(spec)
    key = next(a.key for a in server.world.accounts["s1"].articles if a.id == "a-ok")
    with httpx.Client(base_url=server.base_url, timeout=5, follow_redirects=True) as client:
        answers = [client.get(f"/mp/s/{key}") for _ in range(7)]
    # Counted per wall-clock minute: the first three open, unless the minute turned over mid-way.
    seen = [shown(r.text)[0] for r in answers]
    assert all(r.status_code == 200 for r in answers)
    assert seen[:3] == ["", "", ""] or "" in seen[3:], seen
    if "" not in seen[3:]:
        assert seen[3:6] == ["环境异常"] * 3 and seen[6] == "访问过于频繁", seen
        assert answers[3].url.path == "/mp/wappoc_appmsgcaptcha"


def test_canary(site) -> None:
    _, client = site
    r = client.get("/_emu/canary")
    assert r.status_code == 200 and r.text == "ok"


def test_demo_menu_urls_open(emulator: EmulatorServer) -> None:
    """Every URL in the demo menus answers at the quarter's start (all columns healthy then), but
    the pages behind WeChat's web authorization, which answer its interstitial outside WeChat."""
    from emulator.menus import selfmenu_info

    behind_oauth = 0
    with httpx.Client(timeout=5, follow_redirects=True) as client:
        for acct in emulator.scenario.accounts:
            info = selfmenu_info(acct, emulator.base_url, emulator.world.seed)
            for top in info["selfmenu_info"]["button"]:
                for leaf in top.get("sub_button", {}).get("list", [top]):
                    urls = [leaf.get("url")] + [n["content_url"] for n in leaf.get("news_info", {}).get("list", [])]
                    for url in filter(None, urls):
                        r = client.get(url)
                        if r.url.path == "/connect/oauth2/authorize":
                            behind_oauth += 1
                            assert "请在微信客户端打开链接" in r.text
                            continue
                        assert r.status_code == 200 and "页面不存在" not in r.text and shown(r.text)[0] == "", url
    assert behind_oauth == 1  # bm-mzj's 我要留言
