"""Fixtures and helpers for the store tests (imported by tests/test_store*.py).

Every store test runs on a SQLite file in ``tmp_path`` and on PostgreSQL
(``WXMON_TEST_POSTGRES_URL``, default the local server), each test in a schema
of its own that is dropped afterwards.

The readers at the end (``list_accounts``, ``column_events_between``, ...) are
what tests look at and the program never does: they read the tables directly
instead of widening the Store.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from needs import missing

from monitor import clock
from monitor.store import (
    COLUMN_STATUSES,
    Account,
    ColumnDaily,
    ColumnEvent,
    ColumnResult,
    ContentItem,
    FollowerDay,
    NotFound,
    ProbeRun,
    Store,
)
from monitor.store.tables import (
    accounts,
    column_daily,
    column_events,
    column_state,
    content_items,
    follower_conversations,
    probe_runs,
)

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
    except Exception as exc:
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


# --------------------------------------------------------- readers for tests


def list_accounts(store: Store) -> list[Account]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(accounts).order_by(accounts.c.id)).mappings().all()
    return [Account(**row) for row in rows]


def get_run(store: Store, run_id: int) -> ProbeRun:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(probe_runs).where(probe_runs.c.id == run_id)).mappings().first()
    if row is None:
        raise NotFound(f"probe run {run_id} does not exist")
    values = dict(row)
    values["detail"] = json.loads(values["detail"]) if values["detail"] else None
    return ProbeRun(**values)


def column_events_between(store: Store, start: datetime, end: datetime, *,
                          account_id: str | None = None) -> list[ColumnEvent]:
    """Status changes in ``[start, end)``, in time order."""
    e = column_events.c
    query = sa.select(column_events).where(e.at >= start, e.at < end).order_by(e.at, e.id)
    if account_id is not None:
        query = query.where(e.account_id == account_id)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [ColumnEvent(**{k: v for k, v in row.items() if k != "id"}) for row in rows]


def column_daily_between(store: Store, first_day: date, last_day: date, *,
                         account_id: str | None = None) -> list[ColumnDaily]:
    """Per column and day (inclusive range of Shanghai days)."""
    d, cs = column_daily.c, column_state.c
    query = (
        sa.select(d.day, cs.account_id, cs.column_path, *(d[c] for c in ("checks", *COLUMN_STATUSES, "max_elapsed_ms")))
        .join(column_state, cs.id == d.column_id)
        .where(d.day >= first_day, d.day <= last_day)
        .order_by(d.day, cs.account_id, cs.column_path)
    )
    if account_id is not None:
        query = query.where(cs.account_id == account_id)
    with store.engine.connect() as conn:
        return [ColumnDaily(**row) for row in conn.execute(query).mappings()]


def latest_content(store: Store, account_id: str, *, before: datetime | None = None) -> ContentItem | None:
    """The account's most recently published item (strictly before ``before``)."""
    c = content_items.c
    query = (
        sa.select(content_items)
        .where(c.account_id == account_id, c.published_at.is_not(None))
        .order_by(c.published_at.desc(), c.id.desc())
        .limit(1)
    )
    if before is not None:
        query = query.where(c.published_at < before)
    with store.engine.connect() as conn:
        row = conn.execute(query).mappings().first()
    return ContentItem(**{k: v for k, v in row.items() if k != "id"}) if row else None


def follower_days_between(store: Store, first_day: date, last_day: date, *,
                          account_id: str | None = None) -> list[FollowerDay]:
    f = follower_conversations.c
    query = sa.select(follower_conversations).where(f.day >= first_day, f.day <= last_day).order_by(
        f.account_id, f.day
    )
    if account_id is not None:
        query = query.where(f.account_id == account_id)
    with store.engine.connect() as conn:
        return [FollowerDay(**row) for row in conn.execute(query).mappings()]


def upsert_follower_day(store: Store, account_id: str, day: date, *, messages: int, answered: int,
                        median_reply_minutes: float | None = None,
                        p90_reply_minutes: float | None = None) -> FollowerDay:
    """Set (replace) one account's rollup for a Shanghai day; returns it as stored."""
    store.upsert_follower_days(
        [FollowerDay(account_id, day, messages, answered, median_reply_minutes, p90_reply_minutes)]
    )
    (stored,) = follower_days_between(store, day, day, account_id=account_id)
    return stored
