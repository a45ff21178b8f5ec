"""The follower-conversations probe over real HTTP against the emulator, on a virtual clock.

Expected figures are computed here from the emulator's own records (fetched with
plain httpx calls and paired by a deliberately naive rule: the first 2002 to the
same openid after the message) and from the scenario's generator settings, never
from the probe's code.
"""

from __future__ import annotations

import math
import statistics
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI
from monitor.config import Account
from monitor.metrics import compute
from monitor.period import parse_period
from monitor.wechat.errors import MalformedAnswer
from probes import conversations

try:
    from probe_harness import ProbeHarness
    from store_fixtures import follower_days_between
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness
    from tests.store_fixtures import follower_days_between

MSGRECORD = "customservice/msgrecord/getmsglist"
DAY = date(2023, 7, 4)  # a Tuesday; 07-05 is a Wednesday, both working days


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


class Harness(ProbeHarness):
    async def round(self, now: datetime, day: date | None = None,  # type: ignore[override]
                    accounts: list[Account] | None = None) -> dict[str, dict[str, Any]]:
        """The conversations job for ``day`` at ``now``, rows by account."""
        self.clock.set(now)
        rows = await conversations.run_round(self.ctx, accounts or self.config.accounts, None, day=day)
        return {r.account: r.to_json() for r in rows}

    def stored(self, day: date) -> dict[str, Any]:
        return {d.account_id: d for d in follower_days_between(self.store, day, day)}


run = Harness.run


# -- the independent reference ---------------------------------------------------------


def token(client: httpx.Client, server: EmulatorServer, account_id: str) -> str:
    cfg = server.world.accounts[account_id].cfg
    r = client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": cfg.appid,
                                                   "secret": cfg.secret, "force_refresh": False})
    return r.json()["access_token"]


def fetch_records(server: EmulatorServer, account_id: str, start: datetime, days: int) -> list[dict[str, Any]]:
    """Every record of ``days`` whole days from ``start``: one plain call per day (no paging needed here)."""
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        tok = token(client, server, account_id)
        for i in range(days):
            t0 = int(start.timestamp()) + i * 86400
            body = {"starttime": t0, "endtime": t0 + 86399, "msgid": 1, "number": 10000}
            data = client.post(f"/{MSGRECORD}", params={"access_token": tok}, json=body).json()
            assert data.get("errcode", 0) == 0, data
            assert len(data["recordlist"]) < 10000
            out.extend(data["recordlist"])
    return out


def reference(records: list[dict[str, Any]], day: date) -> tuple[int, int, list[float]]:
    """(messages, answered, reply minutes): each day-``day`` follower message and the first agent reply
    to the same openid after it, counted when it came before the end of the next day."""
    start = int(at(day, 0).timestamp())
    end, deadline = start + 86400, start + 2 * 86400
    messages, minutes = 0, []
    for i, rec in enumerate(records):
        if rec["opercode"] != 2003 or not start <= rec["time"] < end:
            continue
        messages += 1
        reply = next((r for r in records[i + 1:] if r["opercode"] == 2002 and r["openid"] == rec["openid"]), None)
        if reply is not None and reply["time"] < deadline:
            minutes.append((reply["time"] - rec["time"]) / 60)
    return messages, len(minutes), minutes


# -- the demo world -------------------------------------------------------------------


def test_demo_day_matches_the_emulators_records(emulator: EmulatorServer, demo_config) -> None:
    path = demo_config(emulator)

    async def body(h: Harness) -> None:
        rows = await h.round(at(DAY + timedelta(days=2), 6, 30), DAY)  # Thursday morning: 07-04 is settled
        stored = h.stored(DAY)
        ok = [a for a in rows if rows[a]["status"] == "ok"]
        assert set(rows) - set(ok) == {"zh-qingshan"}  # the one account with the feature off
        answered_some = 0
        for acct in ok:
            cfg = h.server.world.accounts[acct].cfg
            messages, answered, minutes = reference(fetch_records(h.server, acct, at(DAY, 0), 2), DAY)
            # Generator truth: no tester wrote, so the day holds exactly the background followers.
            assert messages == cfg.followers_per_day, acct
            if cfg.operator.mode in ("never", "autoreply_only", "late"):
                assert answered == 0, acct  # late operators need 5+ working days
            row, day_row = rows[acct], stored[acct]
            assert (row["messages"], row["answered"]) == (messages, answered), acct
            assert (day_row.messages, day_row.answered) == (messages, answered), acct
            assert row["day"] == "2023-07-04" and row["final"] is True and row["reason"] == ""
            if minutes:
                answered_some += 1
                assert day_row.median_reply_minutes == pytest.approx(statistics.median(minutes))
                assert row["median_reply_minutes"] == round(statistics.median(minutes), 1)
                assert day_row.p90_reply_minutes is not None
                assert min(minutes) <= day_row.median_reply_minutes <= day_row.p90_reply_minutes <= max(minutes)
            else:
                assert day_row.median_reply_minutes is None and row["median_reply_minutes"] is None
        assert answered_some >= 8  # the comparison is not vacuous

    run(emulator, path, body)


def test_feature_off_and_config_problems_are_unverifiable(emulator: EmulatorServer, demo_config,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path = demo_config(emulator)

    async def body(h: Harness) -> None:
        # 07-02: bm-yjj's IP is not whitelisted until 07-03 (a scenario fault).
        picked = [h.config.account(a) for a in ("zh-qingshan", "bm-yjj", "jd-binhe")]
        no_api = h.config.account("jb-fabu").model_copy(update={"api": False})
        rows = await h.round(at(date(2023, 7, 2), 8), None, [*picked, no_api])
        assert rows["zh-qingshan"]["status"] == "unverifiable"
        assert rows["zh-qingshan"]["reason"] == "未开通新版客服功能（65400），无法统计网民留言答复情况"
        assert rows["bm-yjj"]["status"] == "unverifiable" and "IP白名单" in rows["bm-yjj"]["reason"]
        assert rows["jb-fabu"]["status"] == "unverifiable" and "无接口权限" in rows["jb-fabu"]["reason"]
        assert rows["jd-binhe"]["status"] == "ok" and rows["jd-binhe"]["day"] == "2023-07-01"
        for acct in ("zh-qingshan", "bm-yjj", "jb-fabu"):
            assert rows[acct]["messages"] is None and rows[acct]["median_reply_minutes"] is None
        assert set(h.stored(date(2023, 7, 1))) == {"jd-binhe"}  # nothing invented for the others

        monkeypatch.delenv(h.config.account("jd-xinqiao").secret_env or "")
        rows = await h.round(at(date(2023, 7, 2), 8), None, [h.config.account("jd-xinqiao")])
        assert rows["jd-xinqiao"]["status"] == "unverifiable" and "AppSecret" in rows["jd-xinqiao"]["reason"]

    run(emulator, path, body)


def test_busy_or_partial_read_is_an_error_and_stores_nothing(emulator: EmulatorServer, demo_config) -> None:
    path = demo_config(emulator)
    base = emulator.base_url

    async def body(h: Harness) -> None:
        now = at(DAY + timedelta(days=2), 6, 30)
        first = await h.round(now, DAY, [h.config.account("jb-fabu")])
        assert first["jb-fabu"]["status"] == "ok"
        before = h.stored(DAY)["jb-fabu"]

        httpx.post(f"{base}/_emu/faults", json={"account": "jb-fabu", "endpoint": MSGRECORD, "kind": "busy"},
                   timeout=5).raise_for_status()
        # quota after one call: the first 24 h window is read, the second fails -> all or nothing
        httpx.post(f"{base}/_emu/faults", json={"account": "bm-jyj", "endpoint": MSGRECORD, "kind": "quota",
                                                "daily_limit": 1}, timeout=5).raise_for_status()
        rows = await h.round(now, DAY, [h.config.account("jb-fabu"), h.config.account("bm-jyj")])
        assert rows["jb-fabu"]["status"] == "error" and "繁忙" in rows["jb-fabu"]["reason"]
        assert rows["bm-jyj"]["status"] == "error" and "45009" in rows["bm-jyj"]["reason"]
        assert rows["jb-fabu"]["messages"] is None and rows["bm-jyj"]["answered"] is None
        after = h.stored(DAY)
        assert "bm-jyj" not in after
        assert after["jb-fabu"] == before  # the earlier measurement stays untouched

        rows = await h.round(now, DAY - timedelta(days=1), [h.config.account("jb-fabu")])
        assert rows["jb-fabu"]["status"] == "error"
        assert h.stored(DAY - timedelta(days=1)) == {}

    run(emulator, path, body)


def test_rerun_is_idempotent_and_feeds_the_metrics(emulator: EmulatorServer, demo_config) -> None:
    path = demo_config(emulator)
    days = [DAY, DAY + timedelta(days=1)]

    async def body(h: Harness) -> None:
        now = at(DAY + timedelta(days=3), 7)
        for day in days:
            await h.round(now, day)
        snapshot = {d: {a: (r.messages, r.answered, r.median_reply_minutes, r.p90_reply_minutes)
                        for a, r in h.stored(d).items()} for d in days}
        for day in days:
            await h.round(now, day)  # again: the same rows, replaced, none added
        rows = follower_days_between(h.store, days[0], days[-1])
        assert len(rows) == len({(r.account_id, r.day) for r in rows}) == 2 * (len(h.config.accounts) - 1)
        assert {d: {a: (r.messages, r.answered, r.median_reply_minutes, r.p90_reply_minutes)
                    for a, r in h.stored(d).items()} for d in days} == snapshot

        period = parse_period("2023-07-04..2023-07-05")
        df = compute(h.store, h.config, period, now=now).set_index("account_id")
        for acct in ("jb-fabu", "bm-cgj", "jd-binhe", "bm-wjw"):
            msgs = ans = 0
            for day in days:
                m, a, _ = reference(fetch_records(h.server, acct, at(day, 0), 2), day)
                msgs, ans = msgs + m, ans + a
            assert df.loc[acct, "follower_messages"] == msgs
            assert df.loc[acct, "follower_answered"] == ans
            assert df.loc[acct, "follower_response_rate"] == pytest.approx(ans / msgs)
        assert df.loc["bm-wjw", "follower_answered"] == 0  # operator never answers
        assert math.isnan(df.loc["bm-wjw", "follower_median_reply_minutes"])
        assert math.isnan(df.loc["zh-qingshan", "follower_response_rate"])  # feature off: nothing measured

    run(emulator, path, body)


# -- a hand-made conversation with known answers ------------------------------------------

APPID = "wx0123456789abcdef"
CONFIG = """\
store: sqlite:///{db}
wechat: {{api_base: "{base}", timeout_s: 5}}
accounts:
  - {{id: hand, name: 手工（模拟）, unit: 测试单位（模拟）, category: 其他,
      appid: {appid}, secret_env: WXMON_TEST_HAND}}
"""


def test_pairing_rules_on_a_hand_made_day(make_emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of messages, a reply before the message, a late answer, the next day's messages."""
    from monitor.clock import VirtualClock

    clock = VirtualClock(at(DAY - timedelta(days=1), 22))
    server = make_emulator({"seed": 1, "accounts": [{
        "id": "hand", "name": "手工（模拟）", "appid": APPID, "secret": "s", "operator": {"mode": "never"},
        "autoreply": {"default": "已收到（自动回复）"}}]}, clock)  # auto replies are not in msgrecord
    monkeypatch.setenv("WXMON_TEST_HAND", "s")
    path = tmp_path / "accounts.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "w.db", base=server.base_url, appid=APPID), encoding="utf-8")
    client = httpx.Client(base_url=server.base_url, timeout=5)
    openids: dict[str, str] = {}

    def follower(who: str, when: datetime) -> None:
        clock.set(when)
        r = client.post("/_emu/follower/send", json={"account": "hand", "tester": who, "text": "请问如何办理？"})
        openids[who] = r.raise_for_status().json()["openid"]

    def agent(who: str, when: datetime) -> None:
        clock.set(when)
        r = client.post("/cgi-bin/message/custom/send", params={"access_token": token(client, server, "hand")},
                        json={"touser": openids[who], "msgtype": "text", "text": {"content": "您好，已受理。"}})
        assert r.json()["errcode"] == 0

    d0, d1, d2 = DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)
    follower("x", at(d0, 23))  # yesterday's message ...
    agent("x", at(d1, 0, 30))  # ... answered today: answers nothing of today
    follower("x", at(d1, 9))
    agent("x", at(d1, 9, 20))  # 20
    for mm in (0, 5, 10):
        follower("a", at(d1, 10, mm))
    agent("a", at(d1, 10, 30))  # one reply for a run of three: 30, 25, 20
    follower("c", at(d1, 22))
    follower("b", at(d1, 23))
    follower("e", at(d2, 9))  # tomorrow's message: not counted
    agent("e", at(d2, 9, 10))

    async def body(h: Harness) -> None:
        rows = await h.round(at(d2, 12), None)  # default day: yesterday, still provisional
        assert rows["hand"] == {"account": "hand", "status": "ok", "reason": conversations.PROVISIONAL_REASON,
                                "day": "2023-07-04", "messages": 6, "answered": 4, "median_reply_minutes": 22.5,
                                "p90_reply_minutes": 28.5, "final": False}
        agent("b", at(d2, 20))  # 1260 minutes: still within the next day
        agent("c", at(d2 + timedelta(days=1), 1))  # after the next day: unanswered
        rows = await h.round(at(d2 + timedelta(days=1), 6), d1)
        assert rows["hand"]["final"] is True and rows["hand"]["reason"] == ""
        (stored,) = follower_days_between(h.store, d0, d2)  # the provisional row was replaced
        # answered minutes 20, 20, 25, 30, 1260: median 25; p90 by linear interpolation 30 + 0.6 * 1230
        assert (stored.day, stored.messages, stored.answered) == (d1, 6, 5)
        assert stored.median_reply_minutes == 25.0
        assert stored.p90_reply_minutes == pytest.approx(768.0)

    try:
        run(server, path, body)
    finally:
        client.close()


def test_pair_ignores_other_opercodes_and_rejects_malformed_records() -> None:
    t0 = 1_690_000_000  # times before the platform existed are malformed (monitor.wechat.answers)
    recs = conversations.parse_records([
        {"openid": "o1", "opercode": 1000, "time": t0 + 50},  # session event
        {"openid": "o1", "opercode": "2003", "time": str(t0 + 100), "text": "x"},
        {"openid": "o2", "opercode": 2002, "time": t0 + 130},  # another follower's reply
        {"openid": "o1", "opercode": 2002, "time": t0 + 160},
    ])
    tally = conversations.pair(recs, t0, t0 + 1000, t0 + 2000)
    assert (tally.messages, tally.answered, tally.median, tally.p90) == (1, 1, 1.0, 1.0)
    with pytest.raises(MalformedAnswer):
        conversations.parse_records([{"openid": "", "opercode": 2003, "time": t0}])
    with pytest.raises(MalformedAnswer):
        conversations.parse_records([{"openid": "o", "opercode": 2002}])
    with pytest.raises(MalformedAnswer):
        conversations.parse_records([{"openid": "o", "opercode": 2002, "time": 1}])
