"""``wxmon bridge check URL``: does a tester-device rig speak the bridge protocol (docs/bridge-openapi.yaml)?

Safe by default: every send is made in check mode (``X-Wxmon-Check: dry-run``) to an account id
no real account has (``wxmon-check``), so a rig that ignored check mode could not find anything
to send to. With ``--account ID`` the check also *reads* that account's chat (read-only); only
``--send`` makes one real send, to that account (the office's own test account), once.

What is checked: the rig answers; ``/info``; the token is required (no token, a wrong token:
refused on every path); JSON shapes and types; times carry offsets; the idempotency key (the same
key answers the same ref and sends nothing, the same key for another message is refused, a new
key gets a new ref); garbage is refused with 4xx; ``since`` filters (when there are replies to
filter); every answer stays within the protocol's bounds. The rig's clock is compared with ours
(a note, not a failure: wxmon measures with the rig's own times). Requests go through the same
outbound address policy as the channel (``checks.allow_private``).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from monitor.clock import now as clock_now
from monitor.clock import to_local
from monitor.netpolicy import AddressPolicy, refusal_in
from monitor.proxy import Proxies
from probes.channels.base import MINUTE, SECOND, ChannelError, http_client
from probes.channels.bridge import CHECK_HEADER, MAX_ANSWER_BYTES, MAX_REPLIES, PROTOCOL, bridge_time

CHECK_ACCOUNT = "wxmon-check"
CHECK_ACCOUNT_NAME = "wxmon-bridge-check（不存在的公众号）"
CHECK_TESTER = "wxmon-check"
CHECK_TEXT = "【wxmon接入测试】这是一条测试消息，无需回复。"
MAX_TEXT = 20000  # characters of one reply (the protocol's bound)
MAX_NAME = 200
CLOCK_NOTE = timedelta(minutes=2)  # a rig clock this far from ours is worth a note
READ_SPAN = timedelta(days=30)  # how far back --account's chat is read

Outcome = Literal["pass", "fail", "note"]


@dataclass(frozen=True)
class Finding:
    check: str  # a stable id: reachable, info, auth, send, idempotency, refusal, replies, since, bounds, clock
    outcome: Outcome
    text: str  # Chinese, for the office


@dataclass
class CheckReport:
    url: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return bool(self.findings) and not any(f.outcome == "fail" for f in self.findings)

    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome == "fail"]


@dataclass(frozen=True)
class CheckTarget:
    """A real account to read (and, with ``send``, to send one test message to)."""

    account: str
    account_name: str
    tester: str
    appid: str | None = None
    send: bool = False
    text: str = CHECK_TEXT


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no HTTP answer
    data: Any = None
    problem: str | None = None  # why there is no usable JSON (unreachable, too big, not JSON)
    refused_by_policy: bool = False


class _Rig:
    """Raw calls to the rig: status and parsed JSON, bodies read up to the protocol's bound."""

    def __init__(self, url: str, token: str, timeout_s: float, policy: AddressPolicy, proxies: Proxies | None):
        self.url = url.rstrip("/")
        self.token = token
        self.http = http_client(timeout_s, policy, proxies)

    async def call(self, method: str, path: str, *, token: str | None = "", dry: bool = True,
                   params: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> Answer:
        """``token``: "" the rig's token, None no Authorization header, else that token."""
        headers = {}
        use = self.token if token == "" else token
        if use is not None:
            headers["Authorization"] = f"Bearer {use}"
        if dry:
            headers[CHECK_HEADER] = "dry-run"
        try:
            async with self.http.stream(method, f"{self.url}{path}", headers=headers, params=params,
                                        json=body) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_ANSWER_BYTES:
                        return Answer(response.status_code, problem=f"answer longer than {MAX_ANSWER_BYTES} bytes")
                    chunks.append(chunk)
                status = response.status_code
        except httpx.HTTPError as exc:
            refused = refusal_in(exc) is not None
            return Answer(None, problem=type(exc).__name__, refused_by_policy=refused)
        try:
            return Answer(status, json.loads(b"".join(chunks)))
        except ValueError:
            return Answer(status, problem="answer is not JSON")

    async def aclose(self) -> None:
        await self.http.aclose()


def _time(value: object) -> datetime | None:
    try:
        return bridge_time(value, "")
    except ChannelError:
        return None


def _time_problem(value: object) -> str:
    if not isinstance(value, str):
        return f"应为带时区偏移的 ISO 8601 时间，实际 {_short(value)}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return f"不是 ISO 8601 时间：{_short(value)}"
    return f"缺少时区偏移（协议要求带偏移，如 +08:00）：{_short(value)}" if parsed.tzinfo is None else ""


def _duration(value: timedelta) -> str:
    minutes = value.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f}分钟"
    return f"{minutes / 60:.1f}小时" if minutes < 48 * 60 else f"{minutes / 1440:.0f}天"


def shown_url(url: str) -> str:
    """``url`` as printed: a user name or password in it replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
    except ValueError:
        return "(unreadable URL)"


def _printable(value: object) -> str:
    """Text from the rig, safe on a terminal (no control characters) and short."""
    return "".join(c if c.isprintable() else "?" for c in value[:MAX_NAME]) if isinstance(value, str) else ""


def _short(value: object) -> str:
    return repr(value)[:60]


class _Checker:
    def __init__(self, rig: _Rig, report: CheckReport, target: CheckTarget | None) -> None:
        self.rig = rig
        self.report = report
        self.target = target
        self.resolution = SECOND
        self.rig_now: datetime | None = None  # the rig's clock, as its first send answer showed it

    def add(self, check: str, outcome: Outcome, text: str) -> None:
        self.report.findings.append(Finding(check, outcome, text))

    def bounded(self, answer: Answer, what: str) -> bool:
        if answer.problem and answer.problem.startswith("answer longer"):
            self.add("bounds", "fail", f"{what}：应答超过 {MAX_ANSWER_BYTES} 字节（协议上限），未读完")
            return False
        return True

    # ---------------------------------------------------------------- info, auth

    async def info(self) -> dict[str, Any] | None:
        answer = await self.rig.call("GET", "/info", dry=False)
        if answer.status is None:
            if answer.refused_by_policy:
                self.add("reachable", "fail", "地址被出站地址策略拒绝：内网地址须列入 accounts.yaml 的 "
                                              "checks.allow_private（或用 --allow-private CIDR）")
            else:
                self.add("reachable", "fail", f"无法连接（{answer.problem}）")
            return None
        self.add("reachable", "pass", f"可以连接（GET /info 返回 HTTP {answer.status}）")
        if not self.bounded(answer, "GET /info"):
            return None
        if answer.status != 200 or not isinstance(answer.data, dict):
            self.add("info", "fail", f"GET /info 应返回 200 和 JSON 对象，实际 HTTP {answer.status}"
                                     + (f"（{answer.problem}）" if answer.problem else ""))
            return None
        data: dict[str, Any] = answer.data
        problems = []
        if data.get("protocol") != PROTOCOL:
            problems.append(f"protocol 应为 {PROTOCOL!r}，实际 {_short(data.get('protocol'))}")
        if data.get("resolution") not in ("second", "minute"):
            problems.append(f"resolution 应为 'second' 或 'minute'，实际 {_short(data.get('resolution'))}")
        if not isinstance(data.get("dry_run"), bool):
            problems.append(f"dry_run 应为布尔值，实际 {_short(data.get('dry_run'))}")
        for name in ("rig", "device"):
            value = data.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
                problems.append(f"{name} 应为不超过 {MAX_NAME} 字的字符串")
        if problems:
            self.add("info", "fail", "GET /info：" + "；".join(problems))
        else:
            self.resolution = MINUTE if data["resolution"] == "minute" else SECOND
            self.add("info", "pass", f"GET /info：{_printable(data.get('rig')) or '（未写 rig）'}，驱动 "
                                     f"{_printable(data.get('device')) or '（未写 device）'}，"
                                     f"时间精度 {data['resolution']}，"
                                     f"检查模式 {'支持' if data['dry_run'] else '不支持'}")
        return data

    async def auth(self) -> None:
        since = to_local(clock_now() - timedelta(days=1)).isoformat()
        probes: list[tuple[str, str, str | None, dict[str, Any]]] = [
            ("GET /info", "/info", None, {}),
            ("GET /info", "/info", f"wrong-{uuid.uuid4().hex}", {}),
            ("POST /send", "/send", None, {"body": self._dry_body(f"wxmon-check-auth-{uuid.uuid4().hex}")}),
            ("GET /replies", "/replies", None,
             {"params": {"account": CHECK_ACCOUNT, "tester": CHECK_TESTER, "since": since}}),
        ]
        loose = []
        for what, path, token, kwargs in probes:
            answer = await self.rig.call("POST" if path == "/send" else "GET", path, token=token, **kwargs)
            if answer.status not in (401, 403):
                who = "无令牌" if token is None else "错误令牌"
                loose.append(f"{what}（{who}）返回 {answer.status if answer.status is not None else answer.problem}")
        if loose:
            self.add("auth", "fail", "未强制令牌认证，应返回 401 或 403：" + "；".join(loose))
        else:
            self.add("auth", "pass", "无令牌或令牌错误的请求均被拒绝（401/403）")

    # ---------------------------------------------------------------- send and its key

    def _dry_body(self, key: str, text: str = CHECK_TEXT) -> dict[str, Any]:
        return {"account": CHECK_ACCOUNT, "account_name": CHECK_ACCOUNT_NAME, "appid": None,
                "tester": CHECK_TESTER, "text": text, "key": key}

    def _send_answer(self, answer: Answer, what: str, dry: bool) -> tuple[str, datetime] | None:
        """The (ref, sent_at) of a 200 send answer, or a failure finding."""
        if not self.bounded(answer, what):
            return None
        if answer.status != 200 or not isinstance(answer.data, dict):
            self.add("send", "fail", f"{what} 应返回 200 和 JSON 对象，实际 "
                                     f"{answer.status if answer.status is not None else answer.problem}")
            return None
        data: dict[str, Any] = answer.data
        ref, sent_at = data.get("ref"), _time(data.get("sent_at"))
        problems = []
        if not isinstance(ref, str) or not ref or len(ref) > MAX_NAME:
            problems.append(f"ref 应为不超过 {MAX_NAME} 字的非空字符串，实际 {_short(ref)}")
        if sent_at is None:
            problems.append("sent_at " + _time_problem(data.get("sent_at")))
        if data.get("resolution", "second") not in ("second", "minute"):
            problems.append(f"resolution 应为 'second' 或 'minute'，实际 {_short(data.get('resolution'))}")
        if dry and data.get("dry_run") is not True:
            problems.append('检查模式下应答应含 "dry_run": true：该 rig 可能忽略了 X-Wxmon-Check 而真的尝试发送')
        if problems or not isinstance(ref, str) or sent_at is None:
            self.add("send", "fail", f"{what}：" + "；".join(problems))
            return None
        return ref, sent_at

    def _clock(self, sent_at: datetime) -> None:
        if self.rig_now is not None:
            return
        self.rig_now = sent_at
        skew = sent_at - clock_now()
        if abs(skew) > CLOCK_NOTE + (MINUTE if self.resolution == MINUTE else timedelta(0)):
            self.add("clock", "note", f"rig 的时钟与本机相差约{_duration(abs(skew))}（wxmon 以 rig 给出的时间"
                                      "计算用时；请校准设备时钟）")

    async def key_in_check_mode(self) -> None:
        key = f"wxmon-check-{uuid.uuid4().hex}"
        first = self._send_answer(await self.rig.call("POST", "/send", body=self._dry_body(key)),
                                  "POST /send（检查模式）", True)
        if first is None:
            return
        self.add("send", "pass", "POST /send（检查模式）返回 ref 与带时区的 sent_at，未发送任何消息")
        self._clock(first[1])
        await self._same_key(key, first, dry=True, body=self._dry_body(key),
                             other=self._dry_body(key, CHECK_TEXT + "（改）"))
        fresh = self._send_answer(await self.rig.call("POST", "/send", body=self._dry_body(f"{key}-2")),
                                  "POST /send（新键）", True)
        if fresh is not None and fresh[0] == first[0]:
            self.add("idempotency", "fail", "不同的幂等键得到了相同的 ref")

    async def _same_key(self, key: str, first: tuple[str, datetime], *, dry: bool, body: dict[str, Any],
                        other: dict[str, Any] | None) -> None:
        again = self._send_answer(await self.rig.call("POST", "/send", dry=dry, body=body),
                                  "POST /send（同一幂等键重发）", dry)
        if again is None:
            return
        if again != first:
            self.add("idempotency", "fail", "同一幂等键再次请求得到了不同的 ref 或 sent_at：rig 会重复发送，"
                                            f"第一次 ref={first[0][:40]!r}，第二次 ref={again[0][:40]!r}")
            return
        if other is not None:
            clash = await self.rig.call("POST", "/send", dry=dry, body=other)
            if clash.status is None or not 400 <= clash.status < 500:
                self.add("idempotency", "fail", "同一幂等键用于另一条消息时应拒绝（409，不发送），实际 "
                                                f"{clash.status if clash.status is not None else clash.problem}")
                return
        self.add("idempotency", "pass", "同一幂等键返回同一 ref 与 sent_at，不再发送"
                                        + ("；同键不同消息被拒绝" if other is not None else ""))

    async def refusals(self) -> None:
        broken = self._dry_body(f"wxmon-check-{uuid.uuid4().hex}")
        del broken["text"]
        bad_send = await self.rig.call("POST", "/send", body=broken)
        bad_since = await self.rig.call("GET", "/replies", params={"account": CHECK_ACCOUNT, "tester": CHECK_TESTER,
                                                                   "since": "not-a-time"})
        wrong = [f"{what} 返回 {a.status if a.status is not None else a.problem}"
                 for what, a in (("缺少 text 的 POST /send", bad_send), ("since 不是时间的 GET /replies", bad_since))
                 if a.status is None or not 400 <= a.status < 500]
        if wrong:
            self.add("refusal", "fail", "无效请求应返回 4xx（拒绝，未发送）：" + "；".join(wrong))
        else:
            self.add("refusal", "pass", "无效请求返回 4xx")

    # ---------------------------------------------------------------- replies

    def _replies(self, answer: Answer, what: str, since: datetime) -> list[tuple[datetime, str]] | None:
        """The replies of an answer as (time, text), or a failure finding."""
        if not self.bounded(answer, what):
            return None
        if answer.status != 200 or not isinstance(answer.data, dict):
            self.add("replies", "fail", f"{what} 应返回 200 和 JSON 对象，实际 "
                                        f"{answer.status if answer.status is not None else answer.problem}")
            return None
        data: dict[str, Any] = answer.data
        items = data.get("replies")
        if not isinstance(items, list):
            self.add("replies", "fail", f"{what}：应答缺少 replies 列表")
            return None
        if len(items) > MAX_REPLIES:
            self.add("bounds", "fail", f"{what}：一次返回 {len(items)} 条回复，超过协议上限 {MAX_REPLIES}")
            return None
        if data.get("resolution", "second") not in ("second", "minute"):
            self.add("replies", "fail", f"{what}：resolution 应为 'second' 或 'minute'")
            return None
        resolution = MINUTE if data.get("resolution") == "minute" else SECOND
        out, problems, early = [], [], []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                problems.append(f"第{i + 1}条不是 JSON 对象")
                continue
            at, text = _time(item.get("at")), item.get("text")
            if at is None:
                problems.append(f"第{i + 1}条 at " + _time_problem(item.get("at")))
            if not isinstance(text, str) or len(text) > MAX_TEXT:
                problems.append(f"第{i + 1}条 text 应为不超过 {MAX_TEXT} 字的字符串")
            if at is not None and isinstance(text, str):
                if at + (resolution if resolution == MINUTE else timedelta(0)) <= since:
                    early.append(f"第{i + 1}条 {to_local(at).isoformat()}")
                out.append((at, text))
        if any(b[0] < a[0] for a, b in itertools.pairwise(out)):
            problems.append("回复未按时间先后排列")
        if early:
            self.add("since", "fail", f"{what}：列出了 since={to_local(since).isoformat()} 及以前的回复（"
                     + "、".join(early[:3]) + (f"等{len(early)}条" if len(early) > 3 else "") + "）")
        if problems:
            self.add("replies", "fail", f"{what}：" + "；".join(problems[:5])
                     + (f"（另有{len(problems) - 5}处）" if len(problems) > 5 else ""))
        if problems or early:
            return None
        self.resolution = resolution
        return out

    async def replies_in_check_mode(self) -> None:
        since = clock_now() - timedelta(days=1)
        answer = await self.rig.call("GET", "/replies", params={"account": CHECK_ACCOUNT, "tester": CHECK_TESTER,
                                                                "since": to_local(since).isoformat()})
        if self._replies(answer, "GET /replies（检查模式）", since) is not None:
            self.add("replies", "pass", "GET /replies（检查模式）返回 replies 列表")

    async def read_target(self, target: CheckTarget) -> None:
        since = (self.rig_now or clock_now()) - READ_SPAN  # the rig's 30 days, even when its clock is off
        everything = await self._read(target, since)
        if everything is None:
            return
        self.add("replies", "pass", f"GET /replies：账号 {target.account} 测试号 {target.tester} 30天内 "
                                    f"{len(everything)} 条回复，格式与时间均符合")
        if not everything:
            self.add("since", "note", "未验证 since 过滤：该会话30天内没有回复（可先用 --send 发一条再检查）")
            return
        pivot = everything[len(everything) // 2][0]
        # At minute resolution a reply is listed until its minute has ended.
        step = MINUTE if self.resolution == MINUTE else timedelta(0)
        cut, before = pivot + step, pivot - SECOND
        after_cut = await self._read(target, cut)
        after_before = await self._read(target, before)
        if after_cut is None or after_before is None:
            return
        want_cut = sorted(r for r in everything if r[0] + step > cut)
        want_before = sorted(r for r in everything if r[0] + step > before)
        if sorted(after_cut) != want_cut or sorted(after_before) != want_before:
            self.add("since", "fail", f"since 过滤不对：since={to_local(cut).isoformat()} 应得 {len(want_cut)} 条，"
                                      f"实得 {len(after_cut)} 条；since={to_local(before).isoformat()} 应得 "
                                      f"{len(want_before)} 条，实得 {len(after_before)} 条")
        else:
            self.add("since", "pass", "since 过滤正确（只列出 since 之后的回复）")

    async def _read(self, target: CheckTarget, since: datetime) -> list[tuple[datetime, str]] | None:
        answer = await self.rig.call("GET", "/replies", dry=False, params={
            "account": target.account, "tester": target.tester, "since": to_local(since).isoformat()})
        if answer.status == 404:
            self.add("replies", "fail", f"rig 无法打开账号 {target.account} 的会话（HTTP 404）："
                                        "检查测试号是否已关注该账号")
            return None
        return self._replies(answer, f"GET /replies（账号 {target.account}）", since)

    async def real_send(self, target: CheckTarget) -> None:
        key = f"wxmon-check-{uuid.uuid4().hex}"
        body = {"account": target.account, "account_name": target.account_name, "appid": target.appid,
                "tester": target.tester, "text": target.text, "key": key}
        first = self._send_answer(await self.rig.call("POST", "/send", dry=False, body=body),
                                  f"POST /send（实发到 {target.account}）", False)
        if first is None:
            return
        self.add("send", "pass", f"POST /send 实发一条到 {target.account}：ref={first[0][:40]!r}，"
                                 f"sent_at={to_local(first[1]).isoformat()}")
        self._clock(first[1])
        # The same key again must not send a second message (no clash test: it would be a real send).
        await self._same_key(key, first, dry=False, body=body, other=None)


async def check_bridge(url: str, token: str, *, policy: AddressPolicy, proxies: Proxies | None = None,
                       target: CheckTarget | None = None, timeout_s: float = 10.0) -> CheckReport:
    """Probe the rig at ``url`` and return what conforms and what does not."""
    report = CheckReport(url)
    rig = _Rig(url, token, timeout_s, policy, proxies)
    checker = _Checker(rig, report, target)
    try:
        info = await checker.info()
        if info is None and not any(f.check == "info" for f in report.findings):
            return report  # not reachable at all
        await checker.auth()
        if isinstance(info, dict) and info.get("dry_run") is True:
            await checker.key_in_check_mode()
            await checker.refusals()
            await checker.replies_in_check_mode()
        elif target is None or not target.send:
            checker.add("idempotency", "fail", "rig 不支持检查模式（/info 的 dry_run 不为 true），无法在不发送的"
                                               "情况下验证幂等键；请实现检查模式，或用 --account 与 --send "
                                               "向本单位测试号实发一条")
        if target is not None:
            if target.send:
                await checker.real_send(target)
            await checker.read_target(target)
        else:
            checker.add("since", "note", "未验证 since 过滤：检查模式下没有回复可过滤（用 --account 读取一个已有会话）")
    finally:
        await rig.aclose()
    return report


OUTCOME_WORDS = {"pass": "通过", "fail": "未通过", "note": "提示"}


def report_lines(report: CheckReport) -> list[str]:
    lines = [f"[{OUTCOME_WORDS[f.outcome]}] {f.check}: {f.text}" for f in report.findings]
    failed = report.failed()
    url = shown_url(report.url)
    if report.conforms:
        lines.append(f"结论：{url} 符合 bridge 协议 {PROTOCOL}")
    else:
        lines.append(f"结论：{url} 不符合 bridge 协议 {PROTOCOL}（{len(failed)} 项未通过："
                     + "、".join(dict.fromkeys(f.check for f in failed)) + "）")
    return lines


# ---------------------------------------------------------------------------- the command

DEFAULT_TOKEN_ENV = "WXMON_BRIDGE_TOKEN"


@dataclass(frozen=True)
class CheckOptions:
    url: str
    token_env: str | None = None
    config: str | None = None  # accounts.yaml: checks.allow_private, channels.bridge.token_env, the account
    allow_private: tuple[str, ...] = ()
    account: str | None = None
    account_name: str | None = None
    tester: str | None = None
    send: bool = False
    text: str | None = None
    timeout_s: float = 10.0


def run_check(options: CheckOptions, environ: Mapping[str, str] | None = None) -> CheckReport:
    """Validate the options (:class:`BadInput`, exit 2), then check the rig."""
    import asyncio
    import ipaddress
    import os
    from pathlib import Path

    from monitor.config import Config, load_config
    from monitor.errors import BadInput

    env = os.environ if environ is None else environ
    problems = []
    try:
        parts = urlsplit(options.url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or bracket
        usable = False
    if not usable:
        problems.append(f"URL: {shown_url(options.url)!r} is not an http(s) URL with a host")
    elif parts.username is not None or parts.password is not None:
        problems.append(f"URL: {shown_url(options.url)!r}: no user name or password in the URL "
                        "(the rig's token is read from the environment, see --token-env)")
    if options.send and not options.account:
        problems.append("--send needs --account ID (the office's own test account to send to)")
    if options.timeout_s <= 0 or options.timeout_s > 300:
        problems.append("--timeout: between 0 and 300 seconds")
    cidrs = list(options.allow_private)
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            problems.append(f"--allow-private: {cidr!r} is not a CIDR (e.g. 192.168.1.0/24)")
    config: Config | None = None
    path = Path(options.config) if options.config else Path("accounts.yaml")
    if options.config or path.is_file():
        config = load_config(path, check_env=False)  # BadInput with its own lines
        cidrs = [*config.checks.allow_private, *cidrs]
    token_env = options.token_env or (config.channels.bridge.token_env if config else None) or DEFAULT_TOKEN_ENV
    token = env.get(token_env)
    if not token:
        problems.append(f"--token-env: environment variable {token_env} is not set (it holds the rig's token)")
    target = None
    if options.account:
        acct = config.accounts_by_id.get(options.account) if config else None
        tester = options.tester or (acct.inquiry.tester if acct and acct.inquiry.tester else None)
        if tester is None and acct is not None:
            from probes.inquiry import tester_of

            tester = tester_of(acct)
        target = CheckTarget(options.account, options.account_name or (acct.name if acct else options.account),
                             tester or CHECK_TESTER, acct.appid if acct else None, options.send,
                             options.text or CHECK_TEXT)
    if problems:
        raise BadInput(problems)
    assert token is not None
    proxies = Proxies.resolve(config.http if config else None)
    return asyncio.run(check_bridge(options.url, token, policy=AddressPolicy.from_cidrs(cidrs), proxies=proxies,
                                    target=target, timeout_s=options.timeout_s))
