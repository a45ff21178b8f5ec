"""Column writers: the writer process stores exactly what the thread stores, and fails loudly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from datetime import datetime

import pytest

from emulator.scenario import load_scenario
from monitor.clock import SHANGHAI, UTC, VirtualClock
from monitor.config import load_config
from monitor.context import ProbeContext
from monitor.store import Account, ColumnResult, Store
from monitor.store.writer import ProcessWriter, WriterFailed
from wxmon.runner import run_probe

try:
    from store_fixtures import column_daily_between, postgres_schema
except ImportError:  # tests/ became a package
    from tests.store_fixtures import column_daily_between, postgres_schema

AT = datetime(2023, 9, 30, 10, 0, tzinfo=SHANGHAI)


def run_columns(config_path, clock, store_writer: str, rounds: int = 2):
    config = load_config(config_path)

    async def go():
        with Store.open(config.store_url) as store:
            ctx = ProbeContext.open(config, store, clock=clock)
            ctx.store_writer = store_writer
            try:
                for hour in range(rounds):
                    clock.set(AT.replace(hour=10 + hour))
                    await run_probe(ctx, "columns", config.accounts)
                writer = ctx._process_writer
                return ({(s.account_id, s.column_path): (s.status, s.reason, s.consecutive_failures, s.type, s.target)
                         for s in store.get_column_states()},
                        sorted((d.account_id, d.column_path, d.checks, d.ok, d.failing, d.broken, d.error)
                               for d in column_daily_between(store, AT.date(), AT.date())),
                        writer)
            finally:
                await ctx.aclose()

    return asyncio.run(go())


def test_the_writer_process_stores_what_the_thread_stores(make_emulator, demo_config, tmp_path):
    clock = VirtualClock(AT)
    server = make_emulator(load_scenario(None), clock=clock)
    thread_states, thread_daily, no_writer = run_columns(demo_config(server), clock, "thread")
    assert no_writer is None

    (tmp_path / "wxmon.db").rename(tmp_path / "thread.db")  # the next run gets a fresh store
    clock.set(AT)
    process_states, process_daily, writer = run_columns(demo_config(server), clock, "process")
    assert writer is not None and not writer.alive  # started for the rounds, reused, closed with the context
    assert thread_states and process_states == thread_states
    assert process_daily == thread_daily and all(row[2] == 2 for row in process_daily)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A store with one account: a SQLite file, or a fresh schema on the local PostgreSQL."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'w.db'}"
        else:
            url = stack.enter_context(postgres_schema())
        with Store.open(url) as store:
            store.upsert_accounts([Account("acc-a", "A")])
        yield url


def result(path: str, account: str = "acc-a") -> ColumnResult:
    return ColumnResult(account, path, "ok", datetime(2023, 9, 30, 2, tzinfo=UTC), "view", "http://gov.example/p",
                        "HTTP 200", 200, 12.5)


def test_a_batch_the_store_refuses_fails_whole_and_the_writer_goes_on(store_url):
    async def go():
        writer = ProcessWriter(store_url).start()
        try:
            await writer.submit([result("m/1"), result("m/2", account="no-such-account")], None)
            with pytest.raises(WriterFailed, match="IntegrityError"):
                await writer.drain()
            await writer.submit([result("m/3")], None)
            await writer.drain()
        finally:
            writer.close()

    asyncio.run(go())
    with Store.open(store_url) as store:
        assert [s.column_path for s in store.get_column_states()] == ["m/3"]  # nothing of the refused batch


def test_a_writer_process_that_dies_is_an_error_not_a_hang(store_url):
    async def go():
        writer = ProcessWriter(store_url).start()
        try:
            os.kill(writer._proc.pid, signal.SIGKILL)
            writer._proc.wait(timeout=10)
            with pytest.raises(WriterFailed, match=r"gone|died"):
                await writer.submit([result("m/1")], None)
                await writer.drain()
            assert not writer.alive
        finally:
            writer.close()

    asyncio.run(asyncio.wait_for(go(), timeout=30))


def test_a_store_the_writer_cannot_open_is_named_without_its_password(tmp_path):
    url = "postgresql+psycopg://wxmon:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(WriterFailed) as info:
        ProcessWriter(url).start()
    assert "cannot open the store" in str(info.value)
    assert "s3cret-pw" not in str(info.value)
