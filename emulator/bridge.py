"""The simulated follower behind the bridge protocol (docs/bridge-openapi.yaml), under /_emu/bridge.

The same follower as /_emu/follower/* (emulator/control.py), spoken exactly as a tester-device
rig must speak it, so the demo and the tests can run inquiries through wxmon's ``bridge``
channel and ``wxmon bridge check`` has a conforming rig to pass against: bearer token, the
idempotency key (a repeated key answers the first result and sends nothing; the same key for
another message is 409), check mode (``X-Wxmon-Check: dry-run``), times with offsets, minute
resolution for the accounts whose scenario says ``follower_clock: minute``.

The token is the environment variable WXMON_EMULATOR_BRIDGE_TOKEN when the emulator starts,
else ``wxmon-emulator`` (the emulator is a test bed: its token protects nothing real).
Accounts are found by appid first, then by id, then by name (a real rig finds them by name).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from emulator.control import BadRequest, handles_bad_requests, parse_instant
from emulator.responses import WORLD, json_response
from emulator.world import AccountState, World
from monitor.clock import to_local

PREFIX = "/_emu/bridge"
TOKEN_ENV = "WXMON_EMULATOR_BRIDGE_TOKEN"
DEFAULT_TOKEN = "wxmon-emulator"
PROTOCOL = "wxmon-bridge/1"
CHECK_HEADER = "X-Wxmon-Check"
MAX_REPLIES = 1000
_LIMITS = {"account": 200, "account_name": 200, "tester": 200, "text": 2000, "key": 200}
_MINUTE = timedelta(minutes=1)


@dataclass
class BridgeState:
    token: str
    # key -> (what was asked, the answer); dry-run keys apart, so a check never uses up a real key
    sent: dict[str, tuple[tuple[str, str, str], dict[str, Any]]] = field(default_factory=dict)
    dry: dict[str, tuple[tuple[str, str, str], dict[str, Any]]] = field(default_factory=dict)
    chats: dict[str, str] = field(default_factory=dict)  # wxmon's account id -> the chat (account) sent to


BRIDGE = web.AppKey("bridge", BridgeState)


def _error(message: str, status: int) -> web.Response:
    return json_response({"error": message}, status=status)


def _authorized(request: web.Request) -> bool:
    given = request.headers.get("Authorization", "")
    expected = f"Bearer {request.app[BRIDGE].token}"
    return hmac.compare_digest(given.encode(), expected.encode())


def _unauthorized() -> web.Response:
    response = _error("missing or wrong bearer token", 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="wxmon-bridge"'
    return response


def _dry_run(request: web.Request) -> bool:
    value = request.headers.get(CHECK_HEADER)
    if value is None:
        return False
    if value != "dry-run":
        raise BadRequest(f"{CHECK_HEADER}: only 'dry-run' is known")
    return True


def _find(world: World, account: str, appid: object, name: object) -> AccountState | None:
    if isinstance(appid, str) and appid in world.by_appid:
        return world.by_appid[appid]
    if account in world.accounts:
        return world.accounts[account]
    return next((a for a in world.accounts.values() if a.cfg.name == name), None)


def _text_field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: a non-empty string is required")
    if len(value) > _LIMITS[name]:
        raise BadRequest(f"{name}: longer than {_LIMITS[name]} characters")
    return value


def _resolution(acct: AccountState) -> str:
    return "minute" if acct.cfg.follower_clock == "minute" else "second"


@handles_bad_requests
async def info(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    return json_response({"protocol": PROTOCOL, "rig": "wxmon emulator", "device": "the emulator's simulated follower",
                          "resolution": "second", "dry_run": True})


@handles_bad_requests
async def send(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    dry = _dry_run(request)
    try:
        data = await request.json()
    except ValueError:
        raise BadRequest("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    account, tester, text, key = (_text_field(data, n) for n in ("account", "tester", "text", "key"))
    _text_field(data, "account_name")
    appid = data.get("appid")
    if appid is not None and not isinstance(appid, str):
        raise BadRequest("appid: a string or null")
    state, world = request.app[BRIDGE], request.app[WORLD]
    book = state.dry if dry else state.sent
    asked = (account, tester, text)
    if key in book:  # the same key: the first answer again, nothing sent
        first_asked, answer = book[key]
        if first_asked != asked:
            return _error("this key was used for another message; nothing was sent", 409)
        return json_response(answer)
    if dry:
        now = to_local(world.now()).isoformat()
        answer = {"ref": f"dry-{len(state.dry) + 1}", "sent_at": now, "resolution": "second", "dry_run": True}
    else:
        acct = _find(world, account, appid, data.get("account_name"))
        if acct is None:
            return _error("the device cannot find this account; nothing was sent", 404)
        state.chats[account] = acct.cfg.id
        sent = world.follower_send(acct.cfg.id, tester, text)
        answer = {"ref": str(sent["msg_id"]), "sent_at": sent["sent_at"], "resolution": _resolution(acct)}
    book[key] = (asked, answer)
    return json_response(answer)


@handles_bad_requests
async def replies(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    dry = _dry_run(request)
    q = request.query
    account, tester = q.get("account") or "", q.get("tester") or ""
    if not account or not tester:
        raise BadRequest("account and tester are required")
    since_text = q.get("since") or ""
    since = parse_instant(since_text, "since")
    if since is None:
        raise BadRequest("since is required")
    if datetime.fromisoformat(since_text.replace(" ", "+")).tzinfo is None:
        raise BadRequest("since: a time with a UTC offset is required")
    if dry:
        return json_response({"replies": [], "resolution": "second"})
    world = request.app[WORLD]
    chat = request.app[BRIDGE].chats.get(account)
    acct = world.accounts[chat] if chat is not None else _find(world, account, None, None)
    if acct is None:
        return _error("the device has no chat with this account", 404)
    minute = acct.cfg.follower_clock == "minute"
    # At minute resolution the protocol lists every reply whose shown minute ends after `since`.
    shown = [(world.shown(acct, r.at), r.text) for r in world.replies(acct.cfg.id, tester, since - _MINUTE)]
    listed = [(at, text) for at, text in shown if (at + _MINUTE if minute else at) > since][:MAX_REPLIES]
    return json_response({"resolution": _resolution(acct),
                          "replies": [{"at": to_local(at).isoformat(), "text": text} for at, text in listed]})


def add_routes(app: web.Application, token: str | None = None) -> None:
    app[BRIDGE] = BridgeState(token or os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN)
    app.router.add_get(f"{PREFIX}/info", info)
    app.router.add_post(f"{PREFIX}/send", send)
    app.router.add_get(f"{PREFIX}/replies", replies)
