"""What a probe gets to work with: config, store, the API client, the page fetcher, the clock.

One context per round (or per daemon), opened and closed by the runner; probes
never build clients of their own and never talk to each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from monitor.clock import Clock, get_clock
from monitor.config import Account, Config
from monitor.config.warnings import default_canary_urls
from monitor.errors import BadInput
from monitor.http import PageFetcher
from monitor.proxy import Proxies
from monitor.store import Store
from monitor.store.writer import PROCESS_WRITER_MIN_ACCOUNTS, ColumnWriter, ProcessWriter, ThreadWriter, WriterFailed
from monitor.wechat import AccountAPI, WeChatAPI
from monitor.wechat.remote import MIN_CALLS as REMOTE_MIN_CALLS
from monitor.wechat.remote import RemoteAPI, RemoteUnavailable
from monitor.workdays import WorkCalendar

if TYPE_CHECKING:
    from monitor.wechat.component import ComponentAuth

log = logging.getLogger(__name__)

C = TypeVar("C")


@dataclass
class ProbeContext:
    config: Config
    store: Store
    api: WeChatAPI
    pages: PageFetcher
    clock: Clock = field(default_factory=get_clock)
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    progress: Callable[[int], None] | None = None  # called with 1 as each account finishes (progress bars)
    # "auto": a writer process for rounds of PROCESS_WRITER_MIN_ACCOUNTS or more, else a thread
    store_writer: str = "auto"  # auto | thread | process
    # Where a round's many API calls are made: "auto" in a helper process for REMOTE_MIN_CALLS or more
    api_helper: str = "auto"  # auto | inline | process
    # What probes keep across rounds, one object per type (see cache()): the columns probe's menus
    _caches: dict[type, object] = field(default_factory=dict, repr=False)
    _accounts_synced: bool = field(default=False, repr=False)
    _process_writer: ProcessWriter | None = field(default=None, repr=False)
    _remote_api: RemoteAPI | None = field(default=None, repr=False)
    # What a round's probe notes about the round itself (e.g. skipped: the monitor's network was
    # down), by probe kind; the runner stores it with the run (detail) and clears it.
    round_notes: dict[str, dict[str, object]] = field(default_factory=dict, repr=False)
    # The third-party platform, for accounts with access: component (made on first use)
    _component: ComponentAuth | None = field(default=None, repr=False)
    _component_failed: bool = field(default=False, repr=False)

    @classmethod
    def open(cls, config: Config, store: Store, *, clock: Clock | None = None,
             api: WeChatAPI | None = None, pages: PageFetcher | None = None) -> ProbeContext:
        clock = clock or get_clock()
        checks = config.checks
        proxies = Proxies.resolve(config.http)
        if proxies.active:
            log.info("outbound requests through %s", proxies.describe())
        return cls(
            config=config,
            store=store,
            api=api or WeChatAPI(config.wechat.api_base, timeout=config.wechat.timeout_s, clock=clock,
                                 max_answer_bytes=config.wechat.max_answer_bytes, proxies=proxies),
            pages=pages or PageFetcher.from_checks(checks, proxies=proxies),
            clock=clock,
            calendar=config.work_calendar(),
        )

    async def aclose(self) -> None:
        if self._remote_api is not None:
            remote, self._remote_api = self._remote_api, None
            await remote.aclose()
        if self._component is not None:
            component, self._component = self._component, None
            await component.aclose()
        await self.api.aclose()
        await self.pages.aclose()
        if self._process_writer is not None:
            writer, self._process_writer = self._process_writer, None
            await asyncio.get_running_loop().run_in_executor(None, writer.close)

    async def column_writer(self, accounts: int) -> ColumnWriter:
        """Where this round's column results are written (see :mod:`monitor.store.writer`)."""
        want_process = self.store_writer == "process" or (
            self.store_writer == "auto" and accounts >= PROCESS_WRITER_MIN_ACCOUNTS)
        if not want_process:
            return ThreadWriter(self.store)
        if self._process_writer is not None and self._process_writer.alive:
            return self._process_writer
        writer = self._process_writer = ProcessWriter(self.store.url_for_child_process())  # aclose() closes it
        try:
            await asyncio.get_running_loop().run_in_executor(None, writer.start)
        except (WriterFailed, OSError) as exc:
            log.warning("store writer process unavailable (%s); writing from a thread", exc)
            self._process_writer = None
            writer.close()
            return ThreadWriter(self.store)
        return writer

    async def remote_api(self, calls: int) -> RemoteAPI | None:
        """A helper process for a round making ``calls`` API calls, or None: make them inline."""
        want = calls > 0 and (self.api_helper == "process" or (
            self.api_helper == "auto" and calls >= REMOTE_MIN_CALLS))
        remote = self._remote_api
        if remote is not None and (remote.api is not self.api or not remote.alive):
            self._remote_api = None  # it died, or the API client was replaced
            await remote.aclose()
            remote = None
        if not want:
            return None
        if remote is not None:
            return remote
        remote = RemoteAPI(self.api)  # aclose() closes it; the daemon keeps it across rounds
        try:
            self._remote_api = await remote.start()
        except RemoteUnavailable as exc:
            log.warning("%s; making the round's API calls inline", exc)
            return None
        return remote

    def now(self) -> datetime:
        return self.clock.now()

    def cache(self, kind: type[C]) -> C:
        """This context's ``kind()``, made on first use: what a probe keeps from round to round
        (``probes.columns`` keeps the menus it read). The daemon keeps one context, so these last
        until :meth:`clear_caches`."""
        found = self._caches.get(kind)
        if isinstance(found, kind):
            return found
        made = self._caches[kind] = kind()
        return made

    def clear_caches(self) -> None:
        """Forget what probes kept (the configuration changed: an account's appid may have)."""
        self._caches.clear()

    def sync_accounts(self) -> None:
        """Make the store know the configured accounts (once per context)."""
        if not self._accounts_synced:
            from monitor.store import Account as StoredAccount

            self.store.upsert_accounts(StoredAccount(a.id, a.name, a.unit, a.category) for a in self.config.accounts)
            self._accounts_synced = True

    def account_done(self) -> None:
        if self.progress is not None:
            self.progress(1)

    def account_api(self, account: Account) -> AccountAPI | None:
        """The account's API client, or None when it has no API access configured (or no secret).

        With ``access: component`` the client takes the authorizer token of the unit's authorization;
        probes see the same methods either way.
        """
        if not account.api or not account.appid:
            return None
        if account.access == "component":
            component = self.component()
            return component.account(self.api, account.appid) if component is not None else None
        secret = self.config.secret(account)
        return self.api.account(account.appid, secret) if secret else None

    def component(self, *, strict: bool = False) -> ComponentAuth | None:
        """The third-party platform (``component:`` in accounts.yaml), or None when it is not set up
        (logged once). ``strict``: raise the BadInput instead (the daemon's start refuses with it)."""
        if self._component is None and (strict or not self._component_failed) and self.config.component is not None:
            from monitor.wechat.component import ComponentAuth

            try:
                self._component = ComponentAuth.from_config(self.config, self.store, api=self.api,
                                                            tokens=self.api.tokens, clock=self.clock)
            except BadInput as exc:
                self._component_failed = True
                if strict:
                    raise
                log.error("component access unavailable: %s", exc)
        return self._component

    def note_round(self, kind: str, **detail: object) -> None:
        """Something about this round of ``kind`` for the run's record (see :attr:`round_notes`)."""
        self.round_notes.setdefault(kind, {}).update(detail)

    @property
    def canary_urls(self) -> list[str]:
        """Control URLs: configured ones, else :func:`default_canary_urls` (any HTTP answer means online)."""
        urls = [str(u) for u in self.config.checks.canary_urls]
        return urls or default_canary_urls(self.config)

    @property
    def canary_exempt(self) -> bool:
        """Whether the canary is the default (the API base, the operator's own choice, and WeChat's
        public article host), outside the address policy."""
        return not self.config.checks.canary_urls
