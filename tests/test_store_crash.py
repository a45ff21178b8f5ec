"""Killing a writer with SIGKILL mid-batch leaves a sound, consistent SQLite store."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from monitor.store import Store

try:
    from store_fixtures import CRASH_BATCH, column_events_between, crash_status, sqlite_url
except ImportError:  # tests/ became a package
    from tests.store_fixtures import CRASH_BATCH, column_events_between, crash_status, sqlite_url

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
KILLS = 6


def _spawn(url: str) -> subprocess.Popen[str]:
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS_DIR)!r}); "
        f"from store_fixtures import crash_writer; crash_writer({url!r})"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _check_consistent(path: Path) -> int:
    """Integrity and all-or-nothing batches; returns the number of committed runs."""
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    with Store.open(sqlite_url(path)) as store:
        counts = store.health(integrity=False).row_counts
        runs = counts["probe_runs"]
        if runs == 0:  # killed before the first batch committed
            assert counts["column_state"] == counts["column_events"] == counts["column_daily"] == 0
            return 0
        listed = store.last_runs(limit=runs + 1)
        assert len(listed) == runs
        # A run and its batch commit together: no run is left "running" ...
        assert {r.status for r in listed} == {"ok"}
        assert sorted(r.detail["n"] for r in listed if r.detail) == list(range(1, runs + 1))
        # ... every run has all its rows (each run flips every column) ...
        assert counts["column_state"] == CRASH_BATCH
        assert counts["column_events"] == CRASH_BATCH * runs
        events = column_events_between(store, listed[-1].started_at, listed[0].started_at.replace(year=2100))
        per_run: dict[int | None, int] = {}
        for e in events:
            per_run[e.run_id] = per_run.get(e.run_id, 0) + 1
        assert per_run == {r.id: CRASH_BATCH for r in listed}
        # ... and the daily rollup holds exactly the applied results.
        totals = store.column_totals_between(date(2023, 1, 1), date(2100, 1, 1))
        assert len(totals) == CRASH_BATCH
        assert sum(t.checks for t in totals) == CRASH_BATCH * runs
        assert sum(t.ok for t in totals) == CRASH_BATCH * (runs // 2)
        assert sum(t.failing for t in totals) == CRASH_BATCH * ((runs + 1) // 2)
        assert {s.status for s in store.get_column_states()} == {crash_status(runs)}
        return runs


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_write_leaves_a_consistent_store(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    url = sqlite_url(path)
    seed = int(os.environ.get("WXMON_CRASH_SEED", time.time_ns() % 100_000))
    rng = random.Random(seed)
    committed = 0
    for kill in range(KILLS):
        proc = _spawn(url)
        try:
            if kill == 0:
                # The first kill may land while the store is being created/migrated.
                time.sleep(rng.uniform(0.0, 0.8))
            else:
                line = proc.stdout.readline() if proc.stdout else ""
                assert line.strip().isdigit(), f"writer died (seed {seed}): {proc.stderr.read() if proc.stderr else ''}"
                time.sleep(rng.uniform(0.0, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"writer exited by itself (seed {seed})"
        runs = _check_consistent(path)
        assert runs >= committed, f"committed runs went missing (seed {seed})"
        committed = runs
    assert committed >= KILLS - 1, f"the writer made too little progress (seed {seed})"
