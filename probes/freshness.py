"""Freshness (内容更新): when did each account last publish, seen by which sources?

No single source sees everything (:mod:`monitor.sources`): ``freepublish/batchget``
lists 发表 articles only, ``datacube/getarticlesummary`` lists 群发 articles (by day,
never today), the account's feed (``feed:`` in accounts.yaml) lists both. One round
reads every source the account has and stores every article each one lists, with
its source. The account is judged (row ``ok``) only when the sources read this
round together see 群发 and 发表; otherwise the row says why not ("更新情况无法判定：
仅有发表接口，看不到群发"), never that the account is stale. Metrics read the
content items, never this probe's rows.

Paging and call budget
----------------------
``freepublish/batchget`` (``count`` 20, ``no_content`` 1) has 100 calls a day per
account (our own budget in :mod:`monitor.wechat.quota` is 20), so paging stops as
soon as a page reaches what the store already has from freepublish. A daily round
costs one call per account; the first stops at ``BACKFILL_DAYS`` or ``MAX_PAGES``.
datacube costs one call per day read (:mod:`probes.sources.datacube`), the feed one
page fetch through the page fetcher.

Fallback
--------
When ``freepublish`` is not authorized (48001) the round reads the news material
instead (``material/batchget_material``, source ``material``): frozen since the
move to 草稿箱, it covers nothing current, but its articles are still scanned.

Failures
--------
Each source is all-or-nothing per account: its items are stored only when every
page or day it needed was read. Quota (45009), busy (-1), network or malformed
answers, an unreadable feed are the monitor's problem (``error``); an account whose
API access is not set up for us (48001, IP whitelist, wrong credentials, no secret,
``api: false``) and has no feed is ``unverifiable``.
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
from probes import sources as S
from probes.base import Json, ProbeRow, RowShape
from probes.failures import Unjudged, api_failure, missing_secret_reason
from probes.sources import Source, datacube, feed

log = logging.getLogger(__name__)

FREEPUBLISH = "freepublish"
MATERIAL = "material"
PAGE_SIZE = 20
BACKFILL_DAYS = 100  # first round: enough history for the current quarter's gap metric
MAX_PAGES = 10  # per account and round; 200 articles (our daily budget is 20 calls)
CONCURRENCY = 32  # accounts in flight at once
FLUSH_ACCOUNTS = 200  # accounts per store transaction
DAY_S = 86400.0
FEED_LAG = timedelta(days=1)  # a feed service polls the account a few times a day
MULTI_SEP = "#"  # item_id of the i-th article of a multi-article item: "{article_id}#{i}"

NO_API_REASON = "无接口权限，无法自动核查更新情况"
ROW = RowShape(("account", "status", "reason", "last_update", "days_since_update", "new_items", "source",
                "covers"))


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
    source: str | None = None  # the sources read, "+"-joined (e.g. "freepublish+datacube+feed")
    items: list[ContentItem] = field(default_factory=list)
    covers: frozenset[str] = frozenset()  # what the sources read can see (sources.MASS, PUBLISH)


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


def _feed_lags(items: list[ContentItem]) -> bool:
    """The feed's newest article is more than a day older than freepublish's: the feed service
    has stopped following the account (a lapsed login, say), and its silence proves nothing."""
    def newest(source: str) -> datetime | None:
        return max((i.published_at for i in items if i.source == source and i.published_at), default=None)

    fed, published = newest(S.FEED.name), newest(FREEPUBLISH)
    return published is not None and (fed is None or published - fed > FEED_LAG)


async def _read_api(api: AccountAPI, account_id: str, known: dict[str, datetime], now: datetime,
                    last_look: datetime | None, read: list[Source], items: list[ContentItem],
                    failures: list[tuple[Unjudged, str]]) -> None:
    """freepublish (material when not authorized), and datacube unless the feed saw 群发 already."""
    unauthorized = False
    try:
        items.extend(await list_published(api, FREEPUBLISH, account_id, known.get(FREEPUBLISH), now))
        read.append(S.FREEPUBLISH)
    except E.NotAuthorized as exc:
        unauthorized = True
        failures.append(api_failure(exc))
    except E.WeChatError as exc:
        failures.append(api_failure(exc))
    if unauthorized:  # the frozen material library: old dates, but its articles are still scanned
        try:
            items.extend(await list_published(api, MATERIAL, account_id, known.get(MATERIAL), now))
            read.append(S.MATERIAL)
        except E.WeChatError as exc:
            failures.append(api_failure(exc))
    if S.FEED in read and _feed_lags(items):
        read.remove(S.FEED)
        failures.append(("error", "订阅源未同步最新文章（发表接口已见更新的文章），本轮改由群发数据接口核查"))
    if S.FEED in read:
        return
    try:
        items.extend(await datacube.read(api, account_id, known.get(S.DATACUBE.name), now, last_look))
        read.append(S.DATACUBE)
    except E.WeChatError as exc:
        failures.append(api_failure(exc))


async def check_account(ctx: ProbeContext, account: Account, known: dict[str, datetime], now: datetime,
                        last_look: datetime | None = None) -> Outcome:
    """Every source the account has; judged only when together they see 群发 and 发表.

    ``known``: the latest publication each source has stored for the account (the paging stop);
    ``last_look``: the last successful freshness look at it (where datacube resumes).
    """
    read: list[Source] = []
    items: list[ContentItem] = []
    failures: list[tuple[Unjudged, str]] = []
    api = ctx.account_api(account)
    if account.feed is not None:
        try:
            items.extend(await feed.read(ctx, account, now))
            read.append(S.FEED)
        except feed.FeedUnreadable as exc:
            failures.append(("unverifiable" if exc.status == "unverifiable" else "error", exc.reason))
    if api is not None:
        await _read_api(api, account.id, known, now, last_look, read, items, failures)
    source = "+".join(s.name for s in read) or None
    covers = S.coverage(read)
    blind = S.blind_reason(read)
    if not blind:  # what failed besides is said, but the sources read saw everything
        noted = "；".join(dict.fromkeys(reason for _, reason in failures))
        return Outcome("ok", f"{noted}（已由{S.labels(read)}核查）" if noted else "", source, items, covers)
    if api is None and account.feed is None:
        return Outcome("unverifiable", missing_secret_reason(account), source, items, covers)
    errors = [reason for status, reason in failures if status == "error"]
    if errors:  # the monitor's trouble: a source that could have seen it failed this round
        return Outcome("error", errors[0], source, items, covers)
    detail = f"（{failures[0][1]}）" if failures else ""
    return Outcome("unverifiable", f"{blind}{detail}", source, items, covers)


def _row(account: Account, outcome: Outcome, last: datetime | None, new_items: int, now: datetime) -> ProbeRow:
    covers: list[Json] = [*sorted(outcome.covers)]
    return ProbeRow(ROW, account.id, outcome.status, outcome.reason, {
        "last_update": to_local(last).isoformat() if last else None,
        "days_since_update": round((now - last).total_seconds() / DAY_S, 3) if last else None,
        "new_items": new_items,
        "source": outcome.source,
        "covers": covers,
    })


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None) -> list[ProbeRow]:
    """Read every account's newly published articles once; store them; one row per account."""
    now = ctx.now()
    # One query for every account's latest known publication per source (the paging stops).
    by_source = await asyncio.to_thread(ctx.store.content_sources, before=now + timedelta(seconds=1))
    known = {a: max(sources.values()) for a, sources in by_source.items()}
    looks = await asyncio.to_thread(ctx.store.last_looks, "freshness", now)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(account: Account) -> Outcome:
        async with limit:
            try:
                return await check_account(ctx, account, by_source.get(account.id, {}), now,
                                           looks.get(account.id))
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
        # What any source listed is stored, judged or not: it is scanned for personal data, and
        # an article seen is an update whatever else could not be seen.
        batch = [replace(item, first_seen_at=seen) for o in outcomes for item in o.items
                 if item.source != S.DATACUBE.name]
        firsts = [replace(item, first_seen_at=seen) for o in outcomes for item in o.items
                  if item.source == S.DATACUBE.name]
        new = await asyncio.to_thread(ctx.store.upsert_content_items, batch) if batch else []
        if firsts:  # an article keeps the first day datacube saw it
            new += await asyncio.to_thread(ctx.store.upsert_content_items, firsts, refresh=False)
        new_total += len(new)
        new_per_account: dict[str, int] = {}
        for item in new:
            new_per_account[item.account_id] = new_per_account.get(item.account_id, 0) + 1
        for account, outcome in zip(chunk, outcomes):
            times = [i.published_at for i in outcome.items if i.published_at is not None and i.published_at <= now]
            candidates = [t for t in (known.get(account.id), *times) if t is not None]
            last = max(candidates) if candidates else None
            rows.append(_row(account, outcome, last, new_per_account.get(account.id, 0), now))
            if outcome.status != "ok":
                log.info("freshness %s: %s (%s)", account.id, outcome.status, outcome.reason)
    log.info("freshness round %s: %d accounts, %d new items", run_id, len(accounts), new_total)
    return rows
