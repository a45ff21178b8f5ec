"""Platform API routes (api.weixin.qq.com paths and shapes)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

from aiohttp import web

from emulator import feeds
from emulator.content import article_html
from emulator.menus import api_menu, media_id, selfmenu_info
from emulator.responses import WORLD, error_response, fault_response, json_response
from emulator.scenario import Article, stream
from emulator.world import AccountState, ApiError, World
from monitor.clock import to_local

DATACUBE_FIRST_DAY = date(2014, 12, 1)  # the platform keeps no statistics before

Handler = Callable[[World, AccountState, dict[str, Any], str], dict[str, Any]]


async def read_json(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(47001) from None
    if not isinstance(data, dict):
        raise ApiError(47001)
    return data


def origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def _int(data: dict[str, Any], name: str, default: int | None = None) -> int:
    value = data.get(name, default)
    if value is None:
        raise ApiError(44002 if not data else 47001, f"{name} missing")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(47001, f"{name} is not a number") from None


def api_route(path: str, handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Token check, faults, daily quota, then the handler; every failure is an errcode answer."""

    async def route(request: web.Request) -> web.StreamResponse:
        world = request.app[WORLD]
        try:
            acct = world.resolve_token(request.query.get("access_token"))
            fault = world.fault_for(acct.cfg.id, path, api=True)
            if fault is not None:
                answer = await fault_response(request, fault)
                if answer is not None:
                    return answer
            world.charge_quota(acct, path)
            data = await read_json(request) if request.method == "POST" else {}
            return json_response(handler(world, acct, data, origin(request)))
        except ApiError as exc:
            return error_response(exc)

    return route


async def _token_call(request: web.Request, path: str, appid: str | None, secret: str | None,
                      grant_type: str | None, kind: str, force_refresh: bool) -> web.StreamResponse:
    world = request.app[WORLD]
    if grant_type != "client_credential":
        raise ApiError(40002)
    if not appid:
        raise ApiError(41002)
    acct = world.by_appid.get(appid)
    if acct is None:
        raise ApiError(40013)
    fault = world.fault_for(acct.cfg.id, path, api=True)
    if fault is not None:
        answer = await fault_response(request, fault)
        if answer is not None:
            return answer
    world.account_for_credentials(appid, secret)
    world.charge_quota(acct, path)
    value, expires_in = world.issue_token(acct, kind, force_refresh)
    return json_response({"access_token": value, "expires_in": expires_in})


async def token(request: web.Request) -> web.StreamResponse:
    q = request.query
    try:
        return await _token_call(request, "/cgi-bin/token", q.get("appid"), q.get("secret"), q.get("grant_type"),
                                 "token", False)
    except ApiError as exc:
        return error_response(exc)


async def stable_token(request: web.Request) -> web.StreamResponse:
    try:
        data = await read_json(request)
        if not data:
            raise ApiError(44002)
        force = data.get("force_refresh", False)
        return await _token_call(request, "/cgi-bin/stable_token", data.get("appid"), data.get("secret"),
                                 data.get("grant_type"), "stable", force is True or str(force).lower() == "true")
    except ApiError as exc:
        return error_response(exc)


def _selfmenu(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    return selfmenu_info(acct.cfg, base, world.seed)


def _menu_get(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    menu = api_menu(acct.cfg, base, world.seed)
    if menu is None:
        raise ApiError(46003)
    return menu


def _news_item(world: World, acct: AccountState, art_id: str, base: str, with_content: bool) -> dict[str, Any]:
    art = acct.article_by_id[art_id]
    deleted = world.article_state(art) == "deleted"
    return {
        "title": art.title, "author": art.author or acct.cfg.unit, "digest": art.digest,
        "content": article_html(acct.cfg, art, world.seed) if with_content and not deleted else "",
        "content_source_url": "", "thumb_media_id": media_id(world.seed, acct.cfg.id, art.id, "thumb"),
        "show_cover_pic": 0, "need_open_comment": 0, "only_fans_can_comment": 0,
        "url": f"{base}/mp/s/{art.key}", "thumb_url": f"{base}/mp/cover/{art.key}.png", "is_deleted": deleted,
    }


def _page(data: dict[str, Any]) -> tuple[int, int]:
    offset = _int(data, "offset", 0)
    count = _int(data, "count", 20)
    if offset < 0 or not 1 <= count <= 20:
        raise ApiError(40097, "invalid args: offset >= 0 and 1 <= count <= 20")
    return offset, count


def _freepublish_batchget(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    offset, count = _page(data)
    with_content = not data.get("no_content")
    published = world.published(acct, "publish")  # 群发 articles are not listed here
    items = [{
        "article_id": art.key,
        "content": {"news_item": [_news_item(world, acct, art.id, base, with_content)],
                    "create_time": int(art.publish.timestamp()), "update_time": int(art.publish.timestamp())},
        "update_time": int(art.publish.timestamp()),
    } for art in published[offset:offset + count]]
    return {"total_count": len(published), "item_count": len(items), "item": items}


def _freepublish_getarticle(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    key = data.get("article_id")
    found = world.by_article_key.get(key) if isinstance(key, str) else None
    if found is None or found[0] is not acct or found[1].publish > world.now() or found[1].via != "publish":
        raise ApiError(53600)
    return {"news_item": [_news_item(world, acct, found[1].id, base, True)]}


def _material_batchget(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    if data.get("type") != "news":
        return {"total_count": 0, "item_count": 0, "item": []}
    offset, count = _page(data)
    published = world.material(acct)
    items = [{
        "media_id": media_id(world.seed, acct.cfg.id, art.id, "material"),
        "content": {"news_item": [_news_item(world, acct, art.id, base, True)],
                    "create_time": int(art.publish.timestamp()), "update_time": int(art.publish.timestamp())},
        "update_time": int(art.publish.timestamp()),
    } for art in published[offset:offset + count]]
    return {"total_count": len(published), "item_count": len(items), "item": items}


def msg_data_id(art: Article) -> int:
    """The mass send's id (``msgid`` in datacube is ``{msg_data_id}_{index}``)."""
    return 2_247_483_647 + int(art.key[:7], 16)


def _date(data: dict[str, Any], name: str) -> date:
    value = data.get(name)
    if not isinstance(value, str):
        raise ApiError(61500 if value is not None else 44002 if not data else 47001, f"{name} missing")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(61500) from None


def _article_summary(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    """``datacube/getarticlesummary``: one day per call, at most yesterday (图文群发每日数据)."""
    begin, end = _date(data, "begin_date"), _date(data, "end_date")
    yesterday = to_local(world.now()).date() - timedelta(days=1)
    if begin != end or end > yesterday or begin < DATACUBE_FIRST_DAY:
        raise ApiError(61501)
    out = []
    for art in world.read_on(acct, end):
        rng = stream(world.seed, acct.cfg.id, art.id, "read", end.isoformat())
        users = rng.randint(20, 800)
        out.append({
            "ref_date": end.isoformat(), "msgid": f"{msg_data_id(art)}_1", "title": art.title,
            "int_page_read_user": users, "int_page_read_count": users + rng.randint(0, users // 3),
            "ori_page_read_user": 0, "ori_page_read_count": 0,
            "share_user": rng.randint(0, users // 10), "share_count": rng.randint(0, users // 8),
            "add_to_fav_user": rng.randint(0, users // 20), "add_to_fav_count": rng.randint(0, users // 20),
        })
    return {"list": out}


def _autoreply_info(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    rules = acct.cfg.autoreply
    created = int(acct.articles[0].publish.timestamp()) if acct.articles else 1672502400
    out: dict[str, Any] = {
        "is_add_friend_reply_open": int(rules.add_friend is not None),
        "is_autoreply_open": int(rules.default is not None or bool(rules.keywords)),
    }
    if rules.add_friend is not None:
        out["add_friend_autoreply_info"] = {"type": "text", "content": rules.add_friend}
    if rules.default is not None:
        out["message_default_autoreply_info"] = {"type": "text", "content": rules.default}
    out["keyword_autoreply_info"] = {"list": [{
        "rule_name": rule.name or f"规则{i + 1}", "create_time": created, "reply_mode": "reply_all",
        "keyword_list_info": [{"type": "text", "match_mode": rule.match, "content": kw} for kw in rule.keywords],
        "reply_list_info": [{"type": "text", "content": rule.reply}],
    } for i, rule in enumerate(rules.keywords)]}
    return out


def _msgrecord(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    if not acct.cfg.msgrecord:
        raise ApiError(65400)
    start, end = _int(data, "starttime"), _int(data, "endtime")
    msgid, number = _int(data, "msgid", 1), _int(data, "number", 10000)
    if end < start or end - start > 86400:
        raise ApiError(65417)
    if not 1 <= number <= 10000:
        raise ApiError(65416)
    return world.msgrecord(acct, start, end, msgid, number)


def _custom_send(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    touser, msgtype = data.get("touser"), data.get("msgtype")
    if not touser or not msgtype:
        raise ApiError(44002 if not data else 47001)
    text = (data.get("text") or {}).get("content", "") if msgtype == "text" else f"[{msgtype}]"
    worker = (data.get("customservice") or {}).get("kf_account", "")
    world.custom_send(acct, touser, text, worker)
    return {"errcode": 0, "errmsg": "ok"}


def _quota_get(world: World, acct: AccountState, data: dict[str, Any], base: str) -> dict[str, Any]:
    path = data.get("cgi_path")
    if not isinstance(path, str) or not path:
        raise ApiError(44002 if not data else 47001, "cgi_path missing")
    path = path if path.startswith("/") else "/" + path
    limit = world.daily_limit(acct, path)
    if limit is None:
        raise ApiError(76021)
    used = world.quota_used(acct, path)
    return {"errcode": 0, "errmsg": "ok", "quota": {"daily_limit": limit, "used": used,
                                                    "remain": max(0, limit - used)}}


ROUTES: dict[str, Handler] = {
    "/cgi-bin/get_current_selfmenu_info": _selfmenu,
    "/cgi-bin/menu/get": _menu_get,
    "/cgi-bin/freepublish/batchget": _freepublish_batchget,
    "/cgi-bin/freepublish/getarticle": _freepublish_getarticle,
    "/cgi-bin/material/batchget_material": _material_batchget,
    "/cgi-bin/get_current_autoreply_info": _autoreply_info,
    "/customservice/msgrecord/getmsglist": _msgrecord,
    "/cgi-bin/message/custom/send": _custom_send,
    "/cgi-bin/openapi/quota/get": _quota_get,
    "/datacube/getarticlesummary": _article_summary,
}


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    for path, handler in ROUTES.items():
        app.router.add_route("*", path, api_route(path, handler))
    feeds.add_routes(app)
