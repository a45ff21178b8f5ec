"""The 开放平台 third-party-platform side of the emulator (component).

Set up with ``POST /_emu/component`` (the platform's appid, secret, message Token, EncodingAESKey
and the monitor's 授权事件接收URL); then, like the real platform:

- ``component_verify_ticket`` is pushed to that URL, encrypted with wechatpy's WeChatCrypto as the
  platform does (``msg_signature``/``timestamp``/``nonce``/``encrypt_type=aes`` in the query,
  ``<xml><AppId/><Encrypt/></xml>`` as the body): every ``push_every_minutes`` of the (virtual)
  clock, checked by a poller and by ``POST /_emu/component/tick``, or at once with
  ``POST /_emu/component/ticket``;
- ``cgi-bin/component/api_component_token``, ``api_create_preauthcode``, ``api_query_auth`` and
  ``api_authorizer_token`` answer as documented, with the platform's errcodes (61005/61006 ticket,
  61003 not authorized, 61023 refresh token invalid, 40001/42001 token);
- ``GET /cgi-bin/componentloginpage`` is the authorization page; the unit's "administrator" (a
  test or the demo) completes it with ``POST /cgi-bin/componentloginpage`` (``pre_auth_code``,
  ``appid``): the ``authorized`` notice is pushed and the browser is redirected to
  ``redirect_uri?auth_code=...&expires_in=...``;
- authorizer tokens are accepted by every API route like access tokens;
- ``POST /_emu/component/revoke {"appid": ...}`` is the administrator cancelling the authorization:
  the account's authorizer tokens stop working, refreshes answer 61003, and the ``unauthorized``
  notice is pushed.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from emulator.api import read_json
from emulator.responses import WORLD, error_response, html_response, json_response
from emulator.world import TOKEN_TTL, AccountState, ApiError, Token, World

log = logging.getLogger(__name__)

TICKET_TTL = timedelta(hours=12)
PREAUTH_TTL = timedelta(seconds=1800)
AUTH_CODE_TTL = timedelta(seconds=3600)
PUSH_TIMEOUT_S = 5.0  # the platform waits 5 s for the callback's answer
POLL_S = 1.0  # how often the poller looks at the (virtual) clock for a due push
FUNC_INFO = (1, 2, 3, 4, 6, 7, 11)  # permission sets granted (消息管理, 用户管理, 帐号服务, ...)

ERRMSG = {
    61003: "component is not authorized by this account",
    61005: "component ticket is expired",
    61006: "component ticket is invalid",
    61009: "code is invalid",
    61010: "code is expired",
    61023: "refresh_token is invalid",
    40013: "invalid appid",
    40125: "invalid appsecret",
}


def _err(code: int) -> ApiError:
    return ApiError(code, ERRMSG.get(code))


@dataclass
class Grant:
    """One account's authorization of the component."""

    appid: str
    refresh_token: str
    active: bool = True
    tokens: list[str] = field(default_factory=list)


@dataclass
class ComponentPlatform:
    appid: str
    secret: str
    token: str
    aes_key: str
    callback_url: str
    push_every: timedelta | None = timedelta(minutes=10)
    tickets: dict[str, datetime] = field(default_factory=dict)
    last_push_at: datetime | None = None
    component_tokens: dict[str, datetime] = field(default_factory=dict)
    preauth_codes: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)
    auth_codes: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    pushes: Counter[str] = field(default_factory=Counter)
    poller: asyncio.Task[None] | None = None

    def summary(self) -> dict[str, Any]:
        """What a test may look at (no secret, ticket or token)."""
        return {"appid": self.appid, "calls": dict(self.calls), "pushes": dict(self.pushes),
                "authorized": sorted(a for a, g in self.grants.items() if g.active),
                "revoked": sorted(a for a, g in self.grants.items() if not g.active),
                "last_push_at": self.last_push_at.isoformat() if self.last_push_at else None}


PLATFORM = web.AppKey("component_platform", dict)  # {"platform": ComponentPlatform | None}


def _platform(request: web.Request) -> ComponentPlatform:
    found = request.app[PLATFORM].get("platform")
    if found is None:
        raise _err(40013)
    assert isinstance(found, ComponentPlatform)
    return found


def _token_value(world: World, *parts: object) -> str:
    return hashlib.sha256("|".join(map(str, (world.seed, *parts, secrets.token_hex(8)))).encode()).hexdigest()


# -- pushes ------------------------------------------------------------------------------------------

def _xml(fields: dict[str, Any]) -> str:
    return str(xmltodict.unparse({"xml": fields}, full_document=False))


async def push(world: World, platform: ComponentPlatform, info_type: str, **fields: Any) -> tuple[int, str]:
    """Push one encrypted notice to the monitor's callback; (HTTP status, answer) or (0, error kind)."""
    now = world.now()
    timestamp = str(int(now.timestamp()))
    nonce = secrets.token_hex(5)
    inner = _xml({"AppId": platform.appid, "CreateTime": timestamp, "InfoType": info_type, **fields})
    sealed = xmltodict.parse(WeChatCrypto(platform.token, platform.aes_key, platform.appid)
                             .encrypt_message(inner, nonce, timestamp))["xml"]
    signature = hashlib.sha1("".join(sorted([platform.token, timestamp, nonce])).encode()).hexdigest()
    query = {"signature": signature, "timestamp": timestamp, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": sealed["MsgSignature"]}
    body = _xml({"AppId": platform.appid, "Encrypt": sealed["Encrypt"]})
    platform.pushes[info_type] += 1
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S)) as http, \
                http.post(platform.callback_url, params=query, data=body.encode("utf-8"),
                          headers={"Content-Type": "text/xml"}) as resp:
            return resp.status, (await resp.text())[:200]
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        log.info("component push %s failed: %s", info_type, type(exc).__name__)
        return 0, type(exc).__name__


async def push_ticket(world: World, platform: ComponentPlatform) -> tuple[int, str]:
    now = world.now()
    ticket = "ticket@@@" + _token_value(world, "ticket", now)
    platform.tickets = {t: at for t, at in platform.tickets.items() if now - at < TICKET_TTL}
    platform.tickets[ticket] = now
    platform.last_push_at = now
    return await push(world, platform, "component_verify_ticket", ComponentVerifyTicket=ticket)


def _due(world: World, platform: ComponentPlatform) -> bool:
    return platform.push_every is not None and (
        platform.last_push_at is None or world.now() - platform.last_push_at >= platform.push_every)


async def _poll(world: World, platform: ComponentPlatform) -> None:
    while True:
        if _due(world, platform):
            await push_ticket(world, platform)
        await asyncio.sleep(POLL_S)


# -- the component API ----------------------------------------------------------------------------------

def _component_token(request: web.Request, platform: ComponentPlatform, world: World) -> None:
    value = request.query.get("component_access_token")
    if not value:
        raise ApiError(41001)
    expires = platform.component_tokens.get(value)
    if expires is None:
        raise ApiError(40001)
    if world.now() >= expires:
        raise ApiError(42001)


def _check_appid(platform: ComponentPlatform, data: dict[str, Any]) -> None:
    if data.get("component_appid") != platform.appid:
        raise _err(40013)


def _issue_authorizer_token(world: World, acct: AccountState, grant: Grant) -> tuple[str, int]:
    with world.lock:
        now = world.now()
        value = "auth_" + _token_value(world, acct.cfg.appid, "authorizer", now)
        world.tokens[value] = Token(value, acct, "authorizer", now + TOKEN_TTL)
        grant.tokens.append(value)
        return value, int(TOKEN_TTL.total_seconds())


def _grant_answer(world: World, grant: Grant) -> dict[str, Any]:
    acct = world.by_appid[grant.appid]
    token, expires_in = _issue_authorizer_token(world, acct, grant)
    return {"authorizer_appid": grant.appid, "authorizer_access_token": token, "expires_in": expires_in,
            "authorizer_refresh_token": grant.refresh_token,
            "func_info": [{"funcscope_category": {"id": i}} for i in FUNC_INFO]}


async def api_component_token(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        platform = _platform(request)
        platform.calls["api_component_token"] += 1
        data = await read_json(request)
        _check_appid(platform, data)
        if data.get("component_appsecret") != platform.secret:
            raise _err(40125)
        ticket = data.get("component_verify_ticket")
        issued = platform.tickets.get(ticket) if isinstance(ticket, str) else None
        if issued is None:
            raise _err(61006)
        if world.now() - issued >= TICKET_TTL:
            raise _err(61005)
        value = "comp_" + _token_value(world, "component", world.now())
        platform.component_tokens[value] = world.now() + TOKEN_TTL
        return json_response({"component_access_token": value, "expires_in": int(TOKEN_TTL.total_seconds())})
    except ApiError as exc:
        return error_response(exc)


async def api_create_preauthcode(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        platform = _platform(request)
        platform.calls["api_create_preauthcode"] += 1
        _component_token(request, platform, world)
        _check_appid(platform, await read_json(request))
        code = "preauthcode@@@" + _token_value(world, "preauth", world.now())
        platform.preauth_codes[code] = (world.now() + PREAUTH_TTL, None)
        return json_response({"pre_auth_code": code, "expires_in": int(PREAUTH_TTL.total_seconds())})
    except ApiError as exc:
        return error_response(exc)


async def api_query_auth(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        platform = _platform(request)
        platform.calls["api_query_auth"] += 1
        _component_token(request, platform, world)
        data = await read_json(request)
        _check_appid(platform, data)
        code = data.get("authorization_code")
        found = platform.auth_codes.get(code) if isinstance(code, str) else None
        if found is None:
            raise _err(61009)
        appid, expires = found
        if world.now() >= expires:
            raise _err(61010)
        grant = platform.grants[appid]
        if not grant.active:
            raise _err(61003)
        return json_response({"authorization_info": _grant_answer(world, grant)})
    except ApiError as exc:
        return error_response(exc)


async def api_authorizer_token(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        platform = _platform(request)
        platform.calls["api_authorizer_token"] += 1
        _component_token(request, platform, world)
        data = await read_json(request)
        _check_appid(platform, data)
        grant = platform.grants.get(str(data.get("authorizer_appid")))
        if grant is None or not grant.active:
            raise _err(61003)
        if data.get("authorizer_refresh_token") != grant.refresh_token:
            raise _err(61023)
        answer = _grant_answer(world, grant)
        return json_response({k: answer[k] for k in ("authorizer_access_token", "expires_in",
                                                     "authorizer_refresh_token")})
    except ApiError as exc:
        return error_response(exc)


# -- the authorization page -------------------------------------------------------------------------------

LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>公众号授权（模拟）</title></head>
<body><h1>授权给第三方平台 {component}（模拟）</h1>
<p>公众号管理员扫码后选择要授权的公众号，确认授权以下权限集：消息管理、用户管理、帐号服务、素材管理等。</p>
<form method="post" action="/cgi-bin/componentloginpage">
<input type="hidden" name="pre_auth_code" value="{code}"><input type="hidden" name="redirect_uri" value="{redirect}">
<select name="appid">{options}</select> <button type="submit">确认授权</button></form></body></html>"""


async def login_page(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    platform = request.app[PLATFORM].get("platform")
    q = request.query
    if not isinstance(platform, ComponentPlatform) or q.get("component_appid") != platform.appid:
        return html_response("<p>第三方平台参数错误</p>", status=400)
    found = platform.preauth_codes.get(q.get("pre_auth_code", ""))
    if found is None or world.now() >= found[0]:
        return html_response("<p>授权链接已过期，请重新获取</p>", status=400)
    biz = q.get("biz_appid")
    accounts = [a for a in world.by_appid.values() if biz in (None, a.cfg.appid)]
    options = "".join(f'<option value="{html.escape(a.cfg.appid)}">{html.escape(a.cfg.name)}</option>'
                      for a in accounts)
    return html_response(LOGIN_PAGE.format(component=html.escape(platform.appid),
                                           code=html.escape(q["pre_auth_code"]),
                                           redirect=html.escape(q.get("redirect_uri", "")), options=options))


async def login_confirm(request: web.Request) -> web.StreamResponse:
    """The administrator confirmed: the authorization exists, is notified and the browser redirected."""
    world = request.app[WORLD]
    platform = request.app[PLATFORM].get("platform")
    form = await request.post()
    code, appid, redirect = (str(form.get("pre_auth_code", "")), str(form.get("appid", "")),
                             str(form.get("redirect_uri", "")))
    found = platform.preauth_codes.pop(code, None) if isinstance(platform, ComponentPlatform) else None
    if platform is None or found is None or world.now() >= found[0]:
        return html_response("<p>授权链接已过期，请重新获取</p>", status=400)
    if appid not in world.by_appid:
        return html_response("<p>公众号不存在</p>", status=400)
    if urlsplit(redirect).scheme not in ("http", "https"):
        return html_response("<p>回调地址错误</p>", status=400)
    grant = platform.grants.get(appid)
    if grant is None or not grant.active:
        grant = platform.grants[appid] = Grant(appid, "refreshtoken@@@" + _token_value(world, appid, "refresh"))
    auth_code = "queryauthcode@@@" + _token_value(world, appid, "auth")
    expires = world.now() + AUTH_CODE_TTL
    platform.auth_codes[auth_code] = (appid, expires)
    await push(world, platform, "authorized", AuthorizerAppid=appid, AuthorizationCode=auth_code,
               AuthorizationCodeExpiredTime=str(int(expires.timestamp())), PreAuthCode=code)
    sep = "&" if "?" in redirect else "?"
    target = redirect + sep + urlencode({"auth_code": auth_code, "expires_in": int(AUTH_CODE_TTL.total_seconds())})
    raise web.HTTPFound(target)


# -- control ----------------------------------------------------------------------------------------------

async def setup(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        data = await request.json()
    except ValueError:
        return json_response({"error": "body is not JSON"}, status=400)
    need = ("appid", "secret", "token", "aes_key", "callback_url")
    if not isinstance(data, dict) or any(not isinstance(data.get(k), str) or not data[k] for k in need):
        return json_response({"error": f"needs {', '.join(need)} (strings)"}, status=400)
    if len(data["aes_key"]) != 43:
        return json_response({"error": "aes_key: the 43-character EncodingAESKey"}, status=400)
    every = data.get("push_every_minutes", 10)
    holder = request.app[PLATFORM]
    old = holder.get("platform")
    if isinstance(old, ComponentPlatform) and old.poller is not None:
        old.poller.cancel()
    platform = ComponentPlatform(data["appid"], data["secret"], data["token"], data["aes_key"],
                                 data["callback_url"], timedelta(minutes=float(every)) if every else None)
    holder["platform"] = platform
    if platform.push_every is not None and data.get("poll", True):
        platform.poller = asyncio.ensure_future(_poll(world, platform))
    return json_response(platform.summary())


async def control_ticket(request: web.Request) -> web.Response:
    platform = _platform_or_none(request)
    if platform is None:
        return json_response({"error": "component not set up (POST /_emu/component)"}, status=409)
    status, answer = await push_ticket(request.app[WORLD], platform)
    return json_response({"status": status, "answer": answer})


async def control_tick(request: web.Request) -> web.Response:
    platform = _platform_or_none(request)
    if platform is None:
        return json_response({"error": "component not set up (POST /_emu/component)"}, status=409)
    world = request.app[WORLD]
    if not _due(world, platform):
        return json_response({"pushed": False})
    status, answer = await push_ticket(world, platform)
    return json_response({"pushed": True, "status": status, "answer": answer})


async def control_revoke(request: web.Request) -> web.Response:
    platform = _platform_or_none(request)
    if platform is None:
        return json_response({"error": "component not set up (POST /_emu/component)"}, status=409)
    world = request.app[WORLD]
    try:
        data = await request.json()
    except ValueError:
        data = None
    appid = data.get("appid") if isinstance(data, dict) else None
    grant = platform.grants.get(appid) if isinstance(appid, str) else None
    if grant is None or not grant.active:
        return json_response({"error": "no active authorization for that appid"}, status=404)
    with world.lock:
        grant.active = False
        for value in grant.tokens:
            token = world.tokens.get(value)
            if token is not None:
                token.revoked_at = world.now()
    notify = data.get("notify", True) if isinstance(data, dict) else True
    status, answer = await push(world, platform, "unauthorized", AuthorizerAppid=appid) if notify else (0, "")
    return json_response({"revoked": appid, "status": status, "answer": answer})


async def control_state(request: web.Request) -> web.Response:
    platform = _platform_or_none(request)
    return json_response(platform.summary() if platform is not None else {"appid": None})


def _platform_or_none(request: web.Request) -> ComponentPlatform | None:
    found = request.app[PLATFORM].get("platform")
    return found if isinstance(found, ComponentPlatform) else None


async def _stop_poller(app: web.Application) -> None:
    platform = app[PLATFORM].get("platform")
    if isinstance(platform, ComponentPlatform) and platform.poller is not None:
        platform.poller.cancel()


def add_routes(app: web.Application) -> None:
    app[PLATFORM] = {"platform": None}
    app.router.add_post("/cgi-bin/component/api_component_token", api_component_token)
    app.router.add_post("/cgi-bin/component/api_create_preauthcode", api_create_preauthcode)
    app.router.add_post("/cgi-bin/component/api_query_auth", api_query_auth)
    app.router.add_post("/cgi-bin/component/api_authorizer_token", api_authorizer_token)
    app.router.add_get("/cgi-bin/componentloginpage", login_page)
    app.router.add_post("/cgi-bin/componentloginpage", login_confirm)
    app.router.add_get("/_emu/component", control_state)
    app.router.add_post("/_emu/component", setup)
    app.router.add_post("/_emu/component/ticket", control_ticket)
    app.router.add_post("/_emu/component/tick", control_tick)
    app.router.add_post("/_emu/component/revoke", control_revoke)
    app.on_cleanup.append(_stop_poller)

