"""Engine creation: URL normalisation, SQLite pragmas and transaction control."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine

from monitor.errors import BadInput

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option that marks a connection as a writer (BEGIN IMMEDIATE on SQLite).
WRITE_OPTION = "wxmon_write"


def parse_url(url: str | Path) -> URL:
    """A SQLAlchemy URL; a bare filesystem path means a SQLite file."""
    text = str(url).strip()
    if not text:
        raise BadInput("store: empty store URL")
    if "://" not in text:
        return sa.engine.URL.create("sqlite", database=str(Path(text).expanduser().absolute()))
    try:
        parsed = sa.engine.make_url(text)
    except Exception as exc:  # noqa: BLE001 - any parse problem is bad input
        raise BadInput(f"store: cannot parse store URL {text!r}: {exc}") from None
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver wxmon ships with (psycopg2 is not a dependency).
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise BadInput(
            f"store: unsupported database {parsed.get_backend_name()!r} in "
            f"{display_url(parsed)}; use sqlite:///PATH or postgresql+psycopg://..."
        )
    return parsed


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL (None for in-memory databases)."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: URL) -> Engine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        # The pool hands a connection to one thread at a time.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    engine = sa.create_engine(url, **kwargs)
    if backend == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module so that SQLAlchemy's transaction
        # is the database's transaction (and writers can BEGIN IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads
        # and then writes can fail with SQLITE_BUSY instead of waiting.
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")
