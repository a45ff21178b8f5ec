"""What a real office runs on: third-party-platform authorizations, inspectors' inquiry tasks
and their evidence, and the alert state per account and rule.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -- component (third-party platform) ------------------------------------------------------
    _component_upgrade()
    # -- inquiry tasks and evidence ------------------------------------------------------------
    _inquiry_tasks_upgrade()
    # -- alerts --------------------------------------------------------------------------------
    _alerts_upgrade()
    # -- console users and audit ---------------------------------------------------------------
    _console_upgrade()
    # -- content findings and reviews -----------------------------------------------------------
    _content_findings_upgrade()


def downgrade() -> None:
    # Each section's tables, dropped in reverse order.
    _content_findings_downgrade()  # content findings and reviews
    _console_downgrade()  # console users and audit
    _alerts_downgrade()  # alerts
    _inquiry_tasks_downgrade()  # inquiry tasks and evidence
    _component_downgrade()  # component (third-party platform)
    pass


# -- inquiry tasks and evidence (issue 13, the inspectors' workflow) ----------------------------

_TASK_TABLES = ("inquiry_evidence", "inquiry_task_replies", "inquiry_tasks")


def _inquiry_tasks_upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "inquiry_tasks",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("inquiry_id", sa.Integer),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("tester", sa.Text, nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("issued_at", ts, nullable=False),
        sa.Column("send_by", ts, nullable=False),
        sa.Column("inspector", sa.Text),
        sa.Column("inspector_email", sa.Text),
        sa.Column("mailed_at", ts),
        sa.Column("sent_at", ts),
        sa.Column("sent_recorded_at", ts),
        sa.Column("records_sent_at", ts),
        sa.Column("records_follower", sa.Text),
        sa.Column("closed_at", ts),
        sa.Column("closed_by", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_tasks"),
        sa.UniqueConstraint("key", name="uq_inquiry_tasks_key"),
        sa.ForeignKeyConstraint(["inquiry_id"], ["inquiries.id"], name="fk_inquiry_tasks_inquiry_id_inquiries",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_inquiry_tasks_account_id_accounts"),
    )
    op.create_index("ix_inquiry_tasks_account_id", "inquiry_tasks", ["account_id"])
    op.create_table(
        "inquiry_task_replies",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("auto", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("text_digest", sa.Text, nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_task_replies"),
        sa.UniqueConstraint("task_id", "source", "at", "text_digest",
                            name="uq_inquiry_task_replies_task_id_source_at_text_digest"),
        sa.ForeignKeyConstraint(["task_id"], ["inquiry_tasks.id"], name="fk_inquiry_task_replies_task_id_inquiry_tasks",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "inquiry_evidence",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("stage", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("recorded_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inquiry_evidence"),
        sa.UniqueConstraint("task_id", "stage", "sha256", name="uq_inquiry_evidence_task_id_stage_sha256"),
        sa.ForeignKeyConstraint(["task_id"], ["inquiry_tasks.id"], name="fk_inquiry_evidence_task_id_inquiry_tasks",
                                ondelete="CASCADE"),
    )


def _inquiry_tasks_downgrade() -> None:
    for table in _TASK_TABLES:
        op.drop_table(table)


# -- alerts (issue 13, alerts to the units) ------------------------------------------------------


def _alerts_upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "alert_state",
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("since", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "rule", name="pk_alert_state"),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("digest", sa.Boolean, nullable=False),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", ts),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_alert_outbox"),
    )
    op.create_index("ix_alert_outbox_status_digest", "alert_outbox", ["status", "digest"])
    op.create_index("ix_alert_outbox_created_at", "alert_outbox", ["created_at"])


def _alerts_downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_table("alert_state")


# -- component (third-party platform) (issue 13, access by authorization) -------------------------

def _component_upgrade() -> None:
    # Secrets (the ticket, refresh tokens) are stored sealed (Fernet, key from the environment).
    op.create_table(
        "component_tickets",
        sa.Column("component_appid", sa.Text, nullable=False),
        sa.Column("ticket_sealed", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("component_appid", name="pk_component_tickets"),
    )
    op.create_table(
        "component_authorizations",
        sa.Column("authorizer_appid", sa.Text, nullable=False),
        sa.Column("component_appid", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("refresh_token_sealed", sa.Text),
        sa.Column("func_info", sa.Text),
        sa.Column("authorized_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("authorizer_appid", name="pk_component_authorizations"),
    )


def _component_downgrade() -> None:
    op.drop_table("component_authorizations")
    op.drop_table("component_tickets")
# -- end component --------------------------------------------------------------------------------


# -- console users and audit (issue 14, the web console) -----------------------------------------

def _console_upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "console_users",
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("unit", sa.Text),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", ts, nullable=False),
        sa.Column("updated_at", ts, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_console_users"),
    )
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("target", sa.Text),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_console_audit"),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])


def _console_downgrade() -> None:
    op.drop_table("console_audit")
    op.drop_table("console_users")
# -- end console users and audit -------------------------------------------------------------------


# -- content findings and reviews (issue 15, the content check) -----------------------------------

def _content_findings_upgrade() -> None:
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "content_findings",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("rule_set", sa.Text, nullable=False),
        sa.Column("rule", sa.Text, nullable=False),
        sa.Column("revision", sa.Text, nullable=False),
        sa.Column("start_offset", sa.Integer, nullable=False),
        sa.Column("end_offset", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("suggestion", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("found_at", ts, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reviewed_at", ts),
        sa.Column("reviewer", sa.Text),
        sa.Column("reason", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_content_findings"),
        sa.UniqueConstraint("account_id", "source", "rule", "text",
                            name="uq_content_findings_account_id_source_rule_text"),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_content_findings_account_id_accounts"),
    )
    op.create_index("ix_content_findings_status_found_at", "content_findings", ["status", "found_at"])
    op.create_index("ix_content_findings_account_id_text", "content_findings", ["account_id", "text"])


def _content_findings_downgrade() -> None:
    op.drop_table("content_findings")
# -- end content findings and reviews -------------------------------------------------------------
