"""Pages judged as a person reads them.

A page is parsed (selectolax's Lexbor engine: chosen on bench/bench_page_parser.py) and
judged on its *visible* text and structure: scripts, styles and hidden elements are
not read, a platform marker counts only in the page's message block or title, never
in an article body. WeChat's verification pages and OAuth interstitials are the
monitor's trouble (``unverifiable``; verification also holds the host off for a
while). A site that answers 200 for pages that do not exist is found by comparing a
page with what the site answers for a path that cannot exist (:class:`SiteBaselines`).
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from monitor.http import PageFetcher, PageResult
from probes.confirm import Outcome
from probes.failures import PAGE_FAILURE, PAGE_UNVERIFIABLE

# What mp.weixin.qq.com shows, with HTTP 200, for an article that is gone (WECHAT.md), most specific first.
WECHAT_GONE = {
    "该内容已被发布者删除": "文章已被发布者删除",
    "已被发布者删除": "文章已被发布者删除",
    "此内容因违规无法查看": "文章因违规无法查看",
    "此内容被投诉且经审核涉嫌侵权": "文章因侵权投诉无法查看",
    "此帐号已自主注销，内容无法查看": "公众号已自主注销，文章无法查看",
    "此帐号已被屏蔽，内容无法查看": "公众号已被屏蔽，文章无法查看",
    "此帐号已被封禁，内容无法查看": "公众号已被封禁，文章无法查看",
    "已自主注销": "公众号已自主注销，文章无法查看",
    "该内容暂时无法查看": "文章暂时无法查看",
    "此内容发送失败无法查看": "文章发送失败，无法查看",
    "链接已过期": "链接已过期",
    "该公众号已迁移": "公众号已迁移",
    "参数错误": "链接参数错误",
}
# The platform's answers to automated visitors: they say nothing about the account.
VERIFICATION = ("环境异常", "完成验证后即可继续访问", "访问过于频繁", "操作频繁，请稍后再试")
# A site's own protection (a CDN or a web application firewall) asking the visitor to prove it is a
# person, or refusing an automated one: what it says about the monitor, not about the column.
CHALLENGE = ("Just a moment...", "Checking your browser", "Attention Required!", "Verify you are human",
             "安全验证", "人机验证", "滑动验证", "请完成验证", "正在进行安全检测", "网站防火墙",
             "已被网站管理员设置拦截", "疑似黑客攻击", "访问被拦截", "您的访问被阻断",
             "请开启JavaScript并刷新", "请启用JavaScript", "访问频率过高", "请求过于频繁")
CHALLENGE_STATUSES = frozenset({200, 403, 405, 429, 503})
OAUTH = ("请在微信客户端打开链接", "请在微信客户端打开")
OAUTH_HOSTS = ("open.weixin.qq.com",)
DEFAULT_SOFT404 = ("页面不存在", "页面未找到", "404 Not Found", "您访问的页面不存在", "Page Not Found")
SHORT_PAGE_CHARS = 600  # a soft-404 marker counts only where the page's own content is this short
NOTICE_CHARS = 200  # outside WeChat, a platform notice counts only on a page whose content is this short
BLANK_CHECK_CHARS = 4 * SHORT_PAGE_CHARS  # a page longer than this is not judged blank
VERIFY_REASON = "微信要求监测端完成人机验证（环境异常或访问过于频繁），本轮无法核验，暂停访问该站点"
OAUTH_REASON = "链接须在微信客户端内打开（网页授权页面），无法从外部核验"
CHALLENGE_REASON = "站点防护系统要求监测端完成人机验证或拦截了监测端（并非栏目故障），本轮无法核验，暂停访问该站点"

# The message block of a WeChat notice page (weui, and the older page_msg/global_error_msg layouts).
_MESSAGE = ".weui-msg, .weui_msg, .global_error_msg, .page_msg, .msg_content, .weui-msg__title"
# An article body: on real pages it is inline ``visibility: hidden`` until the page's script shows it.
_ARTICLE = "#js_content, .rich_media_content"
_INVISIBLE = "script, style, noscript, template, head"
_HIDDEN = ('[hidden], [style*="display:none"], [style*="display: none"], [style*="visibility:hidden"], '
           '[style*="visibility: hidden"]')
_CHROME = ('header, footer, nav, aside, [role="navigation"], [role="banner"], [role="contentinfo"], '
           '[class*="header"], [class*="footer"], [class*="navbar"], [class*="breadcrumb"], [class*="sidebar"], '
           '[id*="header"], [id*="footer"], [id*="nav"]')
_MEDIA = "img, video, iframe, embed, object, canvas, svg, audio"


def _fewest(markers: Sequence[str]) -> tuple[str, ...]:
    """The markers no other marker is part of: a page holding none of these holds none of them all."""
    unique = set(markers)
    return tuple(m for m in unique if not any(o != m and o in m for o in unique))


# Substring tests that decide whether a page is parsed at all ("无法查看" stands for every
# "...内容无法查看" text, 账号 and 帐号 spellings alike).
_TRIGGERS = _fewest((*WECHAT_GONE, "无法查看", *VERIFICATION, *OAUTH, *CHALLENGE))
_CHALLENGE_TRIGGERS = _fewest(CHALLENGE)

PageOutcome = tuple[Outcome, str]


@dataclass(frozen=True, slots=True)
class PageView:
    """What a person sees of a page."""

    title: str
    message: str  # visible text of the message block ("": none)
    body: str  # visible text of the body
    main: str  # visible text without the site's header, navigation and footer
    article: bool  # an article body with visible text or media
    media: bool  # images, video, frames ...


def _text(node: object) -> str:
    from selectolax.lexbor import LexborNode

    assert isinstance(node, LexborNode)
    return " ".join((node.text(separator=" ") or "").split())


def read_page(html: str) -> PageView:
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = _text(title_node) if title_node is not None else ""
    for node in tree.css(_INVISIBLE):
        node.decompose()
    for node in tree.css(_HIDDEN):
        if node.css_matches(_ARTICLE):
            continue  # shown by the page's own script
        if node.parent is not None:
            node.decompose()
    body_node = tree.body
    if body_node is None:
        return PageView(title, "", "", "", False, False)
    article_node = body_node.css_first(_ARTICLE)
    article = article_node is not None and bool(_text(article_node) or article_node.css_first(_MEDIA))
    message_node = body_node.css_first(_MESSAGE)
    message = _text(message_node) if message_node is not None else ""
    body = _text(body_node)
    media = body_node.css_first(_MEDIA) is not None
    if article_node is not None:
        main = _text(article_node)
    else:
        for node in body_node.css(_CHROME):
            if node.parent is not None:
                node.decompose()
        main = _text(body_node)
    return PageView(title, message, body, main, article, media)


def is_wechat_page(result: PageResult) -> bool:
    url, final = result.url, result.final_url or ""
    return "mp.weixin.qq.com" in url or "/mp/s/" in url or "mp.weixin.qq.com" in final or "/mp/s/" in final


_TITLE_PARTS = re.compile(r"\s*[-|_｜—–:：]+\s*")


def _titled(title: str, marker: str) -> bool:
    """Whether the title names the page as missing ("页面不存在 - 某某街道"), not a news headline
    that mentions the words ("关于部分网站页面不存在问题的整改通报")."""
    return marker in title and any(marker in part and len(part) <= len(marker) + 6
                                   for part in _TITLE_PARTS.split(title))


def _gone(text: str) -> str | None:
    text = text.replace("账号", "帐号")  # both spellings are seen
    for marker, reason in WECHAT_GONE.items():
        if marker in text:
            return reason
    return None


def judge_view(view: PageView, result: PageResult, soft404_markers: Sequence[str] = DEFAULT_SOFT404,
               ) -> PageOutcome:
    status = result.status
    wechat = is_wechat_page(result)
    if not view.article:
        # The words a person reads as the page's message: its message block, or, on a short page or a
        # WeChat page without an article, all of its visible text.
        short = len(view.main) < SHORT_PAGE_CHARS
        # A notice page says little besides its notice; a site's page that mentions the words says more.
        tiny = len(view.main) < NOTICE_CHARS
        said = view.message or (view.body if wechat or tiny else "")
        for text in (said, view.title if wechat or tiny else ""):
            if any(m in text for m in VERIFICATION):
                return "unverifiable", VERIFY_REASON
            if any(m in text for m in OAUTH):
                return "unverifiable", OAUTH_REASON
            if not wechat and tiny and any(m in text for m in CHALLENGE):
                return "unverifiable", CHALLENGE_REASON
        gone = _gone(said) or (_gone(view.title) if wechat else None)
        if gone is not None:
            return "fail", gone
        if wechat and view.message:
            return "fail", f"文章页面仅显示提示“{view.message[:40]}”"
        for marker in soft404_markers:
            if _titled(view.title, marker) or (short and (marker in view.main or marker in view.message)):
                return "fail", f"页面不存在（HTTP {status}，提示“{marker}”）"
    if not view.body and not view.media:
        return "fail", f"空白页面（HTTP {status}）"
    return "ok", f"HTTP {status}"


@functools.lru_cache(maxsize=16)
def _triggers(soft404_markers: tuple[str, ...]) -> tuple[str, ...]:
    return _fewest((*_TRIGGERS, *soft404_markers))


@functools.lru_cache(maxsize=16)
def _trigger_pattern(soft404_markers: tuple[str, ...]) -> re.Pattern[str]:
    # One alternation: re scans the page once (3x faster than a substring test per marker on the
    # small healthy pages that are nearly every page of a round; measured on bench_columns).
    markers = sorted(_triggers(soft404_markers), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, markers)))


def _may_matter(text: str, soft404_markers: Sequence[str]) -> bool:
    """Whether a page needs parsing at all: a marker somewhere in it (visible or not)."""
    return _trigger_pattern(tuple(soft404_markers)).search(text) is not None


def challenged(result: PageResult) -> bool:
    """Whether a site's protection answered instead of the page: a short page whose visible text or
    title says so (a challenge inside a long healthy page, a login form say, does not count)."""
    text = result.text
    if not text or result.status not in CHALLENGE_STATUSES or is_wechat_page(result):
        return False
    if not any(m in text for m in _CHALLENGE_TRIGGERS):
        return False
    view = read_page(text)
    if view.article or len(view.main) >= NOTICE_CHARS:
        return False
    return any(m in said for said in (view.title, view.main, view.message) for m in CHALLENGE)


def judge_page(result: PageResult, soft404_markers: Sequence[str] = DEFAULT_SOFT404) -> PageOutcome:
    """What one fetched page says about its column (the monitor's health aside)."""
    status = result.status
    if status == 200 and not result.error and result.text and result.final_url == result.url:
        # The hot path (80,000 pages a round, nearly all healthy, not redirected): one pattern scan
        # for every marker, then, on a short page, one for what could hide its text.
        text = result.text
        if (not _may_matter(text, soft404_markers) and not is_wechat_page(result)
                and (len(text) >= BLANK_CHECK_CHARS or _has_text_fast(text))):
            return _OK_200
    if status is not None and status != 200 and status in CHALLENGE_STATUSES and challenged(result):
        return "unverifiable", CHALLENGE_REASON
    if result.error:
        if result.status is not None and result.status >= 400:
            return "fail", f"HTTP {result.status}"  # the status says it all, body or not
        if result.error in PAGE_UNVERIFIABLE:
            return "unverifiable", PAGE_UNVERIFIABLE[result.error]
        return "fail", PAGE_FAILURE.get(result.error, result.error)
    assert result.status is not None
    if result.status >= 400:
        return "fail", f"HTTP {result.status}"
    if result.final_url and "open.weixin.qq.com" in result.final_url:
        final = urlsplit(result.final_url)
        if final.hostname in OAUTH_HOSTS and final.path.startswith("/connect/oauth2"):
            return "unverifiable", OAUTH_REASON
    text = result.text or ""
    # Hot path (80,000 pages a round, nearly all healthy): substring tests first; a page is parsed only
    # when a marker is somewhere in it, it is a WeChat page, or it is short enough to be blank.
    if (not is_wechat_page(result) and not _may_matter(text, soft404_markers)
            and (len(text) >= BLANK_CHECK_CHARS or _has_text_fast(text))):
        return "ok", f"HTTP {result.status}"
    return judge_view(read_page(text), result, soft404_markers)


_OK_200: PageOutcome = ("ok", "HTTP 200")
_TEXT_AT_START = re.compile(r"\s*[^\s<]")
_TEXT_AFTER_TAG = re.compile(r">\s*[^\s<]")
_SCRIPT_STYLE_OPEN = re.compile(r"<s(?:cript|tyle)|<noscript|<template", re.I)


def _has_text_fast(html: str) -> bool:
    """True only if the page surely shows text (no script, style, comment or hidden part to doubt)."""
    # Substring tests before the case-blind pattern: one re.I alternation is 4x slower here.
    if "<!--" in html or "hidden" in html or "none" in html or _SCRIPT_STYLE_OPEN.search(html):
        return False
    return _TEXT_AT_START.match(html) is not None or _TEXT_AFTER_TAG.search(html) is not None


# -- what a site answers for a page that cannot exist ------------------------------------------------

_DIGITS = re.compile(r"\d+")


def _shingles(text: str) -> frozenset[str]:
    text = _DIGITS.sub("0", text)[:20_000]
    return frozenset(text[i:i + 4] for i in range(max(1, len(text) - 3)))


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """A 200 answer for a path that cannot exist: its landing address, title and content."""

    url: str
    final: str  # without the query
    title: str
    shingles: frozenset[str]


def fingerprint(result: PageResult, drop: Sequence[str] = ()) -> Fingerprint | None:
    if result.error or result.status != 200 or not result.text:
        return None
    view = read_page(result.text)
    main = view.main
    for word in drop:
        main = main.replace(word, "")
    return Fingerprint(result.url, _strip_query(result.final_url or result.url), view.title, _shingles(main))


def similar(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


SIMILAR = 0.85  # Jaccard of 4-character shingles of the content: the same page with a different echo


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute URL, without a full parse."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.lower()}{sep}{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}"


class SiteBaselines:
    """Per round: what each site answers for a path that cannot exist, fetched once per site through
    the same fetcher (the address policy applies). Only sites that answer it with 200 matter."""

    MAX_SITES = 5_000

    def __init__(self, fetcher: PageFetcher) -> None:
        self._fetcher = fetcher
        self._sites: dict[str, asyncio.Future[Fingerprint | None]] = {}

    async def of(self, url: str) -> Fingerprint | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        origin = _origin(url)
        found = self._sites.get(origin)
        if found is None:
            if len(self._sites) >= self.MAX_SITES:
                return None
            found = self._sites[origin] = asyncio.get_running_loop().create_future()
            token = f"wxmon-{secrets.token_hex(8)}"
            try:
                result = await self._fetcher.fetch(f"{origin}/{token}.html")
                found.set_result(fingerprint(result, drop=(token,)))
            finally:
                if not found.done():  # failed or cancelled: the others waiting go on without it
                    found.set_result(None)
        return await asyncio.shield(found)

    def settled(self, result: PageResult) -> bool:
        """True when the page's site is known to answer 404 for a missing page: nothing to compare
        (the hot path, without a coroutine a page)."""
        known = self._sites.get(_origin(result.url))
        return known is not None and known.done() and known.result() is None

    async def compare(self, result: PageResult) -> PageOutcome | None:
        """A soft-404 reason if the page is what the site answers for a missing page, else None."""
        if self.settled(result):
            return None
        if result.status != 200 or not result.text or is_wechat_page(result):
            return None
        path = urlsplit(result.url).path
        if path.count("/") <= 1 and (path in ("", "/") or path.startswith("/index.")):
            return None  # the home page: what many sites answer for a missing page
        base = await self.of(result.url)
        if base is None:
            return None
        final = _strip_query(result.final_url or result.url)
        if final != _strip_query(result.url) and final == base.final and base.final != _strip_query(base.url):
            return "fail", "页面跳转至该站点的“页面不存在”落地页（软404）"
        mine = read_page(result.text)
        main = mine.main.replace(path, "")
        if mine.title == base.title and similar(_shingles(main), base.shingles) >= SIMILAR:
            return "fail", "页面内容与该站点对不存在地址的应答相同（软404）"
        return None


# -- holding off a host that asked the monitor to prove it is a person ------------------------------

class HostBackoff:
    """Host -> until when it is not asked again (``ctx.cache(HostBackoff)``: kept across rounds)."""

    COOL_DOWN = timedelta(minutes=30)
    MAX_HOSTS = 10_000

    def __init__(self) -> None:
        self._until: OrderedDict[str, datetime] = OrderedDict()

    @staticmethod
    def host(url: str) -> str:
        return (urlsplit(url).hostname or "").lower()

    def hold(self, url: str, now: datetime) -> None:
        host = self.host(url)
        if not host:
            return
        self._until[host] = now + self.COOL_DOWN
        self._until.move_to_end(host)
        while len(self._until) > self.MAX_HOSTS:
            self._until.popitem(last=False)

    def held(self, url: str, now: datetime) -> datetime | None:
        if not self._until:
            return None  # the usual case: no URL parsed
        until = self._until.get(self.host(url))
        if until is None:
            return None
        if until <= now:
            del self._until[self.host(url)]
            return None
        return until


Kind = Literal["verification", "oauth", "other"]


def unverifiable_kind(reason: str) -> Kind:
    return ("verification" if reason in (VERIFY_REASON, CHALLENGE_REASON) else "oauth" if reason == OAUTH_REASON
            else "other")
