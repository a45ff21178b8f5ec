"""column_state.healthy_landing: where a column's page landed when it was last healthy.

A later answer that lands somewhere else (the site's home page, say) is
compared with it: the column's own earlier healthy fetch, not a word list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("column_state") as batch:
        batch.add_column(sa.Column("healthy_landing", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("column_state") as batch:
        batch.drop_column("healthy_landing")
