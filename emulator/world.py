"""The emulated world's state: tokens, quotas, faults, articles, conversations."""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from emulator.operators import human_reply_at
from emulator.scenario import Account, Article, AutoReply, Fault, Scenario, stream
from emulator.truth import compute_truth
from monitor.clock import SHANGHAI, Clock, to_local

TOKEN_TTL = timedelta(seconds=7200)
TOKEN_GRACE = timedelta(seconds=300)
CUSTOM_SEND_WINDOW = timedelta(hours=48)
# Replies land strictly after the message, so "replies since sent_at" includes them.
AUTO_REPLY_DELAY = timedelta(seconds=1)

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    46003: "menu no exist",
    47001: "data format error",
    48001: "api unauthorized",
    53600: "Article ID 无效",
    61500: "date format error",
    61501: "date range error",
    65400: "please enable new custom service, or wait for a while if you have enabled",
    65416: "invalid parameter",
    65417: "time range too long",
    76021: "cgi_path not found, please check",
}

# Daily call limits per cgi path (a scenario's account `quotas:` overrides them).
DEFAULT_QUOTAS = {
    "/cgi-bin/token": 2000,
    "/cgi-bin/stable_token": 10000,
    "/cgi-bin/get_current_selfmenu_info": 2000,
    "/cgi-bin/menu/get": 10000,
    "/cgi-bin/freepublish/batchget": 100,
    "/cgi-bin/freepublish/getarticle": 1000,
    "/cgi-bin/material/batchget_material": 5000,
    "/cgi-bin/get_current_autoreply_info": 2000,
    "/customservice/msgrecord/getmsglist": 5000,
    "/cgi-bin/message/custom/send": 500000,
    "/datacube/getarticlesummary": 5000,
}
# A 群发 article shows in datacube's daily summary on the days it is read: its day and the next two.
READ_DAYS = 3
TOKEN_PATHS = ("/cgi-bin/token", "/cgi-bin/stable_token")

_BACKGROUND_QUESTIONS = (
    "请问居住证办理需要什么材料？", "社区食堂几点开门？", "请问医保报销怎么办理？", "小区门口路灯坏了，能修一下吗？",
    "孩子入学报名什么时候开始？", "请问周末办事大厅开放吗？", "老年人助餐补贴怎么申请？", "垃圾分类投放时间是几点？",
)
_ANSWER = ("您好！关于您咨询的“{q}”，已收到，相关部门已受理，"
           "具体可携带身份证件到社区事务受理服务中心办理。感谢您的关注！")


class ApiError(Exception):
    def __init__(self, code: int, msg: str | None = None) -> None:
        self.code = code
        self.msg = msg or ERRMSG.get(code, "error")
        super().__init__(f"{code} {self.msg}")


@dataclass(slots=True)
class Token:
    value: str
    account: AccountState
    kind: str
    expires_at: datetime
    revoked_at: datetime | None = None


@dataclass(slots=True)
class Record:
    msgid: int
    openid: str
    opercode: int
    text: str
    time: int
    worker: str


@dataclass(slots=True)
class Reply:
    at: datetime
    kind: str  # auto | human
    text: str


@dataclass
class Conversation:
    follower_times: list[datetime] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


@dataclass
class Inquiry:
    msg_id: int
    tester: str
    openid: str
    text: str
    sent_at: datetime
    auto_reply_at: datetime | None
    human_reply_at: datetime | None


@dataclass
class FaultState:
    id: int
    spec: Fault
    endpoint: str
    remaining: int | None
    calls_per_day: dict[date, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, **self.spec.model_dump(mode="json", by_alias=True), "remaining": self.remaining}


class AccountState:
    def __init__(self, cfg: Account) -> None:
        self.cfg = cfg
        self.articles: list[Article] = cfg.articles
        self.publish_times = [a.publish for a in cfg.articles]
        self.article_by_id = {a.id: a for a in cfg.articles}
        self.current_token: Token | None = None
        self.current_stable: Token | None = None
        self.token_seq = 0
        self.quota_used: dict[str, tuple[date, int]] = {}
        self.record_ids: list[int] = []
        self.records: list[Record] = []
        self.second_counts: dict[int, int] = {}
        self.conversations: dict[str, Conversation] = {}
        self.testers: dict[str, str] = {}
        self.inquiries: list[Inquiry] = []
        self.msg_seq = 0
        self.background_days: set[date] = set()


def normalize_path(endpoint: str) -> str:
    return endpoint if endpoint == "*" or endpoint.startswith("/") else "/" + endpoint


class World:
    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.seed = scenario.seed
        self.lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {a.id: AccountState(a) for a in scenario.accounts}
        self.by_appid = {s.cfg.appid: s for s in self.accounts.values()}
        self.by_article_key: dict[str, tuple[AccountState, Article]] = {
            art.key: (s, art) for s in self.accounts.values() for art in s.articles}
        self.tokens: dict[str, Token] = {}
        self.faults: dict[str, list[FaultState]] = {}
        self._fault_seq = 0
        for acct in scenario.accounts:
            for fault in acct.faults:
                self.add_fault(fault.model_copy(update={"account": acct.id}))
        for fault in scenario.faults:
            self.add_fault(fault)

    def now(self) -> datetime:
        return self.clock.now()

    # tokens ---------------------------------------------------------------

    def account_for_credentials(self, appid: str | None, secret: str | None) -> AccountState:
        if not appid:
            raise ApiError(41002)
        acct = self.by_appid.get(appid)
        if acct is None:
            raise ApiError(40013)
        if not secret:
            raise ApiError(41004)
        if secret != acct.cfg.secret:
            raise ApiError(40125)
        return acct

    def issue_token(self, acct: AccountState, kind: str, force_refresh: bool = False) -> tuple[str, int]:
        """A token for ``kind`` "token" or "stable"; returns (value, expires_in seconds)."""
        with self.lock:
            now = self.now()
            if kind == "stable":
                cur = acct.current_stable
                if cur is not None and cur.revoked_at is None and now < cur.expires_at and not force_refresh:
                    return cur.value, int((cur.expires_at - now).total_seconds())
                if cur is not None and cur.revoked_at is None:
                    cur.revoked_at = now
            elif acct.current_token is not None and acct.current_token.revoked_at is None:
                acct.current_token.revoked_at = min(acct.current_token.expires_at, now + TOKEN_GRACE)
            acct.token_seq += 1
            value = (f"{acct.token_seq}_" + stream(self.seed, acct.cfg.appid, kind, acct.token_seq)
                     .getrandbits(512).to_bytes(64, "big").hex())
            token = Token(value, acct, kind, now + TOKEN_TTL)
            self.tokens[value] = token
            if kind == "stable":
                acct.current_stable = token
            else:
                acct.current_token = token
            return value, int(TOKEN_TTL.total_seconds())

    def resolve_token(self, value: str | None) -> AccountState:
        if not value:
            raise ApiError(41001)
        token = self.tokens.get(value)
        if token is None:
            raise ApiError(40001)
        now = self.now()
        if token.revoked_at is not None and now >= token.revoked_at:
            raise ApiError(40001)
        if now >= token.expires_at:
            raise ApiError(42001)
        return token.account

    # quotas and faults ------------------------------------------------------

    def daily_limit(self, acct: AccountState, path: str) -> int | None:
        return acct.cfg.quotas.get(path, DEFAULT_QUOTAS.get(path))

    def quota_used(self, acct: AccountState, path: str) -> int:
        day, used = acct.quota_used.get(path, (None, 0))
        return used if day == to_local(self.now()).date() else 0

    def charge_quota(self, acct: AccountState, path: str) -> None:
        limit = self.daily_limit(acct, path)
        if limit is None:
            return
        with self.lock:
            used = self.quota_used(acct, path)
            if used >= limit:
                raise ApiError(45009)
            acct.quota_used[path] = (to_local(self.now()).date(), used + 1)

    def add_fault(self, spec: Fault) -> FaultState:
        if spec.account not in self.accounts:
            raise KeyError(spec.account)
        with self.lock:
            self._fault_seq += 1
            state = FaultState(self._fault_seq, spec, normalize_path(spec.endpoint), spec.times)
            self.faults.setdefault(spec.account, []).append(state)
            return state

    def clear_faults(self, account: str | None = None) -> int:
        with self.lock:
            if account is None:
                n = sum(len(v) for v in self.faults.values())
                self.faults.clear()
                return n
            return len(self.faults.pop(account, []))

    def fault_for(self, account_id: str, path: str, *, api: bool) -> FaultState | None:
        """The fault that fires on this call, if any (consumes ``times``; counts ``quota`` calls)."""
        faults = self.faults.get(account_id)
        if not faults:
            return None
        now = self.now()
        is_token_call = path in TOKEN_PATHS
        with self.lock:
            for fault in faults:
                if fault.remaining == 0 or not fault.spec.active(now):
                    continue
                if fault.endpoint != path and not (api and fault.endpoint == "*"):
                    continue
                kind = fault.spec.kind
                if kind == "ip" and not is_token_call:
                    continue
                if kind in ("token", "unauthorized") and is_token_call:
                    continue
                if kind == "quota":
                    day = to_local(now).date()
                    calls = fault.calls_per_day.get(day, 0) + 1
                    fault.calls_per_day = {day: calls}
                    if calls <= fault.spec.daily_limit:
                        continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    # articles ---------------------------------------------------------------

    def published(self, acct: AccountState, via: str | None = None) -> list[Article]:
        """Articles published at or before now, newest first (``via``: only 群发 "mass" or 发表 "publish")."""
        n = bisect.bisect_right(acct.publish_times, self.now())
        out = acct.articles[n - 1::-1] if n else []
        return out if via is None else [a for a in out if a.via == via]

    def material(self, acct: AccountState) -> list[Article]:
        """The news-material library, newest first: frozen at ``material_until`` when set."""
        frozen = acct.cfg.material_until
        return [a for a in self.published(acct) if frozen is None or a.publish < frozen]

    def read_on(self, acct: AccountState, day: date) -> list[Article]:
        """群发 articles read on ``day`` (Shanghai), as ``datacube/getarticlesummary`` lists them."""
        end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)
        return [a for a in self.published(acct, "mass")
                if a.publish < end and 0 <= (day - to_local(a.publish).date()).days < READ_DAYS
                and a.state_at(end) != "deleted"]

    def article_state(self, art: Article) -> str:
        """The article page's lasting state now (ok, deleted, violation, ...)."""
        return art.state_at(self.now())

    # followers and operators ------------------------------------------------

    def openid(self, acct: AccountState, who: str) -> str:
        openid = acct.testers.get(who)
        if openid is None:
            bits = stream(self.seed, acct.cfg.appid, "openid", who).getrandbits(128)
            openid = "o" + bits.to_bytes(16, "big").hex()[:27]
            acct.testers[who] = openid
        return openid

    def _add_record(self, acct: AccountState, openid: str, opercode: int, text: str, when: datetime,
                    worker: str) -> Record:
        # msgid = unix_time * 1000 + 2n: sorted by time, and never consecutive, so a client that
        # pages with the returned msgid and one that pages with msgid + 1 both see every record
        sec = int(when.timestamp())
        k = acct.second_counts.get(sec, 0)
        if k >= 500:
            raise ApiError(-1, "too many messages in one second")
        acct.second_counts[sec] = k + 1
        record = Record(sec * 1000 + 2 * k, openid, opercode, text, sec, worker)
        i = bisect.bisect_left(acct.record_ids, record.msgid)
        acct.record_ids.insert(i, record.msgid)
        acct.records.insert(i, record)
        return record

    @staticmethod
    def auto_reply(rules: AutoReply, text: str) -> str | None:
        for rule in rules.keywords:
            for kw in rule.keywords:
                if (kw in text) if rule.match == "contain" else (kw == text.strip()):
                    return rule.reply
        return rules.default

    def _converse(self, acct: AccountState, openid: str, text: str, when: datetime,
                  stream_parts: tuple[object, ...]) -> tuple[Record, Reply | None, Reply | None]:
        """A follower writes at ``when``; schedules the auto and human replies."""
        record = self._add_record(acct, openid, 2003, text, when, "")
        conv = acct.conversations.setdefault(openid, Conversation())
        bisect.insort(conv.follower_times, when)
        auto = human = None
        auto_text = self.auto_reply(acct.cfg.autoreply, text)
        if auto_text is not None:
            auto = Reply(when + AUTO_REPLY_DELAY, "auto", auto_text)
            bisect.insort(conv.replies, auto, key=lambda r: r.at)
        rng = stream(self.seed, acct.cfg.id, *stream_parts)
        at = human_reply_at(acct.cfg.operator, when, rng)
        if at is not None:
            answer = _ANSWER.format(q=text[:30])
            human = Reply(at, "human", answer)
            bisect.insort(conv.replies, human, key=lambda r: r.at)
            worker = rng.choice(acct.cfg.operator.workers)  # drawn either way: the seeded stream stays put
            if acct.cfg.operator.replies_via == "kf":
                self._add_record(acct, openid, 2002, answer, at, worker)
        return record, auto, human

    def follower_send(self, account_id: str, tester: str, text: str) -> dict[str, Any]:
        acct = self.accounts[account_id]
        with self.lock:
            now = self.now()
            acct.msg_seq += 1
            openid = self.openid(acct, tester)
            record, auto, human = self._converse(acct, openid, text, now, ("msg", acct.msg_seq))
            acct.inquiries.append(Inquiry(record.msgid, tester, openid, text, now,
                                          auto.at if auto else None, human.at if human else None))
            return {"msg_id": record.msgid, "openid": openid, "sent_at": to_local(self.shown(acct, now)).isoformat()}

    @staticmethod
    def shown(acct: AccountState, when: datetime) -> datetime:
        """``when`` as the tester's follower sees it (a phone: to the minute, see ``follower_clock``)."""
        if acct.cfg.follower_clock == "minute":
            return when.replace(second=0, microsecond=0)
        return when

    def replies(self, account_id: str, tester: str, since: datetime | None) -> list[Reply]:
        acct = self.accounts[account_id]
        with self.lock:
            conv = acct.conversations.get(self.openid(acct, tester))
            if conv is None:
                return []
            now = self.now()
            return [r for r in conv.replies if (since is None or r.at > since) and r.at <= now]

    def _ensure_background(self, acct: AccountState, start: datetime, end: datetime) -> None:
        per_day = acct.cfg.followers_per_day
        if per_day <= 0:
            return
        day = to_local(start).date() - timedelta(days=10)
        last = min(to_local(end).date(), to_local(self.now()).date())
        while day <= last:
            if day not in acct.background_days:
                acct.background_days.add(day)
                self._background_day(acct, day, per_day)
            day += timedelta(days=1)

    def _background_day(self, acct: AccountState, day: date, per_day: float) -> None:
        rng = stream(self.seed, acct.cfg.id, "background", day.isoformat())
        count = int(per_day) + (1 if rng.random() < per_day - int(per_day) else 0)
        start = datetime.combine(day, time(7), SHANGHAI)
        for j in range(count):
            when = start + timedelta(seconds=rng.randint(0, 16 * 3600))
            openid = self.openid(acct, f"background:{day.isoformat()}:{j}")
            self._converse(acct, openid, rng.choice(_BACKGROUND_QUESTIONS), when,
                           ("background", day.isoformat(), j))

    def msgrecord(self, acct: AccountState, start: int, end: int, msgid: int, number: int) -> dict[str, Any]:
        with self.lock:
            now = self.now()
            self._ensure_background(acct, datetime.fromtimestamp(start, now.tzinfo),
                                    datetime.fromtimestamp(end, now.tzinfo))
            lo = max(msgid + 1, start * 1000)
            hi = (min(end, int(now.timestamp())) + 1) * 1000
            i = bisect.bisect_left(acct.record_ids, lo)
            out: list[Record] = []
            while i < len(acct.records) and acct.record_ids[i] < hi and len(out) < number:
                out.append(acct.records[i])
                i += 1
            return {"recordlist": [{"openid": r.openid, "opercode": r.opercode, "text": r.text, "time": r.time,
                                    "worker": r.worker} for r in out],
                    "number": len(out), "msgid": out[-1].msgid if out else msgid}

    def custom_send(self, acct: AccountState, touser: str, text: str, worker: str) -> None:
        with self.lock:
            conv = acct.conversations.get(touser)
            if conv is None:
                raise ApiError(40003)
            now = self.now()
            i = bisect.bisect_right(conv.follower_times, now)
            if i == 0 or now - conv.follower_times[i - 1] > CUSTOM_SEND_WINDOW:
                raise ApiError(45015)
            bisect.insort(conv.replies, Reply(now, "human", text), key=lambda r: r.at)
            self._add_record(acct, touser, 2002, text, now, worker)

    def truth(self, start: datetime, end: datetime, origin: str = "") -> dict[str, Any]:
        """Ground truth for [start, end] (see emulator.truth); ``origin`` prefixes page URLs."""
        with self.lock:
            return compute_truth(self, start, end, origin)
