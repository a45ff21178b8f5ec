"""Inspectors' inquiry tasks (``manual`` accounts): the task, what the inspector recorded,
what the account's customer-service records confirmed, and the screenshots kept as evidence.

The store keeps both sides as they were given: a time the inspector typed (to the minute)
and a time from the records (to the second) are separate columns and separate reply rows
(``source``), never merged here. Which one counts is the manual channel's rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import UNSET, NotFound, StoreCore, _Unset, aware
from monitor.store.records import check_choice
from monitor.store.tables import inquiries, inquiry_evidence, inquiry_task_replies, inquiry_tasks

REPLY_SOURCES = ("inspector", "records")
EVIDENCE_STAGES = ("sent", "reply")
CLOSED_BY = ("inspector", "records")


@dataclass(frozen=True, slots=True)
class InquiryTask:
    id: int
    key: str
    inquiry_id: int | None
    account_id: str
    tester: str
    question: str
    issued_at: datetime
    send_by: datetime
    inspector: str | None
    inspector_email: str | None
    mailed_at: datetime | None
    sent_at: datetime | None
    sent_recorded_at: datetime | None
    records_sent_at: datetime | None
    records_follower: str | None
    closed_at: datetime | None
    closed_by: str | None
    note: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class TaskReply:
    id: int
    task_id: int
    at: datetime
    text: str
    auto: bool
    source: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Evidence:
    id: int
    task_id: int
    stage: str
    file_name: str
    original_name: str
    media_type: str
    size: int
    sha256: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class TaskWithState:
    """A task with its inquiry's state (None: no inquiry row, e.g. imported from an old file)."""

    task: InquiryTask
    inquiry_state: str | None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class TaskStore(StoreCore):
    def add_task(self, key: str, account_id: str, *, tester: str, question: str, issued_at: datetime,
                 send_by: datetime, inquiry_id: int | None = None, inspector: str | None = None,
                 inspector_email: str | None = None) -> tuple[InquiryTask, bool]:
        """Issue the task ``key`` unless it exists (then it is returned unchanged, ``created`` False)."""
        now = clock.now()
        t = inquiry_tasks.c
        stmt = (
            self._dialect.insert(inquiry_tasks)
            .values(key=key, inquiry_id=inquiry_id, account_id=account_id, tester=tester, question=question,
                    issued_at=aware("issued_at", issued_at), send_by=aware("send_by", send_by), inspector=inspector,
                    inspector_email=inspector_email, updated_at=now)
            .on_conflict_do_nothing(index_elements=[t.key])
            .returning(t.id)
        )
        with self._write() as conn:
            created = conn.execute(stmt).first() is not None
            row = conn.execute(sa.select(inquiry_tasks).where(t.key == key)).mappings().one()
        return InquiryTask(**row), created

    def update_task(self, task_id: int, *, mailed_at: datetime | _Unset | None = UNSET,
                    sent_at: datetime | _Unset | None = UNSET, sent_recorded_at: datetime | _Unset | None = UNSET,
                    records_sent_at: datetime | _Unset | None = UNSET, records_follower: str | _Unset | None = UNSET,
                    closed_at: datetime | _Unset | None = UNSET, closed_by: str | _Unset | None = UNSET,
                    note: str | _Unset | None = UNSET) -> InquiryTask:
        """Set the given fields (others untouched)."""
        given: dict[str, Any] = {"mailed_at": mailed_at, "sent_at": sent_at, "sent_recorded_at": sent_recorded_at,
                                 "records_sent_at": records_sent_at, "records_follower": records_follower,
                                 "closed_at": closed_at, "closed_by": closed_by, "note": note}
        values = {k: v for k, v in given.items() if v is not UNSET}
        if values.get("closed_by") is not None:
            check_choice("closed_by", values["closed_by"], CLOSED_BY)
        for k, v in values.items():
            if isinstance(v, datetime):
                values[k] = aware(k, v)
        values["updated_at"] = clock.now()
        with self._write() as conn:
            if conn.execute(sa.update(inquiry_tasks).where(inquiry_tasks.c.id == task_id)
                            .values(**values)).rowcount == 0:
                raise NotFound(f"task {task_id} does not exist")
            return self._get_task(conn, task_id)

    def get_task(self, task_id: int) -> InquiryTask:
        with self._read() as conn:
            return self._get_task(conn, task_id)

    def task_by_key(self, key: str) -> InquiryTask | None:
        with self._read() as conn:
            row = conn.execute(sa.select(inquiry_tasks).where(inquiry_tasks.c.key == key)).mappings().first()
        return InquiryTask(**row) if row else None

    def tasks(self, *, account_id: str | None = None, tester: str | None = None, open_only: bool = False,
              ids: Sequence[int] | None = None) -> list[TaskWithState]:
        """Tasks oldest first, with their inquiry's state. ``open_only``: still waiting for the
        inspector: not closed by the records, and the inquiry still scheduled or sent (a task
        without an inquiry row: until closed)."""
        t = inquiry_tasks.c
        query = (sa.select(inquiry_tasks, inquiries.c.state.label("inquiry_state"))
                 .select_from(inquiry_tasks.outerjoin(inquiries, inquiries.c.id == t.inquiry_id))
                 .order_by(t.issued_at, t.id))
        if account_id is not None:
            query = query.where(t.account_id == account_id)
        if tester is not None:
            query = query.where(t.tester == tester)
        if ids is not None:
            query = query.where(t.id.in_(list(ids)))
        if open_only:
            query = query.where(t.closed_at.is_(None),
                                sa.or_(inquiries.c.state.is_(None), inquiries.c.state.in_(["scheduled", "sent"])))
        with self._read() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for row in rows:
            fields = dict(row)
            state = fields.pop("inquiry_state")
            out.append(TaskWithState(InquiryTask(**fields), state))
        return out

    def tasks_to_mail(self) -> list[InquiryTask]:
        """Tasks with an inspector's address not mailed yet, oldest first."""
        t = inquiry_tasks.c
        query = (sa.select(inquiry_tasks).where(t.mailed_at.is_(None), t.inspector_email.is_not(None),
                                                t.closed_at.is_(None)).order_by(t.id))
        with self._read() as conn:
            return [InquiryTask(**row) for row in conn.execute(query).mappings()]

    def add_task_reply(self, task_id: int, at: datetime, text: str, *, auto: bool = False,
                       source: str = "inspector", recorded_at: datetime | None = None) -> tuple[TaskReply, bool]:
        """Record a reply (the same reply from the same source again is a no-op)."""
        check_choice("reply source", source, REPLY_SOURCES)
        at = aware("at", at)
        digest = _digest(text)
        r = inquiry_task_replies.c
        stmt = (
            self._dialect.insert(inquiry_task_replies)
            .values(task_id=task_id, at=at, text=text, auto=auto, source=source, text_digest=digest,
                    recorded_at=aware("recorded_at", recorded_at) if recorded_at else clock.now())
            .on_conflict_do_nothing(index_elements=[r.task_id, r.source, r.at, r.text_digest])
            .returning(r.id)
        )
        with self._write() as conn:
            self._get_task(conn, task_id)
            created = conn.execute(stmt).first() is not None
            row = conn.execute(sa.select(inquiry_task_replies).where(
                r.task_id == task_id, r.source == source, r.at == at, r.text_digest == digest)).mappings().one()
        return _reply(row), created

    def task_replies(self, task_ids: Sequence[int]) -> list[TaskReply]:
        """The replies recorded for these tasks, by time."""
        if not task_ids:
            return []
        r = inquiry_task_replies.c
        query = sa.select(inquiry_task_replies).where(r.task_id.in_(list(task_ids))).order_by(r.at, r.id)
        with self._read() as conn:
            return [_reply(row) for row in conn.execute(query).mappings()]

    def add_evidence(self, task_id: int, *, stage: str, file_name: str, original_name: str, media_type: str,
                     size: int, sha256: str, recorded_at: datetime | None = None) -> tuple[Evidence, bool]:
        """Record a kept screenshot (the same file for the same stage again is a no-op)."""
        check_choice("evidence stage", stage, EVIDENCE_STAGES)
        e = inquiry_evidence.c
        stmt = (
            self._dialect.insert(inquiry_evidence)
            .values(task_id=task_id, stage=stage, file_name=file_name, original_name=original_name,
                    media_type=media_type, size=size, sha256=sha256,
                    recorded_at=aware("recorded_at", recorded_at) if recorded_at else clock.now())
            .on_conflict_do_nothing(index_elements=[e.task_id, e.stage, e.sha256])
            .returning(e.id)
        )
        with self._write() as conn:
            self._get_task(conn, task_id)
            created = conn.execute(stmt).first() is not None
            row = conn.execute(sa.select(inquiry_evidence).where(
                e.task_id == task_id, e.stage == stage, e.sha256 == sha256)).mappings().one()
        return Evidence(**row), created

    def task_evidence(self, task_id: int) -> list[Evidence]:
        e = inquiry_evidence.c
        with self._read() as conn:
            return [Evidence(**row) for row in conn.execute(
                sa.select(inquiry_evidence).where(e.task_id == task_id).order_by(e.id)).mappings()]

    def _get_task(self, conn: sa.Connection, task_id: int) -> InquiryTask:
        row = conn.execute(sa.select(inquiry_tasks).where(inquiry_tasks.c.id == task_id)).mappings().first()
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        return InquiryTask(**row)


def _reply(row: sa.RowMapping) -> TaskReply:
    return TaskReply(id=row["id"], task_id=row["task_id"], at=row["at"], text=row["text"], auto=bool(row["auto"]),
                     source=row["source"], recorded_at=row["recorded_at"])
