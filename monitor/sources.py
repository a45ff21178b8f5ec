"""What each source of an account's articles can see (the product side: probes.sources reads them).

On the real platform no single source lists everything (WECHAT.md, "What the API
does not show"): ``freepublish/batchget`` lists 发表 articles only, the news
material library stopped at the move to 草稿箱, ``datacube/getarticlesummary``
lists 群发 articles read on a day (never today), and an account's public feed
(WeWe RSS, we-mp-rss) lists what a follower sees. Each source declares what it
covers; the update rule is judged only on sources that together see both ways
of publishing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MASS = "mass"  # 群发
PUBLISH = "publish"  # 发表


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # the content item's ``source``
    covers: frozenset[str]  # MASS and/or PUBLISH: what it lists of what the account puts out
    label: str  # how reasons name it


FREEPUBLISH = Source("freepublish", frozenset({PUBLISH}), "发表接口")
MATERIAL = Source("material", frozenset(), "素材库")  # frozen since the move to 草稿箱: sees nothing current
DATACUBE = Source("datacube", frozenset({MASS}), "群发数据接口")
FEED = Source("feed", frozenset({MASS, PUBLISH}), "订阅源")
PAGE = Source("page", frozenset(), "页面")
SOURCES = {s.name: s for s in (FREEPUBLISH, MATERIAL, DATACUBE, FEED, PAGE)}
# Sources that ever seeing an article from is proof the monitor can see the account's 群发.
SEES_MASS = frozenset(s.name for s in SOURCES.values() if MASS in s.covers)


def coverage(sources: Iterable[Source]) -> frozenset[str]:
    out: set[str] = set()
    for s in sources:
        out |= s.covers
    return frozenset(out)


def account_blind_reason(seen_by: Iterable[str], has_feed: bool) -> str:
    """Why the update rule cannot be judged for an account whose articles were seen by the
    sources named ``seen_by`` (empty when a source that sees 群发 is configured or has seen it)."""
    names = set(seen_by)
    if has_feed or names & SEES_MASS:
        return ""
    return blind_reason(SOURCES[n] for n in sorted(names) if n in SOURCES)


def labels(sources: Iterable[Source]) -> str:
    return "、".join(dict.fromkeys(s.label for s in sources)) or "无"


def blind_reason(sources: Iterable[Source]) -> str:
    """Why the update rule cannot be judged on ``sources`` (empty when they see both ways)."""
    sources = list(sources)
    seen = coverage(sources)
    if MASS not in seen:
        only = f"仅有{labels(sources)}" if sources else "没有可用的文章来源"
        return f"更新情况无法判定：{only}，看不到群发"
    if PUBLISH not in seen:
        return f"更新情况无法判定：仅有{labels(sources)}，看不到发表"
    return ""
