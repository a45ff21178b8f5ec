"""The API helper process: calls made there answer exactly as inline calls do, over real HTTP.

The parent keeps tokens and quotas; errors come back typed; a dead helper is an
inline fallback, never a wrong verdict.
"""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import datetime, timedelta

import pytest

from emulator.scenario import load_scenario
from monitor.clock import SHANGHAI, VirtualClock
from monitor.config import load_config
from monitor.context import ProbeContext
from monitor.store import Store
from monitor.wechat import QuotaBook
from monitor.wechat import answers as A
from monitor.wechat import errors as E
from monitor.wechat.remote import RemoteAPI, RemoteUnavailable
from wxmon.runner import run_probe

try:
    from test_wechat_client import FAST_RETRY, RequestCounter, fault, make_api
except ImportError:  # tests/ became a package
    from tests.test_wechat_client import FAST_RETRY, RequestCounter, fault, make_api

SELFMENU = "cgi-bin/get_current_selfmenu_info"
TOKEN = "cgi-bin/stable_token"


async def started(api) -> RemoteAPI:
    return await RemoteAPI(api).start()


def test_helper_answers_as_inline_calls_and_hands_its_tokens_to_the_parent(emulator):
    accounts = emulator.scenario.accounts[:5]
    local = RequestCounter()  # requests the parent itself makes

    async def go():
        async with make_api(emulator, local) as api:
            remote = await started(api)
            try:
                clients = [api.account(a.appid, a.secret) for a in accounts]
                via_helper = await asyncio.gather(*(remote.call(c, "GET", SELFMENU) for c in clients))
                assert remote.calls == {TOKEN: len(accounts), SELFMENU: len(accounts)}
                assert local.paths == []  # all of it in the helper
                # The tokens the helper fetched are the parent's now: inline calls fetch none.
                inline = [await c.get_current_selfmenu_info() for c in clients]
                assert local.count("/" + TOKEN) == 0 and local.count("/" + SELFMENU) == len(accounts)
                # ...and a cached token goes to the helper: it fetches none either.
                await remote.call(clients[0], "GET", SELFMENU)
                assert remote.calls[TOKEN] == len(accounts)
                # By the parent's clock (the emulator's virtual one): kept until near expiry, then refetched.
                emulator.clock.advance(timedelta(seconds=6000))
                await remote.call(clients[0], "GET", SELFMENU)
                assert remote.calls[TOKEN] == len(accounts)
                emulator.clock.advance(timedelta(seconds=1000))
                await remote.call(clients[0], "GET", SELFMENU)
                assert remote.calls[TOKEN] == len(accounts) + 1
                return via_helper, inline
            finally:
                await remote.aclose()
                assert remote._proc is None

    via_helper, inline = asyncio.run(go())
    # The helper passes raw answers on; the inline method checks them (keeping the declared fields).
    assert [A.check(A.SelfMenu, m) for m in via_helper] == inline
    assert all(m["selfmenu_info"]["button"] for m in inline)


@pytest.mark.parametrize(
    ("kind", "endpoint", "error", "requests"),
    [
        ("unauthorized", SELFMENU, E.NotAuthorized, 1),
        ("ip", TOKEN, E.IPNotWhitelisted, 0),
        ("nonjson", SELFMENU, E.BadResponse, FAST_RETRY.attempts),
        ("http500", SELFMENU, E.BadResponse, FAST_RETRY.attempts),
        ("reset", SELFMENU, E.NetworkError, FAST_RETRY.attempts),
        ("busy", SELFMENU, E.Busy, FAST_RETRY.attempts),
        ("token", SELFMENU, E.TokenInvalid, 2),  # refetched once, never looped
    ],
)
def test_failures_come_back_as_the_same_typed_errors(emulator, kind, endpoint, error, requests):
    acct = emulator.scenario.accounts[0]
    fault(emulator, account=acct.id, endpoint=endpoint, kind=kind)

    async def go():
        async with make_api(emulator) as api:
            remote = await started(api)
            try:
                client = api.account(acct.appid, acct.secret)
                with pytest.raises(E.WeChatError) as info:
                    await remote.call(client, "GET", SELFMENU)
                if kind == "token":
                    assert api.tokens.get(acct.appid, api.now()) is None  # the refused token is dropped
                return info.value, remote.calls[SELFMENU]
            finally:
                await remote.aclose()

    exc, made = asyncio.run(go())
    assert type(exc) is error
    assert exc.blames == error.blames and exc.endpoint == (TOKEN if kind == "ip" else SELFMENU)
    assert made == requests
    assert acct.secret not in str(exc)


def test_quota_spent_in_the_helper_counts_in_the_parents_book(emulator):
    acct = emulator.scenario.accounts[0]
    emulator.clock.set(datetime(2023, 7, 3, 10, 0, tzinfo=SHANGHAI))
    batchget = "cgi-bin/freepublish/batchget"

    async def go():
        budgets = QuotaBook(budgets={batchget: 2}, clock=emulator.clock)
        async with make_api(emulator, quotas=budgets) as api:
            remote = await started(api)
            try:
                client = api.account(acct.appid, acct.secret)
                body = {"offset": 0, "count": 1, "no_content": 1}
                await remote.call(client, "POST", batchget, body=body)
                assert budgets.used_today(acct.appid, batchget) == 1
                await client.freepublish_batchget()
                with pytest.raises(E.QuotaExhausted):  # refused in the parent: no request at all
                    await remote.call(client, "POST", batchget, body=body)
                assert remote.calls[batchget] == 1
                # The platform's 45009 seen by the helper stops calls until Shanghai midnight.
                fault(emulator, account=acct.id, endpoint="cgi-bin/get_current_selfmenu_info", kind="quota")
                with pytest.raises(E.QuotaExhausted):
                    await remote.call(client, "GET", SELFMENU)
                assert budgets.blocked_until(acct.appid, SELFMENU) == datetime(2023, 7, 4, tzinfo=SHANGHAI)
                with pytest.raises(E.QuotaExhausted):
                    await remote.call(client, "GET", SELFMENU)
                assert remote.calls[SELFMENU] == 1
            finally:
                await remote.aclose()

    asyncio.run(go())


def test_a_helper_that_dies_fails_its_calls_as_unavailable_not_as_the_accounts_fault(emulator):
    acct = emulator.scenario.accounts[0]
    fault(emulator, account=acct.id, endpoint=SELFMENU, kind="slow", delay_s=5)

    async def go():
        async with make_api(emulator, timeout=10) as api:
            remote = await started(api)
            try:
                pending = remote.submit(api.account(acct.appid, acct.secret), "GET", SELFMENU)
                await asyncio.sleep(0.3)  # the helper is inside the 5 s call (or, if slow, not yet at it)
                os.kill(remote.pid, signal.SIGKILL)
                with pytest.raises(RemoteUnavailable):
                    await asyncio.wait_for(pending, 10)
                assert not remote.alive
                with pytest.raises(RemoteUnavailable):  # later calls: at once
                    await remote.call(api.account(acct.appid, acct.secret), "GET", SELFMENU)
            finally:
                await remote.aclose()

    asyncio.run(asyncio.wait_for(go(), 30))


# -- the columns round with its menus read in the helper ---------------------------------------

AT = datetime(2023, 9, 30, 10, 0, tzinfo=SHANGHAI)
# Hours when the demo scenario's platform misbehaves for menus: a whitelist refusal, a non-JSON
# answer, the daily quota (second read refused), refused tokens.
FAULT_HOURS = [datetime(2023, 7, 1, 10, tzinfo=SHANGHAI), datetime(2023, 7, 15, 10, tzinfo=SHANGHAI),
               datetime(2023, 8, 1, 10, tzinfo=SHANGHAI), datetime(2023, 8, 1, 11, tzinfo=SHANGHAI),
               datetime(2023, 9, 5, 10, 30, tzinfo=SHANGHAI), AT]


def columns_rounds(server, config_path, api_helper: str, hours, on_round=None):
    config = load_config(config_path)

    async def go():
        out = []
        with Store.open(config.store_url) as store:
            ctx = ProbeContext.open(config, store, clock=server.clock)
            ctx.api_helper = api_helper
            try:
                for at in hours:
                    server.clock.set(at)
                    round_ = asyncio.ensure_future(run_probe(ctx, "columns", config.accounts))
                    if on_round is not None:
                        await on_round(ctx)
                    (result,) = await round_
                    rows = [row.to_json() for row in result.rows]
                    out.append(sorted((r["account"], r["column"], r["status"], r["reason"],
                                       (r["target"] or "").replace(server.base_url, "")) for r in rows))
                helper = ctx._remote_api
            finally:
                await ctx.aclose()
            assert helper is None or not helper.alive  # closed with the context
            return out, helper

    return asyncio.run(go())


def test_columns_rounds_with_the_helper_give_the_verdicts_inline_reads_give(make_emulator, demo_config, tmp_path):
    inline_server = make_emulator(load_scenario(None), clock=VirtualClock(FAULT_HOURS[0]))
    inline, no_helper = columns_rounds(inline_server, demo_config(inline_server, menu_refresh_minutes=0),
                                       "inline", FAULT_HOURS)
    assert no_helper is None
    (tmp_path / "wxmon.db").rename(tmp_path / "inline.db")

    server = make_emulator(load_scenario(None), clock=VirtualClock(FAULT_HOURS[0]))
    helped, helper = columns_rounds(server, demo_config(server, menu_refresh_minutes=0), "process", FAULT_HOURS)
    assert helper is not None and helper.calls[SELFMENU] >= len(FAULT_HOURS) * 15
    for at, a, b in zip(FAULT_HOURS, helped, inline):
        assert set(a) ^ set(b) == set(), at
    menu_rows = [row for rows in helped for row in rows if row[1] == "(菜单)"]
    assert {row[2] for row in menu_rows} >= {"error", "unverifiable"}  # the faults did reach the menus


def test_a_helper_killed_mid_round_leaves_the_reads_to_the_round(make_emulator, demo_config):
    clock = VirtualClock(AT)
    reference_server = make_emulator(load_scenario(None), clock=VirtualClock(AT))
    reference, _ = columns_rounds(reference_server, demo_config(reference_server), "inline", [AT])

    server = make_emulator(load_scenario(None), clock=clock)
    victim = server.scenario.accounts[3]
    fault(server, account=victim.id, endpoint=SELFMENU, kind="slow", delay_s=3, times=1)

    async def kill_when_reading(ctx):
        while ctx._remote_api is None or not ctx._remote_api.calls:
            await asyncio.sleep(0.01)
        os.kill(ctx._remote_api.pid, signal.SIGKILL)

    config_path = demo_config(server)
    rounds, helper = columns_rounds(server, config_path, "process", [AT], on_round=kill_when_reading)
    assert rounds == reference
    # The killed helper answered some reads; the victim's (and any other unanswered) were made inline.
    with_api = [a for a in load_config(config_path).accounts if a.api and a.appid]
    assert 0 < helper.calls[SELFMENU] < len(with_api)


def test_the_helper_logs_as_the_daemon_does(emulator, capfd):
    """JSON lines stay JSON lines: the helper's retries are logged in the daemon's format."""
    import json
    import logging

    from monitor.logs import setup_logging

    acct = emulator.scenario.accounts[0]
    fault(emulator, account=acct.id, endpoint=SELFMENU, kind="busy", times=1)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging(json_lines=True, level="INFO", secrets=[acct.secret])

    async def go():
        async with make_api(emulator) as api:
            remote = await started(api)
            try:
                return await remote.call(api.account(acct.appid, acct.secret), "GET", SELFMENU)
            finally:
                await remote.aclose()

    try:
        assert asyncio.run(go())["selfmenu_info"]
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    retried = [entry for entry in lines if "retrying" in entry["message"]]
    assert retried and retried[0]["logger"] == "monitor.wechat.client" and retried[0]["level"] == "info"
    assert all(acct.secret not in json.dumps(entry) for entry in lines)
