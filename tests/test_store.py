"""Store behaviour, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from monitor import clock
from monitor.store import (
    Account,
    ContentItem,
    FollowerDay,
    NotFound,
    PrivacyFinding,
    Store,
)
from monitor.store.migrate import head_revision
from monitor.store.tables import VERSION_TABLE, metadata

HEAD = head_revision()  # the newest migration (test_migration_chain_is_linear pins it to the files)

try:
    from store_fixtures import (
        T0,
        column_daily_between,
        column_events_between,
        follower_days_between,
        get_run,
        latest_content,
        list_accounts,
        result,
        sqlite_url,
        store,
        store_url,
        upsert_follower_day,
        vclock,
    )
except ImportError:  # tests/ became a package
    from tests.store_fixtures import (  # noqa: F401
        T0,
        column_daily_between,
        column_events_between,
        follower_days_between,
        get_run,
        latest_content,
        list_accounts,
        result,
        sqlite_url,
        store,
        store_url,
        upsert_follower_day,
        vclock,
    )

H = timedelta(hours=1)


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


# ------------------------------------------------------------------- schema


def test_opened_store_is_at_head_and_matches_the_tables(store: Store) -> None:
    health = store.health()
    assert health.schema_version == health.head_version == HEAD
    assert health.ok
    # The hand-written migrations produce exactly what tables.py describes.
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []


def test_reopening_is_a_no_op(store_url: str, vclock: clock.VirtualClock) -> None:
    with Store.open(store_url) as first:
        first.upsert_accounts([Account("x", "X")])
    with Store.open(store_url) as second:
        assert [a.id for a in list_accounts(second)] == ["x"]
        assert second.health().schema_version == HEAD


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    with Store.open(sqlite_url(tmp_path / "pragmas.db")) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_foreign_keys_are_enforced(store: Store) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        store.apply_column_results([result("ok", T0, account="no-such-account")])


# ----------------------------------------------------------------- accounts


def test_upsert_accounts_inserts_then_updates(store: Store, vclock: clock.VirtualClock) -> None:
    vclock.advance(H)
    store.upsert_accounts([Account("acc-a", "A 街道（新）", "A 街道办事处", "乡镇街道"), Account("acc-c", "C")])
    by_id = {a.id: a for a in list_accounts(store)}
    assert sorted(by_id) == ["acc-a", "acc-b", "acc-c"]
    assert by_id["acc-a"].name == "A 街道（新）"
    assert by_id["acc-a"].updated_at == T0 + H
    assert by_id["acc-b"].updated_at == T0
    assert by_id["acc-c"].unit is None
    assert store.upsert_accounts([]) == 0


# --------------------------------------------------------------------- runs


def test_runs_start_finish_and_list(store: Store, vclock: clock.VirtualClock) -> None:
    run = store.start_run("columns", accounts_total=2)
    assert (run.status, run.started_at, run.finished_at, run.detail) == ("running", T0, None, None)
    vclock.advance(timedelta(minutes=5))
    done = store.finish_run(run.id, "partial", accounts_error=1, detail={"errors": ["acc-b: 48001 未授权"]})
    assert done.status == "partial" and done.finished_at == T0 + timedelta(minutes=5)
    assert done.accounts_total == 2 and done.accounts_error == 1
    assert done.detail == {"errors": ["acc-b: 48001 未授权"]}
    later = store.start_run("inquiry", started_at=T0 + H)
    assert [r.id for r in store.last_runs()] == [later.id, run.id]
    assert [r.id for r in store.last_runs("columns")] == [run.id]
    assert store.last_runs(limit=1)[0].id == later.id
    assert get_run(store, run.id) == done
    assert_utc(get_run(store, run.id).started_at)


def test_run_validation(store: Store) -> None:
    with pytest.raises(ValueError, match="run kind"):
        store.start_run("everything")
    run = store.start_run("all")
    with pytest.raises(ValueError, match="run status"):
        store.finish_run(run.id, "running")
    with pytest.raises(NotFound):
        store.finish_run(run.id + 100, "ok")


# ------------------------------------------------------------------ columns


def test_column_state_transitions_record_only_changes(store: Store) -> None:
    run = store.start_run("columns")
    first = store.apply_column_results([result("ok", T0)], run_id=run.id)
    assert [(e.old_status, e.new_status) for e in first.changes] == [(None, "ok")]
    assert first.changes[0].run_id == run.id

    assert store.apply_column_results([result("ok", T0 + H)]).changes == []
    f1 = result("failing", T0 + 2 * H, failures=1, first_failure_at=T0 + 2 * H)
    f2 = result("failing", T0 + 3 * H, failures=2, first_failure_at=T0 + 2 * H)
    assert [(e.old_status, e.new_status) for e in store.apply_column_results([f1]).changes] == [("ok", "failing")]
    assert store.apply_column_results([f2]).changes == []

    (state,) = store.get_column_states("acc-a")
    assert state.status == "failing" and state.consecutive_failures == 2
    assert state.first_failure_at == T0 + 2 * H
    assert state.last_change_at == T0 + 2 * H  # unchanged by the second failure
    assert state.last_checked_at == T0 + 3 * H
    assert state.http_status == 404 and state.type == "view"

    broken = result("broken", T0 + 4 * H, failures=3, first_failure_at=T0 + 2 * H)
    store.apply_column_results([broken])
    # error: the monitor's own trouble is recorded as such (a change like any other)
    store.apply_column_results([result("error", T0 + 5 * H, failures=3, first_failure_at=T0 + 2 * H)])
    store.apply_column_results([result("ok", T0 + 6 * H)])

    events = column_events_between(store, T0, T0 + 24 * H)
    assert [(e.old_status, e.new_status) for e in events] == [
        (None, "ok"),
        ("ok", "failing"),
        ("failing", "broken"),
        ("broken", "error"),
        ("error", "ok"),
    ]
    assert [e.at for e in events] == [T0, T0 + 2 * H, T0 + 4 * H, T0 + 5 * H, T0 + 6 * H]
    for e in events:
        assert_utc(e.at)
    (state,) = store.get_column_states()
    assert state.status == "ok" and state.consecutive_failures == 0 and state.first_failure_at is None
    assert state.last_change_at == T0 + 6 * H


def test_several_results_for_one_column_in_one_batch(store: Store) -> None:
    out = store.apply_column_results(
        [result("ok", T0), result("failing", T0 + H, failures=1), result("failing", T0 + 2 * H, failures=2)]
    )
    assert out.applied == 3
    assert [(e.old_status, e.new_status) for e in out.changes] == [(None, "ok"), ("ok", "failing")]
    (state,) = store.get_column_states()
    assert state.status == "failing" and state.last_change_at == T0 + H and state.last_checked_at == T0 + 2 * H
    assert state.consecutive_failures == 2
    out = store.apply_column_results([result("ok", T0 + 3 * H), result("ok", T0 + 4 * H)])
    (state,) = store.get_column_states()
    assert state.last_change_at == T0 + 3 * H and [e.new_status for e in out.changes] == ["ok"]


def test_daily_rollup_counts_by_status_and_shanghai_day(store: Store) -> None:
    day = date(2023, 7, 3)
    late = datetime(2023, 7, 3, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai: still the 3rd
    next_day = datetime(2023, 7, 3, 16, 1, tzinfo=UTC)  # 00:01 on the 4th in Shanghai
    other = "首页/政务公开"
    store.apply_column_results(
        [
            result("ok", T0, elapsed_ms=120.4),
            result("ok", T0, path=other, elapsed_ms=None),
            result("ok", T0, account="acc-b", elapsed_ms=80),
        ]
    )
    store.apply_column_results(
        [
            result("failing", T0 + H, elapsed_ms=3000.6),
            result("unverifiable", T0 + H, path=other, elapsed_ms=None),
            result("broken", late, elapsed_ms=50),
            result("error", next_day, elapsed_ms=9999),
        ]
    )
    rows = {(r.day, r.account_id, r.column_path): r for r in column_daily_between(store, day, day + timedelta(days=1))}
    a = rows[(day, "acc-a", "办事/通知公告")]
    assert (a.checks, a.ok, a.failing, a.broken, a.unverifiable, a.error) == (3, 1, 1, 1, 0, 0)
    assert a.max_elapsed_ms == 3001
    o = rows[(day, "acc-a", other)]
    assert (o.checks, o.ok, o.unverifiable, o.max_elapsed_ms) == (2, 1, 1, None)
    nxt = rows[(day + timedelta(days=1), "acc-a", "办事/通知公告")]
    assert (nxt.checks, nxt.error, nxt.max_elapsed_ms) == (1, 1, 9999)
    assert rows[(day, "acc-b", "办事/通知公告")].checks == 1
    assert len(rows) == 4

    only_b = column_daily_between(store, day, day, account_id="acc-b")
    assert [(r.account_id, r.checks) for r in only_b] == [("acc-b", 1)]

    totals = {(t.account_id, t.column_path): t for t in store.column_totals_between(day, day + timedelta(days=1))}
    t = totals[("acc-a", "办事/通知公告")]
    assert (t.days, t.checks, t.ok, t.failing, t.broken, t.error, t.broken_days, t.max_elapsed_ms) == (
        2, 4, 1, 1, 1, 1, 1, 9999,
    )
    assert [x.account_id for x in store.column_totals_between(day, day, account_id="acc-b")] == ["acc-b"]
    assert store.column_totals_between(day + timedelta(days=5), day + timedelta(days=6)) == []


def test_sqlite_column_writes_keep_sqlalchemys_instant_format(tmp_path: Path) -> None:
    """Column results go to SQLite through the driver directly (speed); what lands must be
    what SQLAlchemy writes everywhere else, or text order and range queries would break."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from monitor.store.tables import column_state

    dialect = sqlite_dialect.dialect()
    to_text = sqlite_dialect.DATETIME().bind_processor(dialect)

    def as_sqlalchemy(value: datetime) -> str:  # UTCDateTime, then SQLite's DATETIME: what SQLAlchemy writes
        return to_text(column_state.c.last_checked_at.type.process_bind_param(value, dialect))

    at = datetime(2023, 7, 3, 9, 0, 5, 1234, tzinfo=clock.SHANGHAI)  # not UTC, with microseconds
    failed_at = datetime(2023, 7, 3, 0, 30, tzinfo=UTC)
    with Store.open(sqlite_url(tmp_path / "w.db")) as s:
        s.upsert_accounts([Account("acc-a", "A")])
        s.apply_column_results([result("failing", at, failures=1, first_failure_at=failed_at)])
        s.apply_column_results([result("failing", at + H, failures=2, first_failure_at=failed_at)])
        engine = sa.create_engine(sqlite_url(tmp_path / "w.db"))
        with engine.connect() as conn:
            state = conn.exec_driver_sql(
                "SELECT last_checked_at, last_change_at, first_failure_at FROM column_state").one()
            events = conn.exec_driver_sql("SELECT at FROM column_events").scalars().all()
            day = conn.exec_driver_sql("SELECT day, checks, failing FROM column_daily").one()
        engine.dispose()
        assert tuple(state) == (as_sqlalchemy(at + H), as_sqlalchemy(at), as_sqlalchemy(failed_at))
        assert events == [as_sqlalchemy(at)]
        assert tuple(day) == (sqlite_dialect.DATE().bind_processor(dialect)(date(2023, 7, 3)), 2, 2)
        (read,) = s.get_column_states()
        assert read.last_checked_at == at + H and read.first_failure_at == failed_at


def test_healthy_landing_is_kept_until_the_next_healthy_check(store: Store) -> None:
    """Where a column's page last landed when healthy survives failing checks (the next round
    compares a new landing with it), on a new column and an existing one alike."""
    from dataclasses import replace

    store.apply_column_results([replace(result("ok", T0), healthy_landing="https://a.example/p.html")])
    assert store.get_column_states("acc-a")[0].healthy_landing == "https://a.example/p.html"
    store.apply_column_results([result("failing", T0 + H, failures=1, first_failure_at=T0 + H)])
    assert store.get_column_states("acc-a")[0].healthy_landing == "https://a.example/p.html"
    store.apply_column_results([replace(result("ok", T0 + 2 * H), healthy_landing="https://a.example/q.html")])
    assert store.get_column_states("acc-a")[0].healthy_landing == "https://a.example/q.html"


def test_column_results_are_validated(store: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        store.apply_column_results([result("dead", T0)])
    with pytest.raises(ValueError, match="naive"):
        store.apply_column_results([result("ok", datetime(2023, 7, 3, 9, 0))])
    assert store.get_column_states() == []
    assert store.apply_column_results([]).applied == 0


def test_large_batch(store: Store) -> None:
    accounts = [Account(f"bulk{i:03d}", f"bulk {i}") for i in range(200)]
    store.upsert_accounts(accounts)
    batch = [result("ok", T0, account=a.id, path=f"菜单{j}") for a in accounts for j in range(8)]
    assert len(store.apply_column_results(batch).changes) == 1600
    flipped = [result("failing" if i % 10 == 0 else "ok", T0 + H, account=r.account_id, path=r.column_path)
               for i, r in enumerate(batch)]
    assert len(store.apply_column_results(flipped).changes) == 160
    states = store.get_column_states()
    assert len(states) == 1600 and sum(s.status == "failing" for s in states) == 160
    (totals,) = {t.checks for t in store.column_totals_between(date(2023, 7, 3), date(2023, 7, 3))}
    assert totals == 2


# ---------------------------------------------------------------- inquiries


def test_create_inquiry_is_idempotent_per_window(store: Store) -> None:
    deadline = T0 + 24 * H
    first, created = store.create_inquiry(
        "acc-a", "2023-W27", channel="emulator", question="请问办理居住证需要什么材料？", tester="t1",
        deadline_at=deadline,
    )
    assert created and first.state == "scheduled" and first.deadline_at == deadline
    again, created_again = store.create_inquiry("acc-a", "2023-W27", channel="manual", question="another")
    assert not created_again and again == first  # the existing one, unchanged
    other, created_other = store.create_inquiry("acc-a", "2023-W28", channel="emulator", question="q")
    assert created_other and other.id != first.id
    assert store.find_inquiry("acc-a", "2023-W27") == first
    assert store.find_inquiry("acc-b", "2023-W27") is None


def test_of_processes_racing_to_claim_an_inquiry_exactly_one_wins(store: Store, store_url: str) -> None:
    """The send marker: on PostgreSQL too (READ COMMITTED), only one claimant may send."""
    q, _ = store.create_inquiry("acc-a", "2023-W27", channel="emulator", question="q")
    racers = 6
    start = threading.Barrier(racers)
    won: list[str] = []
    errors: list[BaseException] = []

    def race(i: int) -> None:
        try:
            with Store.open(store_url) as own:  # a connection of its own, as another process has
                start.wait()
                if own.claim_inquiry(q.id, expected_ref=None, claim_ref=f"pending:{i}") is not None:
                    won.append(f"pending:{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(won) == 1
    assert store.get_inquiry(q.id).channel_ref == won[0]
    # A stale reader (expecting the old marker) loses too; a sent inquiry cannot be claimed.
    assert store.claim_inquiry(q.id, expected_ref=None, claim_ref="pending:late") is None
    store.update_inquiry(q.id, state="sent", channel_ref="msg-1")
    assert store.claim_inquiry(q.id, expected_ref="msg-1", claim_ref="pending:again") is None


def test_update_inquiry_and_open_inquiries(store: Store, vclock: clock.VirtualClock) -> None:
    a, _ = store.create_inquiry("acc-a", "2023-W27", channel="emulator", question="q")
    b, _ = store.create_inquiry("acc-b", "2023-W27", channel="emulator", question="q")
    vclock.advance(H)
    sent = store.update_inquiry(a.id, state="sent", sent_at=T0 + H, channel_ref="msg-1")
    assert sent.state == "sent" and sent.sent_at == T0 + H and sent.channel_ref == "msg-1"
    assert sent.updated_at == T0 + H and sent.question == "q"  # untouched fields kept
    assert [i.id for i in store.open_inquiries()] == [a.id, b.id]
    store.update_inquiry(b.id, state="error", error="channel down")
    assert [i.id for i in store.open_inquiries()] == [a.id]
    assert [i.id for i in store.open_inquiries(states=("error",))] == [b.id]
    assert store.open_inquiries(account_id="acc-b") == []
    cleared = store.update_inquiry(a.id, channel_ref=None)
    assert cleared.channel_ref is None and cleared.state == "sent"
    with pytest.raises(ValueError):
        store.update_inquiry(a.id, state="forgotten")
    with pytest.raises(NotFound):
        store.update_inquiry(a.id + 1000, state="sent")


def test_inquiry_replies_are_idempotent_and_set_reply_times(store: Store) -> None:
    inquiry, _ = store.create_inquiry("acc-a", "2023-W27", channel="emulator", question="q")
    store.update_inquiry(inquiry.id, state="sent", sent_at=T0)
    auto, created = store.add_inquiry_reply(inquiry.id, T0 + timedelta(seconds=2), "auto", "您好，已收到")
    assert created and auto.kind == "auto"
    dup, dup_created = store.add_inquiry_reply(inquiry.id, T0 + timedelta(seconds=2), "auto", "您好，已收到")
    assert not dup_created and dup.id == auto.id
    # Same second, different text: a second message, not a duplicate.
    store.add_inquiry_reply(inquiry.id, T0 + timedelta(seconds=2), "auto", "请留下联系方式")
    store.add_inquiry_reply(inquiry.id, T0 + 5 * H, "human", "需要身份证和居住证明")
    store.add_inquiry_reply(inquiry.id, T0 + 6 * H, "human", "补充：还需要照片")
    got = store.get_inquiry(inquiry.id)
    assert got.auto_reply_at == T0 + timedelta(seconds=2)
    assert got.first_reply_at == T0 + timedelta(seconds=2)
    assert got.human_reply_at == T0 + 5 * H
    assert got.state == "sent"  # state and latency are the probe's to decide
    assert [r.text for r in store.inquiry_replies(inquiry.id)] == [
        "您好，已收到", "请留下联系方式", "需要身份证和居住证明", "补充：还需要照片",
    ]
    # An earlier reply seen late still moves the times back.
    store.add_inquiry_reply(inquiry.id, T0 + 4 * H, "human", "早一点的回复")
    assert store.get_inquiry(inquiry.id).human_reply_at == T0 + 4 * H
    with pytest.raises(NotFound):
        store.add_inquiry_reply(inquiry.id + 1000, T0, "human", "x")
    with pytest.raises(ValueError):
        store.add_inquiry_reply(inquiry.id, T0, "bot", "x")


def test_inquiries_between(store: Store, vclock: clock.VirtualClock) -> None:
    a, _ = store.create_inquiry("acc-a", "w1", channel="emulator", question="q")
    b, _ = store.create_inquiry("acc-b", "w1", channel="emulator", question="q")
    store.update_inquiry(a.id, state="sent", sent_at=T0 + 30 * H)
    # b never sent: it counts at its creation time (T0)
    assert [i.id for i in store.inquiries_between(T0, T0 + H)] == [b.id]
    assert [i.id for i in store.inquiries_between(T0, T0 + 48 * H)] == [b.id, a.id]
    assert [i.id for i in store.inquiries_between(T0 + 30 * H, T0 + 31 * H)] == [a.id]  # start inclusive
    assert store.inquiries_between(T0 + 29 * H, T0 + 30 * H) == []  # end exclusive
    assert [i.id for i in store.inquiries_between(T0, T0 + 48 * H, account_id="acc-a")] == [a.id]


# ------------------------------------------------------------------ content


def test_content_items_upsert_latest_between(store: Store, vclock: clock.VirtualClock) -> None:
    day = timedelta(days=1)
    items = [
        ContentItem("acc-a", "freepublish", "a1", "通知一", "https://mp.weixin.qq.com/s/a1", T0 - 10 * day),
        ContentItem("acc-a", "freepublish", "a2", "通知二", "https://mp.weixin.qq.com/s/a2", T0 - 2 * day),
        ContentItem("acc-a", "material", "a2", "旧素材", None, T0 - 30 * day),
        ContentItem("acc-b", "page", "p1", "页面", "https://example.gov.cn/p1", None),
    ]
    new = store.upsert_content_items(items)
    assert len(new) == 4 and all(i.first_seen_at == T0 for i in new)
    vclock.advance(day)
    again = store.upsert_content_items(
        [ContentItem("acc-a", "freepublish", "a2", "通知二（更正）", "https://mp.weixin.qq.com/s/a2", T0 - 2 * day),
         ContentItem("acc-a", "freepublish", "a3", "通知三", None, T0 + 12 * H)]
    )
    assert [i.item_id for i in again] == ["a3"] and again[0].first_seen_at == T0 + day

    latest = latest_content(store, "acc-a")
    assert latest is not None and latest.item_id == "a3"
    before = latest_content(store, "acc-a", before=T0)
    assert before is not None and before.title == "通知二（更正）" and before.first_seen_at == T0
    assert latest_content(store, "acc-b") is None  # no publication time known
    assert latest_content(store, "nobody") is None

    between = store.content_between(T0 - 15 * day, T0 + day)
    assert [(i.source, i.item_id) for i in between] == [("freepublish", "a1"), ("freepublish", "a2"),
                                                         ("freepublish", "a3")]
    assert store.content_between(T0 - 15 * day, T0 + day, account_id="acc-b") == []
    assert store.last_published() == {"acc-a": T0 + 12 * H}
    assert store.last_published(before=T0) == {"acc-a": T0 - 2 * day}
    assert_utc(store.last_published()["acc-a"])
    with pytest.raises(ValueError):
        store.upsert_content_items([ContentItem("acc-a", "weibo", "x")])


# ------------------------------------------------------------------ privacy


def test_privacy_findings_idempotent_and_masked_only(store: Store, vclock: clock.VirtualClock) -> None:
    findings = [
        PrivacyFinding("acc-a", "https://mp.weixin.qq.com/s/a1", "id_card", 120, 138, "110101********123X"),
        PrivacyFinding("acc-a", "https://mp.weixin.qq.com/s/a1", "mobile", 300, 313, "138 **** 5678"),
    ]
    new = store.add_privacy_findings(findings)
    assert len(new) == 2 and all(f.found_at == T0 for f in new)
    vclock.advance(H)
    again = store.add_privacy_findings(
        [*findings, PrivacyFinding("acc-b", "article:42", "bank_card", 5, 24, "6222 **** **** 1234")]
    )
    assert [(f.account_id, f.type) for f in again] == [("acc-b", "bank_card")]
    everything = store.privacy_findings_between(T0, T0 + 2 * H)
    assert [(f.type, f.start, f.end, f.found_at) for f in everything] == [
        ("id_card", 120, 138, T0), ("mobile", 300, 313, T0), ("bank_card", 5, 24, T0 + H),
    ]
    assert [f.type for f in store.privacy_findings_between(T0, T0 + 2 * H, account_id="acc-b")] == ["bank_card"]
    # The full number never gets in.
    for unmasked in ("110101199003071234", "13812345678", "138-1234-5678", "6222 0212 3456 7890 123"):
        with pytest.raises(ValueError, match="full number"):
            store.add_privacy_findings([PrivacyFinding("acc-a", "s", "mobile", 0, 11, unmasked)])
    columns = {c.name for c in metadata.tables["privacy_findings"].columns}
    assert columns == {"id", "account_id", "source", "type", "start_offset", "end_offset", "masked", "found_at"}


# ---------------------------------------------------------------- followers


def test_follower_days(store: Store, vclock: clock.VirtualClock) -> None:
    d = date(2023, 7, 3)
    got = upsert_follower_day(store, "acc-a", d, messages=10, answered=7, median_reply_minutes=12.5,
                                    p90_reply_minutes=300.0)
    assert (got.messages, got.answered, got.median_reply_minutes, got.updated_at) == (10, 7, 12.5, T0)
    vclock.advance(H)
    replaced = upsert_follower_day(store, "acc-a", d, messages=11, answered=9)  # recomputed day replaces
    assert (replaced.messages, replaced.answered, replaced.median_reply_minutes) == (11, 9, None)
    store.upsert_follower_days([FollowerDay("acc-b", d + timedelta(days=1), 3, 0, None, None)])
    assert [(f.account_id, f.day) for f in follower_days_between(store, d, d + timedelta(days=1))] == [
        ("acc-a", d), ("acc-b", d + timedelta(days=1)),
    ]
    assert [f.account_id for f in follower_days_between(store, d, d, account_id="acc-b")] == []


# ---------------------------------------------------- reads for period metrics


def test_period_reads_for_metrics(store: Store) -> None:
    """What monitor.metrics reads: column-major inquiry times, per-account publication
    spans and follower rollups, the same on both backends."""
    sent, _ = store.create_inquiry("acc-a", "w1", channel="emulator", question="q")
    store.update_inquiry(sent.id, state="sent", sent_at=T0 + H, auto_reply_at=T0 + 2 * H)
    store.create_inquiry("acc-b", "w1", channel="emulator", question="q", created_at=T0 + 48 * H)  # not sent
    times = store.inquiry_times_between(T0, T0 + 24 * H)
    assert (times.account_id, times.state, times.sent_at, times.deadline_at, times.auto_reply_at,
            times.human_reply_at) == (("acc-a",), ("sent",), (T0 + H,), (None,), (T0 + 2 * H,), (None,))
    assert store.inquiry_times_between(T0 + 48 * H, T0 + 49 * H).account_id == ("acc-b",)  # by creation time
    assert store.inquiry_times_between(T0 + 100 * H, T0 + 101 * H).state == ()

    day = timedelta(days=1)
    store.upsert_content_items(
        [ContentItem("acc-a", "freepublish", f"a{k}", published_at=T0 + k * day) for k in (0, 1, 4)]
        + [ContentItem("acc-b", "freepublish", "b0", published_at=T0 - day),
           ContentItem("acc-b", "freepublish", "b1", published_at=T0 + day),
           ContentItem("acc-b", "page", "p", published_at=None)]
    )
    spans = {s.account_id: s for s in store.publication_spans(T0, T0 + 10 * day)}
    assert sorted(spans) == ["acc-a", "acc-b"]
    a = spans["acc-a"]
    assert a.first_s == pytest.approx(T0.timestamp(), abs=0.01)
    assert a.last_s == pytest.approx((T0 + 4 * day).timestamp(), abs=0.01)
    assert a.max_gap_s == pytest.approx(3 * 86400, abs=0.01)
    assert spans["acc-b"].max_gap_s is None  # one publication in the range (b0 is before it)
    assert store.publication_spans(T0 + 20 * day, T0 + 30 * day) == []

    d = date(2023, 7, 3)
    store.upsert_follower_days([
        FollowerDay("acc-a", d, 10, 7, 12.5, None),
        FollowerDay("acc-a", d + timedelta(days=1), 4, 0, None, None),
        FollowerDay("acc-b", d, 3, 3, None, None),
        FollowerDay("acc-b", d + timedelta(days=5), 9, 9, 1.0, None),
    ])
    totals = {t.account_id: (t.messages, t.answered) for t in store.follower_totals_between(d, d + timedelta(days=1))}
    assert totals == {"acc-a": (14, 7), "acc-b": (3, 3)}
    medians = store.follower_medians_between(d, d + timedelta(days=1))
    assert (medians.account_id, medians.answered, medians.median_reply_minutes) == (("acc-a",), (7,), (12.5,))
    assert store.follower_medians_between(d + timedelta(days=9), d + timedelta(days=9)).account_id == ()


# ------------------------------------------------------------------ reports


def test_reports_are_sent_once(store: Store, vclock: clock.VirtualClock) -> None:
    key = ("weekly", "2023-W38", "zhang@example.gov.cn")
    assert not store.report_already_sent(*key)
    failed = store.record_report_sent(*key, status="failed", error="SMTP 421")
    assert failed.status == "failed" and failed.sent_at is None
    assert not store.report_already_sent(*key)
    vclock.advance(H)
    sent = store.record_report_sent(*key)
    assert sent.status == "sent" and sent.sent_at == T0 + H and sent.error is None
    assert store.report_already_sent(*key)
    # A later failure (e.g. a duplicate attempt) does not erase the success.
    vclock.advance(H)
    after = store.record_report_sent(*key, status="failed", error="timeout")
    assert after.status == "sent" and after.sent_at == T0 + H
    assert not store.report_already_sent("weekly", "2023-W38", "li@example.gov.cn")
    assert not store.report_already_sent("weekly", "2023-W39", "zhang@example.gov.cn")
    store.record_report_sent("weekly", "2023-W38", "li@example.gov.cn")
    assert [r.recipient for r in store.reports(kind="weekly", period_key="2023-W38")] == [
        "li@example.gov.cn", "zhang@example.gov.cn",
    ]


# ------------------------------------------------------------ transactions


def test_transaction_groups_calls_all_or_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        run = store.start_run("columns")
        store.apply_column_results([result("ok", T0)], run_id=run.id)
        assert len(store.get_column_states()) == 1  # visible inside
        raise RuntimeError("crash in the middle")
    assert store.last_runs() == [] and store.get_column_states() == []
    with store.transaction():
        run = store.start_run("columns")
        with store.transaction():  # nested: joins
            store.apply_column_results([result("ok", T0)], run_id=run.id)
        store.finish_run(run.id, "ok")
    assert store.last_runs()[0].status == "ok" and len(store.get_column_states()) == 1


def test_concurrent_writers(store_url: str, vclock: clock.VirtualClock) -> None:
    """Two stores on one database writing at once: no lost or failed batch."""
    with Store.open(store_url) as setup:
        setup.upsert_accounts([Account("w1", "w1"), Account("w2", "w2")])
    errors: list[BaseException] = []

    def work(account: str) -> None:
        try:
            with Store.open(store_url) as s:
                for n in range(15):
                    status = "ok" if n % 2 else "failing"
                    s.apply_column_results(
                        [result(status, T0 + n * H, account=account, path=f"m{j}") for j in range(50)]
                    )
                    s.inquiries_between(T0, T0 + H)  # a reader in between
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Store.open(store_url) as s:
        totals = s.column_totals_between(date(2023, 7, 1), date(2023, 7, 31))
        assert len(totals) == 100 and {t.checks for t in totals} == {15}
        assert len(column_events_between(s, T0, T0 + 100 * H)) == 100 * 15


# ------------------------------------------------------------------- health


def test_health(store: Store) -> None:
    store.apply_column_results([result("ok", T0)])
    health = store.health()
    assert health.row_counts["accounts"] == 2 and health.row_counts["column_state"] == 1
    assert health.row_counts["column_daily"] == 1 and set(health.row_counts) == set(metadata.tables)
    if store.backend == "sqlite":
        assert health.integrity == "ok" and health.file_bytes and health.file_bytes > 0
        assert health.wal_bytes is not None
    else:
        assert health.integrity is None and health.file_bytes is None
    assert health.ok
    assert store.health(integrity=False).integrity is None


def test_migration_chain_is_linear() -> None:
    """One head, each revision revising the one before it: the newest file is the head."""
    from monitor.store.migrate import script_directory

    files = sorted(p.name for p in (Path(migrate_dir()) / "versions").glob("0*.py"))
    revisions = [name.split("_", 1)[0] for name in files]
    assert revisions[-1] == HEAD
    scripts = script_directory()
    for before, after in itertools.pairwise(revisions):
        assert scripts.get_revision(after).down_revision == before


def migrate_dir() -> str:
    import monitor.store.migrations as migrations

    return str(Path(migrations.__file__).parent)
