"""Privacy round (隐私泄露): scan what the accounts publish for personal data.

The scanner itself is :mod:`probes.privacy`; this module decides what to read,
fetches it and stores what the scanner finds, masked.

What is scanned
---------------
The articles the freshness probe stored as content items, new since the last
privacy round: items first seen after the start of the latest earlier privacy
run. When that run had errors (the runner marks a run ``ok`` only when no account
had an ``error``), items first seen after the start of the last ``ok`` run are
read again, so an article whose fetch failed is retried; that look-back is
capped at ``MAX_LOOKBACK_DAYS`` so that one account failing for weeks does not
make every round re-read everything. The very first round (no earlier privacy
run in the store) reads every article published in the last ``BACKFILL_DAYS``.
Only items published in the last ``BACKFILL_DAYS`` are considered at all; they
come from one store query per round (the store has no query by first sight).

Cost at 10,000 accounts publishing every ~3 days: ~3,300 article reads a day
(one ``freepublish/getarticle`` per article, whose platform quota is 1,000 a day
per account), plus one page fetch per declared column. ``rescan_days`` forces a
full re-read (an operator's choice, not the daily job).

How an article is read
----------------------
``freepublish`` items: ``getarticle`` returns the article's HTML; when the API
fails (quota, not authorized, network) the article's page is fetched instead.
``material`` and ``feed`` items: the article page (once per page, whichever
sources listed it). ``datacube`` items carry no link: the 群发 articles they
stand for are read through the account's feed (an account without one: its 群发
articles cannot be read, a coverage gap said in the freshness row). Columns
declared in accounts.yaml (``view``/``news`` with a URL): their page, every round (they are few; the menu's
columns are the columns probe's business). Deleted articles are not published any
more and are skipped.

Findings are stored masked only (:meth:`Store.add_privacy_findings` refuses
anything else), with the article URL as source. Nothing here ever writes a full
number: not to the store, not to a log line, not into a row or an exception.
A finding already stored for the same source, type and masked text is not
stored again even if its offset moved (page vs API text), so re-running a round
adds nothing.

The content check (:mod:`probes.content_probe`: wording errors, sensitive words, harmful
links) reads the same documents, once each, plus the menus' links: its hits are stored as
candidates for a person's review, never as findings of this round.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.config import Account
from monitor.context import ProbeContext
from monitor.store import ContentItem, PrivacyFinding, Store
from monitor.wechat import AccountAPI
from monitor.wechat import errors as E
from probes.base import ProbeRow, RowShape, RowStatus
from probes.content_probe import Doc, check_account, menu_docs
from probes.failures import api_failure, missing_secret_reason, page_error_reason
from probes.freshness import FREEPUBLISH, split_item_id
from probes.privacy import Finding, scan_html
from probes.sources import DATACUBE

log = logging.getLogger(__name__)

BACKFILL_DAYS = 100
MAX_LOOKBACK_DAYS = 7
CONCURRENCY = 32  # accounts in flight at once
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
WHAT = "隐私泄露情况"
ARTICLE_GONE_CODE = 53600  # getarticle: invalid article id (deleted or never published)
ROW = RowShape(("account", "status", "reason", "scanned", "findings", "new_findings"))


@dataclass
class AccountScan:
    scanned: int = 0
    failures: list[str] = field(default_factory=list)
    found: list[tuple[str, Finding]] = field(default_factory=list)  # (source URL, finding)
    unreadable: int = 0  # 群发 articles known only from datacube: no link, no text to read
    docs: list[Doc] = field(default_factory=list)  # what was read, for the content check


def scan_watermark(store: Store, run_id: int | None, now: datetime) -> datetime | None:
    """Items first seen after this instant are to be read; None on the very first round.

    The start of the latest earlier privacy run if it was clean; after a run with
    errors, the start of the last clean one (to retry what failed), but never more
    than ``MAX_LOOKBACK_DAYS`` back, and never later than the latest run's start.
    """
    earlier = [r for r in store.last_runs("privacy", limit=50)
               if r.id != run_id and r.started_at <= now and r.status != "running"]
    if not earlier:
        return None
    latest = earlier[0].started_at
    clean = next((r.started_at for r in earlier if r.status == "ok"), None)
    if clean == latest:
        return latest
    floor = now - timedelta(days=MAX_LOOKBACK_DAYS)
    return min(latest, max(clean, floor) if clean is not None else floor)


def select_items(items: Sequence[ContentItem], since: datetime | None) -> dict[str, list[ContentItem]]:
    by_account: dict[str, list[ContentItem]] = defaultdict(list)
    for item in items:
        # Strictly after: an item first seen at the instant a run started was read by that run
        # (the runner reads freshness before privacy; on a virtual clock both share one instant).
        if since is None or (item.first_seen_at is not None and item.first_seen_at > since):
            by_account[item.account_id].append(item)
    return by_account


async def _scan_page(ctx: ProbeContext, url: str, scan: AccountScan, item: ContentItem | None = None) -> None:
    result = await ctx.pages.fetch(url)
    if result.status == 200 and result.text is not None:
        scan.scanned += 1
        scan.found.extend((url, f) for f in scan_html(result.text))
        scan.docs.append(Doc(url, result.text, item.title if item else None, item.published_at if item else None))
    elif result.status is not None and 400 <= result.status < 500:
        pass  # gone: nothing published there to leak
    else:
        scan.failures.append(f"页面无法读取（HTTP {result.status}）" if result.status is not None
                             else page_error_reason(result.error))


async def _scan_article(ctx: ProbeContext, api: AccountAPI | None, article_id: str, items: list[ContentItem],
                        scan: AccountScan) -> None:
    """One freepublish item (one or more articles) via getarticle, else via the pages."""
    if api is not None:
        try:
            data = await api.freepublish_getarticle(article_id)
        except E.APIError as exc:
            if exc.code == ARTICLE_GONE_CODE:
                return  # deleted since it was listed
            log.info("privacy: getarticle failed (%s); reading the pages instead", type(exc).__name__)
        except E.WeChatError as exc:
            log.info("privacy: getarticle failed (%s); reading the pages instead", type(exc).__name__)
        else:
            news = data.get("news_item") or []  # checked by the client
            for item in items:
                index = split_item_id(item.item_id)[1]
                article = news[index] if index < len(news) else None
                if article is None or article.get("is_deleted"):
                    continue
                url = article.get("url") or item.url or f"{FREEPUBLISH}:{item.item_id}"
                content = article.get("content")
                if isinstance(content, str) and content:
                    scan.scanned += 1
                    scan.found.extend((url, f) for f in scan_html(content))
                    scan.docs.append(Doc(url, content, item.title, item.published_at))
                elif item.url:
                    await _scan_page(ctx, item.url, scan, item)
            return
    for item in items:
        if item.url:
            await _scan_page(ctx, item.url, scan, item)
        else:
            scan.failures.append("文章无链接且接口不可用")


async def scan_account(ctx: ProbeContext, account: Account, items: list[ContentItem]) -> AccountScan:
    scan = AccountScan()
    api = ctx.account_api(account)
    groups: dict[str, list[ContentItem]] = defaultdict(list)
    pages: dict[str, ContentItem] = {}  # one read per article page, however many sources listed it
    for item in items:
        if item.source == FREEPUBLISH:
            groups[split_item_id(item.item_id)[0]].append(item)
        elif item.url:
            pages.setdefault(item.url, item)
        elif item.source == DATACUBE.name and account.feed is None:
            scan.unreadable += 1  # with a feed, the same article comes with its link
    for url in {i.url for members in groups.values() for i in members if i.url}:
        pages.pop(url, None)  # read through getarticle below
    for url, first in pages.items():
        await _scan_page(ctx, url, scan, first)
    for article_id, members in groups.items():
        await _scan_article(ctx, api, article_id, members, scan)
    for column in account.columns:
        if column.type in ("view", "news") and column.url:
            await _scan_page(ctx, str(column.url), scan)
    return scan


def _fresh(store: Store, account_id: str, found: list[tuple[str, Finding]], now: datetime) -> list[PrivacyFinding]:
    """Findings as store records, minus those already stored under another offset."""
    known = {(f.source, f.type, f.masked): f.start
             for f in store.privacy_findings_between(EPOCH, now + timedelta(seconds=1), account_id=account_id)}
    out = []
    for source, f in found:
        start = known.get((source, f.type, f.masked))
        if start is not None and start != f.start:
            continue
        out.append(PrivacyFinding(account_id, source, f.type, f.start, f.end, f.masked, found_at=now))
    return out


def _row(account: Account, status: RowStatus, reason: str, scanned: int = 0,
         findings: Sequence[tuple[str, str, str]] = (), new_findings: int = 0) -> ProbeRow:
    """``findings``: (type, masked, source) of each finding shown."""
    return ProbeRow(ROW, account.id, status, reason, {
        "scanned": scanned, "findings": [{"type": t, "masked": m, "source": s} for t, m, s in findings],
        "new_findings": new_findings})


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None, *,
                    rescan_days: float | None = None) -> list[ProbeRow]:
    """Scan every account's new articles (or, with ``rescan_days``, all of that period) once."""
    now = ctx.now()
    if rescan_days is not None:
        since: datetime | None = None
        window = timedelta(days=rescan_days)
    else:
        since = await asyncio.to_thread(scan_watermark, ctx.store, run_id, now)
        window = timedelta(days=BACKFILL_DAYS)
    # One query for every account's candidates (published in the window), filtered by first sight.
    items = await asyncio.to_thread(ctx.store.content_between, now - window, now + timedelta(seconds=1))
    wanted = select_items(items, since)
    known = await asyncio.to_thread(ctx.store.last_published, before=now + timedelta(seconds=1))
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(account: Account) -> ProbeRow:
        async with limit:
            try:
                return await _one(account)
            except Exception as exc:  # type only: a message could quote page text
                log.error("privacy %s: %s", account.id, type(exc).__name__)
                return _row(account, *api_failure(exc, WHAT))
            finally:
                ctx.account_done()

    async def _one(account: Account) -> ProbeRow:
        mine = wanted.get(account.id, [])
        declared = [c for c in account.columns if c.type in ("view", "news") and c.url]
        if ctx.account_api(account) is None and not mine and not declared:
            return _row(account, "unverifiable", missing_secret_reason(account, WHAT))
        if account.id not in known and not declared:
            return _row(account, "unverifiable", f"尚无已发布文章记录（内容更新检查未成功），无法自动核查{WHAT}")
        scan = await scan_account(ctx, account, mine)
        menus = await asyncio.to_thread(menu_docs, ctx, account)
        await check_account(ctx, account, scan.docs + menus)  # candidates for review, not findings yet
        new: list[PrivacyFinding] = []
        if scan.found:
            records = await asyncio.to_thread(_fresh, ctx.store, account.id, scan.found, now)
            new = await asyncio.to_thread(ctx.store.add_privacy_findings, records)
        shown = list(dict.fromkeys((f.type, f.masked, source) for source, f in scan.found))
        status: RowStatus = "ok"
        reason = ""
        if scan.failures:
            status = "error"
            reason = f"{len(scan.failures)}篇文章或页面未能读取（{scan.failures[0]}），下轮重试"
        elif scan.unreadable:  # a coverage gap, said; not the account's fault and not a finding
            reason = f"{scan.unreadable}篇群发文章仅见于群发数据接口（无链接），未能扫描；配置订阅源（feed）后可扫描"
        log.log(logging.INFO if shown or scan.failures else logging.DEBUG,
                "privacy %s: %d scanned, %d findings (%d new)%s", account.id, scan.scanned, len(shown),
                len(new), f", {len(scan.failures)} failed" if scan.failures else "")
        return _row(account, status, reason, scan.scanned, shown, len(new))

    return list(await asyncio.gather(*(one(a) for a in accounts)))
