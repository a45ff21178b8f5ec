"""A probe context for probe tests: the emulator's clock, its real HTTP API, a real SQLite store.

Imported by tests/test_freshness.py, test_privacy_probe.py and test_conversations.py;
each adds what only it needs (request counting, truth lookups) in a subclass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from emulator.server import EmulatorServer
from monitor.config import load_config
from monitor.context import ProbeContext
from monitor.store import Store
from monitor.wechat import WeChatAPI
from wxmon.runner import run_probe

H = TypeVar("H", bound="ProbeHarness")


async def no_sleep(_: float) -> None:
    """Retry back-off without the wait: the emulator's clock is virtual."""
    return None


class ProbeHarness:
    trace_configs: Sequence[aiohttp.TraceConfig] = ()  # a subclass's request tracing

    def __init__(self, server: EmulatorServer, config_path: Path) -> None:
        self.server = server
        self.clock = server.clock
        self.config = load_config(config_path)

    async def __aenter__(self: H) -> H:
        self.store = Store.open(self.config.store_url)
        api = WeChatAPI(self.config.wechat.api_base, clock=self.clock, sleep=no_sleep,
                        trace_configs=list(self.trace_configs) or None)
        self.ctx = ProbeContext.open(self.config, self.store, clock=self.clock, api=api)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ctx.aclose()
        self.store.close()

    async def round(self, kind: str, at: datetime | None = None, only: list[str] | None = None) -> list[dict[str, Any]]:
        """One ``run_probe`` round of ``kind`` (at ``at`` on the clock; only some accounts if given),
        its rows as ``wxmon probe KIND --json`` prints them."""
        if at is not None:
            self.clock.set(at)
        accounts = [self.config.account(a) for a in only] if only else self.config.accounts
        (result,) = await run_probe(self.ctx, kind, accounts)
        return [row.to_json() for row in result.rows]

    @classmethod
    def run(cls: type[H], server: EmulatorServer, config_path: Path, body: Callable[[H], Awaitable[None]]) -> None:
        """``body(harness)`` inside an open harness, in a fresh event loop."""

        async def go() -> None:
            async with cls(server, config_path) as h:
                await body(h)

        asyncio.run(go())
