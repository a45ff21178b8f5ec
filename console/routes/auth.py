"""Signing in and out."""

from __future__ import annotations

import math

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.auth import hash_password, needs_rehash, verify_password
from console.web import form_endpoint, password_mark, redirect, render, state, viewer

MAX_NAME = 64


def _client(request: Request) -> str:
    return "ip:" + (request.client.host if request.client else "?")


async def login_page(request: Request) -> Response:
    if await viewer(request) is not None:
        return redirect("/")
    return render(request, "login.html", title="登录")


async def login(request: Request, form: FormData) -> Response:
    st = state(request)
    name = str(form.get("username") or "").strip()[:MAX_NAME]
    password = str(form.get("password") or "")[:1024]
    keys = ("user:" + name.casefold(), _client(request))
    wait = st.limiter.wait(*keys)
    if wait is not None:
        seconds = math.ceil(wait.total_seconds())
        await run_in_threadpool(st.store.record_audit, name or "?", "login.throttled", name or None,
                                {"client": keys[1], "wait_s": seconds})
        return render(request, "login.html", status_code=429, title="登录", username=name,
                      error=f"密码错误次数过多，请{seconds}秒后再试")
    user = await run_in_threadpool(st.store.get_user, name) if name else None
    ok = await run_in_threadpool(verify_password, user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        st.limiter.failed(*keys)
        await run_in_threadpool(st.store.record_audit, name or "?", "login.failed", name or None,
                                {"client": keys[1]})
        return render(request, "login.html", status_code=401, title="登录", username=name,
                      error="用户名或密码错误")
    st.limiter.succeeded(keys[0])
    password_hash = user.password_hash
    if needs_rehash(password_hash):  # the library's parameters grew stronger since
        password_hash = await run_in_threadpool(hash_password, password)
        await run_in_threadpool(lambda: st.store.set_password_hash(user.name, password_hash, actor=user.name,
                                                                   action="user.rehash"))
    request.session.clear()  # a fresh session (and CSRF token) at every sign-in
    request.session.update({"user": user.name, "pw": password_mark(password_hash)})
    await run_in_threadpool(st.store.record_audit, user.name, "login", user.name, {"client": keys[1]})
    return redirect("/")


async def logout(request: Request, form: FormData) -> Response:
    who = await viewer(request)
    if who is not None:
        await run_in_threadpool(state(request).store.record_audit, who.name, "logout", who.name, None)
    request.session.clear()
    return redirect("/login")


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", form_endpoint(login), methods=["POST"]),
    Route("/logout", form_endpoint(logout), methods=["POST"]),
]
