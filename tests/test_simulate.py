"""`wxmon simulate`: a scenario of its own (tests/data/scenarios/shanzhen.yaml, not the demo's accounts, another
pass rate, a 无法判定 account) judged as its ``expected:`` says; a wrong ``expected:`` is exit 1 naming the
account and rule; a bad scenario or config is exit 2 with one line naming the file and place."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.scenario import ScenarioError, load_scenario, parse_scenario
from monitor.clock import SHANGHAI
from monitor.policy import resolve_policy
from wxmon.cli import main
from wxmon.simulate import facts_failed_rules, run_config_data

DATA = Path(__file__).parent / "data" / "scenarios"
SCENARIO = DATA / "shanzhen.yaml"
CONFIG = DATA / "shanzhen-accounts.yaml"
ONE_WEEK = "2023-11-06..2023-11-12"


def wxmon(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wxmon.cli", *args], capture_output=True, text=True, timeout=timeout)


def start(out: Path, *args: str) -> subprocess.Popen:
    """``wxmon simulate ARGS --out OUT`` in the background, its output into files beside ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / "stdout").open("wb") as stdout, (out.parent / "stderr").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "wxmon.cli", "simulate", *args, "--out", str(out)],
                                stdout=stdout, stderr=stderr)


def finish(proc: subprocess.Popen, out: Path) -> subprocess.CompletedProcess:
    code = proc.wait(timeout=300)
    read = lambda name: (out.parent / name).read_text(encoding="utf-8", errors="replace")
    return subprocess.CompletedProcess(proc.args, code, read("stdout"), read("stderr"))


def wrong_pair(tmp: Path) -> tuple[Path, Path]:
    """The small world with a wrong expectation for sz-fabu (a healthy account said to leak), and a config
    of sz-fabu alone: the scenario's other accounts are simply not monitored."""
    scenario = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    for acct in scenario["accounts"]:
        if acct["id"] == "sz-fabu":
            acct["expected"] = {"verdict": "不合格", "rules": ["privacy_leak"]}
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["accounts"] = [a for a in config["accounts"] if a["id"] == "sz-fabu"]
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "wrong.yaml").write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    (tmp / "accounts.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return tmp / "wrong.yaml", tmp / "accounts.yaml"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """The small world over its own period, and beside it (at the same time) the wrong one over a week."""
    base = tmp_path_factory.mktemp("simulate")
    wrong_scenario, wrong_config = wrong_pair(base / "wrong-input")
    outs = {"right": base / "right" / "out", "wrong": base / "wrong" / "out"}
    procs = {"right": start(outs["right"], "--scenario", str(SCENARIO), "--config", str(CONFIG)),
             "wrong": start(outs["wrong"], "--scenario", str(wrong_scenario), "--config", str(wrong_config),
                            "--period", ONE_WEEK)}
    try:
        return {name: (outs[name], finish(proc, outs[name])) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()


def test_second_scenario_matches_its_expected(runs):
    out, done = runs["right"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "合格率40.0%" in done.stdout and "全部一致" in done.stdout
    assert "不一致" not in done.stdout and "≠" not in done.stdout
    assert "2023年11月6日至2023年12月3日" in done.stdout  # the scenario's own period
    expected = {a.id: a.expected for a in load_scenario(SCENARIO).accounts}
    metrics = wxmon("metrics", "--period", "2023-11-06..2023-12-03", "--config", str(out / "accounts.yaml"), "--json")
    assert metrics.returncode == 0, metrics.stderr
    rows = {row["account_id"]: row for row in map(json.loads, metrics.stdout.splitlines())}
    assert {a: r["verdict"] for a, r in rows.items()} == {a: e.verdict for a, e in expected.items()}
    assert rows["sz-wenlv"]["verdict"] == "无法判定"  # the monitor's own trouble, never the account's
    for acct, e in expected.items():
        if e.rules is not None:
            assert rows[acct]["failed_rules"] == e.rules, acct
    assert rows["sz-jiaoyu"]["failed_rules"] == ["stale"]
    assert (out / "wxmon-2023-11-06..2023-12-03.csv").stat().st_size > 0


def test_simulate_used_the_configs_own_schedules(runs):
    out, done = runs["right"]
    assert done.returncode == 0, done.stderr[-2000:]
    written = yaml.safe_load((out / "accounts.yaml").read_text(encoding="utf-8"))
    source = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert written["schedules"] == source["schedules"]
    assert written["checks"]["timeout_s"] == 5
    assert written["wechat"]["api_base"].startswith("http://127.0.0.1:") and \
        written["wechat"]["api_base"] != source["wechat"]["api_base"]


def test_a_wrong_expected_is_exit_1_naming_account_and_rule(runs):
    _, done = runs["wrong"]
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "问题不一致 sz-fabu（山镇发布（模拟））：未测出「泄露个人信息」（privacy_leak）" in done.stdout
    assert "存在不一致（结论不一致1个）" in done.stdout and "全部一致" not in done.stdout
    assert "不合格  ≠" in done.stdout  # sz-fabu's row: expected 不合格, measured 合格


# ------------------------------------------------------------------ bad input: exit 2, one line, no emulator

def cli(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess:
    """``wxmon ARGS`` in this process (bad input is refused before any emulator starts)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def write(tmp: Path, name: str, data: Any) -> Path:
    path = tmp / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def shanzhen() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SCENARIO.read_text(encoding="utf-8"))
    return data


def test_unknown_rule_id_is_bad_input(tmp_path, capsys):
    scenario = shanzhen()
    scenario["accounts"][3]["expected"] = {"verdict": "不合格", "rules": ["privacy_leak", "broken_column"]}
    path = write(tmp_path, "s.yaml", scenario)
    done = cli(capsys, "simulate", "--scenario", str(path), "--config", str(CONFIG), "--out", str(tmp_path / "o"))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{path}: accounts[sz-weijian].expected.rules: unknown rule 'broken_column'" in lines[0]
    assert "broken_columns" in lines[0]  # the policy's rules are listed
    assert not (tmp_path / "o").exists()


def test_bad_expected_verdict_names_file_and_place(tmp_path, capsys):
    scenario = shanzhen()
    scenario["accounts"][0]["expected"] = {"verdict": "优秀"}
    path = write(tmp_path, "s.yaml", scenario)
    done = cli(capsys, "simulate", "--scenario", str(path), "--config", str(CONFIG), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"wxmon: {path}: accounts.0.expected.verdict: ")


def test_config_account_not_in_the_scenario(tmp_path, capsys):
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["accounts"][0]["appid"] = "wx0000000000000000"
    path = write(tmp_path, "a.yaml", config)
    done = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(path), "--out", str(tmp_path / "o"))
    assert done.returncode == 2
    assert done.stderr.strip() == (f"wxmon: {path}: accounts: sz-fabu (appid wx0000000000000000) is not an account "
                                   f"of the scenario {SCENARIO}")


def test_a_scenario_without_period_needs_one(tmp_path, capsys):
    scenario = shanzhen()
    del scenario["period"]
    path = write(tmp_path, "s.yaml", scenario)
    done = cli(capsys, "simulate", "--scenario", str(path), "--config", str(CONFIG), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and f"{path}: period: the scenario names no period" in done.stderr
    bad = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(CONFIG), "--period", "2023Q5",
                "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and bad.stderr.startswith("wxmon: --period: ")


def test_bad_config_is_bad_input(tmp_path, capsys):
    path = write(tmp_path, "a.yaml", "accounts:\n  - {id: Bad Id}\n")
    done = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(path), "--out", str(tmp_path / "o"))
    assert done.returncode == 2 and f"{path}:" in done.stderr


def test_simulate_help_shows_the_usage():
    done = wxmon("simulate", "--help")
    assert done.returncode == 0
    assert "wxmon simulate --scenario FILE --config FILE [--period P] [--out DIR] [--fast] [--seed N]" in done.stdout


# ------------------------------------------------------------------ the expected: model

@pytest.mark.parametrize("expected, problem", [
    ({"verdict": "无法判定", "rules": ["stale"]}, "verdict 无法判定 fails no rule"),
    ({"verdict": "合格", "fails": ["stale"]}, "verdict 合格 fails no rule"),
    ({"verdict": "不合格"}, "needs at least one of fails or rules"),
    ({"verdict": "不合格", "rules": []}, "needs at least one of fails or rules"),
    ({"verdict": "不合格", "fails": ["stale"], "rules": ["stale"]}, "not both"),
    ({"verdict": "不合格", "rules": ["stale", "stale"]}, "listed twice"),
    ({"verdict": "不合格", "rules": ["no such"]}, "accounts.0.expected.rules.0"),
])
def test_expected_is_checked(expected, problem):
    data = {"accounts": [{"id": "a", "name": "甲（模拟）", "appid": "wx1", "expected": expected}]}
    with pytest.raises(ScenarioError, match=problem):
        parse_scenario(data)


def test_expected_takes_unverifiable_and_exact_rule_ids():
    data = {"accounts": [{"id": "a", "name": "甲", "appid": "wx1", "expected": {"verdict": "无法判定"}},
                         {"id": "b", "name": "乙", "appid": "wx2",
                          "expected": {"verdict": "不合格", "rules": ["no_interaction"]}}]}
    scenario = parse_scenario(data)
    assert [a.expected.model_dump() for a in scenario.accounts if a.expected] == [
        {"verdict": "无法判定", "fails": [], "rules": None},
        {"verdict": "不合格", "fails": [], "rules": ["no_interaction"]}]


# ------------------------------------------------------------------ truth without expected:, config rewrite

END = datetime(2023, 12, 4, tzinfo=SHANGHAI)
POLICY = resolve_policy("demo-default")


def test_truth_from_the_world_when_nothing_is_expected():
    healthy = {"days_since_update": 2.5, "broken_columns": [], "leaks": [],
               "inquiries": [{"human_reply_at": "2023-11-06T11:00:00+08:00", "human_reply_working_minutes": 90}]}
    assert facts_failed_rules(POLICY, healthy, END) == []
    stale_and_leaking = {**healthy, "days_since_update": 18.2, "leaks": [{"type": "id_card"}]}
    assert facts_failed_rules(POLICY, stale_and_leaking, END) == ["stale", "privacy_leak"]
    never = {**healthy, "days_since_update": None, "broken_columns": ["办事服务/办事指南"],
             "inquiries": [{"human_reply_at": None, "human_reply_working_minutes": None}]}
    assert facts_failed_rules(POLICY, never, END) == ["stale", "no_interaction", "inquiry_deadline", "broken_columns"]
    late = {**healthy, "inquiries": [{"human_reply_at": "2023-11-10T11:00:00+08:00",
                                      "human_reply_working_minutes": 3 * 390 + 1}]}
    assert facts_failed_rules(POLICY, late, END) == ["inquiry_deadline"]


def test_run_config_points_at_the_emulator_and_keeps_the_schedules():
    source = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    source["channels"] = {"bridge": {"url": "http://127.0.0.1:8780/bridge"}}
    source["accounts"][0]["inquiry"]["channel"] = "manual"
    own = run_config_data(json.loads(json.dumps(source)), "http://127.0.0.1:8780/", "http://127.0.0.1:5001", False)
    assert own["schedules"] == source["schedules"] and own["checks"]["timeout_s"] == 5
    assert own["wechat"]["api_base"] == "http://127.0.0.1:5001"
    assert own["channels"]["bridge"]["url"] == "http://127.0.0.1:5001/bridge"
    assert own["checks"]["canary_urls"] == ["http://127.0.0.1:5001/_emu/canary"]
    assert own["checks"]["allow_private"] == ["127.0.0.1/32"] and own["checks"]["per_host_rate"] is None
    assert own["store"] == "sqlite:///wxmon.db"
    assert own["accounts"][0]["inquiry"]["channel"] == "emulator"  # the emulator's follower asks
    fast = run_config_data(json.loads(json.dumps(source)), "http://127.0.0.1:8780", "http://127.0.0.1:5001", True)
    assert fast["schedules"]["columns"] == "0 */6 * * *" and fast["checks"]["timeout_s"] == 3


def test_out_never_replaces_a_real_installation(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    (real / "wxmon.db").write_bytes(b"")
    done = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(CONFIG), "--out", str(real))
    assert done.returncode == 2 and f"{real / 'wxmon.db'}: a store no simulation wrote" in done.stderr
    (real / "accounts.yaml").write_text("store: sqlite:///wxmon.db\n", encoding="utf-8")
    done = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(CONFIG), "--out", str(real))
    assert done.returncode == 2 and "not written by wxmon simulate or demo" in done.stderr
    done = cli(capsys, "simulate", "--scenario", str(SCENARIO), "--config", str(real / "accounts.yaml"),
               "--out", str(real))
    assert done.returncode == 2 and "--out would overwrite the config" in done.stderr
    assert (real / "accounts.yaml").read_text(encoding="utf-8") == "store: sqlite:///wxmon.db\n"
