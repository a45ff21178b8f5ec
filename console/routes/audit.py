"""审计日志: the latest changes and sign-ins, for supervisors."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.access import SUPERVISOR
from console.web import render, require, state

SHOWN = 300


async def audit_page(request: Request) -> Response:
    who = await require(request, SUPERVISOR)
    entries = await run_in_threadpool(lambda: state(request).store.audit_log(limit=SHOWN))
    return render(request, "audit.html", title="审计日志", viewer=who, entries=entries)


ROUTES = [Route("/audit", audit_page, methods=["GET"])]
