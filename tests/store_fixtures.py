"""Fixtures and helpers for the store tests (imported by tests/test_store*.py).

Every store test runs on a SQLite file in ``tmp_path`` and on PostgreSQL
(``WXMON_TEST_POSTGRES_URL``, default the local server), each test in a schema
of its own that is dropped afterwards.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor import clock
from needs import missing
from monitor.store import Account, ColumnResult, Store

PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2023, 7, 3, 1, 0, tzinfo=clock.UTC)  # 09:00 Monday 2023-07-03 in Shanghai


def postgres_url() -> str:
    return os.environ.get("WXMON_TEST_POSTGRES_URL") or PG_DEFAULT_URL


@functools.cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run (None: they can)."""
    url = sa.engine.make_url(postgres_url())
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means: skip
        first = str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__]
        return f"no PostgreSQL server answering on {where}: {first[0]}"
    return None


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema; yields a store URL whose search_path points at it."""
    reason = postgres_unavailable()
    if reason:
        missing(reason)
    base = sa.engine.make_url(postgres_url())
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    schema = f"wxmon_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "wxmon.db")
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def vclock() -> Iterator[clock.VirtualClock]:
    """The program clock, frozen at T0 (the store stamps updated_at etc. from it)."""
    virtual = clock.VirtualClock(T0)
    previous = clock.set_clock(virtual)
    try:
        yield virtual
    finally:
        clock.set_clock(previous)


@pytest.fixture
def store(store_url: str, vclock: clock.VirtualClock) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        opened.upsert_accounts(
            [
                Account("acc-a", "A 街道", "A 街道办事处", "乡镇街道"),
                Account("acc-b", "B 局", "B 局办公室", "政府部门"),
            ]
        )
        yield opened


def result(
    status: str,
    at: datetime,
    *,
    account: str = "acc-a",
    path: str = "办事/通知公告",
    elapsed_ms: float | None = 100.0,
    failures: int = 0,
    first_failure_at: datetime | None = None,
) -> ColumnResult:
    return ColumnResult(
        account_id=account,
        column_path=path,
        status=status,
        checked_at=at,
        type="view",
        target="https://example.gov.cn/notice",
        reason="HTTP 200" if status == "ok" else f"check says {status}",
        http_status=200 if status == "ok" else 404,
        elapsed_ms=elapsed_ms,
        consecutive_failures=failures,
        first_failure_at=first_failure_at,
    )


# --------------------------------------------------------------- crash writer

CRASH_BATCH = 500
CRASH_ACCOUNTS = 10


def crash_status(run_number: int) -> str:
    # Every run flips every column, so each committed run adds exactly one
    # event per column: events = batch x runs.
    return "ok" if run_number % 2 == 0 else "failing"


def crash_writer(url: str) -> None:
    """Write batches forever (the test kills it): one run + 500 results per transaction."""
    store = Store.open(url)
    store.upsert_accounts([Account(f"acc{i}", f"account {i}") for i in range(CRASH_ACCOUNTS)])
    done = store.health(integrity=False).row_counts["probe_runs"]
    base = T0
    while True:
        n = done + 1
        at = base + timedelta(minutes=7 * n)  # crosses Shanghai days now and then
        status = crash_status(n)
        batch = [
            ColumnResult(
                account_id=f"acc{i % CRASH_ACCOUNTS}",
                column_path=f"菜单{i // CRASH_ACCOUNTS}/子菜单",
                status=status,
                checked_at=at,
                elapsed_ms=float(i),
                consecutive_failures=1 if status == "failing" else 0,
            )
            for i in range(CRASH_BATCH)
        ]
        with store.transaction():
            run = store.start_run("columns", accounts_total=CRASH_ACCOUNTS, started_at=at)
            store.apply_column_results(batch, run_id=run.id)
            store.finish_run(run.id, "ok", detail={"n": n}, finished_at=at)
        done = n
        print(n, flush=True)
