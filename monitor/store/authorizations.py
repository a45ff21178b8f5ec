"""Third-party-platform state: the latest pushed ticket and each unit's authorization.

Only sealed secrets come in and go out (see :mod:`monitor.wechat.sealed`): this module
never sees a ticket or a refresh token in plain text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from monitor import clock
from monitor.store.core import StoreCore, aware
from monitor.store.tables import component_authorizations, component_tickets

STATUSES = ("authorized", "revoked")


@dataclass(frozen=True)
class Authorization:
    authorizer_appid: str
    component_appid: str
    status: str  # authorized | revoked
    refresh_token_sealed: str | None
    func_info: tuple[int, ...]
    authorized_at: datetime | None
    revoked_at: datetime | None
    reason: str | None
    updated_at: datetime

    def __repr__(self) -> str:  # the sealed token is not a secret, but it is noise in logs
        return (f"Authorization({self.authorizer_appid!r}, status={self.status!r}, "
                f"authorized_at={self.authorized_at!r}, revoked_at={self.revoked_at!r})")


@dataclass(frozen=True)
class StoredTicket:
    ticket_sealed: str
    received_at: datetime


def _func_info(text: str | None) -> tuple[int, ...]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(v for v in value if isinstance(v, int)) if isinstance(value, list) else ()


class AuthorizationStore(StoreCore):
    def put_component_ticket(self, component_appid: str, ticket_sealed: str, received_at: datetime) -> None:
        """Keep the latest ticket (an older push arriving late never replaces a newer one)."""
        received_at = aware("received_at", received_at)
        t = component_tickets.c
        stmt = self._dialect.insert(component_tickets).values(
            component_appid=component_appid, ticket_sealed=ticket_sealed, received_at=received_at)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.component_appid],
            set_={"ticket_sealed": stmt.excluded.ticket_sealed, "received_at": stmt.excluded.received_at},
            where=t.received_at <= stmt.excluded.received_at)
        with self._write() as conn:
            conn.execute(stmt)

    def get_component_ticket(self, component_appid: str) -> StoredTicket | None:
        t = component_tickets.c
        with self._read() as conn:
            row = conn.execute(sa.select(t.ticket_sealed, t.received_at)
                               .where(t.component_appid == component_appid)).first()
        return StoredTicket(row.ticket_sealed, row.received_at) if row else None

    def put_authorization(self, authorizer_appid: str, component_appid: str, refresh_token_sealed: str,
                          func_info: Sequence[int], at: datetime) -> None:
        """The unit authorized (again): status authorized, the new refresh token, no revocation."""
        at = aware("at", at)
        values = {"component_appid": component_appid, "status": "authorized",
                  "refresh_token_sealed": refresh_token_sealed, "func_info": json.dumps(list(func_info)),
                  "authorized_at": at, "revoked_at": None, "reason": None, "updated_at": at}
        stmt = self._dialect.insert(component_authorizations).values(authorizer_appid=authorizer_appid, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[component_authorizations.c.authorizer_appid],
                                          set_={k: stmt.excluded[k] for k in values})
        with self._write() as conn:
            conn.execute(stmt)

    def update_refresh_token(self, authorizer_appid: str, refresh_token_sealed: str) -> None:
        """A refresh answered with a new refresh token (only while still authorized)."""
        a = component_authorizations.c
        with self._write() as conn:
            conn.execute(sa.update(component_authorizations)
                         .where(a.authorizer_appid == authorizer_appid, a.status == "authorized")
                         .values(refresh_token_sealed=refresh_token_sealed, updated_at=clock.now()))

    def revoke_authorization(self, authorizer_appid: str, component_appid: str, at: datetime, reason: str) -> None:
        """The authorization is gone: the refresh token is dropped, the reason kept for users."""
        at = aware("at", at)
        values = {"component_appid": component_appid, "status": "revoked", "refresh_token_sealed": None,
                  "revoked_at": at, "reason": reason, "updated_at": at}
        stmt = self._dialect.insert(component_authorizations).values(authorizer_appid=authorizer_appid,
                                                                     func_info="[]", **values)
        stmt = stmt.on_conflict_do_update(index_elements=[component_authorizations.c.authorizer_appid],
                                          set_={k: stmt.excluded[k] for k in values})
        with self._write() as conn:
            conn.execute(stmt)

    def get_authorization(self, authorizer_appid: str) -> Authorization | None:
        found = self._authorizations(component_authorizations.c.authorizer_appid == authorizer_appid)
        return found[0] if found else None

    def list_authorizations(self, component_appid: str) -> list[Authorization]:
        return self._authorizations(component_authorizations.c.component_appid == component_appid)

    def _authorizations(self, where: sa.ColumnElement[bool]) -> list[Authorization]:
        a = component_authorizations.c
        with self._read() as conn:
            rows = conn.execute(sa.select(component_authorizations).where(where).order_by(a.authorizer_appid))
            return [Authorization(r.authorizer_appid, r.component_appid, r.status, r.refresh_token_sealed,
                                  _func_info(r.func_info), r.authorized_at, r.revoked_at, r.reason, r.updated_at)
                    for r in rows]
