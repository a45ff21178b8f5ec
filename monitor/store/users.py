"""Console users and the audit log (issue 14), and the column history the console shows.

A user row holds an Argon2 hash, never a password; hashing and checking are the console's
(``console/auth.py``): the store only keeps what it is given. Every change made through the
console or ``wxmon user`` is appended to ``console_audit`` in the same transaction as the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import NotFound, StoreCore
from monitor.store.records import ColumnEvent, check_choice
from monitor.store.tables import column_events, console_audit, console_users

ROLES = ("supervisor", "editor", "inspector")
MAX_AUDIT_DETAIL = 4000  # characters of JSON kept per entry


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    name: str
    role: str
    unit: str | None
    password_hash: str
    disabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]


class UserExists(ValueError):
    """A user of that name is already in the store."""


class UserStore(StoreCore):
    def add_user(self, name: str, *, role: str, unit: str | None, password_hash: str, actor: str) -> ConsoleUser:
        """Create a user; :class:`UserExists` if the name is taken (disabled users included)."""
        check_choice("role", role, ROLES)
        now = clock.now()
        with self._write() as conn:
            if conn.execute(sa.select(console_users.c.name).where(console_users.c.name == name)).first():
                raise UserExists(name)
            conn.execute(console_users.insert().values(
                name=name, role=role, unit=unit, password_hash=password_hash, disabled=False,
                created_at=now, updated_at=now))
            self._audit(conn, actor, "user.add", name, {"role": role, "unit": unit})
            return self._user(conn, name)

    def set_password_hash(self, name: str, password_hash: str, *, actor: str, action: str = "user.passwd") -> None:
        """Replace a user's hash (``action`` names why: a new password, or a rehash at login)."""
        self._update_user(name, actor, action, password_hash=password_hash)

    def disable_user(self, name: str, *, actor: str) -> None:
        self._update_user(name, actor, "user.disable", disabled=True)

    def get_user(self, name: str) -> ConsoleUser | None:
        with self._read() as conn:
            row = conn.execute(sa.select(console_users).where(console_users.c.name == name)).mappings().first()
        return ConsoleUser(**row) if row is not None else None

    def users(self) -> list[ConsoleUser]:
        with self._read() as conn:
            rows = conn.execute(sa.select(console_users).order_by(console_users.c.name)).mappings()
            return [ConsoleUser(**row) for row in rows]

    def record_audit(self, actor: str, action: str, target: str | None = None,
                     detail: dict[str, Any] | None = None) -> None:
        with self._write() as conn:
            self._audit(conn, actor, action, target, detail)

    def audit_log(self, *, limit: int = 200, actor: str | None = None) -> list[AuditEntry]:
        """The newest entries first."""
        a = console_audit.c
        query = sa.select(console_audit).order_by(a.at.desc(), a.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(a.actor == actor)
        with self._read() as conn:
            return [AuditEntry(id=r["id"], at=r["at"], actor=r["actor"], action=r["action"], target=r["target"],
                               detail=json.loads(r["detail"]) if r["detail"] else {})
                    for r in conn.execute(query).mappings()]

    def column_history(self, account_id: str, *, limit: int = 500) -> list[ColumnEvent]:
        """The account's column status changes, newest first (at most ``limit``)."""
        e = column_events.c
        query = (sa.select(column_events).where(e.account_id == account_id)
                 .order_by(e.at.desc(), e.id.desc()).limit(limit))
        with self._read() as conn:
            return [ColumnEvent(account_id=r["account_id"], column_path=r["column_path"], at=r["at"],
                                old_status=r["old_status"], new_status=r["new_status"], reason=r["reason"],
                                http_status=r["http_status"], run_id=r["run_id"])
                    for r in conn.execute(query).mappings()]

    # -- internals ---------------------------------------------------------------------------------

    def _update_user(self, name: str, actor: str, action: str, **values: Any) -> None:
        with self._write() as conn:
            done = conn.execute(console_users.update().where(console_users.c.name == name)
                                .values(updated_at=clock.now(), **values))
            if done.rowcount == 0:
                raise NotFound(f"no console user {name!r}")
            self._audit(conn, actor, action, name, None)

    def _user(self, conn: sa.Connection, name: str) -> ConsoleUser:
        row = conn.execute(sa.select(console_users).where(console_users.c.name == name)).mappings().one()
        return ConsoleUser(**row)

    def _audit(self, conn: sa.Connection, actor: str, action: str, target: str | None,
               detail: dict[str, Any] | None) -> None:
        text = json.dumps(detail, ensure_ascii=False, default=str)[:MAX_AUDIT_DETAIL] if detail else None
        conn.execute(console_audit.insert().values(at=clock.now(), actor=actor, action=action, target=target,
                                                   detail=text))
