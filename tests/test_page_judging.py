"""Pages judged as a person reads them: the corpus in tests/data/pages/ (index.json says what each
page is and the judgement expected), judged directly and through a real HTTP server and the real
columns round (``wxmon probe columns``), plus the checks that need a site: soft-404 by comparison
with what the site answers for a missing page, and holding off a host that asks for verification.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from monitor.http import PageResult
from probes.columns import judge_page, lands_on_home_instead
from probes.pages import OAUTH_REASON, VERIFY_REASON, HostBackoff, read_page

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "pages"
INDEX = json.loads((CORPUS / "index.json").read_text(encoding="utf-8"))


def corpus_result(entry: dict[str, Any]) -> PageResult:
    text = (CORPUS / entry["file"]).read_text(encoding="utf-8")
    return PageResult(entry["url"], entry["final_url"], entry["status"], 10.0, text)


def test_corpus_covers_what_the_issue_names() -> None:
    files = {e["file"] for e in INDEX}
    assert len(INDEX) == len(files) and all((CORPUS / f).is_file() for f in files)
    gone = {e["reason"] for e in INDEX if e["file"].startswith("gone-")}
    assert len(gone) >= 11  # every gone reason of WECHAT.md, one page each
    assert {e["expect"] for e in INDEX} == {"ok", "fail", "unverifiable"}
    assert any(e["url"] != e["final_url"] for e in INDEX)  # redirects


@pytest.mark.parametrize("entry", INDEX, ids=[e["file"] for e in INDEX])
def test_corpus_page_is_judged_right(entry: dict[str, Any]) -> None:
    outcome, reason = judge_page(corpus_result(entry))
    assert outcome == entry["expect"] and entry["reason"] in reason, (outcome, reason, entry.get("note"))


def test_markers_outside_the_message_block_do_not_count() -> None:
    article = next(e for e in INDEX if e["file"] == "article-script-param-error.html")
    view = read_page((CORPUS / article["file"]).read_text(encoding="utf-8"))
    assert view.article and view.message == ""  # the hidden tip template is not shown
    assert "参数错误" not in view.body and "该内容暂时无法查看" not in view.body and "链接已过期" not in view.body


def test_a_title_naming_the_page_missing_counts_a_headline_does_not() -> None:
    frame = (CORPUS / "gov-healthy-environment.html").read_text(encoding="utf-8")
    for title, expect in [("页面不存在 - 某某区生态环境局", "fail"), ("404 页面不存在", "fail"),
                          ("关于部分网站页面不存在问题的整改通报 - 某某区生态环境局", "ok")]:
        html = frame.replace("环境异常情况处置指南 - 某某区生态环境局", title, 1)
        assert judge_page(PageResult("https://sthj.example.gov.cn/a.html", None, 200, 1.0, html))[0] == expect, title


def test_a_large_article_and_a_gone_page_with_large_scripts() -> None:
    healthy = (CORPUS / "article-body-says-expired.html").read_text(encoding="utf-8")
    para = "<p>" + "为进一步做好居住证办理工作，方便群众办事。" * 20 + "</p>"
    big = healthy.replace('style="visibility: hidden;">', 'style="visibility: hidden;">' + para * 2500, 1)
    assert len(big.encode("utf-8")) > 1_000_000
    assert judge_page(PageResult("https://mp.weixin.qq.com/s/x", None, 200, 1.0, big)) == ("ok", "HTTP 200")
    gone = (CORPUS / "gone-deleted.html").read_text(encoding="utf-8")
    padded = gone.replace("</head>", "<script>var x = '" + "参数错误" * 200_000 + "';</script></head>", 1)
    assert judge_page(PageResult("https://mp.weixin.qq.com/s/x", None, 200, 1.0, padded)) == \
        ("fail", "文章已被发布者删除")


def test_host_backoff_is_bounded_and_ends() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2023, 7, 3, tzinfo=UTC)
    backoff = HostBackoff()
    backoff.hold("https://mp.weixin.qq.com/s/a", now)
    assert backoff.held("https://MP.weixin.qq.com/s/b", now + timedelta(minutes=29)) is not None
    assert backoff.held("https://mp.weixin.qq.com/s/b", now + timedelta(minutes=30)) is None
    for i in range(HostBackoff.MAX_HOSTS + 5):
        backoff.hold(f"https://h{i}.example.gov.cn/", now)
    assert backoff.held("https://h0.example.gov.cn/", now) is None  # the oldest forgotten
    assert backoff.held(f"https://h{HostBackoff.MAX_HOSTS}.example.gov.cn/", now) is not None


# -- through a real server and the real round -------------------------------------------------------

class Site:
    """An aiohttp server on 127.0.0.1 in its own thread: the corpus pages, a verification page, and a
    government site that answers 200 with its home page for paths that do not exist."""

    HOME = (CORPUS / "gov-healthy-column.html").read_text(encoding="utf-8")

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.moved_home: set[str] = set()  # pages the site now redirects to its home page
        self.missing_is_404 = False  # answer a path that cannot exist with 404 (no site baseline)
        self.challenge_all = False  # a CDN's browser check in front of every path
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._page)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _page(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] = self.hits.get(path, 0) + 1
        if path == "/ok":
            return web.Response(text="ok")
        if self.challenge_all and path != "/ok":
            return web.Response(text=(CORPUS / "waf-challenge-200.html").read_text(encoding="utf-8"),
                                content_type="text/html")
        if self.missing_is_404 and path.startswith("/wxmon-"):
            raise web.HTTPNotFound()
        if path in self.moved_home:
            raise web.HTTPFound("/")
        if path.startswith(("/corpus/", "/wx/mp/s/")):  # the second: where WeChat's article pages sit
            name = path.rsplit("/", 1)[-1]
            if (CORPUS / name).is_file() and name.endswith(".html"):
                return web.Response(text=(CORPUS / name).read_text(encoding="utf-8"), content_type="text/html")
        if path.startswith("/mp/s/"):  # every article page asks for verification
            raise web.HTTPFound("/mp/wappoc_appmsgcaptcha?poc_token=x")
        if path == "/mp/wappoc_appmsgcaptcha":
            return web.Response(text=(CORPUS / "verify-env.html").read_text(encoding="utf-8"),
                                content_type="text/html")
        if path in ("/", "/zcwj/policy.html", "/bszn/guide.html"):
            body = self.HOME if path == "/" else self.HOME.replace("居住证办理指南", f"政策文件解读{path}")
            return web.Response(text=body, content_type="text/html")
        return web.Response(text=self.HOME, content_type="text/html")  # the soft 404: the home page, 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Site:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with Site() as s:
        yield s


def probe_columns(tmp_path: Path, site: Site, columns: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    config = tmp_path / "accounts.yaml"
    config.write_text(yaml.safe_dump({
        "store": f"sqlite:///{tmp_path / 'wxmon.db'}",
        "wechat": {"api_base": site.url("")},
        "checks": {"timeout_s": 20, "per_host_rate": None, "allow_private": ["127.0.0.1/32"],
                   "canary_urls": [site.url("/ok")]},
        "accounts": [{"id": "jd-test", "name": "测试街道（模拟）", "unit": "测试街道办事处（模拟）",
                      "category": "乡镇街道", "api": False,
                      "columns": [{"path": p, "type": "view", "url": u} for p, u in columns]}],
    }, allow_unicode=True), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "wxmon.cli", "probe", "columns", "--json", "--config", str(config)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return {r["column"]: r for r in map(json.loads, filter(str.strip, proc.stdout.splitlines()))}


def test_corpus_pages_through_the_real_round(site: Site, tmp_path: Path) -> None:
    picked = ["gone-banned.html", "gone-violation-old-layout.html", "article-body-says-expired.html",
              "article-script-param-error.html", "gov-soft404-full-frame.html", "gov-healthy-mentions-404.html",
              "oauth-interstitial-same-host.html", "empty-shell.html"]
    entries = {e["file"]: e for e in INDEX}
    # An article page is served under /mp/s/, as on WeChat; the others as a site's pages.
    columns = [(f"栏目/{name}", site.url(("/wx/mp/s/" if "mp.weixin" in entries[name]["url"] else "/corpus/") + name))
               for name in picked]
    rows = probe_columns(tmp_path, site, columns)
    status = {"ok": "ok", "fail": "failing", "unverifiable": "unverifiable"}
    for name in picked:
        row, entry = rows[f"栏目/{name}"], entries[name]
        assert row["status"] == status[entry["expect"]] and entry["reason"] in row["reason"], (name, row)
        assert row["http_status"] == 200


def test_soft404_found_by_comparing_with_a_missing_page(site: Site, tmp_path: Path) -> None:
    rows = probe_columns(tmp_path, site, [
        ("服务/已删除栏目", site.url("/col/col999/index.html")),  # gone: the site answers its home page, 200
        ("服务/政策文件", site.url("/zcwj/policy.html")),  # a real page of the same site
        ("服务/首页", site.url("/")),  # the home page itself is not judged against itself
    ])
    assert rows["服务/已删除栏目"]["status"] == "failing" and "软404" in rows["服务/已删除栏目"]["reason"]
    assert rows["服务/政策文件"]["status"] == "ok", rows["服务/政策文件"]
    assert rows["服务/首页"]["status"] == "ok", rows["服务/首页"]
    assert sum(n for p, n in site.hits.items() if p.startswith("/wxmon-")) >= 1  # the site's missing page, asked


def test_a_page_that_now_lands_on_the_home_page_is_judged_against_its_own_healthy_fetch(
        site: Site, tmp_path: Path) -> None:
    columns = [("服务/办事指南", site.url("/bszn/guide.html"))]
    first = probe_columns(tmp_path, site, columns)
    assert first["服务/办事指南"]["status"] == "ok"
    # The CMS deleted the page: it now redirects home. The site answers 404 for a path that cannot
    # exist, so only the column's own earlier fetch tells.
    site.moved_home.add("/bszn/guide.html")
    site.missing_is_404 = True
    try:
        second = probe_columns(tmp_path, site, columns)
    finally:
        site.moved_home.clear()
        site.missing_is_404 = False
    gone = second["服务/办事指南"]
    assert gone["status"] == "failing" and "网站首页" in gone["reason"] and "软404" in gone["reason"], gone


def test_a_cdn_check_in_front_of_every_path_is_the_monitors_trouble_not_a_soft404(
        site: Site, tmp_path: Path) -> None:
    """The site's answer for a missing path is the same browser check as every page: no column is
    failed for matching it; all are unverifiable, and the host is held off after the first."""
    site.challenge_all = True
    try:
        rows = probe_columns(tmp_path, site, [("服务/办事指南", site.url("/bszn/guide.html")),
                                              ("服务/政策文件", site.url("/zcwj/policy.html"))])
    finally:
        site.challenge_all = False
    first, second = rows["服务/办事指南"], rows["服务/政策文件"]
    assert first["status"] == "unverifiable" and "站点防护系统" in first["reason"], first
    assert second["status"] == "unverifiable" and "暂停访问" in second["reason"], second


def test_landing_on_the_home_page_counts_only_against_an_earlier_healthy_landing_elsewhere() -> None:
    url = "https://www.example.gov.cn/bszn/guide.html"
    home = PageResult(url, "https://www.example.gov.cn/", 200, 5.0, "<html></html>", redirects=1)
    assert lands_on_home_instead(url, home, earlier=url) is not None
    assert lands_on_home_instead(url, home, earlier="") is not None  # "": it landed on its own address
    assert lands_on_home_instead(url, home, earlier=None) is None  # never seen healthy: nothing to compare
    assert lands_on_home_instead(url, home, earlier="https://www.example.gov.cn/index.html") is None  # always so
    elsewhere = PageResult(url, "https://www.example.gov.cn/bszn/v2.html", 200, 5.0, "<html></html>", redirects=1)
    assert lands_on_home_instead(url, elsewhere, earlier=url) is None  # moved, not gone
    assert lands_on_home_instead("https://www.example.gov.cn/", home, earlier=url) is None


def test_verification_page_is_unverifiable_and_the_host_is_held_off(site: Site, tmp_path: Path) -> None:
    before = dict(site.hits)
    rows = probe_columns(tmp_path, site, [(f"文章/第{i}篇", site.url(f"/mp/s/article{i}")) for i in range(4)])
    first = rows["文章/第0篇"]
    assert first["status"] == "unverifiable" and first["reason"] == VERIFY_REASON
    for i in range(1, 4):
        row = rows[f"文章/第{i}篇"]
        assert row["status"] == "unverifiable" and "暂停访问" in row["reason"], row
    asked = {p: n - before.get(p, 0) for p, n in site.hits.items() if p.startswith("/mp/s/")}
    assert {p for p, n in asked.items() if n} == {"/mp/s/article0"}  # the rest were not fetched
    assert OAUTH_REASON != VERIFY_REASON
