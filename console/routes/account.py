"""One account: its verdict and reasons, columns and their history, inquiries, freshness and its
sources, privacy findings (masked as stored), evidence kept and alerts sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pandas as pd
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console import labels
from console.access import EDITOR, SUPERVISOR
from console.state import ConsoleState
from console.web import period_of, render, require, state
from monitor import clock
from monitor.config import Account
from monitor.period import Period
from monitor.store import ColumnEvent, ColumnState, ContentItem, Inquiry, PrivacyFinding
from monitor.store.alerts import OutboxMessage
from monitor.store.tasks import Evidence, InquiryTask

HISTORY_LIMIT = 300


@dataclass
class AccountPage:
    account: Account
    row: dict[str, Any]
    columns: list[ColumnState]
    history: list[ColumnEvent]
    inquiries: list[Inquiry]
    content: list[ContentItem]
    days: list[tuple[date, list[str]]]  # each day of the period: the sources that saw a publication
    findings: list[PrivacyFinding]
    tasks: list[InquiryTask] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    alerts: list[OutboxMessage] = field(default_factory=list)


def load_account(st: ConsoleState, account: Account, period: Period, row: dict[str, Any]) -> AccountPage:
    store = st.store
    content = store.content_between(period.start, period.end, account_id=account.id)
    by_day: dict[date, set[str]] = {}
    for item in content:
        if item.published_at is not None:
            by_day.setdefault(clock.to_local(item.published_at).date(), set()).add(item.source)
    today = clock.to_local(clock.now()).date()
    days = [(d, sorted(by_day.get(d, ()))) for d in
            (period.first_day + timedelta(days=i) for i in range(period.days)) if d <= today]
    tasks = [t.task for t in store.tasks(account_id=account.id)]
    evidence = [e for t in tasks for e in store.task_evidence(t.id)]
    return AccountPage(
        account=account, row=row, columns=store.get_column_states(account.id),
        history=store.column_history(account.id, limit=HISTORY_LIMIT),
        inquiries=store.inquiries_between(period.start, period.end, account_id=account.id),
        content=content, days=days,
        findings=store.privacy_findings_between(period.start, period.end, account_id=account.id),
        tasks=tasks, evidence=evidence, alerts=store.alert_messages(account_id=account.id))


def _row(table: pd.DataFrame, account_id: str) -> dict[str, Any]:
    rows = table[table["account_id"] == account_id].to_dict("records")
    return {k: (None if _missing(v) else v) for k, v in rows[0].items()} if rows else {}


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


async def account_page(request: Request) -> Response:
    who = await require(request, SUPERVISOR, EDITOR)
    st = state(request)
    account_id = request.path_params["account_id"]
    account = next((a for a in st.config.accounts if a.id == account_id), None)
    if account is None or not who.may_see_unit(account.unit):
        raise HTTPException(404)  # another unit's account is as absent as a wrong id
    period = period_of(request)
    snapshot = await st.cache.get(period)
    page = await run_in_threadpool(load_account, st, account, period, _row(snapshot.table, account_id))
    return render(request, "account.html", title=account.name, viewer=who, period=period, page=page,
                  labels=labels, label=labels.label)


ROUTES = [Route("/accounts/{account_id}", account_page, methods=["GET"])]
