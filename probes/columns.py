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
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.http import PageFetcher, PageResult
from probes.confirm import Outcome

# Texts of mp.weixin.qq.com pages that answer 200 for an article that is gone.
WECHAT_GONE = {
    "该内容已被发布者删除": "文章已被发布者删除",
    "已被发布者删除": "文章已被发布者删除",
    "此内容因违规无法查看": "文章因违规无法查看",
    "此内容被投诉且经审核涉嫌侵权": "文章因侵权投诉无法查看",
    "链接已过期": "链接已过期",
    "该公众号已迁移": "公众号已迁移",
    "参数错误": "链接参数错误",
}
DEFAULT_SOFT404 = ("页面不存在", "页面未找到", "404 Not Found", "您访问的页面不存在", "Page Not Found")
NETWORK_ERRORS = frozenset({"timeout", "connect", "reset"})
_ERROR_REASON = {
    "timeout": "访问超时",
    "connect": "无法连接",
    "reset": "连接被重置",
    "tls": "证书或加密连接错误",
    "too_many_redirects": "重定向次数过多",
    "bad_url": "链接格式错误",
}
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAGS = re.compile(r"<script.*?</script>|<style.*?</style>|<[^>]+>", re.I | re.S)
SHORT_PAGE_CHARS = 600  # a soft-404 marker only counts on a page this short, or in its title


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


@dataclass(frozen=True)
class Check:
    column: Column
    outcome: Outcome
    reason: str
    http_status: int | None = None
    elapsed_ms: float | None = None


def discover(account_id: str, selfmenu: dict[str, Any] | None, declared: Iterable[dict[str, Any]] = ()) -> list[Column]:
    """Leaves of the menu as users see it, then declared columns not already in it."""
    columns: list[Column] = []
    buttons = ((selfmenu or {}).get("selfmenu_info") or {}).get("button") or []
    if selfmenu is not None and not selfmenu.get("is_menu_open", 1):
        buttons = []
    for top in buttons:
        sub = top.get("sub_button")
        leaves = sub.get("list", []) if isinstance(sub, dict) else (sub or [])
        if leaves:
            columns += [_leaf(account_id, f"{top.get('name', '')}/{leaf.get('name', '')}", leaf) for leaf in leaves]
        elif top.get("type"):
            columns.append(_leaf(account_id, str(top.get("name", "")), top))
    seen = {c.path for c in columns}
    for item in declared:
        if item["path"] not in seen:
            url = item.get("url")
            columns.append(Column(account_id, item["path"], item.get("type", "view"),
                                  (url,) if url else (), source="declared"))
    return columns


def _leaf(account_id: str, path: str, leaf: dict[str, Any]) -> Column:
    kind = str(leaf.get("type") or "unknown")
    targets: list[str] = []
    if kind in ("view", "miniprogram") and leaf.get("url"):
        targets.append(leaf["url"])
    elif kind == "news":
        targets += [n["content_url"] for n in (leaf.get("news_info") or {}).get("list", []) if n.get("content_url")]
    value = leaf.get("value") if kind in ("text", "img", "voice", "video", "news") else None
    return Column(account_id, path, kind, tuple(targets), value)


def judge_page(result: PageResult, soft404_markers: Sequence[str] = DEFAULT_SOFT404) -> tuple[Outcome, str]:
    """What one fetched page says about its column (the monitor's health aside)."""
    if result.error:
        return "fail", _ERROR_REASON.get(result.error, result.error)
    assert result.status is not None
    if result.status >= 400:
        return "fail", f"HTTP {result.status}"
    text = result.text or ""
    for marker, reason in WECHAT_GONE.items():
        if marker in text and ("mp.weixin.qq.com" in (result.final_url or "") or "/mp/s/" in (result.final_url or "")
                               or len(visible_text(text)) < SHORT_PAGE_CHARS):
            return "fail", reason
    title = _TITLE.search(text)
    title_text = title.group(1) if title else ""
    body = visible_text(text)
    for marker in soft404_markers:
        if marker in title_text or (marker in body and len(body) < SHORT_PAGE_CHARS):
            return "fail", f"页面不存在（HTTP {result.status}，提示“{marker}”）"
    if not body.strip():
        return "fail", f"空白页面（HTTP {result.status}）"
    return "ok", f"HTTP {result.status}"


def visible_text(html: str) -> str:
    return " ".join(_TAGS.sub(" ", html).split())


class HealthGate:
    """Answers "is the monitor itself online?" from control URLs, cached briefly."""

    def __init__(self, fetcher: PageFetcher, canary_urls: Sequence[str], cache_s: float = 1.0) -> None:
        self._fetcher = fetcher
        self._urls = list(canary_urls)
        self._cache_s = cache_s
        self._checked_at = -1e9
        self._healthy = True
        self._lock = asyncio.Lock()

    async def healthy(self) -> bool:
        if not self._urls:
            return True
        async with self._lock:
            if time.monotonic() - self._checked_at > self._cache_s:
                results = await asyncio.gather(*(self._fetcher.fetch(u) for u in self._urls))
                self._healthy = any(r.answered for r in results)
                self._checked_at = time.monotonic()
            return self._healthy


async def check_column(column: Column, fetcher: PageFetcher, gate: HealthGate,
                       soft404_markers: Sequence[str] = DEFAULT_SOFT404) -> Check:
    kind = column.type
    if kind in ("text",):
        return Check(column, "ok" if (column.value or "").strip() else "fail",
                     "文字回复已设置" if (column.value or "").strip() else "文字回复内容为空")
    if kind in ("img", "voice", "video") or (kind == "news" and not column.targets):
        if column.value:
            return Check(column, "ok", "素材已设置")
        return Check(column, "fail", "素材缺失")
    if not column.targets:
        reason = {"miniprogram": "小程序无备用网页，无法从外部验证"}.get(kind, f"{kind} 类型栏目由公众号服务器响应，无法从外部验证")
        return Check(column, "unverifiable", reason)
    worst: Check | None = None
    for url in column.targets:
        result = await fetcher.fetch(url)
        outcome, reason = judge_page(result, soft404_markers)
        if outcome == "fail" and result.error in NETWORK_ERRORS and not await gate.healthy():
            return Check(column, "error", "监测端网络异常，本轮无法判断", None, None)
        if len(column.targets) > 1 and outcome == "fail":
            reason = f"{reason}：{url}"
        check = Check(column, outcome, reason, result.status, result.elapsed_ms)
        if worst is None or (worst.outcome == "ok" and outcome != "ok"):
            worst = check
    assert worst is not None
    return worst
