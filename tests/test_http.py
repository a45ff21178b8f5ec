"""The page fetcher and page judging against a real HTTP server on 127.0.0.1.

The server stands in for government sites (the outside world): it streams bodies
in pieces, redirects to app links and serves pages of every shape.
"""

from __future__ import annotations

import asyncio
import random

from aiohttp import web
from aiohttp.test_utils import TestServer

from monitor.http import PageFetcher
from monitor.netpolicy import AddressPolicy
from probes.columns import has_visible_text, judge_page, visible_text

LOOPBACK = AddressPolicy.from_cidrs(["127.0.0.1/32"])  # the test server stands in for the outside
PIECE = "<p>办事指南、政策文件和便民服务信息。</p>" * 200  # ~8 KB a piece


async def streamed(request: web.Request) -> web.StreamResponse:
    """A long page sent in pieces with pauses, chunked (no Content-Length); the marker comes last."""
    resp = web.StreamResponse(headers={"Content-Type": "text/html; charset=utf-8"})
    await resp.prepare(request)
    await resp.write(b"<html><head><title>\xe6\x94\xbf\xe5\x8a\xa1</title></head><body>")
    for _ in range(int(request.query.get("pieces", "8"))):
        await resp.write(PIECE.encode("utf-8"))
        await asyncio.sleep(0.01)
    await resp.write("<p>此内容因违规无法查看</p></body></html>".encode())
    await resp.write_eof()
    return resp


async def to_app(request: web.Request) -> web.Response:
    raise web.HTTPFound("weixin://dl/business/?t=abc")


async def gbk(request: web.Request) -> web.Response:
    html = "<html><head><meta charset=\"gbk\"><title>页面不存在</title></head><body>抱歉</body></html>"
    return web.Response(body=html.encode("gbk"), content_type="text/html")


def serve(coro_fn):
    """Run ``coro_fn(base_url)`` against the test server, in one event loop."""

    async def main():
        app = web.Application()
        app.router.add_get("/streamed", streamed)
        app.router.add_get("/mp/s/streamed", streamed)
        app.router.add_get("/to-app", to_app)
        app.router.add_get("/gbk", gbk)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            return await coro_fn(str(server.make_url("")).rstrip("/"))
        finally:
            await server.close()

    return asyncio.run(main())


def test_a_page_sent_in_pieces_is_read_whole():
    async def go(base):
        async with PageFetcher(per_host_rate=None, policy=LOOPBACK) as fetcher:
            return await fetcher.fetch(f"{base}/mp/s/streamed?pieces=8")

    result = serve(go)
    assert result.status == 200 and result.error is None
    assert result.text is not None and result.text.endswith("</body></html>")
    assert len(result.text) > 8 * len(PIECE)
    # The platform's marker at the very end is seen: an article page that is gone.
    assert judge_page(result) == ("fail", "文章因违规无法查看")


def test_a_body_over_the_cap_is_cut_at_the_cap():
    async def go(base):
        async with PageFetcher(per_host_rate=None, max_body_bytes=20_000, policy=LOOPBACK) as fetcher:
            return await fetcher.fetch(f"{base}/streamed?pieces=8")

    result = serve(go)
    assert result.status == 200
    assert result.text is not None and len(result.text.encode("utf-8")) <= 20_000
    assert len(result.text.encode("utf-8")) > 15_000  # not just the first piece


def test_unopenable_links_are_bad_url_not_a_crash():
    async def go(base):
        out = {}
        for per_host in (50, 4):  # the fast path and the per-host path
            async with PageFetcher(concurrency=50, per_host=per_host, per_host_rate=None, timeout_s=3,
                                   policy=LOOPBACK) as fetcher:
                for url in (f"{base}/to-app", "ftp://127.0.0.1/x", "javascript:void(0)", "http://[::1/x",
                            "/relative", ""):
                    out[(per_host, url)] = await fetcher.fetch(url)
        return out

    for (per_host, url), result in serve(go).items():
        assert result.error == "bad_url", (per_host, url, result)
        assert judge_page(result) == ("fail", "链接格式错误")


def test_declared_meta_charset_is_honoured():
    async def go(base):
        async with PageFetcher(per_host_rate=None, policy=LOOPBACK) as fetcher:
            return await fetcher.fetch(f"{base}/gbk")

    result = serve(go)
    assert result.text is not None and "页面不存在" in result.text
    assert judge_page(result)[0] == "fail"


def test_blank_page_check_agrees_with_the_visible_text():
    atoms = ["<p>", "</p>", "<script>", "</script>", "<style>", "</STYLE>", "<SCRIPT type=x>", " ", "\n",
             "\u3000", "a", "页", "<", ">", "<br/>", "<!-- c -->", "<>", "&nbsp;", "<title>", "</title>"]
    rng = random.Random(7)
    for _ in range(20_000):
        html = "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))
        assert has_visible_text(html) == bool(visible_text(html)), repr(html)


def test_blank_and_script_only_pages_fail_and_text_pages_pass():
    from monitor.http import PageResult

    def judge(html):
        return judge_page(PageResult("http://gov.example/p", "http://gov.example/p", 200, 1.0, html))[0]

    assert judge("<html><head><title></title></head><body>\n  </body></html>") == "fail"
    assert judge("<html><body><script>var a = '文字';</script><style>p{}</style></body></html>") == "fail"
    assert judge("<html><body><div>办事指南</div></body></html>") == "ok"
    assert judge("正文没有标签") == "ok"
    assert judge("<html><head><title>页面不存在</title></head><body>" + "说明" * 2000 + "</body></html>") == "fail"
