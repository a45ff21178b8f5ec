"""An account's menu in the platform's two formats (web-admin view and API view)."""

from __future__ import annotations

from typing import Any

from emulator.scenario import Account, MenuItem, stream


def media_id(seed: int, *parts: object) -> str:
    return stream(seed, "media", *parts).getrandbits(256).to_bytes(32, "big").hex()[:43]


def leaf_targets(acct: Account, item: MenuItem, origin: str) -> list[str]:
    """The URLs a leaf opens (view url, news content urls, miniprogram fallback)."""
    keys = {a.id: a.key for a in acct.articles}
    urls = []
    if item.page:
        urls.append(f"{origin}/site/{acct.id}/{item.page}")
    if item.article:
        urls.append(f"{origin}/mp/s/{keys[item.article]}")
    if item.url:
        urls.append(origin + item.url if item.url.startswith("/") else item.url)
    urls.extend(f"{origin}/mp/s/{keys[ref]}" for ref in item.articles)
    return urls


def _admin_leaf(acct: Account, item: MenuItem, origin: str, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"type": item.type, "name": item.name}
    targets = leaf_targets(acct, item, origin)
    if item.type == "view":
        out["url"] = targets[0] if targets else ""
    elif item.type == "news":
        by_id = {a.id: a for a in acct.articles}
        out["value"] = media_id(seed, acct.id, item.name)
        out["news_info"] = {"list": [
            {"title": by_id[ref].title, "author": by_id[ref].author, "digest": by_id[ref].digest, "show_cover": 0,
             "cover_url": f"{origin}/mp/cover/{by_id[ref].key}.png",
             "content_url": f"{origin}/mp/s/{by_id[ref].key}", "source_url": ""}
            for ref in item.articles]}
    elif item.type == "miniprogram":
        out.update(url=targets[0] if targets else "", appid=item.appid or "", pagepath=item.pagepath or "")
    elif item.type == "click":
        out["key"] = item.key or item.name
    elif item.type == "text":
        out["value"] = item.value or ""
    else:  # img / voice / video
        out["value"] = item.value or media_id(seed, acct.id, item.name)
    return out


def _api_leaf(acct: Account, item: MenuItem, origin: str, seed: int) -> dict[str, Any]:
    """How a leaf looks when the menu was created through the API."""
    targets = leaf_targets(acct, item, origin)
    out: dict[str, Any] = {"name": item.name}
    if item.type == "view":
        out.update(type="view", url=targets[0] if targets else "")
    elif item.type == "miniprogram":
        out.update(type="miniprogram", url=targets[0] if targets else "", appid=item.appid or "",
                   pagepath=item.pagepath or "")
    elif item.type == "news":
        out.update(type="article_id", article_id=media_id(seed, acct.id, item.name))
    elif item.type in ("img", "voice", "video"):
        out.update(type="media_id", media_id=item.value or media_id(seed, acct.id, item.name))
    else:  # click / text: the account's server answers the click event
        out.update(type="click", key=item.key or item.name)
    return out


def selfmenu_info(acct: Account, origin: str, seed: int) -> dict[str, Any]:
    """``get_current_selfmenu_info``: sub menus are ``{"list": [...]}``."""
    if not acct.menu_open or not acct.menu:
        return {"is_menu_open": 0, "selfmenu_info": {"button": []}}
    leaf = _api_leaf if acct.menu_source == "api" else _admin_leaf
    buttons = [{"name": top.name, "sub_button": {"list": [leaf(acct, s, origin, seed) for s in top.sub]}}
               if top.sub else leaf(acct, top, origin, seed) for top in acct.menu]
    return {"is_menu_open": 1, "selfmenu_info": {"button": buttons}}


def api_menu(acct: Account, origin: str, seed: int) -> dict[str, Any] | None:
    """``menu/get``: None when the menu was not created through the API (46003)."""
    if acct.menu_source != "api" or not acct.menu:
        return None
    buttons = []
    for top in acct.menu:
        if top.sub:
            buttons.append({"name": top.name,
                            "sub_button": [{**_api_leaf(acct, s, origin, seed), "sub_button": []} for s in top.sub]})
        else:
            buttons.append({**_api_leaf(acct, top, origin, seed), "sub_button": []})
    return {"menu": {"button": buttons, "menuid": int(media_id(seed, acct.id, "menuid")[:8], 16)}}
