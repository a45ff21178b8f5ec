"""The one client for the platform API (async, aiohttp).

Probes never build API URLs: they call methods here. The base URL comes from
config (the real platform, the emulator, or an egress gateway), token handling
is in :mod:`monitor.wechat.tokens`, daily budgets in :mod:`monitor.wechat.quota`,
and every failure surfaces as a typed :mod:`monitor.wechat.errors` exception.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable

import aiohttp

from monitor.clock import Clock, get_clock
from monitor.wechat import errors as E
from monitor.wechat.quota import QuotaBook
from monitor.wechat.tokens import TokenCache

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
MSGRECORD_WINDOW = timedelta(hours=24)
MSGRECORD_PAGE = 10000
SELFMENU = "cgi-bin/get_current_selfmenu_info"  # the menu as followers see it


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for the transient failures only (busy, network, bad gateway pages)."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * (2 ** attempt))
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
        trace_configs: list[aiohttp.TraceConfig] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.retry = retry
        self._clock = clock
        self.quotas = quotas or QuotaBook(clock=clock)
        self.tokens = TokenCache()
        self._sleep = sleep
        # aiohttp, by measurement: API discovery for 10,000 accounts took 9.7 s through
        # httpx and 3.3 s through aiohttp (bench/bench_columns.py).
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_connections = max_connections
        self._trace_configs = trace_configs
        self._http: aiohttp.ClientSession | None = None
        # Calls beyond the pool wait here, not in aiohttp's connector queue: a wait there counts
        # against the call's timeout (a round has more accounts in progress than connections).
        self._gate: asyncio.Semaphore | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=30),
                timeout=self._timeout, headers={"User-Agent": "wxmon"}, trust_env=False,
                trace_configs=self._trace_configs)
        return self._http

    def now(self) -> datetime:
        return (self._clock or get_clock()).now()

    def settings(self) -> dict[str, Any]:
        """What another process needs to make calls as this client does (no secrets)."""
        return {"api_base": self.api_base, "timeout": self._timeout.total, "max_connections": self._max_connections,
                "retry": (self.retry.attempts, self.retry.base_delay, self.retry.max_delay)}

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._gate = None

    async def __aenter__(self) -> "WeChatAPI":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def account(self, appid: str, secret: str) -> "AccountAPI":
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
                    method, url, params=params, data=content, headers=headers) as resp:
                status, raw = resp.status, await resp.read()
        except asyncio.TimeoutError:
            raise E.NetworkError("timed out", endpoint=endpoint) from None
        except (aiohttp.ClientError, OSError) as exc:
            # The exception text may hold the URL with its access_token: keep only the kind.
            raise E.NetworkError(f"connection failed ({type(exc).__name__})", endpoint=endpoint) from None
        if status != 200:
            raise E.BadResponse(f"HTTP {status}", endpoint=endpoint)
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise E.BadResponse("answer is not JSON", endpoint=endpoint) from None
        if not isinstance(data, dict):
            raise E.BadResponse("answer is not a JSON object", endpoint=endpoint)
        code = int(data.get("errcode", 0) or 0)
        if code != 0:
            raise E.error_for(code, data.get("errmsg", ""), endpoint)
        return data


class AccountAPI:
    """The API seen with one account's credentials."""

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
            value = data.get("access_token")
            if not isinstance(value, str) or not value:
                raise E.BadResponse("token answer has no access_token", endpoint="cgi-bin/stable_token")
            cache.put(self.appid, value, int(data.get("expires_in", 7200)), self.api.now())
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
                return await self.api.request(method, endpoint, params={**(params or {}), "access_token": token}, body=body)
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

    async def get_current_selfmenu_info(self) -> dict[str, Any]:
        return await self.call("GET", SELFMENU)

    async def get_menu(self) -> dict[str, Any] | None:
        """The API-created menu, or None when the account has none (46003)."""
        try:
            return await self.call("GET", "cgi-bin/menu/get")
        except E.NoMenu:
            return None

    async def freepublish_batchget(self, offset: int = 0, count: int = 20, no_content: bool = True) -> dict[str, Any]:
        body = {"offset": offset, "count": max(1, min(count, 20)), "no_content": 1 if no_content else 0}
        return await self.call("POST", "cgi-bin/freepublish/batchget", body=body)

    async def freepublish_getarticle(self, article_id: str) -> dict[str, Any]:
        return await self.call("POST", "cgi-bin/freepublish/getarticle", body={"article_id": article_id})

    async def material_news(self, offset: int = 0, count: int = 20) -> dict[str, Any]:
        body = {"type": "news", "offset": offset, "count": max(1, min(count, 20))}
        return await self.call("POST", "cgi-bin/material/batchget_material", body=body)

    async def get_autoreply_info(self) -> dict[str, Any]:
        return await self.call("GET", "cgi-bin/get_current_autoreply_info")

    async def send_text(self, openid: str, text: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self.call("POST", "cgi-bin/message/custom/send", body=body)

    async def quota(self, cgi_path: str) -> dict[str, Any]:
        data = await self.call("POST", "cgi-bin/openapi/quota/get", body={"cgi_path": cgi_path})
        return data.get("quota", {})

    async def msg_records(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every customer-service record in [start, end), in 24 h windows, paged by msgid."""
        records: list[dict[str, Any]] = []
        window_start = start
        while window_start < end:
            window_end = min(window_start + MSGRECORD_WINDOW, end)
            msgid = 1
            while True:
                data = await self.call(
                    "POST",
                    "customservice/msgrecord/getmsglist",
                    body={
                        "starttime": int(window_start.timestamp()),
                        # Both ends are inclusive seconds on the platform: stop one short of the next window.
                        "endtime": int(window_end.timestamp()) - 1,
                        "msgid": msgid,
                        "number": MSGRECORD_PAGE,
                    },
                )
                page = data.get("recordlist") or []
                records.extend(page)
                if len(page) < MSGRECORD_PAGE:
                    break
                msgid = int(data.get("msgid", 0)) + 1
            window_start = window_end
        return records
