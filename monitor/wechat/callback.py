"""The third-party platform's endpoints, served by ``wxmon run`` when ``component:`` is configured.

- ``POST /wxmon/component/ticket`` — 授权事件接收URL: the encrypted ticket push every 10 minutes and
  the authorization notices (authorized, updateauthorized, unauthorized). Answered ``success`` at
  once (the platform waits 5 s, then retries); a push that fails its signature gets 403.
- ``GET /wxmon/component/authorized?auth_code=...`` — the redirect_uri: a unit's browser lands here
  after authorizing; the code is exchanged and a Chinese page says so.
- ``GET /wxmon/component/connect/{account}`` — a page with the account's authorization link (and
  its QR code, an SVG drawn here) for the unit's administrator to scan.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping

from aiohttp import web

from monitor.wechat import errors as E
from monitor.wechat.component import LINK_PATH, MAX_PUSH_BYTES, REDIRECT_PATH, TICKET_PATH, ComponentAuth, PushRejected
from monitor.wechat.qr import qr_svg

log = logging.getLogger(__name__)

AUTH = web.AppKey("component_auth", ComponentAuth)
ACCOUNTS = web.AppKey("component_accounts", dict)  # account id -> (name, appid)
LINKS = web.AppKey("component_links", dict)  # account id -> (link, valid until): one pre-auth code a while
LINK_REUSE_S = 600  # a page opened again within this reuses the link (anyone reaching us can open it)

PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto"><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=PAGE.format(title=html.escape(title), body=body), status=status,
                        content_type="text/html", charset="utf-8")


async def ticket(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    body = await request.content.read(MAX_PUSH_BYTES + 1)
    try:
        notice = await auth.handle_notice(body, request.query)
    except PushRejected as exc:
        log.warning("component push rejected from %s: %s", request.remote, exc)
        return web.Response(text="rejected", status=403)
    except E.WeChatError as exc:  # the exchange of a notice's code failed; the redirect may still do it
        log.warning("component notice accepted, its code exchange failed: %s", type(exc).__name__)
        return web.Response(text="success")
    log.debug("component push: %s", notice.kind)
    return web.Response(text="success")


async def authorized(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    code = request.query.get("auth_code", "")
    if not code or len(code) > 512:
        return _page("授权未完成", "<p>缺少授权码（auth_code）。请重新打开授权链接。</p>", status=400)
    try:
        done = await auth.complete(code)
    except E.AuthorizationGone as exc:
        return _page("授权未完成", f"<p>{html.escape(exc.reason)}</p>", status=400)
    except E.WeChatError as exc:
        log.warning("authorization code exchange failed: %s", type(exc).__name__)
        return _page("授权未完成", "<p>与微信平台通信失败，请稍后刷新本页或重新打开授权链接。</p>", status=502)
    names = {appid: name for name, appid in request.app[ACCOUNTS].values()}
    name = names.get(done.authorizer_appid)
    if name is None:
        return _page("授权已收到", f"<p>公众号 {html.escape(done.authorizer_appid)} 已授权，但它不在 accounts.yaml "
                     "中：请联系监测管理员添加该账号。</p>")
    return _page("授权成功", f"<p>{html.escape(name)} 已授权本平台，监测将使用该授权调用接口。可以关闭本页。</p>")


async def connect_page(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    account_id = request.match_info["account"]
    found = request.app[ACCOUNTS].get(account_id)
    if found is None:
        return _page("账号不存在", f"<p>accounts.yaml 中没有账号 {html.escape(account_id[:64])}。</p>", status=404)
    name, appid = found
    links: dict[str, tuple[str, float]] = request.app[LINKS]
    now = auth.now().timestamp()
    cached = links.get(account_id)
    try:
        if cached is not None and cached[1] - now > LINK_REUSE_S:
            link, expires_in = cached[0], int(cached[1] - now)
        else:
            link, expires_in = await auth.authorization_link(appid)
            links[account_id] = (link, now + expires_in)
    except E.ComponentUnavailable as exc:
        return _page("暂时无法生成授权链接", f"<p>{html.escape(exc.reason)}</p>", status=503)
    except E.WeChatError as exc:
        log.warning("authorization link failed: %s", type(exc).__name__)
        return _page("暂时无法生成授权链接", "<p>与微信平台通信失败，请稍后刷新。</p>", status=502)
    body = (f"<p>请 {html.escape(name)} 的公众号管理员用微信扫描下方二维码（或在浏览器打开链接），"
            f"确认授权。链接 {expires_in // 60} 分钟内有效，过期请刷新本页。</p>"
            f"<div style='width:18em'>{qr_svg(link)}</div>"
            f"<p><a href=\"{html.escape(link)}\">{html.escape(link)}</a></p>")
    return _page(f"授权本平台：{name}", body)


def build_app(auth: ComponentAuth, accounts: Mapping[str, tuple[str, str]]) -> web.Application:
    """``accounts``: account id -> (name, appid) of the accounts with access: component."""
    app = web.Application(client_max_size=MAX_PUSH_BYTES)
    app[AUTH] = auth
    app[ACCOUNTS] = dict(accounts)
    app[LINKS] = {}
    app.router.add_post(TICKET_PATH, ticket)
    app.router.add_get(REDIRECT_PATH, authorized)
    app.router.add_get(LINK_PATH + "/{account}", connect_page)
    return app


class CallbackServer:
    """The endpoints on ADDRESS:PORT, in the running event loop."""

    def __init__(self, auth: ComponentAuth, accounts: Mapping[str, tuple[str, str]], host: str, port: int) -> None:
        self._runner = web.AppRunner(build_app(auth, accounts), access_log=None, shutdown_timeout=1.0)
        self.host = host
        self.port = port

    async def start(self) -> CallbackServer:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        await self._runner.cleanup()
