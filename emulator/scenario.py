"""Scenario: the data that drives the emulated world (pydantic models, YAML loading, bulk generation)."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.clock import SHANGHAI, as_utc

DEMO_PATH = Path(__file__).parent / "scenarios" / "demo.yaml"
MAX_SCENARIO_BYTES = 32 << 20

Instant = Annotated[datetime, AfterValidator(as_utc)]

SitePageKind = Literal["ok", "soft404", "http404", "http500", "redirect", "hang", "slow", "oauth"]
ArticlePageKind = Literal["ok", "deleted", "violation", "infringement", "cancelled", "blocked", "banned", "unavailable",
                          "send_failed", "expired", "migrated"]
OutageKind = Literal["soft404", "http404", "http500", "hang", "slow", "reset"]
PiiType = Literal["id_card", "mobile", "bank_card"]
# How an account puts articles out: 群发 (mass send, the usual way for government accounts:
# not listed by freepublish) or 发表 (publish without notification: listed by freepublish).
Publication = Literal["mass", "publish", "both"]
FaultKind = Literal["busy", "quota", "token", "unauthorized", "ip", "slow", "reset", "nonjson", "http500"]
Rule = Literal["stale", "inquiry", "broken_column", "leak", "security_incident"]


class ScenarioError(Exception):
    """A scenario file that cannot be loaded; one line per problem."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Window(_Model):
    from_: Instant | None = Field(default=None, alias="from")
    until: Instant | None = None

    def active(self, now: datetime) -> bool:
        return (self.from_ is None or now >= self.from_) and (self.until is None or now < self.until)


class Outage(Window):
    kind: OutageKind = "http500"
    delay_s: float = 5.0


class SitePage(_Model):
    """A government H5 page at /site/{account}/{name}."""

    title: str = ""
    kind: SitePageKind = "ok"
    since: Instant | None = None  # the kind applies from then on; healthy before
    delay_s: float = 3.0  # slow
    hops: int = Field(default=2, ge=1, le=20)  # redirect
    to: SitePageKind = "ok"  # redirect: what the last hop serves
    hang_s: float = 300.0  # hang: server-side bound
    outages: list[Outage] = []

    def kind_at(self, now: datetime) -> SitePageKind:
        """The lasting kind at ``now`` (outages aside)."""
        return "ok" if self.since is not None and now < self.since else self.kind


class Article(_Model):
    id: str
    title: str
    publish: Instant
    author: str = ""
    digest: str = ""
    content: str | None = None  # None: generated from the seed
    pii: list[PiiType] = []
    # Serious wording errors (sentences inserted as paragraphs) and harmful links (<a href>): the
    # content check's ground truth; a person confirming them makes a security incident.
    content_errors: list[str] = []
    links: list[str] = []
    decoys: bool = False
    page: ArticlePageKind = "ok"
    page_since: Instant | None = None
    outages: list[Outage] = []
    key: str = ""  # the /mp/s/{key} path; derived when empty
    via: Literal["mass", "publish"] | None = None  # None: from the account's ``publication``

    def state_at(self, now: datetime) -> ArticlePageKind:
        """The page's lasting state at ``now`` (outages aside)."""
        return "ok" if self.page_since is not None and now < self.page_since else self.page


class PublishRule(_Model):
    """Generates articles: one every ``every_days`` (+- ``jitter_days``) from ``start``."""

    every_days: float = Field(gt=0)
    jitter_days: float = Field(default=0, ge=0)
    start: date | None = None  # default: the scenario's clock start, else 2023-07-01
    stop_after: date | None = None
    until: date | None = None  # default: start + 92 days
    decoys: bool = True


class MenuItem(_Model):
    name: str
    type: Literal["view", "news", "text", "img", "voice", "video", "miniprogram", "click"] | None = None
    page: str | None = None  # a SitePage of the account
    article: str | None = None  # an Article id: its /mp/s page
    url: str | None = None  # explicit URL; a leading "/" is made absolute on the emulator
    articles: list[str] = []  # news
    value: str | None = None  # text/img/voice/video
    key: str | None = None  # click
    appid: str | None = None  # miniprogram
    pagepath: str | None = None
    sub: list[MenuItem] = Field(default=[], max_length=5)

    @model_validator(mode="after")
    def _leaf_or_parent(self) -> MenuItem:
        if self.sub and self.type:
            raise ValueError(f"menu '{self.name}': a menu with sub columns has no type")
        if not self.sub and not self.type:
            raise ValueError(f"menu '{self.name}': a leaf needs a type")
        return self


class Operator(_Model):
    mode: Literal["normal", "late", "never", "autoreply_only"] = "normal"
    median_minutes: float = Field(default=60, gt=0)  # working minutes
    p90_minutes: float = Field(default=240, gt=0)
    max_minutes: float | None = None  # clamp of the normal latency
    late_working_days: float = 4
    workers: list[str] = Field(default=["kf001@gov"], min_length=1)
    hours: Literal["working", "always"] = "working"  # always: a round-the-clock service desk
    # kf: replies through the customer-service system (in msgrecord as 2002); web: typed in the web
    # admin's message page, which the follower receives but msgrecord never lists.
    replies_via: Literal["kf", "web"] = "kf"

    @model_validator(mode="after")
    def _p90_above_median(self) -> Operator:
        if self.p90_minutes < self.median_minutes:
            raise ValueError("p90_minutes must be at least median_minutes")
        return self


class KeywordRule(_Model):
    name: str = ""
    keywords: list[str]
    match: Literal["contain", "equal"] = "contain"
    reply: str


class AutoReply(_Model):
    add_friend: str | None = None
    default: str | None = None
    keywords: list[KeywordRule] = []


class Fault(Window):
    account: str | None = None  # implied inside an account's own list
    endpoint: str = "*"
    kind: FaultKind
    delay_s: float = 5.0
    daily_limit: int = 0
    times: int | None = None


RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Expected(_Model):
    """What the monitor should conclude for the account: the verdict, and why.

    ``fails`` names failures in the scenario's own words (mapped onto a policy's rules by
    ``wxmon simulate``); ``rules`` names the exact rule ids of the policy that must fail, no
    more and no fewer. Give one of them for 不合格; 合格 and 无法判定 fail no rule.
    """

    verdict: Literal["合格", "不合格", "无法判定"]
    fails: list[Rule] = []
    rules: list[RuleId] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Expected:
        if self.fails and self.rules is not None:
            raise ValueError("give fails (failure labels) or rules (rule ids), not both")
        failing = bool(self.fails or self.rules)
        if self.verdict == "不合格" and not failing:
            raise ValueError("verdict 不合格 needs at least one of fails or rules")
        if self.verdict != "不合格" and failing:
            raise ValueError(f"verdict {self.verdict} fails no rule: leave out fails and rules")
        if self.rules is not None and len(set(self.rules)) != len(self.rules):
            raise ValueError("rules: a rule id is listed twice")
        return self


class Account(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    unit: str = ""
    category: str = "政府部门"
    appid: str
    secret: str = ""  # empty: derived from the seed, so no secret-like strings sit in scenario files
    secret_env: str | None = None
    menu_source: Literal["admin", "api"] = "admin"  # api: menu/get answers, admin: 46003
    menu_open: bool = True
    menu: list[MenuItem] = Field(default=[], max_length=3)
    pages: dict[str, SitePage] = {}
    articles: list[Article] = []
    publish: PublishRule | None = None
    operator: Operator = Operator()
    autoreply: AutoReply = AutoReply()
    msgrecord: bool = True  # customer-service records feature on
    followers_per_day: float = 0
    # The times the tester's follower sees: "minute" plays a person's phone (hh:mm, for manual-style
    # inquiry channels); "second" a device bridge or the demo's follower.
    follower_clock: Literal["second", "minute"] = "second"
    quotas: dict[str, int] = {}  # cgi path -> daily limit, overrides the defaults
    publication: Publication = "publish"  # mass: 群发 only; both: each article one or the other
    feed: bool = False  # a public feed at /feeds/{id}.rss|.atom|.json (as WeWe RSS serves it)
    feed_until: Instant | None = None  # the feed service stopped following the account then (a lapsed login)
    material_until: Instant | None = None  # the news-material library froze then (None: never)
    faults: list[Fault] = []
    expected: Expected | None = None


class ClockSettings(_Model):
    start: Instant | None = None


class Scenario(_Model):
    note: str = ""
    templates: dict[str, Any] = {}  # holds YAML anchors for reuse; not read otherwise
    seed: int = 0
    clock: ClockSettings = ClockSettings()
    # The period judged by ``wxmon simulate`` (2023Q3, 2023-09, 2023-W38, 2023-07-01..2023-07-28);
    # parsed there, as the monitor's periods are not the emulator's business.
    period: str | None = Field(default=None, pattern=r"^[0-9QW.-]{4,32}$")
    accounts: list[Account] = []
    faults: list[Fault] = []  # each names its account
    # Article pages one client may open per minute before the platform answers with its verification
    # page (环境异常); None: never.
    article_pages_per_minute: float | None = Field(default=None, gt=0)
    # Which minute that counts in: the wall clock (a live emulator), or the world's clock (a simulated
    # quarter, where a round's pages all open in one virtual minute); and when the limit applies
    # (no windows: always) — a spell during which the platform has flagged the monitor's address.
    article_rate_clock: Literal["wall", "world"] = "wall"
    article_rate_windows: list[Window] = []

    @model_validator(mode="after")
    def _derive(self) -> Scenario:
        problems: list[str] = []
        seen_ids: set[str] = set()
        seen_appids: set[str] = set()
        for acct in self.accounts:
            if acct.id in seen_ids:
                problems.append(f"accounts: duplicate id {acct.id}")
            if acct.appid in seen_appids:
                problems.append(f"accounts: duplicate appid {acct.appid}")
            seen_ids.add(acct.id)
            seen_appids.add(acct.appid)
            if not acct.secret:
                acct.secret = _digest(f"{self.seed}/{acct.appid}/secret", 32)
            if acct.publish is not None:
                acct.articles.extend(_generate_articles(acct, self.seed, self.clock.start))
                acct.publish = None
            acct.articles.sort(key=lambda a: a.publish)
            for art in acct.articles:
                if not art.key:
                    art.key = _digest(f"{acct.id}/{art.id}", 24)
                if art.via is None:
                    art.via = _via(acct.publication, f"{self.seed}/{acct.id}/{art.id}")
            problems.extend(_check_references(acct))
        for fault in self.faults:
            if fault.account not in seen_ids:
                problems.append(f"faults: unknown account {fault.account!r}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def account(self, account_id: str) -> Account:
        for acct in self.accounts:
            if acct.id == account_id:
                return acct
        raise KeyError(account_id)


def _check_references(acct: Account) -> list[str]:
    article_ids = {a.id for a in acct.articles}
    problems = []
    if len(article_ids) != len(acct.articles):
        problems.append(f"accounts[{acct.id}].articles: duplicate article ids")
    for item in iter_leaves(acct.menu):
        where = f"accounts[{acct.id}].menu '{item.name}'"
        if item.page and item.page not in acct.pages:
            problems.append(f"{where}: unknown page {item.page!r}")
        for ref in ([item.article] if item.article else []) + item.articles:
            if ref not in article_ids:
                problems.append(f"{where}: unknown article {ref!r}")
    return problems


def iter_leaves(menu: list[MenuItem]) -> list[MenuItem]:
    return [leaf for top in menu for leaf in (top.sub or [top])]


def column_paths(menu: list[MenuItem]) -> list[tuple[str, MenuItem]]:
    """("一级/二级", leaf) for every leaf, "一级" for a top-level leaf."""
    out: list[tuple[str, MenuItem]] = []
    for top in menu:
        if top.sub:
            out.extend((f"{top.name}/{leaf.name}", leaf) for leaf in top.sub)
        else:
            out.append((top.name, top))
    return out


def _via(publication: Publication, name: str) -> Literal["mass", "publish"]:
    if publication != "both":
        return publication
    return "mass" if int(_digest(name, 8), 16) % 2 else "publish"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def stream(seed: int, *parts: object) -> random.Random:
    """An independent random stream per purpose, so results do not depend on call order elsewhere."""
    return random.Random(int(_digest(":".join(map(str, (seed, *parts))), 16), 16))


_TITLES = [
    "关于做好{month}月份安全生产工作的通知", "{unit}召开{month}月份工作例会", "夏季防汛防台知识提示",
    "文明城区创建工作推进会召开", "垃圾分类进社区宣传活动走进居民区", "{month}月份政务公开工作动态",
    "高温天气防暑降温温馨提示", "“我为群众办实事”实践活动成果展示", "社区志愿服务活动精彩回顾",
    "政策解读：惠企政策申报指南", "优化营商环境系列举措发布", "防范电信网络诈骗，这些知识要牢记",
    "老年人助餐服务点名单公布", "义务教育阶段招生工作安排", "{unit}开展消防安全检查",
    "便民服务指南更新（{month}月）", "一图读懂：居住证办理流程", "医保政策问答",
]


def _generate_articles(acct: Account, seed: int, clock_start: datetime | None) -> list[Article]:
    rule = acct.publish
    assert rule is not None
    start = rule.start or (clock_start.astimezone(SHANGHAI).date() if clock_start else date(2023, 7, 1))
    until = rule.until or start + timedelta(days=92)
    if rule.stop_after is not None:
        until = min(until, rule.stop_after)
    rng = stream(seed, acct.id, "publish")
    out: list[Article] = []
    day = start + timedelta(days=rng.uniform(0, rule.every_days))
    n = 0
    while True:
        when = datetime.combine(day, time(8), SHANGHAI) + timedelta(minutes=rng.randint(0, 11 * 60))
        if when.date() > until:
            break
        n += 1
        title = rng.choice(_TITLES).format(month=when.month, unit=acct.unit or acct.name)
        out.append(Article(id=f"{acct.id}-g{n:03d}", title=title, publish=when, author=acct.unit or acct.name,
                           digest=title[:30], decoys=rule.decoys and rng.random() < 0.5))
        step = rule.every_days + rng.uniform(-rule.jitter_days, rule.jitter_days)
        day = day + timedelta(days=max(1.0, round(step)))
    return out


def _format_error(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        lines.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    return lines


def parse_scenario(data: dict[str, Any], seed: int | None = None) -> Scenario:
    if seed is not None:
        data = {**data, "seed": seed}
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("\n".join(_format_error(exc))) from None


def load_scenario(path: str | Path | None = None, seed: int | None = None) -> Scenario:
    """Load a scenario YAML (None: the demo scenario); ``seed`` overrides the file's."""
    path = Path(path) if path is not None else DEMO_PATH
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_SCENARIO_BYTES + 1)  # bounded: /dev/zero must not eat the memory
        if len(raw) > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"{path}: cannot read: larger than {MAX_SCENARIO_BYTES >> 20} MB")
        data = yaml.safe_load(raw.decode("utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping")
    try:
        return parse_scenario(data, seed)
    except ScenarioError as exc:
        raise ScenarioError("\n".join(f"{path}: {line}" for line in str(exc).splitlines())) from None


def demo_secret_env(scenario: Scenario) -> dict[str, str]:
    """Environment for the monitor: each account's ``secret_env`` name -> its (fake) secret."""
    return {a.secret_env: a.secret for a in scenario.accounts if a.secret_env}


def generate_bulk(n_accounts: int, view_columns_per_account: int, seed: int) -> Scenario:
    """A large scenario for benchmarks: healthy /site view columns, a few broken ones.

    Menus and healthy pages are shared objects (the world never mutates them), which keeps
    10,000 accounts x 8 columns small and quick to build.
    """
    if not 1 <= view_columns_per_account <= 15:
        raise ValueError("view_columns_per_account must be 1..15 (3 menus x 5 sub columns)")
    names = [f"p{c + 1}" for c in range(view_columns_per_account)]
    healthy = {name: SitePage(title=f"栏目{c + 1}") for c, name in enumerate(names)}
    leaves = [MenuItem(name=f"栏目{c + 1}", type="view", page=name) for c, name in enumerate(names)]
    per_top = -(-len(leaves) // 3)
    menu = [MenuItem(name=f"菜单{t + 1}", sub=leaves[t * per_top:(t + 1) * per_top])
            for t in range(3) if leaves[t * per_top:(t + 1) * per_top]]
    operators = [Operator(median_minutes=m) for m in (30, 60, 120)]
    autoreply = AutoReply()
    rng = stream(seed, "bulk")
    accounts = []
    for i in range(n_accounts):
        acct_id = f"bulk-{i:05d}"
        pages = healthy
        if i % 500 == 7:
            pages = {**healthy, names[0]: SitePage(title="栏目1", kind="http404")}
        elif i % 700 == 11 and len(names) > 1:
            pages = {**healthy, names[1]: SitePage(title="栏目2", kind="soft404")}
        accounts.append(Account.model_construct(
            id=acct_id, name=f"批量账号{i}（模拟）", unit=f"批量单位{i}（模拟）", category="政府部门",
            appid=f"wx{_digest(f'{seed}/{acct_id}/appid', 16)}", secret=_digest(f"{seed}/{acct_id}/secret", 32),
            secret_env=None, menu_source="admin", menu_open=True, menu=menu, pages=pages, articles=[],
            publish=None, operator=rng.choice(operators), autoreply=autoreply, msgrecord=True,
            followers_per_day=0, quotas={}, faults=[], expected=None))
    return Scenario.model_construct(note="bulk benchmark scenario (simulated)", seed=seed, templates={},
                                    clock=ClockSettings(), accounts=accounts, faults=[])
