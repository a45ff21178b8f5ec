"""Benchmark: the console's overview of a 10,000-account store (run on demand).

    .venv/bin/python bench/bench_console.py                       # 10,000 accounts, 2023Q3
    .venv/bin/python bench/bench_console.py --accounts 1000
    .venv/bin/python bench/bench_console.py --db /tmp/c.db --reuse   # measure an existing store again

Builds the store bench/bench_metrics.py builds (a quarter of hourly column checks, weekly inquiries,
daily articles, findings), then measures, as ratios against a baseline taken in the same run (one
``metrics_table`` of the quarter: the computation every report starts from):

- the snapshot the console keeps (the quarter, its weeks and quarters, yesterday's verdicts):
  computed once per new data, off the request path;
- the overview page served over HTTP by the real app (uvicorn on 127.0.0.1) from a kept snapshot,
  for a supervisor (all 10,000 accounts) and for a unit's editor: the goal is under 1 s;
- a daemon-style write (one round of column results for 1,000 accounts) alone, and while the
  console holds a read transaction open (SQLite WAL: the write must not wait for the reader).
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_metrics import COLUMNS, NOW, PERIOD, prepare_store, shanghai  # noqa: E402
from timing import best  # noqa: E402

from monitor import clock  # noqa: E402
from monitor.clock import VirtualClock  # noqa: E402
from monitor.period import parse_period  # noqa: E402
from monitor.store import ColumnResult, Store  # noqa: E402

CATEGORIES = ("乡镇街道", "政府部门", "区政府", "事业单位", "其他")
PER_UNIT = 10
GOAL_S = 1.0


def write_config(db: Path, n_accounts: int) -> Path:
    path = db.with_suffix(".console.yaml")
    lines = [f"store: sqlite:///{db}", "policy: demo-default", "accounts:"]
    for i in range(n_accounts):
        lines += [f"  - id: acct-{i:05d}", f"    name: 账号{i}", f"    unit: 单位{i // PER_UNIT}",
                  f"    category: {CATEGORIES[i % len(CATEGORIES)]}", "    api: false",
                  "    columns: [{path: 首页, type: click}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def log(msg: str) -> None:
    print(msg, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--db", type=Path, help="store file (default: a temporary directory)")
    ap.add_argument("--reuse", action="store_true", help="measure an existing --db without building")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tmp, db = prepare_store(args, "wxmon-bench-console-")
    clock.set_clock(VirtualClock(NOW))
    try:
        return measure(write_config(db, args.accounts))
    finally:
        if tmp is not None:
            tmp.cleanup()


def measure(config_path: Path) -> int:
    import httpx
    from console_server import running_console

    from console.auth import hash_password
    from console.snapshot import compute_snapshot
    from monitor.config import load_config
    from monitor.scoring import metrics_table

    config = load_config(config_path)
    period = parse_period(PERIOD)
    n = len(config.accounts)
    with Store.open(config.store_url) as store:
        for name, role, unit in (("bench-boss", "supervisor", None), ("bench-editor", "editor", "单位7")):
            if store.get_user(name) is None:
                store.add_user(name, role=role, unit=unit, password_hash=hash_password("bench password"),
                               actor="bench")
        baseline = best(lambda: metrics_table(store, config, period), runs=3)
        log(f"baseline: metrics_table of {PERIOD}, {n:,} accounts: {baseline:.2f}s")
        start = time.perf_counter()
        snapshot = compute_snapshot(store, config, period)
        t_snapshot = time.perf_counter() - start
        log(f"snapshot (quarter + {len(snapshot.weeks)} weeks + {len(snapshot.quarters)} quarters + yesterday): "
            f"{t_snapshot:.1f}s = {t_snapshot / baseline:.1f}x baseline (once per new data, in the background)")

        run = store.start_run("columns", started_at=NOW)  # new data the same day: the usual case
        store.finish_run(run.id, "ok", finished_at=NOW)
        start = time.perf_counter()
        snapshot = compute_snapshot(store, config, period, snapshot)
        t_again = time.perf_counter() - start
        log(f"snapshot again after a new round the same day (closed weeks, other quarters, yesterday kept): "
            f"{t_again:.1f}s = {t_again / baseline:.1f}x baseline")

        with running_console(config, store) as server:
            server.app.state.console.cache.put(snapshot)
            results = {}
            for name in ("bench-boss", "bench-editor"):
                c = httpx.Client(base_url=server.url, timeout=600)
                token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
                assert token is not None
                c.post("/login", data={"csrf_token": token.group(1), "username": name,
                                       "password": "bench password"})
                page = c.get(f"/?period={PERIOD}")
                assert page.status_code == 200 and "合格率" in page.text, page.status_code
                t_page = best(lambda c=c: c.get(f"/?period={PERIOD}"), runs=5)
                t_account = best(lambda c=c: c.get(f"/accounts/acct-00071?period={PERIOD}"), runs=3)
                results[name] = (t_page, len(page.content), t_account)
            for name, (t_page, size, t_account) in results.items():
                verdict = "OK" if t_page < GOAL_S else "OVER the 1 s goal"
                log(f"overview over HTTP, {name}: {t_page * 1000:.0f} ms ({size / 2**20:.2f} MiB HTML) = "
                    f"{t_page / baseline:.3f}x baseline [{verdict}]; an account page {t_account * 1000:.0f} ms")

        # WAL: a daemon's write while the console holds a read transaction open
        ids = [a.id for a in config.accounts[:1000]]
        rounds = iter(range(1, 1_000_000))

        def write_round() -> None:
            k = next(rounds)
            at = shanghai(period.last_day, 23, 30) + timedelta(seconds=k)
            status = "ok" if k % 2 else "failing"
            store.apply_column_results([ColumnResult(a, COLUMNS[0], status, at, type="view") for a in ids])

        alone = best(write_round, runs=3)
        reading, release = threading.Event(), threading.Event()

        def hold_read() -> None:
            with store.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql("select count(*) from column_state").scalar()
                reading.set()
                release.wait()

        reader = threading.Thread(target=hold_read)
        reader.start()
        reading.wait()
        try:
            during = best(write_round, runs=3)
        finally:
            release.set()
            reader.join()
        log(f"write of 1,000 column results: alone {alone * 1000:.0f} ms, while the console reads "
            f"{during * 1000:.0f} ms = {during / alone:.2f}x (no lock-out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
