"""A tester-device bridge: an HTTP service that drives a real follower's phone.

Wire format (JSON, UTF-8; every request carries ``Authorization: Bearer TOKEN``,
the token read from the environment variable named by ``channels.bridge.token_env``):

``POST {url}/send``
    request  ``{"account": ID, "account_name": NAME, "appid": APPID|null, "tester": TESTER,
               "text": TEXT, "key": KEY}``
    answer   ``{"ref": STR, "sent_at": ISO}`` (HTTP 200) once the message has left the device;
             ``sent_at`` is when it was sent, ISO 8601 with an offset (no offset: Asia/Shanghai).
    ``key`` is an idempotency key: the bridge MUST NOT send twice for the same key; a repeated
    key answers the first ``{ref, sent_at}`` again. wxmon relies on this to retry a send whose
    answer was lost without sending a second message.

``GET {url}/replies?account=ID&tester=TESTER&since=ISO``
    answer   ``{"replies": [{"at": ISO, "text": STR}, ...]}``: every message the tester received
             from the account strictly after ``since``. No "auto/human" label is expected: wxmon
             classifies replies itself; unknown fields are ignored.

Errors: any status other than 200 is a failure. 4xx means "refused, nothing was sent"
(wxmon may retry); 5xx or a lost answer means "maybe sent" (wxmon retries with the same key).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from monitor.clock import to_local
from monitor.config import Account
from monitor.netpolicy import AddressPolicy
from monitor.proxy import Proxies
from probes.channels.base import (
    Channel,
    ChannelError,
    Reply,
    SentMessage,
    http_client,
    parse_replies,
    parse_time,
    request_json,
)


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
        body = {"account": account.id, "account_name": account.name, "appid": account.appid,
                "tester": tester, "text": text, "key": key}
        data = await request_json(self._http, "bridge send", "POST", f"{self.url}/send",
                                  headers=self._headers(), body=body)
        ref = data.get("ref")
        try:
            sent_at = parse_time(data.get("sent_at"), "bridge send")
        except ChannelError as exc:
            raise ChannelError(str(exc), maybe_delivered=True) from None
        if not isinstance(ref, (str, int)) or ref == "":
            raise ChannelError("bridge send: answer has no ref", maybe_delivered=True)
        return SentMessage(str(ref), sent_at)

    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        params = {"account": account.id, "tester": tester, "since": to_local(since).isoformat()}
        data = await request_json(self._http, "bridge replies", "GET", f"{self.url}/replies",
                                  headers=self._headers(), params=params)
        return parse_replies(data, "bridge replies")

    async def aclose(self) -> None:
        await self._http.aclose()
