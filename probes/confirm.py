"""The confirmation rule for columns: N consecutive failures spanning M minutes.

One small state machine, the only place that decides when a failing column
becomes broken. A round the monitor could not judge (its own network down, the
canary failing) is ``error``; a page it could not see (a verification page, a
host held off) is ``unverifiable``: neither counts as a failure nor resets the
count, so a broken column behind an occasional verification page is still
confirmed, and a recovery is only ever seen on an ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Outcome = Literal["ok", "fail", "unverifiable", "error"]
Status = Literal["ok", "failing", "broken", "unverifiable", "error"]


@dataclass(frozen=True)
class ConfirmRule:
    failures: int = 3
    minutes: float = 60.0


@dataclass(frozen=True)
class ColumnTrack:
    status: Status = "ok"
    consecutive_failures: int = 0
    first_failure_at: datetime | None = None


_OK = ColumnTrack("ok")
_UNVERIFIABLE = ColumnTrack("unverifiable")
# Outcomes whose next state depends on the column's history; for the others advance()
# ignores the track, so callers may skip looking it up (80,000 columns a round). An
# ``unverifiable`` page keeps the history too, but a column that is never verifiable (a mini
# program) has none to keep: callers look it up only for columns that have pages.
NEEDS_HISTORY = frozenset({"fail", "error"})


def advance(track: ColumnTrack | None, outcome: Outcome, at: datetime, rule: ConfirmRule) -> ColumnTrack:
    if outcome == "ok":
        return _OK
    if outcome == "unverifiable":
        return replace(track, status="unverifiable") if track and track.consecutive_failures else _UNVERIFIABLE
    track = track or ColumnTrack()
    if outcome == "error":
        return replace(track, status="error")
    failures = track.consecutive_failures + 1
    # The span starts at the first failure of the run. A history of failures without that time
    # (a row written by hand or by an older version) starts it at this failure, the earliest one
    # whose time is known: the true span is at least as long, so a column is never confirmed
    # sooner than the rule says (at worst M minutes later).
    first = (track.first_failure_at if track.consecutive_failures else None) or at
    confirmed = failures >= rule.failures and at - first >= timedelta(minutes=rule.minutes)
    return ColumnTrack("broken" if confirmed else "failing", failures, first)
