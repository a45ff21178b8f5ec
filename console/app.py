"""The console's ASGI app: routes, sessions, security headers and error pages."""

from __future__ import annotations

import ipaddress
import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.auth import session_key
from console.routes import account, audit, auth, downloads, overview, public, review, static, tasks
from console.state import ConsoleState, WeeklyBuilder
from console.web import LoginRequired, redirect, render, viewer
from monitor.config import Config
from monitor.store import Store

log = logging.getLogger("wxmon.console")

SESSION_COOKIE = "wxmon_session"
SESSION_MAX_AGE = 12 * 3600  # a working day; then sign in again
MAX_BODY_BYTES = 60_000_000  # above any upload bound (web.upload_max_bytes <= 50 MB)
_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                 b"font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]

TITLES = {400: "请求有误", 403: "无权操作", 404: "页面不存在", 405: "不支持的请求", 413: "上传文件过大",
          429: "请求过于频繁", 500: "服务器内部错误"}


class _Guard:
    """Security headers on every answer; a request body over the bound is refused (413)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await Response("请求内容过大", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > MAX_BODY_BYTES:
                    raise HTTPException(413)
            return message

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _HEADERS
            await send(message)

        await self.app(scope, bounded, with_headers)


def is_loopback(listen: str) -> bool:
    host = listen.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    who = await viewer(request) if exc.status_code != 403 else None
    message = exc.detail if exc.detail and exc.detail != TITLES.get(exc.status_code) and exc.status_code != 404 \
        else ""
    return render(request, "error.html", status_code=exc.status_code, title=TITLES.get(exc.status_code, "出错了"),
                  viewer=who, message=message, code=exc.status_code, headers=None)


async def _login_required(request: Request, exc: Exception) -> Response:
    return redirect("/login")


def create_app(config: Config, store: Store, *, weekly: WeeklyBuilder | None = None, key: str | None = None,
               secure_cookie: bool | None = None) -> Starlette:
    """The console over ``store`` for ``config``. ``key`` signs the session cookies (default:
    :func:`console.auth.session_key`); the cookie is Secure unless the console listens on loopback
    (``web.secure_cookie`` overrides)."""
    if secure_cookie is None:
        secure_cookie = config.web.secure_cookie
    if secure_cookie is None:
        secure_cookie = not is_loopback(config.web.listen)
    st = ConsoleState(config=config, store=store, session_key=key or session_key(config),
                      secure_cookie=secure_cookie, weekly=weekly)
    routes = [*static.ROUTES, *auth.ROUTES, *overview.ROUTES, *account.ROUTES, *downloads.ROUTES,
              *public.ROUTES, *tasks.ROUTES, *audit.ROUTES, *review.ROUTES]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(_Guard),
            Middleware(SessionMiddleware, secret_key=st.session_key, session_cookie=SESSION_COOKIE,
                       max_age=SESSION_MAX_AGE, same_site="lax", https_only=secure_cookie),
        ],
        exception_handlers={HTTPException: _http_error, LoginRequired: _login_required},
    )
    app.state.console = st
    return app
