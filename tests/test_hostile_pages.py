"""Hostile pages and hostile addresses (issue #10), through the product's real paths.

Bounded reads: a gzip bomb (1 MB -> 1 GB), an endless chunked body and a 100 MB page
are checked by ``wxmon probe columns`` in a child process whose peak RSS is read
from the kernel when it exits. Address policy: menu links and redirect hops into
loopback, private, link-local ... space are never requested; the hostile server
counts every connection it accepts to prove it. No traffic is ever sent to a
non-loopback address: 10.255.255.1, 169.254.169.254 and the like must be refused
before any socket is opened (a connection attempt would show as a timeout or a
connect error instead of the refusal the tests expect).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile_server import HostileServer, gzip_bomb, under_memory_meter
from hypothesis import given, settings
from hypothesis import strategies as st
from needs import missing

from monitor.http import PageFetcher
from monitor.netpolicy import AddressPolicy, embedded_ipv4, is_public
from probes.columns import judge_page

ROOT = Path(__file__).resolve().parents[1]
RSS_LIMIT_KB = 300 * 1024
PRIVATE_REASON = "链接指向内网地址"
LOOPBACK = ["127.0.0.1/32"]


@pytest.fixture(scope="session")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 MB of gzip that decompresses to 1 GB of zeros, built once per session."""
    return gzip_bomb(tmp_path_factory.mktemp("bombs") / "zeros-1g.gz")


@pytest.fixture
def server(bomb: Path) -> Iterator[HostileServer]:
    with HostileServer("127.0.0.1", bomb=bomb) as srv:
        yield srv


@pytest.fixture
def canary() -> Iterator[HostileServer]:
    """The monitor's own health check (the API base: exempt), kept apart from the counted servers."""
    with HostileServer("127.0.0.1") as srv:
        yield srv


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


# -- running the product: `wxmon probe columns --json` in a child process ----------------

def write_config(path: Path, columns: Sequence[tuple[str, str]], *, api_base: str,
                 allow: Sequence[str] = (), canary_urls: Sequence[str] = (), timeout_s: float = 20) -> Path:
    checks: dict[str, Any] = {"timeout_s": timeout_s, "per_host_rate": None, "allow_private": list(allow)}
    if canary_urls:
        checks["canary_urls"] = list(canary_urls)
    data = {
        "store": f"sqlite:///{path.parent / 'wxmon.db'}",
        "wechat": {"api_base": api_base},
        "checks": checks,
        "accounts": [{
            "id": "jd-test", "name": "测试街道（模拟）", "unit": "测试街道办事处（模拟）", "category": "乡镇街道",
            "api": False, "columns": [{"path": p, "type": "view", "url": u} for p, u in columns],
        }],
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def run_probe(config: Path, wrap: Sequence[str] = (), timeout_s: float = 120) -> tuple[dict[str, dict[str, Any]], int]:
    """Rows by column path and the probe's peak RSS in KB."""
    command = [*wrap, sys.executable, "-m", "wxmon.cli", "probe", "columns", "--json", "--config", str(config)]
    proc = subprocess.run(under_memory_meter(command), capture_output=True, text=True, cwd=ROOT, timeout=timeout_s)
    figure = json.loads(proc.stderr.strip().splitlines()[-1])
    assert figure["rc"] in (0, 1), proc.stderr[-2000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return {r["column"]: r for r in rows}, figure["maxrss_kib"]


# -- bounded reads ------------------------------------------------------------------------

@pytest.mark.parametrize("page, status, reason", [
    ("/gzip-bomb", "ok", "HTTP 200"),  # 1 GB of zeros: the first 2 MB read, judged on them
    ("/endless", "ok", "HTTP 200"),  # a chunked body that never ends
    ("/huge", "failing", "页面不存在"),  # 100 MB, the soft-404 title in the part read
])
def test_hostile_page_is_read_within_the_limit(server: HostileServer, tmp_path: Path, page: str, status: str,
                                               reason: str) -> None:
    config = write_config(tmp_path / "accounts.yaml", [("服务/页面", server.url(page))], api_base=server.url(""),
                          allow=LOOPBACK, canary_urls=[server.url("/ok")], timeout_s=60)
    rows, peak_kb = run_probe(config)
    row = rows["服务/页面"]
    assert row["status"] == status and reason in row["reason"], row
    assert row["http_status"] == 200
    # Stopped at the byte limit, not by the 60 s timeout.
    assert row["elapsed_ms"] is not None and row["elapsed_ms"] < 20_000, row
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
    assert server.hits[page] == 1


def fetch_all(urls: Sequence[str], **kwargs: Any) -> list[Any]:
    async def go() -> list[Any]:
        async with PageFetcher(**{"per_host_rate": None, "timeout_s": 10, **kwargs}) as fetcher:
            return [await fetcher.fetch(u) for u in urls]

    return asyncio.run(go())


def test_encodings_are_decoded_and_unknown_ones_are_unverifiable(server: HostileServer) -> None:
    policy = AddressPolicy.from_cidrs(LOOPBACK)
    codings = ["gzip", "deflate", "deflate-raw"]
    results = fetch_all([server.url(f"/encoded?coding={c}") for c in codings]
                        + [server.url("/encoded?coding=br"), server.url("/encoded?coding=corrupt&size=20000")],
                        policy=policy)
    for coding, result in zip(codings, results):
        # The platform's marker sits at the very end: seen only if the body was really decoded.
        assert judge_page(result) == ("fail", "文章因违规无法查看"), (coding, result)
    br, corrupt = results[3:]
    assert br.error == "undecodable" and judge_page(br)[0] == "unverifiable"
    assert corrupt.error == "bad_body" and judge_page(corrupt) == ("fail", "页面压缩数据损坏，无法打开")


def test_a_compressed_page_over_the_limit_is_judged_on_what_was_read(server: HostileServer) -> None:
    big = server.url("/encoded?coding=gzip&size=3000000")  # the marker after 3 MB, the limit 2 MB
    small = server.url("/encoded?coding=deflate-raw&size=100000")
    [cut, whole] = fetch_all([big, small], policy=AddressPolicy.from_cidrs(LOOPBACK), max_body_bytes=2_000_000)
    assert cut.truncated and judge_page(cut) == ("ok", "HTTP 200")
    assert cut.text is not None and len(cut.text.encode("utf-8")) <= 2_000_000
    assert "办事指南" in cut.text[-100:]  # cut inside a character: still read as UTF-8, not mojibake
    assert not whole.truncated and whole.text is not None
    assert whole.text.endswith("此内容因违规无法查看</p></body></html>")


def test_a_slow_endless_body_ends_at_the_timeout_and_a_redirect_loop_at_the_cap(server: HostileServer) -> None:
    import time

    started = time.monotonic()
    [trickle, loop] = fetch_all([server.url("/trickle"), server.url("/loop")],
                                policy=AddressPolicy.from_cidrs(LOOPBACK), timeout_s=1.0, max_redirects=5)
    assert trickle.error == "timeout" and loop.error == "too_many_redirects" and loop.redirects == 5
    assert server.hits["/loop"] == 6
    assert time.monotonic() - started < 5


# -- the address policy: classification ---------------------------------------------------

REFUSED_FORMS = [
    "127.0.0.1", "127.255.255.254", "10.255.255.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9",
    "192.88.99.1",
    "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "::8.8.8.8",
    "::ffff:0:8.8.8.8", "64:ff9b::10.0.0.1", "64:ff9b::127.0.0.1", "64:ff9b:1::8.8.8.8", "2002:7f00:1::1",
    "2002:a00:1::1", "2002:a9fe:a9fe::1", "fe80::1", "fe80::1%eth0", "fec0::1", "fc00::1", "fd12:3456::1",
    "ff02::1", "ff0e::1", "2001:db8::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "100::1",
    "3fff::1", "5f00::1", "4000::1",
]
PUBLIC_FORMS = ["8.8.8.8", "1.1.1.1", "114.114.114.114", "180.101.50.188", "2400:3200::1", "2606:4700::1111",
                "::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1", "100.128.0.1", "172.32.0.1"]


@pytest.mark.parametrize("form", REFUSED_FORMS)
def test_non_global_forms_are_refused(form: str) -> None:
    assert not is_public(ipaddress.ip_address(form))
    assert not AddressPolicy().permits(form)
    assert AddressPolicy.from_cidrs(["0.0.0.0/0", "::/0"]).permits(form)  # everything allowed: allowed


@pytest.mark.parametrize("form", PUBLIC_FORMS)
def test_public_forms_pass(form: str) -> None:
    assert AddressPolicy().permits(form)


def test_embedded_addresses_and_the_allow_list() -> None:
    assert embedded_ipv4(ipaddress.IPv6Address("::ffff:127.0.0.1")) == ipaddress.IPv4Address("127.0.0.1")
    assert embedded_ipv4(ipaddress.IPv6Address("2002:a00:1::")) == ipaddress.IPv4Address("10.0.0.1")
    assert embedded_ipv4(ipaddress.IPv6Address("64:ff9b::a00:1")) == ipaddress.IPv4Address("10.0.0.1")
    loopback = AddressPolicy.from_cidrs(["127.0.0.1/32"])
    assert loopback.permits("127.0.0.1") and loopback.permits("::ffff:127.0.0.1")  # the same place
    assert not loopback.permits("127.0.0.2") and not loopback.permits("::1")
    assert not loopback.permits("::127.0.0.1") and not loopback.permits("2002:7f00:1::1")  # elsewhere
    assert AddressPolicy.from_cidrs(["fe80::/10"]).permits("fe80::1%eth0")
    assert not AddressPolicy().permits("not an address")


@pytest.mark.parametrize("host, verdict", [
    ("127.0.0.1", False), ("::1", False), ("[::1]", False), ("::ffff:7f00:1", False), ("127.1", False),
    ("0x7f.0.0.1", False), ("2130706433", False), ("017700000001", False), ("0", False), ("fe80::1%25eth0", False),
    ("8.8.8.8", True), ("intranet.example.gov.cn", None), ("localhost", None), ("", None), (None, None),
])
def test_literal_hosts(host: str | None, verdict: bool | None) -> None:
    """Literal hosts, legacy IPv4 spellings included, are judged here; names go to the resolver."""
    assert AddressPolicy().permits_host(host) is verdict


NON_GLOBAL_V4 = ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                 "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
                 "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"]
NON_GLOBAL_V6 = ["::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001:db8::/32", "100::/64"]


@st.composite
def address_in(draw: st.DrawFn, networks: Sequence[str]) -> tuple[Any, Any]:
    net = ipaddress.ip_network(draw(st.sampled_from(networks)))
    ip = net.network_address + draw(st.integers(0, net.num_addresses - 1))
    return net, ip


@settings(max_examples=400, deadline=None)
@given(address_in(NON_GLOBAL_V4 + NON_GLOBAL_V6), st.integers(0, 32))
def test_any_private_address_is_refused_unless_allowed(drawn: tuple[Any, Any], prefix: int) -> None:
    _, ip = drawn
    assert not AddressPolicy().permits(ip)
    mapped = ipaddress.IPv6Address(f"::ffff:{ip}") if ip.version == 4 else None
    if mapped is not None:
        assert not AddressPolicy().permits(mapped)
        assert not AddressPolicy().permits(ipaddress.IPv6Address((0x2002 << 112) | (int(ip) << 80)))  # 6to4
        assert not AddressPolicy().permits(ipaddress.IPv6Address((0x64FF9B << 96) | int(ip)))  # NAT64
    # Allowed by a CIDR around it (any width), and by nothing else.
    around = ipaddress.ip_network(f"{ip}/{min(prefix * (ip.max_prefixlen // 32), ip.max_prefixlen)}", strict=False)
    allowed = AddressPolicy((around,))
    assert allowed.permits(ip)
    if mapped is not None:
        assert allowed.permits(mapped)
    if around.num_addresses > 1:
        other = around.network_address + (int(ip) - int(around.network_address) + 1) % around.num_addresses
        assert AddressPolicy((ipaddress.ip_network(f"{other}/{ip.max_prefixlen}"),)).permits(ip) is False


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_a_mapped_address_is_judged_as_its_ipv4_address(value: int) -> None:
    v4 = ipaddress.IPv4Address(value)
    assert AddressPolicy().permits(v4) == AddressPolicy().permits(ipaddress.IPv6Address(f"::ffff:{v4}"))


# -- the address policy: nothing refused is ever requested --------------------------------

def private_columns(v4: HostileServer, v6: HostileServer | None) -> dict[str, str]:
    """Menu links into the monitor's own network, by column path."""
    p = v4.port
    columns = {
        "环回/IPv4": f"http://127.0.0.1:{p}/hit/v4",
        "环回/映射": f"http://[::ffff:127.0.0.1]:{p}/hit/mapped",
        "环回/旧式": f"http://127.1:{p}/hit/legacy",
        "环回/十六进制": f"http://0x7f.0.0.1:{p}/hit/hex",
        "环回/兼容": f"http://[::127.0.0.1]:{p}/hit/compat",
        "环回/6to4": f"http://[2002:7f00:1::1]:{p}/hit/6to4",
        "本机/全零": f"http://0.0.0.0:{p}/hit/zero",
        "本机/IPv6全零": f"http://[::]:{p}/hit/zero6",
        "内网/10": f"http://10.255.255.1:{p}/hit/ten",
        "内网/NAT64": f"http://[64:ff9b::a00:1]:{p}/hit/nat64",
        "内网/共享": f"http://100.64.0.1:{p}/hit/shared",
        "元数据/云": "http://169.254.169.254/latest/meta-data/",
        "组播/IPv4": f"http://224.0.0.1:{p}/hit/multicast",
        "链路本地/IPv6": f"http://[fe80::1]:{p}/hit/ll6",
        "域名/localhost": f"http://localhost:{p}/hit/localhost",
    }
    if v6 is not None:
        columns["环回/IPv6"] = f"http://[::1]:{v6.port}/hit/v6"
    return columns


NAMES = {"域名/localhost"}  # resolved, not literal: unverifiable rather than failing


@pytest.fixture
def v6_server() -> Iterator[HostileServer | None]:
    if not ipv6_loopback():
        yield None
        return
    with HostileServer("::1") as srv:
        yield srv


def test_private_menu_links_are_never_requested(server: HostileServer, v6_server: HostileServer | None,
                                                canary: HostileServer, tmp_path: Path) -> None:
    columns = private_columns(server, v6_server)
    config = write_config(tmp_path / "accounts.yaml", list(columns.items()), api_base=canary.base_url)
    rows, _ = run_probe(config)
    assert set(rows) == set(columns)
    for path, row in rows.items():
        assert PRIVATE_REASON in row["reason"], row
        assert row["status"] == ("unverifiable" if path in NAMES else "failing"), row
        assert row["http_status"] is None and row["elapsed_ms"] is None, row  # no timing to map a network with
    assert server.connections == 0 and not server.hits
    if v6_server is not None:
        assert v6_server.connections == 0
    assert canary.connections >= 1  # the monitor was online: the refusals are not its own trouble


def test_allowed_private_targets_are_requested(server: HostileServer, v6_server: HostileServer | None,
                                               canary: HostileServer, tmp_path: Path) -> None:
    columns = private_columns(server, v6_server)
    config = write_config(tmp_path / "accounts.yaml", list(columns.items()), api_base=canary.base_url,
                          allow=["127.0.0.1/32", "::1/128"])
    rows, _ = run_probe(config)
    reached = {"环回/IPv4": "/hit/v4", "环回/映射": "/hit/mapped", "域名/localhost": "/hit/localhost",
               "环回/十六进制": "/hit/hex"}  # 0x7f.0.0.1 is 127.0.0.1 to the policy and to libc alike
    for path, hit in reached.items():
        assert rows[path]["status"] == "ok", rows[path]
        assert server.hits[hit] == 1, (path, server.hits)
    if v6_server is not None:
        assert rows["环回/IPv6"]["status"] == "ok" and v6_server.hits["/hit/v6"] == 1
    # 127.1 is allowed by the policy too, but aiohttp refuses to connect to a non-canonical literal.
    assert rows["环回/旧式"]["reason"] == "链接格式错误"
    for path in set(columns) - set(reached) - {"环回/IPv6", "环回/旧式"}:
        assert rows[path]["status"] == "failing" and rows[path]["reason"] == PRIVATE_REASON, rows[path]
    # Besides the pages: one look per reached site at a path that cannot exist (the soft-404 baseline),
    # through the same address policy.
    assert {h for h in server.hits if not h.startswith("/wxmon-")} == set(reached.values())


@pytest.fixture
def allowed_hop() -> Iterator[HostileServer]:
    """A site on 127.0.0.2: allowed by the tests' config, unlike 127.0.0.1 where the target listens."""
    try:
        srv = HostileServer("127.0.0.2")
    except OSError as exc:
        missing(f"cannot listen on 127.0.0.2: {exc}")
    with srv:
        yield srv


def test_redirects_into_private_space_are_never_followed(server: HostileServer, allowed_hop: HostileServer,
                                                         v6_server: HostileServer | None, canary: HostileServer,
                                                         tmp_path: Path) -> None:
    from urllib.parse import quote

    def via(to: str, status: int = 302) -> str:
        return allowed_hop.url(f"/redirect?status={status}&to={quote(to, safe='')}")

    p = server.port
    columns = {
        "跳转/IPv4": via(f"http://127.0.0.1:{p}/hit/abs"),
        "跳转/301": via(f"http://127.0.0.1:{p}/hit/abs301", 301),
        "跳转/307": via(f"http://127.0.0.1:{p}/hit/abs307", 307),
        "跳转/映射": via(f"http://[::ffff:127.0.0.1]:{p}/hit/mapped"),
        "跳转/两跳": via(via(f"http://127.0.0.1:{p}/hit/two")),
        "跳转/相对两跳": via(f"/redirect?to={quote(f'http://127.0.0.1:{p}/hit/rel-two', safe='')}"),
        "跳转/元数据": via("http://169.254.169.254/latest/meta-data/"),
        "跳转/内网": via(f"http://10.255.255.1:{p}/hit/ten"),
        "跳转/localhost": via(f"http://localhost:{p}/hit/name"),
        "跳转/本站": via("/hit/same-site"),  # a relative hop on the allowed site: followed
    }
    if v6_server is not None:
        columns["跳转/IPv6"] = via(f"http://[::1]:{v6_server.port}/hit/v6")
    config = write_config(tmp_path / "accounts.yaml", list(columns.items()), api_base=canary.base_url,
                          allow=["127.0.0.2/32"])
    rows, _ = run_probe(config)
    assert rows["跳转/本站"]["status"] == "ok" and allowed_hop.hits["/hit/same-site"] == 1
    for path in set(columns) - {"跳转/本站"}:
        expected = "unverifiable" if path == "跳转/localhost" else "failing"
        assert rows[path]["status"] == expected and PRIVATE_REASON in rows[path]["reason"], rows[path]
    assert allowed_hop.hits["/redirect"] == len(columns) + 2  # the two-hop chains pass it twice
    assert server.connections == 0
    if v6_server is not None:
        assert v6_server.connections == 0


# -- a name of our own resolving to a private address (a private mount of /etc/hosts) ---------

def unshare_hosts(tmp_path: Path, entries: dict[str, str]) -> list[str]:
    """A command prefix running the rest with ``entries`` in /etc/hosts, in a mount namespace of its own."""
    if shutil.which("unshare") is None:
        missing("unshare is not installed")
    if os.geteuid() != 0:
        missing("a private /etc/hosts needs root (unshare -m, mount --bind); CI runs as root")
    hosts = tmp_path / "hosts"
    hosts.write_text("".join(f"{ip} {name}\n" for name, ip in entries.items())
                     + Path("/etc/hosts").read_text(encoding="utf-8"), encoding="utf-8")
    wrap = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    name, ip = next(iter(entries.items()))
    check = subprocess.run([*wrap, "getent", "hosts", name], capture_output=True, text=True, timeout=30)
    if check.returncode != 0 or ip not in check.stdout:
        missing(f"unshare -m / mount --bind not permitted here: {check.stderr.strip() or check.stdout.strip()}")
    return wrap


def test_a_name_resolving_to_a_private_address(server: HostileServer, canary: HostileServer, tmp_path: Path) -> None:
    wrap = unshare_hosts(tmp_path, {"intranet.example.gov.cn": "127.0.0.1",
                                    "metadata.example.gov.cn": "169.254.169.254"})
    columns = {"内网/域名": f"http://intranet.example.gov.cn:{server.port}/hit/intranet",
               "元数据/域名": "http://metadata.example.gov.cn/latest/meta-data/",
               "跳转/域名": server.url(f"/redirect?to=http://intranet.example.gov.cn:{server.port}/hit/hop")}
    refused = tmp_path / "refused" / "accounts.yaml"
    refused.parent.mkdir()
    write_config(refused, list(columns.items()), api_base=canary.base_url)
    rows, _ = run_probe(refused, wrap)
    for path in ("内网/域名", "元数据/域名"):
        assert rows[path]["status"] == "unverifiable", rows[path]
        assert rows[path]["reason"] == "链接指向内网地址（域名解析到内网地址，监测服务器按安全策略不访问）"
    assert rows["跳转/域名"]["status"] == "failing"  # 127.0.0.1 itself is not allowed here
    assert server.connections == 0

    allowed = tmp_path / "allowed" / "accounts.yaml"
    allowed.parent.mkdir()
    write_config(allowed, list(columns.items()), api_base=canary.base_url, allow=LOOPBACK)
    rows, _ = run_probe(allowed, wrap)
    assert rows["内网/域名"]["status"] == "ok" and server.hits["/hit/intranet"] == 1
    assert rows["跳转/域名"]["status"] == "ok" and server.hits["/hit/hop"] == 1
    assert rows["元数据/域名"]["status"] == "unverifiable"  # 169.254.169.254 is still not allowed


# -- channels -----------------------------------------------------------------------------

def test_bridge_channel_reaches_only_permitted_addresses(server: HostileServer, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The bridge's URL is under the same policy (it is not the operator's API base)."""
    from monitor.config import Account, Config
    from probes.channels import BridgeChannel, ChannelError, channel_for

    acct = Account(id="jd-test", name="测试街道（模拟）", unit="测试街道办事处（模拟）", category="乡镇街道",
                   api=False, inquiry={"channel": "bridge", "questions": ["请问？"]})

    async def ask(chan: BridgeChannel) -> str:
        from datetime import datetime

        try:
            await chan.replies_since(acct, "phone-1", datetime(2023, 7, 3, tzinfo=UTC))
        except ChannelError as exc:
            return str(exc)
        finally:
            await chan.aclose()
        return "sent"

    for url in (server.base_url, f"http://localhost:{server.port}", f"http://[::ffff:127.0.0.1]:{server.port}"):
        message = asyncio.run(ask(BridgeChannel(url, "token")))
        assert "address refused" in message and "token" not in message, message
    assert server.connections == 0
    monkeypatch.setenv("WXMON_TEST_BRIDGE_TOKEN", "token")
    config = Config.model_validate({"channels": {"bridge": {"url": server.base_url,
                                                            "token_env": "WXMON_TEST_BRIDGE_TOKEN"}},
                                    "checks": {"allow_private": LOOPBACK}, "accounts": [acct.model_dump()]},
                                   context={"config_dir": tmp_path})
    chan = channel_for(config, config.accounts[0])
    assert isinstance(chan, BridgeChannel)
    assert asyncio.run(ask(chan)) == "bridge replies: HTTP 404"  # reached: it is no bridge
    assert server.hits["/replies"] == 1
