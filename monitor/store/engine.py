"""Engines: URL parsing, and creating an engine with its backend's settings."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from monitor.errors import BadInput
from monitor.store.dialect import BACKENDS, dialect_for

# Read by the SQLite dialect on every new connection (tests shorten it).
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
    except Exception as exc:
        raise BadInput(f"store: cannot parse store URL {text!r}: {exc}") from None
    if parsed.get_backend_name() not in BACKENDS:
        raise BadInput(
            f"store: unsupported database {parsed.get_backend_name()!r} in "
            f"{display_url(parsed)}; use sqlite:///PATH or postgresql+psycopg://..."
        )
    return dialect_for(parsed).normalise_url(parsed)


def display_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def sqlite_path(url: URL) -> Path | None:
    """The database file of the URL (None: a server, or an in-memory SQLite database)."""
    return dialect_for(url).database_file(url)


def make_engine(url: URL) -> Engine:
    return dialect_for(url).create_engine(url)
