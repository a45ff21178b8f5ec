"""Inquiry channels: the emulator's follower, the tester-device bridge and the manual log."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, VirtualClock, as_utc
from monitor.config import Account, Config
from monitor.errors import BadInput
from monitor.netpolicy import AddressPolicy
from monitor.store import Store
from probes.channels import BridgeChannel, ChannelError, EmulatorChannel, ManualChannel, Reply, TaskDesk, channel_for

TOKEN = "s3cret-bridge-token-value"
LOOPBACK = AddressPolicy.from_cidrs(["127.0.0.1/32"])  # the fake bridge's address


def at(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI))


def account(account_id: str = "jd-binhe", columns: list[dict[str, Any]] | None = None, **inquiry: Any) -> Account:
    return Account(id=account_id, name="滨河街道（模拟）", unit="滨河街道办事处（模拟）", category="乡镇街道",
                   api=False, columns=columns or [],
                   inquiry={"channel": "manual", "questions": ["请问？"], **inquiry})


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeBridge:
    """A tester-device bridge speaking the documented wire format (stdlib HTTP server in a thread).

    ``mode``: ``ok``; ``lose_first`` (the first send is done but its answer is an HTTP 500);
    ``garbage`` (200 with HTML); ``bad_replies`` (replies list malformed); ``error500``.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.mode = "ok"
        self.sent: dict[str, dict[str, Any]] = {}  # key -> {ref, sent_at, body}
        self.deliveries = 0  # messages that really left the "device"
        self.replies: list[dict[str, Any]] = []  # {account, tester, at, text}
        self.seen_auth: list[str | None] = []
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, raw: bool = False) -> None:
                data = body.encode() if raw else json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if raw else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                auth = self.headers.get("Authorization")
                bridge.seen_auth.append(auth)
                if auth != f"Bearer {TOKEN}":
                    self._answer(401, {"error": f"bad token {auth}"})  # a careless service echoes it
                    return False
                return True

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if bridge.mode == "error500":
                    return self._answer(500, {"error": "device offline"})
                key = body["key"]
                first = key not in bridge.sent
                if first:
                    bridge.deliveries += 1
                    bridge.sent[key] = {"ref": f"dev-{len(bridge.sent) + 1}",
                                        "sent_at": bridge.clock.now().astimezone(SHANGHAI).isoformat(),
                                        "body": body}
                if bridge.mode == "garbage":
                    return self._answer(200, "<html>oops</html>", raw=True)
                if bridge.mode == "lose_first" and first:
                    return self._answer(500, {"error": "lost"})
                done = bridge.sent[key]
                self._answer(200, {"ref": done["ref"], "sent_at": done["sent_at"]})

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                q = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                since = as_utc(datetime.fromisoformat(q["since"]))
                if bridge.mode == "bad_replies":
                    return self._answer(200, {"replies": [{"when": "yesterday"}]})
                out = [{"at": r["at"], "text": r["text"], "kind": "human?"} for r in bridge.replies
                       if r["account"] == q["account"] and r["tester"] == q["tester"]
                       and since < as_utc(datetime.fromisoformat(r["at"])) <= bridge.clock.now()]
                self._answer(200, {"replies": out})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, account_id: str, tester: str, when: datetime, text: str) -> None:
        self.replies.append({"account": account_id, "tester": tester,
                             "at": when.astimezone(SHANGHAI).isoformat(), "text": text})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def bridge() -> Iterator[FakeBridge]:
    fake = FakeBridge(VirtualClock(at("2023-07-03T09:00")))
    yield fake
    fake.stop()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------
# emulator


def test_emulator_channel_sends_and_lists_replies_without_their_kind(emulator: EmulatorServer) -> None:
    emulator.clock.set(at("2023-07-03T10:00"))
    acct = account()

    async def go() -> tuple[Any, list[Reply], list[Reply]]:
        chan = EmulatorChannel(emulator.base_url)
        try:
            sent = await chan.send(acct, "tester-a", "请问社区事务受理服务中心周末开门吗？")
            early = await chan.replies_since(acct, "tester-a", sent.sent_at)
            emulator.clock.advance(timedelta(days=2))
            later = await chan.replies_since(acct, "tester-a", sent.sent_at)
            return sent, early, later
        finally:
            await chan.aclose()

    sent, early, later = run(go())
    assert sent.sent_at == at("2023-07-03T10:00") and sent.ref
    assert early == []  # replies strictly after since and not in the future
    assert len(later) == 2 and later[0].at == sent.sent_at + timedelta(seconds=1)
    # The emulator labels its replies auto/human; the channel passes on time and text only.
    # (stated_auto is what an inspector says of a reply they saw: the manual channel's only.)
    assert {f.name for f in dataclasses.fields(Reply)} == {"at", "text", "resolution", "stated_auto"}
    assert not any(r.stated_auto for r in later)
    assert later[0].resolution == timedelta(seconds=1)  # the demo's follower: times to the second
    assert all(r.at.tzinfo is not None for r in later)


def test_emulator_channel_failures_are_channel_errors(emulator: EmulatorServer) -> None:
    async def go(url: str, account_id: str) -> ChannelError:
        chan = EmulatorChannel(url)
        try:
            with pytest.raises(ChannelError) as info:
                await chan.send(account(account_id), "t", "hello")
            return info.value
        finally:
            await chan.aclose()

    refused = run(go(closed_port_url(), "jd-binhe"))
    assert "cannot connect" in str(refused) and not refused.maybe_delivered
    unknown = run(go(emulator.base_url, "no-such-account"))  # HTTP 404: refused, nothing sent
    assert "HTTP 404" in str(unknown) and not unknown.maybe_delivered


# ---------------------------------------------------------------------------
# bridge


def test_bridge_round_trip_and_idempotent_key(bridge: FakeBridge) -> None:
    acct = account()

    async def go() -> tuple[Any, Any, list[Reply]]:
        chan = BridgeChannel(bridge.url, TOKEN, policy=LOOPBACK)
        try:
            first = await chan.send(acct, "phone-1", "请问？", key="wxmon-inquiry-7")
            again = await chan.send(acct, "phone-1", "请问？", key="wxmon-inquiry-7")
            bridge.reply("jd-binhe", "phone-1", at("2023-07-03T11:30"), "您好，已收到。")
            bridge.clock.set(at("2023-07-03T12:00"))
            return first, again, await chan.replies_since(acct, "phone-1", first.sent_at)
        finally:
            await chan.aclose()

    first, again, replies = run(go())
    assert first == again and bridge.deliveries == 1
    assert first.sent_at == at("2023-07-03T09:00")
    assert replies == [Reply(at("2023-07-03T11:30"), "您好，已收到。")]
    body = bridge.sent["wxmon-inquiry-7"]["body"]
    assert body == {"account": "jd-binhe", "account_name": "滨河街道（模拟）", "appid": None,
                    "tester": "phone-1", "text": "请问？", "key": "wxmon-inquiry-7"}
    assert set(bridge.seen_auth) == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("mode,maybe", [("error500", True), ("garbage", True), ("bad_replies", None)])
def test_bridge_failures_are_channel_errors_without_the_token(bridge: FakeBridge, mode: str, maybe: Any) -> None:
    bridge.mode = mode

    async def go() -> ChannelError:
        chan = BridgeChannel(bridge.url, TOKEN, policy=LOOPBACK)
        try:
            with pytest.raises(ChannelError) as info:
                if mode == "bad_replies":
                    await chan.replies_since(account(), "p", at("2023-07-01T00:00"))
                else:
                    await chan.send(account(), "p", "请问？", key="k")
            return info.value
        finally:
            await chan.aclose()

    err = run(go())
    assert TOKEN not in str(err)
    if maybe is not None:
        assert err.maybe_delivered is maybe


def test_bridge_wrong_or_missing_token(bridge: FakeBridge, monkeypatch: pytest.MonkeyPatch) -> None:
    async def go(chan: BridgeChannel) -> ChannelError:
        try:
            with pytest.raises(ChannelError) as info:
                await chan.send(account(), "p", "请问？", key="k")
            return info.value
        finally:
            await chan.aclose()

    wrong = run(go(BridgeChannel(bridge.url, "wrong-" + TOKEN, policy=LOOPBACK)))
    assert "HTTP 401" in str(wrong) and TOKEN not in str(wrong) and not wrong.maybe_delivered
    missing = run(go(BridgeChannel(bridge.url, None, token_env="WXMON_BRIDGE_TOKEN", policy=LOOPBACK)))
    assert "WXMON_BRIDGE_TOKEN" in str(missing)
    assert bridge.deliveries == 0
    assert TOKEN not in repr(BridgeChannel(bridge.url, TOKEN, policy=LOOPBACK))


def test_channel_for_builds_each_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXMON_BRIDGE_TOKEN", TOKEN)
    config = Config.model_validate({
        "wechat": {"api_base": "http://127.0.0.1:1"},
        "channels": {"bridge": {"url": "http://127.0.0.1:2/b", "token_env": "WXMON_BRIDGE_TOKEN"}},
        "accounts": [
            account("a-emu", channel="emulator").model_dump(),
            account("a-man").model_dump(),
            account("a-bri", channel="bridge").model_dump(),
            account("a-none", columns=[{"path": "x", "type": "click"}], channel="none").model_dump(),
        ],
    }, context={"config_dir": tmp_path})
    kinds = {}
    for acct in config.accounts:
        chan = channel_for(config, acct)
        kinds[acct.id] = chan
    assert isinstance(kinds["a-emu"], EmulatorChannel) and kinds["a-emu"].base_url == "http://127.0.0.1:1"
    assert isinstance(kinds["a-man"], ManualChannel) and kinds["a-man"].config is config
    assert isinstance(kinds["a-bri"], BridgeChannel) and kinds["a-bri"]._token == TOKEN
    assert kinds["a-none"] is None
    for chan in kinds.values():
        if chan is not None:
            run(chan.aclose())


# ---------------------------------------------------------------------------
# manual


def test_manual_channel_issues_a_task_and_reads_what_the_inspector_records(tmp_path: Path) -> None:
    clock = VirtualClock(at("2023-07-03T09:00"))
    acct = account()
    config = Config.model_validate({"store": f"sqlite:///{tmp_path / 'wxmon.db'}", "accounts": [acct.model_dump()]},
                                   context={"config_dir": tmp_path})
    with Store.open(config.store_url) as store:
        from monitor.store import Account as StoredAccount

        store.upsert_accounts([StoredAccount(acct.id, acct.name)])
        chan = ManualChannel(config, store=store, clock=clock)
        msg = run(chan.send(acct, "检查员手机A", "请问居住证续签需要带什么材料？", key="wxmon-inquiry-1"))
        assert msg.sent_at is None and msg.ref == "wxmon-inquiry-1"
        assert run(chan.send(acct, "检查员手机A", "请问居住证续签需要带什么材料？", key="wxmon-inquiry-1")) == msg
        [row] = store.tasks(open_only=True)
        task = row.task
        assert (task.account_id, task.tester) == ("jd-binhe", "检查员手机A")
        assert task.question == "请问居住证续签需要带什么材料？"
        assert task.send_by == at("2023-07-10T00:00")  # the end of the week it was issued in

        desk = TaskDesk(config, store, clock)
        clock.set(at("2023-07-03T15:00"))
        desk.record_sent(task.id, at("2023-07-03T10:15:40"))  # a phone shows minutes: 10:15
        assert run(chan.sent_status(acct, "检查员手机A", "wxmon-inquiry-1")).sent_at == at("2023-07-03T10:15")
        desk.record_reply(task.id, at("2023-07-03T14:02"), "您好，需携带身份证和居住证。")
        replies = run(chan.replies_since(acct, "检查员手机A", at("2023-07-03T10:15")))
        assert replies == [Reply(at("2023-07-03T14:02"), "您好，需携带身份证和居住证。", timedelta(minutes=1))]
        # A time to the minute is the whole minute: the reply may have come after 14:02:30, not after 14:03.
        assert run(chan.replies_since(acct, "检查员手机A", at("2023-07-03T14:02:30"))) == replies
        assert run(chan.replies_since(acct, "检查员手机A", at("2023-07-03T14:03"))) == []
        # Impossible records are refused, with the reason, and change nothing.
        with pytest.raises(BadInput, match="早于任务下发时间"):
            desk.record_reply(task.id, at("2023-07-03T08:59"), "您好")
        with pytest.raises(BadInput, match="晚于当前时间"):
            desk.record_sent(task.id, at("2023-07-03T15:02"))
        assert len(store.task_replies([task.id])) == 1 and store.get_task(task.id).sent_at == at("2023-07-03T10:15")


# ---------------------------------------------------------------------------
# the probe over the manual and bridge channels


def probe_config(tmp_path: Path, bridge_url: str) -> Config:
    import yaml

    from monitor.config import load_config

    data = {
        "store": f"sqlite:///{tmp_path / 'wxmon.db'}",
        "wechat": {"api_base": closed_port_url()},  # no account has API access: never called
        "policy": "demo-default",
        "channels": {"bridge": {"url": bridge_url, "token_env": "WXMON_BRIDGE_TOKEN"}},
        "checks": {"allow_private": ["127.0.0.1/32"]},  # the fake bridge
        "accounts": [
            account("by-hand", tester="检查员手机A").model_dump(mode="json", exclude_none=True),
            account("by-device", channel="bridge", tester="phone-1").model_dump(mode="json", exclude_none=True),
        ],
    }
    path = tmp_path / "accounts.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def rounds(config: Config, clock: VirtualClock, times: list[str]) -> list[list[dict[str, Any]]]:
    from monitor.context import ProbeContext
    from monitor.store import Store
    from probes.base import ProbeRow
    from probes.inquiry import run_round

    out = []
    with Store.open(config.store_url) as store:
        for when in times:
            clock.set(at(when))

            async def go() -> list[ProbeRow]:
                ctx = ProbeContext.open(config, store, clock=clock)
                try:
                    return await run_round(ctx, config.accounts, 1)
                finally:
                    await ctx.aclose()

            out.append({r.account: r.to_json() for r in asyncio.run(go())})
    return out


def test_probe_over_manual_and_bridge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXMON_BRIDGE_TOKEN", TOKEN)
    clock = VirtualClock(at("2023-07-03T09:00"))
    fake = FakeBridge(clock)
    try:
        config = probe_config(tmp_path, fake.url)
        store = Store.open(config.store_url)
        desk = TaskDesk(config, store, clock)

        def task_id() -> int:
            [row] = store.tasks(account_id="by-hand")
            return row.task.id
        fake.mode = "lose_first"  # the device sends, the answer is lost on the way back
        [r1] = rounds(config, clock, ["2023-07-03T09:00"])
        assert r1["by-hand"]["state"] == "scheduled" and "检查员" in r1["by-hand"]["reason"]
        assert r1["by-device"]["state"] == "error" and r1["by-device"]["inquiry_state"] == "scheduled"
        assert fake.deliveries == 1
        fake.mode = "ok"
        [r2] = rounds(config, clock, ["2023-07-03T09:30"])
        # Asked again with the same key: the bridge answers the first send, nothing is sent twice.
        assert fake.deliveries == 1 and r2["by-device"]["state"] == "sent"
        assert r2["by-device"]["sent_at"] == "2023-07-03T09:00:00+08:00"
        assert len(store.tasks()) == 1  # the manual task is not issued twice

        clock.set(at("2023-07-03T11:00"))  # the inspector records what happened, afterwards
        desk.record_sent(task_id(), at("2023-07-03T10:15"))
        desk.record_reply(task_id(), at("2023-07-03T10:15:02"), "您好，留言已收到。（自动回复）")
        fake.reply("by-device", "phone-1", at("2023-07-03T09:00:01"), "感谢关注！")  # within 60 s: automatic
        fake.reply("by-device", "phone-1", at("2023-07-04T10:00"), "您好，已转相关科室办理。")
        [r3, r4] = rounds(config, clock, ["2023-07-03T12:00", "2023-07-07T09:00"])
        assert r3["by-hand"]["state"] == "sent" and r3["by-hand"]["deadline_at"] == "2023-07-07T00:00:00+08:00"
        assert r3["by-device"]["state"] == "sent"  # the person's reply is not there yet at 12:00
        assert r4["by-device"]["changed"] == [] and r4["by-device"]["state"] == "answered"
        assert r4["by-device"]["latency_minutes"] == 25 * 60
        # Only an automatic reply was recorded by the deadline.
        assert r4["by-hand"]["state"] == "unanswered"
        assert r4["by-hand"]["reason"] == "超过3个工作日未答复（仅收到自动回复）"
        # The inspector writes down, late, a reply that came in time: the times decide, not the order.
        desk.record_reply(task_id(), at("2023-07-06T16:45"), "您好，需携带身份证和居住证原件。")
        [r5] = rounds(config, clock, ["2023-07-07T10:00"])
        assert r5["by-hand"]["state"] == "answered"
        assert r5["by-hand"]["latency_minutes"] == pytest.approx((at("2023-07-06T16:45") - at("2023-07-03T10:15"))
                                                                .total_seconds() / 60)
        store.close()
    finally:
        fake.stop()
