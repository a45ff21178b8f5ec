"""Content findings (issue 15): candidates of the content check and a person's review of each.

A finding is a ``candidate`` until a person ``confirmed`` or ``dismissed`` it, with a reason.
Only confirmed findings count (metrics: security incidents). A dismissal teaches the checker:
a later hit of the same text in the same account is not stored again, and the account's other
open candidates of that text are dismissed with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import NotFound, StoreCore, aware
from monitor.store.tables import content_findings

ReviewStatus = Literal["candidate", "confirmed", "dismissed"]
REVIEW_STATUSES: tuple[str, ...] = ("candidate", "confirmed", "dismissed")
MAX_TEXT = 2000  # a matched text or context longer than this is cut: the rows are for people to read


@dataclass(frozen=True, slots=True)
class ContentFinding:
    account_id: str
    source: str
    kind: str
    rule_set: str
    rule: str
    revision: str
    start: int
    end: int
    text: str
    context: str
    suggestion: str | None = None
    title: str | None = None
    found_at: datetime | None = None  # set by the store when None
    status: ReviewStatus = "candidate"
    id: int | None = None
    reviewed_at: datetime | None = None
    reviewer: str | None = None
    reason: str | None = None


class ContentFindingStore(StoreCore):
    def add_content_findings(self, findings: Iterable[ContentFinding]) -> list[ContentFinding]:
        """Record candidates; returns the new ones. A finding already stored (same account, source,
        rule and text) is a no-op, and so is one whose text was dismissed in the same account."""
        now = clock.now()
        batch = list(findings)
        if not batch:
            return []
        c = content_findings.c
        stmt = (
            self._dialect.insert(content_findings)
            .on_conflict_do_nothing(index_elements=[c.account_id, c.source, c.rule, c.text])
            .returning(c.id)
        )
        new: list[ContentFinding] = []
        with self._write() as conn:
            accounts = sorted({f.account_id for f in batch})
            dismissed = {(r.account_id, r.text) for r in conn.execute(
                sa.select(c.account_id, c.text).where(c.status == "dismissed", c.account_id.in_(accounts)))}
            for f in batch:
                text = f.text[:MAX_TEXT]
                if (f.account_id, text) in dismissed:
                    continue
                found_at = aware("found_at", f.found_at) if f.found_at else now
                row = {"account_id": f.account_id, "source": f.source[:MAX_TEXT], "kind": f.kind,
                       "rule_set": f.rule_set, "rule": f.rule[:MAX_TEXT], "revision": f.revision,
                       "start_offset": f.start, "end_offset": f.end, "text": text,
                       "context": f.context[:MAX_TEXT], "suggestion": f.suggestion, "title": f.title,
                       "found_at": found_at, "status": "candidate"}
                got = conn.execute(stmt, row).first()
                if got is not None:
                    new.append(replace(f, id=int(got[0]), text=text, found_at=found_at, status="candidate"))
        return new

    def content_findings(self, *, status: str | None = None, account_id: str | None = None,
                         start: datetime | None = None, end: datetime | None = None) -> list[ContentFinding]:
        """Findings by status and account, first found in ``[start, end)`` when given; oldest first."""
        c = content_findings.c
        query = sa.select(content_findings).order_by(c.found_at, c.id)
        if status is not None:
            query = query.where(c.status == status)
        if account_id is not None:
            query = query.where(c.account_id == account_id)
        if start is not None:
            query = query.where(c.found_at >= start)
        if end is not None:
            query = query.where(c.found_at < end)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query).mappings()]

    def latest_content_findings(self, *, status: str | None = None, decided: bool = False,
                                limit: int = 100) -> list[ContentFinding]:
        """The newest findings first (the review page): ``decided`` lists reviewed ones by when they
        were decided, otherwise by when they were found; ``status`` narrows either."""
        c = content_findings.c
        if decided:
            query = sa.select(content_findings).where(c.reviewed_at.is_not(None)).order_by(
                c.reviewed_at.desc(), c.id.desc())
        else:
            query = sa.select(content_findings).order_by(c.found_at.desc(), c.id.desc())
        if status is not None:
            query = query.where(c.status == status)
        with self._read() as conn:
            return [_record(r) for r in conn.execute(query.limit(limit)).mappings()]

    def count_content_findings(self, status: str) -> int:
        c = content_findings.c
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).where(c.status == status)).scalar_one())

    def content_review_stamp(self) -> str:
        """Moves whenever a decision is taken or changed (verdicts depend on the confirmed findings)."""
        c = content_findings.c
        confirmed = sa.func.sum(sa.case((c.status == "confirmed", 1), else_=0))
        with self._read() as conn:
            row = conn.execute(sa.select(sa.func.count(c.reviewed_at), confirmed,
                                         sa.func.max(c.reviewed_at))).one()
        return f"{row[0]}:{row[1] or 0}:{row[2] or ''}"

    def content_finding(self, finding_id: int) -> ContentFinding:
        c = content_findings.c
        with self._read() as conn:
            row = conn.execute(sa.select(content_findings).where(c.id == finding_id)).mappings().first()
        if row is None:
            raise NotFound(f"content finding {finding_id}")
        return _record(row)

    def review_content_finding(self, finding_id: int, status: Literal["confirmed", "dismissed"], *,
                               reviewer: str, reason: str, at: datetime | None = None) -> list[ContentFinding]:
        """A person's decision on one finding (a later decision replaces an earlier one).

        Dismissing also dismisses the account's other open candidates of the same text.
        Returns every finding changed, the one asked for first. Raises NotFound.
        """
        if status not in ("confirmed", "dismissed"):
            raise ValueError(f"not a review decision: {status!r}")
        when = aware("at", at) if at is not None else clock.now()
        c = content_findings.c
        with self._write() as conn:
            row = conn.execute(sa.select(content_findings).where(c.id == finding_id)).mappings().first()
            if row is None:
                raise NotFound(f"content finding {finding_id}")
            values = {"status": status, "reviewed_at": when, "reviewer": reviewer, "reason": reason}
            conn.execute(sa.update(content_findings).where(c.id == finding_id).values(**values))
            ids = [finding_id]
            if status == "dismissed":
                same = [r.id for r in conn.execute(sa.select(c.id).where(
                    c.account_id == row["account_id"], c.text == row["text"], c.status == "candidate",
                    c.id != finding_id))]
                if same:
                    conn.execute(sa.update(content_findings).where(c.id.in_(same)).values(
                        status="dismissed", reviewed_at=when, reviewer=reviewer,
                        reason=f"同一账号同一文本已于第{finding_id}条排除：{reason}"))
                    ids.extend(same)
            rows = {r["id"]: _record(r) for r in conn.execute(
                sa.select(content_findings).where(c.id.in_(ids))).mappings()}
        return [rows[i] for i in ids]


def _record(r: sa.RowMapping) -> ContentFinding:
    status = r["status"]
    if status not in REVIEW_STATUSES:
        status = "candidate"
    return ContentFinding(
        r["account_id"], r["source"], r["kind"], r["rule_set"], r["rule"], r["revision"], r["start_offset"],
        r["end_offset"], r["text"], r["context"], r["suggestion"], r["title"], r["found_at"], status, r["id"],
        r["reviewed_at"], r["reviewer"], r["reason"])
