"""wxmon's store: the only code that knows tables.

    from monitor.store import Store, ColumnResult
    store = Store.open("sqlite:////var/lib/wxmon/wxmon.db")

Records in and out are frozen dataclasses; datetimes are aware UTC. The
store is one class written in parts (see ``store.py``); what SQLite and
PostgreSQL do differently lives in ``dialect.py``, ``sqlite.py`` and ``postgres.py``.
"""

from monitor.store.records import (
    COLUMN_STATUSES,
    CONTENT_SOURCES,
    COVERAGE_KINDS,
    INQUIRY_STATES,
    OPEN_INQUIRY_STATES,
    REPLY_KINDS,
    REPORT_STATUSES,
    RUN_KINDS,
    RUN_STATUSES,
    Account,
    ApplyOutcome,
    ColumnDaily,
    ColumnEvent,
    ColumnResult,
    ColumnState,
    ColumnTotals,
    ContentItem,
    CoverageTotals,
    FollowerDay,
    FollowerMedians,
    FollowerTotals,
    Inquiry,
    InquiryReply,
    InquiryTimes,
    PrivacyFinding,
    ProbeRun,
    PublicationSpan,
    ReportSent,
    StoreHealth,
)
from monitor.store.store import UNSET, NotFound, Store, StoreUnavailable

__all__ = [
    "COLUMN_STATUSES",
    "CONTENT_SOURCES",
    "COVERAGE_KINDS",
    "INQUIRY_STATES",
    "OPEN_INQUIRY_STATES",
    "REPLY_KINDS",
    "REPORT_STATUSES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "UNSET",
    "Account",
    "ApplyOutcome",
    "ColumnDaily",
    "ColumnEvent",
    "ColumnResult",
    "ColumnState",
    "ColumnTotals",
    "ContentItem",
    "CoverageTotals",
    "FollowerDay",
    "FollowerMedians",
    "FollowerTotals",
    "Inquiry",
    "InquiryReply",
    "InquiryTimes",
    "NotFound",
    "PrivacyFinding",
    "ProbeRun",
    "PublicationSpan",
    "ReportSent",
    "Store",
    "StoreHealth",
    "StoreUnavailable",
]
