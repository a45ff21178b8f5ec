"""Alembic environment of the wxmon store (runs inside Store.open's transaction)."""

from __future__ import annotations

from alembic import context

from monitor.store.tables import VERSION_TABLE, metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("wxmon migrations run through monitor.store (Store.open or monitor.store.migrate.upgrade)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    # SQLite has transactional DDL when BEGIN is ours: an upgrade is all or nothing.
    transactional_ddl=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
