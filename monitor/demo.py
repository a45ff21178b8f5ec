"""``wxmon demo``: a whole simulated quarter on the emulator, through the real product.

The emulator runs the demo scenario on a virtual clock shared with the monitor;
the same schedule definitions as the daemon's (APScheduler triggers) give the
fire times; the same probes, store, metrics, scoring and reports run at each of
them over real HTTP on 127.0.0.1. At the end the measured verdicts are printed
beside the scenario's ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.clock import SHANGHAI, VirtualClock, set_clock
from monitor.errors import BadInput, WxmonError

import httpx

QUARTER = "2023Q3"
START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
END = datetime(2023, 10, 1, tzinfo=SHANGHAI)
TEMPLATE = Path(__file__).resolve().parents[1] / "accounts.yaml"
# The demo's own schedules: the daemon's jobs, spaced so a quarter runs in seconds.
DEMO_SCHEDULES = {
    "columns": "0 */6 * * *",
    "inquiry": "0 9 * * 1",
    "freshness": "30 6 * * *",
    "privacy": "0 7 * * *",
    "weekly_report": "0 9 * * 1",
    "inquiry_poll": "20 8 * * *",
}


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    config_path: Path
    table: Any  # pandas.DataFrame: scored metrics + truth columns
    measured: tuple[int, int, float]
    truth: tuple[int, int, float]
    outputs: dict[str, Path]

    @property
    def matches(self) -> bool:
        return bool((self.table["verdict"] == self.table["truth_verdict"]).all())


def write_demo_config(out_dir: Path, api_base: str) -> Path:
    """DIR/accounts.yaml: the shipped demo configuration, pointed at this run's emulator and store."""
    if not TEMPLATE.is_file():
        raise BadInput(f"{TEMPLATE}: the demo configuration is missing (run wxmon demo from a source checkout)")
    text = TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("http://127.0.0.1:8780", api_base)
    text = re.sub(r"(?m)^store: .*$", "store: sqlite:///wxmon.db   # relative to this file", text)
    schedules = "schedules:\n" + "".join(f'  {k}: "{v}"\n' for k, v in DEMO_SCHEDULES.items())
    text = re.sub(r"(?m)^schedules:\n(?:  .*\n)+", schedules, text)
    text = re.sub(r"(?m)^checks:\n(?:  .*\n)+",
                  f"checks:\n  canary_urls: [{api_base}/_emu/canary]\n  timeout_s: 3\n  per_host: 20\n"
                  f"  per_host_rate: null\n  allow_private: [127.0.0.1/32]   # the emulator serves the pages\n",
                  text)
    path = out_dir / "accounts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class EmulatorProcess:
    """``wxmon emulator`` in a child process: its own core, and the same wire as a real platform."""

    def __init__(self, seed: int | None) -> None:
        command = [sys.executable, "-m", "monitor.cli", "emulator", "--port", "0"]
        if seed is not None:
            command += ["--seed", str(seed)]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        if not found:
            self.stop()
            raise WxmonError(f"the emulator did not start: {line.strip() or self._stderr()}")
        self.base_url = found.group(0)
        self.http = httpx.Client(base_url=self.base_url, timeout=30, trust_env=False)

    def _stderr(self) -> str:
        return (self.proc.stderr.read() if self.proc.stderr else "").strip()[-300:]

    def set_clock(self, at: datetime) -> None:
        self.http.post("/_emu/clock", json={"set": at.isoformat()}).raise_for_status()

    def truth(self) -> dict[str, Any]:
        response = self.http.get("/_emu/truth", params={"from": START.isoformat(), "to": END.isoformat()})
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        if getattr(self, "http", None) is not None:
            self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_demo(out_dir: Path, seed: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    from emulator.scenario import demo_secret_env, load_scenario
    from monitor.config import load_config
    from monitor.runner import tune_gc
    from monitor.store import Store

    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("wxmon.db", "wxmon.db-wal", "wxmon.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)
    scenario = load_scenario(None, seed=seed)
    clock = VirtualClock(START)
    previous_clock = set_clock(clock)
    emulator = EmulatorProcess(seed)
    try:
        os.environ.update(demo_secret_env(scenario))
        config_path = write_demo_config(out_dir, emulator.base_url)
        config = load_config(config_path, check_env=True)
        tune_gc()
        with Store.open(config.store_url) as store:
            asyncio.run(_simulate(config, store, clock, emulator, scenario.seed, out_dir, progress))
            return _finish(config, store, config_path, out_dir, emulator.truth())
    finally:
        emulator.stop()
        set_clock(previous_clock)


async def _simulate(config: Any, store: Any, clock: VirtualClock, emulator: EmulatorProcess, seed: int,
                    out_dir: Path, progress: Callable[[int, int], None] | None) -> None:
    from monitor.jobs import run_event
    from monitor.scheduler import timeline
    from probes.context import ProbeContext

    events = timeline(config, START, END, key=f"wxmon-demo-{seed}".encode())
    ctx = ProbeContext.open(config, store, clock=clock)
    try:
        for done, event in enumerate(events, 1):
            clock.set(event.at)
            emulator.set_clock(event.at)
            await run_event(ctx, event, report_dir=out_dir / "weekly", send=False)
            if progress:
                progress(done, len(events))
    finally:
        await ctx.aclose()


def _finish(config: Any, store: Any, config_path: Path, out_dir: Path, truth: dict[str, Any]) -> DemoResult:
    from dashboards.bulletin import render_bulletin
    from dashboards.export import write_export
    from monitor.period import parse_period
    from monitor.scoring import metrics_table, pass_rate

    period = parse_period(QUARTER)
    table = metrics_table(store, config, period)
    expected = {acct: t.get("demo_expected") or {} for acct, t in truth["accounts"].items()}
    table["truth_verdict"] = [expected.get(a, {}).get("verdict", "") for a in table["account_id"]]
    table["truth_fails"] = ["、".join(expected.get(a, {}).get("fails", [])) for a in table["account_id"]]
    outputs = {
        "csv": write_export(table, out_dir / f"wxmon-{QUARTER}.csv", headers="zh"),
        "xlsx": write_export(table, out_dir / f"wxmon-{QUARTER}.xlsx", headers="zh"),
    }
    bulletin = out_dir / f"bulletin-{QUARTER}.md"
    bulletin.write_text(render_bulletin(table, period), encoding="utf-8")
    outputs["bulletin"] = bulletin
    # The quarter's last week is reported on the Monday after it, outside the simulated span: do it now.
    from monitor.jobs import previous_week_key
    from monitor.reports import weekly_report

    weekly_report(config, store, previous_week_key(END + timedelta(days=7)), out_dir / "weekly", now=END)
    outputs["weekly"] = out_dir / "weekly"
    measured = pass_rate(table)
    passed_truth = sum(v == "合格" for v in table["truth_verdict"])
    truth_rate = (passed_truth, len(table), passed_truth / len(table) if len(table) else float("nan"))
    return DemoResult(out_dir, config_path, table, measured, truth_rate, outputs)


@contextlib.contextmanager
def progress_bar(enabled: bool):
    """A rich progress bar on a terminal; a no-op callback otherwise."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("模拟季度 2023Q3"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("demo", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def print_result(result: DemoResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from monitor.scoring import format_rate

    console = Console(width=170)
    view = Table(title="2023年第三季度政务新媒体监测（模拟数据）")
    for title in ("账号", "名称", "类别", "测得结论", "真实结论", "问题（测得）"):
        view.add_column(title, overflow="fold")
    for row in result.table.itertuples():
        same = row.verdict == row.truth_verdict
        view.add_row(row.account_id, row.account_name, row.category, row.verdict,
                     row.truth_verdict + ("" if same else "  ≠"), row.reasons or "",
                     style=None if same else "bold red")
    console.print(view)
    m_passed, m_checked, m_rate = result.measured
    t_passed, t_checked, t_rate = result.truth
    console.print(f"测得：共检查{m_checked}个，合格{m_passed}个，{format_rate(m_rate)}    "
                  f"场景真实：合格{t_passed}个/{t_checked}个，{format_rate(t_rate)}    "
                  + ("全部一致" if result.matches else "存在不一致"))
    console.print(f"outputs in {result.out_dir}:")
    for name, path in result.outputs.items():
        console.print(f"  {name:<9} {path}")
    console.print(f"  config    {result.config_path}  (use --config with metrics/export/bulletin/report)")
