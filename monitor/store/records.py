"""Plain records the store takes and returns (frozen dataclasses, aware UTC datetimes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

RUN_KINDS = ("columns", "inquiry", "freshness", "privacy", "all")
RUN_STATUSES = ("running", "ok", "partial", "error")
COLUMN_STATUSES = ("ok", "failing", "broken", "unverifiable", "error")
INQUIRY_STATES = ("scheduled", "sent", "answered", "late", "unanswered", "error")
# Still waiting for something to happen (sending, a reply, the deadline).
OPEN_INQUIRY_STATES = ("scheduled", "sent")
REPLY_KINDS = ("auto", "human")
CONTENT_SOURCES = ("freepublish", "material", "page", "datacube", "feed")
REPORT_STATUSES = ("sent", "failed")
# What the monitor looks at, per account: the probe kinds and the follower conversations.
COVERAGE_KINDS = ("columns", "inquiry", "freshness", "privacy", "conversations")


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(choices)}; got {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    unit: str | None = None
    category: str | None = None
    updated_at: datetime | None = None  # set by the store


@dataclass(frozen=True, slots=True)
class ProbeRun:
    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    accounts_total: int
    accounts_error: int
    detail: dict[str, Any] | None


@dataclass(slots=True)  # not frozen: 80,000 are made a round, and a frozen init costs 3x (bench_columns)
class ColumnResult:
    """One check of one column, after the confirmation state machine ran.

    ``status`` is the machine's verdict (``failing`` = failed, not yet
    confirmed; ``broken`` = confirmed). ``consecutive_failures`` and
    ``first_failure_at`` are the machine's counters, persisted as given so the
    next round can continue from them.
    """

    account_id: str
    column_path: str
    status: str
    checked_at: datetime
    type: str | None = None
    target: str | None = None
    reason: str | None = None
    http_status: int | None = None
    elapsed_ms: float | None = None
    consecutive_failures: int = 0
    first_failure_at: datetime | None = None
    healthy_landing: str | None = None  # set on a healthy page check: its final URL (None keeps the stored one)


@dataclass(frozen=True, slots=True)
class ColumnState:
    id: int
    account_id: str
    column_path: str
    type: str | None
    target: str | None
    status: str
    consecutive_failures: int
    first_failure_at: datetime | None
    last_checked_at: datetime
    last_change_at: datetime
    reason: str | None
    http_status: int | None
    elapsed_ms: float | None
    healthy_landing: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnEvent:
    """A status change (``old_status`` None: the first time the column was seen)."""

    account_id: str
    column_path: str
    at: datetime
    old_status: str | None
    new_status: str
    reason: str | None
    http_status: int | None
    run_id: int | None = None


@dataclass(frozen=True, slots=True)
class ColumnDaily:
    """Checks of one column on one Asia/Shanghai day, counted by status."""

    day: date
    account_id: str
    column_path: str
    checks: int
    ok: int
    failing: int
    broken: int
    unverifiable: int
    error: int
    max_elapsed_ms: int | None


@dataclass(frozen=True, slots=True)
class ColumnTotals:
    """``column_daily`` summed over a range of days for one column."""

    account_id: str
    column_path: str
    days: int
    checks: int
    ok: int
    failing: int
    broken: int
    unverifiable: int
    error: int
    broken_days: int  # days with at least one confirmed-broken check
    max_elapsed_ms: int | None


@dataclass(frozen=True, slots=True)
class Inquiry:
    id: int
    account_id: str
    window_key: str
    channel: str
    tester: str | None
    question: str
    state: str
    created_at: datetime
    sent_at: datetime | None
    deadline_at: datetime | None
    auto_reply_at: datetime | None
    first_reply_at: datetime | None
    human_reply_at: datetime | None
    latency_minutes: float | None
    channel_ref: str | None
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class InquiryReply:
    id: int
    inquiry_id: int
    at: datetime
    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class ContentItem:
    account_id: str
    source: str
    item_id: str
    title: str | None = None
    url: str | None = None
    published_at: datetime | None = None
    first_seen_at: datetime | None = None  # set by the store when None


@dataclass(frozen=True, slots=True)
class PrivacyFinding:
    account_id: str
    source: str
    type: str
    start: int
    end: int
    masked: str
    found_at: datetime | None = None  # set by the store when None


@dataclass(frozen=True, slots=True)
class FollowerDay:
    account_id: str
    day: date
    messages: int
    answered: int
    median_reply_minutes: float | None
    p90_reply_minutes: float | None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReportSent:
    kind: str
    period_key: str
    recipient: str
    status: str
    sent_at: datetime | None
    error: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: int
    changes: list[ColumnEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoreHealth:
    backend: str
    url: str  # password hidden
    schema_version: str | None
    head_version: str
    row_counts: dict[str, int]
    integrity: str | None  # SQLite integrity_check result ("ok"), None elsewhere
    file_bytes: int | None  # SQLite main file
    wal_bytes: int | None  # SQLite write-ahead log

    @property
    def ok(self) -> bool:
        return self.schema_version == self.head_version and self.integrity in (None, "ok")


# Reads for period metrics. Per-item results come column-major (one tuple per field,
# one entry per item): 130,000 inquiries a quarter as records cost seconds; as
# columns they go straight into a DataFrame.


@dataclass(frozen=True, slots=True)
class InquiryTimes:
    """The inquiries sent in a period (column-major): what their outcome depends on."""

    account_id: tuple[str, ...]
    state: tuple[str, ...]
    sent_at: tuple[datetime | None, ...]
    deadline_at: tuple[datetime | None, ...]
    auto_reply_at: tuple[datetime | None, ...]
    human_reply_at: tuple[datetime | None, ...]


@dataclass(frozen=True, slots=True)
class PublicationSpan:
    """One account's publications in a period, in seconds since the Unix epoch."""

    account_id: str
    first_s: float  # the first publication
    last_s: float  # the last one
    max_gap_s: float | None  # the widest gap between two consecutive ones (None: only one)


@dataclass(frozen=True, slots=True)
class FollowerTotals:
    """One account's follower-conversation counts summed over a range of days."""

    account_id: str
    messages: int
    answered: int


@dataclass(frozen=True, slots=True)
class FollowerMedians:
    """Days with answered messages and a median reply time (column-major)."""

    account_id: tuple[str, ...]
    answered: tuple[int, ...]
    median_reply_minutes: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CoverageTotals:
    """How one account was looked at by one kind of probe over a range of Shanghai days."""

    account_id: str
    days_ok: int  # days with at least one successful look
    days_failed: int  # days with looks, none of them successful (the monitor's trouble)
    last_ok_at: datetime | None  # the last successful look in the range
