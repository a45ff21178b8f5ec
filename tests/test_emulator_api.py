"""The emulator's platform API over real HTTP: tokens, shapes, error codes, quotas, wechatpy."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from emulator.server import EmulatorServer

BINHE = "jd-binhe"  # publishes by 群发, has a feed
FABU = "jb-fabu"  # publishes by 发表


def creds(server: EmulatorServer, account: str) -> tuple[str, str]:
    acct = server.scenario.account(account)
    return acct.appid, acct.secret


def token(client: httpx.Client, server: EmulatorServer, account: str = BINHE) -> str:
    appid, secret = creds(server, account)
    r = client.post("/cgi-bin/stable_token",
                    json={"grant_type": "client_credential", "appid": appid, "secret": secret})
    return r.json()["access_token"]


@pytest.fixture
def http(emulator: EmulatorServer):
    with httpx.Client(base_url=emulator.base_url, timeout=5) as client:
        yield client


def advance(server: EmulatorServer, seconds: float) -> None:
    server.clock.advance(timedelta(seconds=seconds))  # type: ignore[attr-defined]


def test_token_errors(emulator: EmulatorServer, http: httpx.Client) -> None:
    appid, secret = creds(emulator, BINHE)
    get = lambda **p: http.get("/cgi-bin/token", params={"grant_type": "client_credential", **p}).json()
    assert get(appid="wxnope", secret=secret)["errcode"] == 40013
    assert get(appid=appid, secret="wrong")["errcode"] == 40125
    assert http.get("/cgi-bin/token", params={"grant_type": "x", "appid": appid, "secret": secret}
                    ).json()["errcode"] == 40002
    ok = get(appid=appid, secret=secret)
    assert ok["expires_in"] == 7200 and len(ok["access_token"]) > 32
    assert http.get("/cgi-bin/get_current_selfmenu_info").json()["errcode"] == 41001
    assert http.get("/cgi-bin/get_current_selfmenu_info", params={"access_token": "bogus"}).json()["errcode"] == 40001


def test_token_grace_and_expiry(emulator: EmulatorServer, http: httpx.Client) -> None:
    appid, secret = creds(emulator, BINHE)
    params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    first = http.get("/cgi-bin/token", params=params).json()["access_token"]
    menu = lambda t: http.get("/cgi-bin/get_current_selfmenu_info", params={"access_token": t}).json()
    assert menu(first)["is_menu_open"] == 1
    second = http.get("/cgi-bin/token", params=params).json()["access_token"]
    assert second != first
    advance(emulator, 299)
    assert menu(first)["is_menu_open"] == 1  # still inside the 300 s grace
    advance(emulator, 2)
    assert menu(first)["errcode"] == 40001
    assert menu(second)["is_menu_open"] == 1
    advance(emulator, 7200)
    assert menu(second)["errcode"] == 42001


def test_stable_token_is_isolated_and_counts_down(emulator: EmulatorServer, http: httpx.Client) -> None:
    appid, secret = creds(emulator, BINHE)
    body = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    s1 = http.post("/cgi-bin/stable_token", json=body).json()
    advance(emulator, 100)
    s2 = http.post("/cgi-bin/stable_token", json=body).json()
    assert s2["access_token"] == s1["access_token"] and s2["expires_in"] == 7100
    # a plain token call does not disturb the stable token
    http.get("/cgi-bin/token", params={"grant_type": "client_credential", "appid": appid, "secret": secret})
    advance(emulator, 400)
    menu = lambda t: http.get("/cgi-bin/get_current_selfmenu_info", params={"access_token": t}).json()
    assert menu(s1["access_token"])["is_menu_open"] == 1
    s3 = http.post("/cgi-bin/stable_token", json={**body, "force_refresh": True}).json()
    assert s3["access_token"] != s1["access_token"] and s3["expires_in"] == 7200
    assert menu(s1["access_token"])["errcode"] == 40001
    assert menu(s3["access_token"])["is_menu_open"] == 1
    assert http.post("/cgi-bin/stable_token", json={**body, "secret": "x"}).json()["errcode"] == 40125


def test_menus(emulator: EmulatorServer, http: httpx.Client) -> None:
    t = token(http, emulator)
    info = http.get("/cgi-bin/get_current_selfmenu_info", params={"access_token": t}).json()
    buttons = info["selfmenu_info"]["button"]
    assert 2 <= len(buttons) <= 3
    leaves = [leaf for b in buttons for leaf in b["sub_button"]["list"]]
    types = {leaf["type"] for leaf in leaves}
    assert {"view", "news", "text", "miniprogram"} <= types
    view = next(leaf for leaf in leaves if leaf["type"] == "view")
    assert view["url"].startswith(emulator.base_url + "/site/")
    news = next(leaf for leaf in leaves if leaf["type"] == "news")
    assert news["news_info"]["list"][0]["content_url"].startswith(emulator.base_url + "/mp/s/")
    mini = next(leaf for leaf in leaves if leaf["type"] == "miniprogram")
    assert mini["appid"] and mini["pagepath"] and mini["url"].startswith("http")
    assert http.get("/cgi-bin/menu/get", params={"access_token": t}).json()["errcode"] == 46003

    t_api = token(http, emulator, "jb-fabu")
    api_menu = http.get("/cgi-bin/menu/get", params={"access_token": t_api}).json()
    assert isinstance(api_menu["menu"]["button"][0]["sub_button"], list)
    api_types = {s["type"] for b in api_menu["menu"]["button"] for s in b["sub_button"]}
    assert "click" in api_types and "view" in api_types and "article_id" in api_types


def test_freepublish(emulator: EmulatorServer, http: httpx.Client) -> None:
    http.delete("/_emu/faults", params={"account": FABU})  # its batchget fails once in August
    t = token(http, emulator, FABU)  # publishes by 发表: freepublish lists it
    post = lambda path, body: http.post(path, params={"access_token": t}, json=body).json()
    at_start = post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20})
    assert at_start["total_count"] == 3  # only the June articles exist on 07-01 00:00
    emulator.clock.set(datetime.fromisoformat("2023-09-30T23:00:00+08:00"))  # type: ignore[attr-defined]
    assert post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20})["errcode"] == 42001
    t = token(http, emulator, FABU)
    page1 = post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20, "no_content": 0})
    assert page1["total_count"] > 20 and page1["item_count"] == 20
    times = [item["update_time"] for item in page1["item"]]
    assert times == sorted(times, reverse=True)
    page2 = post("/cgi-bin/freepublish/batchget", {"offset": 20, "count": 20, "no_content": 1})
    assert page2["item"][0]["update_time"] <= times[-1]
    assert page2["item"][0]["content"]["news_item"][0]["content"] == ""
    item = page1["item"][0]
    news = item["content"]["news_item"][0]
    assert news["content"].startswith("<") and news["url"].startswith(emulator.base_url + "/mp/s/")
    assert post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 21})["errcode"] == 40097
    art = post("/cgi-bin/freepublish/getarticle", {"article_id": item["article_id"]})
    assert art["news_item"][0]["title"] == news["title"]
    assert post("/cgi-bin/freepublish/getarticle", {"article_id": "nope"})["errcode"] == 53600
    # The news-material library froze on 2023-06-25: the two June articles before it, nothing since.
    material = post("/cgi-bin/material/batchget_material", {"type": "news", "offset": 0, "count": 5})
    assert material["item_count"] == material["total_count"] == 2 and "media_id" in material["item"][0]
    assert max(i["update_time"] for i in material["item"]) < datetime.fromisoformat(
        "2023-06-25T00:00:00+08:00").timestamp()
    # A 群发 account: freepublish lists none of its articles, getarticle knows none of them.
    t = token(http, emulator, BINHE)
    assert post("/cgi-bin/freepublish/batchget", {"offset": 0, "count": 20})["total_count"] == 0
    key = emulator.scenario.account(BINHE).articles[-1].key
    assert post("/cgi-bin/freepublish/getarticle", {"article_id": key})["errcode"] == 53600


def test_deleted_article_is_marked(emulator: EmulatorServer, http: httpx.Client) -> None:
    emulator.clock.set(datetime.fromisoformat("2023-09-01T12:00:00+08:00"))  # type: ignore[attr-defined]
    t = token(http, emulator, "bm-jyj")
    items = http.post("/cgi-bin/freepublish/batchget", params={"access_token": t},
                      json={"offset": 0, "count": 20}).json()["total_count"]
    found = []
    for offset in range(0, items, 20):
        page = http.post("/cgi-bin/freepublish/batchget", params={"access_token": t},
                         json={"offset": offset, "count": 20}).json()
        found += [n for it in page["item"] for n in it["content"]["news_item"] if n["is_deleted"]]
    assert len(found) == 1 and found[0]["content"] == ""


def test_autoreply_info(emulator: EmulatorServer, http: httpx.Client) -> None:
    info = http.get("/cgi-bin/get_current_autoreply_info", params={"access_token": token(http, emulator)}).json()
    assert info["is_autoreply_open"] == 1
    assert info["message_default_autoreply_info"]["type"] == "text"
    rule = info["keyword_autoreply_info"]["list"][0]
    assert rule["keyword_list_info"][0]["match_mode"] == "contain" and rule["reply_list_info"][0]["content"]


def test_msgrecord_errors_and_paging(emulator: EmulatorServer, http: httpx.Client) -> None:
    emulator.clock.set(datetime.fromisoformat("2023-07-20T23:00:00+08:00"))  # type: ignore[attr-defined]
    t = token(http, emulator, "bm-cgj")  # 5 background followers a day
    post = lambda body: http.post("/customservice/msgrecord/getmsglist", params={"access_token": t},
                                  json=body).json()
    day = int(datetime.fromisoformat("2023-07-19T00:00:00+08:00").timestamp())
    assert post({"starttime": day, "endtime": day + 86401, "msgid": 1, "number": 10})["errcode"] == 65417
    assert post({"starttime": day, "endtime": day + 3600, "msgid": 1, "number": 10001})["errcode"] == 65416
    full = post({"starttime": day, "endtime": day + 86399, "msgid": 1, "number": 10000})
    assert full["number"] == len(full["recordlist"]) >= 5
    assert {r["opercode"] for r in full["recordlist"]} >= {2003}
    pages, msgid = [], 1
    while True:
        page = post({"starttime": day, "endtime": day + 86399, "msgid": msgid, "number": 2})
        pages += page["recordlist"]
        if page["number"] < 2:
            break
        msgid = page["msgid"]
    assert pages == full["recordlist"]
    plus_one, msgid = [], 1  # clients that page with the returned msgid + 1 see the same records
    while True:
        page = post({"starttime": day, "endtime": day + 86399, "msgid": msgid, "number": 2})
        plus_one += page["recordlist"]
        if page["number"] < 2:
            break
        msgid = page["msgid"] + 1
    assert plus_one == full["recordlist"]
    assert [r["time"] for r in pages] == sorted(r["time"] for r in pages)
    t_off = token(http, emulator, "zh-qingshan")
    answer = http.post("/customservice/msgrecord/getmsglist", params={"access_token": t_off},
                       json={"starttime": day, "endtime": day + 3600, "msgid": 1, "number": 10}).json()
    assert answer["errcode"] == 65400


def test_custom_send_window(emulator: EmulatorServer, http: httpx.Client) -> None:
    t = token(http, emulator)
    sent = http.post("/_emu/follower/send", json={"account": BINHE, "text": "你好", "tester": "t1"}).json()
    send = lambda: http.post("/cgi-bin/message/custom/send", params={"access_token": t}, json={
        "touser": sent["openid"], "msgtype": "text", "text": {"content": "您好，已收到"}}).json()
    assert send() == {"errcode": 0, "errmsg": "ok"}
    replies = http.get("/_emu/follower/replies", params={"account": BINHE, "tester": "t1"}).json()["replies"]
    assert "您好，已收到" in [r["text"] for r in replies]
    advance(emulator, 48 * 3600 + 1)
    t = token(http, emulator)
    assert send()["errcode"] == 45015
    assert http.post("/cgi-bin/message/custom/send", params={"access_token": t}, json={
        "touser": "ounknown", "msgtype": "text", "text": {"content": "x"}}).json()["errcode"] == 40003


def test_quota_resets_at_shanghai_midnight(emulator: EmulatorServer, http: httpx.Client) -> None:
    emulator.clock.set(datetime.fromisoformat("2023-07-03T23:58:00+08:00"))  # type: ignore[attr-defined]
    t = token(http, emulator)
    batch = lambda: http.post("/cgi-bin/freepublish/batchget", params={"access_token": t},
                              json={"offset": 0, "count": 1, "no_content": 1}).json()
    quota = lambda: http.post("/cgi-bin/openapi/quota/get", params={"access_token": t},
                              json={"cgi_path": "/cgi-bin/freepublish/batchget"}).json()
    for _ in range(100):
        assert "item" in batch()
    assert quota()["quota"] == {"daily_limit": 100, "used": 100, "remain": 0}
    assert batch()["errcode"] == 45009
    advance(emulator, 150)  # 00:00:30 in Shanghai, 16:00 UTC: a new quota day
    assert "item" in batch()
    assert quota()["quota"]["used"] == 1
    assert http.post("/cgi-bin/openapi/quota/get", params={"access_token": t},
                     json={"cgi_path": "/cgi-bin/nope"}).json()["errcode"] == 76021


class EmulatedClient(WeChatClient):
    """wechatpy's client, unmodified except that its URLs point at the emulator."""

    def __init__(self, base: str, appid: str, secret: str) -> None:
        super().__init__(appid, secret)
        self.base = base
        self.API_BASE_URL = base + "/cgi-bin/"

    def fetch_access_token(self):  # type: ignore[no-untyped-def]
        return self._fetch_access_token(url=self.base + "/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})


def test_wechatpy_client(emulator: EmulatorServer) -> None:
    emulator.clock.set(datetime.fromisoformat("2023-08-01T10:00:00+08:00"))  # type: ignore[attr-defined]
    appid, secret = creds(emulator, "bm-jyj")
    client = EmulatedClient(emulator.base_url, appid, secret)
    assert client.menu.get_menu_info()["is_menu_open"] == 1
    assert client.menu.get() is None  # web-admin menu: 46003
    assert client.message.get_autoreply_info()["is_autoreply_open"] == 1
    assert client.material.batchget("news", 0, 5)["item_count"] == 2  # frozen in June
    # bm-jyj 群发s; one article of it was 发表 instead: the only one freepublish lists
    published = client.post("freepublish/batchget", data={"offset": 0, "count": 3, "no_content": 1})
    assert published["item_count"] == 1
    article = client.post("freepublish/getarticle", data={"article_id": published["item"][0]["article_id"]})
    assert article["news_item"][0]["title"]
    day = int(datetime.fromisoformat("2023-07-31T00:00:00+08:00").timestamp())
    records = client.post(emulator.base_url + "/customservice/msgrecord/getmsglist",
                          data={"starttime": day, "endtime": day + 86399, "msgid": 1, "number": 100})
    assert records["number"] >= 1
    sent = httpx.post(emulator.base_url + "/_emu/follower/send",
                      json={"account": "bm-jyj", "text": "请问居住证怎么办？", "tester": "w"}).json()
    assert client.message.send_text(sent["openid"], "您好")["errcode"] == 0
    with pytest.raises(WeChatClientException) as err:
        client.post("freepublish/getarticle", data={"article_id": "x"})
    assert err.value.errcode == 53600
    # a token fault that clears: wechatpy's auto_retry refetches once and succeeds
    httpx.post(emulator.base_url + "/_emu/faults",
               json={"account": "bm-jyj", "endpoint": "/cgi-bin/get_current_autoreply_info", "kind": "token",
                     "times": 1})
    assert client.message.get_autoreply_info()["is_autoreply_open"] == 1


def test_clock_control(emulator: EmulatorServer, http: httpx.Client) -> None:
    assert http.get("/_emu/clock").json() == {"now": "2023-07-01T00:00:00+08:00", "virtual": True}
    assert http.post("/_emu/clock", json={"advance_seconds": 90}).json()["now"] == "2023-07-01T00:01:30+08:00"
    assert http.post("/_emu/clock", json={"set": "2023-08-01T08:00:00Z"}).json()["now"] == "2023-08-01T16:00:00+08:00"
    assert emulator.clock.now() == datetime.fromisoformat("2023-08-01T08:00:00+00:00")
    assert http.post("/_emu/clock", json={"set": "soon"}).status_code == 400
    assert http.post("/_emu/clock", json={}).status_code == 400
