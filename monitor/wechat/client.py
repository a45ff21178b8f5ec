"""The one client for the platform API (async, aiohttp).

Probes never build API URLs: they call methods here. The base URL comes from
config (the real platform, the emulator, or an egress gateway), token handling
is in :mod:`monitor.wechat.tokens`, daily budgets in :mod:`monitor.wechat.quota`,
and every failure surfaces as a typed :mod:`monitor.wechat.errors` exception.
Answers are read up to ``max_answer_bytes`` (decoded) and checked against their
models in :mod:`monitor.wechat.answers` before anyone reads them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp

from monitor.clock import Clock, get_clock
from monitor.proxy import Proxies
from monitor.wechat import answers as A
from monitor.wechat import errors as E
from monitor.wechat.quota import QuotaBook
from monitor.wechat.tokens import TokenCache

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
MSGRECORD_WINDOW = timedelta(hours=24)
MSGRECORD_PAGE = 10000
MSGRECORD_MAX_PAGES = 100  # per 24 h window: a million messages a day is no account's; stop a runaway cursor
SELFMENU = "cgi-bin/get_current_selfmenu_info"  # the menu as followers see it
DEFAULT_MAX_ANSWER_BYTES = 16_000_000
# Small JSON values cost ~20x their bytes as Python objects (16 MB of "{}," is 350 MB): answers past
# a megabyte are refused beyond this many values. A full msgrecord page holds ~60,000.
MAX_VALUES, VALUE_COUNT_FROM = 1_000_000, 1 << 20
_INFLATE_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for the transient failures only (busy, network, bad gateway pages)."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** attempt))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class WeChatAPI:
    """Shared HTTP connection pool, token cache and quota book for all accounts."""

    def __init__(
        self,
        api_base: str = DEFAULT_API_BASE,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),
        clock: Clock | None = None,
        quotas: QuotaBook | None = None,
        max_connections: int = 100,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        proxies: Proxies | None = None,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.proxies = proxies if proxies is not None else Proxies()
        self.retry = retry
        self._clock = clock
        self.quotas = quotas or QuotaBook(clock=clock)
        self.tokens = TokenCache()
        self._sleep = sleep
        # aiohttp, by measurement: API discovery for 10,000 accounts took 9.7 s through
        # httpx and 3.3 s through aiohttp (bench/bench_columns.py).
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self.max_answer_bytes = max_answer_bytes
        self._trace_configs = trace_configs
        self._http: aiohttp.ClientSession | None = None
        # Calls beyond the pool wait here, not in aiohttp's connector queue: a wait there counts
        # against the call's timeout (a round has more accounts in progress than connections).
        self._gate: asyncio.Semaphore | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # We inflate answers ourselves (read_answer), counting decoded bytes as they come: aiohttp
            # before 3.12 would inflate a whole network read at once, however far it expands.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30),
                timeout=self._timeout, headers={"User-Agent": "wxmon", "Accept-Encoding": "gzip, deflate"},
                trust_env=False, auto_decompress=False, trace_configs=self._trace_configs)
        return self._http

    def now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def settings(self) -> dict[str, Any]:
        """What another process needs to make calls as this client does (no secrets)."""
        return {"api_base": self.api_base, "timeout": self._timeout.total, "max_connections": self._max_connections,
                "retry": (self.retry.attempts, self.retry.base_delay, self.retry.max_delay),
                "max_answer_bytes": self.max_answer_bytes, "proxies": self.proxies.spec()}

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._gate = None

    async def __aenter__(self) -> WeChatAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def account(self, appid: str, secret: str) -> AccountAPI:
        return AccountAPI(self, appid, secret)

    async def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call with retries for transient failures; raises typed errors."""
        attempt = 0
        while True:
            try:
                return await self._once(method, endpoint, params, body)
            except E.WeChatError as exc:
                attempt += 1
                if not exc.retryable or attempt >= self.retry.attempts:
                    raise
                delay = self.retry.delay(attempt - 1)
                log.info("retrying %s after %s (attempt %d, %.1fs)", endpoint, type(exc).__name__, attempt, delay)
                await self._sleep(delay)

    async def _once(
        self, method: str, endpoint: str, params: dict[str, Any] | None, body: dict[str, Any] | None
    ) -> dict[str, Any]:
        url = f"{self.api_base}/{endpoint}"
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"} if content is not None else None
        if self._gate is None:
            self._gate = asyncio.Semaphore(self._max_connections)
        try:
            async with self._gate, self._client().request(
                    method, url, params=params, data=content, headers=headers,
                    proxy=self.proxies.for_url(url) if self.proxies.active else None) as resp:
                if resp.status != 200:
                    raise E.BadResponse(f"HTTP {resp.status}", endpoint=endpoint)
                raw = await read_answer(resp, self.max_answer_bytes, endpoint)
        except TimeoutError:
            raise E.NetworkError("timed out", endpoint=endpoint) from None
        except (aiohttp.ClientError, OSError) as exc:
            # The exception text may hold the URL with its access_token: keep only the kind.
            raise E.NetworkError(f"connection failed ({type(exc).__name__})", endpoint=endpoint) from None
        return decode_answer(raw, endpoint)


def decode_answer(raw: bytes | bytearray, endpoint: str) -> dict[str, Any]:
    """The JSON object of an answer with errcode 0; the typed error of any other answer."""
    # Every value but the first of a container follows a comma (commas in strings overcount: fine).
    if len(raw) > VALUE_COUNT_FROM and raw.count(b",") + raw.count(b"{") + raw.count(b"[") > MAX_VALUES:
        raise E.AnswerTooLarge(f"answer holds more than {MAX_VALUES} values", endpoint=endpoint)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):  # an HTML error page, a cut answer: may pass
        raise E.BadResponse("answer is not JSON", endpoint=endpoint) from None
    except (ValueError, RecursionError):  # JSON, but past Python's digit or nesting limits
        raise E.MalformedAnswer("answer holds values too large or nested too deeply", endpoint=endpoint) from None
    if not isinstance(data, dict):
        raise E.MalformedAnswer("answer is not a JSON object", endpoint=endpoint)
    envelope = A.check(A.Envelope, data, endpoint)
    code = envelope.get("errcode") or 0
    if code != 0:
        raise E.error_for(code, envelope.get("errmsg") or "", endpoint)
    return data


async def read_answer(resp: aiohttp.ClientResponse, limit: int, endpoint: str) -> bytearray:
    """The body, inflated, as it streams in; AnswerTooLarge once received or decoded bytes pass ``limit``."""
    if resp.content_length is not None and resp.content_length > limit:
        raise _too_large(limit, endpoint)
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity") and encoding not in _INFLATE_WBITS:
        raise E.BadResponse(f"unsupported content encoding {encoding[:20]!r}", endpoint=endpoint)
    inflate: zlib._Decompress | None = None
    body = bytearray()
    received = 0
    async for chunk in resp.content.iter_any():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit, endpoint)
        if encoding in _INFLATE_WBITS:
            if inflate is None:
                # Some servers send raw deflate for "deflate": no zlib header (low nibble 8) then.
                raw_deflate = encoding == "deflate" and chunk[0] & 0x0F != 8
                inflate = zlib.decompressobj(-zlib.MAX_WBITS if raw_deflate else _INFLATE_WBITS[encoding])
            try:
                # One byte past the room left: more output than that means over the limit; output
                # stops there, so a small chunk never expands to more than the limit in memory.
                chunk = inflate.decompress(chunk, limit - len(body) + 1)
            except zlib.error:
                raise E.BadResponse("answer does not inflate", endpoint=endpoint) from None
        body += chunk
        if len(body) > limit:
            raise _too_large(limit, endpoint)
    if encoding in _INFLATE_WBITS and received and (inflate is None or not inflate.eof):
        raise E.BadResponse("compressed answer cut short", endpoint=endpoint)
    return body


def _too_large(limit: int, endpoint: str) -> E.AnswerTooLarge:
    return E.AnswerTooLarge(f"answer over {limit} bytes", endpoint=endpoint)


class AccountAPI:
    """The API seen with one account's credentials."""

    remote_ok = True  # whether the API helper process may make its calls (it fetches tokens by secret)

    def __init__(self, api: WeChatAPI, appid: str, secret: str) -> None:
        self.api = api
        self.appid = appid
        self._secret = secret

    def __repr__(self) -> str:  # never show the secret
        return f"AccountAPI(appid={self.appid!r})"

    # -- tokens ---------------------------------------------------------------

    async def token(self) -> str:
        cache = self.api.tokens
        value = cache.get(self.appid, self.api.now())
        if value:  # the common case: no lock needed to read a fresh token
            return value
        async with cache.lock(self.appid):
            value = cache.get(self.appid, self.api.now())
            if value:
                return value
            try:
                data = await self.api.request(
                    "POST",
                    "cgi-bin/stable_token",
                    body={
                        "grant_type": "client_credential",
                        "appid": self.appid,
                        "secret": self._secret,
                        "force_refresh": False,
                    },
                )
            except E.TokenInvalid as exc:  # 40001 on the token call means a wrong secret
                raise E.BadCredentials("appid or secret refused", endpoint=exc.endpoint, code=exc.code) from None
            answer = A.check(A.TokenAnswer, data, "cgi-bin/stable_token")
            value = answer["access_token"]
            cache.put(self.appid, value, answer.get("expires_in", 7200), self.api.now())
            return value

    async def call(
        self,
        method: str,
        endpoint: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A token-authenticated call, respecting daily budgets; one token refetch at most."""
        self.check_budget(endpoint)
        for attempt in (0, 1):
            token = await self.token()
            self.api.quotas.spend(self.appid, endpoint)
            try:
                return await self.api.request(method, endpoint, params={**(params or {}), "access_token": token},
                                              body=body)
            except E.TokenInvalid:
                self.api.tokens.drop(self.appid, token)
                if attempt == 1:
                    raise
            except E.QuotaExhausted:
                self.api.quotas.mark_exhausted(self.appid, endpoint)
                raise
        raise AssertionError("unreachable")

    def check_budget(self, endpoint: str) -> None:
        """Raise QuotaExhausted if ``endpoint`` may not be called for this account now."""
        until = self.api.quotas.blocked_until(self.appid, endpoint)
        if until is not None:
            raise E.QuotaExhausted(f"daily budget used up until {until.isoformat()}", endpoint=endpoint, code=45009)

    # -- endpoints ------------------------------------------------------------

    # Each returns its answer checked against its model in :mod:`monitor.wechat.answers` (a plain
    # dict of the declared fields): a wrong shape raises MalformedAnswer here, not in a probe.

    async def get_current_selfmenu_info(self) -> A.SelfMenu:
        return A.check(A.SelfMenu, await self.call("GET", SELFMENU), SELFMENU)

    async def freepublish_batchget(self, offset: int = 0, count: int = 20, no_content: bool = True,
                                   ) -> A.FreepublishPage:
        endpoint = "cgi-bin/freepublish/batchget"
        body = {"offset": offset, "count": max(1, min(count, 20)), "no_content": 1 if no_content else 0}
        return A.check(A.FreepublishPage, await self.call("POST", endpoint, body=body), endpoint)

    async def freepublish_getarticle(self, article_id: str) -> A.Article:
        endpoint = "cgi-bin/freepublish/getarticle"
        return A.check(A.Article, await self.call("POST", endpoint, body={"article_id": article_id}), endpoint)

    async def material_news(self, offset: int = 0, count: int = 20) -> A.MaterialPage:
        endpoint = "cgi-bin/material/batchget_material"
        body = {"type": "news", "offset": offset, "count": max(1, min(count, 20))}
        return A.check(A.MaterialPage, await self.call("POST", endpoint, body=body), endpoint)

    async def article_summary(self, day: date) -> list[A.ArticleSummaryEntry]:
        """群发 articles read on ``day`` (one day per call, at most yesterday; 61501 otherwise)."""
        endpoint = "datacube/getarticlesummary"
        body = {"begin_date": day.isoformat(), "end_date": day.isoformat()}
        return A.check(A.ArticleSummary, await self.call("POST", endpoint, body=body), endpoint).get("list") or []

    async def get_autoreply_info(self) -> A.AutoReply:
        endpoint = "cgi-bin/get_current_autoreply_info"
        return A.check(A.AutoReply, await self.call("GET", endpoint), endpoint)

    async def send_text(self, openid: str, text: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self.call("POST", "cgi-bin/message/custom/send", body=body)

    async def quota(self, cgi_path: str) -> A.Quota:
        endpoint = "cgi-bin/openapi/quota/get"
        data = await self.call("POST", endpoint, body={"cgi_path": cgi_path})
        return A.check(A.QuotaAnswer, data, endpoint).get("quota") or {}

    async def msg_records(self, start: datetime, end: datetime) -> list[A.MsgRecord]:
        """Every customer-service record in [start, end), in 24 h windows, paged by msgid."""
        endpoint = "customservice/msgrecord/getmsglist"
        records: list[A.MsgRecord] = []
        window_start = start
        while window_start < end:
            window_end = min(window_start + MSGRECORD_WINDOW, end)
            msgid = 1
            for _ in range(MSGRECORD_MAX_PAGES):
                data = await self.call(
                    "POST",
                    endpoint,
                    body={
                        "starttime": int(window_start.timestamp()),
                        # Both ends are inclusive seconds on the platform: stop one short of the next window.
                        "endtime": int(window_end.timestamp()) - 1,
                        "msgid": msgid,
                        "number": MSGRECORD_PAGE,
                    },
                )
                answer = A.check(A.MsgRecordPage, data, endpoint)
                page = answer.get("recordlist") or []
                records.extend(page)
                if len(page) < MSGRECORD_PAGE:
                    break
                last = answer.get("msgid")
                if last is None or last < msgid:  # a full page must move the cursor on, or we would loop
                    raise E.MalformedAnswer("a full page without a later msgid", endpoint=endpoint, field="msgid")
                msgid = last + 1
            else:
                raise E.MalformedAnswer(f"more than {MSGRECORD_MAX_PAGES} full pages in 24 h", endpoint=endpoint)
            window_start = window_end
        return records
