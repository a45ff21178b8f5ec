"""Faults per account and endpoint, from the scenario and at run time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from emulator.server import EmulatorServer
from monitor.clock import VirtualClock

START = datetime.fromisoformat("2023-07-03T10:00:00+08:00")
MENU = "/cgi-bin/get_current_selfmenu_info"


def scenario(faults: list[dict[str, Any]]) -> dict[str, Any]:
    return {"seed": 7, "clock": {"start": START.isoformat()}, "accounts": [
        {"id": "a1", "name": "甲（模拟）", "appid": "wxa1", "secret": "sa1", "faults": faults,
         "menu": [{"name": "服务", "sub": [{"name": "指南", "type": "view", "page": "g"}]}],
         "pages": {"g": {"title": "指南"}}},
        {"id": "a2", "name": "乙（模拟）", "appid": "wxa2", "secret": "sa2"},
    ]}


def stable(client: httpx.Client, appid: str, secret: str) -> dict[str, Any]:
    return client.post("/cgi-bin/stable_token",
                       json={"grant_type": "client_credential", "appid": appid, "secret": secret}).json()


def call_menu(client: httpx.Client, token: str) -> httpx.Response:
    return client.get(MENU, params={"access_token": token})


@pytest.fixture
def world_with(make_emulator: Callable[..., EmulatorServer]):
    def make(faults: list[dict[str, Any]]) -> tuple[EmulatorServer, httpx.Client, str]:
        server = make_emulator(scenario(faults))
        client = httpx.Client(base_url=server.base_url, timeout=5)
        token = stable(client, "wxa1", "sa1").get("access_token", "")
        return server, client, token

    return make


@pytest.mark.parametrize("kind,code", [("busy", -1), ("token", 40001), ("unauthorized", 48001)])
def test_errcode_faults(world_with, kind: str, code: int) -> None:
    _, client, token = world_with([{"endpoint": MENU, "kind": kind}])
    assert call_menu(client, token).json()["errcode"] == code
    other = stable(client, "wxa2", "sa2")["access_token"]
    assert "is_menu_open" in call_menu(client, other).json()  # other accounts are unaffected


def test_quota_fault_after_daily_limit(world_with) -> None:
    server, client, token = world_with([{"endpoint": MENU, "kind": "quota", "daily_limit": 2}])
    assert [("errcode" in call_menu(client, token).json()) for _ in range(3)] == [False, False, True]
    assert call_menu(client, token).json()["errcode"] == 45009
    server.clock.set(datetime.fromisoformat("2023-07-04T00:00:01+08:00"))  # type: ignore[attr-defined]
    token = stable(client, "wxa1", "sa1")["access_token"]
    assert "is_menu_open" in call_menu(client, token).json()


def test_ip_fault_hits_token_calls_only(world_with) -> None:
    _, client, token = world_with([{"endpoint": "*", "kind": "ip", "until": "2023-07-03T11:00:00+08:00"}])
    assert token == ""
    answer = stable(client, "wxa1", "sa1")
    assert answer["errcode"] == 40164 and "whitelist" in answer["errmsg"]
    params = {"grant_type": "client_credential", "appid": "wxa1", "secret": "sa1"}
    assert client.get("/cgi-bin/token", params=params).json()["errcode"] == 40164


def test_window_and_times(world_with) -> None:
    server, client, token = world_with([
        {"endpoint": MENU, "kind": "busy", "from": "2023-07-03T10:30:00+08:00", "until": "2023-07-03T11:00:00+08:00"},
        {"endpoint": "*", "kind": "http500", "from": "2023-07-03T11:30:00+08:00", "times": 2}])
    assert "is_menu_open" in call_menu(client, token).json()
    server.clock.advance(timedelta(minutes=40))  # type: ignore[attr-defined]
    assert call_menu(client, token).json()["errcode"] == -1
    server.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    assert "is_menu_open" in call_menu(client, token).json()
    server.clock.advance(timedelta(minutes=30))  # type: ignore[attr-defined]
    assert [call_menu(client, token).status_code for _ in range(3)] == [500, 500, 200]


def test_nonjson_and_reset(world_with) -> None:
    _, client, token = world_with([{"endpoint": MENU, "kind": "nonjson", "times": 1},
                                   {"endpoint": "/cgi-bin/get_current_autoreply_info", "kind": "reset", "times": 1}])
    r = call_menu(client, token)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    with pytest.raises(httpx.TransportError):
        client.get("/cgi-bin/get_current_autoreply_info", params={"access_token": token})
    assert client.get("/cgi-bin/get_current_autoreply_info", params={"access_token": token}).status_code == 200


def test_slow_fault_and_page_fault(world_with) -> None:
    _, client, token = world_with([{"endpoint": MENU, "kind": "slow", "delay_s": 0.3, "times": 1},
                                   {"endpoint": "/site/a1/g", "kind": "http500"}])
    began = time.monotonic()
    assert "is_menu_open" in call_menu(client, token).json()
    assert time.monotonic() - began >= 0.3
    assert client.get("/site/a1/g").status_code == 500


def test_runtime_faults(world_with) -> None:
    _, client, token = world_with([])
    added = client.post("/_emu/faults", json={"account": "a1", "endpoint": MENU, "kind": "busy", "times": 5}).json()
    assert added["id"] and added["remaining"] == 5
    assert call_menu(client, token).json()["errcode"] == -1
    listed = client.get("/_emu/faults").json()["faults"]
    assert listed[0]["remaining"] == 4
    assert client.delete("/_emu/faults", params={"account": "a1"}).json() == {"removed": 1}
    assert "is_menu_open" in call_menu(client, token).json()
    assert client.post("/_emu/faults", json={"account": "zz", "kind": "busy"}).status_code == 400
    assert client.post("/_emu/faults", json={"account": "a1", "kind": "nope"}).status_code == 400


def test_virtual_clock_is_shared(make_emulator: Callable[..., EmulatorServer]) -> None:
    clock = VirtualClock(START)
    server = make_emulator(scenario([]), clock=clock)
    assert server.clock is clock
    clock.advance(3600)
    assert httpx.get(server.base_url + "/_emu/clock").json()["now"] == "2023-07-03T11:00:00+08:00"
