"""follower_conversations: how each account answers all followers, per day.

A daily rollup of customservice/msgrecord (follower message 2003 paired with the
agent's reply 2002 per openid), so metrics never need raw chat records.

Revision ID: 0002
Revises: 0001
Create Date: 2024-05-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follower_conversations",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("answered", sa.Integer, nullable=False),
        sa.Column("median_reply_minutes", sa.Float),
        sa.Column("p90_reply_minutes", sa.Float),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "day", name="pk_follower_conversations"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_follower_conversations_account_id_accounts"
        ),
    )
    op.create_index("ix_follower_conversations_day", "follower_conversations", ["day"])


def downgrade() -> None:
    op.drop_table("follower_conversations")
