"""The emulator's own control routes under /_emu/ (clock, faults, followers, truth, canary)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from emulator.responses import WORLD, json_response
from emulator.scenario import Fault
from monitor.clock import VirtualClock, as_utc, to_local


class BadRequest(Exception):
    pass


def _bad(message: str, status: int = 400) -> web.Response:
    return json_response({"error": message}, status=status)


def parse_instant(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return as_utc(datetime.fromisoformat(value.replace(" ", "+")))
    except ValueError:
        raise BadRequest(f"{name}: not an ISO date-time: {value!r}") from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handles_bad_requests(handler: Route) -> Route:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except BadRequest as exc:
            return _bad(str(exc))

    return wrapped


@handles_bad_requests
async def get_clock(request: web.Request) -> web.Response:
    clock = request.app[WORLD].clock
    return json_response({"now": to_local(clock.now()).isoformat(), "virtual": isinstance(clock, VirtualClock)})


@handles_bad_requests
async def post_clock(request: web.Request) -> web.Response:
    clock = request.app[WORLD].clock
    if not isinstance(clock, VirtualClock):
        return _bad("the emulator runs on real time; start it with a virtual clock to move time", 409)
    data = await _body(request)
    if "set" in data:
        when = parse_instant(str(data["set"]), "set")
        assert when is not None
        clock.set(when)
    elif "advance_seconds" in data:
        try:
            seconds = float(data["advance_seconds"])
        except (TypeError, ValueError):
            raise BadRequest("advance_seconds must be a number") from None
        clock.advance(timedelta(seconds=seconds))
    else:
        raise BadRequest('expected {"set": ISO} or {"advance_seconds": N}')
    return json_response({"now": to_local(clock.now()).isoformat(), "virtual": True})


async def list_faults(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    return json_response({"faults": [f.as_dict() for faults in world.faults.values() for f in faults]})


@handles_bad_requests
async def add_fault(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    try:
        spec = Fault.model_validate(await _body(request))
    except ValidationError as exc:
        raise BadRequest("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    if spec.account not in world.accounts:
        raise BadRequest(f"unknown account {spec.account!r}")
    return json_response(world.add_fault(spec).as_dict())


async def clear_faults(request: web.Request) -> web.Response:
    removed = request.app[WORLD].clear_faults(request.query.get("account"))
    return json_response({"removed": removed})


@handles_bad_requests
async def follower_send(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    data = await _body(request)
    account, text, tester = data.get("account"), data.get("text"), data.get("tester") or "tester"
    if account not in world.accounts:
        return _bad(f"unknown account {account!r}", 404)
    if not isinstance(text, str) or not text:
        raise BadRequest("text is required")
    return json_response(world.follower_send(account, str(tester), text))


@handles_bad_requests
async def follower_replies(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    q = request.query
    account = q.get("account")
    if account not in world.accounts:
        return _bad(f"unknown account {account!r}", 404)
    since = parse_instant(q.get("since"), "since")
    replies = world.replies(account, q.get("tester") or "tester", since)
    acct = world.accounts[account]
    return json_response({"resolution": acct.cfg.follower_clock,
                          "replies": [{"at": to_local(world.shown(acct, r.at)).isoformat(), "kind": r.kind,
                                       "text": r.text} for r in replies]})


@handles_bad_requests
async def truth(request: web.Request) -> web.Response:
    world = request.app[WORLD]
    end = parse_instant(request.query.get("to"), "to") or world.now()
    start = (parse_instant(request.query.get("from"), "from") or world.scenario.clock.start
             or end - timedelta(days=92))
    if start > end:
        raise BadRequest("from is after to")
    return json_response(world.truth(start, end, f"{request.scheme}://{request.host}"))


async def canary(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_emu/clock", get_clock)
    app.router.add_post("/_emu/clock", post_clock)
    app.router.add_get("/_emu/faults", list_faults)
    app.router.add_post("/_emu/faults", add_fault)
    app.router.add_delete("/_emu/faults", clear_faults)
    app.router.add_post("/_emu/follower/send", follower_send)
    app.router.add_get("/_emu/follower/replies", follower_replies)
    app.router.add_get("/_emu/truth", truth)
    app.router.add_get("/_emu/canary", canary)
