"""The seam between the store and its two databases.

Everything SQLite and PostgreSQL do differently is a method of :class:`Dialect`;
``monitor/store/sqlite.py`` and ``monitor/store/postgres.py`` implement it. The
rest of the store is written once, against this protocol, and never asks which
database it is on. :func:`dialect_named` is the one place that picks.

The differences, by where they show:

- engine and opening: URL aliases, connection settings, what a target must look
  like before connecting, how concurrent upgrades are serialised, which existing
  tables make a database "not a wxmon store";
- values: SQLite keeps instants as naive UTC text (``types.UTCDateTime``);
- statements: the ``INSERT ... ON CONFLICT`` construct of each backend;
- the column writes of a columns round (the hot path: 80,000 columns every
  round), done with the driver's plain executemany on SQLite and with
  ``unnest`` arrays on PostgreSQL, where a statement per row costs a round trip;
- analysis: instants as epoch seconds, and SQLite's index hint for a period scan;
- health: SQLite's integrity check and file sizes.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine

from monitor.store.records import COLUMN_STATUSES, ColumnEvent, ColumnResult

# The ``INSERT`` of either backend: both offer on_conflict_do_nothing/do_update and ``excluded``.
Upsert: TypeAlias = postgresql.Insert | sqlite.Insert
ColumnKey: TypeAlias = tuple[str, str]  # (account_id, column_path)


@dataclass(slots=True)
class PendingColumn:
    """One column's state while a batch of results is folded into it."""

    id: int | None  # None: a column seen for the first time (the dialect sets it on insert)
    status: str | None
    change_at: datetime | None = None  # set when the status changed in this batch
    last: ColumnResult | None = None  # the batch's last result for the column


@dataclass(slots=True)
class DayCounts:
    """A batch's checks of one column on one Shanghai day."""

    checks: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COLUMN_STATUSES, 0))
    max_elapsed_ms: int | None = None


Pending: TypeAlias = dict[ColumnKey, PendingColumn]
Daily: TypeAlias = dict[tuple[date, ColumnKey], DayCounts]


class Dialect(Protocol):
    """What one database backend does its own way."""

    @property
    def name(self) -> str:
        """SQLAlchemy's backend name (``sqlite``, ``postgresql``)."""

    # ---------------------------------------------------------- engine, opening

    def normalise_url(self, url: URL) -> URL:
        """The URL with the driver wxmon uses."""

    def database_file(self, url: URL) -> Path | None:
        """The file the database lives in (None: a server, or in memory)."""

    def create_engine(self, url: URL) -> Engine:
        """An engine with this backend's connection settings and transaction control."""

    def precheck(self, url: URL) -> None:
        """Refuse a target that is not ours before anything connects (raises ``BadInput``)."""

    def lock_for_migration(self, conn: sa.Connection) -> None:
        """Serialise schema upgrades of one database for the rest of ``conn``'s transaction."""

    def foreign_tables(self, present: set[str], ours: set[str]) -> set[str]:
        """Of the tables found in a database without wxmon's version table, those that
        make it not a wxmon store."""

    # ------------------------------------------------------------------ values

    def bind_instant(self, value: datetime) -> datetime:
        """An aware UTC instant as this backend stores it."""

    # -------------------------------------------------------------- statements

    def insert(self, table: sa.Table) -> Upsert:
        """``INSERT`` with this backend's ``ON CONFLICT`` clauses."""

    # ----------------------------------------------------- a round's column writes

    def load_columns(self, conn: sa.Connection, account_ids: Sequence[str]) -> Iterable[Sequence[Any]]:
        """``(id, account_id, column_path, status)`` of every known column of these
        accounts (at most 500), locked against other writers until commit."""

    def write_states(self, conn: sa.Connection, pending: Pending) -> None:
        """Insert the new columns (setting their ``id``) and update the known ones from
        their ``last`` result; ``last_change_at`` moves only where ``change_at`` is set."""

    def insert_events(self, conn: sa.Connection, events: Sequence[ColumnEvent]) -> None:
        """Append status changes to ``column_events``."""

    def write_daily(self, conn: sa.Connection, pending: Pending, daily: Daily) -> None:
        """Add the batch's day counts to ``column_daily`` (checks and statuses summed,
        the maximum elapsed time kept)."""

    # ---------------------------------------------------------------- analysis

    def epoch_seconds(self, column: sa.ColumnElement[datetime]) -> sa.ColumnElement[float]:
        """An instant column as seconds since the Unix epoch (float)."""

    def unindexed(self, column: sa.Column[datetime]) -> sa.ColumnElement[datetime]:
        """The column as a range condition over most of a table should see it, so the
        planner scans a covering index in key order instead of the column's own index."""

    # ------------------------------------------------------------------ health

    def integrity_check(self, conn: sa.Connection) -> str | None:
        """The database's own consistency check ("ok"), or None where there is none."""

    def file_sizes(self, url: URL) -> tuple[int | None, int | None]:
        """Bytes of the database file and of its write-ahead log (None: not a file)."""


# The implementations, imported on first use: they know the tables, which know
# types.UTCDateTime, which asks this module how to store an instant.
_MODULES = {"sqlite": "monitor.store.sqlite", "postgresql": "monitor.store.postgres"}
BACKENDS: tuple[str, ...] = tuple(_MODULES)


@functools.cache
def dialect_named(name: str) -> Dialect:
    """The dialect of a SQLAlchemy backend name (``KeyError`` for one wxmon does not support)."""
    module = importlib.import_module(_MODULES[name])
    dialect: Dialect = module.DIALECT
    return dialect


def dialect_for(url: URL) -> Dialect:
    return dialect_named(url.get_backend_name())
