"""Coverage: the monitor's own failures never become evidence against an account.

Real probes against the emulator over HTTP, on its virtual clock, into a real SQLite
store, judged by the real metrics and scoring. The freshness API fails for a week for
accounts that keep publishing; each account is judged only on the time it was watched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI
from monitor.period import parse_period
from monitor.scoring import metrics_table

try:
    from probe_harness import ProbeHarness
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness

Q3 = parse_period("2023Q3")
OUTAGE = {"from": "2023-09-23T00:00:00+08:00", "until": "2023-10-02T00:00:00+08:00"}  # the check week
MIDWAY = {"from": "2023-08-05T00:00:00+08:00", "until": "2023-08-12T00:00:00+08:00"}
DAILY = {"every_days": 1, "jitter_days": 0, "start": "2023-07-01", "until": "2023-09-30"}


def _account(n: int, acct: str, publish: dict[str, Any], faults: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": acct, "name": f"{acct}（模拟）", "appid": f"wx{n:016x}", "secret": f"cov-secret-{n}",
            "publication": "both", "publish": publish,
            "faults": [{"endpoint": "*", "kind": "busy", **f} for f in faults]}


SCENARIO = {"seed": 12, "clock": {"start": "2023-07-01T00:00:00+08:00"}, "accounts": [
    _account(1, "jd-busy", DAILY, [OUTAGE]),  # publishes daily; the API fails in the check week
    _account(2, "jd-midway", DAILY, [MIDWAY]),  # publishes daily; the API fails for a week in August
    _account(3, "jd-quiet", {**DAILY, "stop_after": "2023-09-10"}, []),  # really stops, watched to the end
    _account(4, "jd-gone", {**DAILY, "stop_after": "2023-09-01"}, [OUTAGE]),  # stopped before the outage
]}
IDS = [a["id"] for a in SCENARIO["accounts"]]  # type: ignore[index]
POLICY = """policy: weekly
policies:
  weekly:
    base: demo-default
    rules:
      - {id: stale, days: 7, label: 超过1周未更新}
"""


def _config(server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lines = [f"store: sqlite:///{tmp_path / 'wxmon.db'}", f'wechat: {{api_base: "{server.base_url}"}}',
             POLICY.rstrip("\n"), "accounts:"]
    for n, acct in enumerate(IDS, 1):
        monkeypatch.setenv(f"WXMON_COV_SECRET_{n}", f"cov-secret-{n}")
        lines.append(f"  - {{id: {acct}, name: {acct}（模拟）, unit: {acct}单位, category: 乡镇街道, "
                     f"appid: wx{n:016x}, secret_env: WXMON_COV_SECRET_{n}}}")
    path = tmp_path / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_week_the_monitor_could_not_look_is_never_counted_against_the_account(
        make_emulator: Callable[..., EmulatorServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_emulator(SCENARIO)
    path = _config(server, tmp_path, monkeypatch)
    statuses: dict[str, dict[str, str]] = {}

    async def body(h: ProbeHarness) -> None:
        day = datetime(2023, 7, 20, 6, 30, tzinfo=SHANGHAI)  # the first round backfills the quarter
        while day < Q3.end:
            rows = await h.round("freshness", day)
            statuses[day.date().isoformat()] = {r["account"]: str(r["status"]) for r in rows}
            day += timedelta(days=1)
        # What the store recorded: the outage as days looked at without success.
        week = {t.account_id: t for t in h.store.coverage_between("freshness", date(2023, 9, 23), date(2023, 9, 30))}
        assert (week["jd-busy"].days_ok, week["jd-busy"].days_failed) == (0, 8)
        assert (week["jd-quiet"].days_ok, week["jd-quiet"].days_failed) == (8, 0)
        h.clock.set(datetime(2023, 10, 9, 9, 0, tzinfo=SHANGHAI))
        table = metrics_table(h.store, h.config, Q3)
        result.update({r["account_id"]: r for r in table.to_dict("records")})

    result: dict[str, dict[str, Any]] = {}
    ProbeHarness.run(server, path, body)

    # The faults did what they should: the monitor's own trouble, not the account's.
    assert statuses["2023-09-22"]["jd-busy"] == "ok" and statuses["2023-09-23"]["jd-busy"] == "error"
    assert statuses["2023-08-06"]["jd-midway"] == "error" and statuses["2023-08-12"]["jd-midway"] == "ok"
    busy, midway, quiet, gone = (result[a] for a in IDS)

    # jd-busy published every day; nothing was seen after Sep 22. Counting the week the monitor
    # could not look, it would be "more than a week without an update"; it is 无法判定 instead.
    assert busy["days_since_update"] > 7
    assert busy["verdict"] == "无法判定" and busy["failed_rules"] == []
    assert busy["reasons"] == "监测中断8天（最后成功核查2023-09-22），更新情况无法判定"
    assert busy["max_gap_days"] < 3  # not ~8: the gap ending the period is measured up to the last look

    # A week's outage in August: the next successful look lists what was published meanwhile.
    assert midway["verdict"] == "合格" and midway["reasons"] == ""
    assert midway["max_gap_days"] < 3 and midway["days_unobserved"] == 0

    # Controls: an account that really stopped is stale whether or not the monitor looked at
    # the end (jd-gone: proven by the looks before the outage, said up to the last one).
    assert quiet["verdict"] == "不合格" and quiet["failed_rules"] == ["stale"]
    assert re.fullmatch(r"超过1周未更新（最后更新2023-09-(09|10)，距检查日2[01]天）", quiet["reasons"])
    assert gone["verdict"] == "不合格" and gone["failed_rules"] == ["stale"]
    assert re.fullmatch(r"超过1周未更新（最后更新2023-0(8-31|9-01)，至最后成功核查日2023-09-22已2[12]天）",
                        gone["reasons"])


def test_jobs_outside_the_runner_record_their_looks(emulator: EmulatorServer, demo_config: Callable[..., Path]) -> None:
    from monitor.scheduler import Event
    from wxmon.jobs import run_event

    path = demo_config(emulator)
    monday = datetime(2023, 7, 3, 9, 0, tzinfo=SHANGHAI)

    async def body(h: ProbeHarness) -> None:
        h.clock.set(monday)
        await run_event(h.ctx, Event(monday, "freshness"))  # also the follower conversations
        sent = await run_event(h.ctx, Event(monday, "inquiry_send", "jd-binhe"))
        assert getattr(sent, "state", None) == "sent"
        h.clock.set(monday + timedelta(hours=2))
        await run_event(h.ctx, Event(monday + timedelta(hours=2), "inquiry_poll"))
        day = monday.date()
        talks = {t.account_id: t for t in h.store.coverage_between("conversations", day, day)}
        assert talks and all(t.days_ok + t.days_failed == 1 for t in talks.values())
        assert {a.id for a in h.config.accounts} >= set(talks)
        (asked,) = h.store.coverage_between("inquiry", day, day)
        assert (asked.account_id, asked.days_ok, asked.days_failed) == ("jd-binhe", 1, 0)
        assert h.store.last_looks("inquiry", monday + timedelta(hours=3)) == {
            "jd-binhe": monday + timedelta(hours=2)}  # the poll's look, after the send's

    ProbeHarness.run(emulator, path, body)
