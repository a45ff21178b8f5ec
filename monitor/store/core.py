"""What every part of the store shares: the engine, the dialect, connections and
transactions, the store's errors and small helpers.

Each kind of data is a mixin over :class:`StoreCore` (``accounts.py``,
``columns.py``, ...); ``store.py`` composes them into :class:`~monitor.store.Store`.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from monitor import clock
from monitor.errors import WxmonError
from monitor.store.dialect import Dialect, dialect_named
from monitor.store.engine import WRITE_OPTION, display_url

T = TypeVar("T")

# Keeps IN lists and multi-row statements under every backend's parameter limit.
CHUNK = 500


class StoreUnavailable(WxmonError):
    """The database could not be reached or used (a runtime failure, exit 1)."""


class NotFound(LookupError):
    """A record that the caller named by id does not exist."""


class _Unset(enum.Enum):
    UNSET = 0


UNSET = _Unset.UNSET


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def aware(what: str, value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive datetime {value.isoformat()}; pass an aware (UTC) datetime")
    return value.astimezone(clock.UTC)


def shanghai_day(value: datetime) -> date:
    return clock.to_local(value).date()


def first_line(exc: BaseException) -> str:
    """The first line of a (driver) error, for a one-line message."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def table_names(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:5])
    return shown + (f" (+{len(ordered) - 5} more)" if len(ordered) > 5 else "")


class StoreCore:
    """The engine and dialect of one store, and the connection of the current transaction."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE_OPTION: True})
        self._url = url
        self._dialect: Dialect = dialect_named(engine.dialect.name)
        self._local = threading.local()

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """For tools that must reach the database directly (benchmarks, tests).
        The program reads and writes through the store's methods."""
        return self._engine

    @property
    def url(self) -> str:
        """The store URL with any password hidden (safe to print)."""
        return display_url(self._url)

    def url_for_child_process(self) -> str:
        """The full store URL, password included: only to hand to a child process. Never print it."""
        return self._url.render_as_string(hide_password=False)

    @property
    def backend(self) -> str:
        return self._dialect.name

    # ------------------------------------------------------------- transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several store calls (this thread) into one transaction.

        Everything inside commits together or not at all; nested uses join the
        outer transaction.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._writer.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        conn: sa.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        conn: sa.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:  # read your own writes inside transaction()
            yield conn
            return
        with self._engine.connect() as conn:
            yield conn
