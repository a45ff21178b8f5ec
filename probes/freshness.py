"""Freshness (内容更新): when did each account last publish?

One round reads each account's published articles, newest first, with
``freepublish/batchget`` (``count`` 20, ``no_content`` 1: titles, links and
times only) and stores every article as a content item. Metrics read the
content items, never this probe's rows.

Paging and call budget
----------------------
``freepublish/batchget`` has 100 calls a day per account (our own budget in
:mod:`monitor.wechat.quota` is 20), so paging stops as soon as a page reaches
what the store already knows: a page holding an item published at or before the
account's latest known publication. A daily round therefore costs one call per
account (two when more than 20 articles appeared since the last round). With
nothing known yet (first round) paging stops at the backfill horizon
(``BACKFILL_DAYS``, a quarter and a bit) or after ``MAX_PAGES`` pages.

Fallback
--------
When ``freepublish`` is not authorized (48001) or lists nothing at all (mass-sent
群发 articles are not listed there), the round reads the news material instead
(``material/batchget_material``, source ``material``), paged the same way.

Failures
--------
A round is all-or-nothing per account: items are stored only when every page
it needed was read, so a failed round never leaves half a history behind and
the last known content stays what metrics see. Quota (45009), busy (-1),
network or malformed answers are the monitor's problem (``error``); an
account whose API access is not set up for us (48001 on both sources, IP
whitelist, wrong credentials, no secret, ``api: false``) is ``unverifiable``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitor.clock import to_local
from monitor.config import Account
from monitor.context import ProbeContext
from monitor.store import ContentItem
from monitor.wechat import AccountAPI
from monitor.wechat import answers as A
from monitor.wechat import errors as E
from probes.base import ProbeRow, RowShape
from probes.failures import Unjudged, api_failure, missing_secret_reason

log = logging.getLogger(__name__)

FREEPUBLISH = "freepublish"
MATERIAL = "material"
PAGE_SIZE = 20
BACKFILL_DAYS = 100  # first round: enough history for the current quarter's gap metric
MAX_PAGES = 10  # per account and round; 200 articles (our daily budget is 20 calls)
CONCURRENCY = 32  # accounts in flight at once
FLUSH_ACCOUNTS = 200  # accounts per store transaction
DAY_S = 86400.0
MULTI_SEP = "#"  # item_id of the i-th article of a multi-article item: "{article_id}#{i}"

NO_API_REASON = "无接口权限，无法自动核查更新情况"
ROW = RowShape(("account", "status", "reason", "last_update", "days_since_update", "new_items", "source"))


# -- item ids -------------------------------------------------------------------


def item_id_for(key: str, index: int, count: int) -> str:
    """Content item id: the article id, plus ``#index`` inside a multi-article item."""
    return key if count <= 1 else f"{key}{MULTI_SEP}{index}"


def split_item_id(item_id: str) -> tuple[str, int]:
    """(article or media id, index of the article inside it)."""
    key, sep, index = item_id.rpartition(MULTI_SEP)
    if sep and index.isdigit():
        return key, int(index)
    return item_id, 0


# -- parsing ----------------------------------------------------------------------


def batchget_entries(source: str, data: object) -> list[tuple[str, A.FreepublishItem | A.MaterialItem]]:
    """(article or media id, entry) of a batchget answer, checked against its model first
    (MalformedAnswer if it is not one)."""
    if source == FREEPUBLISH:
        published = A.check(A.FreepublishPage, data, "cgi-bin/freepublish/batchget")
        return [(entry["article_id"], entry) for entry in published.get("item") or ()]
    material = A.check(A.MaterialPage, data, "cgi-bin/material/batchget_material")
    return [(entry["media_id"], entry) for entry in material.get("item") or ()]


def parse_page(account_id: str, source: str, data: object, seen_at: datetime) -> tuple[list[ContentItem], int]:
    """Content items of one batchget page, and how many entries the page held."""
    entries = batchget_entries(source, data)
    items: list[ContentItem] = []
    for key, entry in entries:
        content = entry.get("content") or {}
        news = content.get("news_item") or []
        # The docs put update_time beside content; the platform has been seen putting it inside.
        seconds = entry.get("update_time") or content.get("update_time") or content.get("create_time")
        when = datetime.fromtimestamp(seconds, UTC) if seconds else None
        if not news:  # no_content may drop the whole content object: keep the publication itself
            items.append(ContentItem(account_id, source, key, None, None, when, seen_at))
            continue
        for i, article in enumerate(news):
            items.append(ContentItem(account_id, source, item_id_for(key, i, len(news)),
                                     article.get("title"), article.get("url") or None, when, seen_at))
    return items, len(entries)


# -- one account --------------------------------------------------------------------


@dataclass
class Outcome:
    status: Literal["ok"] | Unjudged
    reason: str = ""
    source: str | None = None
    items: list[ContentItem] = field(default_factory=list)


async def list_published(api: AccountAPI, source: str, account_id: str, known_latest: datetime | None,
                         now: datetime) -> list[ContentItem]:
    """Newest-first pages of ``source`` until the known history, the horizon or the end."""
    horizon = now - timedelta(days=BACKFILL_DAYS)
    items: list[ContentItem] = []
    offset = 0
    for _ in range(MAX_PAGES):
        data: A.FreepublishPage | A.MaterialPage
        if source == FREEPUBLISH:
            data = await api.freepublish_batchget(offset, PAGE_SIZE, no_content=True)
        else:
            data = await api.material_news(offset, PAGE_SIZE)
        page, entries = parse_page(account_id, source, data, now)
        items.extend(page)
        offset += entries
        total = data.get("total_count")  # checked by the client (and again by parse_page)
        if entries < PAGE_SIZE or (total is not None and offset >= total):
            break
        times = [i.published_at for i in page if i.published_at is not None]
        if known_latest is not None and any(t <= known_latest for t in times):
            break  # reached what the store already has
        if known_latest is None and any(t < horizon for t in times):
            break
    return items


async def check_account(ctx: ProbeContext, account: Account, known_latest: datetime | None, now: datetime) -> Outcome:
    api = ctx.account_api(account)
    if api is None:
        return Outcome("unverifiable", missing_secret_reason(account))
    unauthorized = False
    try:
        items = await list_published(api, FREEPUBLISH, account.id, known_latest, now)
        if items:
            return Outcome("ok", "", FREEPUBLISH, items)
    except E.NotAuthorized:
        unauthorized = True
    except E.WeChatError as exc:
        return Outcome(*api_failure(exc))
    # Not authorized, or nothing listed (mass-sent articles are not): the news material.
    try:
        items = await list_published(api, MATERIAL, account.id, known_latest, now)
    except E.NotAuthorized:
        if unauthorized:
            return Outcome("unverifiable",
                           "公众号未授权本平台调用已发布文章接口和素材接口（48001），无法自动核查更新情况")
        return Outcome("unverifiable", "已发布文章接口未返回任何文章，素材接口未授权（48001），无法自动核查更新情况")
    except E.WeChatError as exc:
        return Outcome(*api_failure(exc))
    if unauthorized:
        return Outcome("ok", "已发布文章接口未授权（48001），改用素材库核查", MATERIAL, items)
    return Outcome("ok", "" if items else "接口未返回任何已发布文章", MATERIAL if items else None, items)


def _row(account: Account, outcome: Outcome, last: datetime | None, new_items: int, now: datetime) -> ProbeRow:
    return ProbeRow(ROW, account.id, outcome.status, outcome.reason, {
        "last_update": to_local(last).isoformat() if last else None,
        "days_since_update": round((now - last).total_seconds() / DAY_S, 3) if last else None,
        "new_items": new_items,
        "source": outcome.source,
    })


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None) -> list[ProbeRow]:
    """Read every account's newly published articles once; store them; one row per account."""
    now = ctx.now()
    # One query for every account's latest known publication (the paging stop).
    known = await asyncio.to_thread(ctx.store.last_published, before=now + timedelta(seconds=1))
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(account: Account) -> Outcome:
        async with limit:
            try:
                return await check_account(ctx, account, known.get(account.id), now)
            except Exception as exc:  # one account's bug never ends the round
                log.exception("freshness: %s failed", account.id)
                return Outcome(*api_failure(exc))
            finally:
                ctx.account_done()

    rows: list[ProbeRow] = []
    new_total = 0
    accounts = list(accounts)
    for start in range(0, len(accounts), FLUSH_ACCOUNTS):
        chunk = accounts[start:start + FLUSH_ACCOUNTS]
        outcomes = await asyncio.gather(*(one(a) for a in chunk))
        # First seen when written, not when the round began: a privacy round that starts while
        # this one runs must find these items new (it reads items first seen after its start).
        seen = ctx.now()
        batch = [replace(item, first_seen_at=seen) for o in outcomes if o.status == "ok" for item in o.items]
        new = await asyncio.to_thread(ctx.store.upsert_content_items, batch) if batch else []
        new_total += len(new)
        new_per_account: dict[str, int] = {}
        for item in new:
            new_per_account[item.account_id] = new_per_account.get(item.account_id, 0) + 1
        for account, outcome in zip(chunk, outcomes):
            times = [i.published_at for i in outcome.items if i.published_at is not None and i.published_at <= now]
            if outcome.status != "ok":
                times = []  # a failed round adds nothing, not even to the row
            candidates = [t for t in (known.get(account.id), *times) if t is not None]
            last = max(candidates) if candidates else None
            rows.append(_row(account, outcome, last, new_per_account.get(account.id, 0), now))
            if outcome.status != "ok":
                log.info("freshness %s: %s (%s)", account.id, outcome.status, outcome.reason)
    log.info("freshness round %s: %d accounts, %d new items", run_id, len(accounts), new_total)
    return rows
