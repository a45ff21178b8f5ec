"""stable_token cache.

We only ever use ``cgi-bin/stable_token`` in normal mode: ``cgi-bin/token`` and
``force_refresh`` both invalidate the token the account's own server holds.
A token is reused until shortly before it expires; a refused token is fetched
again once, never in a loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

REFRESH_MARGIN = timedelta(seconds=300)


@dataclass
class CachedToken:
    value: str
    expires_at: datetime

    def fresh(self, now: datetime) -> bool:
        return now + REFRESH_MARGIN < self.expires_at


class TokenCache:
    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, appid: str) -> asyncio.Lock:
        lock = self._locks.get(appid)
        if lock is None:
            lock = self._locks[appid] = asyncio.Lock()
        return lock

    def get(self, appid: str, now: datetime) -> str | None:
        cached = self._tokens.get(appid)
        return cached.value if cached and cached.fresh(now) else None

    def put(self, appid: str, value: str, expires_in: int, now: datetime) -> None:
        self._tokens[appid] = CachedToken(value, now + timedelta(seconds=int(expires_in)))

    def drop(self, appid: str, value: str | None = None) -> None:
        cached = self._tokens.get(appid)
        if cached and (value is None or cached.value == value):
            del self._tokens[appid]
