"""Pages behind menu columns: mp.weixin.qq.com article pages and government H5 pages."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from html import escape
from urllib.parse import quote

from aiohttp import web

from emulator.content import article_html
from emulator.responses import ERROR_500_HTML, WORLD, drop_connection, fault_response, html_response
from emulator.scenario import Outage, OutageKind, SitePageKind
from monitor.clock import to_local

# The platform's own wording for articles that are gone (the page still answers 200), by page state:
# the message block's title and description as mp.weixin.qq.com shows them.
ARTICLE_GONE_TEXT = {
    "deleted": ("该内容已被发布者删除", ""),
    "violation": ("此内容因违规无法查看", "该内容因违反《即时通信工具公众信息服务发展管理暂行规定》，已被屏蔽。"),
    "infringement": ("此内容被投诉且经审核涉嫌侵权，无法查看。", "查看对应规则"),
    "cancelled": ("此帐号已自主注销，内容无法查看", ""),
    "blocked": ("此帐号已被屏蔽，内容无法查看", ""),
    "banned": ("此帐号已被封禁，内容无法查看", "该公众号因违反相关法律法规和平台规则，已被封禁。"),
    "unavailable": ("该内容暂时无法查看", ""),
    "send_failed": ("此内容发送失败无法查看", ""),
    "expired": ("链接已过期", ""),
    "migrated": ("该公众号已迁移", "该公众号已迁移至新的帐号，原帐号已回收。若需访问原文章链接，请点击下方按钮。"),
    "unknown": ("参数错误", ""),
}
# The error-string table every article page carries in a script (shown only when a call fails).
ERROR_TABLE = ("<script type=\"text/javascript\" nonce=\"wxmon\">window.__appmsgErr = {"
               + ",".join(f'"{k}":"{t}"' for k, (t, _) in ARTICLE_GONE_TEXT.items())
               + ',"freq":"访问过于频繁，请稍后再试","env":"当前环境异常，完成验证后即可继续访问"};'
               "var _wxao = window._wxao || {}; _wxao.tips = {\"-1\":\"系统错误，请稍后再试\","
               "\"-2\":\"参数错误\",\"-6\":\"请在微信客户端打开链接\"};</script>")
_HEAD = ("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
         "<meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">"
         "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1.0,maximum-scale=1.0,"
         "user-scalable=0,viewport-fit=cover\"><link rel=\"dns-prefetch\" href=\"//res.wx.qq.com\">"
         "<script nonce=\"wxmon\">var __wxStartTime = Date.now();</script>"
         "<style>.rich_media_content{overflow:hidden}.weui-msg{padding-top:36px;text-align:center}</style>")
HTTP404_HTML = "<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1><hr>nginx</body></html>"
GATEWAY_TIMEOUT_HTML = ("<html><head><title>504 Gateway Time-out</title></head>"
                        "<body><h1>504 Gateway Time-out</h1></body></html>")
OAUTH_HTML = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
              "content=\"width=device-width,initial-scale=1,user-scalable=0\"><title></title></head>"
              "<body><div class=\"weui-msg\"><div class=\"weui-msg__icon-area\"><i class=\"weui-icon-info "
              "weui-icon_msg\"></i></div><div class=\"weui-msg__text-area\"><h4 class=\"weui-msg__title\">"
              "请在微信客户端打开链接</h4></div></div></body></html>")


def _message_page(title: str, desc: str, button: str = "") -> str:
    """A weui message page as mp.weixin.qq.com serves it: head, error tables, the message block."""
    opr = (f"<div class=\"weui-msg__opr-area\"><p class=\"weui-btn-area\"><a href=\"javascript:;\" "
           f"class=\"weui-btn weui-btn_primary\" id=\"js_btn\">{button}</a></p></div>") if button else ""
    return (f"<!DOCTYPE html><html><head>{_HEAD}<title></title>{ERROR_TABLE}</head>"
            "<body class=\"zh_CN\" ontouchstart=\"\"><div class=\"weui-msg\">"
            "<div class=\"weui-msg__icon-area\"><i class=\"weui-icon-warn weui-icon_msg\"></i></div>"
            f"<div class=\"weui-msg__text-area\"><h2 class=\"weui-msg__title\">{title}</h2>"
            f"<p class=\"weui-msg__desc\">{desc}</p></div>{opr}</div>"
            "<script nonce=\"wxmon\">var biz = \"\" || \"\"; var idx = \"\";</script></body></html>")


def verification_page(frequent: bool) -> str:
    """The platform's answer to a visitor it takes for a robot (mp/wappoc_appmsgcaptcha)."""
    if frequent:
        return _message_page("访问过于频繁", "请用微信扫描二维码进行访问", "")
    return _message_page("环境异常", "当前环境异常，完成验证后即可继续访问。", "去验证")


def gov_site_page(unit: str, title: str, main: str) -> str:
    """A government site page: full navigation, the main block, the footer (as large as real ones)."""
    columns = ["首页", "政务公开", "政务服务", "互动交流", "走进本区", "专题专栏", "政策文件", "数据发布"]
    nav = "".join(f"<li class=\"nav-item\"><a href=\"/col/{i}\">{c}</a><ul class=\"sub\">"
                  + "".join(f"<li><a href=\"/col/{i}/{j}\">{c}子栏目{j + 1}</a></li>" for j in range(16))
                  + "</ul></li>" for i, c in enumerate(columns))
    links = "".join(f"<a href=\"/link/{i}\">相关链接{i + 1}：某某部门网站</a>" for i in range(40))
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{title}</title><link rel=\"stylesheet\" href=\"/css/main.css\">"
            "<script src=\"/js/jquery.min.js\"></script></head><body>"
            f"<div class=\"header\"><div class=\"logo\">{unit}</div><div class=\"search\">"
            "<input type=\"text\" placeholder=\"请输入关键字\"><button>搜索</button></div></div>"
            f"<div class=\"navbar\"><ul>{nav}</ul></div>"
            f"<div class=\"container\">{main}</div>"
            f"<div class=\"footer\"><div class=\"links\">{links}</div><p>主办单位：{unit}　承办单位：{unit}办公室</p>"
            "<p>网站标识码：3100000000　沪ICP备00000000号　沪公网安备 31000000000000号</p>"
            "<p>联系电话：021-00000000（工作日 9:00-17:00）</p></div>"
            "<script>var _hmt = _hmt || []; /* 页面不存在 统计 */</script></body></html>")


def soft404_page(unit: str) -> str:
    """A government site's 404 page answered with HTTP 200: the site's whole frame around a short notice."""
    main = ("<div class=\"error-page\"><img src=\"/images/404.png\" alt=\"\">"
            "<h1>抱歉，您访问的页面不存在或已被删除</h1>"
            "<p>可能原因：网址有误、页面已过期。</p><a href=\"/\">返回首页</a></div>")
    return gov_site_page(unit, f"{unit}", main)


SOFT404_HTML = soft404_page("某某区人民政府")
COVER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def _gone_page(kind: str) -> str:
    return _message_page(*ARTICLE_GONE_TEXT[kind])


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


async def _serve_failure(request: web.Request, kind: str, delay_s: float, hang_s: float,
                         unit: str = "某某区人民政府") -> web.StreamResponse | None:
    """The answer for a failing kind; None for ``slow`` after its delay (then serve the page)."""
    if kind == "soft404":
        return html_response(soft404_page(escape(unit)))
    if kind == "oauth":  # a page behind WeChat's web authorization: outside WeChat, the interstitial
        target = quote(str(request.url.with_query(None)), safe="")
        raise web.HTTPFound(f"/connect/oauth2/authorize?appid=wx0000000000000000&redirect_uri={target}"
                            "&response_type=code&scope=snsapi_base&state=1#wechat_redirect")
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
        answer = await _serve_failure(request, kind, delay, page.hang_s, acct.cfg.unit)
        if answer is not None:
            return answer
    return html_response(_site_ok_page(escape(page.title or name), escape(acct.cfg.unit), escape(acct.cfg.name)))


class _Visits:
    """Article pages opened per client in the current minute (the platform's limiter)."""

    def __init__(self) -> None:
        self.minute = -1
        self.counts: dict[str, int] = {}

    def count(self, client: str, minute: int) -> int:
        if minute != self.minute:
            self.minute, self.counts = minute, {}
        if len(self.counts) > 10_000:
            self.counts.clear()  # bounded: many clients in one minute are forgotten, not held
        n = self.counts[client] = self.counts.get(client, 0) + 1
        return n


VISITS = web.AppKey("article_visits", _Visits)


def _article_head(title: str) -> str:
    # No og:description or og:url: the digest and the hex key are not what the scenario's truth scans
    # for leaks (a key can hold eleven digits in a row).
    return (f"<meta property=\"og:title\" content=\"{title}\"/><meta property=\"og:type\" content=\"article\"/>"
            "<meta property=\"twitter:card\" content=\"summary\"/>")


async def article_page(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    scenario = world.scenario
    limit = scenario.article_pages_per_minute
    if limit is not None and (not scenario.article_rate_windows
                              or any(w.active(world.now()) for w in scenario.article_rate_windows)):
        minute = (int(world.now().timestamp() // 60) if scenario.article_rate_clock == "world"
                  else int(time.monotonic() // 60))
        n = request.app[VISITS].count(request.remote or "", minute)
    else:
        n = 0
    if limit is not None and n > limit:
        target = quote(str(request.url), safe="")
        token = "freq" if n > 2 * limit else "wxmon"  # past twice the rate: 访问过于频繁
        raise web.HTTPFound(f"/mp/wappoc_appmsgcaptcha?poc_token={token}&target_url={target}")
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
    name = escape(acct.cfg.name)
    # As mp.weixin.qq.com serves it: the body starts hidden (the page's script shows it), a hidden QR
    # panel and tip templates, the error-string tables in scripts.
    return html_response(
        f"<!DOCTYPE html><html class=\"\"><head>{_HEAD}"
        f"{_article_head(title)}<title>{title}</title></head>"
        "<body id=\"activity-detail\" class=\"zh_CN wx_wap_page mm_appmsg appmsg_skin_default\">"
        "<div id=\"js_article\" class=\"rich_media\"><div class=\"rich_media_inner\">"
        "<div id=\"page-content\" class=\"rich_media_area_primary\"><div class=\"rich_media_area_primary_inner\">"
        "<div id=\"img-content\" class=\"rich_media_wrp\">"
        f"<h1 class=\"rich_media_title\" id=\"activity-name\">{title}</h1>"
        "<div id=\"meta_content\" class=\"rich_media_meta_list\">"
        f"<span class=\"rich_media_meta rich_media_meta_text\">{escape(art.author or acct.cfg.unit)}</span> "
        f"<span class=\"rich_media_meta rich_media_meta_nickname\" id=\"profileBt\"><a href=\"javascript:void(0);\" "
        f"id=\"js_name\">{name}</a></span> "
        f"<em id=\"publish_time\" class=\"rich_media_meta rich_media_meta_text\">{published:%Y-%m-%d %H:%M}</em></div>"
        "<div class=\"rich_media_content js_underline_content\" id=\"js_content\" style=\"visibility: hidden;\">"
        f"{article_html(acct.cfg, art, world.seed)}</div></div></div></div></div></div>"
        "<div id=\"js_pc_qr_code\" class=\"qr_code_pc_outer\" style=\"display:none;\"><div class=\"qr_code_pc\">"
        "<p>微信扫一扫<br>关注该公众号</p></div></div>"
        "<div id=\"js_tips\" class=\"weui-msg\" style=\"display:none\"><h2 class=\"weui-msg__title\">"
        "该内容暂时无法查看</h2></div>"
        f"<script nonce=\"wxmon\">var msg_title = \"{title}\"; var ct = \"{int(art.publish.timestamp())}\";"
        f"var nickname = \"{name}\";</script>{ERROR_TABLE}</body></html>")


async def verification(request: web.Request) -> web.Response:
    return html_response(verification_page(frequent=request.query.get("poc_token") == "freq"))


async def oauth_interstitial(request: web.Request) -> web.Response:
    return html_response(OAUTH_HTML)


async def cover(request: web.Request) -> web.Response:
    return web.Response(body=COVER_PNG, content_type="image/png")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/site/{account}/{page}", site_page)
    app.router.add_get("/mp/s/{key}", article_page)
    app.router.add_get("/mp/cover/{name}", cover)
    app.router.add_get("/mp/wappoc_appmsgcaptcha", verification)
    app.router.add_get("/connect/oauth2/authorize", oauth_interstitial)
    app[VISITS] = _Visits()
