"""The emulator's simulated follower (demo and tests), over real HTTP.

    POST {base}/_emu/follower/send     {"account", "tester", "text"} -> {"msg_id", "openid", "sent_at"}
    GET  {base}/_emu/follower/replies?account=&tester=&since=ISO -> {"replies": [{"at", "kind", "text"}]}

The emulator labels each reply ``kind: auto|human``; that label is dropped here on
purpose so the probe classifies replies the way it must on a real phone. For an
account whose scenario says ``follower_clock: minute`` the emulator plays a person's
phone: times to the minute, and the replies answer carries ``"resolution": "minute"``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from monitor.clock import to_local
from monitor.config import Account
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


class EmulatorChannel(Channel):
    name: ClassVar[str] = "emulator"
    deduplicates: ClassVar[bool] = False  # the emulator's follower sends every time it is asked

    def __init__(self, base_url: str, *, timeout_s: float = 10.0, proxies: Proxies | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http_client(timeout_s, proxies=proxies)

    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        data = await request_json(self._http, "emulator send", "POST", f"{self.base_url}/_emu/follower/send",
                                  body={"account": account.id, "tester": tester, "text": text})
        try:
            sent_at = parse_time(data.get("sent_at"), "emulator send")
        except ChannelError as exc:  # it did answer 200: the message most likely went out
            raise ChannelError(str(exc), maybe_delivered=True) from None
        return SentMessage(str(data.get("msg_id", "")), sent_at)

    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        params = {"account": account.id, "tester": tester, "since": to_local(since).isoformat()}
        data = await request_json(self._http, "emulator replies", "GET", f"{self.base_url}/_emu/follower/replies",
                                  params=params)
        resolution: timedelta = MINUTE if data.get("resolution") == "minute" else SECOND
        return parse_replies(data, "emulator replies", resolution)

    async def aclose(self) -> None:
        await self._http.aclose()
