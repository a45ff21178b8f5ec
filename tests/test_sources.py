"""Sources with coverage: the emulator's article endpoints as the real platform has them
(freepublish without 群发, a frozen material library, datacube by day, an account's feed), and
freshness, privacy and the update rule resting only on sources that see the account.

Real parts throughout: the emulator on 127.0.0.1 over HTTP, a SQLite store file, the runner.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, VirtualClock, to_local
from monitor.period import parse_period
from monitor.scoring import metrics_table
from monitor.sources import account_blind_reason
from probes.sources import datacube
from probes.sources.feed import FeedUnreadable, parse_feed

try:
    from probe_harness import ProbeHarness
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness

START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
SUMMARY = "/datacube/getarticlesummary"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def article(i: int, day: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"a{i}", "title": f"通知{i}", "publish": f"{day}T10:00:00+08:00", **extra}


SCENARIO: dict[str, Any] = {
    "seed": 7,
    "clock": {"start": "2023-07-01T00:00:00+08:00"},
    "accounts": [
        {"id": "mass-feed", "name": "群发有订阅源（模拟）", "appid": "wx0000000000000001", "secret_env": "T_S1",
         "publication": "mass", "feed": True, "material_until": "2023-06-25T00:00:00+08:00",
         "articles": [article(1, "2023-06-20"), article(2, "2023-07-03"),
                      article(3, "2023-07-06", pii=["mobile"]),
                      article(4, "2023-07-08", page="deleted", page_since="2023-07-09T00:00:00+08:00")]},
        {"id": "mass-only", "name": "仅群发（模拟）", "appid": "wx0000000000000002", "secret_env": "T_S2",
         "publication": "mass", "material_until": "2023-06-25T00:00:00+08:00",
         "articles": [article(1, "2023-07-02"), article(2, "2023-07-05")]},
        {"id": "both", "name": "群发和发表（模拟）", "appid": "wx0000000000000003", "secret_env": "T_S3",
         "publication": "both",
         "articles": [article(i, f"2023-07-0{i}") for i in range(1, 8)]},
    ],
}


@pytest.fixture
def world(make_emulator) -> EmulatorServer:
    return make_emulator(SCENARIO, clock=VirtualClock(START))


def token(http: httpx.Client, server: EmulatorServer, account: str) -> str:
    acct = server.scenario.account(account)
    return http.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": acct.appid,
                                                    "secret": acct.secret}).json()["access_token"]


# -- the emulator --------------------------------------------------------------------------


def test_article_endpoints_see_what_the_real_platform_shows(world: EmulatorServer) -> None:
    world.clock.set(local("2023-07-09T09:00:00"))  # type: ignore[attr-defined]
    with httpx.Client(base_url=world.base_url, timeout=5) as http:
        t = token(http, world, "mass-feed")
        post = lambda path, body: http.post(path, params={"access_token": t}, json=body).json()
        # 群发 only: freepublish lists nothing, the material library stopped before the quarter.
        assert post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20})["total_count"] == 0
        material = post("/cgi-bin/material/batchget_material", {"type": "news", "offset": 0, "count": 20})
        assert [i["content"]["news_item"][0]["title"] for i in material["item"]] == ["通知1"]

        # datacube: one day per call, at most yesterday; a 群发 article shows on the days it is read.
        day = lambda d: post(SUMMARY, {"begin_date": d, "end_date": d})
        listed = day("2023-07-05")["list"]  # 通知2 (07-03) is read until 07-05, 通知3 from 07-06
        assert [(e["title"], e["ref_date"]) for e in listed] == [("通知2", "2023-07-05")]
        assert all(e["msgid"].split("_")[0].isdigit() and e["msgid"].endswith("_1") for e in listed)
        assert [e["title"] for e in day("2023-07-06")["list"]] == ["通知3"]
        assert day("2023-07-02")["list"] == [] and day("2023-07-03")["list"][0]["msgid"] == listed[0]["msgid"]
        assert [e["title"] for e in day("2023-07-08")["list"]] == ["通知3"]  # 通知4 deleted 07-09: dropped
        assert day("2023-07-09")["errcode"] == 61501  # today: not yet
        assert day("2023-07-10")["errcode"] == 61501
        assert post(SUMMARY, {"begin_date": "2023-07-05", "end_date": "2023-07-06"})["errcode"] == 61501
        assert post(SUMMARY, {"begin_date": "2023/07/05", "end_date": "2023/07/05"})["errcode"] == 61500
        assert post(SUMMARY, {"begin_date": "2023-07-05"})["errcode"] == 47001

        # both: freepublish lists exactly the 发表 half.
        t = token(http, world, "both")
        titles = {i["content"]["news_item"][0]["title"]
                  for i in post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20})["item"]}
        publish = {a.title for a in world.scenario.account("both").articles if a.via == "publish"}
        assert titles == publish and 0 < len(publish) < 7

        # Feeds: everything a follower sees, in three formats; none for an account without one.
        for ext in ("rss", "atom", "json"):
            r = http.get(f"/feeds/mass-feed.{ext}")
            assert r.status_code == 200
            items = parse_feed("mass-feed", r.text, world.clock.now())
            # the deleted article dropped out; times exact; links to the article pages
            assert sorted((i.title, to_local(i.published_at).isoformat()) for i in items) == [
                ("通知1", "2023-06-20T10:00:00+08:00"), ("通知2", "2023-07-03T10:00:00+08:00"),
                ("通知3", "2023-07-06T10:00:00+08:00")], ext
            assert all(i.url and i.url.startswith(world.base_url + "/mp/s/") for i in items)
            assert all(i.source == "feed" for i in items)
        assert http.get("/feeds/mass-only.atom").status_code == 404
        assert http.get("/feeds/mass-feed.xml").status_code == 404


def test_a_feed_is_outside_text() -> None:
    now = local("2023-07-09T09:00:00")
    with pytest.raises(FeedUnreadable):
        parse_feed("x", "<html><body>登录</body></html>", now)
    with pytest.raises(FeedUnreadable):
        parse_feed("x", '{"items": "no"}', now)
    rss = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
           '<item><title>ok</title><link>https://mp.weixin.qq.com/s/a</link><guid>a</guid>'
           '<pubDate>Sat, 08 Jul 2023 02:00:00 GMT</pubDate></item>'
           '<item><title>no time</title><link>https://mp.weixin.qq.com/s/b</link></item>'
           '<item><title>future</title><link>https://mp.weixin.qq.com/s/c</link>'
           '<pubDate>Sat, 08 Jul 2093 02:00:00 GMT</pubDate></item>'
           '<item><title>script</title><link>javascript:alert(1)</link><guid>d</guid>'
           '<pubDate>Sat, 08 Jul 2023 03:00:00 GMT</pubDate></item></channel></rss>')
    items = parse_feed("x", rss, now)
    assert [(i.item_id, i.url) for i in items] == [("a", "https://mp.weixin.qq.com/s/a"), ("d", None)]
    js = ('{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": 5, "url": "https://x/a", '
          '"date_published": "2023-07-08T10:00:00+08:00", "title": ["x"]}, '
          '{"id": "b", "url": "https://x/b", "date_published": "2023-07-08T10:00:00"}, "junk"]}')
    items = parse_feed("x", js, now)
    # a number id falls back to the link; a time without its zone is not a time
    assert [(i.item_id, i.title) for i in items] == [("https://x/a", None)]


def test_datacube_reads_back_to_what_it_knows() -> None:
    now = local("2023-07-20T06:30:00")
    days = datacube.days_to_read(None, now)
    assert days[0].isoformat() == "2023-07-19" and len(days) == datacube.MAX_DAYS
    assert len(datacube.days_to_read(local("2023-07-18T00:00:00"), now)) == datacube.MIN_DAYS
    assert len(datacube.days_to_read(local("2023-07-10T00:00:00"), now)) == 10
    # the last successful look read up to the day before it
    assert len(datacube.days_to_read(local("2023-07-10T00:00:00"), now, local("2023-07-19T06:30:00"))) == 3


def test_blind_reason_names_the_sources() -> None:
    assert account_blind_reason(["freepublish"], False) == "更新情况无法判定：仅有发表接口，看不到群发"
    assert account_blind_reason(["freepublish", "material"], False) == \
        "更新情况无法判定：仅有发表接口、素材库，看不到群发"
    assert account_blind_reason(["freepublish"], True) == ""
    assert account_blind_reason(["datacube"], False) == ""


# -- the product on it ------------------------------------------------------------------------


def config_for(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in demo_secret_env(server.scenario).items():
        monkeypatch.setenv(name, value)
    base = server.base_url
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""
store: sqlite:///{tmp_path / 'w.db'}
wechat: {{api_base: "{base}"}}
checks: {{allow_private: [127.0.0.1/32], timeout_s: 3, canary_urls: ["{base}/_emu/canary"]}}
accounts:
  - {{id: mass-feed, name: 群发有订阅源（模拟）, unit: 单位一（模拟）, category: 乡镇街道,
     appid: wx0000000000000001, secret_env: T_S1, feed: "{base}/feeds/mass-feed.atom"}}
  - {{id: mass-only, name: 仅群发（模拟）, unit: 单位二（模拟）, category: 乡镇街道,
     appid: wx0000000000000002, secret_env: T_S2}}
  - {{id: both, name: 群发和发表（模拟）, unit: 单位三（模拟）, category: 乡镇街道,
     appid: wx0000000000000003, secret_env: T_S3}}
""", encoding="utf-8")
    return path


def test_freshness_and_privacy_rest_on_sources_that_see_the_account(
        world: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_for(world, tmp_path, monkeypatch)
    # both's datacube is refused and it has no feed: freepublish alone cannot see its 群发 half.
    httpx.post(f"{world.base_url}/_emu/faults", json={"account": "both", "endpoint": SUMMARY,
                                                      "kind": "unauthorized"}, timeout=5).raise_for_status()
    out: dict[str, Any] = {}

    async def body(h: ProbeHarness) -> None:
        rows = {r["account"]: r for r in await h.round("freshness", local("2023-07-09T06:30:00"))}
        out["rows"] = rows
        out["items"] = {a: h.store.content_between(START - timedelta(days=30), local("2023-07-10T00:00:00"),
                                                   account_id=a) for a in rows}
        out["privacy"] = {r["account"]: r for r in await h.round("privacy", local("2023-07-09T07:00:00"))}
        out["findings"] = h.store.privacy_findings_between(START, local("2023-07-10T00:00:00"))
        # a feed that fails once: datacube takes over, and the account is still judged
        httpx.post(f"{world.base_url}/_emu/faults", json={"account": "mass-feed", "endpoint": "/feeds",
                                                          "kind": "http500", "times": 1}, timeout=5)
        out["again"] = {r["account"]: r for r in await h.round("freshness", local("2023-07-10T06:30:00"))}
        for day in range(11, 26):  # daily rounds: the monitor watched the whole time
            await h.round("freshness", local(f"2023-07-{day}T06:30:00"))
        out["metrics"] = metrics_table(h.store, h.config, parse_period("2023-07-01..2023-07-31"),
                                       now=local("2023-07-25T12:00:00"))

    ProbeHarness.run(world, path, body)
    rows = out["rows"]

    row = rows["mass-feed"]
    assert row["status"] == "ok" and row["source"] == "feed+freepublish" and row["reason"] == ""
    assert row["last_update"] == "2023-07-06T10:00:00+08:00"  # 通知4 was deleted before it was seen
    assert {i.source for i in out["items"]["mass-feed"]} == {"feed"}

    row = rows["mass-only"]  # no feed: datacube sees its 群发 (by day, never today's)
    assert row["status"] == "ok" and row["source"] == "freepublish+datacube" and row["covers"] == ["mass", "publish"]
    assert sorted(to_local(i.published_at).isoformat() for i in out["items"]["mass-only"]) == [
        "2023-07-02T00:00:00+08:00", "2023-07-05T00:00:00+08:00"]
    assert {i.source for i in out["items"]["mass-only"]} == {"datacube"}

    row = rows["both"]
    assert row["status"] == "unverifiable" and row["covers"] == ["publish"]
    assert row["reason"].startswith("更新情况无法判定：仅有发表接口，看不到群发") and "48001" in row["reason"]
    publish = sorted(to_local(a.publish).isoformat() for a in world.scenario.account("both").articles
                     if a.via == "publish")
    assert sorted(to_local(i.published_at).isoformat() for i in out["items"]["both"]) == publish  # kept, scanned

    # Privacy: the 群发 article with a mobile number is found through the feed's link.
    assert out["privacy"]["mass-feed"]["status"] == "ok"
    leaks = [f for f in out["findings"] if f.account_id == "mass-feed"]
    assert [f.type for f in leaks] == ["mobile"] and "/mp/s/" in leaks[0].source and "*" in leaks[0].masked
    # mass-only's 群发 articles are known from datacube alone: no link, nothing to read; said so
    row = out["privacy"]["mass-only"]
    assert row["status"] == "ok" and row["scanned"] == 0 and row["reason"].startswith("2篇群发文章仅见于群发数据接口")

    row = out["again"]["mass-feed"]
    assert row["status"] == "ok" and "datacube" in row["source"] and "HTTP 500" in row["reason"]

    # The update rule: judged where a source sees 群发 (both stale since early July), 无法判定 with
    # the reason where none does (both: its last 发表 article is as old, yet it is not failed).
    m = {r["account_id"]: r for r in out["metrics"].to_dict("records")}
    # (the day datacube stood in for the feed, it saw only what it had to leave out: 通知3 read
    # since before the oldest day it read)
    assert m["mass-feed"]["update_sources"] == ["feed"] and m["mass-feed"]["update_blind"] == ""
    assert m["mass-only"]["update_sources"] == ["datacube"]
    for acct in ("mass-feed", "mass-only"):
        assert m[acct]["verdict"] == "不合格" and "未更新" in m[acct]["reasons"], m[acct]
    blind = "更新情况无法判定：仅有发表接口，看不到群发"
    assert m["both"]["update_sources"] == ["freepublish"] and m["both"]["update_blind"] == blind
    assert m["both"]["days_since_update"] > 14
    assert "未更新" not in m["both"]["reasons"] and blind in m["both"]["reasons"] and not m["both"]["failed_rules"]


def test_datacube_answers_are_checked() -> None:
    from monitor.wechat import answers as A
    from monitor.wechat import errors as E

    ok = A.check(A.ArticleSummary, {"list": [{"ref_date": "2023-07-05", "msgid": "2247483648_1", "title": "t",
                                              "int_page_read_user": "12", "extra": 1}]})
    assert ok["list"] == [{"ref_date": "2023-07-05", "msgid": "2247483648_1", "title": "t", "int_page_read_user": 12}]
    for bad in ({"list": [{"ref_date": "2023-02-30", "msgid": "1_1"}]}, {"list": [{"ref_date": 20230705,
                                                                                   "msgid": "1_1"}]},
                {"list": [{"ref_date": "2023-07-05", "msgid": "../x"}]}, {"list": {"a": 1}},
                {"list": [{"ref_date": "2023-07-05", "msgid": "1_1", "int_page_read_user": -3}]}):
        with pytest.raises(E.MalformedAnswer):
            A.check(A.ArticleSummary, bad, "datacube/getarticlesummary")


LAG_SCENARIO: dict[str, Any] = {
    "seed": 8,
    "clock": {"start": "2023-07-01T00:00:00+08:00"},
    "accounts": [
        # the feed service lost the account on 07-04; the account goes on publishing (both ways)
        {"id": "lagging", "name": "订阅源掉线（模拟）", "appid": "wx0000000000000011", "secret_env": "T_L1",
         "publication": "both", "feed": True, "feed_until": "2023-07-04T00:00:00+08:00",
         "articles": [article(i, f"2023-07-0{i}") for i in range(1, 9)]},
        # a feed that never had anything: no evidence, and no API either
        {"id": "empty", "name": "空订阅源（模拟）", "appid": "wx0000000000000012", "secret_env": "T_L2",
         "feed": True, "feed_until": "2023-06-01T00:00:00+08:00",
         "articles": [article(1, "2023-07-02")]},
    ],
}


def test_a_feed_that_stopped_following_the_account_is_not_evidence(
        make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_emulator(LAG_SCENARIO, clock=VirtualClock(START))
    for name, value in demo_secret_env(server.scenario).items():
        monkeypatch.setenv(name, value)
    base = server.base_url
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""
store: sqlite:///{tmp_path / 'w.db'}
wechat: {{api_base: "{base}"}}
checks: {{allow_private: [127.0.0.1/32], timeout_s: 3, canary_urls: ["{base}/_emu/canary"]}}
accounts:
  - {{id: lagging, name: 订阅源掉线（模拟）, unit: 单位（模拟）, category: 乡镇街道,
     appid: wx0000000000000011, secret_env: T_L1, feed: "{base}/feeds/lagging.rss"}}
  - {{id: empty, name: 空订阅源（模拟）, unit: 单位（模拟）, category: 乡镇街道, api: false,
     feed: "{base}/feeds/empty.json"}}
""", encoding="utf-8")
    out: dict[str, Any] = {}

    async def body(h: ProbeHarness) -> None:
        out["rows"] = {r["account"]: r for r in await h.round("freshness", local("2023-07-09T06:30:00"))}

    ProbeHarness.run(server, path, body)
    row = out["rows"]["lagging"]
    # freepublish saw 发表 articles newer than anything in the feed: datacube is read instead
    assert row["status"] == "ok" and row["source"] == "freepublish+datacube", row
    assert "订阅源未同步" in row["reason"]
    row = out["rows"]["empty"]
    assert row["status"] == "error" and "订阅源没有任何文章" in row["reason"] and row["last_update"] is None
