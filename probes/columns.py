"""Columns (栏目可用性): discover every menu leaf and check that it opens.

Discovery reads ``get_current_selfmenu_info`` (the menu as followers see it,
whether made in the web admin or through the API) plus the columns declared in
accounts.yaml. Each leaf is judged by its type; what cannot be verified from
outside is ``unverifiable``, never broken. Whether a failure is confirmed is
:mod:`probes.confirm`'s job; whether the monitor itself is healthy is the
canary's (:class:`HealthGate`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from monitor.config import Account, DeclaredColumn
from monitor.context import ProbeContext
from monitor.http import REFUSED, PageFetcher, PageResult
from monitor.proxy import describe_urls
from monitor.store import ColumnState
from monitor.wechat import AccountAPI
from monitor.wechat import answers as A
from monitor.wechat.client import SELFMENU
from probes.base import ProbeRow, RowShape, RowStatus
from probes.confirm import Outcome
from probes.pages import CHALLENGE_REASON, DEFAULT_SOFT404, VERIFY_REASON, HostBackoff, PageOutcome, SiteBaselines
from probes.pages import SHORT_PAGE_CHARS as SHORT_PAGE_CHARS  # pages are judged in probes.pages
from probes.pages import WECHAT_GONE as WECHAT_GONE
from probes.pages import judge_page as judge_page

log = logging.getLogger(__name__)

NETWORK_ERRORS = frozenset({"timeout", "connect", "reset", "proxy_gateway"})
_TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.I | re.S)
_SCRIPT_STYLE_OPEN = re.compile(r"<s(?:cript|tyle)", re.I)
# A character outside tags: after the start or a ">", before the next "<"; a "<" that opens no
# tag ("<>", or no ">" after it) is text, as _TAGS sees it.
_TEXT_AT_START = re.compile(r"\s*(?:[^\s<]|<>|<[^>]*$)")  # with .match()
_TEXT_AFTER_TAG = re.compile(r">\s*(?:[^\s<]|<>|<[^>]*$)")  # a literal prefix: the fast search
_UNVERIFIABLE = {
    "miniprogram": "小程序无备用网页，无法从外部验证",
    "click": "点击事件由公众号服务器响应，无法从外部验证",
    "article_id": "发布文章栏目（article_id），本轮未核验",
    "article_view_limited": "发布文章栏目（article_id），本轮未核验",
    "media_id": "永久素材栏目，无法从外部验证",
    "view_limited": "永久素材栏目，无法从外部验证",
}


@dataclass(frozen=True)
class Column:
    account_id: str
    path: str  # "一级/二级"
    type: str
    targets: tuple[str, ...] = ()
    value: str | None = None
    source: str = "menu"  # menu | declared

    @property
    def target(self) -> str | None:
        return self.targets[0] if self.targets else None


@dataclass(slots=True)  # one per column a round: plain slots (a frozen init costs 2x)
class Check:
    column: Column
    outcome: Outcome
    reason: str
    http_status: int | None = None
    elapsed_ms: float | None = None
    landing: str | None = None  # a healthy single-page column: where its page landed ("": itself; kept)


def discover(account_id: str, selfmenu: object, declared: Iterable[DeclaredColumn] = ()) -> list[Column]:
    """Leaves of the menu as users see it, then declared columns not already in it."""
    return with_declared(account_id, menu_leaves(account_id, selfmenu), declared)


def menu_leaves(account_id: str, selfmenu: object) -> list[Column]:
    """Leaves of the menu as users see it (``get_current_selfmenu_info``, None: no menu read).

    The answer is checked against its model first (it may come raw from the API helper
    process): a wrong shape raises MalformedAnswer, nothing else.
    """
    if selfmenu is None:
        return []
    menu = A.check(A.SelfMenu, selfmenu, SELFMENU)
    if not menu.get("is_menu_open", 1):
        return []
    columns: list[Column] = []
    for top in (menu.get("selfmenu_info") or {}).get("button") or ():
        sub = top.get("sub_button")
        leaves = (sub.get("list") or ()) if isinstance(sub, dict) else (sub or ())
        name = top.get("name") or ""
        if leaves:
            columns += [_leaf(account_id, f"{name}/{leaf.get('name') or ''}", leaf) for leaf in leaves]
        elif top.get("type"):
            columns.append(_leaf(account_id, name, top))
    return columns


def with_declared(account_id: str, columns: Sequence[Column], declared: Iterable[DeclaredColumn]) -> list[Column]:
    """``columns`` plus the declared ones (accounts.yaml) whose path is not among them."""
    out = list(columns)
    seen = {c.path for c in out}
    for item in declared:
        if item.path not in seen:
            out.append(Column(account_id, item.path, item.type, (str(item.url),) if item.url else (),
                              source="declared"))
    return out


def _leaf(account_id: str, path: str, leaf: A.MenuLeaf) -> Column:
    kind = leaf.get("type") or "unknown"
    targets: list[str] = []
    url = leaf.get("url")
    if kind in ("view", "miniprogram") and url:
        targets.append(url)
    elif kind == "news":
        targets += [u for n in (leaf.get("news_info") or {}).get("list") or () if (u := n.get("content_url"))]
    value = leaf.get("value") if kind in ("text", "img", "voice", "video", "news") else None
    return Column(account_id, path, kind, tuple(targets), value)


def visible_text(html: str) -> str:
    return " ".join(_TAGS.sub(" ", html).split())


def has_visible_text(html: str) -> bool:
    """Whether ``visible_text(html)`` would be non-empty, without building it."""
    if _SCRIPT_STYLE_OPEN.search(html):
        return bool(visible_text(html))  # rare on short pages; keep _TAGS's exact reading
    return _TEXT_AT_START.match(html) is not None or _TEXT_AFTER_TAG.search(html) is not None


class HealthGate:
    """Answers "is the monitor itself online?" from control URLs.

    A failure is judged only by a canary check that began after the failed request
    did: a cached "online" from before a cut would blame the account for the cut.
    """

    def __init__(self, fetcher: PageFetcher, canary_urls: Sequence[str], cache_s: float = 1.0,
                 exempt: bool = False) -> None:
        self._fetcher = fetcher
        self._urls = list(canary_urls)
        self._exempt = exempt  # the API base as canary: the operator's choice, outside the address policy
        self._cache_s = cache_s
        self._started_at = -1e9  # monotonic start of the last canary check
        self._healthy = True
        self._warned = False
        self._lock = asyncio.Lock()
        self.failure = ""  # what the last failed check saw, per canary URL (no credentials, no query)

    async def healthy(self, since: float | None = None) -> bool:
        """Online now? With ``since`` (a ``time.monotonic()`` value): judged by a check begun after it."""
        if not self._urls:
            return True
        async with self._lock:
            fresh = (self._started_at >= since if since is not None
                     else time.monotonic() - self._started_at <= self._cache_s)
            if not fresh:
                started = time.monotonic()
                results = await asyncio.gather(*(self._fetch(u) for u in self._urls))
                was, self._healthy = self._healthy, any(r.answered for r in results)
                if not self._healthy:
                    self.failure = "; ".join(f"{describe_urls([r.url])}: {r.error or 'no answer'}" for r in results)
                    if was:
                        log.warning("monitor network down: no canary URL answered (%s)", self.failure)
                if not self._warned and all(r.error in REFUSED for r in results):
                    self._warned = True
                    log.warning("every canary URL is refused by the outbound address policy: "
                                "list its address in checks.allow_private")
                self._started_at = started
            return self._healthy

    def _fetch(self, url: str) -> Awaitable[PageResult]:
        return self._fetcher.fetch(url, exempt=True) if self._exempt else self._fetcher.fetch(url)


@dataclass(frozen=True)
class PageRound:
    """What a round's page checks share: the sites' answers for missing pages, the hosts held off,
    and where each column's page landed when it was last healthy (``None``: never seen healthy)."""

    baselines: SiteBaselines
    backoff: HostBackoff
    now: datetime
    healthy_landing: Callable[[Column], str | None] = lambda _column: None


def _is_home(url: str) -> bool:
    path = urlsplit(url).path
    return path in ("", "/") or (path.count("/") == 1 and path.startswith("/index."))


def lands_on_home_instead(url: str, result: PageResult, earlier: str | None) -> PageOutcome | None:
    """A page that used to be itself and now redirects to a site's home page is gone (what CMSs do
    with a deleted page), judged against the column's own earlier healthy fetch, not a word list."""
    final = result.final_url or url
    if final == url or not _is_home(final) or _is_home(url) or earlier is None or _is_home(earlier or url):
        return None  # earlier "": it landed on its own address
    return "fail", "页面跳转至网站首页，此前正常时并非如此：原栏目页面已不存在（软404）"


HELD_REASON = "该站点此前要求监测端完成人机验证，暂停访问中，本轮无法核验"


async def check_column(column: Column, fetcher: PageFetcher, gate: HealthGate,
                       soft404_markers: Sequence[str] = DEFAULT_SOFT404, pages: PageRound | None = None) -> Check:
    kind = column.type
    if kind in ("text",):
        return Check(column, "ok" if (column.value or "").strip() else "fail",
                     "文字回复已设置" if (column.value or "").strip() else "文字回复内容为空")
    if kind in ("img", "voice", "video") or (kind == "news" and not column.targets):
        if column.value:
            return Check(column, "ok", "素材已设置")
        return Check(column, "fail", "素材缺失")
    if not column.targets:
        reason = _UNVERIFIABLE.get(kind, f"{kind} 类型栏目无法从外部验证")
        return Check(column, "unverifiable", reason)
    worst: Check | None = None
    for url in column.targets:
        if pages is not None and pages.backoff.held(url, pages.now) is not None:
            check = Check(column, "unverifiable", HELD_REASON)
            if worst is None or worst.outcome == "ok":
                worst = check
            continue
        started = time.monotonic()
        result = await fetcher.fetch(url)
        outcome, reason = judge_page(result, soft404_markers)
        if pages is not None:
            if outcome == "unverifiable" and reason in (VERIFY_REASON, CHALLENGE_REASON):
                pages.backoff.hold(result.final_url or url, pages.now)
                pages.backoff.hold(url, pages.now)
            elif outcome == "ok" and not pages.baselines.settled(result) and (
                    soft := await pages.baselines.compare(result)) is not None:
                outcome, reason = soft
            elif outcome == "ok" and result.final_url and result.final_url != url and (
                    gone := lands_on_home_instead(url, result, pages.healthy_landing(column))) is not None:
                outcome, reason = gone
        if outcome == "fail" and result.error in NETWORK_ERRORS and not await gate.healthy(since=started):
            return Check(column, "error", "监测端网络异常，本轮无法判断", None, None)
        if len(column.targets) > 1 and outcome == "fail":
            reason = f"{reason}：{url}"
        # The landing kept is "" when the page is where the column points (nearly always: a short
        # value to write each round), else where it redirected to.
        landing = None
        if outcome == "ok" and len(column.targets) == 1:
            landing = "" if not result.final_url or result.final_url == url else result.final_url
        check = Check(column, outcome, reason, result.status, result.elapsed_ms, landing)
        if worst is None or (worst.outcome == "ok" and outcome != "ok"):
            worst = check
    assert worst is not None
    return worst


# -- the round ------------------------------------------------------------------

FLUSH_ACCOUNTS = 500  # write results to the store in batches of this many accounts
READ_AHEAD, READ_BATCH = 512, 128  # menu reads handed to the API helper: how far ahead, how many at once
MENU = "菜单栏目"  # what could not be checked, in failure reasons


# ``wxmon probe columns --json``: one object per column (SPEC, "JSON shapes that others parse")
ROW = RowShape(("account", "column", "type", "target", "status", "reason", "http_status", "elapsed_ms"))


class Menus(dict[str, tuple[datetime, tuple[Column, ...]]]):
    """Account id -> (when read, the menu's leaves): menus reused across rounds (``ctx.cache(Menus)``)."""


def _row(check: Check, status: RowStatus) -> ProbeRow:
    col = check.column
    return ProbeRow(ROW, col.account_id, status, check.reason, {
        "column": col.path, "type": col.type, "target": col.target, "http_status": check.http_status,
        "elapsed_ms": check.elapsed_ms})


def _known_column(state: ColumnState) -> Column:
    """A column from its stored state (for rounds where the menu could not be read)."""
    return Column(state.account_id, state.column_path, state.type or "unknown",
                  (state.target,) if state.target else ())


def _refresh_share(account_id: str) -> float:
    """Each account's menu is kept for 50-100% of the refresh interval (stable per account), so
    after a start-up the reads spread over later rounds instead of all falling due at once."""
    return 0.5 + 0.5 * (zlib.crc32(account_id.encode("utf-8")) / 0xFFFFFFFF)


def _menu_cached(ctx: ProbeContext, menus: Menus, account_id: str, now: datetime) -> tuple[Column, ...] | None:
    """The account's menu leaves if read within its share of ``checks.menu_refresh_minutes``."""
    cached = menus.get(account_id)
    refresh = timedelta(minutes=ctx.config.checks.menu_refresh_minutes)
    if cached is not None and now - cached[0] < refresh * _refresh_share(account_id):
        return cached[1]
    return None


async def _read_selfmenu(client: AccountAPI, submitted: asyncio.Future[dict[str, Any]] | None) -> object:
    """The menu from the API helper's answer, or read inline (no helper, or the helper died);
    unchecked (:func:`menu_leaves` checks it)."""
    from monitor.wechat.remote import RemoteUnavailable

    if submitted is not None:
        try:
            return await submitted
        except RemoteUnavailable:
            pass  # the helper logged its death; this call is made here instead
    return await client.get_current_selfmenu_info()


async def _menu_columns(ctx: ProbeContext, menus: Menus, account: Account,
                        submitted: asyncio.Future[dict[str, Any]] | None = None,
                        ) -> tuple[list[Column], Check | None]:
    """The account's columns, or the reason discovery failed (as a pseudo-check of the menu).

    A menu read within ``checks.menu_refresh_minutes`` is reused (menus rarely change; each
    read costs a call from the account's quota); the round forgets it after any failure, so
    a column is only ever confirmed broken on a freshly read menu. ``submitted``: the read
    already handed to the API helper process.
    """
    from monitor.wechat import errors as wx
    from probes.failures import api_failure, missing_secret_reason

    declared = account.columns
    client = ctx.account_api(account)
    if client is None:
        if not account.api:
            return with_declared(account.id, (), declared), None
        why = Check(Column(account.id, "(菜单)", "menu"), "unverifiable", missing_secret_reason(account, MENU))
        return with_declared(account.id, (), declared), why
    now = ctx.now()
    cached = _menu_cached(ctx, menus, account.id, now) if submitted is None else None
    if cached is not None:
        return with_declared(account.id, cached, declared), None
    refresh = ctx.config.checks.menu_refresh_minutes
    try:
        leaves = menu_leaves(account.id, await _read_selfmenu(client, submitted))
    except wx.WeChatError as exc:  # a malformed menu too: the platform's fault, not the account's
        outcome, reason = api_failure(exc, MENU)
        return with_declared(account.id, (), declared), Check(Column(account.id, "(菜单)", "menu"), outcome, reason)
    if refresh:
        menus[account.id] = (now, tuple(leaves))
    return with_declared(account.id, leaves, declared), None


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None) -> list[ProbeRow]:
    """Check every column of ``accounts`` once; fold the results into the store."""
    from monitor.store import ColumnResult
    from probes.confirm import NEEDS_HISTORY, ColumnTrack, ConfirmRule, advance

    policy = ctx.config.selected_policy
    rule = ConfirmRule(policy.confirm_failures, policy.confirm_minutes)
    markers = tuple(ctx.config.checks.soft404_markers) or DEFAULT_SOFT404
    gate = HealthGate(ctx.pages, ctx.canary_urls, exempt=ctx.canary_exempt)
    menus = ctx.cache(Menus)
    now = ctx.now()
    def healthy_landing(column: Column) -> str | None:
        state = known_columns(column.account_id).get(column.path)
        return state.healthy_landing if state is not None else None

    page_round = PageRound(SiteBaselines(ctx.pages), ctx.cache(HostBackoff), now, healthy_landing)
    # The previous round's column states, read per account and only when needed (a failure, an
    # unreadable menu, the monitor offline): in a healthy round that is almost never. Each
    # account's results reach the store after this round read its states, never before.
    known: dict[str, dict[str, ColumnState]] = {}

    def known_columns(account_id: str) -> dict[str, ColumnState]:
        states = known.get(account_id)
        if states is None:
            states = known[account_id] = {s.column_path: s for s in ctx.store.get_column_states(account_id)}
        return states

    online = await gate.healthy()
    if not online:
        log.warning("columns round skipped: the monitor's network is down (canary %s); its columns are "
                    "recorded as error, not against the accounts", gate.failure)
        ctx.note_round("columns", skipped="network_down", canary=gate.failure)
    # Menus due to be read: with enough of them the reads go to the API helper process (the
    # other core), READ_BATCH at a time, up to READ_AHEAD accounts ahead of the accounts begun,
    # so the answers are there when their accounts start.
    due = [(i, a, client) for i, a in enumerate(accounts) if _menu_cached(ctx, menus, a.id, now) is None
           and (client := ctx.account_api(a)) is not None
           and client.remote_ok] if online else []  # authorizer-token accounts are read inline
    remote = await ctx.remote_api(len(due)) if due else None
    submitted: dict[str, asyncio.Future[dict[str, Any]]] = {}
    next_read = 0  # in due
    started = 0  # accounts begun

    def read_ahead() -> None:
        nonlocal next_read
        if remote is None:
            return
        horizon = started - started % READ_BATCH + READ_AHEAD
        while next_read < len(due) and due[next_read][0] < horizon:
            _, account, client = due[next_read]
            submitted[account.id] = remote.submit(client, "GET", SELFMENU)
            next_read += 1
    rows: list[ProbeRow] = []
    pending: list[ColumnResult] = []
    # An account's columns are checked one after another (one request at a time to its site, and no
    # task per column); enough accounts run at once to keep the fetcher's slots busy.
    limit = asyncio.Semaphore(max(8, ctx.config.checks.concurrency * 4))

    def track_of(key: tuple[str, str]) -> ColumnTrack | None:
        s = known_columns(key[0]).get(key[1])
        # Only the counters carry over: advance() gives every outcome its own status.
        return ColumnTrack(consecutive_failures=s.consecutive_failures, first_failure_at=s.first_failure_at) \
            if s else None

    async def one_account(account: Account) -> list[Check]:
        nonlocal started
        async with limit:
            started += 1
            read_ahead()
            if not online:
                return [Check(_known_column(s), "error", "监测端网络异常，本轮未检查")
                        for s in known_columns(account.id).values()]
            columns, why = await _menu_columns(ctx, menus, account, submitted.pop(account.id, None))
            checks = [await check_column(c, ctx.pages, gate, markers, page_round) for c in columns]
            if any(c.outcome in NEEDS_HISTORY for c in checks):
                menus.pop(account.id, None)  # read the menu again next round before confirming
            if why is not None and why.outcome == "error":
                # Keep watching the columns we knew: they are unknown this round, not gone.
                seen = {c.path for c in columns}
                checks += [Check(_known_column(s), "error", why.reason)
                           for s in known_columns(account.id).values() if s.column_path not in seen]
            if why is not None:
                rows.append(_row(why, "failing" if why.outcome == "fail" else why.outcome))
            return checks

    # Batches go to the store writer (a thread, or a process for big rounds) while checking goes
    # on; a writer process starts while the first accounts are checked.
    writer_ready = asyncio.ensure_future(ctx.column_writer(len(accounts)))

    async def flush() -> None:
        if pending:
            batch = list(pending)
            pending.clear()
            await (await writer_ready).submit(batch, run_id)

    def launch(start: int) -> tuple[Sequence[Account], list[asyncio.Task[list[Check]]]]:
        chunk = accounts[start:start + FLUSH_ACCOUNTS]
        tasks = [asyncio.ensure_future(one_account(a)) for a in chunk]
        for task in tasks:
            task.add_done_callback(lambda _t: ctx.account_done())
        return chunk, tasks

    # The next chunk is launched before this one is awaited (``limit`` still caps the accounts in
    # progress), so the round does not idle on a chunk's slowest pages; rows keep account order.
    read_ahead()
    upcoming = launch(0) if accounts else None
    try:
        for start in range(0, len(accounts), FLUSH_ACCOUNTS):
            assert upcoming is not None
            chunk, tasks = upcoming
            upcoming = launch(start + FLUSH_ACCOUNTS) if start + FLUSH_ACCOUNTS < len(accounts) else None
            for account, checks in zip(chunk, await asyncio.gather(*tasks, return_exceptions=True)):
                if isinstance(checks, BaseException):
                    rows.append(_row(Check(Column(account.id, "(菜单)", "menu"), "error",
                                           f"监测程序内部错误（{type(checks).__name__}）"), "error"))
                    continue
                for check in checks:
                    col = check.column
                    outcome = check.outcome
                    history = track_of((col.account_id, col.path)) if outcome in NEEDS_HISTORY or (
                        outcome == "unverifiable" and col.targets) else None
                    track = advance(history, outcome, now, rule)
                    rows.append(_row(check, track.status))
                    pending.append(ColumnResult(
                        account_id=col.account_id, column_path=col.path, status=track.status, checked_at=now,
                        type=col.type, target=col.target, reason=check.reason, http_status=check.http_status,
                        elapsed_ms=check.elapsed_ms, consecutive_failures=track.consecutive_failures,
                        first_failure_at=track.first_failure_at, healthy_landing=check.landing))
            await flush()
        await (await writer_ready).drain()  # every batch stored before the round ends
    finally:
        if not writer_ready.done():
            writer_ready.cancel()
        if upcoming is not None:  # the round failed or was cancelled
            for task in upcoming[1]:
                task.cancel()
        for future in submitted.values():  # reads no account is left to wait for
            if not future.cancel() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning
    return rows
