"""An account's public feed, as a self-hosted WeWe RSS serves it: /feeds/{account}.rss|.atom|.json.

A feed lists what a follower sees, 群发 and 发表 alike, newest first, with each
article's full text; deleted articles drop out. ``feed_until`` plays a feed service
that stopped following the account (its WeChat login lapsed): nothing newer shows. Accounts with ``feed: false``
have none (404). Faults on the endpoint ``/feeds`` apply as for pages.
"""

from __future__ import annotations

import json
from datetime import UTC
from email.utils import format_datetime
from html import escape

from aiohttp import web

from emulator.content import article_html
from emulator.responses import WORLD, fault_response
from emulator.scenario import Article
from emulator.world import AccountState, World

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


def _items(world: World, acct: AccountState, limit: int) -> list[Article]:
    until = acct.cfg.feed_until
    return [a for a in world.published(acct)
            if world.article_state(a) != "deleted" and (until is None or a.publish < until)][:limit]


def _x(text: str) -> str:
    return escape(text, quote=True)


def rss(world: World, acct: AccountState, base: str, limit: int) -> str:
    items = []
    for art in _items(world, acct, limit):
        link = f"{base}/mp/s/{art.key}"
        items.append(
            f"<item><title>{_x(art.title)}</title><link>{_x(link)}</link>"
            f'<guid isPermaLink="false">{_x(art.key)}</guid>'
            f"<pubDate>{format_datetime(art.publish.astimezone(UTC), usegmt=True)}</pubDate>"
            f"<description>{_x(art.digest or art.title)}</description>"
            f"<content:encoded>{_x(article_html(acct.cfg, art, world.seed))}</content:encoded></item>")
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            f"<title>{_x(acct.cfg.name)}</title><link>{_x(base)}/feeds/{acct.cfg.id}.rss</link>"
            f"<description>{_x(acct.cfg.name)}</description>{''.join(items)}</channel></rss>")


def atom(world: World, acct: AccountState, base: str, limit: int) -> str:
    arts = _items(world, acct, limit)
    updated = (arts[0].publish if arts else world.now()).astimezone(UTC).isoformat()
    entries = []
    for art in arts:
        link = f"{base}/mp/s/{art.key}"
        when = art.publish.astimezone(UTC).isoformat()
        entries.append(
            f"<entry><title>{_x(art.title)}</title><id>{_x(art.key)}</id>"
            f'<link href="{_x(link)}"/><published>{when}</published><updated>{when}</updated>'
            f"<summary>{_x(art.digest or art.title)}</summary>"
            f'<content type="html">{_x(article_html(acct.cfg, art, world.seed))}</content></entry>')
    return ('<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>{_x(acct.cfg.name)}</title><id>{_x(base)}/feeds/{acct.cfg.id}.atom</id>"
            f"<updated>{updated}</updated>{''.join(entries)}</feed>")


def json_feed(world: World, acct: AccountState, base: str, limit: int) -> str:
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": acct.cfg.name,
        "feed_url": f"{base}/feeds/{acct.cfg.id}.json",
        "items": [{"id": art.key, "url": f"{base}/mp/s/{art.key}", "title": art.title,
                   "date_published": art.publish.astimezone(UTC).isoformat(),
                   "summary": art.digest or art.title,
                   "content_html": article_html(acct.cfg, art, world.seed)}
                  for art in _items(world, acct, limit)],
    }, ensure_ascii=False)


FORMATS = {
    "rss": (rss, "application/rss+xml"),
    "atom": (atom, "application/atom+xml"),
    "json": (json_feed, "application/feed+json"),
}


async def feed(request: web.Request) -> web.StreamResponse:
    world = request.app[WORLD]
    name = request.match_info["name"]
    account_id, _, ext = name.rpartition(".")
    acct = world.accounts.get(account_id)
    if acct is None or not acct.cfg.feed or ext not in FORMATS:
        return web.Response(status=404, text="feed not found")
    fault = world.fault_for(account_id, "/feeds", api=False)
    if fault is not None:
        answer = await fault_response(request, fault)
        if answer is not None:
            return answer
    try:
        limit = max(1, min(int(request.query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT))
    except ValueError:
        limit = DEFAULT_LIMIT
    render, content_type = FORMATS[ext]
    with world.lock:
        body = render(world, acct, f"{request.scheme}://{request.host}", limit)
    return web.Response(text=body, content_type=content_type, charset="utf-8")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/feeds/{name}", feed)
