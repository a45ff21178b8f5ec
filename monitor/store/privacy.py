"""Privacy findings: personal numbers found in published text, kept masked only."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore, aware
from monitor.store.records import PrivacyFinding
from monitor.store.tables import privacy_findings

# A masked number never shows this many digits in a row (separators ignored).
_FULL_NUMBER = re.compile(r"\d{11,}")


class PrivacyStore(StoreCore):
    def add_privacy_findings(self, findings: Iterable[PrivacyFinding]) -> list[PrivacyFinding]:
        """Record findings (masked text only); one already known is a no-op.

        Returns the new ones. Refuses a ``masked`` that still shows a full number.
        """
        now = clock.now()
        batch = list(findings)
        for f in batch:
            _check_masked(f)
        new: list[PrivacyFinding] = []
        p = privacy_findings.c
        stmt = (
            self._dialect.insert(privacy_findings)
            .on_conflict_do_nothing(index_elements=[p.account_id, p.source, p.type, p.start_offset])
            .returning(p.id)
        )
        with self._write() as conn:
            for f in batch:  # findings are few; per-row rowcount says which are new
                found_at = aware("found_at", f.found_at) if f.found_at else now
                row = {"account_id": f.account_id, "source": f.source, "type": f.type, "start_offset": f.start,
                       "end_offset": f.end, "masked": f.masked, "found_at": found_at}
                if conn.execute(stmt, row).first() is not None:
                    new.append(PrivacyFinding(f.account_id, f.source, f.type, f.start, f.end, f.masked, found_at))
        return new

    def privacy_findings_between(
        self, start: datetime, end: datetime, *, account_id: str | None = None
    ) -> list[PrivacyFinding]:
        """Findings first found in ``[start, end)``."""
        p = privacy_findings.c
        query = sa.select(privacy_findings).where(p.found_at >= start, p.found_at < end).order_by(p.found_at, p.id)
        if account_id is not None:
            query = query.where(p.account_id == account_id)
        with self._read() as conn:
            return [
                PrivacyFinding(r["account_id"], r["source"], r["type"], r["start_offset"], r["end_offset"],
                               r["masked"], r["found_at"])
                for r in conn.execute(query).mappings()
            ]


def _check_masked(finding: PrivacyFinding) -> None:
    compact = re.sub(r"[\s\-]", "", finding.masked)
    if _FULL_NUMBER.search(compact):
        raise ValueError(
            f"privacy finding in {finding.source!r} at {finding.start}: the masked text still shows a full "
            "number; mask it before it reaches the store"
        )
