"""Test inquiries (one per account and window) and the replies they received."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import UNSET, NotFound, StoreCore, _Unset, aware
from monitor.store.records import (
    INQUIRY_STATES,
    OPEN_INQUIRY_STATES,
    REPLY_KINDS,
    Inquiry,
    InquiryReply,
    InquiryTimes,
    check_choice,
)
from monitor.store.tables import inquiries, inquiry_replies

# The store's meaning of "an inquiry sent at": not yet sent, it counts at its creation.
_SENT_OR_CREATED = sa.func.coalesce(inquiries.c.sent_at, inquiries.c.created_at)


class InquiryStore(StoreCore):
    def create_inquiry(
        self,
        account_id: str,
        window_key: str,
        *,
        channel: str,
        question: str,
        tester: str | None = None,
        deadline_at: datetime | None = None,
        state: str = "scheduled",
        created_at: datetime | None = None,
    ) -> tuple[Inquiry, bool]:
        """Create the inquiry of ``(account_id, window_key)`` unless it exists.

        Returns ``(inquiry, created)``; when the window already has one, that one
        is returned unchanged (``created`` False) and nothing is written.
        """
        check_choice("inquiry state", state, INQUIRY_STATES)
        now = aware("created_at", created_at) if created_at else clock.now()
        stmt = (
            self._dialect.insert(inquiries)
            .values(
                account_id=account_id,
                window_key=window_key,
                channel=channel,
                tester=tester,
                question=question,
                state=state,
                created_at=now,
                deadline_at=deadline_at,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=[inquiries.c.account_id, inquiries.c.window_key])
            .returning(inquiries.c.id)
        )
        with self._write() as conn:
            # RETURNING, not rowcount: drivers disagree on rowcount after DO NOTHING.
            created = conn.execute(stmt).first() is not None
            row = conn.execute(
                sa.select(inquiries).where(inquiries.c.account_id == account_id, inquiries.c.window_key == window_key)
            ).mappings().one()
        return Inquiry(**row), created

    def update_inquiry(
        self,
        inquiry_id: int,
        *,
        state: str | _Unset = UNSET,
        tester: str | _Unset | None = UNSET,
        question: str | _Unset = UNSET,
        sent_at: datetime | _Unset | None = UNSET,
        deadline_at: datetime | _Unset | None = UNSET,
        auto_reply_at: datetime | _Unset | None = UNSET,
        first_reply_at: datetime | _Unset | None = UNSET,
        human_reply_at: datetime | _Unset | None = UNSET,
        latency_minutes: float | _Unset | None = UNSET,
        channel_ref: str | _Unset | None = UNSET,
        error: str | _Unset | None = UNSET,
    ) -> Inquiry:
        """Set the given fields (others untouched); ``updated_at`` becomes now."""
        given = {
            "state": state,
            "tester": tester,
            "question": question,
            "sent_at": sent_at,
            "deadline_at": deadline_at,
            "auto_reply_at": auto_reply_at,
            "first_reply_at": first_reply_at,
            "human_reply_at": human_reply_at,
            "latency_minutes": latency_minutes,
            "channel_ref": channel_ref,
            "error": error,
        }
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not UNSET}
        if "state" in values:
            check_choice("inquiry state", values["state"], INQUIRY_STATES)
        values["updated_at"] = clock.now()
        with self._write() as conn:
            if conn.execute(sa.update(inquiries).where(inquiries.c.id == inquiry_id).values(**values)).rowcount == 0:
                raise NotFound(f"inquiry {inquiry_id} does not exist")
            return self._get_inquiry(conn, inquiry_id)

    def claim_inquiry(self, inquiry_id: int, *, expected_ref: str | None, claim_ref: str) -> Inquiry | None:
        """Set ``channel_ref`` to ``claim_ref`` only if the inquiry is still ``scheduled`` with
        ``expected_ref``: one conditional UPDATE, so of two processes racing exactly one wins, on
        SQLite and on PostgreSQL alike. Returns the claimed inquiry, or None if the race was lost."""
        ref = inquiries.c.channel_ref
        same_ref = ref.is_(None) if expected_ref is None else ref == expected_ref
        with self._write() as conn:
            claimed = conn.execute(
                sa.update(inquiries)
                .where(inquiries.c.id == inquiry_id, inquiries.c.state == "scheduled", same_ref)
                .values(channel_ref=claim_ref, updated_at=clock.now())
            ).rowcount
            return self._get_inquiry(conn, inquiry_id) if claimed else None

    def get_inquiry(self, inquiry_id: int) -> Inquiry:
        with self._read() as conn:
            return self._get_inquiry(conn, inquiry_id)

    def find_inquiry(self, account_id: str, window_key: str) -> Inquiry | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(inquiries).where(inquiries.c.account_id == account_id, inquiries.c.window_key == window_key)
            ).mappings().first()
        return Inquiry(**row) if row else None

    def open_inquiries(
        self, *, states: Sequence[str] = OPEN_INQUIRY_STATES, account_id: str | None = None
    ) -> list[Inquiry]:
        """Inquiries still waiting (by default: scheduled or sent), oldest first."""
        for s in states:
            check_choice("inquiry state", s, INQUIRY_STATES)
        query = sa.select(inquiries).where(inquiries.c.state.in_(list(states))).order_by(inquiries.c.id)
        if account_id is not None:
            query = query.where(inquiries.c.account_id == account_id)
        with self._read() as conn:
            return [Inquiry(**row) for row in conn.execute(query).mappings()]

    def inquiries_between(self, start: datetime, end: datetime, *, account_id: str | None = None) -> list[Inquiry]:
        """Inquiries sent in ``[start, end)`` (not yet sent: by creation time)."""
        when = _SENT_OR_CREATED
        query = (
            sa.select(inquiries)
            .where(when >= start, when < end)
            .order_by(when, inquiries.c.id)
        )
        if account_id is not None:
            query = query.where(inquiries.c.account_id == account_id)
        with self._read() as conn:
            return [Inquiry(**row) for row in conn.execute(query).mappings()]

    def inquiry_times_between(self, start: datetime, end: datetime) -> InquiryTimes:
        """What period metrics need of the inquiries sent in ``[start, end)`` (as
        :meth:`inquiries_between` counts them), column-major and unordered: six
        columns, not full records (at 130,000 inquiries a quarter, records cost seconds)."""
        iq = inquiries.c
        when = _SENT_OR_CREATED
        query = sa.select(iq.account_id, iq.state, iq.sent_at, iq.deadline_at, iq.auto_reply_at,
                          iq.human_reply_at).where(when >= start, when < end)
        with self._read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            return InquiryTimes((), (), (), (), (), ())
        account_id, state, sent_at, deadline_at, auto_reply_at, human_reply_at = zip(*rows)
        return InquiryTimes(account_id, state, sent_at, deadline_at, auto_reply_at, human_reply_at)

    def add_inquiry_reply(self, inquiry_id: int, at: datetime, kind: str, text: str) -> tuple[InquiryReply, bool]:
        """Record a reply the tester received; a reply seen again is a no-op.

        Keeps the inquiry's ``auto_reply_at``, ``human_reply_at`` and
        ``first_reply_at`` at the earliest reply of each kind. The state and
        the latency (working-day rules) are the inquiry probe's to set.
        """
        check_choice("reply kind", kind, REPLY_KINDS)
        at = aware("at", at)
        digest = _digest(text)
        r = inquiry_replies.c
        stmt = (
            self._dialect.insert(inquiry_replies)
            .values(inquiry_id=inquiry_id, at=at, kind=kind, text=text, text_digest=digest)
            .on_conflict_do_nothing(index_elements=[r.inquiry_id, r.at, r.kind, r.text_digest])
            .returning(r.id)
        )
        with self._write() as conn:
            inquiry = self._get_inquiry(conn, inquiry_id)
            created = conn.execute(stmt).first() is not None
            row = conn.execute(
                sa.select(inquiry_replies).where(
                    r.inquiry_id == inquiry_id, r.at == at, r.kind == kind, r.text_digest == digest
                )
            ).mappings().one()
            if created:
                values: dict[str, Any] = {}
                kind_field = "auto_reply_at" if kind == "auto" else "human_reply_at"
                for name in (kind_field, "first_reply_at"):
                    current = getattr(inquiry, name)
                    if current is None or at < current:
                        values[name] = at
                if values:
                    values["updated_at"] = clock.now()
                    conn.execute(sa.update(inquiries).where(inquiries.c.id == inquiry_id).values(**values))
        return _reply(row), created

    def inquiry_replies(self, inquiry_id: int) -> list[InquiryReply]:
        query = (
            sa.select(inquiry_replies)
            .where(inquiry_replies.c.inquiry_id == inquiry_id)
            .order_by(inquiry_replies.c.at, inquiry_replies.c.id)
        )
        with self._read() as conn:
            return [_reply(row) for row in conn.execute(query).mappings()]

    def _get_inquiry(self, conn: sa.Connection, inquiry_id: int) -> Inquiry:
        row = conn.execute(sa.select(inquiries).where(inquiries.c.id == inquiry_id)).mappings().first()
        if row is None:
            raise NotFound(f"inquiry {inquiry_id} does not exist")
        return Inquiry(**row)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _reply(row: sa.RowMapping) -> InquiryReply:
    return InquiryReply(id=row["id"], inquiry_id=row["inquiry_id"], at=row["at"], kind=row["kind"], text=row["text"])
