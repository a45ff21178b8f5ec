"""``wxmon run``: the background service (APScheduler 3, asyncio).

Jobs come from the schedules in accounts.yaml. Coalescing and a misfire grace
keep a sleeping laptop or a restart from firing a storm; one instance of a job
at a time. In-flight state lives in the store, so after a crash the next start
finds open inquiries (and their deadlines) there, sends no inquiry twice
(unique per account and window) and no report twice. SIGHUP reloads
accounts.yaml after validating it (parsed in a thread: jobs go on meanwhile);
SIGTERM/SIGINT stop cleanly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
import signal
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from monitor.clock import SHANGHAI, get_clock
from monitor.config import Config, load_config
from monitor.errors import BadInput
from monitor.scheduler import Event, current_window, plan_inquiry_time
from wxmon.alerts import digest_trigger
from wxmon.connect import REFRESH_EVERY, ComponentService
from wxmon.jobs import run_event
from wxmon.runner import tune_gc

if TYPE_CHECKING:
    from monitor.context import ProbeContext
    from monitor.store import Store
    from wxmon.web import ConsoleServer

log = logging.getLogger("wxmon.daemon")

ROUND_JITTER_S = 30
CATCH_UP_SPREAD_S = 300  # inquiries missed while down go out within this many seconds


def schedule_key(config: Config) -> bytes:
    """Key of the inquiry timing: WXMON_SCHEDULE_KEY if set, else derived from the store's location."""
    secret = os.environ.get("WXMON_SCHEDULE_KEY") or f"{config.store_url}|{config.config_dir}"
    return hashlib.sha256(secret.encode()).digest()


def recover_abandoned_runs(store: Store) -> int:
    """Runs a killed process left 'running' are closed as errors (their results are in the store)."""
    abandoned = [r for r in store.last_runs(limit=200) if r.status == "running"]
    for run in abandoned:
        store.finish_run(run.id, "error", detail={"error": "abandoned: the process ended during the round"})
    return len(abandoned)


class _NotAnError(logging.Filter):
    """Drops APScheduler's report of a job cancelled by the scheduler's shutdown.

    Stopping cancels the jobs still running (the job logs that at INFO) or not yet
    started; APScheduler would log each as 'Job ... raised an exception' or 'Error
    running job' at ERROR, with a CancelledError traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


def _quiet_shutdown_cancellations() -> None:
    executor_log = logging.getLogger("apscheduler.executors.default")  # the scheduler's one executor
    if not any(isinstance(f, _NotAnError) for f in executor_log.filters):
        executor_log.addFilter(_NotAnError())


def _start_console(config: Config, store: Store) -> ConsoleServer | None:
    """The web console on web.listen, in the daemon's loop (BadInput when it cannot listen there)."""
    if not config.web.enabled:
        return None
    from wxmon.web import ConsoleServer, bind

    server = ConsoleServer(config, store, bind(config.web.listen))
    server.start()
    log.info("console on %s", server.url)
    return server


class Daemon:
    ctx: ProbeContext  # while running
    scheduler: AsyncIOScheduler

    def __init__(self, config_path: Path, *, send_reports: bool = True, report_dir: Path | None = None) -> None:
        self.config_path = config_path
        self.send_reports = send_reports
        self.report_dir = report_dir
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reloading: asyncio.Task[None] | None = None
        self.component: ComponentService | None = None
        self.console: ConsoleServer | None = None
        self._reload_again = False

    async def run(self) -> int:
        from monitor.context import ProbeContext
        from monitor.store import Store

        config = load_config(self.config_path, check_env=True)
        with Store.open(config.store_url) as store:
            if recovered := recover_abandoned_runs(store):
                log.warning("closed %d round(s) left running by a previous process", recovered)
            self.ctx = ProbeContext.open(config, store)
            self.component = await ComponentService.start(self.ctx)  # access: component (wxmon/connect.py)
            self.console = _start_console(config, store)  # web.enabled: the console beside the jobs
            tune_gc()
            self.scheduler = AsyncIOScheduler(timezone=SHANGHAI, job_defaults={
                "coalesce": True, "max_instances": 1, "misfire_grace_time": 900})
            self._install_jobs()
            self.scheduler.start()
            self._handle_signals()
            log.info("wxmon running: %d accounts, store %s", len(config.accounts), store.url)
            try:
                await self._stop.wait()
            finally:
                _quiet_shutdown_cancellations()
                self.scheduler.shutdown(wait=False)
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                if self.component is not None:
                    await self.component.stop()
                if self.console is not None:
                    await self.console.stop()
                await self.ctx.aclose()
                log.info("wxmon stopped")
        return 0

    def stop(self) -> None:
        self._stop.set()

    # -- jobs ---------------------------------------------------------------

    def _install_jobs(self) -> None:
        config = self.ctx.config
        triggers = config.schedules.triggers()
        for job in ("columns", "freshness", "privacy", "weekly_report", "inquiry_poll"):
            trigger = triggers[job]
            if job in ("columns", "freshness", "privacy"):
                trigger.jitter = ROUND_JITTER_S
            self.scheduler.add_job(self._job, trigger, args=[job], id=job, name=job, replace_existing=True)
        self.scheduler.add_job(self._plan_window, triggers["inquiry"], id="inquiry_window",
                               name="inquiry_window", replace_existing=True)
        if self.component is not None:  # authorizer tokens renewed before they expire
            self.scheduler.add_job(self._refresh_authorizations, "interval", seconds=REFRESH_EVERY.total_seconds(),
                                   id="component_refresh", name="component_refresh", replace_existing=True)
        if config.alerts.enabled:
            self.scheduler.add_job(self._job, digest_trigger(config), args=["alerts_digest"], id="alerts_digest",
                                   name="alerts_digest", replace_existing=True)
        elif self.scheduler.get_job("alerts_digest") is not None:  # turned off by a reload
            self.scheduler.remove_job("alerts_digest")
        self._plan_window()

    def _plan_window(self) -> None:
        """Give each account's inquiry of the current window its moment (or send now if it was missed)."""
        from monitor.period import week_key_at

        config = self.ctx.config
        now = get_clock().now()
        window = current_window(config.schedules.trigger("inquiry"), now)
        if window is None:
            return
        key = week_key_at(window[0])
        calendar = config.work_calendar()
        for account in config.accounts:
            if account.inquiry.channel == "none" or self.ctx.store.find_inquiry(account.id, key):
                continue
            at = plan_inquiry_time(account.id, window[0], window[1], calendar, schedule_key(config))
            if at <= now:  # missed (we were down, or no working hour is left): soon, spread out
                spread = min(CATCH_UP_SPREAD_S, (window[1] - window[0]).total_seconds() / 10)
                at = now + timedelta(seconds=random.uniform(0, spread))
            self.scheduler.add_job(self._job, DateTrigger(at), args=["inquiry_send", account.id],
                                   id=f"inquiry:{account.id}:{key}", name=f"inquiry {account.id}",
                                   replace_existing=True, misfire_grace_time=None)

    async def _refresh_authorizations(self) -> None:
        if self.component is not None:
            try:
                await self.component.refresh()
            except Exception:  # the job's failure is logged; the daemon goes on
                log.exception("refreshing authorizer tokens failed")

    async def _job(self, job: str, account_id: str = "") -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            event = Event(get_clock().now(), job, account_id)
            await run_event(self.ctx, event, report_dir=self.report_dir, send=self.send_reports)
        except asyncio.CancelledError:
            log.info("job %s abandoned at shutdown", job)
            raise
        except Exception:  # a job's failure is logged; the daemon goes on
            log.exception("job %s failed", job)
        finally:
            if task is not None:
                self._tasks.discard(task)

    # -- signals --------------------------------------------------------------

    def _handle_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self._reload_soon)

    def _reload_soon(self) -> None:
        """SIGHUP. A SIGHUP during a reload makes one more reload after it (the file changed again)."""
        if self._reloading is not None and not self._reloading.done():
            self._reload_again = True
            return
        self._reloading = task = asyncio.get_running_loop().create_task(self._reload_off_loop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reload_off_loop(self) -> None:
        # The file is parsed and validated in a thread: a large (or hostile) file must not stall
        # the jobs and the signal handling; the result is applied here, on the loop.
        while True:
            self._reload_again = False
            try:
                config = await asyncio.to_thread(load_config, self.config_path, check_env=True)
            except BadInput as exc:
                log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.problems))
            except Exception:
                log.exception("reload failed, keeping the running configuration")
            else:
                self._apply(config)
            if not self._reload_again:
                return

    def reload(self) -> None:
        """Load the file and apply it now (blocking: the daemon's SIGHUP reload runs off the loop)."""
        try:
            config = load_config(self.config_path, check_env=True)
        except BadInput as exc:
            log.error("reload refused, keeping the running configuration: %s", "; ".join(exc.problems))
            return
        self._apply(config)

    def _apply(self, config: Config) -> None:
        if config.store_url != self.ctx.config.store_url:
            log.warning("the store setting changed: it takes effect at the next restart")
            config = config.model_copy(update={"store": self.ctx.config.store})
        if config.wechat != self.ctx.config.wechat:
            log.warning("the wechat settings changed: they take effect at the next restart")
            config = config.model_copy(update={"wechat": self.ctx.config.wechat})
        self.ctx.config = config
        self.ctx.calendar = config.work_calendar()
        self.ctx.clear_caches()  # an account's appid may have changed: read menus afresh
        self._install_jobs()
        log.info("configuration reloaded: %d accounts", len(config.accounts))
