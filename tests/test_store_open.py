"""Opening a store: in-place upgrades, and refusing what is not ours to touch."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor import clock
from monitor.errors import BadInput
from monitor.store import ColumnResult, FollowerDay, Store, StoreUnavailable, migrate
from monitor.store.engine import WRITE_OPTION, make_engine, parse_url
from monitor.store.migrate import head_revision
from monitor.store.tables import VERSION_TABLE, accounts, column_daily, column_state, content_items, inquiries

HEAD = head_revision()  # the newest migration (test_migration_chain_is_linear pins it to the files)

try:
    from store_fixtures import T0, list_accounts, postgres_schema, sqlite_url, store_url, vclock
except ImportError:  # tests/ became a package
    from tests.store_fixtures import T0, list_accounts, postgres_schema, sqlite_url, store_url, vclock  # noqa: F401



def _upgrade_to(url: str, revision: str) -> None:
    engine = make_engine(parse_url(url))
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            migrate.upgrade(conn, revision)
    finally:
        engine.dispose()


def _run_sql(url: str, *statements: str) -> None:
    engine = make_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def test_upgrade_from_0001_in_place_keeps_data(store_url: str, vclock: clock.VirtualClock) -> None:
    _upgrade_to(store_url, "0001")
    engine = make_engine(parse_url(store_url))
    with engine.begin() as conn:
        assert migrate.current_revision(conn) == "0001"
        assert "follower_conversations" not in sa.inspect(conn).get_table_names()
        conn.execute(sa.insert(accounts), [{"id": "acc-a", "name": "A 街道", "unit": "u", "category": "乡镇街道",
                                            "updated_at": T0}])
        conn.execute(sa.insert(column_state), [{
            "account_id": "acc-a", "column_path": "办事/通知", "status": "broken", "consecutive_failures": 3,
            "first_failure_at": T0, "last_checked_at": T0, "last_change_at": T0,
        }])
        column_id = conn.execute(sa.select(column_state.c.id)).scalar_one()
        conn.execute(sa.insert(column_daily), [{"day": date(2023, 7, 3), "column_id": column_id, "checks": 5,
                                                "broken": 5}])
        conn.execute(sa.insert(inquiries), [{
            "account_id": "acc-a", "window_key": "2023-W27", "channel": "manual", "question": "q",
            "state": "sent", "created_at": T0, "sent_at": T0, "updated_at": T0,
        }])
    engine.dispose()

    with Store.open(store_url) as store:
        health = store.health()
        assert health.schema_version == HEAD and health.ok
        assert [a.name for a in list_accounts(store)] == ["A 街道"]
        (state,) = store.get_column_states()
        assert (state.status, state.consecutive_failures, state.first_failure_at) == ("broken", 3, T0)
        (totals,) = store.column_totals_between(date(2023, 7, 3), date(2023, 7, 3))
        assert (totals.checks, totals.broken, totals.broken_days) == (5, 5, 1)
        inquiry = store.find_inquiry("acc-a", "2023-W27")
        assert inquiry is not None and inquiry.sent_at == T0
        _, created = store.create_inquiry("acc-a", "2023-W27", channel="manual", question="q")
        assert not created  # the unique key survived the upgrade
        # The 0002 table works, and an old row keeps working with new writes.
        store.upsert_follower_days([FollowerDay("acc-a", date(2023, 7, 3), 4, 4, 3.0, None)])
        store.apply_column_results([ColumnResult("acc-a", "办事/通知", "ok", T0.replace(hour=2))])
        (state,) = store.get_column_states()
        assert state.status == "ok" and state.id == column_id


def test_upgrade_from_0002_seeds_freshness_coverage_from_stored_articles(store_url: str,
                                                                         vclock: clock.VirtualClock) -> None:
    # An article stored at T means the freshness look at T succeeded: the upgraded store
    # knows that much coverage, so its history is not judged as unwatched.
    _upgrade_to(store_url, "0002")
    seen = datetime(2023, 7, 2, 17, 30, tzinfo=UTC)  # 01:30 on 2023-07-03 in Shanghai
    engine = make_engine(parse_url(store_url))
    with engine.begin() as conn:
        conn.execute(sa.insert(accounts), [{"id": a, "name": a, "updated_at": T0} for a in ("acc-a", "acc-b")])
        conn.execute(sa.insert(content_items), [
            {"account_id": "acc-a", "source": "freepublish", "item_id": str(i), "published_at": seen,
             "first_seen_at": seen - i * (T0 - seen)} for i in range(3)])
    engine.dispose()
    with Store.open(store_url) as store:
        assert store.health().schema_version == HEAD
        assert store.last_looks("freshness", T0) == {"acc-a": seen}
        (totals,) = store.coverage_between("freshness", date(2023, 7, 3), date(2023, 7, 3))
        assert (totals.account_id, totals.days_ok, totals.days_failed) == ("acc-a", 1, 0)
        assert store.last_looks("columns", T0) == {}


def test_store_open_without_migration_refuses_an_old_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old.db")
    _upgrade_to(url, "0001")
    with pytest.raises(BadInput, match=f"at 0001, this wxmon needs {HEAD}"):
        Store.open(url, migrate_schema=False)
    with Store.open(url) as store:
        assert store.health().schema_version == HEAD


def test_refuses_a_newer_schema(store_url: str) -> None:
    Store.open(store_url).close()
    _run_sql(store_url, f"UPDATE {VERSION_TABLE} SET version_num = '0099'")
    with pytest.raises(BadInput) as info:
        Store.open(store_url)
    message = str(info.value)
    assert f"0099 is newer than this wxmon knows (up to {HEAD})" in message
    assert info.value.exit_code == 2
    if store_url.startswith("sqlite"):
        assert message.startswith(store_url.removeprefix("sqlite:///") + ":")


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("这不是数据库\n" * 100, encoding="utf-8")
    with pytest.raises(BadInput, match="not a wxmon store \\(not a SQLite database\\)") as info:
        Store.open(sqlite_url(path))
    assert str(path) in str(info.value) and info.value.exit_code == 2
    assert path.read_text(encoding="utf-8").startswith("这不是数据库")  # untouched


def test_refuses_a_foreign_sqlite_database_without_touching_it(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(BadInput, match="not a wxmon store \\(it holds tables customers and no wxmon_version\\)"):
        Store.open(str(path))  # a bare path works as a SQLite URL
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]
    conn.close()


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    with pytest.raises(BadInput, match=f"store directory {missing} does not exist") as info:
        Store.open(sqlite_url(missing / "wxmon.db"))
    assert info.value.exit_code == 2
    assert not missing.exists()


def test_empty_file_and_relative_bare_path_are_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    with Store.open(sqlite_url(empty)) as store:
        assert store.health().schema_version == HEAD
    monkeypatch.chdir(tmp_path)
    with Store.open("relative.db") as store:
        assert store.health().schema_version == HEAD
    assert (tmp_path / "relative.db").exists()


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unsupported database 'mysql'"):
        Store.open("mysql://user@host/db")
    with pytest.raises(BadInput, match="empty store URL"):
        Store.open("  ")


def test_postgres_shared_database_and_clashes() -> None:
    with postgres_schema() as url:
        # Someone else's table in the same schema is fine...
        _run_sql(url, "CREATE TABLE unrelated (id int)")
        Store.open(url).close()
    with postgres_schema() as url:
        # ...a table with one of our names and no version table is not.
        _run_sql(url, "CREATE TABLE accounts (id int)")
        with pytest.raises(BadInput, match="not a wxmon store \\(it holds tables accounts"):
            Store.open(url)


def test_unreachable_postgres_is_a_runtime_error_without_the_password() -> None:
    with pytest.raises(StoreUnavailable) as info:
        Store.open("postgresql://wxmon:s3cret-pw@127.0.0.1:1/wxmon?connect_timeout=3")
    message = str(info.value)
    assert info.value.exit_code == 1
    assert "s3cret-pw" not in message and "cannot open the store" in message and "***" in message


def test_plain_postgresql_url_uses_psycopg() -> None:
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("/x/y.db").database == "/x/y.db"


def test_naive_datetimes_are_refused(store_url: str) -> None:
    with Store.open(store_url) as store:
        with pytest.raises(ValueError, match="naive"):
            store.start_run("columns", started_at=datetime(2023, 7, 3, 9, 0))
        with pytest.raises((ValueError, sa.exc.StatementError), match="naive"):
            store.content_between(datetime(2023, 7, 1), datetime(2023, 8, 1, tzinfo=UTC))
