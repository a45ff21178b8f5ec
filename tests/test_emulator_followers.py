"""Followers and operators: auto-replies at once, human replies in working time, determinism."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from emulator.operators import add_working_minutes, is_workday, working_minutes_between
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, to_local

START = "2023-07-03T10:00:00+08:00"  # a Monday


def account(acct_id: str, operator: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": acct_id, "name": f"{acct_id}（模拟）", "appid": f"wx{acct_id}", "secret": "s",
            "operator": operator, **extra}


AUTOREPLY = {"default": "已收到（自动回复）",
             "keywords": [{"keywords": ["社保"], "reply": "社保请到受理中心（自动回复）"}]}


def scenario(seed: int = 5, start: str = START) -> dict[str, Any]:
    return {"seed": seed, "clock": {"start": start}, "accounts": [
        account("normal", {"median_minutes": 60, "p90_minutes": 240, "workers": ["小王"]}, autoreply=AUTOREPLY),
        account("exact", {"median_minutes": 60, "p90_minutes": 60}),
        account("late", {"mode": "late", "late_working_days": 4, "median_minutes": 30, "p90_minutes": 30}),
        account("never", {"mode": "never"}),
        account("autoonly", {"mode": "autoreply_only"}, autoreply=AUTOREPLY),
    ]}


def send(client: httpx.Client, acct: str, text: str, tester: str = "t1") -> dict[str, Any]:
    r = client.post("/_emu/follower/send", json={"account": acct, "text": text, "tester": tester})
    assert r.status_code == 200
    return r.json()


def replies(client: httpx.Client, acct: str, tester: str = "t1", since: str | None = None) -> list[dict[str, Any]]:
    params = {"account": acct, "tester": tester, **({"since": since} if since else {})}
    return client.get("/_emu/follower/replies", params=params).json()["replies"]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def in_working_time(when: datetime) -> bool:
    local = to_local(when)
    minutes = local.hour * 60 + local.minute
    return is_workday(local.date()) and (540 <= minutes <= 720 or 810 <= minutes <= 1050)


def test_auto_reply_at_once_and_human_later(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(scenario())
    with httpx.Client(base_url=server.base_url) as client:
        sent = send(client, "normal", "请问社保卡怎么补办？")
        assert sent["sent_at"] == START and sent["openid"].startswith("o")
        assert replies(client, "normal") == []  # not yet: the auto reply lands a second later
        server.clock.advance(1)
        now = replies(client, "normal", since=sent["sent_at"])
        assert [(r["kind"], r["text"]) for r in now] == [("auto", "社保请到受理中心（自动回复）")]
        assert at(now[0]["at"]) == at(START) + timedelta(seconds=1)
        assert replies(client, "normal", since=now[0]["at"]) == []
        human_at = server.world.accounts["normal"].inquiries[0].human_reply_at
        assert human_at is not None and human_at > at(START) and in_working_time(human_at)
        server.clock.set(human_at - timedelta(seconds=1))
        assert [r["kind"] for r in replies(client, "normal")] == ["auto"]
        server.clock.set(human_at)
        got = replies(client, "normal", since=now[0]["at"])
        assert [r["kind"] for r in got] == ["human"] and at(got[0]["at"]) == human_at
        other = send(client, "normal", "你好")
        server.clock.advance(1)
        assert [r["text"] for r in replies(client, "normal", since=other["sent_at"])] == ["已收到（自动回复）"]


def test_msgrecord_shows_follower_and_agent(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(scenario())
    with httpx.Client(base_url=server.base_url) as client:
        send(client, "normal", "请问社保卡怎么补办？")
        human_at = server.world.accounts["normal"].inquiries[0].human_reply_at
        assert human_at is not None
        server.clock.set(human_at + timedelta(minutes=1))
        token = client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential",
                                                          "appid": "wxnormal", "secret": "s"}).json()["access_token"]
        day = int(at("2023-07-03T00:00:00+08:00").timestamp())
        body = {"starttime": day, "endtime": day + 86399, "msgid": 1, "number": 100}
        records = client.post("/customservice/msgrecord/getmsglist", params={"access_token": token},
                              json=body).json()["recordlist"]
        if to_local(human_at).date() != date(2023, 7, 3):
            body = {**body, "starttime": int(human_at.timestamp()) - 10, "endtime": int(human_at.timestamp())}
            records += client.post("/customservice/msgrecord/getmsglist", params={"access_token": token},
                                   json=body).json()["recordlist"]
        assert [r["opercode"] for r in records] == [2003, 2002]
        assert records[1]["worker"] == "小王" and records[1]["time"] == int(human_at.timestamp())
        assert records[0]["openid"] == records[1]["openid"]


def test_holiday_is_skipped(make_emulator: Callable[..., EmulatorServer]) -> None:
    # Thursday 2023-09-28 evening; 09-29..10-06 is the National Day holiday, 10-07 (Sat) a make-up working day
    server = make_emulator(scenario(start="2023-09-28T20:00:00+08:00"))
    with httpx.Client(base_url=server.base_url) as client:
        send(client, "exact", "国庆期间可以办理吗？")
        human_at = server.world.accounts["exact"].inquiries[0].human_reply_at
        assert human_at is not None
        assert to_local(human_at) == datetime(2023, 10, 7, 10, 0, tzinfo=SHANGHAI)
        server.clock.set(datetime(2023, 10, 6, 23, 0, tzinfo=SHANGHAI))
        assert replies(client, "exact") == []
        server.clock.set(datetime(2023, 10, 7, 10, 0, tzinfo=SHANGHAI))
        assert [r["kind"] for r in replies(client, "exact")] == ["human"]


def test_operator_modes(make_emulator: Callable[..., EmulatorServer]) -> None:
    server = make_emulator(scenario())
    with httpx.Client(base_url=server.base_url) as client:
        for acct in ("late", "never", "autoonly"):
            send(client, acct, "请问社保怎么交？")
        server.clock.set(datetime(2023, 8, 30, tzinfo=SHANGHAI))
        late = replies(client, "late")
        assert [r["kind"] for r in late] == ["human"]
        assert working_minutes_between(at(START), at(late[0]["at"])) >= 4 * 390
        assert replies(client, "never") == []
        assert [r["kind"] for r in replies(client, "autoonly")] == ["auto"]
        inquiries = server.world.truth(at(START), at("2023-08-30T00:00:00+08:00"))["accounts"]
        assert inquiries["never"]["inquiries"][0]["human_reply_at"] is None
        assert inquiries["autoonly"]["inquiries"][0]["auto_reply_at"] == "2023-07-03T10:00:01+08:00"


def test_deterministic_per_seed(make_emulator: Callable[..., EmulatorServer]) -> None:
    def reply_times(seed: int) -> list[datetime | None]:
        server = make_emulator(scenario(seed=seed))
        with httpx.Client(base_url=server.base_url) as client:
            for i in range(5):
                send(client, "normal", f"问题{i}", tester=f"t{i % 2}")
                server.clock.advance(3600 * 7)
        return [q.human_reply_at for q in server.world.accounts["normal"].inquiries]

    first = reply_times(11)
    assert reply_times(11) == first
    assert reply_times(12) != first
    assert all(t is not None and in_working_time(t) for t in first)


def test_background_followers(make_emulator: Callable[..., EmulatorServer]) -> None:
    data = scenario()
    data["accounts"][0]["followers_per_day"] = 4
    server = make_emulator(data)
    server.clock.set(datetime(2023, 7, 20, tzinfo=SHANGHAI))
    with httpx.Client(base_url=server.base_url) as client:
        token = client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential",
                                                          "appid": "wxnormal", "secret": "s"}).json()["access_token"]
        day = int(datetime(2023, 7, 12, tzinfo=SHANGHAI).timestamp())
        records = client.post("/customservice/msgrecord/getmsglist", params={"access_token": token},
                              json={"starttime": day, "endtime": day + 86399, "msgid": 1, "number": 100}
                              ).json()["recordlist"]
        assert sum(r["opercode"] == 2003 for r in records) == 4
        assert any(r["opercode"] == 2002 for r in records)


def test_working_time_arithmetic() -> None:
    friday_late = datetime(2023, 7, 7, 17, 0, tzinfo=SHANGHAI)
    assert to_local(add_working_minutes(friday_late, 60)) == datetime(2023, 7, 10, 9, 30, tzinfo=SHANGHAI)
    lunch = datetime(2023, 7, 3, 11, 30, tzinfo=SHANGHAI)
    assert to_local(add_working_minutes(lunch, 60)) == datetime(2023, 7, 3, 14, 0, tzinfo=SHANGHAI)
    assert is_workday(date(2023, 10, 7)) and not is_workday(date(2023, 10, 2))
    # beyond chinese_calendar's range: weekends only
    saturday = datetime(2030, 1, 5, 10, 0, tzinfo=SHANGHAI)
    assert to_local(add_working_minutes(saturday, 0)) == datetime(2030, 1, 7, 9, 0, tzinfo=SHANGHAI)
