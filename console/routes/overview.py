"""总览: the period's 合格率, its trend by week and quarter, accounts by category, changes since yesterday."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from console.access import EDITOR, INSPECTOR, SUPERVISOR, Viewer
from console.snapshot import Change, Rate, Snapshot, changes, only, rate_of
from console.web import period_of, redirect, render, require, state, viewer
from monitor.scoring import FAIL, PASS


@dataclass(frozen=True)
class AccountLine:
    account_id: str
    name: str
    unit: str
    verdict: str
    reasons: str


@dataclass(frozen=True)
class CategoryBlock:
    name: str
    rate: Rate
    accounts: list[AccountLine]


@dataclass(frozen=True)
class TrendPoint:
    key: str
    label: str
    rate: Rate


@dataclass(frozen=True)
class Overview:
    snapshot: Snapshot
    rate: Rate
    weeks: list[TrendPoint]
    quarters: list[TrendPoint]
    categories: list[CategoryBlock]
    changes: list[Change]
    failed: int
    unknown: int


_ORDER = {FAIL: 0, PASS: 2}


def overview_of(snapshot: Snapshot, ids: list[str] | None) -> Overview:
    """The overview for the accounts ``ids`` (None: all), from a kept snapshot: no measuring here."""
    table = only(snapshot.table, ids)
    weeks = [TrendPoint(w.key, w.key.split("-")[-1], rate_of(only(f, ids))) for w, f in snapshot.weeks]
    quarters = [TrendPoint(q.key, q.key, rate_of(only(f, ids))) for q, f in snapshot.quarters]
    categories = []
    columns = [table[c].tolist() for c in ("account_id", "account_name", "unit", "category", "verdict", "reasons")]
    by_category: dict[str, list[AccountLine]] = {}
    for account_id, name, unit, category, verdict, reasons in zip(*columns):
        by_category.setdefault(str(category or "其他"), []).append(
            AccountLine(str(account_id), str(name), str(unit or ""), str(verdict), "" if pd.isna(reasons) else
                        str(reasons)))
    for category, lines in by_category.items():
        lines.sort(key=lambda a: (_ORDER.get(a.verdict, 1), a.account_id))
        part = table[table["category"].fillna("其他").astype(str) == category]
        categories.append(CategoryBlock(category, rate_of(part), lines))
    verdicts = table["verdict"]
    return Overview(snapshot, rate_of(table), weeks, quarters, categories, changes(snapshot, ids),
                    int((verdicts == FAIL).sum()), int((~verdicts.isin([PASS, FAIL])).sum()))


def visible_ids(request: Request, who: Viewer) -> list[str] | None:
    return None if who.sees_district else who.account_ids(state(request).config)


async def home(request: Request) -> Response:
    who = await viewer(request)
    if who is None:
        return redirect("/login")
    if who.role == INSPECTOR:
        return redirect("/tasks")
    period = period_of(request)
    snapshot = await state(request).cache.get(period)
    view = overview_of(snapshot, visible_ids(request, who))
    return render(request, "overview.html", title=f"总览 · {period.label_zh}", viewer=who, period=period, view=view,
                  refreshing=state(request).cache.refreshing(period.key), poll_ms=state(request).poll_ms)


async def stamp(request: Request) -> Response:
    """Polled by the overview page: it reloads when the data it shows has changed."""
    await require(request, SUPERVISOR, EDITOR)
    period = period_of(request)
    snapshot = await state(request).cache.get(period)  # also starts a recomputation when the store moved
    return JSONResponse({"stamp": snapshot.stamp}, headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/", home, methods=["GET"]),
    Route("/api/stamp", stamp, methods=["GET"]),
]
