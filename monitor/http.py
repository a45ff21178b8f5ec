"""The one HTTP path for pages behind columns.

aiohttp, chosen by measurement (see bench/): for many small GETs with a keyword
check it is an order of magnitude faster than httpx's default transport. Limits:
a global concurrency cap, a per-host connection cap and a per-host request rate,
so government servers are never hammered. Results are plain data; deciding what
a result means for a column is the columns probe's job.

Pages are outside input: a body is read and decompressed here, counting decoded
bytes, and never beyond ``max_body_bytes`` (a gzip bomb of 1 MB decompresses to
1 GB); every address, first and after each redirect, passes the outbound address
policy (:mod:`monitor.netpolicy`) before any connection is made.

Through a proxy (:mod:`monitor.proxy`) the proxy resolves names, so the policy sees
only IP-literal targets (still refused) and not where a name leads; the proxy's own
address is the operator's choice and is not checked.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import zlib
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from monitor.netpolicy import AddressPolicy, PolicyResolver, refusal_in
from monitor.proxy import Proxies

if TYPE_CHECKING:
    from collections.abc import Callable

    from monitor.config.models import Checks

USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Mobile Safari/537.36 MicroMessenger/8.0 wxmon"
)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_-]+)""", re.I)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Through a forward proxy, a gateway error on an http:// page is (nearly always) the proxy's own answer.
_PROXY_GATEWAY = frozenset({502, 504})
REFUSED = frozenset({"refused_address", "refused_dns"})  # error kinds of the outbound address policy
_READ_CHUNK = 64 * 1024
# Compressed input read beyond the decoded limit: a real page compresses, so more wire bytes
# than decoded bytes only come from a stream that decodes to (next to) nothing, forever.
_WIRE_SLACK = 64 * 1024


@dataclass(frozen=True)
class PageResult:
    url: str
    final_url: str | None
    status: int | None
    elapsed_ms: float | None
    text: str | None
    redirects: int = 0
    # timeout | connect | tls | reset | too_many_redirects | bad_url | bad_body (corrupt compression)
    # | undecodable (a content coding we do not read, e.g. br) | refused_address (an IP-literal host
    # the address policy refuses) | refused_dns (a name resolving only to refused addresses)
    # | stopped (a redirect target the caller's ``stop`` refused: ``final_url`` names it)
    error: str | None = None
    truncated: bool = False  # the body was longer than the limit: ``text`` is its beginning

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


class _Unreadable(Exception):
    """The body cannot be decoded: ``kind`` is ``undecodable`` or ``bad_body``."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw, as servers send both) decoded in bounded steps."""

    def __init__(self, gzip: bool) -> None:
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._head = b""

    @property
    def done(self) -> bool:
        return self._z is not None and bool(self._z.eof)

    def feed(self, data: bytes, limit: int) -> list[bytes]:
        """Decoded pieces of ``data``, at most ``limit`` bytes in all (the rest is dropped)."""
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return []
            data, self._head = self._head, b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        out: list[bytes] = []
        try:
            # max_length bounds each step: no single call can expand past what is left
            while data and limit > 0 and not self._z.eof:
                piece = self._z.decompress(data, limit)
                out.append(piece)
                limit -= len(piece)
                data = self._z.unconsumed_tail
        except zlib.error:
            raise _Unreadable("bad_body") from None
        return out


def _inflater(content_encoding: str | None) -> _Inflater | None:
    """The decoder for a Content-Encoding header; None for identity."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflater(gzip=codings[0] != "deflate")
    raise _Unreadable("undecodable")  # br, zstd, stacked codings: we asked for gzip or deflate only


async def read_body(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """The decoded body, at most ``limit`` bytes, and whether it was cut there.

    Raises :class:`_Unreadable` for a content coding we cannot decode. Nothing larger
    than ``limit`` (plus one network chunk) is ever held.
    """
    inflater = _inflater(resp.headers.get("Content-Encoding"))
    stream = resp.content
    length = resp.content_length
    if inflater is None and length is not None and length <= limit:
        return await resp.read(), False  # hot path: the parser stops at Content-Length
    parts: list[bytes] = []
    left = limit
    wire_left = limit + _WIRE_SLACK
    while left > 0 and wire_left > 0:
        chunk = await stream.read(min(_READ_CHUNK, left if inflater is None else wire_left))
        if not chunk:
            return b"".join(parts), False
        wire_left -= len(chunk)
        pieces = [chunk] if inflater is None else inflater.feed(chunk, left)
        for piece in pieces:
            parts.append(piece)
            left -= len(piece)
        if inflater is not None and inflater.done:
            return b"".join(parts), False
    return b"".join(parts), True


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
        policy: AddressPolicy | None = None,
        proxies: Proxies | None = None,
    ) -> None:
        self.proxies = proxies if proxies is not None else Proxies()
        self._proxied = self.proxies.active  # read per request: kept as a plain flag
        self.max_redirects = max_redirects
        self.max_body_bytes = max_body_bytes
        # No policy given means the strict one: nothing private is reached unless allowed.
        self.policy = policy if policy is not None else AddressPolicy()
        self._literal_verdicts: dict[str | None, bool] = {}
        self._pacer = _HostPacer(per_host_rate)
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 10.0))
        self._connector_args: dict[str, Any] = {"limit": concurrency, "limit_per_host": per_host,
                                                "ttl_dns_cache": 300}
        self._session: aiohttp.ClientSession | None = None
        self._exempt_session: aiohttp.ClientSession | None = None
        # Our own gates, so a request waits here and not in aiohttp's connection queue: there the
        # wait is slow (measured) and counts against the timeout, which would blame a queued page.
        self._concurrency, self._per_host = concurrency, per_host
        self._gate: asyncio.Semaphore | None = None
        self._host_gates: dict[str, asyncio.Semaphore] = {}

    @classmethod
    def from_checks(cls, checks: Checks, **overrides: Any) -> PageFetcher:
        """The fetcher ``checks:`` of accounts.yaml describes (limits, page size, address policy)."""
        args: dict[str, Any] = {
            "concurrency": checks.concurrency, "per_host": checks.per_host, "per_host_rate": checks.per_host_rate,
            "timeout_s": checks.timeout_s, "max_body_bytes": checks.max_page_bytes,
            "policy": AddressPolicy.from_cidrs(checks.allow_private)}
        args.update(overrides)
        return cls(**args)

    async def __aenter__(self) -> PageFetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _client(self, exempt: bool = False) -> aiohttp.ClientSession:
        session = self._exempt_session if exempt else self._session
        if session is None or session.closed:
            # The resolver is the policy's: the connector caches and connects to its filtered answer.
            resolver = None if exempt else PolicyResolver(self.policy)
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(resolver=resolver, **self._connector_args),
                timeout=self._timeout,
                headers={"User-Agent": USER_AGENT, "Accept-Language": "zh-CN,zh;q=0.9",
                         "Accept-Encoding": "gzip, deflate"},
                auto_decompress=False,  # decoded here, within the byte limit
                trust_env=False,
            )
            if exempt:
                self._exempt_session = session
            else:
                self._session = session
        return session

    async def aclose(self) -> None:
        for session in (self._session, self._exempt_session):
            if session is not None:
                await session.close()
        self._session = self._exempt_session = None
        self._gate = None
        self._host_gates.clear()

    async def fetch(self, url: str, *, exempt: bool = False, stop: Callable[[str], bool] | None = None) -> PageResult:
        """GET ``url``. ``exempt``: the operator's own address (the API base as canary), outside the policy.
        ``stop``: a redirect target it is true for is not requested; the result says where it led
        (``final_url``) with ``error="stopped"`` (the content check: a link redirecting to a blocked host)."""
        gate = self._gate
        if gate is None:
            gate = self._gate = asyncio.Semaphore(self._concurrency)
        if self._per_host >= self._concurrency and not self._pacer.interval:
            async with gate:  # no per-host limit can bind: skip its bookkeeping (hot path)
                return await self._fetch(url, exempt, stop)
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
                return await self._fetch(url, exempt, stop)

    async def _fetch(self, url: str, exempt: bool = False, stop: Callable[[str], bool] | None = None) -> PageResult:
        session = self._client(exempt)
        started = perf_counter()
        hops = 0
        timeout = self._timeout  # aiohttp's total covers the body too: it ends when the connection is released
        try:
            target = URL(url)
            while True:
                if target.scheme not in ("http", "https"):
                    # e.g. a redirect to weixin:// or another app link: not a page we can open
                    return self._failed(url, started, "bad_url", hops)
                if not exempt and self._literal_refused(target.raw_host):
                    # aiohttp asks no resolver for an IP literal: refused here, never requested
                    return self._failed(url, started, "refused_address", hops)
                proxy = self.proxies.for_url(str(target)) if self._proxied else None
                if proxy is not None:
                    # The proxy resolves the name; its own address is the operator's, outside the policy.
                    session = self._client(exempt=True)
                async with session.get(target, allow_redirects=False, timeout=timeout, proxy=proxy) as resp:
                    if proxy is not None and target.scheme == "http" and resp.status in _PROXY_GATEWAY:
                        # The proxy's own answer for a site it could not reach (https fails in CONNECT
                        # instead): a network failure, not the site's page.
                        return self._failed(url, started, "proxy_gateway", hops)
                    location = resp.headers.get("Location") if resp.status in _REDIRECTS else None
                    if location is None:
                        return await self._result(url, str(target), hops, resp, started)
                    if hops >= self.max_redirects:
                        return self._failed(url, started, "too_many_redirects", hops)
                    target = resp.url.join(URL(location))
                    hops += 1
                    if stop is not None and stop(str(target)):
                        return PageResult(url, str(target), None, _ms(started), None, redirects=hops, error="stopped")
                session = self._client(exempt)
                # One deadline for the whole chain, as when aiohttp followed the redirects.
                left = self._timeout_s - (perf_counter() - started)
                if left <= 0:
                    raise TimeoutError
                timeout = aiohttp.ClientTimeout(total=left, sock_connect=min(left, self._timeout.sock_connect or left))
        except TimeoutError:
            return self._failed(url, started, "timeout", hops)
        except (aiohttp.ClientSSLError, ssl.SSLError):
            return self._failed(url, started, "tls", hops)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError):
            return self._failed(url, started, "reset", hops)
        except (aiohttp.ClientConnectionError, OSError) as exc:
            return self._failed(url, started, "refused_dns" if refusal_in(exc) else "connect", hops)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError, ValueError):
            return self._failed(url, started, "bad_url", hops)
        except aiohttp.ClientError:
            return self._failed(url, started, "connect", hops)

    def _literal_refused(self, host: str | None) -> bool:
        """Whether ``host`` is an IP literal the policy refuses (names are left to the resolver)."""
        refused = self._literal_verdicts.get(host)
        if refused is None:
            if len(self._literal_verdicts) >= 4096:
                self._literal_verdicts.clear()
            # cached: the parse costs as much as the rest of a request to a literal host (the emulator)
            refused = self._literal_verdicts[host] = self.policy.permits_host(host) is False
        return refused

    async def _result(self, url: str, final: str, hops: int, resp: aiohttp.ClientResponse,
                      started: float) -> PageResult:
        final_url = final if hops else url
        try:
            body, truncated = await read_body(resp, self.max_body_bytes)
        except _Unreadable as exc:
            return PageResult(url, final_url, resp.status, _ms(started), None, redirects=hops, error=exc.kind)
        return PageResult(url, final_url, resp.status, _ms(started), decode_body(body, resp.charset, truncated),
                          redirects=hops, truncated=truncated)

    @staticmethod
    def _failed(url: str, started: float, kind: str, hops: int = 0) -> PageResult:
        # No timing for a refused address: nothing was requested, and timings must not map our network.
        elapsed = None if kind in REFUSED else _ms(started)
        return PageResult(url, None, None, elapsed, None, redirects=hops, error=kind)


def _ms(started: float) -> float:
    return round((perf_counter() - started) * 1000, 1)


def decode_body(body: bytes, declared: str | None, truncated: bool = False) -> str:
    """Decode with the declared charset, else the page's meta charset, else UTF-8, else GB18030.

    ``truncated``: the body was cut at the byte limit, maybe inside a character (up to 3 bytes
    of one are dropped rather than taking the page for another charset).
    """
    candidates: list[str] = [declared] if declared else []
    meta = None if declared else _META_CHARSET.search(body[:2048])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates += ["utf-8", "gb18030"]
    for name in candidates:
        codec = "gb18030" if name.lower() in ("gb2312", "gbk") else name
        for cut in (0, 1, 2, 3) if truncated else (0,):
            try:
                return body[:len(body) - cut].decode(codec)
            except UnicodeDecodeError:
                continue
            except (LookupError, UnicodeError):  # unknown, or one that never decodes ("undefined")
                break
    return body.decode("utf-8", "replace")
