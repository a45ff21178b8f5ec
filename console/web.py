"""Request helpers: the signed-in viewer, rendering, CSRF-checked forms, the period asked for."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from console.access import Viewer
from console.auth import CSRF_FIELD, csrf_ok, csrf_token
from console.snapshot import default_period
from console.state import ConsoleState
from monitor import clock
from monitor.errors import BadInput
from monitor.period import Period, parse_period

MAX_FORM_FIELDS = 50
MAX_FORM_FILES = 4


def state(request: Request) -> ConsoleState:
    st: ConsoleState = request.app.state.console
    return st


def password_mark(password_hash: str) -> str:
    """Kept in the session: a changed password (or a disabled user) ends the other sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


async def viewer(request: Request) -> Viewer | None:
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    user = await run_in_threadpool(state(request).store.get_user, name)
    if user is None or user.disabled or request.session.get("pw") != password_mark(user.password_hash):
        request.session.clear()
        return None
    return Viewer.of(user)


class LoginRequired(Exception):
    pass


async def require(request: Request, *roles: str) -> Viewer:
    """The signed-in viewer; a login redirect when none; 404 for a role the page is not for."""
    who = await viewer(request)
    if who is None:
        raise LoginRequired()
    if roles and who.role not in roles:
        raise HTTPException(404)
    return who


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    st = state(request)
    context.setdefault("viewer", None)
    page = st.templates.get_template(template).render(
        request=request, csrf_field=CSRF_FIELD, csrf=csrf_token(request.session), local=local_time,
        title=context.pop("title", "政务新媒体监测"), **context)
    return HTMLResponse(page, status_code=status_code)


def local_time(value: object, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Asia/Shanghai wall time of an instant (a naive one is taken as UTC, as the store keeps them)."""
    if not isinstance(value, datetime):
        return "—" if value is None else str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.UTC)
    return clock.to_local(value).strftime(fmt)


async def checked_form(request: Request) -> FormData:
    """The posted form, refused (403) without this session's CSRF token or from another origin."""
    origin = request.headers.get("origin")
    # the host only: behind an HTTPS reverse proxy the browser's scheme is not the one seen here
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "来源不符")
    form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    if not csrf_ok(request.session, form.get(CSRF_FIELD)):
        raise HTTPException(403, "表单已失效，请刷新页面后重试")
    return form


FormHandler = Callable[[Request, FormData], Awaitable[Response]]


def form_endpoint(handler: FormHandler) -> Callable[[Request], Awaitable[Response]]:
    """Every POST route is wrapped in this, so none can forget the CSRF check."""

    async def endpoint(request: Request) -> Response:
        return await handler(request, await checked_form(request))

    endpoint.__name__ = handler.__name__
    endpoint.csrf_checked = True  # type: ignore[attr-defined]
    return endpoint


def period_of(request: Request) -> Period:
    raw = request.query_params.get("period")
    if not raw:
        return default_period(state(request).store)
    try:
        return parse_period(raw[:40])
    except BadInput as exc:
        raise HTTPException(400, exc.problems[0]) from None


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
