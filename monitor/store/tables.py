"""The store's tables: the one place that knows the schema (at head).

Sizing (the issue's budget: a quarter of 10,000 accounts with hourly column
checks): raw checks would be 80,000 columns x 24 x 92 = 176 M rows, so they are
never stored. ``column_state`` keeps one row per column (80 k), ``column_events``
only status changes, and ``column_daily`` one row per column and Shanghai day
(7.4 M a quarter). That last table is the big one, so it is keyed by the
integer ``column_id`` (not the repeated account/column text), clustered by
``(day, column_id)`` (``WITHOUT ROWID`` on SQLite: no second copy of the key;
a round's upserts land on the same few pages; a period is one range scan).

Enumerations (statuses, kinds) are validated in Python (``monitor.store.records``),
not by CHECK constraints: the store is the only writer, and SQLite cannot alter
a CHECK without rebuilding the table.

Every change here needs a migration in ``migrations/versions``; the test suite
compares the migrated schema with this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

from monitor.store.types import UTCDateTime

VERSION_TABLE = "wxmon_version"

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("unit", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

probe_runs = sa.Table(
    "probe_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("accounts_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("accounts_error", sa.Integer, nullable=False, server_default="0"),
    sa.Column("detail", sa.Text),  # JSON text
    sa.Index(None, "kind", "started_at"),
    sa.Index(None, "started_at"),
)

column_state = sa.Table(
    "column_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("column_path", sa.Text, nullable=False),
    sa.Column("type", sa.Text),
    sa.Column("target", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_failure_at", UTCDateTime),
    sa.Column("last_checked_at", UTCDateTime, nullable=False),
    sa.Column("last_change_at", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("http_status", sa.Integer),
    sa.Column("elapsed_ms", sa.Float),
    # Where the column's page landed when it was last healthy (its final URL; "": its own address):
    # what a later answer is compared with (a page that now lands on the site's home page is gone).
    sa.Column("healthy_landing", sa.Text),
    sa.UniqueConstraint("account_id", "column_path"),
)

column_events = sa.Table(
    "column_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("column_path", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("old_status", sa.Text),  # NULL: first time the column was seen
    sa.Column("new_status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text),
    sa.Column("http_status", sa.Integer),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("probe_runs.id")),
    sa.Index(None, "account_id", "at"),
    sa.Index(None, "at"),
    sa.Index(None, "run_id"),
)

column_daily = sa.Table(
    "column_daily",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),  # Asia/Shanghai calendar day
    sa.Column("column_id", sa.Integer, sa.ForeignKey("column_state.id"), primary_key=True),
    sa.Column("checks", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ok", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failing", sa.Integer, nullable=False, server_default="0"),
    sa.Column("broken", sa.Integer, nullable=False, server_default="0"),
    sa.Column("unverifiable", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_elapsed_ms", sa.Integer),
    sqlite_with_rowid=False,
)

inquiries = sa.Table(
    "inquiries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("window_key", sa.Text, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("tester", sa.Text),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("deadline_at", UTCDateTime),
    sa.Column("auto_reply_at", UTCDateTime),
    sa.Column("first_reply_at", UTCDateTime),
    sa.Column("human_reply_at", UTCDateTime),
    sa.Column("latency_minutes", sa.Float),
    sa.Column("channel_ref", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # Idempotency: one inquiry per account and window, whatever restarts happen.
    sa.UniqueConstraint("account_id", "window_key"),
    sa.Index(None, "state"),
    sa.Index(None, "sent_at"),
)

inquiry_replies = sa.Table(
    "inquiry_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "inquiry_id", sa.Integer, sa.ForeignKey("inquiries.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    # Polling "replies since T" overlaps; the digest makes a re-seen reply a no-op
    # without a unique index over unbounded text.
    sa.Column("text_digest", sa.Text, nullable=False),
    sa.UniqueConstraint("inquiry_id", "at", "kind", "text_digest"),
)

content_items = sa.Table(
    "content_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("item_id", sa.Text, nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("url", sa.Text),
    sa.Column("published_at", UTCDateTime),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "source", "item_id"),
    sa.Index(None, "account_id", "published_at"),
    sa.Index(None, "published_at"),
)

privacy_findings = sa.Table(
    "privacy_findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # URL or article id
    sa.Column("type", sa.Text, nullable=False),
    # Offsets into the decoded text; not named start/end ("end" is reserved SQL).
    sa.Column("start_offset", sa.Integer, nullable=False),
    sa.Column("end_offset", sa.Integer, nullable=False),
    # Only the masked text: there is deliberately no column for the full number.
    sa.Column("masked", sa.Text, nullable=False),
    sa.Column("found_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("account_id", "source", "type", "start_offset"),
    sa.Index(None, "found_at"),
    sa.Index(None, "account_id", "found_at"),
)

reports_sent = sa.Table(
    "reports_sent",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("period_key", sa.Text, nullable=False),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A restart must not send the same report to the same person twice.
    sa.UniqueConstraint("kind", "period_key", "recipient"),
)

# Added by revision 0002.
follower_conversations = sa.Table(
    "follower_conversations",
    metadata,
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),  # Asia/Shanghai calendar day
    sa.Column("messages", sa.Integer, nullable=False),
    sa.Column("answered", sa.Integer, nullable=False),
    sa.Column("median_reply_minutes", sa.Float),
    sa.Column("p90_reply_minutes", sa.Float),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index(None, "day"),
)

# Added by revision 0003. Which accounts the monitor looked at successfully, per probe kind and
# Shanghai day: what a rule may be judged on (monitor.metrics). One row per account, kind and
# day (10,000 accounts x 5 kinds x 92 days = 4.6 M a quarter at most; rounds add to the counts;
# measured on SQLite: ~95 bytes a row), clustered by (kind, day) so a period of one kind is one
# range scan.
coverage_daily = sa.Table(
    "coverage_daily",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),  # Asia/Shanghai calendar day
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("ok", sa.Integer, nullable=False, server_default="0"),  # successful looks
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),  # looks that failed (monitor's trouble)
    sa.Column("first_ok_at", UTCDateTime),
    sa.Column("last_ok_at", UTCDateTime),
    sqlite_with_rowid=False,
)

# -- issue 13: inspectors' inquiry tasks and their evidence (revision 0005) ---------------------
# A task is what an inspector is asked to do for one inquiry of a `manual` account; what they
# record (send, replies) and what the customer-service records confirm are kept side by side.
inquiry_tasks = sa.Table(
    "inquiry_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False),  # the channel ref the inquiry probe holds
    sa.Column("inquiry_id", sa.Integer, sa.ForeignKey("inquiries.id", ondelete="CASCADE")),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("tester", sa.Text, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("issued_at", UTCDateTime, nullable=False),
    sa.Column("send_by", UTCDateTime, nullable=False),
    sa.Column("inspector", sa.Text),
    sa.Column("inspector_email", sa.Text),
    sa.Column("mailed_at", UTCDateTime),
    sa.Column("sent_at", UTCDateTime),  # as the inspector recorded it (to the minute)
    sa.Column("sent_recorded_at", UTCDateTime),
    sa.Column("records_sent_at", UTCDateTime),  # as the account's customer-service records show it
    sa.Column("records_follower", sa.Text),  # digest of the tester's openid in those records
    sa.Column("closed_at", UTCDateTime),
    sa.Column("closed_by", sa.Text),  # inspector | records
    sa.Column("note", sa.Text),  # where the records and the inspector disagree
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("key"),
    sa.Index(None, "account_id"),
)

inquiry_task_replies = sa.Table(
    "inquiry_task_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("inquiry_tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("auto", sa.Boolean, nullable=False),  # the inspector marked it automatic
    sa.Column("source", sa.Text, nullable=False),  # inspector | records
    sa.Column("text_digest", sa.Text, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("task_id", "source", "at", "text_digest"),
)

inquiry_evidence = sa.Table(
    "inquiry_evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.Integer, sa.ForeignKey("inquiry_tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("stage", sa.Text, nullable=False),  # sent | reply
    sa.Column("file_name", sa.Text, nullable=False),  # inside the evidence directory
    sa.Column("original_name", sa.Text, nullable=False),
    sa.Column("media_type", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("task_id", "stage", "sha256"),
)
# -- end issue 13 inquiry tasks ------------------------------------------------------------------

# -- issue 13: alerts to the units (revision 0005) -------------------------------------------------
# The state of each account and alert rule, so a change is told once (restarts included); the
# account "" holds the monitor's own states (an outage of a probe kind).
alert_state = sa.Table(
    "alert_state",
    metadata,
    sa.Column("account_id", sa.Text, primary_key=True),  # no foreign key: "" is the monitor itself
    sa.Column("rule", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),  # failing | ok
    sa.Column("items", sa.Text, nullable=False),  # JSON list: what fails (column paths, inquiry windows ...)
    sa.Column("reason", sa.Text),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Messages to send, written in the transaction that changes the state: a crash between the change
# and the delivery delays a message, never loses or repeats it. The recipient is a key, never a
# webhook URL (those hold keys); digest messages wait for the day's digest.
alert_outbox = sa.Table(
    "alert_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recipient", sa.Text, nullable=False),
    sa.Column("account_id", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # alert | recovery | storm | outage | outage_over
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("digest", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("error", sa.Text),
    sa.Index(None, "status", "digest"),
    sa.Index(None, "created_at"),
)
# -- end issue 13 alerts ---------------------------------------------------------------------------

# -- issue 13 component (third-party platform): added by revision 0005 ------------------------------
# The latest component_verify_ticket pushed to us, and each unit's authorization of wxmon. The
# ticket and refresh tokens are stored sealed (Fernet; the key is in the environment, never here).
component_tickets = sa.Table(
    "component_tickets",
    metadata,
    sa.Column("component_appid", sa.Text, primary_key=True),
    sa.Column("ticket_sealed", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)

component_authorizations = sa.Table(
    "component_authorizations",
    metadata,
    sa.Column("authorizer_appid", sa.Text, primary_key=True),
    sa.Column("component_appid", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # authorized | revoked
    sa.Column("refresh_token_sealed", sa.Text),  # cleared on revocation
    sa.Column("func_info", sa.Text),  # JSON list of the permission-set ids granted
    sa.Column("authorized_at", UTCDateTime),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("reason", sa.Text),  # Chinese, shown to users when revoked
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
# -- end issue 13 component --------------------------------------------------------------------------

# -- issue 14: console users and audit (revision 0005) --------------------------------------------
# Who may open the web console, and every change made through it (who and when). The password is
# an Argon2 hash (never the password); a disabled user keeps their row so the audit log still names them.
console_users = sa.Table(
    "console_users",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("role", sa.Text, nullable=False),  # supervisor | editor | inspector
    sa.Column("unit", sa.Text),  # an editor's unit (accounts.yaml unit:)
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

console_audit = sa.Table(
    "console_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),  # a user name, or "cli:<os user>"
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text),
    sa.Column("detail", sa.Text),  # JSON text, never a password or a secret
    sa.Index(None, "at"),
)
# -- end issue 14 console users and audit -----------------------------------------------------------

# -- issue 15: content findings and reviews (revision 0005) ----------------------------------------
# What the content check found (candidates), and a person's decision on each: confirmed findings
# count as security incidents, dismissed ones teach the checker (the same text in the same account
# is not raised again). One row per account, source, rule and matched text: a re-scan adds nothing.
content_findings = sa.Table(
    "content_findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.Text, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # article URL or id, menu column
    sa.Column("kind", sa.Text, nullable=False),  # fixed_expression | name_title | wrong_char | sensitive | link_host
    sa.Column("rule_set", sa.Text, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("revision", sa.Text, nullable=False),
    sa.Column("start_offset", sa.Integer, nullable=False),
    sa.Column("end_offset", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("suggestion", sa.Text),
    sa.Column("title", sa.Text),  # the article's title, for the reviewer
    sa.Column("found_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # candidate | confirmed | dismissed
    sa.Column("reviewed_at", UTCDateTime),
    sa.Column("reviewer", sa.Text),
    sa.Column("reason", sa.Text),
    sa.UniqueConstraint("account_id", "source", "rule", "text"),
    sa.Index(None, "status", "found_at"),
    sa.Index(None, "account_id", "text"),
)
# -- end issue 15 content findings and reviews -----------------------------------------------------

ALL_TABLES: tuple[sa.Table, ...] = tuple(metadata.sorted_tables)
