"""Alerts to the units: the state of each account and rule, and the messages to send.

A state change and the messages it causes are written in one transaction
(:meth:`AlertStore.apply_alert_changes`), so a restart neither repeats a message
nor loses one: what is not yet delivered waits in ``alert_outbox``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore, aware, chunks
from monitor.store.records import check_choice
from monitor.store.tables import alert_outbox, alert_state

ALERT_STATES = ("failing", "ok")
OUTBOX_KINDS = ("alert", "recovery", "storm", "outage", "outage_over")
OUTBOX_STATUSES = ("pending", "sent", "failed")
MONITOR_ACCOUNT = ""  # the account id of the monitor's own states


@dataclass(frozen=True, slots=True)
class AlertState:
    account_id: str
    rule: str
    state: str  # failing | ok
    items: tuple[str, ...]  # what fails: column paths, inquiry windows, article sources ...
    reason: str | None
    since: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to queue for one recipient (a key, never a URL)."""

    recipient: str
    account_id: str
    rule: str
    kind: str
    subject: str
    body: str
    digest: bool = False


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    recipient: str
    account_id: str
    rule: str
    kind: str
    subject: str
    body: str
    digest: bool
    created_at: datetime
    status: str
    attempts: int
    sent_at: datetime | None
    error: str | None


class AlertStore(StoreCore):
    def alert_states(self, rules: Iterable[str] | None = None) -> dict[tuple[str, str], AlertState]:
        """The known states by ``(account_id, rule)`` (of ``rules`` only, if given)."""
        query = sa.select(alert_state)
        if rules is not None:
            query = query.where(alert_state.c.rule.in_(list(rules)))
        with self._read() as conn:
            return {(r["account_id"], r["rule"]): _state(r) for r in conn.execute(query).mappings()}

    def apply_alert_changes(self, states: Sequence[AlertState], messages: Sequence[NewMessage],
                            *, at: datetime | None = None) -> list[int]:
        """Write new states and queue their messages, all in one transaction. Returns the message ids."""
        now = aware("at", at) if at is not None else clock.now()
        for s in states:
            check_choice("alert state", s.state, ALERT_STATES)
        for m in messages:
            check_choice("alert message kind", m.kind, OUTBOX_KINDS)
        t = alert_state.c
        ids: list[int] = []
        with self._write() as conn:
            if states:
                stmt = self._dialect.insert(alert_state)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[t.account_id, t.rule],
                    set_={c: stmt.excluded[c] for c in ("state", "items", "reason", "since", "updated_at")},
                )
                conn.execute(stmt, [
                    {"account_id": s.account_id, "rule": s.rule, "state": s.state,
                     "items": json.dumps(list(s.items), ensure_ascii=False), "reason": s.reason,
                     "since": aware("since", s.since), "updated_at": aware("updated_at", s.updated_at)}
                    for s in states])
            for m in messages:
                row = conn.execute(
                    sa.insert(alert_outbox).values(
                        recipient=m.recipient, account_id=m.account_id, rule=m.rule, kind=m.kind, subject=m.subject,
                        body=m.body, digest=m.digest, created_at=now, status="pending", attempts=0,
                    ).returning(alert_outbox.c.id)
                ).scalar_one()
                ids.append(int(row))
        return ids

    def pending_alert_messages(self, *, digest: bool, before: datetime | None = None) -> list[OutboxMessage]:
        """Messages not yet delivered (immediate or digest ones), oldest first; created before ``before``."""
        o = alert_outbox.c
        query = sa.select(alert_outbox).where(o.status == "pending", o.digest == digest).order_by(o.created_at, o.id)
        if before is not None:
            query = query.where(o.created_at < aware("before", before))
        with self._read() as conn:
            return [_message(r) for r in conn.execute(query).mappings()]

    def alert_messages(self, *, account_id: str | None = None, recipient: str | None = None) -> list[OutboxMessage]:
        """Every queued message (any status), oldest first."""
        o = alert_outbox.c
        query = sa.select(alert_outbox).order_by(o.created_at, o.id)
        if account_id is not None:
            query = query.where(o.account_id == account_id)
        if recipient is not None:
            query = query.where(o.recipient == recipient)
        with self._read() as conn:
            return [_message(r) for r in conn.execute(query).mappings()]

    def mark_alert_messages(self, ids: Sequence[int], *, sent: bool, error: str | None = None,
                            max_attempts: int = 1, at: datetime | None = None) -> None:
        """Record a delivery: sent, or one more failed attempt (``failed`` after ``max_attempts``)."""
        now = aware("at", at) if at is not None else clock.now()
        o = alert_outbox.c
        with self._write() as conn:
            for chunk in chunks(list(ids)):
                if sent:
                    conn.execute(sa.update(alert_outbox).where(o.id.in_(chunk), o.status == "pending").values(
                        status="sent", sent_at=now, attempts=o.attempts + 1, error=None))
                else:
                    conn.execute(sa.update(alert_outbox).where(o.id.in_(chunk), o.status == "pending").values(
                        attempts=o.attempts + 1, error=error,
                        status=sa.case((o.attempts + 1 >= max_attempts, "failed"), else_="pending")))


def _state(row: sa.RowMapping) -> AlertState:
    items: Any = json.loads(row["items"]) if row["items"] else []
    return AlertState(row["account_id"], row["rule"], row["state"],
                      tuple(str(i) for i in items) if isinstance(items, list) else (),
                      row["reason"], row["since"], row["updated_at"])


def _message(row: sa.RowMapping) -> OutboxMessage:
    return OutboxMessage(row["id"], row["recipient"], row["account_id"], row["rule"], row["kind"], row["subject"],
                         row["body"], bool(row["digest"]), row["created_at"], row["status"], row["attempts"],
                         row["sent_at"], row["error"])
