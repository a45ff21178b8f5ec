"""Hostile API answers over real HTTP: huge, gzip-bombed, wrongly typed.

A small aiohttp server on 127.0.0.1 plays the platform. Whatever it answers, the
client stops at ``wechat.max_answer_bytes`` (decoded bytes, counted as they
stream in) and a wrong shape is the platform's fault: status ``error`` with the
wording 接口返回格式异常, never 监测程序内部错误, never a verdict on the account.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hostile_server import under_memory_meter

from monitor.wechat import RetryPolicy, WeChatAPI
from monitor.wechat import errors as E
from monitor.wechat.remote import FrameTooLarge, RemoteAPI, _answer_frames, _read_frame
from probes.failures import MALFORMED, api_failure

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SELFMENU = "cgi-bin/get_current_selfmenu_info"
TOKEN = "cgi-bin/stable_token"
APPID = "wx0123456789abcdef"
SECRET = "s" * 32
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)
MB = 1 << 20


class HostileAPI:
    """The platform API as a hostile server plays it: ``routes[endpoint]`` answers each call."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {TOKEN: raw(json.dumps({"access_token": "T" * 32, "expires_in": 7200}))}
        self.calls: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.path.lstrip("/")
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        handler = self.routes.get(endpoint)
        if handler is None:
            return web.Response(text="ok")  # the canary (the API base itself), anything else
        return await handler(request)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    def start(self) -> HostileAPI:
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._start())
            ready.set()
            try:
                self._loop.run_forever()
            finally:
                self._loop.close()  # its self-pipe sockets too

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        assert ready.wait(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def raw(body: str | bytes, **headers: str) -> Handler:
    data = body.encode("utf-8") if isinstance(body, str) else body

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, headers={"Content-Type": "application/json", **headers})
    return handler


def answer(obj: Any) -> Handler:
    return raw(json.dumps(obj, ensure_ascii=False))


def endless(total: int, declare_length: bool = False) -> Handler:
    """``total`` bytes of one JSON string, streamed a megabyte at a time (never held in memory)."""
    chunk = b"a" * MB

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declare_length:
            resp.content_length = total
        await resp.prepare(request)
        try:
            await resp.write(b'{"x": "')
            for _ in range(total // MB):
                await resp.write(chunk)
            await resp.write(b'"}')
        except (ConnectionError, RuntimeError):
            pass  # the client gave up reading: as it should
        return resp
    return handler


def gzip_bomb(decoded: int, encoding: str = "gzip") -> Handler:
    return raw(bomb(decoded, encoding), **{"Content-Encoding": encoding})


def bomb(decoded: int, encoding: str = "gzip") -> bytes:
    """``decoded`` bytes of zeros once inflated, about a thousandth of that on the wire.

    One megabyte of zeros deflated and fully flushed is a self-contained run of blocks: the
    stream repeats it rather than compressing a gigabyte (seconds) for every test.
    """
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(MB)
    block = squeeze.compress(zeros) + squeeze.flush(zlib.Z_FULL_FLUSH)
    stream = block * (decoded // MB) + squeeze.flush()
    if encoding == "gzip":
        crc = 0
        for _ in range(decoded // MB):
            crc = zlib.crc32(zeros, crc)
        trailer = crc.to_bytes(4, "little") + (decoded & 0xFFFFFFFF).to_bytes(4, "little")
        body = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + stream + trailer
    else:  # raw deflate, as some servers send "deflate"
        body = stream
    return body


@pytest.fixture
def hostile() -> Iterator[HostileAPI]:
    server = HostileAPI().start()
    yield server
    server.stop()


def call(server: HostileAPI, method: Callable[[Any], Awaitable[Any]], **kwargs: Any) -> Any:
    async def go() -> Any:
        kwargs.setdefault("retry", FAST_RETRY)
        async with WeChatAPI(server.base_url, timeout=10, **kwargs) as api:
            return await method(api.account(APPID, SECRET))
    return asyncio.run(go())


def menu_of(server: HostileAPI, **kwargs: Any) -> Any:
    return call(server, lambda client: client.get_current_selfmenu_info(), **kwargs)


# -- size ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", [lambda: endless(40 * MB), lambda: endless(40 * MB, declare_length=True),
                                     lambda: gzip_bomb(64 * MB), lambda: gzip_bomb(64 * MB, "deflate")],
                         ids=["streamed", "declared", "gzip-bomb", "deflate-bomb"])
def test_an_answer_past_the_limit_is_too_large_and_the_monitors_error(hostile, handler):
    hostile.routes[SELFMENU] = handler()
    with pytest.raises(E.AnswerTooLarge) as info:
        menu_of(hostile, max_answer_bytes=MB)
    assert info.value.blames == "monitor" and not info.value.retryable
    assert hostile.calls[SELFMENU] == 1  # the same answer again is no better
    status, reason = api_failure(info.value, "菜单栏目")
    assert status == "error" and reason.startswith(MALFORMED) and "超过大小上限" in reason


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw", "identity"])
def test_compressed_answers_within_the_limit_are_read(hostile, encoding):
    menu = {"is_menu_open": 1, "selfmenu_info": {"button": [{"type": "view", "name": "办事", "url": "https://x/"}]}}
    body = json.dumps(menu, ensure_ascii=False).encode("utf-8") + b" " * 200_000  # near the limit once inflated
    if encoding == "gzip":
        hostile.routes[SELFMENU] = raw(gzip.compress(body), **{"Content-Encoding": "gzip"})
    elif encoding == "deflate":
        hostile.routes[SELFMENU] = raw(zlib.compress(body), **{"Content-Encoding": "deflate"})
    elif encoding == "deflate-raw":  # some servers send deflate without the zlib header
        squeeze = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        hostile.routes[SELFMENU] = raw(squeeze.compress(body) + squeeze.flush(), **{"Content-Encoding": "deflate"})
    else:
        hostile.routes[SELFMENU] = raw(body)
    assert menu_of(hostile, max_answer_bytes=len(body)) == menu


@pytest.mark.parametrize(("handler", "error"), [
    (raw(b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"}), E.BadResponse),
    (raw(gzip.compress(b'{"a": 1}')[:12], **{"Content-Encoding": "gzip"}), E.BadResponse),
    (raw(b'{"a": 1}', **{"Content-Encoding": "br"}), E.BadResponse),
    (raw(b"[" * 100_000 + b"]" * 100_000), E.MalformedAnswer),  # past json's nesting limit
    (raw(b'{"a": ' + b"9" * 5000 + b"}"), E.MalformedAnswer),  # past Python's digit limit
    (raw(b"[1, 2]"), E.MalformedAnswer),
    (raw(b'{"a": [' + b"{}," * 1_100_000 + b"{}]}"), E.AnswerTooLarge),  # 3.3 MB: 80 MB as Python objects
])
def test_undecodable_answers_are_typed_errors(hostile, handler, error):
    hostile.routes[SELFMENU] = handler
    with pytest.raises(error) as info:
        menu_of(hostile)
    assert type(info.value) is error
    assert not api_failure(info.value)[1].startswith("监测程序内部错误")


# -- types ---------------------------------------------------------------------------------------

WELL_FORMED_MENU = {"is_menu_open": 1, "selfmenu_info": {"button": [
    {"name": "服务", "sub_button": {"list": [{"type": "view", "name": "办事", "url": "https://x/bs"}]}}]}}


@pytest.mark.parametrize(("endpoint", "body", "field"), [
    (SELFMENU, {"errcode": "abc"}, "errcode"),
    (SELFMENU, {"errcode": True, "errmsg": "ok"}, "errcode"),
    (SELFMENU, {"is_menu_open": 1, "selfmenu_info": {"button": {"name": "not a list"}}}, "selfmenu_info.button"),
    (SELFMENU, {"selfmenu_info": {"button": [{"name": "服务", "sub_button": {"list": [{"url": 7}]}}]}},
     "selfmenu_info.button.0.sub_button"),
    (SELFMENU, {"selfmenu_info": [WELL_FORMED_MENU["selfmenu_info"]]}, "selfmenu_info"),
    (TOKEN, {"access_token": "T" * 32, "expires_in": "x"}, "expires_in"),
    (TOKEN, {"access_token": "T" * 32, "expires_in": -5}, "expires_in"),
    (TOKEN, {"access_token": ["T"], "expires_in": 7200}, "access_token"),
    (TOKEN, {"expires_in": 7200}, "access_token"),
])
def test_wrongly_typed_menu_and_token_answers_are_malformed_not_internal(hostile, endpoint, body, field):
    hostile.routes.setdefault(SELFMENU, answer(WELL_FORMED_MENU))
    hostile.routes[endpoint] = answer(body)
    with pytest.raises(E.MalformedAnswer) as info:
        menu_of(hostile)
    assert info.value.field.startswith(field), info.value
    assert hostile.calls[endpoint] == 1  # not retried
    status, reason = api_failure(info.value, "菜单栏目")
    assert status == "error" and reason == f"接口返回格式异常（字段 {info.value.field}），本轮未核查，保留上次结果"


PAGE = "cgi-bin/freepublish/batchget"


@pytest.mark.parametrize("entry", [
    {"article_id": "A1", "update_time": "abc"},
    {"article_id": "A1", "update_time": -1690848000},
    {"article_id": "A1", "update_time": 10 ** 12},  # the year 33658
    {"article_id": "A1", "update_time": 86400},  # 1970: before the platform existed
    {"article_id": "A1", "update_time": 1690848000.5},
    {"article_id": "A1", "content": {"update_time": [1690848000]}},
    {"article_id": "A1", "content": ["not", "an", "object"]},
    {"article_id": "A1", "content": {"news_item": [{"title": 5}]}},
    {"article_id": 12345},
])
def test_wrong_publication_times_and_types_are_malformed_never_fresh(hostile, entry):
    hostile.routes[PAGE] = answer({"total_count": 1, "item_count": 1, "item": [entry]})
    with pytest.raises(E.MalformedAnswer) as info:
        call(hostile, lambda client: client.freepublish_batchget())
    assert api_failure(info.value)[0] == "error"
    assert api_failure(info.value)[1].startswith(MALFORMED + "（字段 item.0.")


def test_the_platforms_known_variations_are_accepted(hostile):
    hostile.routes[PAGE] = answer({"total_count": 3, "item_count": 3, "item": [
        {"article_id": "A1", "update_time": 1690848000},  # beside content, as documented
        {"article_id": "A2", "content": {"news_item": [], "update_time": "1690848000"}},  # inside, as a string
        {"article_id": "A3", "update_time": 0, "content": {"create_time": 1690848000}},  # 0: not set
    ]})
    page = call(hostile, lambda client: client.freepublish_batchget())
    assert [e["article_id"] for e in page["item"]] == ["A1", "A2", "A3"]
    assert page["item"][1]["content"]["update_time"] == 1690848000 and page["item"][2]["update_time"] is None


def test_msgrecord_paging_that_does_not_advance_is_malformed_not_an_endless_loop(hostile):
    record = {"openid": "o1", "opercode": 2003, "time": 1690848000, "text": "你好", "worker": ""}
    hostile.routes["customservice/msgrecord/getmsglist"] = answer(
        {"recordlist": [record] * 10000, "number": 10000, "msgid": 1})
    start = datetime(2023, 8, 1, tzinfo=UTC)
    with pytest.raises(E.MalformedAnswer):
        call(hostile, lambda client: client.msg_records(start, start.replace(hour=12)))
    hostile.routes["customservice/msgrecord/getmsglist"] = answer(
        {"recordlist": [{**record, "time": "yesterday"}], "number": 1, "msgid": 1})
    with pytest.raises(E.MalformedAnswer) as info:
        call(hostile, lambda client: client.msg_records(start, start.replace(hour=12)))
    assert info.value.field == "recordlist.0.time"


# -- the API helper process ---------------------------------------------------------------------


def test_the_helper_reports_malformed_and_oversized_answers_as_the_same_errors(hostile):
    async def go() -> list[Any]:
        async with WeChatAPI(hostile.base_url, timeout=10, retry=FAST_RETRY, max_answer_bytes=MB) as api:
            remote = await RemoteAPI(api).start()
            try:
                client = api.account(APPID, SECRET)
                hostile.routes[SELFMENU] = endless(8 * MB)
                out = [await asyncio.gather(remote.call(client, "GET", SELFMENU), return_exceptions=True)]
                hostile.routes[SELFMENU] = answer({"errcode": "abc"})
                out.append(await asyncio.gather(remote.call(client, "GET", SELFMENU), return_exceptions=True))
                assert remote.alive
                return [o[0] for o in out]
            finally:
                await remote.aclose()

    too_large, malformed = asyncio.run(go())
    assert type(too_large) is E.AnswerTooLarge
    assert type(malformed) is E.MalformedAnswer and malformed.field == "errcode"


def test_frames_between_processes_are_bounded():
    answers = [(i, True, {"x": f"{i:04}" + "a" * 1000}, None, 0, []) for i in range(100)]
    frames = list(_answer_frames(answers, 20_000))
    assert len(frames) > 1 and all(len(f) <= 20_004 for f in frames)
    (alone,) = _answer_frames([(7, True, {"x": "a" * 50_000}, "tok", 7200, ["e"])], 20_000)

    async def read(data: bytes, limit: int) -> Any:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await _read_frame(reader, limit)

    request_id, ok, payload, token, expires_in, calls = asyncio.run(read(alone, 20_000))[0]
    assert (request_id, ok, token, expires_in, calls) == (7, False, "tok", 7200, ["e"])
    assert payload[:2] == ("wechat", "AnswerTooLarge")
    got: list[Any] = []
    for frame in frames:
        got += asyncio.run(read(frame, 20_000))
    assert got == answers
    with pytest.raises(FrameTooLarge):  # announced past the limit: nothing more is read
        asyncio.run(read(frames[0], 1000))


# -- the whole program: one column round, RSS measured -------------------------------------------

def probe_round(server: HostileAPI, tmp_path: Path, kind: str = "columns",
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One ``wxmon probe KIND --json`` round on ``server``: its rows, exit code and peak RSS."""
    config = tmp_path / "accounts.yaml"
    config.write_text(f"""
store: sqlite:///{tmp_path / 'w.db'}
wechat: {{api_base: "{server.base_url}"}}
checks: {{allow_private: ["127.0.0.1/32"]}}
accounts:
  - {{id: jd-hostile, name: 测试街道, unit: 测试街道办事处, category: 乡镇街道,
     appid: {APPID}, secret_env: WXMON_TEST_HOSTILE_SECRET}}
""", encoding="utf-8")
    env = {**os.environ, "WXMON_TEST_HOSTILE_SECRET": SECRET}
    proc = subprocess.run(under_memory_meter([sys.executable, "-m", "wxmon.cli", "probe", kind, "--json", "--config",
                                    str(config)]), capture_output=True, text=True, env=env, timeout=120)
    measured = json.loads(proc.stderr.strip().splitlines()[-1])
    assert measured["rc"] == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()], measured


@pytest.mark.parametrize("handler", [lambda: endless(100 * MB), lambda: gzip_bomb(1024 * MB),
                                     lambda: raw(b'{"a": [' + b"{}," * 5_000_000 + b"{}]}")],
                         ids=["100MB", "gzip-bomb-1GB", "15MB-of-tiny-objects"])
def test_a_huge_or_bombed_menu_is_an_error_row_and_memory_stays_low(hostile, tmp_path, handler):
    hostile.routes[SELFMENU] = handler()
    rows, measured = probe_round(hostile, tmp_path)
    assert rows == [{"account": "jd-hostile", "column": "(菜单)", "type": "menu", "target": None, "status": "error",
                     "reason": "接口返回格式异常（返回内容超过大小上限），本轮未核查，保留上次结果",
                     "http_status": None, "elapsed_ms": None}]
    assert measured["maxrss_kib"] < 300 * 1024, measured


def test_a_wrongly_typed_menu_is_an_error_row_not_an_internal_error(hostile, tmp_path):
    hostile.routes[SELFMENU] = answer({"is_menu_open": 1, "selfmenu_info": {"button": [["服务"]]}})
    rows, _ = probe_round(hostile, tmp_path)
    assert [(r["column"], r["status"], r["reason"]) for r in rows] == [
        ("(菜单)", "error", "接口返回格式异常（字段 selfmenu_info.button.0），本轮未核查，保留上次结果")]


def test_an_unreadable_publication_time_is_an_error_row_never_fresh(hostile, tmp_path):
    hostile.routes[PAGE] = answer({"total_count": 1, "item_count": 1, "item": [
        {"article_id": "A1", "update_time": "abc", "content": {"news_item": [{"title": "t", "url": "https://x/1"}]}}]})
    rows, _ = probe_round(hostile, tmp_path, "freshness")
    assert [(r["status"], r["reason"], r["last_update"], r["new_items"]) for r in rows] == [
        ("error", "接口返回格式异常（字段 item.0.update_time），本轮未核查，保留上次结果", None, 0)]
