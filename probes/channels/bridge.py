"""A tester-device bridge: an HTTP service (a *rig*) that drives a real follower's phone or PC WeChat.

The protocol is docs/bridge-openapi.yaml (OpenAPI 3.1); docs/bridge.md is the guide and
``wxmon bridge check URL`` tells whether a rig conforms. In short (every request carries
``Authorization: Bearer TOKEN``, the token from the environment variable named by
``channels.bridge.token_env``):

``POST {url}/send``
    ``{"account", "account_name", "appid", "tester", "text", "key"}`` -> ``{"ref", "sent_at"}``
    (HTTP 200) once the message has left the device. ``key`` is an idempotency key: a repeated
    key answers the first ``{ref, sent_at}`` again and sends nothing; wxmon relies on this to
    retry a send whose answer was lost.

``GET {url}/replies?account=ID&tester=TESTER&since=ISO``
    ``{"replies": [{"at", "text"}, ...], "resolution": "second"|"minute"}``: what the tester
    received from the account after ``since``. No "auto/human" label is expected: wxmon
    classifies replies itself; unknown fields are ignored.

``GET {url}/info``
    ``{"protocol": "wxmon-bridge/1", "resolution", "dry_run", ...}`` (used by the check only).

Times carry a UTC offset (a time without one is refused here: a device in another time zone
would shift every measurement). ``resolution: minute`` (a phone's chat window) makes each
reply time the interval [hh:mm, hh:mm+1), as for the manual channel. Any status other than 200
is a failure: 4xx means "refused, nothing was sent"; 5xx or a lost answer means "maybe sent"
(wxmon retries with the same key). Answers are read up to :data:`MAX_ANSWER_BYTES`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import ClassVar

from monitor.clock import to_local
from monitor.config import Account
from monitor.netpolicy import AddressPolicy
from monitor.proxy import Proxies
from probes.channels.base import (
    MINUTE,
    SECOND,
    Channel,
    ChannelError,
    Reply,
    SentMessage,
    http_client,
    parse_replies,
    parse_time,
    request_json,
)

PROTOCOL = "wxmon-bridge/1"
CHECK_HEADER = "X-Wxmon-Check"  # "dry-run": the rig validates and answers, the device is not touched
MAX_ANSWER_BYTES = 1024 * 1024
MAX_REPLIES = 1000


def bridge_time(value: object, what: str) -> datetime:
    """A time from a rig: ISO 8601 with a UTC offset, as aware UTC (no offset: refused)."""
    if isinstance(value, str):
        try:
            naive = datetime.fromisoformat(value).tzinfo is None
        except ValueError:
            naive = False  # parse_time names the problem
        if naive:
            raise ChannelError(f"{what}: time without a UTC offset")
    return parse_time(value, what)


def answer_resolution(data: dict[str, object], what: str) -> timedelta:
    """The ``resolution`` of an answer: second when absent."""
    value = data.get("resolution", "second")
    if value not in ("second", "minute"):
        raise ChannelError(f"{what}: resolution must be 'second' or 'minute'")
    return MINUTE if value == "minute" else SECOND


class BridgeChannel(Channel):
    name: ClassVar[str] = "bridge"
    deduplicates: ClassVar[bool] = True  # the wire format requires the bridge to honour `key`

    def __init__(self, url: str, token: str | None, *, token_env: str | None = None,
                 timeout_s: float = 30.0, policy: AddressPolicy | None = None,
                 proxies: Proxies | None = None) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._token_env = token_env
        # The outbound address policy applies (no policy given: the strict one); the bridge
        # on a private network needs its address in checks.allow_private.
        self._http = http_client(timeout_s, policy if policy is not None else AddressPolicy(), proxies=proxies)

    def __repr__(self) -> str:  # never show the token
        return f"BridgeChannel(url={self.url!r})"

    def _headers(self) -> dict[str, str]:
        if not self._token:
            raise ChannelError(f"bridge: no token (environment variable {self._token_env or '?'} is not set)")
        return {"Authorization": f"Bearer {self._token}"}

    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        # The protocol requires a key; a caller without one gets a fresh one (no retry can reuse it).
        body = {"account": account.id, "account_name": account.name, "appid": account.appid,
                "tester": tester, "text": text, "key": key or f"wxmon-once-{uuid.uuid4().hex}"}
        data = await request_json(self._http, "bridge send", "POST", f"{self.url}/send",
                                  headers=self._headers(), body=body, max_bytes=MAX_ANSWER_BYTES)
        ref = data.get("ref")
        try:
            sent_at = bridge_time(data.get("sent_at"), "bridge send")
        except ChannelError as exc:
            raise ChannelError(str(exc), maybe_delivered=True) from None
        if not isinstance(ref, (str, int)) or ref == "":
            raise ChannelError("bridge send: answer has no ref", maybe_delivered=True)
        return SentMessage(str(ref), sent_at)

    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        params = {"account": account.id, "tester": tester, "since": to_local(since).isoformat()}
        data = await request_json(self._http, "bridge replies", "GET", f"{self.url}/replies",
                                  headers=self._headers(), params=params, max_bytes=MAX_ANSWER_BYTES)
        items = data.get("replies")
        if isinstance(items, list):
            if len(items) > MAX_REPLIES:
                raise ChannelError(f"bridge replies: more than {MAX_REPLIES} replies in one answer")
            for item in items:  # times with offsets, as the protocol says
                bridge_time(item.get("at") if isinstance(item, dict) else None, "bridge replies")
        return parse_replies(data, "bridge replies", answer_resolution(data, "bridge replies"))

    async def aclose(self) -> None:
        await self._http.aclose()
