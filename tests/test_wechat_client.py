"""Our platform client layer against the emulator over real HTTP, every injected fault included."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import aiohttp
import httpx
import pytest

from monitor.clock import SHANGHAI
from monitor.wechat import QuotaBook, RetryPolicy, WeChatAPI
from monitor.wechat import errors as E

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


class RequestCounter:
    """Counts the requests per path with aiohttp's own request tracing."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._started)

    async def _started(self, session: object, context: object, params: aiohttp.TraceRequestStartParams) -> None:
        self.paths.append(params.url.path)

    def count(self, suffix: str) -> int:
        return sum(p.endswith(suffix) for p in self.paths)


def account_of(server, index: int = 0):
    return server.scenario.accounts[index]


def run(coro):
    return asyncio.run(coro)


def fault(server, **spec) -> None:
    httpx.post(f"{server.base_url}/_emu/faults", json=spec).raise_for_status()


def make_api(server, counter=None, **kwargs) -> WeChatAPI:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", 2.0)
    traces = [counter.trace] if counter is not None else None
    return WeChatAPI(server.base_url, clock=server.clock, trace_configs=traces, **kwargs)


def test_menu_and_autoreply_through_stable_token_cached(emulator):
    acct = account_of(emulator)
    transport = RequestCounter()

    async def go():
        async with make_api(emulator, transport) as api:
            client = api.account(acct.appid, acct.secret)
            menu = await client.get_current_selfmenu_info()
            rules = await client.get_autoreply_info()
            await client.get_current_selfmenu_info()
            return menu, rules

    menu, rules = run(go())
    assert menu["selfmenu_info"]["button"], "the demo account has a menu"
    assert "keyword_autoreply_info" in rules or "is_autoreply_open" in rules
    assert transport.count("/cgi-bin/stable_token") == 1  # cached across calls
    assert transport.count("/cgi-bin/token") == 0  # never the token call that breaks the account's server


def test_token_refetched_only_near_expiry(emulator):
    acct = account_of(emulator)
    transport = RequestCounter()

    async def go():
        async with make_api(emulator, transport) as api:
            client = api.account(acct.appid, acct.secret)
            await client.get_autoreply_info()
            emulator.clock.advance(timedelta(seconds=6000))  # 7200 - 6000 > refresh margin
            await client.get_autoreply_info()
            emulator.clock.advance(timedelta(seconds=1000))  # now inside the margin
            await client.get_autoreply_info()

    run(go())
    assert transport.count("/cgi-bin/stable_token") == 2


def test_refused_token_is_refetched_once_never_looped(emulator):
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint="cgi-bin/get_current_autoreply_info", kind="token")
    transport = RequestCounter()

    async def go():
        async with make_api(emulator, transport) as api:
            await api.account(acct.appid, acct.secret).get_autoreply_info()

    with pytest.raises(E.TokenInvalid) as info:
        run(go())
    assert info.value.blames == "monitor"
    assert transport.count("/cgi-bin/stable_token") == 2
    assert transport.count("/cgi-bin/get_current_autoreply_info") == 2


def test_busy_is_retried_with_backoff_then_succeeds(emulator):
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint="cgi-bin/get_current_selfmenu_info", kind="busy", times=2)
    transport = RequestCounter()

    async def go():
        async with make_api(emulator, transport) as api:
            return await api.account(acct.appid, acct.secret).get_current_selfmenu_info()

    assert run(go())["selfmenu_info"]
    assert transport.count("/cgi-bin/get_current_selfmenu_info") == 3


def test_persistent_busy_gives_up_as_monitor_side_error(emulator):
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint="cgi-bin/get_current_selfmenu_info", kind="busy")

    async def go():
        async with make_api(emulator) as api:
            await api.account(acct.appid, acct.secret).get_current_selfmenu_info()

    with pytest.raises(E.Busy) as info:
        run(go())
    assert info.value.blames == "monitor"


def test_quota_exhausted_blocks_calls_until_shanghai_midnight(emulator):
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint="cgi-bin/freepublish/batchget", kind="quota", daily_limit=2)
    transport = RequestCounter()
    emulator.clock.set(datetime(2023, 7, 3, 10, 0, tzinfo=SHANGHAI))

    async def go():
        async with make_api(emulator, transport, quotas=QuotaBook(budgets={}, clock=emulator.clock)) as api:
            client = api.account(acct.appid, acct.secret)
            await client.freepublish_batchget()
            await client.freepublish_batchget()
            with pytest.raises(E.QuotaExhausted):
                await client.freepublish_batchget()
            calls = transport.count("/cgi-bin/freepublish/batchget")
            with pytest.raises(E.QuotaExhausted):  # refused locally, no call spent
                await client.freepublish_batchget()
            assert transport.count("/cgi-bin/freepublish/batchget") == calls
            emulator.clock.set(datetime(2023, 7, 4, 0, 1, tzinfo=SHANGHAI))
            return await client.freepublish_batchget()

    data = run(go())
    assert "item" in data


def test_own_budget_keeps_calls_for_the_account(emulator):
    acct = account_of(emulator)
    transport = RequestCounter()

    async def go():
        budgets = QuotaBook(budgets={"cgi-bin/freepublish/batchget": 1}, clock=emulator.clock)
        async with make_api(emulator, transport, quotas=budgets) as api:
            client = api.account(acct.appid, acct.secret)
            await client.freepublish_batchget()
            with pytest.raises(E.QuotaExhausted):
                await client.freepublish_batchget()

    run(go())
    assert transport.count("/cgi-bin/freepublish/batchget") == 1


def test_budgets_reset_at_shanghai_midnight_and_old_days_are_not_kept():
    from datetime import datetime, timedelta

    from monitor.clock import SHANGHAI, VirtualClock

    clock = VirtualClock(datetime(2023, 9, 30, 23, 50, tzinfo=SHANGHAI))
    book = QuotaBook(budgets={"cgi-bin/freepublish/batchget": 2}, clock=clock)
    for appid in ("wx1", "wx2"):
        book.spend(appid, "cgi-bin/freepublish/batchget")
        book.spend(appid, "cgi-bin/freepublish/batchget")
    assert book.blocked_until("wx1", "cgi-bin/freepublish/batchget") == datetime(2023, 10, 1, tzinfo=SHANGHAI)
    clock.set(datetime(2023, 10, 1, 0, 0, tzinfo=SHANGHAI))  # midnight in Shanghai, 16:00 UTC
    assert book.blocked_until("wx1", "cgi-bin/freepublish/batchget") is None
    assert book.used_today("wx1", "cgi-bin/freepublish/batchget") == 0
    book.spend("wx1", "cgi-bin/freepublish/batchget")
    for day in range(1, 40):  # a daemon running for weeks keeps one day of counts
        clock.set(datetime(2023, 10, 1, 9, tzinfo=SHANGHAI) + timedelta(days=day))
        book.spend("wx1", "cgi-bin/freepublish/batchget")
    assert len(book._used) == 1 and book.used_today("wx1", "cgi-bin/freepublish/batchget") == 1


def test_calls_waiting_for_a_connection_do_not_run_down_their_timeout(emulator):
    """More calls than connections: each call's timeout starts when it gets a connection."""
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint="cgi-bin/get_current_selfmenu_info", kind="slow", delay_s=0.5)

    async def go():
        # 2 s leaves each call 1.5 s of slack on a loaded machine; a timeout counted from the
        # queue would fail the later calls (the 6th would need 3 s).
        async with make_api(emulator, timeout=2.0, max_connections=1, retry=RetryPolicy(attempts=1)) as api:
            client = api.account(acct.appid, acct.secret)
            await client.token()
            return await asyncio.gather(*(client.get_current_selfmenu_info() for _ in range(6)),
                                        return_exceptions=True)

    answers = run(go())  # one at a time: ~3 s in all, each call 0.5 s once connected
    assert [type(a).__name__ for a in answers] == ["dict"] * 6


@pytest.mark.parametrize(
    ("kind", "endpoint", "error", "blames"),
    [
        ("unauthorized", "cgi-bin/freepublish/batchget", E.NotAuthorized, "config"),
        ("ip", "cgi-bin/stable_token", E.IPNotWhitelisted, "config"),
        ("nonjson", "cgi-bin/freepublish/batchget", E.BadResponse, "monitor"),
        ("http500", "cgi-bin/freepublish/batchget", E.BadResponse, "monitor"),
        ("reset", "cgi-bin/freepublish/batchget", E.NetworkError, "monitor"),
        ("slow", "cgi-bin/freepublish/batchget", E.NetworkError, "monitor"),
    ],
)
def test_injected_faults_surface_as_typed_errors(emulator, kind, endpoint, error, blames):
    acct = account_of(emulator)
    fault(emulator, account=acct.id, endpoint=endpoint, kind=kind, delay_s=8)
    transport = RequestCounter()

    async def go():
        # The token call before it must not time out on a loaded machine: 2 s against 8 s.
        async with make_api(emulator, transport, timeout=2) as api:
            await api.account(acct.appid, acct.secret).freepublish_batchget()

    with pytest.raises(error) as info:
        run(go())
    assert info.value.blames == blames
    if error.retryable:
        assert transport.count("/" + endpoint) == FAST_RETRY.attempts
    assert acct.secret not in str(info.value)


def test_wrong_secret_is_a_configuration_problem_and_never_shown(emulator):
    acct = account_of(emulator)
    wrong = "0" * 31 + "1"

    async def go():
        async with make_api(emulator) as api:
            client = api.account(acct.appid, wrong)
            assert wrong not in repr(client)
            await client.get_autoreply_info()

    with pytest.raises(E.BadCredentials) as info:
        run(go())
    assert info.value.blames == "config"
    assert wrong not in str(info.value)


def test_network_down_is_a_monitor_error():
    async def go():
        async with WeChatAPI("http://127.0.0.1:9", retry=FAST_RETRY, timeout=1) as api:
            await api.account("wx0123456789abcdef", "s" * 32).get_autoreply_info()

    with pytest.raises(E.NetworkError) as info:
        run(go())
    assert info.value.blames == "monitor"


def test_msg_records_page_through_windows(emulator):
    acct = next(a for a in emulator.scenario.accounts if a.msgrecord)
    emulator.clock.set(datetime(2023, 7, 3, 9, 0, tzinfo=SHANGHAI))
    for day in range(3):
        for i in range(4):
            httpx.post(f"{emulator.base_url}/_emu/follower/send",
                       json={"account": acct.id, "text": f"咨询{day}-{i}", "tester": f"t{i}"}).raise_for_status()
        emulator.clock.advance(timedelta(days=1))

    async def go():
        async with make_api(emulator) as api:
            client = api.account(acct.appid, acct.secret)
            return await client.msg_records(datetime(2023, 7, 3, 0, 0, tzinfo=SHANGHAI),
                                            datetime(2023, 7, 6, 0, 0, tzinfo=SHANGHAI))

    records = run(go())
    texts = [r["text"] for r in records if r["opercode"] == 2003]
    expected = sorted(f"咨询{d}-{i}" for d in range(3) for i in range(4))
    assert sorted(t for t in texts if t.startswith("咨询")) == expected


def test_custom_send_respects_the_48_hour_window(emulator):
    acct = account_of(emulator)
    emulator.clock.set(datetime(2023, 7, 3, 9, 0, tzinfo=SHANGHAI))
    sent = httpx.post(f"{emulator.base_url}/_emu/follower/send",
                      json={"account": acct.id, "text": "你好", "tester": "t1"}).json()

    async def go():
        async with make_api(emulator) as api:
            client = api.account(acct.appid, acct.secret)
            await client.send_text(sent["openid"], "您好，已收到")
            emulator.clock.advance(timedelta(hours=49))
            with pytest.raises(E.OutOfWindow):
                await client.send_text(sent["openid"], "您好，还在吗")

    run(go())
