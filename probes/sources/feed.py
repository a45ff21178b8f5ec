"""An account's public feed (RSS 2.0 or Atom through feedparser; JSON Feed), as a
self-hosted WeWe RSS or we-mp-rss serves it: every article a follower sees.

Fetched only through the page fetcher (address policy, size bound, per-host
limits). The feed is outside text: entries without a usable time are skipped,
fields are bounded, and a feed that cannot be read is the monitor's trouble,
never the account's.
"""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime
from typing import Any

import feedparser

from monitor.config import Account
from monitor.context import ProbeContext
from monitor.store import ContentItem
from probes.failures import page_error_reason
from probes.sources import FEED

MAX_ENTRIES = 500
MAX_FIELD = 2000  # characters of a title, link or id kept


class FeedUnreadable(Exception):
    """The feed could not be read; ``status`` says whose trouble it is (error or unverifiable)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _text(value: object) -> str | None:
    return value.strip()[:MAX_FIELD] or None if isinstance(value, str) else None


def _http_link(value: object) -> str | None:
    text = _text(value)
    return text if text is not None and text.startswith(("http://", "https://")) else None


def _json_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.strip()[:64])
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else None


def _item(account_id: str, key: str | None, link: str | None, title: str | None, when: datetime | None,
          now: datetime) -> ContentItem | None:
    item_id = key or link
    if item_id is None or when is None or when > now:  # a time from the future is the feed's error
        return None
    return ContentItem(account_id, FEED.name, item_id, title, link, when, now)


def parse_json_feed(account_id: str, text: str, now: datetime) -> list[ContentItem]:
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise FeedUnreadable("error", "订阅源不是可解析的 JSON Feed") from None
    entries = data.get("items") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise FeedUnreadable("error", "订阅源不是可解析的 JSON Feed")
    out = []
    for entry in entries[:MAX_ENTRIES]:
        if not isinstance(entry, dict):
            continue
        when = _json_time(entry.get("date_published")) or _json_time(entry.get("date_modified"))
        item = _item(account_id, _text(entry.get("id")), _http_link(entry.get("url")), _text(entry.get("title")),
                     when, now)
        if item is not None:
            out.append(item)
    return out


def parse_feed(account_id: str, text: str, now: datetime) -> list[ContentItem]:
    """Content items of an RSS, Atom or JSON Feed document (FeedUnreadable if it is none)."""
    if text.lstrip()[:1] == "{":
        return parse_json_feed(account_id, text, now)
    parsed = feedparser.parse(text, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        raise FeedUnreadable("error", "订阅源无法解析（不是 RSS、Atom 或 JSON Feed）")
    out = []
    for entry in parsed.entries[:MAX_ENTRIES]:
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        when = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
        item = _item(account_id, _text(entry.get("id")), _http_link(entry.get("link")), _text(entry.get("title")),
                     when, now)
        if item is not None:
            out.append(item)
    return out


async def read(ctx: ProbeContext, account: Account, now: datetime) -> list[ContentItem]:
    url = str(account.feed)
    result = await ctx.pages.fetch(url)
    if result.status is None or result.text is None:
        raise FeedUnreadable("error", f"订阅源无法读取（{page_error_reason(result.error)}）")
    if result.status >= 500 or result.status == 429:
        raise FeedUnreadable("error", f"订阅源暂时无法读取（HTTP {result.status}）")
    if result.status != 200:
        raise FeedUnreadable("unverifiable", f"订阅源地址无效（HTTP {result.status}），请检查 feed 配置")
    if result.truncated:
        raise FeedUnreadable("error", "订阅源超出页面大小上限，未读取")
    items = parse_feed(account.id, result.text, now)
    if not items:  # a feed service whose subscription lapsed serves an empty feed: not evidence
        raise FeedUnreadable("error", "订阅源没有任何文章（订阅服务可能已失效），本轮未能据此核查")
    return items
