"""``wxmon demo``: ``wxmon simulate --fast`` on the shipped pair, the demo scenario and accounts.yaml.

A whole simulated quarter (2023Q3) on the emulator, through the real product; at the end the
measured verdicts and failed rules are printed beside the scenario's ground truth
(:mod:`wxmon.simulate` has the whole path).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.clock import SHANGHAI
from monitor.errors import BadInput
from monitor.policy import Policy
from wxmon.simulate import (
    FAST_SCHEDULES,
    LABEL_KINDS,
    RuleMismatch,
    Simulation,
    agreement_text,
    print_result,
    progress_bar,
    rule_mismatch_lines,
    rule_mismatches,
    run_simulation,
    run_until,
)
from wxmon.simulate import SimulateResult as DemoResult
from wxmon.simulate import truth_failed_rules as _truth_failed_rules

QUARTER = "2023Q3"
START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
END = datetime(2023, 10, 1, tzinfo=SHANGHAI)
TEMPLATE = Path(__file__).resolve().parents[1] / "accounts.yaml"
DEMO_SCHEDULES = FAST_SCHEDULES

__all__ = ["DEMO_SCHEDULES", "LABEL_KINDS", "DemoResult", "RuleMismatch", "agreement_text", "demo_simulation",
           "print_result", "progress_bar", "rule_mismatch_lines", "rule_mismatches", "run_demo", "run_demo_until",
           "truth_failed_rules"]


def truth_failed_rules(policy: Policy, facts: Mapping[str, Any], end: datetime = END) -> list[str]:
    """:func:`wxmon.simulate.truth_failed_rules`, by default at the end of the demo's quarter."""
    return _truth_failed_rules(policy, facts, end)


def demo_simulation(out_dir: Path, seed: int | None = None, channel: str = "emulator",
                    access: str = "secret") -> Simulation:
    """The demo as a simulation: the shipped scenario and accounts.yaml, its quarter, the fast spacing
    (``channel`` "bridge": its inquiries through the emulator's bridge, docs/bridge.md; ``access``
    "component": API access by the units' authorization of the emulated third-party platform)."""
    if not TEMPLATE.is_file():
        raise BadInput(f"{TEMPLATE}: the demo configuration is missing (run wxmon demo from a source checkout)")
    return Simulation(scenario=None, config=TEMPLATE, out_dir=out_dir, period=QUARTER, fast=True, seed=seed,
                      channel=channel, access=access)


def run_demo(out_dir: Path, seed: int | None = None,
             progress: Callable[[int, int], None] | None = None, channel: str = "emulator",
             access: str = "secret") -> DemoResult:
    return run_simulation(demo_simulation(out_dir, seed, channel, access), progress)


def run_demo_until(out_dir: Path, until: datetime, seed: int | None = None) -> Path:
    """The demo's first events only, those before ``until``: the weekly reports due by then, in
    ``DIR/weekly``, exactly as a whole demo writes them (no quarter outputs). Returns that directory."""
    return run_until(demo_simulation(out_dir, seed), until)
