"""The Store: every read and write of wxmon's database goes through here.

Conventions: datetimes in and out are aware UTC (a naive one is refused);
``*_between(start, end)`` on instants is half-open ``[start, end)``; on days
(``date``, Asia/Shanghai calendar days) it is inclusive. Every write runs in one
transaction; :meth:`Store.transaction` groups several calls into one.

One class, written in parts: each kind of data is a mixin in a module of its own
(accounts and runs, columns, inquiries, content, privacy, followers, reports,
coverage),
all over :class:`~monitor.store.core.StoreCore`, which holds the one engine, the
one :class:`~monitor.store.dialect.Dialect` and the current transaction. Callers
see a single ``Store`` with every method; no part knows which database it is on.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from monitor.errors import BadInput
from monitor.store import migrate
from monitor.store.accounts import AccountStore
from monitor.store.alerts import AlertStore
from monitor.store.authorizations import AuthorizationStore
from monitor.store.columns import ColumnStore
from monitor.store.content import ContentStore
from monitor.store.content_findings import ContentFindingStore
from monitor.store.core import UNSET, NotFound, StoreUnavailable, first_line, table_names
from monitor.store.coverage import CoverageStore
from monitor.store.dialect import Dialect, dialect_for
from monitor.store.engine import WRITE_OPTION, display_url, parse_url
from monitor.store.followers import FollowerStore
from monitor.store.inquiries import InquiryStore
from monitor.store.privacy import PrivacyStore
from monitor.store.records import StoreHealth
from monitor.store.reports import ReportStore
from monitor.store.tables import ALL_TABLES, VERSION_TABLE, metadata
from monitor.store.tasks import TaskStore
from monitor.store.users import UserStore

__all__ = ["UNSET", "NotFound", "Store", "StoreUnavailable"]


class Store(AccountStore, ColumnStore, InquiryStore, ContentStore, PrivacyStore, FollowerStore, ReportStore,
            CoverageStore, TaskStore, AlertStore, AuthorizationStore, UserStore, ContentFindingStore):
    """wxmon's database. Open with :meth:`Store.open`; close with :meth:`close`."""

    @classmethod
    def open(cls, url: str | Path, *, migrate_schema: bool = True) -> Store:
        """Open (creating or upgrading to head) the store at ``url``.

        ``url`` is a SQLAlchemy URL (``sqlite:////abs/path.db``,
        ``postgresql+psycopg://user@host/db``) or a bare path to a SQLite file.
        Raises :class:`BadInput` for a missing directory, a file that is not a
        wxmon store, or a schema newer than this code; :class:`StoreUnavailable`
        when the database cannot be reached.
        """
        parsed = parse_url(url)
        dialect = dialect_for(parsed)
        path = dialect.database_file(parsed)
        where = str(path) if path is not None else display_url(parsed)
        dialect.precheck(parsed)
        engine = dialect.create_engine(parsed)
        try:
            with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
                dialect.lock_for_migration(conn)
                _check_and_upgrade(conn, dialect, where, migrate_schema)
        except BadInput:
            engine.dispose()
            raise
        except sa.exc.DBAPIError as exc:
            engine.dispose()
            message = first_line(exc)
            if "file is not a database" in message:
                raise BadInput(f"{where}: not a wxmon store (not a SQLite database)") from None
            raise StoreUnavailable(f"{where}: cannot open the store: {message}") from None
        return cls(engine, parsed)

    def health(self, *, integrity: bool = True) -> StoreHealth:
        """Schema version, row counts and (SQLite) integrity check and file sizes."""
        with self._read() as conn:
            version = migrate.current_revision(conn)
            counts = {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()) for t in ALL_TABLES
            }
            check = self._dialect.integrity_check(conn) if integrity else None
        file_bytes, wal_bytes = self._dialect.file_sizes(self._url)
        return StoreHealth(
            backend=self.backend,
            url=self.url,
            schema_version=version,
            head_version=migrate.head_revision(),
            row_counts=counts,
            integrity=check,
            file_bytes=file_bytes,
            wal_bytes=wal_bytes,
        )


def _check_and_upgrade(conn: sa.Connection, dialect: Dialect, where: str, migrate_schema: bool) -> None:
    current = migrate.current_revision(conn)
    head = migrate.head_revision()
    if current is None:
        names = set(sa.inspect(conn).get_table_names())
        names.discard(VERSION_TABLE)
        foreign = dialect.foreign_tables(names, set(metadata.tables))
        if foreign:
            raise BadInput(
                f"{where}: not a wxmon store (it holds tables {table_names(foreign)} and no {VERSION_TABLE})"
            )
    elif current not in migrate.known_revisions():
        raise BadInput(
            f"{where}: store schema version {current} is newer than this wxmon knows (up to {head}); "
            "use a newer wxmon or another store"
        )
    if current != head:
        if not migrate_schema:
            raise BadInput(f"{where}: store schema is at {current or 'nothing'}, this wxmon needs {head}")
        migrate.upgrade(conn, "head")
