"""coverage_daily: which accounts the monitor looked at successfully, per probe kind and day.

A store upgraded from 0002 has no such record yet; each account's latest stored
article (``content_items.first_seen_at``) is proof of a successful freshness look
at that time, so it is seeded from there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor import clock
from monitor.store.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coverage_daily",
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_ok_at", sa.DateTime(timezone=True)),
        sa.Column("last_ok_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("kind", "day", "account_id", name="pk_coverage_daily"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_coverage_daily_account_id_accounts"),
        sqlite_with_rowid=False,
    )
    content = sa.table("content_items", sa.column("account_id", sa.Text),
                       sa.column("first_seen_at", UTCDateTime()))
    seed = sa.table("coverage_daily", sa.column("kind", sa.Text), sa.column("day", sa.Date),
                    sa.column("account_id", sa.Text), sa.column("ok", sa.Integer), sa.column("failed", sa.Integer),
                    sa.column("first_ok_at", UTCDateTime()), sa.column("last_ok_at", UTCDateTime()))
    bind = op.get_bind()
    latest = sa.select(content.c.account_id, sa.func.max(content.c.first_seen_at).label("at")).group_by(
        content.c.account_id)
    rows = [{"kind": "freshness", "day": clock.to_local(r.at).date(), "account_id": r.account_id, "ok": 1,
             "failed": 0, "first_ok_at": r.at, "last_ok_at": r.at}
            for r in bind.execute(latest) if r.at is not None]
    if rows:
        bind.execute(sa.insert(seed), rows)


def downgrade() -> None:
    op.drop_table("coverage_daily")
