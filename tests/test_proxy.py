"""Proxy support: pages, the API client and the channels go through a real forwarding proxy on 127.0.0.1.

The targets are names under .invalid, which no resolver answers: a request that reaches
them went through the proxy (the proxy maps every name to a local upstream server).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from monitor.config import Http, load_config
from monitor.http import PageFetcher, PageResult
from monitor.netpolicy import AddressPolicy
from monitor.proxy import Proxies, redact
from monitor.wechat import WeChatAPI

SECRET = "s3cret-pw"


class ForwardingProxy:
    """A minimal HTTP forwarding proxy (absolute-form requests only) in its own thread.

    Every request goes to ``upstream`` (host, port) whatever its host; each request line and
    Proxy-Authorization header seen is recorded.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.requests: list[str] = []
        self.auth: list[str | None] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def start(self) -> ForwardingProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [line.split(":", 1) for line in lines[1:] if ":" in line]
            self.requests.append(f"{method} {target}")
            self.auth.append(next((v.strip() for k, v in headers if k.lower() == "proxy-authorization"), None))
            if method == "CONNECT" or "://" not in target:
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
            body = await reader.readexactly(length) if length else b""
            path = "/" + target.split("://", 1)[1].partition("/")[2]
            kept = [f"{k}:{v}" for k, v in headers
                    if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")]
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            except OSError:  # as Squid does: its own error page, 502
                page = b"<html><body><h1>ERROR</h1><p>The requested URL could not be retrieved</p></body></html>"
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nX-Squid-Error: ERR_CONNECT_FAIL 111\r\n"
                             b"Content-Type: text/html\r\nContent-Length: " + str(len(page)).encode()
                             + b"\r\n\r\n" + page)
                return
            up_writer.write(f"{method} {path} {version}\r\n".encode("latin-1")
                            + "\r\n".join([*kept, "Connection: close"]).encode("latin-1") + b"\r\n\r\n" + body)
            await up_writer.drain()
            answer = await up_reader.read()  # Connection: close: read to the end
            up_writer.close()
            writer.write(answer)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


class Upstream:
    """The site behind the proxy: answers JSON (for the API) or a page, naming the Host it was asked for."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path.startswith("/cgi-bin/"):
            return web.json_response({"errcode": 0, "ip_list": ["1.2.3.4"]})
        if request.path.startswith("/_emu/"):
            return web.json_response({"replies": [], "host": request.host})
        return web.Response(text=f"<html><body>页面正常 host={request.host}</body></html>", content_type="text/html")

    def start(self) -> Upstream:
        self._thread.start()

        async def up() -> None:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)
        return self

    def stop(self) -> None:
        if self.runner is not None:
            asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.stop()


@pytest.fixture
def proxy(upstream: Upstream) -> Iterator[ForwardingProxy]:
    server = ForwardingProxy(("127.0.0.1", upstream.port)).start()
    yield server
    server.stop()


def through(url: str) -> Proxies:
    return Proxies(http=url, https=url, source="config")


# -- pages ---------------------------------------------------------------------------


def test_pages_go_through_the_proxy(proxy: ForwardingProxy) -> None:
    async def go() -> None:
        async with PageFetcher(proxies=through(proxy.url), per_host_rate=None) as fetcher:
            result = await fetcher.fetch("http://www.site.wxmon-test.invalid/zwgk/index.html")
        assert result.status == 200 and result.error is None
        assert result.text is not None and "host=www.site.wxmon-test.invalid" in result.text

    asyncio.run(go())
    assert proxy.requests == ["GET http://www.site.wxmon-test.invalid/zwgk/index.html"]


def test_without_the_proxy_the_name_does_not_resolve(proxy: ForwardingProxy) -> None:
    """The control: the same URL fetched directly fails, so the success above came through the proxy."""
    async def go() -> str | None:
        async with PageFetcher(per_host_rate=None, timeout_s=5) as fetcher:
            return (await fetcher.fetch("http://www.site.wxmon-test.invalid/")).error

    assert asyncio.run(go()) in ("connect", "refused_dns")
    assert proxy.requests == []


def test_literal_private_targets_are_still_refused_through_a_proxy(proxy: ForwardingProxy) -> None:
    async def go() -> list[str | None]:
        async with PageFetcher(proxies=through(proxy.url), per_host_rate=None) as fetcher:
            return [(await fetcher.fetch(u)).error for u in
                    ("http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/", "http://[fd00::1]/")]

    assert asyncio.run(go()) == ["refused_address"] * 3
    assert proxy.requests == []  # never handed to the proxy either


def test_a_proxys_own_gateway_error_is_a_network_failure_not_the_sites_page() -> None:
    """The proxy cannot reach the site: its 502 is the monitor's network trouble (the canary decides
    whose), like a connection failure without a proxy, and never judged as the site's own answer."""
    from probes.columns import NETWORK_ERRORS

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    server = ForwardingProxy(("127.0.0.1", dead)).start()
    try:
        async def go() -> PageResult:
            async with PageFetcher(proxies=through(server.url), per_host_rate=None) as fetcher:
                return await fetcher.fetch("http://www.site.wxmon-test.invalid/zwgk/index.html")

        result = asyncio.run(go())
    finally:
        server.stop()
    assert result.error == "proxy_gateway" and result.status is None, result
    assert result.error in NETWORK_ERRORS


def test_no_proxy_and_loopback_go_direct(proxy: ForwardingProxy, upstream: Upstream) -> None:
    proxies = Proxies(http=proxy.url, https=proxy.url, no_proxy=(".direct.wxmon-test.invalid",))
    assert proxies.for_url("http://a.direct.wxmon-test.invalid/x") is None
    assert proxies.for_url("http://direct.wxmon-test.invalid/x") is None
    assert proxies.for_url("http://other.wxmon-test.invalid/x") == proxy.url

    async def go() -> int | None:
        policy = AddressPolicy.from_cidrs(["127.0.0.1/32"])
        async with PageFetcher(proxies=proxies, policy=policy, per_host_rate=None) as fetcher:
            return (await fetcher.fetch(f"http://127.0.0.1:{upstream.port}/local")).status

    assert asyncio.run(go()) == 200
    assert proxy.requests == []  # loopback is never proxied: no proxy can reach this machine


def test_proxy_credentials_are_sent_and_never_shown(proxy: ForwardingProxy, caplog: pytest.LogCaptureFixture) -> None:
    url = proxy.url.replace("http://", f"http://wxmon:{SECRET}@")
    caplog.set_level(logging.DEBUG)

    async def go() -> list[PageResult]:
        async with PageFetcher(proxies=through(url), per_host_rate=None, timeout_s=5) as fetcher:
            ok = await fetcher.fetch("http://site.wxmon-test.invalid/")
        down = url.rsplit(":", 1)[0] + ":1"  # nothing listens on port 1
        async with PageFetcher(proxies=through(down), per_host_rate=None, timeout_s=5) as fetcher:
            failed = await fetcher.fetch("http://site.wxmon-test.invalid/")
        return [ok, failed]

    ok, failed = asyncio.run(go())
    assert proxy.auth == ["Basic " + base64.b64encode(f"wxmon:{SECRET}".encode()).decode()]
    assert ok.status == 200
    assert failed.error == "connect"  # the monitor's trouble, judged by the canary
    assert SECRET not in repr(failed) and SECRET not in caplog.text
    assert SECRET not in through(url).describe() and SECRET not in repr(through(url))
    assert redact(url) == f"http://***@127.0.0.1:{proxy.port}"


# -- the API client and the channels ----------------------------------------------------


def test_api_calls_go_through_the_proxy(proxy: ForwardingProxy) -> None:
    async def go() -> dict[str, object]:
        async with WeChatAPI("http://api.wxmon-test.invalid", proxies=through(proxy.url)) as api:
            return await api.request("GET", "cgi-bin/get_api_domain_ip", params={"access_token": "T"})

    assert asyncio.run(go())["ip_list"] == ["1.2.3.4"]
    assert proxy.requests == ["GET http://api.wxmon-test.invalid/cgi-bin/get_api_domain_ip?access_token=T"]


def test_api_settings_carry_the_proxy_settings_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://u:{SECRET}@proxy.example.gov.cn:3128")
    http = Http(no_proxy=[".intranet.example.gov.cn"])
    api = WeChatAPI("https://api.weixin.qq.com", proxies=Proxies.resolve(http))
    settings = api.settings()
    assert SECRET not in json.dumps(settings)
    again = Proxies.from_spec(settings["proxies"])  # as the API helper process rebuilds it
    assert again.for_url("https://api.weixin.qq.com/cgi-bin/token") == f"http://u:{SECRET}@proxy.example.gov.cn:3128"
    assert again.for_url("https://www.intranet.example.gov.cn/") is None


def test_channel_client_goes_through_the_proxy_and_keeps_the_policy(proxy: ForwardingProxy) -> None:
    import httpx

    from probes.channels.base import http_client

    async def go() -> tuple[dict[str, object], type[BaseException] | None]:
        client = http_client(5, AddressPolicy(), proxies=through(proxy.url))
        try:
            answer = (await client.get("http://bridge.wxmon-test.invalid/_emu/follower/replies")).json()
            refused: type[BaseException] | None = None
            try:
                await client.get("http://10.9.8.7/_emu/x")
            except httpx.ConnectError as exc:
                refused = type(exc)
            return answer, refused
        finally:
            await client.aclose()

    answer, refused = asyncio.run(go())
    assert answer["host"] == "bridge.wxmon-test.invalid"
    assert refused is httpx.ConnectError
    assert proxy.requests == ["GET http://bridge.wxmon-test.invalid/_emu/follower/replies"]


# -- where the proxy comes from -------------------------------------------------------


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    assert not Proxies.resolve().active
    monkeypatch.setenv("https_proxy", "proxy.example.gov.cn:3128")  # no scheme: http://, as curl reads it
    monkeypatch.setenv("NO_PROXY", "example.org, 10.0.0.0/8,*.intra")
    found = Proxies.resolve()
    assert found.for_url("https://mp.weixin.qq.com/s/x") == "http://proxy.example.gov.cn:3128"
    assert found.for_url("http://www.gov.cn/") is None  # no HTTP_PROXY
    assert found.for_url("https://www.example.org/") is None and found.for_url("https://10.2.3.4/") is None
    assert found.for_url("https://a.intra/") is None and found.for_url("https://localhost:8080/") is None
    assert Proxies.resolve(Http(env_proxy=False)).active is False
    monkeypatch.setattr("monitor.proxy._warned", set())
    monkeypatch.setenv("ALL_PROXY", f"socks5://u:{SECRET}@127.0.0.1:1080")
    caplog.set_level(logging.WARNING)
    assert Proxies.resolve().for_url("http://www.gov.cn/") is None  # socks is not supported: said, not used
    assert "ALL_PROXY is not an http:// or https:// proxy" in caplog.text and SECRET not in caplog.text


def test_config_http_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.config import check_file
    from monitor.context import ProbeContext
    from monitor.store import Store

    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.example.gov.cn:1")
    base = ("accounts:\n  - {id: a1, name: 甲, unit: 甲单位, category: 其他, appid: wx0123456789abcdef, "
            "secret_env: WXMON_T1}\n"
            f"store: sqlite:///{tmp_path / 'wxmon.db'}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + f"http:\n  proxy: http://u:{SECRET}@proxy.example.gov.cn:8080\n", encoding="utf-8")
    [problem] = check_file(bad, check_env=False)
    assert problem.startswith(f"{bad}:5: http.proxy: must not hold a user name or password") and SECRET not in problem
    good = tmp_path / "good.yaml"
    good.write_text(base + "http:\n  proxy: http://proxy.example.gov.cn:8080\n  no_proxy: [.intranet.gov.cn]\n",
                    encoding="utf-8")
    config = load_config(good)
    with Store.open(config.store_url) as store:
        ctx = ProbeContext.open(config, store)
        try:
            assert ctx.pages.proxies.for_url("https://www.gov.cn/") == "http://proxy.example.gov.cn:8080"
            assert ctx.api.proxies.for_url("https://api.weixin.qq.com/x") == "http://proxy.example.gov.cn:8080"
            assert ctx.pages.proxies.for_url("https://oa.intranet.gov.cn/") is None
        finally:
            asyncio.run(ctx.aclose())


def test_https_goes_through_a_tunnel_and_a_refusing_proxy_is_the_monitors_trouble(proxy: ForwardingProxy) -> None:
    """https:// targets use CONNECT; the proxy's refusal is no answer from the site (the canary judges it)."""
    async def go() -> PageResult:
        async with PageFetcher(proxies=through(proxy.url), per_host_rate=None, timeout_s=5) as fetcher:
            return await fetcher.fetch("https://secure.wxmon-test.invalid/page")

    result = asyncio.run(go())
    assert proxy.requests == ["CONNECT secure.wxmon-test.invalid:443"]
    assert result.status is None and not result.answered and result.error == "connect"


def test_config_proxy_reaches_the_inquiry_channel(proxy: ForwardingProxy, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from probes.channels import channel_for

    path = tmp_path / "accounts.yaml"
    path.write_text(
        f"store: sqlite:///{tmp_path / 'wxmon.db'}\nhttp: {{proxy: '{proxy.url}'}}\n"
        "channels: {emulator: {base_url: 'http://emu.wxmon-test.invalid'}}\n"
        "accounts:\n  - {id: a1, name: 甲, unit: 甲单位, category: 其他, api: false,\n"
        "     inquiry: {channel: emulator, tester: t1, questions: [请问？]}}\n", encoding="utf-8")
    config = load_config(path)
    account = config.accounts[0]

    async def go() -> int:
        channel = channel_for(config, account)
        assert channel is not None
        try:
            return len(await channel.replies_since(account, "t1", datetime(2023, 7, 1, tzinfo=UTC)))
        finally:
            await channel.aclose()

    assert asyncio.run(go()) == 0
    [request] = proxy.requests
    assert request.startswith("GET http://emu.wxmon-test.invalid/_emu/follower/replies?")
