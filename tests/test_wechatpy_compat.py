"""The unmodified wechatpy WeChatClient against the emulator: only its base URLs are pointed at it."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy_compat_support import point_at, wechatpy_client

from monitor.clock import SHANGHAI


def plain_client(server, acct, **kwargs) -> WeChatClient:
    return point_at(WeChatClient(acct.appid, acct.secret, **kwargs), server.base_url)


def api_menu_account(server):
    return next(a for a in server.scenario.accounts if a.menu_source == "api")


def admin_menu_account(server):
    return next(a for a in server.scenario.accounts if a.menu_source == "admin")


def test_token_then_menu_info(emulator):
    acct = admin_menu_account(emulator)
    client = plain_client(emulator, acct)
    token = client.fetch_access_token()
    assert token["expires_in"] == 7200 and token["access_token"]
    info = client.menu.get_menu_info()
    assert info["is_menu_open"] == 1
    top = info["selfmenu_info"]["button"]
    assert any("sub_button" in b and isinstance(b["sub_button"]["list"], list) for b in top)


def test_token_call_invalidates_previous_after_grace(emulator):
    acct = admin_menu_account(emulator)
    first = plain_client(emulator, acct, auto_retry=False)
    first.fetch_access_token()
    second = plain_client(emulator, acct, auto_retry=False)
    second.fetch_access_token()
    first.menu.get_menu_info()  # still inside the grace period
    emulator.clock.advance(timedelta(seconds=301))
    with pytest.raises(WeChatClientException) as info:
        first.menu.get_menu_info()
    assert info.value.errcode == 40001
    second.menu.get_menu_info()


def test_stable_token_is_isolated_from_token(emulator):
    acct = admin_menu_account(emulator)
    client = plain_client(emulator, acct, auto_retry=False)
    body = {"grant_type": "client_credential", "appid": acct.appid, "secret": acct.secret, "force_refresh": False}
    stable = client._http.post(f"{emulator.base_url}/cgi-bin/stable_token", json=body).json()
    again = client._http.post(f"{emulator.base_url}/cgi-bin/stable_token", json=body).json()
    assert stable["access_token"] == again["access_token"]
    assert again["expires_in"] <= stable["expires_in"]
    client.fetch_access_token()  # a token call does not touch the stable token
    emulator.clock.advance(timedelta(seconds=400))
    stable_client = WeChatClient(acct.appid, acct.secret, access_token=stable["access_token"], auto_retry=False)
    point_at(stable_client, emulator.base_url).menu.get_menu_info()


def test_our_stable_token_client_never_calls_token(emulator):
    acct = admin_menu_account(emulator)
    plain = plain_client(emulator, acct, auto_retry=False)
    plain.fetch_access_token()
    ours = wechatpy_client(emulator.base_url, acct.appid, acct.secret)
    paths: list[str] = []  # every request our client made, as the emulator received it
    ours._http.hooks["response"].append(lambda response, *args, **kwargs: paths.append(urlsplit(response.url).path))
    assert ours.menu.get_menu_info()["is_menu_open"] == 1
    ours.fetch_access_token()  # an explicit refresh too
    assert "/cgi-bin/token" not in paths
    assert paths.count("/cgi-bin/stable_token") == 2 and "/cgi-bin/get_current_selfmenu_info" in paths
    # What a token call would do: invalidate the account's own server's token once the grace period is over.
    emulator.clock.advance(timedelta(seconds=400))
    assert plain.menu.get_menu_info()["is_menu_open"] == 1  # raises 40001 if we had called token


def test_api_menu_and_no_menu(emulator):
    with_api = plain_client(emulator, api_menu_account(emulator))
    menu = with_api.menu.get()
    assert isinstance(menu["menu"]["button"], list)
    without = plain_client(emulator, admin_menu_account(emulator))
    assert without.menu.get() is None  # wechatpy maps 46003 (no API menu) to None


def test_autoreply_info(emulator):
    client = plain_client(emulator, admin_menu_account(emulator))
    rules = client.message.get_autoreply_info()
    assert "is_autoreply_open" in rules


def test_custom_send_and_records(emulator):
    acct = admin_menu_account(emulator)
    emulator.clock.set(datetime(2023, 7, 3, 10, 0, tzinfo=SHANGHAI))
    sent = httpx.post(f"{emulator.base_url}/_emu/follower/send",
                      json={"account": acct.id, "text": "请问怎么办理居住证？", "tester": "t1"}).json()
    client = plain_client(emulator, acct)
    assert client.message.send_text(sent["openid"], "您好，请携带身份证到服务大厅办理。")["errcode"] == 0
    emulator.clock.advance(timedelta(minutes=5))
    start = int(datetime(2023, 7, 3, 0, 0, tzinfo=SHANGHAI).timestamp())
    records = client.customservice.get_records(start, start + 86400 - 1)["recordlist"]
    mine = [r for r in records if r["openid"] == sent["openid"]]
    assert [r["opercode"] for r in mine][:2] == [2003, 2002]
    assert mine[0]["text"] == "请问怎么办理居住证？"
    emulator.clock.advance(timedelta(hours=49))
    with pytest.raises(WeChatClientException) as info:
        client.message.send_text(sent["openid"], "还在吗")
    assert info.value.errcode == 45015


def test_records_window_longer_than_a_day_is_refused(emulator):
    client = plain_client(emulator, admin_menu_account(emulator))
    with pytest.raises(WeChatClientException) as info:
        client.customservice.get_records(1688140800, 1688140800 + 2 * 86400)
    assert info.value.errcode == 65417
