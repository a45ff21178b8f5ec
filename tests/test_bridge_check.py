"""The bridge protocol (docs/bridge-openapi.yaml), the emulator's rig behind it, `wxmon bridge check`, and
inquiries through the bridge channel in a simulation.

`bridge check` passes against the emulator's bridge and against a faithful stub rig, and fails with the
right finding against the same stub given one flaw at a time (skips auth, ignores the key, times without
offsets, ignores `since`, unbounded answer, ignores check mode, accepts a reused key). Checking sends
nothing to a real account unless --send is given, and then once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from emulator.bridge import TOKEN_ENV as EMULATOR_TOKEN_ENV
from emulator.scenario import load_scenario
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, VirtualClock, as_utc, set_clock, to_local
from monitor.config import Account
from monitor.netpolicy import AddressPolicy
from probes.channels import BridgeChannel, ChannelError
from probes.channels.base import MINUTE
from probes.channels.bridge import CHECK_HEADER, MAX_ANSWER_BYTES, MAX_REPLIES, PROTOCOL
from wxmon.cli import main

ROOT = Path(__file__).resolve().parents[1]
OPENAPI = ROOT / "docs" / "bridge-openapi.yaml"
TOKEN = "rig-token-Zk3v9"
LOOPBACK = "127.0.0.1/32"
T0 = datetime(2023, 11, 6, 9, 0, tzinfo=SHANGHAI)
NOW = T0 + timedelta(days=1)


# ---------------------------------------------------------------------------- the protocol document

def test_openapi_document_is_valid_and_agrees_with_the_code() -> None:
    from openapi_spec_validator import validate

    spec = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    validate(spec)  # raises on anything that is not OpenAPI 3.1
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {"/info", "/send", "/replies"}
    assert spec["components"]["securitySchemes"]["bearer"] == {**spec["components"]["securitySchemes"]["bearer"],
                                                               "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"bearer": []}]
    schemas = spec["components"]["schemas"]
    assert schemas["Info"]["properties"]["protocol"]["const"] == PROTOCOL
    assert schemas["Replies"]["properties"]["replies"]["maxItems"] == MAX_REPLIES
    assert spec["components"]["parameters"]["Check"]["name"] == CHECK_HEADER
    assert "key" in schemas["SendRequest"]["required"]
    send = spec["paths"]["/send"]["post"]["responses"]
    assert {"200", "400", "401", "404", "409", "5XX"} <= set(send)
    assert f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB" in spec["info"]["description"]


# ---------------------------------------------------------------------------- a stub rig

class StubRig:
    """A rig speaking the protocol faithfully, except for the ``flaws`` it is given (aiohttp on 127.0.0.1).

    It knows one conversation (account ``acct-1``, tester ``t1``) with three replies and counts what it
    would have sent on a device (``deliveries``)."""

    def __init__(self, *flaws: str, dry_run: bool = True) -> None:
        self.flaws = set(flaws)
        self.dry_run = dry_run
        self.deliveries: list[dict[str, Any]] = []
        self.books: dict[bool, dict[str, tuple[tuple[Any, ...], dict[str, Any]]]] = {True: {}, False: {}}
        self.replies = [(T0 + timedelta(hours=h), text) for h, text in
                        ((1, "您好，已收到。"), (2, "办理时间为工作日。"), (3, "请携带身份证。"))]
        self.count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _time(self, at: datetime) -> str:
        local = to_local(at)
        return (local.replace(tzinfo=None) if "naive_times" in self.flaws else local).isoformat()

    def _refused(self, request: web.Request) -> web.Response | None:
        if "skip_auth" in self.flaws or request.headers.get("Authorization") == f"Bearer {TOKEN}":
            return None
        return web.json_response({"error": "token"}, status=401)

    async def info(self, request: web.Request) -> web.Response:
        return self._refused(request) or web.json_response(
            {"protocol": PROTOCOL, "rig": "stub 1", "device": "nothing", "resolution": "second",
             "dry_run": self.dry_run})

    async def send(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        body = await request.json()
        if not all(isinstance(body.get(k), str) and body[k] for k in ("account", "tester", "text", "key")):
            return web.json_response({"error": "bad request"}, status=400)
        dry = request.headers.get(CHECK_HEADER) == "dry-run" and "ignore_dry_run" not in self.flaws
        book, asked = self.books[dry], (body["account"], body["tester"], body["text"])
        if body["key"] in book and "ignore_key" not in self.flaws:
            first_asked, answer = book[body["key"]]
            if first_asked != asked and "no_clash" not in self.flaws:
                return web.json_response({"error": "key reused"}, status=409)
            return web.json_response(answer)
        self.count += 1
        answer = {"ref": f"ref-{self.count}", "sent_at": self._time(NOW), **({"dry_run": True} if dry else {})}
        if not dry:
            self.deliveries.append(body)
        book[body["key"]] = (asked, answer)
        return web.json_response(answer)

    async def list_replies(self, request: web.Request) -> web.Response:
        if (refused := self._refused(request)) is not None:
            return refused
        try:
            since = as_utc(datetime.fromisoformat(request.query["since"]))
        except (KeyError, ValueError):
            return web.json_response({"error": "since"}, status=400)
        if request.headers.get(CHECK_HEADER) == "dry-run":
            return web.json_response({"replies": []})
        if request.query.get("account") != "acct-1":
            return web.json_response({"error": "no chat"}, status=404)
        listed = [(at, text) for at, text in self.replies if at > since or "no_since" in self.flaws]
        data: dict[str, Any] = {"replies": [{"at": self._time(at), "text": text} for at, text in listed]}
        if "huge" in self.flaws:
            data["padding"] = "x" * (MAX_ANSWER_BYTES + 1)
        return web.json_response(data)

    def __enter__(self) -> StubRig:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_get("/info", self.info)
            app.router.add_post("/send", self.send)
            app.router.add_get("/replies", self.list_replies)
            runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
            self.port = runner.addresses[0][1]
            self._loop = loop
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._thread is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """The monitor's clock, at the stub's "now" (tests of the emulator set it to the emulator's)."""
    virtual = VirtualClock(NOW)
    previous = set_clock(virtual)
    yield virtual
    set_clock(previous)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXMON_BRIDGE_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)  # no ./accounts.yaml: only --allow-private opens loopback


def check(capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, set[str]]:
    """``wxmon bridge check URL --allow-private 127.0.0.1/32 ARGS`` -> exit code, output, failed check ids."""
    code = main(["bridge", "check", url, "--allow-private", LOOPBACK, *args])
    out, err = capsys.readouterr()
    failed = {line.split("]", 1)[1].split(":", 1)[0].strip() for line in out.splitlines()
              if line.startswith("[未通过]")}
    return code, out + err, failed


# ---------------------------------------------------------------------------- bridge check against the stub

def test_a_faithful_rig_conforms_and_nothing_is_sent(capsys, clock, env) -> None:
    with StubRig() as rig:
        code, out, failed = check(capsys, rig.url, "--account", "acct-1", "--tester", "t1")
    assert code == 0 and failed == set(), out
    for passed in ("reachable", "info", "auth", "send", "idempotency", "refusal", "replies", "since"):
        assert f"[通过] {passed}:" in out, passed
    assert "符合 bridge 协议 wxmon-bridge/1" in out
    assert rig.deliveries == []  # check mode only: the device was never asked to send
    assert TOKEN not in out


@pytest.mark.parametrize("flaw, expected", [
    ("skip_auth", {"auth"}),
    ("ignore_key", {"idempotency"}),
    ("no_clash", {"idempotency"}),
    ("naive_times", {"send", "replies"}),
    ("no_since", {"since"}),
    ("huge", {"bounds"}),
    ("ignore_dry_run", {"send"}),
])
def test_each_flaw_is_found_and_named(capsys, clock, env, flaw: str, expected: set[str]) -> None:
    with StubRig(flaw) as rig:
        code, out, failed = check(capsys, rig.url, "--account", "acct-1", "--tester", "t1")
    assert code == 1 and failed == expected, out
    assert "不符合 bridge 协议" in out
    if flaw == "naive_times":
        assert "缺少时区偏移" in out
    if flaw == "ignore_dry_run":
        assert "X-Wxmon-Check" in out
        # what such a rig tried to send went to an account no one has, never to acct-1
        assert {d["account"] for d in rig.deliveries} == {"wxmon-check"}


def test_a_rig_without_check_mode_cannot_prove_its_key_without_a_real_send(capsys, clock, env) -> None:
    with StubRig(dry_run=False) as rig:
        code, out, failed = check(capsys, rig.url)
        assert code == 1 and failed == {"idempotency"} and rig.deliveries == []
        # asked to, it sends once to the office's test account and proves the key with it
        code, out, failed = check(capsys, rig.url, "--account", "acct-1", "--tester", "t1", "--send")
    assert code == 0, out
    assert [d["account"] for d in rig.deliveries] == ["acct-1"]  # the repeated key sent nothing more


def test_unreachable_and_refused_addresses(capsys, clock, env, unused_tcp_port: int) -> None:
    code, out, failed = check(capsys, f"http://127.0.0.1:{unused_tcp_port}/bridge")
    assert code == 1 and failed == {"reachable"} and "无法连接" in out
    with StubRig() as rig:
        code = main(["bridge", "check", rig.url])  # loopback not allowed: the channel could not reach it either
        out = capsys.readouterr().out
    assert code == 1 and "checks.allow_private" in out


@pytest.fixture
def unused_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("args, problem", [
    (["http:///nohost"], "is not an http(s) URL with a host"),
    (["http://127.0.0.1:99999/"], "is not an http(s) URL with a host"),
    (["http://rig:pw-Secret9@127.0.0.1:9/"], "'http://***@127.0.0.1:9/': no user name or password in the URL"),
    (["http://127.0.0.1:9", "--send"], "--send needs --account"),
    (["http://127.0.0.1:9", "--token-env", "NO_SUCH_TOKEN_VAR"], "environment variable NO_SUCH_TOKEN_VAR is not set"),
    (["http://127.0.0.1:9", "--allow-private", "10.0.0.0/33"], "is not a CIDR"),
])
def test_bad_input_is_exit_2(capsys, env, args: list[str], problem: str) -> None:
    assert main(["bridge", "check", *args]) == 2
    err = capsys.readouterr().err
    assert problem in err and len(err.strip().splitlines()) == 1 and "pw-Secret9" not in err


def test_allow_private_and_token_env_come_from_the_config(capsys, clock, env, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFICE_RIG_TOKEN", TOKEN)
    monkeypatch.delenv("WXMON_BRIDGE_TOKEN")
    config = tmp_path / "office.yaml"
    with StubRig() as rig:
        config.write_text(yaml.safe_dump({
            "checks": {"allow_private": [LOOPBACK]},
            "channels": {"bridge": {"url": rig.url, "token_env": "OFFICE_RIG_TOKEN"}},
            "accounts": [{"id": "acct-1", "name": "甲（模拟）", "unit": "甲", "category": "政府部门", "api": False,
                          "inquiry": {"channel": "bridge", "tester": "t1", "questions": ["你好"]}}],
        }, allow_unicode=True), encoding="utf-8")
        code = main(["bridge", "check", rig.url, "--config", str(config), "--account", "acct-1"])
        out, err = capsys.readouterr()
    assert code == 0 and "[通过] since" in out, out + err  # the account's tester t1 came from the config


# ---------------------------------------------------------------------------- the emulator's rig

@pytest.fixture
def emulator_rig(monkeypatch: pytest.MonkeyPatch, make_emulator: Any) -> Iterator[EmulatorServer]:
    """The demo scenario's emulator, its bridge token from the environment, its clock the monitor's."""
    monkeypatch.setenv(EMULATOR_TOKEN_ENV, TOKEN)
    server = make_emulator(load_scenario(None), clock=VirtualClock(datetime(2023, 7, 3, 9, 0, tzinfo=SHANGHAI)))
    previous = set_clock(server.clock)
    yield server
    set_clock(previous)


@pytest.mark.parametrize("account", ["jd-binhe", "jd-xinqiao"])  # second and minute resolution
def test_the_emulators_bridge_conforms(capsys, env, emulator_rig: EmulatorServer, account: str) -> None:
    url = f"{emulator_rig.base_url}/_emu/bridge"
    code, out, failed = check(capsys, url, "--account", account, "--tester", "t1", "--send")
    assert code == 0 and failed == set(), out
    assert "[通过] send: POST /send 实发" in out and "clock" not in out
    world = emulator_rig.world
    # one real message: the check's repeated key sent nothing, its check-mode sends never reached the world
    assert [(q.tester, q.text) for a in world.accounts.values() for q in a.inquiries] == [
        ("t1", "【wxmon接入测试】这是一条测试消息，无需回复。")]
    emulator_rig.clock.advance(timedelta(days=3))  # the account answers in its own time
    code, out, failed = check(capsys, url, "--account", account, "--tester", "t1")
    assert code == 0 and "[通过] since: since 过滤正确" in out, out
    assert len(world.accounts[account].inquiries) == 1


def test_the_emulators_bridge_refuses_a_wrong_token(capsys, env, emulator_rig: EmulatorServer,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXMON_BRIDGE_TOKEN", "wxmon-emulator")  # the default token is not the one it was given
    code, out, failed = check(capsys, f"{emulator_rig.base_url}/_emu/bridge")
    assert code == 1 and "info" in failed and "HTTP 401" in out


def _account(account_id: str, name: str, appid: str) -> Account:
    return Account.model_validate({"id": account_id, "name": name, "unit": name, "category": "乡镇街道",
                                   "appid": appid, "api": False,
                                   "inquiry": {"channel": "bridge", "questions": ["你好"]}})


def test_channel_through_the_emulators_bridge_sends_once_per_key_with_minute_times(
        emulator_rig: EmulatorServer) -> None:
    scenario = {a.id: a for a in emulator_rig.scenario.accounts}
    # wxmon's id may differ from the emulator's: the rig finds the account by appid, and its chat after that
    acct = _account("office-xinqiao", "新桥街道（模拟）", scenario["jd-xinqiao"].appid)

    async def go() -> tuple[Any, Any, list[Any]]:
        chan = BridgeChannel(f"{emulator_rig.base_url}/_emu/bridge", TOKEN, policy=AddressPolicy.from_cidrs([LOOPBACK]))
        try:
            first = await chan.send(acct, "phone-1", "请问周末办理吗？", key="wxmon-inquiry-1")
            again = await chan.send(acct, "phone-1", "请问周末办理吗？", key="wxmon-inquiry-1")
            emulator_rig.clock.advance(timedelta(days=3))
            return first, again, await chan.replies_since(acct, "phone-1", first.sent_at)
        finally:
            await chan.aclose()

    first, again, replies = asyncio.run(go())
    assert first == again and len(emulator_rig.world.accounts["jd-xinqiao"].inquiries) == 1
    assert first.sent_at.second == 0  # a phone's minute
    assert replies and all(r.resolution == MINUTE and r.at.second == 0 for r in replies)


# ---------------------------------------------------------------------------- the channel holds the protocol

def test_the_channel_refuses_what_the_protocol_forbids(clock) -> None:
    acct = _account("acct-1", "甲（模拟）", "wx0123456789abcdef")

    async def go(rig: StubRig, what: str) -> ChannelError:
        chan = BridgeChannel(rig.url, TOKEN, policy=AddressPolicy.from_cidrs([LOOPBACK]))
        try:
            with pytest.raises(ChannelError) as info:
                if what == "send":
                    await chan.send(acct, "t1", "你好", key="k1")
                else:
                    await chan.replies_since(acct, "t1", T0)
            return info.value
        finally:
            await chan.aclose()

    with StubRig("naive_times") as rig:
        naive = asyncio.run(go(rig, "send"))
        assert "without a UTC offset" in str(naive) and naive.maybe_delivered  # it answered 200: maybe sent
        assert "without a UTC offset" in str(asyncio.run(go(rig, "replies")))
    with StubRig("huge") as rig:
        assert f"longer than {MAX_ANSWER_BYTES} bytes" in str(asyncio.run(go(rig, "replies")))


# ---------------------------------------------------------------------------- a simulation through the bridge

def test_a_small_scenario_through_the_bridge_keeps_its_verdicts(tmp_path: Path) -> None:
    data = ROOT / "tests" / "data" / "scenarios"
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "wxmon.cli", "simulate", "--scenario", str(data / "shanzhen.yaml"),
                           "--config", str(data / "shanzhen-accounts.yaml"), "--out", str(out), "--channel", "bridge"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "合格率40.0%" in done.stdout and "全部一致" in done.stdout
    run_config = yaml.safe_load((out / "accounts.yaml").read_text(encoding="utf-8"))
    assert run_config["channels"]["bridge"]["url"].endswith("/_emu/bridge")
    assert {a["inquiry"]["channel"] for a in run_config["accounts"] if "inquiry" in a} == {"bridge"}
    assert set(run_config["channels"]["bridge"]) == {"url", "token_env"}  # the token itself is never written
    with sqlite3.connect(out / "wxmon.db") as db:
        channels = {row[0] for row in db.execute("select channel from inquiries")}
        sent = db.execute("select count(*) from inquiries where sent_at is not null").fetchone()[0]
    assert channels == {"bridge"} and sent > 0


def test_the_rig_sketch_in_the_guide_is_python() -> None:
    import re

    guide = (ROOT / "docs" / "bridge.md").read_text(encoding="utf-8")
    sketches = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert sketches and "X-Wxmon-Check" in sketches[0] and '"dry_run": True' in sketches[0]
    compile(sketches[0], "docs/bridge.md", "exec")  # an office copies it: it must at least parse
