"""The one interface every inquiry channel implements, and what it returns.

A channel is the tester's side of a conversation with an official account: it
sends a text as a follower and lists the replies that reached the follower.
Replies carry only their time, its resolution and the text: whether a reply was
automatic or written by a person is the inquiry probe's judgement, never the
channel's (the emulator knows, and must not be able to agree with us by
construction). A time of minute resolution (a person's phone shows minutes)
stands for the interval [hh:mm:00, hh:mm+1:00) and is given as its start.
"""

from __future__ import annotations

import json
import ssl
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from monitor.clock import MINUTE as MINUTE  # re-exported: the resolutions live in monitor.clock
from monitor.clock import SECOND as SECOND
from monitor.clock import as_utc
from monitor.clock import floor_to as floor_to
from monitor.config import Account
from monitor.netpolicy import AddressPolicy, AddressRefused, PolicyResolver, refusal_in
from monitor.proxy import Proxies

if TYPE_CHECKING:
    import aiohttp


class ChannelError(Exception):
    """The channel could not do what was asked (network, HTTP status, garbage answer).

    ``maybe_delivered`` tells whether a failed *send* may still have reached the
    account (the request left us and the answer was lost: a read timeout, a reset,
    an HTTP 5xx, an unreadable 200). When False the send certainly did not happen
    (connection refused, the service rejected the request) and retrying is safe.
    The message never contains a token, a header or a response body.
    """

    def __init__(self, message: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message handed to the channel. ``sent_at`` (aware UTC) is when it reached the
    account; None means the channel accepted it for later sending (a task for an
    inspector) and :meth:`Channel.sent_status` will tell when it has been sent."""

    ref: str
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A message the tester received from the account (aware UTC time, text as received).

    ``resolution``: how precisely ``at`` is known. With MINUTE, ``at`` is the start of the
    minute shown on the phone and the reply came at some moment of that minute.
    """

    at: datetime
    text: str
    resolution: timedelta = SECOND
    # A person who saw the reply said it was automatic (the manual channel's --auto): the probe
    # takes their word; without it, the probe judges as for any channel.
    stated_auto: bool = False


class Channel(ABC):
    """Send as a follower; list what the follower received since T."""

    name: ClassVar[str]
    # True when send(key=K) never sends twice for the same K (it returns the first
    # result instead): a send whose outcome is unknown can simply be repeated.
    deduplicates: ClassVar[bool] = False
    # True when send times are written down by a person (the manual channel): such a time may
    # have been typed late, so a reply recorded before it can still answer that send.
    sends_recorded_by_hand: ClassVar[bool] = False

    @abstractmethod
    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        """Send ``text`` to ``account`` as ``tester``; raises :class:`ChannelError`."""

    @abstractmethod
    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        """Replies that reached ``tester`` from ``account`` strictly after ``since``, oldest first
        (at minute resolution: those whose minute ends after ``since``)."""

    async def sent_status(self, account: Account, tester: str, ref: str) -> SentMessage:
        """For a message accepted for later sending: has it been sent yet? (default: no news)."""
        return SentMessage(ref, None)

    async def aclose(self) -> None:  # noqa: B027 - a default: a channel without connections has none to release
        """Release connections."""


# ---------------------------------------------------------------------------
# helpers shared by the HTTP channels

# Failures where the request certainly never reached the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol,
             httpx.ProxyError, httpx.InvalidURL)


@lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    # Loading the CA bundle costs ~20 ms; every round opens its channels anew, so load it once.
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover
        return ssl.create_default_context()


def http_client(timeout_s: float, policy: AddressPolicy | None = None,
                proxies: Proxies | None = None) -> httpx.AsyncClient:
    """A client for a channel service; with ``policy``, only addresses it permits are reached.

    Redirects are not followed (httpx's default), so the request's own host is the only one.
    ``proxies``: default from the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). Through a
    proxy the proxy resolves the name: the policy then still refuses IP-literal hosts, and the
    proxy's own address (the operator's choice) is reached whatever the policy.
    """
    import aiohttp
    from httpx_aiohttp import AiohttpTransport

    chosen = proxies if proxies is not None else Proxies.resolve()

    class Transport(AiohttpTransport):
        """aiohttp's connector with the policy's resolver (direct) or a plain one (to the proxy)."""

        def __init__(self) -> None:
            super().__init__(verify=_tls(), trust_env=False)
            self._sessions: dict[bool, aiohttp.ClientSession] = {}

        def _session(self, proxied: bool) -> aiohttp.ClientSession:
            session = self._sessions.get(proxied)
            if session is None or session.closed:
                resolver = PolicyResolver(policy) if policy is not None and not proxied else None
                session = self._sessions[proxied] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(
                    ssl=self.ssl_context, keepalive_timeout=self.limits.keepalive_expiry,
                    limit=self.limits.max_connections or 100, resolver=resolver))
            return session

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            host = request.url.host
            if policy is not None and policy.permits_host(host) is False:  # aiohttp asks no resolver for a literal
                raise httpx.ConnectError("address refused", request=request) from AddressRefused(host, [host])
            proxy = chosen.for_url(str(request.url)) if chosen.active else None
            # The base class reads both before its first await: no other request can change them between.
            self.client = self._session(proxy is not None)
            self.proxy = httpx.Proxy(proxy) if proxy is not None else None
            return await super().handle_async_request(request)

        async def aclose(self) -> None:
            for session in self._sessions.values():
                await session.close()
            self._sessions.clear()

    # httpx's API over aiohttp: the default httpcore pool measured several times slower here.
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), trust_env=False, transport=Transport(),
                             headers={"User-Agent": "wxmon"})


async def request_json(client: httpx.AsyncClient, what: str, method: str, url: str, *,
                       headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                       body: dict[str, Any] | None = None, max_bytes: int | None = None) -> dict[str, Any]:
    """One HTTP call answering a JSON object, every failure as a :class:`ChannelError`.

    ``what`` names the call in messages ("emulator send"); URLs, headers and bodies
    are never put in a message (they may hold a token or personal data). ``max_bytes``:
    an answer body longer than this is refused unread (outside input is bounded).
    """
    try:
        if max_bytes is None:
            response = await client.request(method, url, headers=headers, params=params, json=body)
            raw = response.content
        else:
            async with client.stream(method, url, headers=headers, params=params, json=body) as response:
                raw = await _read_capped(response, max_bytes, what)
    except _NOT_SENT as exc:
        if refusal_in(exc) is not None:
            raise ChannelError(f"{what}: address refused by the outbound address policy "
                               "(checks.allow_private)") from None
        raise ChannelError(f"{what}: cannot connect ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise ChannelError(f"{what}: no answer ({type(exc).__name__})", maybe_delivered=True) from None
    status = response.status_code
    if status != 200:
        # 4xx: the service refused the request, nothing was done; 5xx: it may have acted before failing.
        raise ChannelError(f"{what}: HTTP {status}", maybe_delivered=status >= 500 or status == 408)
    try:
        data = json.loads(raw)
    except ValueError:
        raise ChannelError(f"{what}: answer is not JSON", maybe_delivered=True) from None
    if not isinstance(data, dict):
        raise ChannelError(f"{what}: answer is not a JSON object", maybe_delivered=True)
    return data


async def _read_capped(response: httpx.Response, max_bytes: int, what: str) -> bytes:
    """The body, refused once it grows past ``max_bytes`` (the rest is never read)."""
    size, chunks = 0, []
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            status = response.status_code
            raise ChannelError(f"{what}: answer longer than {max_bytes} bytes",
                               maybe_delivered=status == 200 or status >= 500)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_time(value: object, what: str) -> datetime:
    """An ISO 8601 time from a channel (no offset: Asia/Shanghai) as aware UTC."""
    if not isinstance(value, str):
        raise ChannelError(f"{what}: time missing or not a string")
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ChannelError(f"{what}: not an ISO 8601 time") from None


def parse_replies(data: Mapping[str, object], what: str, resolution: timedelta = SECOND) -> list[Reply]:
    """``{"replies": [{"at": ISO, "text": STR}, ...]}`` -> replies sorted by time, their times
    known to ``resolution`` (floored to it).

    Other fields (the emulator adds ``kind``) are ignored on purpose.
    """
    items = data.get("replies")
    if not isinstance(items, list):
        raise ChannelError(f"{what}: answer has no replies list")
    out: list[Reply] = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise ChannelError(f"{what}: malformed reply")
        out.append(Reply(floor_to(parse_time(item.get("at"), what), resolution), item["text"], resolution))
    out.sort(key=lambda r: r.at)
    return out
