"""Schema versions: Alembic, driven from code (no alembic.ini needed).

The revisions live in ``monitor/store/migrations/versions`` and ship inside the
package; the version is kept in the ``wxmon_version`` table. Concurrent
upgrades are serialised by ``Dialect.lock_for_migration`` (``Store.open``).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from monitor.store.tables import VERSION_TABLE

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    return [rev.revision for rev in script_directory().walk_revisions()]


def current_revision(connection: sa.Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade inside the caller's transaction (all revisions commit together)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
