"""Answers shared by the API and page routes: JSON, errors, and the ways a server misbehaves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from emulator.world import ApiError, FaultState, World

WORLD = web.AppKey("world", World)

BUSY_HTML = "<html><head><title>系统繁忙</title></head><body><h1>系统繁忙，请稍后再试</h1></body></html>"
ERROR_500_HTML = ("<html><head><title>500 Internal Server Error</title></head>"
                  "<body><h1>500 Internal Server Error</h1></body></html>")


def json_response(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data, ensure_ascii=False).encode(), status=status,
                        content_type="application/json", charset="utf-8")


def error_response(exc: ApiError) -> web.Response:
    return json_response({"errcode": exc.code, "errmsg": exc.msg})


def html_response(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection without an answer (the returned response is never written)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


async def fault_response(request: web.Request, fault: FaultState) -> web.StreamResponse | None:
    """The answer a fault gives instead of the real one; None: go on (after ``slow``'s delay)."""
    kind = fault.spec.kind
    if kind == "slow":
        await asyncio.sleep(fault.spec.delay_s)
        return None
    if kind == "reset":
        return drop_connection(request)
    if kind == "nonjson":
        return html_response(BUSY_HTML)
    if kind == "http500":
        return html_response(ERROR_500_HTML, status=500)
    if kind == "ip":
        ip = request.remote or "127.0.0.1"
        return error_response(ApiError(40164, f"invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist"))
    code = {"busy": -1, "quota": 45009, "token": 40001, "unauthorized": 48001}[kind]
    return error_response(ApiError(code))
