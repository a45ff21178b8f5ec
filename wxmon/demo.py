"""``wxmon demo``: a whole simulated quarter on the emulator, through the real product.

The emulator runs the demo scenario on a virtual clock shared with the monitor;
the same schedule definitions as the daemon's (APScheduler triggers) give the
fire times; the same probes, store, metrics, scoring and reports run at each of
them over real HTTP on 127.0.0.1. At the end the measured verdicts are printed
beside the scenario's ground truth, and so are the rules each account failed:
a right verdict for a wrong reason is a disagreement too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from monitor.clock import SHANGHAI, VirtualClock, set_clock
from monitor.errors import BadInput, WxmonError
from monitor.policy import NoInteractionRule, Policy

if TYPE_CHECKING:
    from monitor.config import Config
    from monitor.store import Store

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


# The scenario's failure labels (``expected: {fails: [...]}``, emulator/scenario.py) as the policy's
# rule kinds. The labels are stated for the demo policy (see emulator/scenarios/demo.yaml): "inquiry"
# is a test inquiry not answered by a person within 3 working days; when not one inquiry of the
# quarter got a person's answer, the account also has no effective interaction (see truth_failed_rules).
LABEL_KINDS: dict[str, tuple[str, ...]] = {
    "stale": ("no_update",),
    "inquiry": ("inquiry_deadline",),
    "broken_column": ("broken_columns",),
    "leak": ("privacy_leak",),
}


def _answered(inquiry: Mapping[str, Any], end: datetime, autoreply_counts: bool) -> bool:
    replies = [inquiry.get("human_reply_at")] + ([inquiry.get("auto_reply_at")] if autoreply_counts else [])
    return any(at is not None and datetime.fromisoformat(at) <= end for at in replies)


def truth_failed_rules(policy: Policy, facts: Mapping[str, Any], end: datetime = END) -> list[str]:
    """Ids of the ``policy`` rules an account really fails, in policy order, by the scenario's truth.

    ``facts`` is one account of ``/_emu/truth``: its ``demo_expected.fails`` labels give the rule
    kinds (:data:`LABEL_KINDS`); for "inquiry", the emulator's record of the inquiries (who answered,
    when) also says whether the ``no_interaction`` rules fail: too few inquiries answered by ``end``
    (an auto-reply counts only if the policy says so).
    """
    labels = set((facts.get("demo_expected") or {}).get("fails") or [])
    unknown = labels - set(LABEL_KINDS)
    if unknown:
        raise ValueError(f"unknown failure label(s) in the scenario: {sorted(unknown)}")
    kinds = {kind for label in labels for kind in LABEL_KINDS[label]}
    inquiries = facts.get("inquiries") or []
    sent = len(inquiries)
    answered = sum(_answered(q, end, policy.autoreply_counts_as_answer) for q in inquiries)
    failed = []
    for rule in policy.rules:
        if isinstance(rule, NoInteractionRule):
            if "inquiry" in labels and sent and (answered < rule.min_answered
                                                 or answered / sent < rule.min_response_rate):
                failed.append(rule.id)
        elif rule.kind in kinds:
            failed.append(rule.id)
    return failed


@dataclass(frozen=True)
class RuleMismatch:
    """An account whose measured failed rules differ from the truth's (rule ids)."""

    account_id: str
    missed: tuple[str, ...]  # really failed, not measured
    extra: tuple[str, ...]  # measured, not really failed


def rule_mismatches(table: Any) -> list[RuleMismatch]:
    """Accounts of ``table`` (``failed_rules`` and ``truth_failed_rules`` columns) whose rules differ."""
    out = []
    for account_id, measured, truth in zip(table["account_id"], table["failed_rules"], table["truth_failed_rules"]):
        measured, truth = list(measured or []), list(truth or [])
        missed = tuple(r for r in truth if r not in measured)
        extra = tuple(r for r in measured if r not in truth)
        if missed or extra:
            out.append(RuleMismatch(account_id, missed, extra))
    return out


@dataclass(frozen=True)
class DemoResult:
    out_dir: Path
    config_path: Path
    table: Any  # pandas.DataFrame: scored metrics + truth columns
    measured: tuple[int, int, float]
    truth: tuple[int, int, float]
    outputs: dict[str, Path]
    rule_labels: dict[str, str] = field(default_factory=dict)  # rule id -> the policy's Chinese label

    @property
    def verdict_mismatches(self) -> list[str]:
        """Accounts whose measured verdict is not the truth's."""
        same = self.table["verdict"] == self.table["truth_verdict"]
        return [a for a, ok in zip(self.table["account_id"], same) if not ok]

    @property
    def rule_mismatches(self) -> list[RuleMismatch]:
        """Accounts whose measured failed rules are not the truth's (whatever their verdicts)."""
        return rule_mismatches(self.table)

    @property
    def matches(self) -> bool:
        return not self.verdict_mismatches and not self.rule_mismatches


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
        command = [sys.executable, "-m", "wxmon.cli", "emulator", "--port", "0"]
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
        truth: dict[str, Any] = response.json()
        return truth

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


@contextlib.contextmanager
def _demo_session(out_dir: Path, seed: int | None) -> Iterator[tuple[Any, Path, Any, VirtualClock, EmulatorProcess,
                                                                     int]]:
    """The demo's emulator, configuration, store and virtual clock, all released on leaving."""
    from emulator.scenario import demo_secret_env, load_scenario
    from monitor.config import load_config
    from monitor.store import Store
    from wxmon.runner import tune_gc

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
            yield config, config_path, store, clock, emulator, scenario.seed
    finally:
        emulator.stop()
        set_clock(previous_clock)


def run_demo(out_dir: Path, seed: int | None = None,
             progress: Callable[[int, int], None] | None = None) -> DemoResult:
    out_dir = out_dir.resolve()
    with _demo_session(out_dir, seed) as (config, config_path, store, clock, emulator, scenario_seed):
        asyncio.run(_simulate(config, store, clock, emulator, scenario_seed, out_dir, progress))
        return _finish(config, store, config_path, out_dir, emulator.truth())


def run_demo_until(out_dir: Path, until: datetime, seed: int | None = None) -> Path:
    """The demo's first events only, those before ``until``: the weekly reports due by then, in
    ``DIR/weekly``, exactly as a whole demo writes them (no quarter outputs). Returns that directory."""
    out_dir = out_dir.resolve()
    with _demo_session(out_dir, seed) as (config, _, store, clock, emulator, scenario_seed):
        asyncio.run(_simulate(config, store, clock, emulator, scenario_seed, out_dir, None, until=until))
    return out_dir / "weekly"


async def _simulate(config: Config, store: Store, clock: VirtualClock, emulator: EmulatorProcess, seed: int,
                    out_dir: Path, progress: Callable[[int, int], None] | None, until: datetime = END) -> None:
    from monitor.context import ProbeContext
    from monitor.scheduler import timeline
    from wxmon.jobs import run_event

    # The quarter's timeline even when stopping early, so the events before ``until`` are the same.
    events = [e for e in timeline(config, START, END, key=f"wxmon-demo-{seed}".encode()) if e.at < until]
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


def _finish(config: Config, store: Store, config_path: Path, out_dir: Path, truth: dict[str, Any]) -> DemoResult:
    from dashboards.bulletin import render_bulletin
    from dashboards.export import write_export
    from monitor.period import parse_period
    from monitor.scoring import metrics_table, pass_rate

    period = parse_period(QUARTER)
    table = metrics_table(store, config, period)
    policy = config.selected_policy
    facts = {acct: t or {} for acct, t in truth["accounts"].items()}
    expected = {acct: t.get("demo_expected") or {} for acct, t in facts.items()}
    table["truth_verdict"] = [expected.get(a, {}).get("verdict", "") for a in table["account_id"]]
    table["truth_fails"] = ["、".join(expected.get(a, {}).get("fails", [])) for a in table["account_id"]]
    table["truth_failed_rules"] = [truth_failed_rules(policy, facts.get(a, {})) for a in table["account_id"]]
    outputs = {
        "csv": write_export(table, out_dir / f"wxmon-{QUARTER}.csv", headers="zh"),
        "xlsx": write_export(table, out_dir / f"wxmon-{QUARTER}.xlsx", headers="zh"),
    }
    bulletin = out_dir / f"bulletin-{QUARTER}.md"
    bulletin.write_text(render_bulletin(table, period), encoding="utf-8")
    outputs["bulletin"] = bulletin
    # The quarter's last week is reported on the Monday after it, outside the simulated span: do it now.
    from monitor.period import previous_week_key
    from wxmon.reports import weekly_report

    weekly_report(config, store, previous_week_key(END + timedelta(days=7)), out_dir / "weekly", now=END)
    outputs["weekly"] = out_dir / "weekly"
    measured = pass_rate(table)
    passed_truth = sum(v == "合格" for v in table["truth_verdict"])
    truth_rate = (passed_truth, len(table), passed_truth / len(table) if len(table) else float("nan"))
    return DemoResult(out_dir, config_path, table, measured, truth_rate, outputs,
                      {rule.id: rule.label for rule in policy.rules})


@contextlib.contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; a no-op callback otherwise."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("模拟季度 2023Q3"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("demo", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _rule_names(rule_ids: Iterable[str], labels: Mapping[str, str]) -> str:
    return "、".join(f"「{labels.get(r, r)}」" for r in rule_ids)


def rule_mismatch_lines(result: DemoResult) -> list[str]:
    """One Chinese line per account whose failed rules differ from the truth's."""
    names = dict(zip(result.table["account_id"], result.table["account_name"]))
    lines = []
    for m in result.rule_mismatches:
        parts = ([f"未测出{_rule_names(m.missed, result.rule_labels)}"] if m.missed else []) + \
                ([f"误报{_rule_names(m.extra, result.rule_labels)}"] if m.extra else [])
        lines.append(f"问题不一致 {m.account_id}（{names.get(m.account_id, '')}）：" + "；".join(parts))
    return lines


def agreement_text(result: DemoResult) -> str:
    """``全部一致`` only when every verdict and every account's failed rules agree with the truth."""
    wrong_verdicts = set(result.verdict_mismatches)
    wrong_rules_only = [m for m in result.rule_mismatches if m.account_id not in wrong_verdicts]
    if not wrong_verdicts and not wrong_rules_only:
        return "全部一致"
    parts = ([f"结论不一致{len(wrong_verdicts)}个"] if wrong_verdicts else []) + \
            ([f"结论一致而问题不一致{len(wrong_rules_only)}个"] if wrong_rules_only else [])
    return "存在不一致（" + "，".join(parts) + "）"


def print_result(result: DemoResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from monitor.scoring import format_rate

    console = Console(width=170)
    view = Table(title="2023年第三季度政务新媒体监测（模拟数据）")
    for title in ("账号", "名称", "类别", "测得结论", "真实结论", "问题（测得）"):
        view.add_column(title, overflow="fold")
    wrong_rules = {m.account_id for m in result.rule_mismatches}
    for row in result.table.itertuples():
        same = row.verdict == row.truth_verdict
        mark, style = ("", None) if same else ("  ≠", "bold red")
        if same and row.account_id in wrong_rules:  # the right verdict, for other reasons
            mark, style = "  问题≠", "bold yellow"
        view.add_row(row.account_id, row.account_name, row.category, row.verdict,
                     row.truth_verdict + mark, row.reasons or "", style=style)
    console.print(view)
    for line in rule_mismatch_lines(result):
        console.print(line, style="yellow", highlight=False)
    m_passed, m_checked, m_rate = result.measured
    t_passed, t_checked, t_rate = result.truth
    console.print(f"测得：共检查{m_checked}个，合格{m_passed}个，{format_rate(m_rate)}    "
                  f"场景真实：合格{t_passed}个/{t_checked}个，{format_rate(t_rate)}    " + agreement_text(result))
    console.print(f"outputs in {result.out_dir}:")
    for name, path in result.outputs.items():
        console.print(f"  {name:<9} {path}")
    console.print(f"  config    {result.config_path}  (use --config with metrics/export/bulletin/report)")
