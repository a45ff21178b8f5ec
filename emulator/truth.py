"""Ground truth: what really holds in the scenario and what happened, never what a monitor measured."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from emulator.operators import working_minutes_between
from emulator.scenario import Article, MenuItem, column_paths
from monitor.clock import to_local

if TYPE_CHECKING:
    from emulator.world import AccountState, World

BROKEN_SITE_KINDS = frozenset({"soft404", "http404", "http500", "hang"})
DAY_S = 86400.0


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_local(value).isoformat()


def _targets(acct: AccountState, leaf: MenuItem) -> tuple[list[str], list[Article]]:
    """The emulator's own pages a leaf opens: site page names and articles."""
    pages = [leaf.page] if leaf.page else []
    if leaf.url and leaf.url.startswith(f"/site/{acct.cfg.id}/"):
        pages.append(leaf.url.rsplit("/", 1)[1])
    refs = ([leaf.article] if leaf.article else []) + leaf.articles
    if leaf.url and leaf.url.startswith("/mp/s/"):
        key = leaf.url.rsplit("/", 1)[1]
        refs.extend(a.id for a in acct.articles if a.key == key)
    return pages, [acct.article_by_id[r] for r in refs]


def _column_states(acct: AccountState, start: datetime, end: datetime) -> tuple[list[str], list[str]]:
    broken, transient = [], []
    for path, leaf in column_paths(acct.cfg.menu):
        page_names, articles = _targets(acct, leaf)
        pages = [acct.cfg.pages[name] for name in page_names if name in acct.cfg.pages]
        is_broken = any((p.to if p.kind_at(end) == "redirect" else p.kind_at(end)) in BROKEN_SITE_KINDS
                        for p in pages)
        is_broken |= any(a.publish > end or a.state_at(end) != "ok" for a in articles)
        outages = [o for p in pages for o in p.outages] + [o for a in articles for o in a.outages]
        if is_broken:
            broken.append(path)
        elif any((o.from_ is None or o.from_ <= end) and (o.until is None or o.until > start) for o in outages):
            transient.append(path)
    return broken, transient


def _publication(acct: AccountState, start: datetime, end: datetime) -> dict[str, Any]:
    published = [a.publish for a in acct.articles if a.publish <= end]
    in_window = [t for t in published if t >= start]
    last = published[-1] if published else None
    edges = [start, *in_window, end]
    return {
        "articles": [_iso(t) for t in in_window],
        "last_publish": _iso(last),
        "days_since_update": None if last is None else round((end - last).total_seconds() / DAY_S, 3),
        "max_gap_days": round(max((b - a).total_seconds() for a, b in pairwise(edges)) / DAY_S, 3),
    }


def _leaks(acct: AccountState, end: datetime, origin: str) -> list[dict[str, Any]]:
    return [{"article_id": a.key, "url": f"{origin}/mp/s/{a.key}", "type": kind, "title": a.title,
             "published": _iso(a.publish)}
            for a in acct.articles if a.pii and a.publish <= end and a.state_at(end) != "deleted"
            for kind in a.pii]


def _incidents(acct: AccountState, end: datetime, origin: str) -> list[dict[str, Any]]:
    """Serious wording errors and harmful links published (content_errors, links): what a person
    reviewing the content check's candidates confirms."""
    return [{"article_id": a.key, "url": f"{origin}/mp/s/{a.key}", "kind": kind, "text": text, "title": a.title,
             "published": _iso(a.publish)}
            for a in acct.articles if a.publish <= end and a.state_at(end) != "deleted"
            for kind, texts in (("wording", a.content_errors), ("link", a.links)) for text in texts]


def _inquiries(acct: AccountState, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [{
        "msg_id": q.msg_id, "tester": q.tester, "text": q.text, "sent_at": _iso(q.sent_at),
        "auto_reply_at": _iso(q.auto_reply_at), "human_reply_at": _iso(q.human_reply_at),
        "human_reply_working_minutes": (None if q.human_reply_at is None
                                        else round(working_minutes_between(q.sent_at, q.human_reply_at), 1)),
    } for q in acct.inquiries if start <= q.sent_at <= end]


def compute_truth(world: World, start: datetime, end: datetime, origin: str = "") -> dict[str, Any]:
    accounts: dict[str, Any] = {}
    for acct in world.accounts.values():
        broken, transient = _column_states(acct, start, end)
        expected = acct.cfg.expected
        accounts[acct.cfg.id] = {
            "name": acct.cfg.name,
            "broken_columns": broken,
            "transient_columns": transient,
            **_publication(acct, start, end),
            # How it publishes and what could see it: freepublish lists 发表 only, datacube and a feed see 群发.
            "publication": acct.cfg.publication,
            "feed": acct.cfg.feed,
            "leaks": _leaks(acct, end, origin),
            "incidents": _incidents(acct, end, origin),
            "inquiries": _inquiries(acct, start, end),
            "demo_expected": None if expected is None else expected.model_dump(),
        }
    out: dict[str, Any] = {"from": _iso(start), "to": _iso(end), "now": _iso(world.now()), "accounts": accounts}
    labelled = [a.cfg.expected for a in world.accounts.values() if a.cfg.expected is not None]
    if labelled:
        passed = sum(e.verdict == "合格" for e in labelled)
        out["demo_expected_summary"] = {"checked": len(labelled), "passed": passed,
                                        "pass_rate": f"合格率{passed / len(labelled) * 100:.1f}%"}
    return out
