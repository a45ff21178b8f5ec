"""Initial schema: accounts, probe runs, columns, inquiries, content, privacy, reports.

Revision ID: 0001
Revises:
Create Date: 2024-05-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts() -> sa.DateTime:
    # UTC instants (timestamptz on PostgreSQL, naive UTC text on SQLite).
    return sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer, primary_key=True, autoincrement=True)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=f"fk_{table}_account_id_accounts")


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("unit", sa.Text),
        sa.Column("category", sa.Text),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )

    op.create_table(
        "probe_runs",
        _id(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("finished_at", _ts()),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("accounts_total", sa.Integer, nullable=False, server_default="0"),
        sa.Column("accounts_error", sa.Integer, nullable=False, server_default="0"),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_probe_runs"),
    )
    op.create_index("ix_probe_runs_kind_started_at", "probe_runs", ["kind", "started_at"])
    op.create_index("ix_probe_runs_started_at", "probe_runs", ["started_at"])

    op.create_table(
        "column_state",
        _id(),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("column_path", sa.Text, nullable=False),
        sa.Column("type", sa.Text),
        sa.Column("target", sa.Text),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_failure_at", _ts()),
        sa.Column("last_checked_at", _ts(), nullable=False),
        sa.Column("last_change_at", _ts(), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("elapsed_ms", sa.Float),
        sa.PrimaryKeyConstraint("id", name="pk_column_state"),
        sa.UniqueConstraint("account_id", "column_path", name="uq_column_state_account_id_column_path"),
        _account_fk("column_state"),
    )

    op.create_table(
        "column_events",
        _id(),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("column_path", sa.Text, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("old_status", sa.Text),
        sa.Column("new_status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("http_status", sa.Integer),
        sa.Column("run_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_column_events"),
        _account_fk("column_events"),
        sa.ForeignKeyConstraint(["run_id"], ["probe_runs.id"], name="fk_column_events_run_id_probe_runs"),
    )
    op.create_index("ix_column_events_account_id_at", "column_events", ["account_id", "at"])
    op.create_index("ix_column_events_at", "column_events", ["at"])
    op.create_index("ix_column_events_run_id", "column_events", ["run_id"])

    op.create_table(
        "column_daily",
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("column_id", sa.Integer, nullable=False),
        sa.Column("checks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ok", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("broken", sa.Integer, nullable=False, server_default="0"),
        sa.Column("unverifiable", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.Integer, nullable=False, server_default="0"),
        sa.Column("max_elapsed_ms", sa.Integer),
        sa.PrimaryKeyConstraint("day", "column_id", name="pk_column_daily"),
        sa.ForeignKeyConstraint(["column_id"], ["column_state.id"], name="fk_column_daily_column_id_column_state"),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "inquiries",
        _id(),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("window_key", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("tester", sa.Text),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts()),
        sa.Column("deadline_at", _ts()),
        sa.Column("auto_reply_at", _ts()),
        sa.Column("first_reply_at", _ts()),
        sa.Column("human_reply_at", _ts()),
        sa.Column("latency_minutes", sa.Float),
        sa.Column("channel_ref", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inquiries"),
        sa.UniqueConstraint("account_id", "window_key", name="uq_inquiries_account_id_window_key"),
        _account_fk("inquiries"),
    )
    op.create_index("ix_inquiries_state", "inquiries", ["state"])
    op.create_index("ix_inquiries_sent_at", "inquiries", ["sent_at"])

    op.create_table(
        "inquiry_replies",
        _id(),
        sa.Column("inquiry_id", sa.Integer, nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("text_digest", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_replies"),
        sa.UniqueConstraint(
            "inquiry_id", "at", "kind", "text_digest", name="uq_inquiry_replies_inquiry_id_at_kind_text_digest"
        ),
        sa.ForeignKeyConstraint(
            ["inquiry_id"], ["inquiries.id"], name="fk_inquiry_replies_inquiry_id_inquiries", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "content_items",
        _id(),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("item_id", sa.Text, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("published_at", _ts()),
        sa.Column("first_seen_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_content_items"),
        sa.UniqueConstraint("account_id", "source", "item_id", name="uq_content_items_account_id_source_item_id"),
        _account_fk("content_items"),
    )
    op.create_index("ix_content_items_account_id_published_at", "content_items", ["account_id", "published_at"])
    op.create_index("ix_content_items_published_at", "content_items", ["published_at"])

    op.create_table(
        "privacy_findings",
        _id(),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("start_offset", sa.Integer, nullable=False),
        sa.Column("end_offset", sa.Integer, nullable=False),
        sa.Column("masked", sa.Text, nullable=False),
        sa.Column("found_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_privacy_findings"),
        sa.UniqueConstraint(
            "account_id", "source", "type", "start_offset",
            name="uq_privacy_findings_account_id_source_type_start_offset",
        ),
        _account_fk("privacy_findings"),
    )
    op.create_index("ix_privacy_findings_found_at", "privacy_findings", ["found_at"])
    op.create_index("ix_privacy_findings_account_id_found_at", "privacy_findings", ["account_id", "found_at"])

    op.create_table(
        "reports_sent",
        _id(),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("period_key", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("sent_at", _ts()),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports_sent"),
        sa.UniqueConstraint("kind", "period_key", "recipient", name="uq_reports_sent_kind_period_key_recipient"),
    )


def downgrade() -> None:
    for table in (
        "reports_sent",
        "privacy_findings",
        "content_items",
        "inquiry_replies",
        "inquiries",
        "column_daily",
        "column_events",
        "column_state",
        "probe_runs",
        "accounts",
    ):
        op.drop_table(table)
