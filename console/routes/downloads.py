"""下载: the CSV/XLSX and the bulletin draft of any period, the charts of any week.

Made on request in memory by the reports' own code (dashboards.export, dashboards.bulletin, the
weekly report the application hands in); an editor gets their unit's rows only, and the documents
about every unit (bulletin, charts) are the supervisors'.
"""

from __future__ import annotations

import base64
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.access import EDITOR, SUPERVISOR, Viewer
from console.web import period_of, render, require, state
from dashboards.bulletin import render_bulletin
from dashboards.export import Headers, csv_bytes, xlsx_bytes
from monitor.errors import BadInput
from monitor.period import Period, iso_weeks, parse_period, parse_week
from monitor.scoring import metrics_table

MEDIA = {"csv": "text/csv; charset=utf-8",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "md": "text/markdown; charset=utf-8"}


def _attachment(data: bytes, filename: str, kind: str) -> Response:
    return Response(data, media_type=MEDIA[kind], headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Cache-Control": "no-store"})


def _period_param(request: Request) -> Period:
    try:
        return parse_period(request.path_params["period"][:40])
    except BadInput as exc:
        raise HTTPException(404, exc.problems[0]) from None


def _unit_asked(request: Request, who: Viewer) -> str | None:
    """The unit whose rows are wanted: an editor's own (asking for another is a 404)."""
    unit = request.query_params.get("unit") or None
    if who.role == EDITOR:
        if unit is not None and unit != who.unit:
            raise HTTPException(404)
        return who.unit
    return unit


async def downloads_page(request: Request) -> Response:
    who = await require(request, SUPERVISOR, EDITOR)
    period = period_of(request)
    weeks = iso_weeks(period) if who.sees_district else []
    return render(request, "downloads.html", title=f"下载 · {period.label_zh}", viewer=who, period=period,
                  weeks=weeks, units=who.units(state(request).config))


async def export(request: Request) -> Response:
    who = await require(request, SUPERVISOR, EDITOR)
    st = state(request)
    period = _period_param(request)
    kind = request.path_params["kind"]
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404)
    unit = _unit_asked(request, who)
    if unit is not None and unit not in who.units(st.config):
        raise HTTPException(404)
    headers: Headers = "en" if request.query_params.get("headers") == "en" else "zh"

    def make() -> bytes:
        table = metrics_table(st.store, st.config, period)
        if unit is not None:
            table = table[table["unit"] == unit]
        return csv_bytes(table, headers) if kind == "csv" else xlsx_bytes(table, headers)

    data = await run_in_threadpool(make)
    await run_in_threadpool(st.store.record_audit, who.name, "download.export", period.key,
                            {"format": kind, "unit": unit})
    suffix = f"-{unit}" if unit else ""
    return _attachment(data, f"wxmon-{period.key}{suffix}.{kind}", kind)


async def bulletin(request: Request) -> Response:
    who = await require(request, SUPERVISOR)
    st = state(request)
    period = _period_param(request)

    def make() -> bytes:
        table = metrics_table(st.store, st.config, period)
        return render_bulletin(table, period, policy=st.config.selected_policy).encode("utf-8")

    data = await run_in_threadpool(make)
    await run_in_threadpool(st.store.record_audit, who.name, "download.bulletin", period.key, None)
    return _attachment(data, f"bulletin-{period.key}.md", "md")


async def week_charts(request: Request) -> Response:
    who = await require(request, SUPERVISOR)
    st = state(request)
    try:
        week = parse_week(request.path_params["week"][:20])
    except BadInput as exc:
        raise HTTPException(404, exc.problems[0]) from None
    if st.weekly is None:
        raise HTTPException(404)
    builder = st.weekly
    report = await run_in_threadpool(lambda: builder(st.config, st.store, week.key))
    images = [(cid, base64.b64encode(png).decode("ascii")) for cid, png in report.pngs]
    return render(request, "week.html", title=f"周报图表 · {week.key}", viewer=who, week=week, report=report,
                  images=images)


async def week_csv(request: Request) -> Response:
    await require(request, SUPERVISOR)
    st = state(request)
    try:
        week = parse_week(request.path_params["week"][:20])
    except BadInput as exc:
        raise HTTPException(404, exc.problems[0]) from None
    if st.weekly is None:
        raise HTTPException(404)
    builder = st.weekly
    report = await run_in_threadpool(lambda: builder(st.config, st.store, week.key))
    return _attachment(report.csv_bytes, report.csv_filename, "csv")


ROUTES = [
    Route("/downloads", downloads_page, methods=["GET"]),
    Route("/downloads/{period}/export.{kind:str}", export, methods=["GET"]),
    Route("/downloads/{period}/bulletin.md", bulletin, methods=["GET"]),
    Route("/weeks/{week}", week_charts, methods=["GET"]),
    Route("/weeks/{week}/table.csv", week_csv, methods=["GET"]),
]
