"""Pages behind menu columns: mp.weixin.qq.com article pages and government H5 pages."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from html import escape

from aiohttp import web

from emulator.content import article_html
from emulator.responses import ERROR_500_HTML, WORLD, drop_connection, fault_response, html_response
from emulator.scenario import Outage, OutageKind, SitePageKind
from monitor.clock import to_local

# The platform's own wording for articles that are gone (the page still answers 200).
ARTICLE_GONE_TEXT = {
    "deleted": "该内容已被发布者删除",
    "violation": "此内容因违规无法查看",
    "expired": "链接已过期",
    "migrated": "该公众号已迁移",
    "unknown": "参数错误",
}
SOFT404_HTML = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>页面不存在</title></head><body>"
                "<div class=\"error-page\"><h1>404</h1><p>抱歉，您访问的页面不存在或已被删除。</p>"
                "<a href=\"/\">返回首页</a></div></body></html>")
HTTP404_HTML = "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1><hr>nginx</body></html>"
GATEWAY_TIMEOUT_HTML = ("<html><head><title>504 Gateway Time-out</title></head>"
                        "<body><h1>504 Gateway Time-out</h1></body></html>")
COVER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _gone_page(kind: str) -> str:
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title></title></head><body class=\"zh_CN\">"
            "<div class=\"weui-msg\"><div class=\"weui-msg__text-area\"><h2 class=\"weui-msg__title\">"
            f"{ARTICLE_GONE_TEXT[kind]}</h2></div></div></body></html>")


def _site_ok_page(title: str, unit: str, account_name: str) -> str:
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{title} - {unit}</title></head><body><header class=\"gov-header\">{unit}</header>"
            f"<main><h1>{title}</h1><p>欢迎访问{account_name}{title}栏目。本栏目提供办事指南、政策文件和便民服务信息。</p>"
            "<ul><li>办事指南</li><li>政策文件</li><li>便民服务</li></ul></main>"
            f"<footer>主办单位：{unit}</footer></body></html>")


def active_outage(outages: list[Outage], now: datetime) -> Outage | None:
    for outage in outages:
        if outage.active(now):
            return outage
    return None


async def _serve_failure(request: web.Request, kind: str, delay_s: float, hang_s: float) -> web.StreamResponse | None:
    """The answer for a failing kind; None for ``slow`` after its delay (then serve the page)."""
    if kind == "soft404":
        return html_response(SOFT404_HTML)
    if kind == "http404":
        return html_response(HTTP404_HTML, status=404)
    if kind == "http500":
        return html_response(ERROR_500_HTML, status=500)
    if kind == "reset":
        return drop_connection(request)
    if kind == "hang":
        await asyncio.sleep(hang_s)
        return html_response(GATEWAY_TIMEOUT_HTML, status=504)
    if kind == "slow":
        await asyncio.sleep(delay_s)
    return None


async def site_page(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    acct_id, name = request.match_info["account"], request.match_info["page"]
    acct = world.accounts.get(acct_id)
    page = acct.cfg.pages.get(name) if acct is not None else None
    if acct is None or page is None:
        return html_response(HTTP404_HTML, status=404)
    if acct_id in world.faults:
        fault = world.fault_for(acct_id, request.path, api=False)
        if fault is not None:
            answer = await fault_response(request, fault)
            if answer is not None:
                return answer
    now = world.now()
    outage = active_outage(page.outages, now) if page.outages else None
    kind: SitePageKind | OutageKind
    if outage is not None:
        kind, delay = outage.kind, outage.delay_s
    else:
        kind, delay = page.kind_at(now), page.delay_s
    if kind == "redirect":
        hop = request.query.get("hop", "0")
        hop_n = int(hop) if hop.isdigit() else 0
        if hop_n < page.hops:
            raise web.HTTPFound(f"/site/{acct_id}/{name}?hop={hop_n + 1}")
        kind = page.to
    if kind != "ok":
        answer = await _serve_failure(request, kind, delay, page.hang_s)
        if answer is not None:
            return answer
    return html_response(_site_ok_page(escape(page.title or name), escape(acct.cfg.unit), escape(acct.cfg.name)))


async def article_page(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    found = world.by_article_key.get(request.match_info["key"])
    now = world.now()
    if found is None or found[1].publish > now:
        return html_response(_gone_page("unknown"))
    acct, art = found
    if acct.cfg.id in world.faults:
        fault = world.fault_for(acct.cfg.id, request.path, api=False)
        if fault is not None:
            answer = await fault_response(request, fault)
            if answer is not None:
                return answer
    outage = active_outage(art.outages, now) if art.outages else None
    if outage is not None:
        answer = await _serve_failure(request, outage.kind, outage.delay_s, 300.0)
        if answer is not None:
            return answer
    state = world.article_state(art)
    if state != "ok":
        return html_response(_gone_page(state))
    published = to_local(art.publish)
    title = escape(art.title)
    return html_response(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><meta property=\"og:title\" content=\"{title}\"/></head>"
        "<body id=\"activity-detail\" class=\"zh_CN\"><div class=\"rich_media_wrp\">"
        f"<h1 class=\"rich_media_title\" id=\"activity-name\">{title}</h1>"
        f"<div id=\"meta_content\" class=\"rich_media_meta_list\"><span class=\"rich_media_meta_text\">"
        f"{escape(art.author or acct.cfg.unit)}</span> <a id=\"js_name\">{escape(acct.cfg.name)}</a> "
        f"<em id=\"publish_time\">{published:%Y-%m-%d %H:%M}</em></div>"
        f"<div class=\"rich_media_content\" id=\"js_content\">{article_html(acct.cfg, art, world.seed)}</div></div>"
        f"<script>var ct = \"{int(art.publish.timestamp())}\";</script></body></html>")


async def cover(request: web.Request) -> web.Response:
    return web.Response(body=COVER_PNG, content_type="image/png")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/site/{account}/{page}", site_page)
    app.router.add_get("/mp/s/{key}", article_page)
    app.router.add_get("/mp/cover/{name}", cover)
