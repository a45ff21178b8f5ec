"""The freshness probe against the emulator's ground truth, over real HTTP, on a virtual clock."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, to_local
from probes.freshness import FREEPUBLISH, NO_API_REASON, item_id_for, parse_page, split_item_id
from probes.sources import datacube

try:
    from probe_harness import ProbeHarness
    from store_fixtures import latest_content
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness
    from tests.store_fixtures import latest_content

QUARTER_START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
BATCHGET = "/cgi-bin/freepublish/batchget"
MATERIAL = "/cgi-bin/material/batchget_material"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class RequestCounter:
    """Counts API requests per (account, path) with aiohttp's request tracing; the account
    comes from the emulator's token table."""

    def __init__(self, server: EmulatorServer) -> None:
        self.world = server.world
        self.calls: Counter[tuple[str, str]] = Counter()
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(self, session: object, context: object, params: aiohttp.TraceRequestStartParams) -> None:
        token = params.url.query.get("access_token")
        owner = self.world.tokens.get(token) if token else None
        self.calls[(owner.account.cfg.id if owner else "-", params.url.path)] += 1


class Harness(ProbeHarness):
    """Counts API requests per account; knows the scenario's truth."""

    def __init__(self, server: EmulatorServer, config_path: Path) -> None:
        super().__init__(server, config_path)
        self.counter = RequestCounter(server)
        self.trace_configs = [self.counter.trace]

    async def round(self, kind: str, at: datetime | None = None, only: list[str] | None = None) -> list[dict[str, Any]]:
        self.counter.calls.clear()
        return await super().round(kind, at, only)

    def truth(self, end: datetime) -> dict[str, Any]:
        return self.server.world.truth(QUARTER_START, end, self.server.base_url)["accounts"]

    def published(self, account_id: str, end: datetime) -> list[str]:
        items = self.store.content_between(QUARTER_START, end + timedelta(seconds=1), account_id=account_id)
        return [to_local(i.published_at).isoformat() for i in items]


run = Harness.run


def fault(server: EmulatorServer, **spec: Any) -> None:
    httpx.post(f"{server.base_url}/_emu/faults", json=spec, timeout=5).raise_for_status()


def clear_faults(server: EmulatorServer, account: str) -> None:
    httpx.delete(f"{server.base_url}/_emu/faults", params={"account": account}, timeout=5).raise_for_status()


# Scenario faults that touch freshness at the points below: bm-yjj's IP is not whitelisted until
# 07-03, zh-taoyuan's batchget is busy 3 times from 07-10. Both have a feed, which sees everything,
# so both are judged; the row says what failed.
EXPECTED_NOTES = {
    ("2023-07-01T06:30:00", "bm-yjj"): "40164",
    ("2023-07-20T06:30:00", "zh-taoyuan"): "-1",
}
POINTS = ["2023-07-01T06:30:00", "2023-07-20T06:30:00", "2023-08-10T06:30:00", "2023-09-01T06:30:00",
          "2023-09-28T06:30:00", "2023-09-29T06:30:00", "2023-09-30T23:59:00"]
DATACUBE = "/datacube/getarticlesummary"
EXACT = ("feed", "freepublish")  # sources that give the publication time, not just the day


def midnight(iso: str) -> str:
    return datetime.fromisoformat(iso).replace(hour=0, minute=0, second=0).isoformat()


def test_freshness_follows_the_truth_through_the_quarter(emulator, demo_config):
    path = demo_config(emulator)
    seen: dict[str, list[dict[str, Any]]] = {}
    calls: dict[str, Counter[tuple[str, str]]] = {}
    cfg = {a.id: a for a in emulator.scenario.accounts}

    async def body(h: Harness) -> None:
        for point in POINTS:
            at = local(point)
            rows = await h.round("freshness", at)
            seen[point] = rows
            calls[point] = Counter(h.counter.calls)
            truth = h.truth(at)
            assert [r["account"] for r in rows] == [a.id for a in h.config.accounts]
            for row in rows:
                acct, want = row["account"], truth[row["account"]]
                # Every account has sources that see 群发 and 发表 together: all are judged.
                assert row["status"] == "ok", (point, row)
                assert set(row["covers"]) == {"mass", "publish"}
                note = EXPECTED_NOTES.get((point, acct))
                if note is not None:
                    assert note in row["reason"] and "已由" in row["reason"], (point, row)
                elif row["reason"]:  # a feed too slow on a loaded machine: datacube stood in
                    assert "订阅源" in row["reason"] and "已由" in row["reason"] and "datacube" in row["source"]
                    continue
                exact = cfg[acct].feed or cfg[acct].publication == "publish"
                assert ("feed" in row["source"]) == cfg[acct].feed
                items = h.store.content_between(QUARTER_START, at + timedelta(seconds=1), account_id=acct)
                if exact:
                    assert row["last_update"] == want["last_publish"], (point, acct)
                    assert row["days_since_update"] == pytest.approx(want["days_since_update"], abs=1e-3)
                    times = sorted({to_local(i.published_at).isoformat() for i in items if i.source in EXACT})
                    assert times == want["articles"], (point, acct)
                else:  # 群发 without a feed: datacube gives the day of each article, never today's
                    today = to_local(at).date().isoformat()
                    days = sorted(to_local(i.published_at).isoformat() for i in items if i.source == "datacube")
                    # (the points here are further apart than a round reads back: older days are missed)
                    window = (to_local(at).date() - timedelta(days=datacube.MAX_DAYS - 1)).isoformat()
                    truth_days = [midnight(t) for t in want["articles"] if t[:10] < today]
                    assert set(days) <= set(truth_days), (point, acct)
                    assert [d for d in truth_days if d[:10] >= window] == [d for d in days if d[:10] >= window], \
                        (point, acct, truth_days, days)
                    assert row["last_update"][:10] <= want["last_publish"][:10]
                    assert not [i for i in items if i.source == "freepublish"]  # 群发 is not listed there

    run(emulator, path, body)

    # At the check date the stale accounts (and only they) have nothing in the last 14 days.
    final = {r["account"]: r for r in seen[POINTS[-1]]}
    expected = emulator.world.truth(QUARTER_START, local(POINTS[-1]))["accounts"]
    for acct, row in final.items():
        stale = "stale" in (expected[acct]["demo_expected"] or {}).get("fails", [])
        assert (row["days_since_update"] > 14) == stale, (acct, row)
    assert {a for a, r in final.items() if r["days_since_update"] > 14} == {"jd-wanghai", "bm-rsj"}

    # Call budget: one batchget per account and round, no material call while freepublish answers;
    # datacube reads back to the last day it saw an article (a few calls a day), never more than
    # MAX_DAYS. Retries of transient failures are the only extra HTTP requests.
    for point, counts in calls.items():
        per_account = {acct: n for (acct, p), n in counts.items() if p == BATCHGET}
        assert not [k for k in counts if k[1] == MATERIAL], point
        for acct, n in per_account.items():
            allowed = 3 if (point, acct) == ("2023-07-20T06:30:00", "zh-taoyuan") else \
                2 if (point, acct) == ("2023-08-10T06:30:00", "jb-fabu") else 1
            assert n <= allowed, (point, acct, n)
        # bm-yjj's token call is refused on 07-01, so it makes no API call then.
        assert len(per_account) == (20 if point == POINTS[0] else 21), point
        assert max(n for (a, p), n in counts.items() if p == DATACUBE) <= datacube.MAX_DAYS
    daily = [sum(n for (a, p), n in calls[p_].items() if p == BATCHGET) for p_ in POINTS[-3:]]
    assert daily == [21, 21, 21]
    # datacube only where no feed sees 群发; a daily round resumes after the last successful look.
    for point, counts in calls.items():
        assert {a for (a, p) in counts if p == DATACUBE} <= {a for a in cfg if not cfg[a].feed}, point
    per_day = Counter({a: n for (a, p), n in calls[POINTS[-2]].items() if p == DATACUBE})
    assert set(per_day) == {a for a in cfg if not cfg[a].feed} and max(per_day.values()) <= datacube.MIN_DAYS


def test_quota_exhausted_is_an_error_that_keeps_the_last_content(emulator, demo_config):
    # jb-fabu publishes by 发表 and has no feed: freepublish is the only source that sees it.
    path = demo_config(emulator)

    async def body(h: Harness) -> None:
        first = {r["account"]: r for r in await h.round("freshness", local("2023-07-10T06:30:00"))}
        before = h.published("jb-fabu", local("2023-07-20T06:30:00"))
        assert first["jb-fabu"]["status"] == "ok" and before

        fault(h.server, account="jb-fabu", endpoint=BATCHGET, kind="quota", daily_limit=0)
        rows = {r["account"]: r for r in await h.round("freshness", local("2023-07-20T06:30:00"))}
        row = rows["jb-fabu"]
        assert row["status"] == "error" and "45009" in row["reason"]
        assert row["new_items"] == 0
        assert row["last_update"] == first["jb-fabu"]["last_update"]
        assert h.published("jb-fabu", local("2023-07-20T06:30:00")) == before  # nothing invented
        assert h.counter.calls[("jb-fabu", BATCHGET)] == 1
        assert h.counter.calls[("jb-fabu", MATERIAL)] == 0  # a quota is not a reason to switch sources
        assert all(r["status"] == "ok" for a, r in rows.items() if a != "jb-fabu")

        # Same day again: the client knows the quota is spent and does not call at all.
        row = next(r for r in await h.round("freshness", local("2023-07-20T09:00:00")) if r["account"] == "jb-fabu")
        assert row["status"] == "error" and "45009" in row["reason"]
        assert h.counter.calls[("jb-fabu", BATCHGET)] == 0

        # Next day, quota back: the history catches up with the truth.
        clear_faults(h.server, "jb-fabu")
        at = local("2023-07-21T06:30:00")
        row = next(r for r in await h.round("freshness", at) if r["account"] == "jb-fabu")
        truth = h.truth(at)["jb-fabu"]
        assert row["status"] == "ok" and row["new_items"] > 0
        assert row["last_update"] == truth["last_publish"]
        assert h.published("jb-fabu", at) == truth["articles"]

    run(emulator, path, body)


def test_sources_that_cannot_see_both_ways_leave_the_update_unjudged(emulator, demo_config):
    path = demo_config(emulator)
    # jb-fabu publishes by 发表, has no feed: with freepublish refused, the frozen material is left.
    fault(emulator, account="jb-fabu", endpoint=BATCHGET, kind="unauthorized")
    # bm-wlj's material is not authorized in the scenario either: only datacube is left.
    fault(emulator, account="bm-wlj", endpoint=BATCHGET, kind="unauthorized")
    # bm-sthj 群发s, has no feed, and datacube is refused: freepublish alone cannot see 群发.
    fault(emulator, account="bm-sthj", endpoint=DATACUBE, kind="unauthorized")

    async def body(h: Harness) -> None:
        at = local("2023-08-01T06:30:00")
        rows = {r["account"]: r for r in await h.round("freshness", at)}

        row = rows["jb-fabu"]
        assert row["status"] == "unverifiable" and row["covers"] == ["mass"], row
        assert row["reason"].startswith("更新情况无法判定：仅有素材库、群发数据接口，看不到发表")
        assert "48001" in row["reason"]
        items = h.store.content_between(QUARTER_START - timedelta(days=30), at, account_id="jb-fabu")
        assert items and {i.source for i in items} == {"material"}  # stored (and scanned), old dates only
        assert max(i.published_at for i in items) < QUARTER_START
        assert h.counter.calls[("jb-fabu", MATERIAL)] == 1

        row = rows["bm-wlj"]
        assert row["status"] == "unverifiable" and "看不到发表" in row["reason"] and "48001" in row["reason"]
        assert row["source"] == "datacube"

        row = rows["bm-sthj"]
        assert row["status"] == "unverifiable", row
        assert row["reason"].startswith("更新情况无法判定：仅有发表接口，看不到群发")
        assert row["source"] == "freepublish" and row["covers"] == ["publish"]
        assert latest_content(h.store, "bm-sthj") is None  # freepublish lists none of its 群发 articles

        # The material fallback pages like freepublish: a daily round costs one material call.
        rows = {r["account"]: r for r in await h.round("freshness", local("2023-08-02T06:30:00"))}
        assert rows["jb-fabu"]["status"] == "unverifiable"
        assert h.counter.calls[("jb-fabu", MATERIAL)] == 1

    run(emulator, path, body)


def test_accounts_without_api_access_are_unverifiable(emulator, tmp_path, monkeypatch):
    for name, value in demo_secret_env(emulator.scenario).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WXMON_TEST_NOT_SET", raising=False)
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""
store: sqlite:///{tmp_path / 'w.db'}
wechat: {{api_base: "{emulator.base_url}"}}
accounts:
  - {{id: jd-binhe, name: 滨河街道（模拟）, unit: 滨河街道办事处（模拟）, category: 乡镇街道,
     appid: wx1dcb12174bed18e7, secret_env: WXMON_DEMO_SECRET_02}}
  - id: jd-noapi
    name: 无接口街道（模拟）
    unit: 无接口街道办事处（模拟）
    category: 乡镇街道
    api: false
    columns: [{{path: 办事服务/办事指南, type: view, url: "{emulator.base_url}/site/jd-binhe/bszn"}}]
  - {{id: jd-nosecret, name: 望海街道（模拟）, unit: 望海街道办事处（模拟）, category: 乡镇街道,
     appid: wxc9aad619e996f369, secret_env: WXMON_TEST_NOT_SET}}
""", encoding="utf-8")

    async def body(h: Harness) -> None:
        rows = {r["account"]: r for r in await h.round("freshness", local("2023-07-05T06:30:00"))}
        assert rows["jd-binhe"]["status"] == "ok"
        assert rows["jd-noapi"] == {"account": "jd-noapi", "status": "unverifiable", "reason": NO_API_REASON,
                                    "last_update": None, "days_since_update": None, "new_items": 0,
                                    "source": None, "covers": []}
        assert rows["jd-nosecret"]["status"] == "unverifiable"
        assert "WXMON_TEST_NOT_SET" in rows["jd-nosecret"]["reason"]
        assert not [k for k in h.counter.calls if k[0] != "jd-binhe" and k[0] != "-"]

    run(emulator, path, body)


def test_item_ids_of_multi_article_items_round_trip():
    assert item_id_for("AbC_1", 0, 1) == "AbC_1"
    assert split_item_id("AbC_1") == ("AbC_1", 0)
    assert item_id_for("AbC_1", 2, 3) == "AbC_1#2"
    assert split_item_id("AbC_1#2") == ("AbC_1", 2)


@pytest.mark.parametrize("kind, status, words", [
    ("busy", "error", "-1"),
    ("nonjson", "error", "返回异常"),
    ("reset", "error", "网络"),
    ("token", "error", "40001"),
    ("ip", "unverifiable", "40164"),  # on the token call: the cached token expired between rounds
])
def test_other_failures_keep_the_last_content(emulator, demo_config, kind, status, words):
    path = demo_config(emulator)

    async def body(h: Harness) -> None:
        (first,) = await h.round("freshness", local("2023-07-10T06:30:00"), only=["jb-fabu"])
        endpoint = "*" if kind == "ip" else BATCHGET
        fault(h.server, account="jb-fabu", endpoint=endpoint, kind=kind)
        (row,) = await h.round("freshness", local("2023-07-20T06:30:00"), only=["jb-fabu"])
        assert row["status"] == status and words in row["reason"], row
        assert row["new_items"] == 0 and row["last_update"] == first["last_update"]
        assert h.published("jb-fabu", local("2023-07-20T06:30:00")) == h.truth(local("2023-07-10T06:30:00"))[
            "jb-fabu"]["articles"]
        assert h.counter.calls[("jb-fabu", MATERIAL)] == 0

    run(emulator, path, body)


def test_parse_page_takes_the_platform_shapes_as_they_come():
    seen = local("2023-08-01T06:30:00")
    data = {"total_count": 3, "item_count": 3, "item": [
        # update_time inside content, as the platform has been seen answering
        {"article_id": "A1", "content": {"news_item": [{"title": "t1", "url": "https://mp/1"},
                                                       {"title": "t2", "url": "https://mp/2"}],
                                         "update_time": 1690848000}},
        {"article_id": "A2", "update_time": "1690761600"},  # no content at all (no_content=1)
        {"article_id": "A3", "content": {"news_item": [{"title": "t3", "url": ""}], "create_time": 1690675200},
         "update_time": 0},
    ]}
    items, entries = parse_page("acct", FREEPUBLISH, data, seen)
    assert entries == 3
    assert [(i.item_id, i.title, i.url) for i in items] == [
        ("A1#0", "t1", "https://mp/1"), ("A1#1", "t2", "https://mp/2"), ("A2", None, None), ("A3", "t3", None)]
    assert [to_local(i.published_at).isoformat() for i in items] == [
        "2023-08-01T08:00:00+08:00", "2023-08-01T08:00:00+08:00", "2023-07-31T08:00:00+08:00",
        "2023-07-30T08:00:00+08:00"]
    with pytest.raises(Exception, match="item"):
        parse_page("acct", FREEPUBLISH, {"item": {"not": "a list"}}, seen)
    with pytest.raises(Exception, match="article_id"):
        parse_page("acct", FREEPUBLISH, {"item": [{"content": {}}]}, seen)
