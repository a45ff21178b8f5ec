"""Helpers for the metrics and scoring tests: small real stores written through
the store's API and accounts.yaml files in tmp_path (no tests here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from monitor.clock import SHANGHAI, UTC
from monitor.config import Config, load_config
from monitor.store import Account, ColumnResult, ContentItem, FollowerDay, PrivacyFinding, Store

# Inspection check instant used by most tests: after the 2023 National Day
# holiday, when every Q3 deadline has passed except the very last ones.
NOW = datetime(2023, 10, 9, 9, 0, tzinfo=SHANGHAI)


def sh(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI).astimezone(UTC)


def write_config(tmp_path: Path, ids: Sequence[str], *, policy: str = "demo-default",
                 policies: str = "", name: str = "accounts.yaml") -> Config:
    """An accounts.yaml with ``ids`` (api: false, one declared column: no env needed)."""
    lines = ["store: sqlite:///wxmon.db", f"policy: {policy}"]
    if policies:
        lines.append(policies.rstrip("\n"))
    lines.append("accounts:")
    for i, acct in enumerate(ids):
        lines += [
            f"  - id: {acct}",
            f"    name: 账号{acct}",
            f"    unit: 单位{acct}",
            f"    category: {'乡镇街道' if i % 2 == 0 else '政府部门'}",
            "    api: false",
            "    columns: [{path: 首页, type: click}]",
        ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


class World:
    """Writes observations into a store through its API."""

    def __init__(self, store: Store, ids: Iterable[str]) -> None:
        self.store = store
        self._n = 0
        store.upsert_accounts(Account(a, f"账号{a}", f"单位{a}", "政府部门") for a in ids)

    def inquiry(self, account: str, sent: datetime | None, *, state: str, human: datetime | None = None,
                auto: datetime | None = None, created: datetime | None = None) -> None:
        self._n += 1
        inquiry, _ = self.store.create_inquiry(account, f"w{self._n}", channel="emulator", question="请问？",
                                               state="scheduled", created_at=created or sent)
        replies = [t for t in (human, auto) if t is not None]
        self.store.update_inquiry(inquiry.id, state=state, sent_at=sent, human_reply_at=human, auto_reply_at=auto,
                                  first_reply_at=min(replies) if replies else None)

    def checks(self, account: str, path: str, *checks: tuple[str, datetime]) -> None:
        self.store.apply_column_results(ColumnResult(account, path, status, at, type="click")
                                        for status, at in checks)

    def publish(self, account: str, *times: datetime, source: str = "feed") -> None:
        """Articles seen by ``source`` (default the account's feed, which sees 群发 and 发表 alike)."""
        self._n += 1
        self.store.upsert_content_items(
            ContentItem(account, source, f"{account}-{self._n}-{i}", title="动态", published_at=t,
                        first_seen_at=t) for i, t in enumerate(times))

    def watched(self, accounts: Sequence[str], first: date, last: date, *, kind: str = "freshness",
                failed: Sequence[str] = ()) -> None:
        """A successful look of ``kind`` at each account every day at 08:00 Shanghai, ``first`` to
        ``last`` inclusive (``failed``: accounts whose looks failed)."""
        for n in range((last - first).days + 1):
            day = first + timedelta(days=n)
            self.store.record_looks(kind, sh(day.year, day.month, day.day, 8), [a for a in accounts
                                                                               if a not in failed], failed)

    def findings(self, account: str, *found: tuple[str, datetime], source: str = "a1") -> None:
        self.store.add_privacy_findings(
            PrivacyFinding(account, f"https://mp.weixin.qq.com/s/{account}-{source}", kind, 100 * i, 100 * i + 18,
                           "110101********1234" if kind == "id_card" else "138****5678", at)
            for i, (kind, at) in enumerate(found))

    def follower(self, account: str, day: date, messages: int, answered: int, median: float | None) -> None:
        self.store.upsert_follower_days([FollowerDay(account, day, messages, answered, median, None)])
