"""Content check of what the monitor collects: the articles the privacy round reads, and the menus.

The privacy round (:mod:`probes.privacy_probe`) reads every new article once; it hands each
document here (:class:`Doc`), so an article is fetched once for both checks. Hits are stored
as review candidates (:meth:`Store.add_content_findings`); nothing counts until a person
confirms it (``wxmon content review``). Menus: every ``view`` column's target the columns probe
recorded, and the columns declared in accounts.yaml.

Outbound links are judged by their host (the blocklist) and, with ``content.follow_redirects``,
by where they redirect: opened through the page fetcher (the address policy applies) with a
``stop`` at the first hop to a blocked host, which is never requested. At most
``content.max_links`` links are opened per account and round.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config import Account, Config
from monitor.context import ProbeContext
from monitor.store.content_findings import ContentFinding
from probes.content_check import Checker, Hit, RulesError, load_sets, sample_paths, shipped_paths
from probes.content_check import links as L
from probes.content_check.checker import link_hit

log = logging.getLogger(__name__)
SHANGHAI = ZoneInfo("Asia/Shanghai")
# Hosts of the platform itself: an article's own links there go nowhere else.
_PLATFORM_HOSTS = ("weixin.qq.com", "qq.com", "qpic.cn")


@dataclass(frozen=True, slots=True)
class Doc:
    source: str  # the article's URL (or id), a menu column's target
    html: str | None  # None: a bare link (a menu target), judged by its host and redirects only
    title: str | None = None
    published: datetime | None = None


def rule_paths(config: Config) -> list[Path]:
    paths = (shipped_paths() if config.content.shipped else []) + (sample_paths() if config.content.samples else [])
    return paths + [config.config_dir / p for p in config.content.rules]


_CACHE: dict[tuple[tuple[str, int, int], ...], Checker] = {}


def checker_for(config: Config) -> Checker:
    """The checker of the configured rule files (cached while the files do not change).
    Raises RulesError naming every problem."""
    paths = rule_paths(config)
    key = []
    for p in paths:
        try:
            st = p.stat()
        except OSError as exc:
            raise RulesError([f"{p}: cannot read: {exc.strerror or type(exc).__name__}"]) from None
        key.append((str(p), st.st_mtime_ns, st.st_size))
    found = _CACHE.get(tuple(key))
    if found is None:
        if len(_CACHE) > 8:
            _CACHE.clear()
        found = _CACHE[tuple(key)] = Checker(load_sets(paths))
    return found


def _day(at: datetime | None, now: datetime) -> date:
    return (at or now).astimezone(SHANGHAI).date()


def _own_host(host: str | None) -> bool:
    return host is None or any(host == h or host.endswith("." + h) for h in _PLATFORM_HOSTS)


async def check_account(ctx: ProbeContext, account: Account, docs: Sequence[Doc]) -> int:
    """Check an account's documents and menu; store the hits as candidates. Returns how many are new.

    Never fails the round it runs in (the privacy round): a broken rule file or a failure here
    is logged (``wxmon content rules check`` says what is wrong with a file) and the round goes on."""
    try:
        checker = checker_for(ctx.config)
    except RulesError as exc:
        log.error("content check: rule files unusable (%d problem(s)); first: %s", len(exc.lines), exc.lines[0])
        return 0
    try:
        return await _check(ctx, checker, account, docs)
    except Exception as exc:  # type only: a message could quote page text
        log.error("content check %s: %s", account.id, type(exc).__name__)
        return 0


async def _check(ctx: ProbeContext, checker: Checker, account: Account, docs: Sequence[Doc]) -> int:
    now = ctx.now()
    found: list[tuple[Doc, Hit]] = []
    links: list[tuple[Doc, str, int, int, str]] = []
    for doc in docs:
        if doc.html is not None:
            hits = await asyncio.to_thread(checker.scan_html, doc.html, as_of=_day(doc.published, now))
            found.extend((doc, h) for h in hits)
            if checker.has_links and ctx.config.content.follow_redirects:
                blocked = {h.start for h in hits if h.kind == "link_host"}
                links.extend((doc, u.url, u.start, u.end, f"链接“{u.label}”" if u.label else u.url)
                             for u in L.urls_in_html(doc.html) if u.start not in blocked)
        else:
            listed = checker.blocked(L.host_of(doc.source))
            if listed is not None:
                found.append((doc, link_hit(listed, doc.source, 0, len(doc.source), doc.title or doc.source)))
            elif ctx.config.content.follow_redirects:
                links.append((doc, doc.source, 0, len(doc.source), doc.title or doc.source))
    if checker.has_links and links:
        found.extend(await _redirects(ctx, checker, links))
    if not found:
        return 0
    records = [ContentFinding(account.id, doc.source, h.kind, h.rule_set, h.rule, h.revision, h.start, h.end, h.text,
                              h.context, h.suggestion, doc.title, now) for doc, h in found]
    new = await asyncio.to_thread(ctx.store.add_content_findings, records)
    if new:
        log.info("content %s: %d new candidate(s) for review", account.id, len(new))
    return len(new)


async def _redirects(ctx: ProbeContext, checker: Checker,
                     links: list[tuple[Doc, str, int, int, str]]) -> list[tuple[Doc, Hit]]:
    out: list[tuple[Doc, Hit]] = []
    seen: set[str] = set()
    opened = 0

    def stop(url: str) -> bool:
        return checker.blocked(L.host_of(url)) is not None

    for doc, url, start, end, context in links:
        if url in seen or _own_host(L.host_of(url)):
            continue
        seen.add(url)
        if opened >= ctx.config.content.max_links:
            break
        opened += 1
        result = await ctx.pages.fetch(url, stop=stop)
        if result.error == "stopped" and result.final_url:
            listed = checker.blocked(L.host_of(result.final_url))
            if listed is not None:
                out.append((doc, link_hit(listed, url, start, end, context, via=result.final_url)))
    return out


_MENU_RECHECK_DAYS = 7
_menu_checked: dict[tuple[str, str], datetime] = {}


def menu_docs(ctx: ProbeContext, account: Account) -> list[Doc]:
    """The account's menu links (``view`` targets the columns probe recorded) not checked in the
    last week: judged by host and redirect only (their pages are the columns probe's business)."""
    now = ctx.now()
    out = []
    for col in ctx.store.get_column_states(account.id):
        target = col.target
        if col.type != "view" or not target or not target.startswith(("http://", "https://")):
            continue
        key = (account.id, target)
        last = _menu_checked.get(key)
        if last is not None and last <= now and (now - last).days < _MENU_RECHECK_DAYS:
            continue
        if len(_menu_checked) > 200_000:
            _menu_checked.clear()
        _menu_checked[key] = now
        out.append(Doc(target, None, f"菜单“{col.column_path}”", None))
    return out
