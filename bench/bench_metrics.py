"""Benchmark: metrics + scoring + CSV for 10,000 accounts over a quarter (run on demand).

    .venv/bin/python bench/bench_metrics.py                 # 10,000 accounts, 2023Q3
    .venv/bin/python bench/bench_metrics.py --accounts 500  # smaller
    .venv/bin/python bench/bench_metrics.py --db /tmp/b.db --reuse   # measure an existing store again

Builds a SQLite store with what the daemon's default schedules would have
left after a quarter: hourly checks of 8 columns per account (as column_daily
rollups: 24 checks per column and day), one test inquiry per account and week,
about one article per account and day, customer-service rollups for a fifth of
the accounts, and a few privacy findings. Then, in a fresh process (so that
the peak RSS is the measurement's, not the build's), times
``metrics_table`` (compute + score) for the quarter and the CSV export.

How the data goes in: accounts, the first round of column checks (which
creates the 80,000 column states), the articles, follower days and findings
go through the store's API. The daily column rollups (7.4 M rows), the
130,000 inquiries and the ~760,000 articles are inserted directly into their
tables: through the API they would be 177 M single checks, 260,000 one-row
transactions, and an article upsert whose existence check scans the whole
index per chunk on SQLite (282 s for the articles when tried).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor import clock  # noqa: E402
from monitor.clock import SHANGHAI, UTC, VirtualClock  # noqa: E402
from monitor.period import parse_period  # noqa: E402
from monitor.store import Account, ColumnResult, FollowerDay, PrivacyFinding, Store  # noqa: E402

PERIOD = "2023Q3"
COLUMNS = ["首页/最新动态", "政务公开/通知公告", "政务公开/政策文件", "办事服务/办事指南", "办事服务/社保查询",
           "互动交流/领导信箱", "互动交流/常见问题", "便民/小程序"]
NOW = datetime(2023, 10, 9, 9, 0, tzinfo=SHANGHAI)  # after the National Day holiday: every deadline passed


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, dtime(hour, minute), SHANGHAI).astimezone(UTC)


def log(msg: str) -> None:
    print(msg, flush=True)


def build(db: Path, n_accounts: int, seed: int) -> None:
    rng = random.Random(seed)
    period = parse_period(PERIOD)
    days = [period.first_day + timedelta(days=i) for i in range(period.days)]
    ids = [f"acct-{i:05d}" for i in range(n_accounts)]
    clock.set_clock(VirtualClock(NOW))
    store = Store.open(f"sqlite:///{db}")
    t0 = time.perf_counter()

    store.upsert_accounts(Account(a, f"账号{i}", f"单位{i}", "政府部门") for i, a in enumerate(ids))

    # First round (the day before the period) through the API: creates the column states.
    before = shanghai(period.first_day - timedelta(days=1), 23)
    first = [ColumnResult(a, c, "unverifiable" if c == COLUMNS[-1] else "ok", before, type="view",
                          target=f"https://example.gov.cn/{a}/{k}", elapsed_ms=120.0)
             for a in ids for k, c in enumerate(COLUMNS)]
    for i in range(0, len(first), 20_000):
        store.apply_column_results(first[i:i + 20_000])
    log(f"  accounts + first column round via API: {time.perf_counter() - t0:.1f}s")

    # Daily rollups, directly: 24 hourly checks per column and day.
    t1 = time.perf_counter()
    from monitor.store.tables import column_state

    with store.engine.connect() as conn:
        col_ids = {(r.account_id, r.column_path): r.id for r in conn.execute(
            column_state.select().with_only_columns(column_state.c.id, column_state.c.account_id,
                                                    column_state.c.column_path))}
    broken_from = {a: rng.randrange(10, 80) for a in ids[::50]}  # 2% of accounts: one column breaks
    outage_day = days[44]  # the monitor's own network down for an hour: error for every column
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN")
        sql = ("INSERT INTO column_daily (day, column_id, checks, ok, failing, broken, unverifiable, error, "
               "max_elapsed_ms) VALUES (?,?,?,?,?,?,?,?,?)")
        for d_i, day in enumerate(days):
            rows = []
            text = day.isoformat()
            for a in ids:
                for k, c in enumerate(COLUMNS):
                    err = 1 if day == outage_day else 0
                    ok, failing, broken, unver = 24 - err, 0, 0, 0
                    if k == len(COLUMNS) - 1:
                        ok, unver = 0, 24 - err
                    elif k == 0 and a in broken_from and d_i >= broken_from[a]:
                        if d_i == broken_from[a]:
                            ok, failing, broken = 10, 3, 11 - err
                        else:
                            ok, broken = 0, 24 - err
                    elif k == 1 and d_i % 17 == int(a[-5:]) % 17:  # a transient failure, never confirmed
                        ok, failing = 22 - err, 2
                    rows.append((text, col_ids[(a, c)], 24, ok, failing, broken, unver, err, 100 + k * 10))
            cur.executemany(sql, rows)
        cur.execute("COMMIT")
    finally:
        raw.close()
    log(f"  column_daily: {len(days) * len(ids) * len(COLUMNS):,} rows directly: {time.perf_counter() - t1:.1f}s")

    # Inquiries, directly: Monday 09:00 each week, outcomes mixed.
    t2 = time.perf_counter()
    from monitor.store.tables import inquiries

    rows = []
    mondays = [d for d in days if d.weekday() == 0]
    for a in ids:
        # 70% of accounts always answer, 20% are sometimes late, 10% are poor.
        p = rng.random()
        late_p, none_p = (0.0, 0.0) if p < 0.7 else (0.2, 0.0) if p < 0.9 else (0.25, 0.25)
        for m in mondays:
            sent = shanghai(m, 9)
            r = rng.random()
            auto = sent + timedelta(seconds=5) if rng.random() < 0.5 else None
            human = None
            state = "answered"
            if r < 0.01:
                state, auto = "error", None
            elif r < 0.01 + none_p:
                state = "unanswered"
            elif r < 0.01 + none_p + late_p:
                human, state = sent + timedelta(days=rng.randrange(4, 9)), "late"
            else:
                human = sent + timedelta(minutes=rng.randrange(10, 2880))
            failed = state == "error"
            rows.append({"account_id": a, "window_key": m.isoformat(), "channel": "emulator", "tester": "t",
                         "question": "请问社保卡补办需要带什么材料？", "state": state, "created_at": sent,
                         "sent_at": None if failed else sent, "deadline_at": shanghai(m + timedelta(days=4), 0),
                         "auto_reply_at": auto, "first_reply_at": auto or human, "human_reply_at": human,
                         "latency_minutes": None, "channel_ref": None, "error": "bridge down" if failed else None,
                         "updated_at": sent})
    with store.engine.begin() as conn:
        for i in range(0, len(rows), 20_000):
            conn.execute(inquiries.insert(), rows[i:i + 20_000])
    log(f"  inquiries: {len(rows):,} rows directly: {time.perf_counter() - t2:.1f}s")

    # Content, directly: about one article a day; 5% of accounts stop in mid-August.
    # (Store.upsert_content_items checks existence with a row-value IN that SQLite
    # answers by scanning the whole unique index per chunk: 762,680 items took
    # 282 s through it, growing with the table.)
    t3 = time.perf_counter()
    from monitor.store.tables import content_items

    stale = set(ids[3::20])
    items: list[dict[str, object]] = []
    n_items = 0
    with store.engine.begin() as conn:
        for a in ids:
            for day in days:
                if a in stale and day > date(2023, 8, 15):
                    break
                if rng.random() < 0.85:
                    items.append({"account_id": a, "source": "freepublish", "item_id": f"{a}-{day.isoformat()}",
                                  "title": "工作动态", "url": f"https://mp.weixin.qq.com/s/{a}{day:%m%d}",
                                  "published_at": shanghai(day, rng.randrange(8, 20)),
                                  "first_seen_at": shanghai(day, 21)})
            if len(items) >= 50_000:
                conn.execute(content_items.insert(), items)
                n_items += len(items)
                items = []
        if items:
            conn.execute(content_items.insert(), items)
            n_items += len(items)
    log(f"  content: {n_items:,} items directly: {time.perf_counter() - t3:.1f}s")

    t4 = time.perf_counter()
    follower = [FollowerDay(a, day, m := rng.randrange(0, 30), rng.randrange(0, m + 1), rng.uniform(5, 300), None)
                for a in ids[::5] for day in days]
    for i in range(0, len(follower), 50_000):
        store.upsert_follower_days(follower[i:i + 50_000])
    findings = [PrivacyFinding(a, f"https://mp.weixin.qq.com/s/{a}x", rng.choice(["id_card", "mobile"]), k * 40,
                               k * 40 + 18, "1101**********1234", shanghai(days[rng.randrange(len(days))], 7))
                for a in ids[7::100] for k in range(rng.randrange(1, 4))]
    store.add_privacy_findings(findings)
    log(f"  follower days {len(follower):,} + findings {len(findings)} via API: {time.perf_counter() - t4:.1f}s")
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    store.close()
    log(f"build: {time.perf_counter() - t0:.1f}s, store {db.stat().st_size / 2**20:.0f} MiB")


def write_config(db: Path, n_accounts: int) -> Path:
    path = db.with_suffix(".yaml")
    lines = [f"store: sqlite:///{db}", "policy: demo-default", "accounts:"]
    for i in range(n_accounts):
        lines += [f"  - id: acct-{i:05d}", f"    name: 账号{i}", f"    unit: 单位{i}", "    category: 政府部门",
                  "    api: false", "    columns: [{path: 首页, type: click}]"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(config_path: Path, out_csv: Path) -> None:
    """Runs in a fresh process: the peak RSS is the measurement's own."""
    from monitor.config import load_config
    from monitor.scoring import EXPORT_COLUMNS, format_rate, metrics_table, pass_rate

    t0 = time.perf_counter()
    config = load_config(config_path)
    t_config = time.perf_counter() - t0
    store = Store.open(config.store_url)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t1 = time.perf_counter()
    df = metrics_table(store, config, parse_period(PERIOD), now=NOW)
    t_metrics = time.perf_counter() - t1
    t2 = time.perf_counter()
    df.loc[:, list(EXPORT_COLUMNS)].to_csv(out_csv, index=False, encoding="utf-8-sig")
    t_csv = time.perf_counter() - t2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    passed, checked, rate = pass_rate(df)
    log(f"load_config ({len(config.accounts):,} accounts): {t_config:.1f}s")
    log(f"metrics_table (compute + score) for {PERIOD}: {t_metrics:.1f}s")
    log(f"CSV ({out_csv.stat().st_size / 2**20:.1f} MiB, utf-8-sig): {t_csv:.2f}s")
    log(f"peak RSS: {peak / 1024:.0f} MiB (before metrics: {rss0 / 1024:.0f} MiB)")
    log(f"verdicts: {df['verdict'].value_counts().to_dict()}  {format_rate(rate)} ({passed}/{checked})")
    store.close()


def prepare_store(args: argparse.Namespace,
                  prefix: str) -> tuple[tempfile.TemporaryDirectory[str] | None, Path]:
    """The store the benchmarks measure: ``--db`` (built afresh unless ``--reuse``) or a file in a
    temporary directory (returned, so the caller keeps it alive until it is done)."""
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix=prefix)
        args.db = Path(tmp.name) / "bench.db"
    db = args.db.absolute()
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        log(f"building {args.accounts:,} accounts x {PERIOD} in {db}")
        build(db, args.accounts, args.seed)
    return tmp, db


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=10_000)
    ap.add_argument("--db", type=Path, help="store file (default: a temporary directory)")
    ap.add_argument("--reuse", action="store_true", help="measure an existing --db without building")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: the child process
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.measure.with_suffix(".csv"))
        return 0
    tmp, db = prepare_store(args, "wxmon-bench-")
    config = write_config(db, args.accounts)
    log("measuring in a fresh process")
    rc = subprocess.call([sys.executable, __file__, "--measure", str(config)], env={**os.environ})
    if tmp is not None:
        tmp.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
