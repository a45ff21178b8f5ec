"""Pydantic models of accounts.yaml.

Every model forbids unknown keys. Checks that involve several fields are written
once, as functions returning ``(path, message)`` pairs, and used both by the
models' validators (a Config built in code is checked the same way) and by the
loader, which runs them on whatever parts of a broken file are valid so that one
run reports every problem.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date
from email.headerregistry import Address
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, model_validator

from monitor.config.cron import CronError, cron_trigger
from monitor.errors import BadInput
from monitor.policy import BUILTIN_NAMES, NAME_PATTERN, Policy, PolicyError, PolicySpec, problems_error, resolve_policy

if TYPE_CHECKING:
    from monitor.workdays import WorkCalendar

FieldPath = tuple[str | int, ...]
Problem = tuple[FieldPath, str]

ID_PATTERN = NAME_PATTERN
APPID_PATTERN = r"^wx[0-9a-f]{16}$"
ENV_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
COLUMN_PATH_PATTERN = r"^[^/\s][^/]*(/[^/\s][^/]*)?$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s.]+$"
DEFAULT_STORE = "sqlite:///wxmon.db"

# What a pattern means, for error lines (pydantic would print the regex).
PATTERN_MESSAGES = {
    ID_PATTERN: "must be lowercase letters, digits, '-' or '_', starting with a letter or digit",
    APPID_PATTERN: "must be 'wx' followed by 16 lowercase hex digits",
    ENV_PATTERN: "must be the NAME of an environment variable ([A-Z_][A-Z0-9_]*), never the secret itself",
    COLUMN_PATH_PATTERN: "must be '一级' or '一级/二级' (menu name, then sub-menu name)",
    EMAIL_PATTERN: "must be an e-mail address",
}


# C0, DEL, C1 and the Unicode line/paragraph separators: in a mail header they end it (or the
# send fails), in a CSV cell or a log line they break it.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
MAX_URL_CHARS = 2048


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must be one line without control characters")
    return value


def _text(value: str) -> str:
    if _CONTROL_BUT_NEWLINE.search(value):
        raise ValueError("must not contain control characters (tab and newline are fine)")
    return value


def _mailbox(value: str) -> str:
    """What the weekly mail's To:/From:/Message-ID headers can carry (the send would fail later otherwise)."""
    if not value.isascii():
        raise ValueError("must be an e-mail address in ASCII (a Chinese domain in its xn-- form)")
    try:
        Address(addr_spec=value)
    except Exception:  # the email package raises several kinds (HeaderParseError, defects...)
        raise ValueError("must be an e-mail address (no spaces, quotes, commas, brackets or control "
                         "characters)") from None
    return value


def _http_url(value: str) -> str:
    # The value is not echoed: URLs may carry tokens in their query.
    if len(value) > MAX_URL_CHARS:
        raise ValueError(f"must be at most {MAX_URL_CHARS} characters")
    parts = urlsplit(value)
    if (parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value)
            or _CONTROL.search(value)):
        raise ValueError("must be an http:// or https:// URL with a host")
    try:
        _ = parts.port  # read for its check: urlsplit raises ValueError on a bad port only here
    except ValueError:
        raise ValueError("has a bad port") from None
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url),
                    Field(json_schema_extra={"format": "uri", "pattern": r"^https?://[^/\s]+"})]
EnvName = Annotated[str, Field(pattern=ENV_PATTERN, max_length=128)]
Email = Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254), AfterValidator(_mailbox)]
Text = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_text)]
# Names and the like: they go into mail headers, CSV cells, chart titles and logs.
Line = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_one_line)]


def _cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IP network in CIDR form, e.g. 10.1.0.0/16 or 127.0.0.1/32") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def _cron(value: str) -> str:
    if len(value) > 200:
        raise ValueError("must be at most 200 characters")
    try:
        cron_trigger(value)
    except CronError as exc:
        raise ValueError(f"bad cron expression '{value}': {exc}") from None
    return value


Cron = Annotated[str, AfterValidator(_cron),
                 Field(description="5-field cron (minute hour day month weekday) in Asia/Shanghai; "
                                   "weekday 0 or 7 = Sunday, 1 = Monday.")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # .inf/.nan: "must be a finite number"


class Wechat(_Model):
    """The WeChat platform API."""

    api_base: HttpUrl = Field("https://api.weixin.qq.com",
                              description="WeChat platform API base URL (the emulator in the demo).")
    timeout_s: float = Field(10, gt=0, le=300, description="Timeout of one API call, seconds.")
    max_answer_bytes: int = Field(16_000_000, ge=65_536, le=1_000_000_000,
                                  description="Largest API answer read, decoded bytes; a longer one is the "
                                  "platform's fault (error), never the account's.")


def _proxy_url(value: str) -> str:
    value = _http_url(value)
    parts = urlsplit(value)
    if parts.username is not None or parts.password is not None:
        # Secrets are never in this file; the message does not echo the value.
        raise ValueError("must not hold a user name or password: put the whole proxy URL, credentials "
                         "included, in the HTTPS_PROXY and HTTP_PROXY environment variables instead")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must be a proxy address like http://proxy.example.gov.cn:8080 (no path)")
    return value


def _no_proxy_entry(value: str) -> str:
    if not value or len(value) > 253 or any(c.isspace() or c in "/@" for c in value.split("/", 1)[0]) \
            or _CONTROL.search(value):
        raise ValueError("must be a host name, a domain (.example.gov.cn), an IP address, a CIDR or *")
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError("must be a host name, a domain (.example.gov.cn), an IP address, a CIDR or *") \
                from None
    return value


class Http(_Model):
    """How the monitor reaches the internet: a proxy for pages, the API and the inquiry channels."""

    proxy: Annotated[str, AfterValidator(_proxy_url)] | None = Field(
        None, description="HTTP proxy for pages, the API and the channels, e.g. http://proxy.example.gov.cn:8080 "
        "(no credentials here: with a user name and password, use HTTPS_PROXY / HTTP_PROXY instead). "
        "Default: the environment variables, when env_proxy is true.",
        json_schema_extra={"format": "uri", "pattern": r"^https?://[^/\s@]+/?$"})
    no_proxy: list[Annotated[str, AfterValidator(_no_proxy_entry)]] = Field(
        [], description="Hosts reached directly, not through the proxy: names (a leading dot or a bare "
        "domain also covers its subdomains), IP addresses, CIDRs, or * (added to NO_PROXY). Loopback "
        "addresses and localhost are always reached directly.")
    env_proxy: bool = Field(True, description="Read HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY from the "
                            "environment (when proxy is not set, and NO_PROXY always).")


def _day(value: date) -> date:
    # Far from 2000-2100, working-day arithmetic would run off the calendar (OverflowError).
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        raise ValueError("must be a day between 2000-01-01 and 2100-12-31")
    return value


Day = Annotated[date, AfterValidator(_day)]


class CalendarExtras(_Model):
    """Working-day calendar additions for years chinese-calendar does not know."""

    extra_holidays: list[Day] = Field([], description="Holidays chinese-calendar does not know (later years).")
    extra_workdays: list[Day] = Field([], description="Make-up working days (调休上班) it does not know.")

    @model_validator(mode="after")
    def _disjoint(self) -> CalendarExtras:
        both = set(self.extra_holidays) & set(self.extra_workdays)
        if both:
            i = next(i for i, d in enumerate(self.extra_workdays) if d in both)
            raise problems_error([(("extra_workdays", i),
                                   f"{self.extra_workdays[i].isoformat()} is also in extra_holidays")])
        return self


class Schedules(_Model):
    """Cron schedules of the jobs, Asia/Shanghai."""

    columns: Cron = Field("0 * * * *", description="Column checks (default hourly).")
    inquiry: Cron = Field("0 9 * * 1", description="Opens each account's inquiry window (default Monday 09:00).")
    freshness: Cron = Field("30 6 * * *", description="Update checks (default daily 06:30).")
    privacy: Cron = Field("0 7 * * *", description="Personal-data scan (default daily 07:00).")
    weekly_report: Cron = Field("0 9 * * 1", description="Weekly charts and mail (default Monday 09:00).")
    inquiry_poll: Cron = Field("*/10 * * * *", description="Looks for replies to open inquiries "
                                                           "(default every 10 minutes).")

    def trigger(self, job: str) -> CronTrigger:
        """APScheduler trigger of a job (``columns``, ``inquiry``, ...), cron weekday semantics."""
        return cron_trigger(getattr(self, job))

    def triggers(self) -> dict[str, CronTrigger]:
        return {job: self.trigger(job) for job in type(self).model_fields}


class Checks(_Model):
    """Limits and markers of the page checks."""

    concurrency: int = Field(50, ge=1, le=2000, description="Page checks in flight at once.")
    per_host: int = Field(4, ge=1, le=100, description="Concurrent requests per host.")
    per_host_rate: float | None = Field(5, gt=0, le=1000, description="Requests per second per host "
                                        "(null: no cap, only for servers you run yourself, e.g. the emulator).")
    timeout_s: float = Field(15, gt=0, le=300, description="Timeout of one page fetch, seconds.")
    menu_refresh_minutes: float = Field(
        360, ge=0, le=10080, description="Reuse an account's menu for up to this long instead of reading it "
        "again each round (each account keeps it 50-100% of this, so reads spread over rounds; 0: read every "
        "round). A menu is read again at once after any failure in it.")
    canary_urls: list[HttpUrl] = Field([], description="Control URLs for the monitor's own network health.")
    soft404_markers: list[Text] = Field(["页面不存在", "404 Not Found"],
                                        description="Body text of a page answering 200 that means 'not found'.")
    max_page_bytes: int = Field(2_000_000, ge=65_536, le=100_000_000,
                                description="Largest page body read, decoded bytes; a longer page is judged "
                                "on what was read.")
    allow_private: list[Cidr] = Field([], description="CIDRs of loopback, private, link-local or reserved "
                                     "addresses that pages, redirects, feeds and channel URLs may reach "
                                     "(e.g. an intranet government site; the demo lists the emulator's). "
                                     "Everything else in those ranges is refused, never fetched.")


class EmulatorChannel(_Model):
    """The emulator's simulated follower (demo and tests)."""

    base_url: HttpUrl | None = Field(None, description="Emulator base URL (default: wechat.api_base).")


class BridgeChannel(_Model):
    """An HTTP service driving a tester device (send a text, list replies since T)."""

    url: HttpUrl | None = Field(None, description="Base URL of the tester-device bridge service.")
    token_env: EnvName | None = Field(None, description="Environment variable holding the bridge's token.")


class Inspector(_Model):
    """An inspector who sends test inquiries from a phone (manual channel) and gets the task mail."""

    name: Line = Field(description="Name of the inspector (in the task mail).")
    email: Email | None = Field(None, description="Where the inspector's task mail goes (none: no mail).")


class ManualChannel(_Model):
    """The manual channel: tasks kept in the store, mailed to inspectors (see docs/inspectors.md)."""

    inspector: Inspector | None = Field(None, description="The default inspector, for accounts without "
                                        "inquiry.inspector.")
    evidence_dir: Annotated[str, AfterValidator(_one_line)] | None = Field(
        None, max_length=1000, description="Where screenshots kept as evidence are copied (relative: to this "
        "file). Default: a directory `evidence` beside the SQLite store file (beside this file for PostgreSQL).")
    evidence_max_bytes: int = Field(10_000_000, ge=1024, le=100_000_000,
                                    description="Largest screenshot accepted as evidence, bytes.")


class Channels(_Model):
    """Inquiry channel settings."""

    emulator: EmulatorChannel = Field(default_factory=EmulatorChannel, description="The emulator channel.")
    bridge: BridgeChannel = Field(default_factory=BridgeChannel, description="The bridge channel.")
    manual: ManualChannel = Field(default_factory=ManualChannel, description="The manual channel "
                                  "(inspectors' tasks).")


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535 or _CONTROL.search(value) \
            or any(c.isspace() or c in "/@" for c in host):
        raise ValueError("must be ADDRESS:PORT, e.g. 127.0.0.1:8789 or 0.0.0.0:8789")
    return value


class Component(_Model):
    """wxmon as a WeChat 开放平台 第三方平台: units authorize it by scanning a QR code (access: component)."""

    appid: str = Field(pattern=APPID_PATTERN, description="The third-party platform's AppID (component_appid).")
    secret_env: EnvName = Field(description="Environment variable holding the platform's AppSecret.")
    token_env: EnvName = Field(description="Environment variable holding the message-check Token (消息校验Token).")
    aes_key_env: EnvName = Field(description="Environment variable holding the EncodingAESKey (消息加解密Key, "
                                 "43 characters).")
    store_key_env: EnvName = Field("WXMON_STORE_KEY", description="Environment variable holding the key that "
                                   "encrypts refresh tokens and tickets in the store (a Fernet key).")
    api_base: HttpUrl | None = Field(None, description="API base of the component calls (default: wechat.api_base).")
    callback_listen: Annotated[str, AfterValidator(_listen)] = Field(
        "127.0.0.1:8789", description="ADDRESS:PORT where `wxmon run` receives the ticket push, the authorization "
        "notices and the authorization redirect (port 0: any free port, for simulations).")
    public_url: HttpUrl | None = Field(None, description="How the platform and the units' browsers reach that "
                                       "listener (e.g. https://wxmon.example.gov.cn behind a reverse proxy); "
                                       "default http://callback_listen.")
    login_page: HttpUrl = Field("https://mp.weixin.qq.com/cgi-bin/componentloginpage",
                                description="The platform's authorization page (the emulator's in the demo).")


def _host(value: str) -> str:
    if any(c.isspace() or c in "/@" for c in value) or _CONTROL.search(value):
        raise ValueError("must be a host name or an IP address")
    return value


class Smtp(_Model):
    """Outgoing mail; credentials come from environment variables."""

    host: Annotated[str, AfterValidator(_host)] = Field(min_length=1, max_length=253,
                                                        description="SMTP server host name.")
    port: int | None = Field(None, ge=1, le=65535, description="Default 465 (ssl), 587 (starttls), 25 (none).")
    security: Literal["ssl", "starttls", "none"] = Field("ssl", description="ssl | starttls | none.")
    username_env: EnvName | None = Field(None, description="Environment variable with the SMTP user name.")
    password_env: EnvName | None = Field(None, description="Environment variable with the SMTP password.")
    sender: Email = Field(description="From: address of the weekly mail.")
    timeout_s: float = Field(30, gt=0, le=300, description="SMTP timeout, seconds.")

    @model_validator(mode="after")
    def _pairs(self) -> Smtp:
        if (self.username_env is None) != (self.password_env is None):
            missing = "password_env" if self.password_env is None else "username_env"
            raise problems_error([((missing,), "username_env and password_env go together: set both or neither")])
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.security]


# -- alerts (issue 13) ---------------------------------------------------------------------
ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")


def _apprise_url(value: str) -> str:
    # The value is not echoed: a webhook URL carries its key.
    if len(value) > MAX_URL_CHARS or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise ValueError(f"must be one Apprise URL of at most {MAX_URL_CHARS} characters, without spaces")
    for name in ENV_REFERENCE.findall(value):
        if not re.fullmatch(ENV_PATTERN, name):
            raise ValueError("has a ${...} reference that is not an environment variable name ([A-Z_][A-Z0-9_]*)")
    if not ENV_REFERENCE.fullmatch(value) and not re.match(r"^[a-z][a-z0-9+.-]*://\S", value):
        raise ValueError("must be an Apprise URL like wecombot://${WXMON_WECOM_KEY} or dingtalk://${WXMON_DING_TOKEN}/ "
                         "(a whole URL may also be one ${VARIABLE})")
    return value


AppriseUrl = Annotated[str, AfterValidator(_apprise_url), Field(
    description="An Apprise URL (WeCom wecombot://, DingTalk dingtalk://, Feishu feishu://, json://, ...). Keys "
    "stay in the environment: write ${VARIABLE} where the key goes, or the whole URL as ${VARIABLE}.")]


def apprise_env_names(url: str) -> list[str]:
    """The environment variables an Apprise URL refers to with ``${NAME}``."""
    return ENV_REFERENCE.findall(url)


class Alerts(_Model):
    """Alerts to the units when an account newly fails a rule (and again on recovery)."""

    enabled: bool = Field(False, description="Send alerts to the accounts' contacts and the supervisors.")
    digest_time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        "17:30", description="HH:MM (Asia/Shanghai): when recipients with digest: true get the day's changes.")
    storm_percent: float = Field(50, gt=0, le=100, description="More than this percentage of the accounts changing "
                                 "in one round (or turning error): one message to the supervisors instead of one "
                                 "per account.")
    storm_min_accounts: int = Field(5, ge=2, le=100000, description="A round is a storm only from this many "
                                    "accounts on.")
    no_update_warn_days: int = Field(12, ge=1, le=365, description="Warn after this many days without an update "
                                     "(ahead of the 14-day veto), on the days the monitor could see.")
    privacy_days: int = Field(30, ge=1, le=365, description="A privacy finding keeps the alert on this many days; "
                              "the recovery notice follows when none is found for that long.")
    max_attempts: int = Field(5, ge=1, le=100, description="Delivery attempts of one message before it is given up.")


class WebPublic(_Model):
    """The office's public status page (/public): off unless enabled, and only what ``show`` lists."""

    enabled: bool = Field(False, description="Serve the public status page (no login) at /public.")
    title: Line | None = Field(None, description="Heading of the public page (default: 政务新媒体监测情况).")
    show: list[Literal["pass_rate", "trend", "categories", "accounts", "reasons"]] = Field(
        ["pass_rate"], max_length=5, description="What the page shows: pass_rate (合格率), trend (by week), "
        "categories (合格率 per category), accounts (each account's verdict), reasons (why one failed).")


class ContentCheck(_Model):
    """The content check (serious wording errors, sensitive words, harmful links): which rule files."""

    shipped: bool = Field(True, description="Use the rule files shipped with wxmon (fixed expressions, "
                          "wrong characters).")
    samples: bool = Field(False, description="Also the shipped samples: FICTIONAL leaders' names and titles, "
                          "neutral sensitive words, test link hosts (the demo's; never a real installation's).")
    rules: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        [], max_length=1000, description="The office's own rule files (docs/content-check.md), relative to "
        "this file: sensitive words, the link blocklist, the leaders' names and titles.")
    follow_redirects: bool = Field(True, description="Open outbound links in articles and menus to see whether "
                                   "they redirect to a blocklisted host (address policy of checks applies).")
    max_links: int = Field(20, ge=0, le=1000, description="Outbound links opened per account and round.")


class Web(_Model):
    """The web console (``wxmon web``; served by ``wxmon run`` too when enabled)."""

    enabled: bool = Field(False, description="The daemon (wxmon run) serves the console as well.")
    listen: Annotated[str, Field(max_length=300), AfterValidator(_listen)] = Field(
        "127.0.0.1:8788", description="ADDRESS:PORT the console listens on.")
    secret_env: EnvName = Field("WXMON_WEB_SECRET", description="Environment variable holding the key that signs "
                                "session cookies; unset: a key generated once and kept (0600) beside the store.")
    secure_cookie: bool | None = Field(None, description="Mark the session cookie Secure (HTTPS only); default: "
                                       "yes unless the console listens on a loopback address.")
    upload_max_bytes: int = Field(5_000_000, ge=10_000, le=50_000_000, description="Largest screenshot accepted.")
    public: WebPublic = Field(default_factory=WebPublic, description="The public status page.")


class Supervisor(_Model):
    """A recipient of the weekly report."""

    name: Line = Field(description="Name of the person (in the To: header of the weekly mail).")
    email: Email = Field(description="Where the weekly mail goes.")
    apprise: list[AppriseUrl] = Field([], max_length=20, description="Where alerts about the whole monitor "
                                      "(platform outage, many accounts at once) go besides e-mail.")
    digest: bool = Field(False, description="Alerts once a day (alerts.digest_time) instead of at once.")


class Inquiry(_Model):
    """How the account's replies to test inquiries are measured."""

    channel: Literal["emulator", "manual", "bridge", "none"] = Field(
        "none", description="How test inquiries are sent: emulator (demo/tests), manual (an inspector "
                            "sends and records), bridge (a tester-device service), none.")
    tester: Line | None = Field(None, description="The tester identity on the channel (person or device).")
    questions: list[Text] = Field([], description="Question pool; one is sent per inquiry window.")
    inspector: Inspector | None = Field(None, description="Who sends this account's inquiries by hand "
                                        "(manual channel; default channels.manual.inspector).")


class DeclaredColumn(_Model):
    """A column the monitor checks even if the menu does not show it (or without API access)."""

    path: Annotated[str, AfterValidator(_one_line)] = Field(pattern=COLUMN_PATH_PATTERN, max_length=200,
                                                            description="'一级' or '一级/二级'.")
    type: Literal["view", "news", "text", "media", "miniprogram", "click"] = Field(
        "view", description="Menu item type.")
    url: HttpUrl | None = Field(None, description="What the column opens (required for view and news).")


class Contact(_Model):
    """A person responsible for the account."""

    name: Line = Field(description="Name of the person.")
    role: Line | None = Field(None, description="Role, e.g. 运维负责人.")
    email: Email | None = Field(None, description="E-mail address.")
    phone: Annotated[str, Field(pattern=r"^[0-9+() -]{3,30}$")] | None = Field(
        None, description="Quote it in YAML (\"010-12345678\").")
    apprise: list[AppriseUrl] = Field([], max_length=20, description="Where this person's alerts go besides "
                                      "e-mail (WeCom, DingTalk, Feishu ... as Apprise URLs).")
    digest: bool = Field(False, description="Alerts once a day (alerts.digest_time) instead of at once.")


Category = Literal["乡镇街道", "政府部门", "区政府", "事业单位", "其他"]


class Account(_Model):
    """One monitored official account."""

    id: str = Field(pattern=ID_PATTERN, max_length=64, description="Unique id, e.g. jd-xinhua.")
    name: Line = Field(description="The official account's name (公众号名称).")
    unit: Line = Field(description="The unit that runs it (主办单位).")
    category: Category = Field(description="乡镇街道 | 政府部门 | 区政府 | 事业单位 | 其他.")
    platform: Literal["wechat"] = Field("wechat", description="Only wechat for now.")
    appid: str | None = Field(None, pattern=APPID_PATTERN, description="AppID (wx + 16 hex); required when api.")
    secret_env: EnvName | None = Field(None, description="Environment variable holding the AppSecret; "
                                       "required when api.")
    api: bool = Field(True, description="false: no API access; only declared columns and inquiries.")
    access: Literal["secret", "component", "none"] | None = Field(
        None, description="How wxmon reaches the account's API: secret (its AppSecret, secret_env), component (the "
        "unit authorized wxmon's third-party platform, see component:) or none (declared columns, feeds and "
        "inquiries only). Default: secret, or none when api is false.")
    inquiry: Inquiry = Field(default_factory=Inquiry, description="Test inquiries (default: none).")
    columns: list[DeclaredColumn] = Field([], description="Declared columns, checked besides the menu.")
    contacts: list[Contact] = Field([], description="People to contact about this account.")
    feed: HttpUrl | None = Field(None, description="The account's public feed (RSS, Atom or JSON Feed, e.g. from a "
                                 "self-hosted WeWe RSS or we-mp-rss): it sees 群发 articles, the API does not.")

    @model_validator(mode="after")
    def _consistent(self) -> Account:
        problems = account_problems(self)
        if problems:
            raise problems_error(problems)
        # One meaning from here on: access says how, api says whether.
        self.access = access_mode(self)
        self.api = self.access != "none"
        return self


def access_mode(acct: Account) -> Literal["secret", "component", "none"]:
    """How wxmon reaches the account's API: ``access`` if set, else secret (none when api is false)."""
    if acct.access is not None:
        return acct.access
    return "secret" if acct.api else "none"


def account_problems(acct: Account) -> list[Problem]:
    """Checks across the fields of one account (paths relative to the account)."""
    problems: list[Problem] = []
    mode = access_mode(acct)
    if acct.access in ("secret", "component") and not acct.api:
        problems.append((("access",), f"access {acct.access} contradicts api: false (remove api:, access says it)"))
    if mode == "secret":
        if acct.appid is None:
            problems.append((("appid",), "required when api is true"))
        if acct.secret_env is None:
            problems.append((("secret_env",), "required when api is true (the NAME of the variable holding "
                                              "the AppSecret; or set access: component or access: none)"))
    if mode == "component" and acct.appid is None:
        problems.append((("appid",), "required for access: component (the AppID the unit authorizes)"))
    if acct.inquiry.channel != "none" and not acct.inquiry.questions:
        problems.append((("inquiry", "questions"), f"channel {acct.inquiry.channel} needs at least one question"))
    if mode == "none" and not acct.columns and acct.inquiry.channel == "none" and acct.feed is None:
        problems.append(((), "cannot be probed at all: api is false, no columns are declared and the "
                             "inquiry channel is none"))
    seen: dict[str, int] = {}
    for i, col in enumerate(acct.columns):
        if col.path in seen:
            problems.append((("columns", i, "path"), f"duplicate column (also columns[{seen[col.path]}])"))
        seen.setdefault(col.path, i)
        if col.type in ("view", "news") and col.url is None:
            problems.append((("columns", i, "url"), f"required for a {col.type} column"))
    return problems


def _store_url(value: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if len(value) > MAX_URL_CHARS or _CONTROL.search(value):
        raise ValueError(f"must be one line of at most {MAX_URL_CHARS} characters")
    try:
        url = make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError("not a SQLAlchemy URL (e.g. sqlite:///wxmon.db, "
                         "postgresql+psycopg://wxmon@127.0.0.1/wxmon)") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError("only sqlite and postgresql stores are supported")
    if url.password:
        # Secrets are never in accounts.yaml; libpq reads PGPASSWORD / ~/.pgpass.
        raise ValueError("contains a password; secrets are never in this file (use PGPASSWORD or ~/.pgpass)")
    return value


def resolve_store_url(store: str, config_dir: Path) -> str:
    """``store`` with a relative SQLite path made absolute against ``config_dir``."""
    from sqlalchemy.engine import make_url

    url = make_url(store)
    db = url.database
    if (url.get_backend_name() == "sqlite" and db and db != ":memory:" and not db.startswith("file:")
            and not os.path.isabs(db)):
        return url.set(database=str(config_dir / db)).render_as_string(hide_password=False)
    return store


class Config(_Model):
    """accounts.yaml. Build with :func:`monitor.config.load_config`."""

    model_config = ConfigDict(extra="forbid", title="wxmon accounts.yaml")

    timezone: Literal["Asia/Shanghai"] = Field("Asia/Shanghai", description="The only supported time zone.")
    store: Annotated[str, AfterValidator(_store_url)] = Field(
        DEFAULT_STORE, description="SQLAlchemy URL of the store; a relative SQLite path is relative to this "
                                   "file. No password here (PGPASSWORD or ~/.pgpass).")
    wechat: Wechat = Field(default_factory=Wechat, description="The WeChat platform API.")
    calendar: CalendarExtras = Field(default_factory=CalendarExtras,
                                     description="Holidays and make-up working days beyond chinese-calendar.")
    policy: str = Field("national-2019", max_length=64,
                        description="Scoring policy: national-2019 | demo-default | points-local | a key of policies.",
                        json_schema_extra={"examples": ["national-2019", "demo-default", "points-local"]})
    policies: dict[Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)], PolicySpec] = Field(
        {}, description="Custom scoring policies, by name; each may inherit a built-in with base:.")
    schedules: Schedules = Field(default_factory=Schedules, description="When each job runs (cron).")
    checks: Checks = Field(default_factory=Checks, description="Page checks behind the columns.")
    http: Http = Field(default_factory=Http, description="Proxy for pages, the API and the channels.")
    channels: Channels = Field(default_factory=Channels, description="Settings of the inquiry channels.")
    component: Component | None = Field(None, description="wxmon as a third-party platform (for accounts with "
                                        "access: component).")
    smtp: Smtp | None = Field(None, description="Outgoing mail for the weekly report (needed by --send).")
    supervisors: list[Supervisor] = Field([], description="Who receives the weekly mail.")
    alerts: Alerts = Field(default_factory=Alerts, description="Alerts to the units' contacts and the supervisors.")
    web: Web = Field(default_factory=Web, description="The web console and the public status page.")
    content: ContentCheck = Field(default_factory=ContentCheck,
                                  description="The content check: rule files (docs/content-check.md).")
    accounts: list[Account] = Field(min_length=1, description="The monitored official accounts.")

    _config_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(None)
    _lines: dict[FieldPath, int] = PrivateAttr(default_factory=dict)
    _policy: Policy | None = PrivateAttr(None)
    _policy_key: tuple[str, int] | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Config:
        ctx = info.context or {}
        if ctx.get("config_dir") is not None:
            self._config_dir = Path(ctx["config_dir"]).absolute()
        problems = cross_problems(ConfigParts.of(self))
        if problems:
            raise problems_error(problems)
        self._policy = resolve_policy(self.policy, self.policies)
        self._policy_key = (self.policy, id(self.policies))
        return self

    # -- what the rest of the program uses ---------------------------------

    @property
    def config_dir(self) -> Path:
        """Directory of the file (relative paths in it are relative to this)."""
        return self._config_dir

    @property
    def source(self) -> Path | None:
        """The file this was loaded from, if any."""
        return self._source

    @property
    def store_url(self) -> str:
        """The store URL with a relative SQLite path resolved against :attr:`config_dir`."""
        return resolve_store_url(self.store, self._config_dir)

    @property
    def accounts_by_id(self) -> dict[str, Account]:
        return {a.id: a for a in self.accounts}

    def account(self, account_id: str) -> Account:
        """The account with this id; :class:`BadInput` naming the known ids otherwise."""
        try:
            return self.accounts_by_id[account_id]
        except KeyError:
            known = ", ".join(self.accounts_by_id) if len(self.accounts) <= 30 else f"{len(self.accounts)} ids"
            raise BadInput(f"unknown account '{account_id}' (known: {known})") from None

    @property
    def selected_policy(self) -> Policy:
        """The complete scoring policy named by ``policy`` (base merged)."""
        key = (self.policy, id(self.policies))  # a model_copy(update=...) must not see a stale policy
        if self._policy is None or self._policy_key != key:
            self._policy = resolve_policy(self.policy, self.policies)
            self._policy_key = key
        return self._policy

    @property
    def emulator_base_url(self) -> str:
        return self.channels.emulator.base_url or self.wechat.api_base

    def secret_env_names(self) -> list[str]:
        """Every environment variable this file names as holding a secret (to keep them out of logs)."""
        names: list[str | None] = [a.secret_env for a in self.accounts if a.secret_env]
        names.append(self.channels.bridge.token_env)
        if self.component is not None:
            c = self.component
            names += [c.secret_env, c.token_env, c.aes_key_env, c.store_key_env]
        if self.smtp is not None:
            names.append(self.smtp.password_env)
        names.append(self.web.secret_env)  # the console's session key
        urls = [u for s in self.supervisors for u in s.apprise]  # alert webhook keys
        urls += [u for a in self.accounts for c in a.contacts for u in c.apprise]
        names += [n for url in urls for n in apprise_env_names(url)]
        return [n for n in names if n]

    def secret(self, account: Account) -> str | None:
        """The account's AppSecret from the environment (None when unset). Never log it."""
        if not account.secret_env:
            return None
        return os.environ.get(account.secret_env) or None

    def work_calendar(self) -> WorkCalendar:
        from monitor.workdays import WorkCalendar

        return WorkCalendar(self.calendar.extra_holidays, self.calendar.extra_workdays)

    def line_of(self, *path: str | int) -> int | None:
        """Line of a field in the source file, e.g. ``line_of("accounts", 3)`` (None if unknown)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self._lines:
                return self._lines[path[:end]]
        return None


class ConfigParts:
    """The valid parts of a (possibly broken) file, for the checks across sections."""

    def __init__(self, accounts: Iterable[tuple[int, Account]], raw_accounts: Iterable[tuple[int, Any]],
                 policy: str | None, policies: Mapping[str, PolicySpec] | None, channels: Channels | None,
                 smtp: Smtp | None, policy_names: Iterable[str] | None = None, *,
                 component: Component | None = None, component_given: bool | None = None) -> None:
        self.accounts = list(accounts)
        self.raw_accounts = list(raw_accounts)  # duplicates are found even among invalid accounts
        self.policy = policy
        self.policies = policies
        self.channels = channels
        self.smtp = smtp
        # every custom policy name, valid or not (None: the keys of policies)
        self.policy_names = set(policy_names) if policy_names is not None else set(policies or {})
        self.component = component
        # a component: block was written (perhaps invalid: then no second message about it missing)
        self.component_given = component is not None if component_given is None else component_given

    @classmethod
    def of(cls, cfg: Config) -> ConfigParts:
        return cls(enumerate(cfg.accounts), enumerate({"id": a.id, "appid": a.appid} for a in cfg.accounts),
                   cfg.policy, cfg.policies, cfg.channels, cfg.smtp, component=cfg.component)


def cross_problems(parts: ConfigParts) -> list[Problem]:
    """Checks across sections: duplicates, policy names, channel settings."""
    problems: list[Problem] = []
    for key in ("id", "appid"):
        first: dict[str, int] = {}
        for i, raw in parts.raw_accounts:
            value = raw.get(key) if isinstance(raw, dict) else None
            if not isinstance(value, str):
                continue
            if value in first:
                problems.append((("accounts", i, key), f"duplicate {key} '{value}' (also accounts[{first[value]}])"))
            else:
                first[value] = i
    for name in parts.policy_names:
        if name in BUILTIN_NAMES:
            problems.append((("policies", name), "a custom policy cannot reuse a built-in name; "
                                                 "inherit with base: instead"))
    if parts.policies is not None:
        for name in parts.policies:
            if name in BUILTIN_NAMES or not _bases_valid(name, parts):
                continue
            try:
                resolve_policy(name, parts.policies)
            except PolicyError as exc:
                problems.extend((("policies", *path), msg) for path, msg in exc.problems)
    if parts.policy is not None and parts.policy not in BUILTIN_NAMES and parts.policy not in parts.policy_names:
        known = ", ".join([*BUILTIN_NAMES, *sorted(parts.policy_names)])
        problems.append((("policy",), f"unknown policy '{parts.policy}' (known: {known})"))
    if not parts.component_given:
        for i, acct in parts.accounts:
            if acct.access == "component":
                problems.append((("accounts", i, "access"), "access component needs the top-level component: "
                                 "block (the third-party platform's appid and environment variables)"))
    if parts.channels is not None and parts.channels.bridge.url is None:
        for i, acct in parts.accounts:
            if acct.inquiry.channel == "bridge":
                problems.append((("accounts", i, "inquiry", "channel"),
                                 "channel bridge needs channels.bridge.url, which is not set"))
    return problems


def _bases_valid(name: str | None, parts: ConfigParts) -> bool:
    """False when ``name`` inherits from a custom policy that is itself invalid
    (already reported; resolving would only add a misleading 'unknown policy')."""
    assert parts.policies is not None
    seen: set[str] = set()
    while name is not None and name in parts.policies and name not in seen:
        seen.add(name)
        name = parts.policies[name].base
    return name is None or name in seen or name not in parts.policy_names


def env_problems(parts: ConfigParts, environ: Mapping[str, str]) -> list[Problem]:
    """The environment variables the file names must be set. Names only, never values."""
    problems: list[Problem] = []

    def need(path: FieldPath, name: str | None) -> None:
        if name and not environ.get(name):
            problems.append((path, f"environment variable {name} is not set"))

    for i, acct in parts.accounts:
        if acct.api:
            need(("accounts", i, "secret_env"), acct.secret_env)
    if parts.channels is not None and any(a.inquiry.channel == "bridge" for _, a in parts.accounts):
        need(("channels", "bridge", "token_env"), parts.channels.bridge.token_env)
    if parts.component is not None and any(a.access == "component" for _, a in parts.accounts):
        for key in ("secret_env", "token_env", "aes_key_env", "store_key_env"):
            need(("component", key), getattr(parts.component, key))
    if parts.smtp is not None:
        need(("smtp", "username_env"), parts.smtp.username_env)
        need(("smtp", "password_env"), parts.smtp.password_env)
    for i, acct in parts.accounts:  # alert webhook keys named with ${VARIABLE}
        for j, contact in enumerate(acct.contacts):
            for k, url in enumerate(contact.apprise):
                for name in apprise_env_names(url):
                    need(("accounts", i, "contacts", j, "apprise", k), name)
    return problems
