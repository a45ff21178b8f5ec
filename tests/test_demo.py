"""`wxmon demo` end to end: the measured verdict of every account equals the scenario's truth."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.scenario import load_scenario


def start_demo(out: Path) -> subprocess.Popen:
    """``wxmon demo`` into ``out``, its stdout and stderr into files beside it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / "stdout").open("wb") as stdout, (out.parent / "stderr").open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "monitor.cli", "demo", "--out", str(out)],
                                stdout=stdout, stderr=stderr)


def finish_demo(proc: subprocess.Popen, out: Path) -> subprocess.CompletedProcess:
    code = proc.wait(timeout=600)
    read = lambda name: (out.parent / name).read_text(encoding="utf-8", errors="replace")  # noqa: E731
    return subprocess.CompletedProcess(proc.args, code, read("stdout"), read("stderr"))


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, subprocess.CompletedProcess]]:
    """Two demos with the same seed, run at the same time (each is mostly one busy process)."""
    outs = [tmp_path_factory.mktemp(name) / "out" for name in ("demo", "again")]
    procs = [start_demo(out) for out in outs]
    try:
        return [(out, finish_demo(proc, out)) for proc, out in zip(procs, outs)]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


@pytest.fixture(scope="module")
def demo(demo_runs) -> tuple[Path, subprocess.CompletedProcess]:
    return demo_runs[0]


def wxmon(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monitor.cli", *args], capture_output=True, text=True, timeout=120)


def test_demo_verdicts_equal_the_truth(demo):
    out, done = demo
    assert done.returncode == 0, done.stderr[-2000:]
    assert "合格率61.9%" in done.stdout and "全部一致" in done.stdout
    expected = {a.id: a.expected.verdict for a in load_scenario(None).accounts}
    metrics = wxmon("metrics", "--period", "2023Q3", "--config", str(out / "accounts.yaml"), "--json")
    assert metrics.returncode == 0, metrics.stderr
    measured = {row["account_id"]: row["verdict"] for row in map(json.loads, metrics.stdout.splitlines())}
    assert measured == expected
    assert sum(v == "合格" for v in measured.values()) == 13


def test_demo_outputs_agree(demo):
    out, done = demo
    assert done.returncode == 0, done.stderr[-2000:]
    raw = (out / "wxmon-2023Q3.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    verdicts = [r[-2] for r in rows[1:]]
    export_rate = f"合格率{round(100 * verdicts.count('合格') / len(verdicts), 1)}%"
    bulletin = (out / "bulletin-2023Q3.md").read_text(encoding="utf-8")
    assert export_rate == "合格率61.9%" and export_rate in bulletin
    assert (out / "wxmon-2023Q3.xlsx").stat().st_size > 0
    weeks = sorted(p.name for p in (out / "weekly").iterdir())
    assert len(weeks) == 14 and weeks[-1] == "2023-W39"
    assert list((out / "weekly" / "2023-W39").glob("*.png"))
    # The demo's config serves the other commands.
    again = wxmon("bulletin", "--period", "2023Q3", "--config", str(out / "accounts.yaml"))
    assert again.returncode == 0 and "合格率61.9%" in again.stdout


def test_same_seed_same_results(demo_runs):
    (out, done), (again_out, again) = demo_runs
    assert done.returncode == 0, done.stderr[-2000:]
    assert again.returncode == 0, again.stderr[-2000:]
    assert out != again_out
    for name in ("wxmon-2023Q3.csv", "bulletin-2023Q3.md"):
        assert (again_out / name).read_bytes() == (out / name).read_bytes(), name
