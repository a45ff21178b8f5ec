"""The columns probe against the emulator's ground truth, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime, timedelta

from emulator.scenario import load_scenario
from monitor.clock import SHANGHAI, VirtualClock
from monitor.config import load_config
from monitor.context import ProbeContext
from monitor.http import PageFetcher, PageResult
from monitor.store import Store
from wxmon.cli import main
from wxmon.runner import run_probe

QUARTER_START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
QUARTER_END = datetime(2023, 10, 1, tzinfo=SHANGHAI)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def outage_days(scenario) -> list[datetime]:
    """Every hour around each transient outage of the scenario (2 h before, 3 h after)."""
    hours: set[datetime] = set()
    for acct in scenario.accounts:
        windows = [o for page in acct.pages.values() for o in page.outages]
        windows += [o for art in acct.articles for o in art.outages]
        for window in windows:
            start = window.from_.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
            hours.update(start + timedelta(hours=h) for h in range(-2, 4))
    return sorted(hours)


def run_rounds(config_path, clock, hours) -> list[dict]:
    config = load_config(config_path)
    rows: list[dict] = []

    async def go():
        with Store.open(config.store_url) as store:
            ctx = ProbeContext.open(config, store, clock=clock)
            try:
                for at in hours:
                    clock.set(at)
                    for result in await run_probe(ctx, "columns", config.accounts):
                        rows.extend(dict(r.to_json(), at=at) for r in result.rows)
            finally:
                await ctx.aclose()

    asyncio.run(go())
    return rows


def test_every_broken_column_found_and_no_transient_one(emulator, demo_config):
    path = demo_config(emulator)
    hours = outage_days(emulator.scenario)
    hours += [local("2023-09-30T09:00") + timedelta(hours=h) for h in range(3)]
    rows = run_rounds(path, emulator.clock, hours)

    truth = emulator.world.truth(QUARTER_START.astimezone(), QUARTER_END)["accounts"]
    broken_truth = {(a, c) for a, t in truth.items() for c in t["broken_columns"]}
    transient = {(a, c) for a, t in truth.items() for c in t["transient_columns"]}
    final = {(r["account"], r["column"]) for r in rows if r["at"] == hours[-1] and r["status"] == "broken"}
    ever_broken = {(r["account"], r["column"]) for r in rows if r["status"] == "broken"}
    assert broken_truth and transient
    assert final == broken_truth
    assert not (ever_broken & transient)
    assert ever_broken <= broken_truth
    # The transient outages were seen (the probe is not blind), they just were not confirmed.
    seen_failing = {(r["account"], r["column"]) for r in rows if r["status"] == "failing"}
    assert transient & seen_failing


def test_network_cut_mid_round_blames_nobody(make_emulator, demo_config):
    clock = VirtualClock(local("2023-09-30T10:00"))
    server = make_emulator(load_scenario(None), clock=clock)
    path = demo_config(server, concurrency=2, per_host=2)
    config = load_config(path)
    cut_after = 15  # page fetches answered before the monitor's network goes (the round has ~100)

    class CutAfter(PageFetcher):
        """The product's fetcher; the test pulls the plug after a fixed number of pages."""

        fetched = 0
        stopper: threading.Thread | None = None

        async def fetch(self, url: str) -> PageResult:
            result = await super().fetch(url)
            CutAfter.fetched += 1
            if CutAfter.fetched == cut_after:
                CutAfter.stopper = threading.Thread(target=server.stop)
                CutAfter.stopper.start()
            return result

    async def go():
        with Store.open(config.store_url) as store:
            checks = config.checks
            pages = CutAfter.from_checks(checks)
            ctx = ProbeContext.open(config, store, clock=clock, pages=pages)
            try:
                results = await run_probe(ctx, "columns", config.accounts)
                assert CutAfter.stopper is not None, "the round ended before the cut"
                CutAfter.stopper.join()
                return [r.to_json() for r in results[0].rows], store.get_column_states()
            finally:
                await ctx.aclose()

    rows, states = asyncio.run(go())
    statuses = {r["status"] for r in rows}
    assert "error" in statuses, "the cut happened during the round"
    assert "broken" not in statuses
    after_cut = [r for r in rows if r["status"] == "failing"]
    # Failures seen before the cut are real (the emulator's broken pages); none comes from the cut.
    truth_broken = {("jd-chengdong", "办事服务/办事指南"), ("bm-rsj", "政务服务/政策文件"),
                    ("bm-rsj", "政务服务/政策解读"), ("bm-zjw", "政务服务/办事指南")}
    assert {(r["account"], r["column"]) for r in after_cut} <= truth_broken
    assert all(s.status in ("ok", "failing", "error", "unverifiable") for s in states)


def test_monitor_offline_from_the_start_gives_error_rows(make_emulator, demo_config):
    clock = VirtualClock(local("2023-09-30T10:00"))
    server = make_emulator(load_scenario(None), clock=clock)
    path = demo_config(server)
    run_rounds(path, clock, [local("2023-09-30T10:00")])
    server.stop()
    rows = run_rounds(path, clock, [local("2023-09-30T11:00")])
    assert rows and {r["status"] for r in rows} == {"error"}


def test_a_stored_failure_count_without_its_start_time_does_not_end_the_round(make_emulator, demo_config):
    """A column state with failures counted but no ``first_failure_at`` (written by hand, or by an
    older version): the round goes on, and the span counts from this round's failure, so the
    column is not confirmed sooner than the rule allows."""
    from monitor.store import ColumnResult

    clock = VirtualClock(local("2023-09-30T09:00"))
    server = make_emulator(load_scenario(None), clock=clock)
    config = load_config(demo_config(server))
    policy = config.selected_policy
    account, column = config.account("bm-rsj"), "政务服务/政策文件"  # broken in the emulator that day
    start = local("2023-09-30T10:00")

    async def go():
        with Store.open(config.store_url) as store:
            ctx = ProbeContext.open(config, store, clock=clock)
            try:
                ctx.sync_accounts()
                store.apply_column_results([ColumnResult(
                    "bm-rsj", column, "failing", clock.now(), consecutive_failures=policy.confirm_failures - 1,
                    first_failure_at=None)])
                seen = []
                for at in (start, start + timedelta(minutes=policy.confirm_minutes)):
                    clock.set(at)
                    (result,) = await run_probe(ctx, "columns", [account])
                    row = next(r for r in result.rows if r.fields["column"] == column)
                    state = next(s for s in store.get_column_states("bm-rsj") if s.column_path == column)
                    seen.append((row.status, state.consecutive_failures, state.first_failure_at))
                return seen
            finally:
                await ctx.aclose()

    first, second = asyncio.run(go())
    assert first == ("failing", policy.confirm_failures, start)  # enough failures, no known span yet
    assert second == ("broken", policy.confirm_failures + 1, start)


def test_probe_columns_json_lines_follow_the_spec(emulator, demo_config, capsys):
    path = demo_config(emulator)
    assert main(["probe", "columns", "--config", str(path), "--account", "bm-rsj", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines
    keys = ["account", "column", "type", "target", "status", "reason", "http_status", "elapsed_ms"]
    for line in lines:
        assert list(line) == keys  # SPEC's order, as printed before rows were typed
        assert line["account"] == "bm-rsj"
        assert line["status"] in ("ok", "failing", "broken", "unverifiable", "error")
    types = {line["type"] for line in lines}
    assert {"view", "news", "text", "miniprogram"} <= types


def test_probe_unknown_account_is_bad_input(emulator, demo_config, capsys):
    path = demo_config(emulator)
    assert main(["probe", "columns", "--config", str(path), "--account", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_menus_are_reused_within_the_refresh_and_read_again_after_a_failure(make_emulator, demo_config):
    """Menus read at most every ``menu_refresh_minutes``; an account with a failing column
    gets its menu read again next round, so nothing is confirmed broken on a stale menu."""
    import aiohttp

    from monitor.wechat import WeChatAPI

    clock = VirtualClock(local("2023-09-30T10:00"))
    server = make_emulator(load_scenario(None), clock=clock)
    config = load_config(demo_config(server, menu_refresh_minutes=180))
    menu_reads: set[str] = set()  # access tokens: one per account (retries of one read count once)

    async def on_request(_session, _ctx, params):
        if params.url.path.endswith("get_current_selfmenu_info"):
            menu_reads.add(params.url.query["access_token"])

    async def go():
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request)
        rounds = []
        with Store.open(config.store_url) as store:
            api = WeChatAPI(config.wechat.api_base, timeout=config.wechat.timeout_s, clock=clock,
                            trace_configs=[trace])
            ctx = ProbeContext.open(config, store, clock=clock, api=api)
            try:
                for at in (local("2023-09-30T10:00"), local("2023-09-30T11:00"), local("2023-09-30T13:30")):
                    clock.set(at)
                    menu_reads.clear()
                    (result,) = await run_probe(ctx, "columns", config.accounts)
                    rounds.append((len(menu_reads), result.rows))
            finally:
                await ctx.aclose()
        return rounds

    (first, rows1), (second, rows2), (third, _rows3) = asyncio.run(go())
    with_api = [a for a in config.accounts if a.api and a.appid]
    assert first == len(with_api)
    # One hour later: read again only for accounts where something failed.
    troubled = {r.account for r in rows1 if r.status not in ("ok", "unverifiable")}
    assert troubled and 0 < second == len({a.id for a in with_api} & troubled) < first
    # The same columns were checked both rounds (the reused menus are the same menus).
    checked = [sorted((r.account, r.fields["column"]) for r in rows) for rows in (rows1, rows2)]
    assert checked[0] == checked[1]
    # Past the refresh interval every menu is read again.
    assert third == len(with_api)
