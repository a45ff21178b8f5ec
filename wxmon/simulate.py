"""``wxmon simulate``: any scenario and any config, a whole period on the emulator, through the real product.

The emulator runs the scenario on a virtual clock shared with the monitor; the same schedule
definitions as the daemon's (APScheduler triggers) give the fire times; the same probes, store,
metrics, scoring and reports run at each of them over real HTTP on 127.0.0.1. At the end the
measured verdicts and failed rules are printed beside the scenario's ``expected:`` (or, for an
account without one, beside what the emulator's truth says): a right verdict for a wrong reason
is a disagreement too. ``wxmon demo`` is this on the shipped scenario and accounts.yaml.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
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
from monitor.policy import (
    BrokenColumnsRule,
    InquiryDeadlineRule,
    NoInteractionRule,
    NoUpdateRule,
    Policy,
    PrivacyLeakRule,
    SecurityIncidentRule,
)

if TYPE_CHECKING:
    from emulator.scenario import Scenario
    from monitor.config import Config
    from monitor.period import Period
    from monitor.store import Store

# --fast: the demo's spacing of the daemon's jobs, so a quarter runs in minutes, and quick page
# timeouts (the emulator is local; its slow pages are made for them).
FAST_SCHEDULES = {
    "columns": "0 */6 * * *",
    "inquiry": "0 9 * * 1",
    "freshness": "30 6 * * *",
    "privacy": "0 7 * * *",
    "weekly_report": "0 9 * * 1",
    "inquiry_poll": "20 8 * * *",
}
FAST_CHECKS = {"timeout_s": 3, "per_host": 20}
EMULATOR_CIDR = "127.0.0.1/32"
CHANNELS = ("emulator", "bridge")  # how a simulation's inquiries reach the emulator's follower
BRIDGE_TOKEN_ENV = "WXMON_SIMULATE_BRIDGE_TOKEN"  # the run's bridge token (the run config names it)
WORKING_DAY_MINUTES = 390  # the emulator's working day: 09:00-12:00 and 13:30-17:30

# The scenario's failure labels (``expected: {fails: [...]}``, emulator/scenario.py) as the policy's
# rule kinds. "inquiry" is a test inquiry not answered by a person in time; when not one inquiry of
# the period got a person's answer, the account also has no effective interaction (truth_failed_rules).
LABEL_KINDS: dict[str, tuple[str, ...]] = {
    "stale": ("no_update",),
    "inquiry": ("inquiry_deadline",),
    "broken_column": ("broken_columns",),
    "leak": ("privacy_leak",),
    "security_incident": ("security_incident",),  # confirmed content-check findings (issue 15)
}


# ------------------------------------------------------------------------------- truth

def _answered(inquiry: Mapping[str, Any], end: datetime, autoreply_counts: bool) -> bool:
    replies = [inquiry.get("human_reply_at")] + ([inquiry.get("auto_reply_at")] if autoreply_counts else [])
    return any(isinstance(at, str) and datetime.fromisoformat(at) <= end for at in replies)


def _no_interaction(policy: Policy, rule: NoInteractionRule, facts: Mapping[str, Any], end: datetime) -> bool:
    inquiries = facts.get("inquiries") or []
    sent = len(inquiries)
    answered = sum(_answered(q, end, policy.autoreply_counts_as_answer) for q in inquiries)
    return bool(sent) and (answered < rule.min_answered or answered / sent < rule.min_response_rate)


def truth_failed_rules(policy: Policy, facts: Mapping[str, Any], end: datetime) -> list[str]:
    """Ids of the ``policy`` rules an account really fails, in policy order, by its failure labels.

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
    failed = []
    for rule in policy.rules:
        if isinstance(rule, NoInteractionRule):
            if "inquiry" in labels and _no_interaction(policy, rule, facts, end):
                failed.append(rule.id)
        elif rule.kind in kinds:
            failed.append(rule.id)
    return failed


def facts_failed_rules(policy: Policy, facts: Mapping[str, Any], end: datetime) -> list[str]:
    """The rules an account without ``expected:`` fails by the emulator's record of its world alone:
    days since its last article, its broken columns, its leaks and who answered its inquiries when."""
    failed = []
    for rule in policy.rules:
        if isinstance(rule, NoUpdateRule):
            days = facts.get("days_since_update")
            fails = not isinstance(days, (int, float)) or days > rule.days
        elif isinstance(rule, BrokenColumnsRule):
            fails = len(facts.get("broken_columns") or []) > rule.max_broken
        elif isinstance(rule, PrivacyLeakRule):
            fails = len(facts.get("leaks") or []) > rule.max_findings
        elif isinstance(rule, InquiryDeadlineRule):
            deadline = rule.working_days * WORKING_DAY_MINUTES
            late = [q for q in facts.get("inquiries") or []
                    if not isinstance(q.get("human_reply_working_minutes"), (int, float))
                    or q["human_reply_working_minutes"] > deadline]
            fails = len(late) > rule.max_late
        elif isinstance(rule, NoInteractionRule):
            fails = _no_interaction(policy, rule, facts, end)
        elif isinstance(rule, SecurityIncidentRule):
            fails = bool(facts.get("incidents"))
        else:
            fails = False
        if fails:
            failed.append(rule.id)
    return failed


@dataclass(frozen=True)
class Expectation:
    """What an account should be judged: verdict and failed rule ids; ``labels`` for the table."""

    verdict: str
    rules: list[str]
    labels: str


def expectation(policy: Policy, facts: Mapping[str, Any], end: datetime) -> Expectation:
    """The account's ``expected:`` as rule ids of ``policy``, or the truth's when it states none."""
    stated = facts.get("demo_expected")
    if stated:
        if stated.get("rules") is not None:
            return Expectation(stated["verdict"], list(stated["rules"]), "")
        return Expectation(stated["verdict"], truth_failed_rules(policy, facts, end),
                           "、".join(stated.get("fails") or []))
    rules = facts_failed_rules(policy, facts, end)
    return Expectation("不合格" if rules else "合格", rules, "")


# ------------------------------------------------------------------------------- comparison

@dataclass(frozen=True)
class RuleMismatch:
    """An account whose measured failed rules differ from the expected ones (rule ids)."""

    account_id: str
    missed: tuple[str, ...]  # expected to fail, not measured
    extra: tuple[str, ...]  # measured, not expected


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
class SimulateResult:
    out_dir: Path
    config_path: Path
    table: Any  # pandas.DataFrame: scored metrics + truth columns
    measured: tuple[int, int, float]
    truth: tuple[int, int, float]
    outputs: dict[str, Path]
    rule_labels: dict[str, str] = field(default_factory=dict)  # rule id -> the policy's Chinese label
    title: str = "2023年第三季度政务新媒体监测（模拟数据）"
    truth_word: str = "真实"  # the demo's: its scenario states the truth; simulate: 预期
    show_rule_ids: bool = False  # name rules by id too in the mismatch lines

    @property
    def verdict_mismatches(self) -> list[str]:
        """Accounts whose measured verdict is not the expected one."""
        same = self.table["verdict"] == self.table["truth_verdict"]
        return [a for a, ok in zip(self.table["account_id"], same) if not ok]

    @property
    def rule_mismatches(self) -> list[RuleMismatch]:
        """Accounts whose measured failed rules are not the expected ones (whatever their verdicts)."""
        return rule_mismatches(self.table)

    @property
    def matches(self) -> bool:
        return not self.verdict_mismatches and not self.rule_mismatches


# ------------------------------------------------------------------------------- set-up

@dataclass(frozen=True)
class Simulation:
    """One run's inputs. ``scenario`` None: the shipped demo scenario."""

    scenario: Path | None
    config: Path
    out_dir: Path
    period: str | None = None  # default: the scenario's
    fast: bool = False
    seed: int | None = None
    channel: str = "emulator"  # "bridge": inquiries through the emulator's bridge (docs/bridge.md)
    access: str = "secret"  # "component": API access by the units' authorization (docs/access.md)


def _load_scenario(path: Path | None, seed: int | None) -> Scenario:
    from emulator.scenario import ScenarioError, load_scenario

    try:
        scenario = load_scenario(path, seed=seed)
    except ScenarioError as exc:
        raise BadInput(str(exc).splitlines()) from None
    where = path or "the demo scenario"
    if scenario.clock.start is None:
        raise BadInput(f"{where}: clock.start: a simulation needs a virtual clock (e.g. "
                       "clock: {start: 2023-07-01T00:00:00+08:00})")
    return scenario


def _period(sim: Simulation, scenario: Scenario) -> Period:
    from monitor.period import parse_period

    text, where = (sim.period, "--period") if sim.period else (scenario.period, f"{sim.scenario}: period")
    if not text:
        raise BadInput(f"{sim.scenario}: period: the scenario names no period; add one (e.g. period: 2023Q3) "
                       "or give --period")
    try:
        return parse_period(text)
    except (ValueError, BadInput) as exc:
        raise BadInput(f"{where}: {exc}") from None


def _accounts_by_appid(config: Config, scenario: Scenario, sim: Simulation) -> dict[str, str]:
    """config account id -> scenario account id (the same appid); every monitored account must be there."""
    by_appid = {a.appid: a.id for a in scenario.accounts}
    pairs, problems = {}, []
    for acct in config.accounts:
        appid = getattr(acct, "appid", None)
        if appid in by_appid:
            pairs[acct.id] = by_appid[appid]
        else:
            problems.append(f"{sim.config}: accounts: {acct.id} (appid {appid}) is not an account of the scenario "
                            f"{sim.scenario or 'demo'}")
    if problems:
        raise BadInput(problems)
    return pairs


def _check_expected_rules(scenario: Scenario, policy: Policy, sim: Simulation) -> None:
    known = [r.id for r in policy.rules]
    problems = [f"{sim.scenario}: accounts[{a.id}].expected.rules: unknown rule {rule!r} in policy "
                f"{policy.name} (its rules: {', '.join(known)})"
                for a in scenario.accounts if a.expected is not None and a.expected.rules
                for rule in a.expected.rules if rule not in known]
    if problems:
        raise BadInput(problems)


def _replace_strings(value: Any, old: str, new: str) -> Any:
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, dict):
        return {k: _replace_strings(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_strings(v, old, new) for v in value]
    return value


def run_config_data(data: dict[str, Any], old_api_base: str, api_base: str, fast: bool,
                    channel: str = "emulator", access: str = "secret") -> dict[str, Any]:
    """The config ``data`` as the simulation runs it: everything that pointed at the platform points at
    this run's emulator, the store is DIR/wxmon.db, the canary is the emulator's, inquiries go through
    the emulator's follower (``channel`` "bridge": the same follower behind the bridge protocol, with
    the token in :data:`BRIDGE_TOKEN_ENV`); with ``fast``, the demo's schedules and page timeouts."""
    data = _replace_strings(data, old_api_base.rstrip("/"), api_base)
    data["store"] = "sqlite:///wxmon.db"
    data["wechat"] = {**(data.get("wechat") or {}), "api_base": api_base}
    http = data.get("http")
    if isinstance(http, dict):
        http.pop("proxy", None)  # the emulator is on loopback
    checks = dict(data.get("checks") or {})
    allow = [c for c in checks.get("allow_private") or [] if c != EMULATOR_CIDR]
    checks.update(canary_urls=[f"{api_base}/_emu/canary"], per_host_rate=None,
                  allow_private=[EMULATOR_CIDR, *allow])
    if fast:
        checks.update(FAST_CHECKS)
        data["schedules"] = dict(FAST_SCHEDULES)
    data["checks"] = checks
    channels = dict(data.get("channels") or {})
    channels["emulator"] = {"base_url": None}
    if channel == "bridge":
        channels["bridge"] = {"url": f"{api_base}/_emu/bridge", "token_env": BRIDGE_TOKEN_ENV}
    data["channels"] = channels
    for acct in data.get("accounts") or []:
        inquiry = acct.get("inquiry") if isinstance(acct, dict) else None
        if isinstance(inquiry, dict) and inquiry.get("channel") not in (None, "none", channel):
            inquiry["channel"] = channel
    if access == "component":  # the accounts reached by authorization, the emulator as the platform
        from wxmon.connect import simulation_config_data

        data = simulation_config_data(data, api_base)
    return data


def write_run_config(source: Path, out_dir: Path, api_base: str, fast: bool, channel: str = "emulator",
                     access: str = "secret") -> Path:
    """DIR/accounts.yaml: ``source`` (checked first) pointed at this run's emulator and store."""
    import yaml

    from monitor.config import load_config
    from monitor.config.yamlsource import SourceError, read_yaml

    config = load_config(source, check_env=False)
    try:
        data = read_yaml(source).data
    except SourceError as exc:  # pragma: no cover - load_config has read it just now
        raise BadInput(f"{source}:{exc.line}: {exc.message}") from None
    data = run_config_data(data, str(config.wechat.api_base), api_base, fast, channel, access)
    path = out_dir / "accounts.yaml"
    header = (f"{RUN_CONFIG_HEADER} from {source.resolve()}: pointed at the emulator of one run\n"
              "# and at the store beside this file (relative paths are to this file).\n")
    path.write_text(header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120),
                    encoding="utf-8")
    return path


RUN_CONFIG_HEADER = "# Written by wxmon simulate"
_OLD_DEMO_STORE_LINE = "store: sqlite:///wxmon.db   # relative to this file"


def _check_out_dir(out_dir: Path, config: Path) -> None:
    """A run replaces DIR/accounts.yaml and DIR/wxmon.db: never those of a real installation."""
    written = out_dir / "accounts.yaml"
    if written.exists():
        if written.resolve() == config.resolve():
            raise BadInput(f"{out_dir}: --out would overwrite the config {config}; choose another directory")
        try:
            with written.open(encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
        except OSError:
            head = ""
        if not head.startswith(RUN_CONFIG_HEADER) and _OLD_DEMO_STORE_LINE not in head:
            raise BadInput(f"{written}: not written by wxmon simulate or demo; a run would replace it and the "
                           "store beside it: choose another --out")
    elif (out_dir / "wxmon.db").exists():
        raise BadInput(f"{out_dir / 'wxmon.db'}: a store no simulation wrote; a run would replace it: "
                       "choose another --out")


class EmulatorProcess:
    """``wxmon emulator`` in a child process: its own core, and the same wire as a real platform."""

    def __init__(self, seed: int | None, scenario: Path | None = None) -> None:
        command = [sys.executable, "-m", "wxmon.cli", "emulator", "--port", "0"]
        if scenario is not None:
            command += ["--scenario", str(scenario)]
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

    def truth(self, start: datetime, end: datetime) -> dict[str, Any]:
        response = self.http.get("/_emu/truth", params={"from": start.isoformat(), "to": end.isoformat()})
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


@dataclass
class Session:
    sim: Simulation
    scenario: Scenario
    period: Period
    start: datetime  # the period's edges, Asia/Shanghai
    end: datetime
    config: Config
    config_path: Path
    store: Store
    clock: VirtualClock
    emulator: EmulatorProcess
    accounts: dict[str, str]  # config account id -> scenario account id


@contextlib.contextmanager
def session(sim: Simulation) -> Iterator[Session]:
    """The run's emulator, configuration, store and virtual clock, all released on leaving.
    Everything the user gave is checked before anything starts."""
    from monitor.config import load_config
    from monitor.store import Store
    from wxmon.connect import simulation_env
    from wxmon.runner import tune_gc

    _check_out_dir(sim.out_dir, sim.config)
    scenario = _load_scenario(sim.scenario, sim.seed)
    period = _period(sim, scenario)
    source = load_config(sim.config, check_env=False)
    pairs = _accounts_by_appid(source, scenario, sim)
    _check_expected_rules(scenario, source.selected_policy, sim)
    out_dir = sim.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("wxmon.db", "wxmon.db-wal", "wxmon.db-shm"):
        (out_dir / stale).unlink(missing_ok=True)
    start, end = period.start.astimezone(SHANGHAI), period.end.astimezone(SHANGHAI)
    clock = VirtualClock(start)
    previous_clock = set_clock(clock)
    previous_env = _bridge_token_env(sim.channel)
    previous_env.update(simulation_env(sim.access))  # --access component: the run's platform credentials
    try:
        emulator = EmulatorProcess(sim.seed, sim.scenario)
    except BaseException:
        set_clock(previous_clock)
        _restore_env(previous_env)
        raise
    try:
        secrets = {a.id: a.secret for a in scenario.accounts}
        os.environ.update({name: secrets[pairs[acct.id]] for acct in source.accounts
                           if (name := getattr(acct, "secret_env", None)) and acct.id in pairs})
        config_path = write_run_config(sim.config, out_dir, emulator.base_url, sim.fast, sim.channel, sim.access)
        config = load_config(config_path, check_env=True)
        tune_gc()
        with Store.open(config.store_url) as store:
            yield Session(sim, scenario, period, start, end, config, config_path, store, clock, emulator, pairs)
    finally:
        emulator.stop()
        set_clock(previous_clock)
        _restore_env(previous_env)


def _bridge_token_env(channel: str) -> dict[str, str]:
    """For the bridge: one random token for the run, in the environment of the emulator (its child
    process) and of the monitor (named by the run config). Returns the previous values ("" unset)."""
    if channel not in CHANNELS:
        raise BadInput(f"--channel: {channel!r} is not one of {', '.join(CHANNELS)}")
    if channel != "bridge":
        return {}
    import secrets

    from emulator.bridge import TOKEN_ENV

    previous = {name: os.environ.get(name, "") for name in (TOKEN_ENV, BRIDGE_TOKEN_ENV)}
    token = secrets.token_urlsafe(24)
    os.environ.update({TOKEN_ENV: token, BRIDGE_TOKEN_ENV: token})
    return previous


def _restore_env(previous: dict[str, str]) -> None:
    for name, value in previous.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)


# ------------------------------------------------------------------------------- running

def run_simulation(sim: Simulation, progress: Callable[[int, int], None] | None = None) -> SimulateResult:
    sim = _resolved(sim)
    with session(sim) as run:
        asyncio.run(_run_events(run, progress))
        return _finish(run, run.emulator.truth(run.start, run.end))


def run_until(sim: Simulation, until: datetime) -> Path:
    """The run's first events only, those before ``until``: the weekly reports due by then, in
    ``DIR/weekly``, exactly as a whole run writes them (no period outputs). Returns that directory."""
    sim = _resolved(sim)
    with session(sim) as run:
        asyncio.run(_run_events(run, None, until=until))
    return sim.out_dir / "weekly"


def _resolved(sim: Simulation) -> Simulation:
    from dataclasses import replace

    return replace(sim, out_dir=sim.out_dir.resolve())


async def _run_events(run: Session, progress: Callable[[int, int], None] | None,
                      until: datetime | None = None) -> None:
    from monitor.context import ProbeContext
    from monitor.scheduler import timeline
    from wxmon.connect import SimulatedAuthorizations
    from wxmon.jobs import run_event

    # The whole period's timeline even when stopping early, so the events before ``until`` are the same.
    events = [e for e in timeline(run.config, run.start, run.end, key=f"wxmon-demo-{run.scenario.seed}".encode())
              if until is None or e.at < until]
    ctx = ProbeContext.open(run.config, run.store, clock=run.clock)
    authorizations: SimulatedAuthorizations | None = None
    try:
        if run.sim.access == "component":  # the units authorize once; tickets follow the clock
            run.emulator.set_clock(run.start)
            authorizations = await SimulatedAuthorizations.start(ctx, run.emulator.base_url)
        for done, event in enumerate(events, 1):
            run.clock.set(event.at)
            run.emulator.set_clock(event.at)
            if authorizations is not None:
                await authorizations.tick()
            await run_event(ctx, event, report_dir=run.sim.out_dir / "weekly", send=False)
            if progress:
                progress(done, len(events))
    finally:
        if authorizations is not None:
            await authorizations.stop()
        await ctx.aclose()


def _finish(run: Session, truth: dict[str, Any]) -> SimulateResult:
    from dashboards.bulletin import render_bulletin
    from dashboards.export import write_export
    from monitor.period import previous_week_key
    from monitor.scoring import metrics_table, pass_rate
    from wxmon.reports import weekly_report

    config, period, out_dir = run.config, run.period, run.sim.out_dir
    from wxmon.content_cli import review_as_scenario

    # The content check's candidates reviewed as a person would (same function as the CLI), by the scenario's truth.
    review_as_scenario(run.store, {a: truth["accounts"].get(s) or {} for a, s in run.accounts.items()})
    table = metrics_table(run.store, config, period)
    policy = config.selected_policy
    facts = {acct: t or {} for acct, t in truth["accounts"].items()}
    expected = {a: expectation(policy, facts.get(run.accounts.get(a, a), {}), run.end) for a in table["account_id"]}
    table["truth_verdict"] = [expected[a].verdict for a in table["account_id"]]
    table["truth_fails"] = [expected[a].labels for a in table["account_id"]]
    table["truth_failed_rules"] = [expected[a].rules for a in table["account_id"]]
    key = period.key
    outputs = {
        "csv": write_export(table, out_dir / f"wxmon-{key}.csv", headers="zh"),
        "xlsx": write_export(table, out_dir / f"wxmon-{key}.xlsx", headers="zh"),
    }
    bulletin = out_dir / f"bulletin-{key}.md"
    bulletin.write_text(render_bulletin(table, period), encoding="utf-8")
    outputs["bulletin"] = bulletin
    # The period's last week is reported on the Monday after it, outside the simulated span: do it now.
    weekly_report(config, run.store, previous_week_key(run.end + timedelta(days=7)), out_dir / "weekly", now=run.end)
    outputs["weekly"] = out_dir / "weekly"
    measured = pass_rate(table)
    passed_truth = sum(v == "合格" for v in table["truth_verdict"])
    checked_truth = passed_truth + sum(v == "不合格" for v in table["truth_verdict"])
    truth_rate = (passed_truth, checked_truth, passed_truth / checked_truth if checked_truth else math.nan)
    return SimulateResult(out_dir, run.config_path, table, measured, truth_rate, outputs,
                          {rule.id: rule.label for rule in policy.rules},
                          title=f"{period.label_zh}政务新媒体监测（模拟数据）")


# ------------------------------------------------------------------------------- printing

@contextlib.contextmanager
def progress_bar(enabled: bool, label: str = "模拟季度 2023Q3") -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; a no-op callback otherwise."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("simulate", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _rule_names(rule_ids: Iterable[str], labels: Mapping[str, str], ids: bool) -> str:
    return "、".join(f"「{labels.get(r, r)}」" + (f"（{r}）" if ids and labels.get(r, r) != r else "")
                    for r in rule_ids)


def rule_mismatch_lines(result: SimulateResult) -> list[str]:
    """One Chinese line per account whose failed rules differ from the expected ones."""
    names = dict(zip(result.table["account_id"], result.table["account_name"]))
    lines = []
    for m in result.rule_mismatches:
        parts = ([f"未测出{_rule_names(m.missed, result.rule_labels, result.show_rule_ids)}"] if m.missed else []) + \
                ([f"误报{_rule_names(m.extra, result.rule_labels, result.show_rule_ids)}"] if m.extra else [])
        lines.append(f"问题不一致 {m.account_id}（{names.get(m.account_id, '')}）：" + "；".join(parts))
    return lines


def agreement_text(result: SimulateResult) -> str:
    """``全部一致`` only when every verdict and every account's failed rules agree."""
    wrong_verdicts = set(result.verdict_mismatches)
    wrong_rules_only = [m for m in result.rule_mismatches if m.account_id not in wrong_verdicts]
    if not wrong_verdicts and not wrong_rules_only:
        return "全部一致"
    parts = ([f"结论不一致{len(wrong_verdicts)}个"] if wrong_verdicts else []) + \
            ([f"结论一致而问题不一致{len(wrong_rules_only)}个"] if wrong_rules_only else [])
    return "存在不一致（" + "，".join(parts) + "）"


def print_result(result: SimulateResult) -> None:
    from rich.console import Console
    from rich.table import Table

    from monitor.scoring import format_rate

    word = result.truth_word
    console = Console(width=170)
    view = Table(title=result.title)
    for title in ("账号", "名称", "类别", "测得结论", f"{word}结论", "问题（测得）"):
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
                  f"场景{word}：合格{t_passed}个/{t_checked}个，{format_rate(t_rate)}    " + agreement_text(result))
    console.print(f"outputs in {result.out_dir}:")
    for name, path in result.outputs.items():
        console.print(f"  {name:<9} {path}")
    console.print(f"  config    {result.config_path}  (use --config with metrics/export/bulletin/report)")
