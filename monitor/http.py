"""The one HTTP path for pages behind columns.

aiohttp, chosen by measurement (see bench/): for many small GETs with a keyword
check it is an order of magnitude faster than httpx's default transport. Limits:
a global concurrency cap, a per-host connection cap and a per-host request rate,
so government servers are never hammered. Results are plain data; deciding what
a result means for a column is the columns probe's job.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass
from time import perf_counter
from urllib.parse import urlsplit

import aiohttp

USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Mobile Safari/537.36 MicroMessenger/8.0 wxmon"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)


@dataclass(frozen=True)
class PageResult:
    url: str
    final_url: str | None
    status: int | None
    elapsed_ms: float | None
    text: str | None
    redirects: int = 0
    error: str | None = None  # timeout | connect | tls | reset | too_many_redirects | bad_url

    @property
    def answered(self) -> bool:
        return self.status is not None


class _HostPacer:
    """Spaces requests to one host at least ``1/rate`` seconds apart."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def wait(self, host: str) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, 0.0))
            self._next[host] = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class PageFetcher:
    def __init__(
        self,
        *,
        concurrency: int = 50,
        per_host: int = 4,
        per_host_rate: float | None = 5.0,
        timeout_s: float = 15.0,
        max_redirects: int = 10,
        max_body_bytes: int = 2_000_000,
    ) -> None:
        self.max_redirects = max_redirects
        self.max_body_bytes = max_body_bytes
        self._pacer = _HostPacer(per_host_rate)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 10.0))
        self._connector_args = {"limit": concurrency, "limit_per_host": per_host, "ttl_dns_cache": 300}
        self._session: aiohttp.ClientSession | None = None
        # Our own gates, so a request waits here and not in aiohttp's connection queue: there the
        # wait is slow (measured) and counts against the timeout, which would blame a queued page.
        self._concurrency, self._per_host = concurrency, per_host
        self._gate: asyncio.Semaphore | None = None
        self._host_gates: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> "PageFetcher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**self._connector_args),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT, "Accept-Language": "zh-CN,zh;q=0.9"},
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._gate = None
        self._host_gates.clear()

    async def fetch(self, url: str) -> PageResult:
        gate = self._gate
        if gate is None:
            gate = self._gate = asyncio.Semaphore(self._concurrency)
        if self._per_host >= self._concurrency and not self._pacer.interval:
            async with gate:  # no per-host limit can bind: skip its bookkeeping (hot path)
                return await self._fetch(url)
        try:
            host = urlsplit(url).hostname
        except ValueError:  # e.g. "http://[::1/x"
            host = None
        if not host:
            return PageResult(url, None, None, None, None, error="bad_url")
        host_gate = self._host_gates.get(host)
        if host_gate is None:
            host_gate = self._host_gates[host] = asyncio.Semaphore(self._per_host)
        async with host_gate:
            await self._pacer.wait(host)
            async with gate:
                return await self._fetch(url)

    async def _fetch(self, url: str) -> PageResult:
        session = self._session
        if session is None or session.closed:
            session = self._client()
        started = perf_counter()
        try:
            async with session.get(url, max_redirects=self.max_redirects) as resp:
                length = resp.content_length
                if length is not None and length <= self.max_body_bytes:
                    body = await resp.read()
                else:
                    body = await _read_capped(resp.content, self.max_body_bytes)
                history = resp.history
                return PageResult(
                    url, str(resp.url) if history else url, resp.status,
                    round((perf_counter() - started) * 1000, 1),
                    decode_body(body, resp.charset), redirects=len(history),
                )
        except aiohttp.TooManyRedirects:
            return self._failed(url, started, "too_many_redirects")
        except asyncio.TimeoutError:
            return self._failed(url, started, "timeout")
        except (aiohttp.ClientSSLError, ssl.SSLError):
            return self._failed(url, started, "tls")
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError):
            return self._failed(url, started, "reset")
        except (aiohttp.ClientConnectionError, OSError):
            return self._failed(url, started, "connect")
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError):
            # also a redirect to a non-web scheme (weixin://, an app link): not a page we can open
            return self._failed(url, started, "bad_url")
        except aiohttp.ClientError:
            return self._failed(url, started, "connect")

    @staticmethod
    def _failed(url: str, started: float, kind: str) -> PageResult:
        return PageResult(url, None, None, round((perf_counter() - started) * 1000, 1), None, error=kind)


async def _read_capped(stream: aiohttp.StreamReader, cap: int) -> bytes:
    """The body up to ``cap`` bytes: ``StreamReader.read(n)`` returns what is buffered, not n."""
    parts: list[bytes] = []
    left = cap
    while left > 0:
        chunk = await stream.read(left)
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def decode_body(body: bytes, declared: str | None) -> str:
    """Decode with the declared charset, else the page's meta charset, else UTF-8, else GB18030."""
    candidates: list[str] = [declared] if declared else []
    meta = None if declared else _META_CHARSET.search(body[:2048])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        try:
            return body.decode("gb18030" if name.lower() in ("gb2312", "gbk") else name)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")
