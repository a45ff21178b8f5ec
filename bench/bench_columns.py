"""Columns-probe throughput benchmark: wxmon's real round vs a bare aiohttp loop vs blackbox_exporter.

    .venv/bin/python bench/bench_columns.py [--accounts 10000] [--columns 8] [--concurrency 50]
        [--blackbox-urls 20000] [--api-helper auto|inline|process] [--profile out.prof]

Three processes are measured against one emulator process (so the server never
shares the GIL with the measured client):

1. the emulator (``generate_bulk(accounts, columns, seed)``) on 127.0.0.1, free port;
2. wxmon in a child process: a temporary accounts.yaml and SQLite store, three rounds of
   ``run_probe(ctx, "columns", accounts)`` on one ProbeContext, as the daemon runs them:
   cold (the first after a start: stable_token and get_current_selfmenu_info for every
   account, every column new to the store, the store writer process started), steady (the
   next: tokens and menus cached; only accounts with a failure read their menu again) and
   later (the clock LATER_H hours on: tokens expired, the menus then due read again, about
   a third of them with the default menu_refresh_minutes). Each round includes discovery,
   page checks, verdicts, confirmation and the batched store writes (in wxmon's store
   writer process, whose CPU is counted); menus due in thousands are read in wxmon's API
   helper process (its CPU and its requests are counted too; ``--api-helper inline``
   reads them in the round's own process, for comparison). Then a separate
   discovery-only pass. Peak RSS is the child's own ``ru_maxrss``;
3. in this process: a bare aiohttp GET + keyword loop over the same URLs, before and after
   wxmon (the faster of the two is the baseline), then, when
   the Debian package is installed, blackbox_exporter driven through ``/probe``.

All pages sit on one loopback host, so wxmon's per-host politeness caps (a policy for
government hosts) are lifted for the measurement: per_host = concurrency, no per-host
rate. Nothing here is a product dependency; blackbox_exporter is only a comparison.

Every phase also prints CPU use (% of one core) of each process and of the whole machine:
on a 2-core machine the emulator takes a share of the CPU the client needs, and other load
on the machine ("rest of machine") skews throughput; client CPU per check is the figure
least sensitive to that. "Waiting for a CPU" (from /proc/PID/task/*/schedstat) is the time
a process was ready to run but had no core: where it is high, the machine, not the code, is
the limit. ``--profile`` cProfiles one round (``--profile-round``, default cold; try
--accounts 2000).
The child calls ``wxmon.runner.tune_gc()`` once after loading the config, as the CLI does.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import platform
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BLACKBOX_BIN = Path("/usr/bin/prometheus-blackbox-exporter")
SOFT404_KEYWORD = "页面不存在"
SEED = 0
SECRET_ENV_PREFIX = "WXMON_BENCH_SECRET_"
TARGET_BARE = 0.6  # wxmon >= 0.6x the bare loop
TARGET_BLACKBOX = 1.5  # wxmon >= 1.5x blackbox_exporter
TARGET_RSS_MB = 500.0  # wxmon's round peak memory
# The daemon's rounds: the first after a start (cold), the next (steady: tokens and menus cached),
# and one LATER_H hours on (tokens expired; the menus due, ~1/3 of accounts, read again).
ROUNDS = ("cold", "steady", "later")
LATER_H = 4


# -- process plumbing ------------------------------------------------------------------


def _die_with_parent() -> None:
    """In a child, before exec: receive SIGTERM when the bench process dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    # A session of its own: Ctrl-C reaches only the bench, which then stops the children in order.
    return subprocess.Popen(list(args), start_new_session=True, preexec_fn=_die_with_parent, **kwargs)


def stop_process(proc: subprocess.Popen[Any] | None, grace_s: float = 5.0) -> None:
    """Terminate one child we started (by its pid), kill it if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=grace_s)


def exit_on_stdin_eof() -> None:
    """In a child: exit as soon as the parent goes away (its end of our stdin closes)."""

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(0, 4096):  # the raw fd: no buffered-reader lock held at interpreter shutdown
                pass
        os._exit(3)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None when unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)


def proc_wait_s(pid: int | None) -> float | None:
    """Seconds the process's threads spent runnable but waiting for a CPU (/proc/PID/task/*/schedstat)."""
    total = 0
    try:
        for task in Path(f"/proc/{pid or os.getpid()}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    except OSError:
        return None
    return total / 1e9


def machine_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (all CPUs), from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuSnapshot:
    wall: float
    procs: dict[str, float | None]  # name -> CPU seconds so far
    machine: float | None
    waits: dict[str, float | None] = field(default_factory=dict)  # name -> seconds waiting for a CPU so far


def cpu_snapshot(pids: dict[str, int | None]) -> CpuSnapshot:
    """CPU seconds of the named processes (pid None: this process) and of the machine, now."""
    procs = {name: self_cpu_s() if pid is None else proc_cpu_s(pid) for name, pid in pids.items()}
    waits = {name: proc_wait_s(pid) for name, pid in pids.items()}
    return CpuSnapshot(time.perf_counter(), procs, machine_busy_s(), waits)


def cpu_usage(a: CpuSnapshot, b: CpuSnapshot) -> dict[str, float]:
    """Per process and machine-wide CPU between two snapshots, in % of one CPU; "other" is the
    machine's busy time not spent by the named processes (other load on the machine, kernel work)."""
    wall = b.wall - a.wall
    out: dict[str, float] = {}
    for name, before in a.procs.items():
        after = b.procs.get(name)
        if before is not None and after is not None:
            out[name] = (after - before) / wall * 100
    if a.machine is not None and b.machine is not None:
        out["machine"] = (b.machine - a.machine) / wall * 100
        out["other"] = out["machine"] - sum(v for k, v in out.items() if k != "machine")
    for name, before in a.waits.items():
        after = b.waits.get(name)
        if before is not None and after is not None:
            out[f"wait:{name}"] = (after - before) / wall * 100
    return out


def format_cpu(usage: dict[str, float]) -> str:
    parts = [f"{name} {value:.0f}" for name, value in usage.items()
             if name not in ("machine", "other") and not name.startswith("wait:")]
    if "machine" in usage:
        parts.append(f"rest of machine {usage['other']:.0f}; machine {usage['machine']:.0f} of {os.cpu_count() * 100}")
    waits = [f"{name[5:]} {value:.0f}" for name, value in usage.items() if name.startswith("wait:")]
    return "CPU % of one core: " + ", ".join(parts) + (
        "\n    waiting for a CPU, % of the time: " + ", ".join(waits) if waits else "")


def self_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_line(proc: subprocess.Popen[Any], timeout_s: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            return line.decode().strip()
        if proc.poll() is not None:
            break
    raise RuntimeError(f"child {proc.args!r} did not report (exit code {proc.poll()})")


# -- role: emulator --------------------------------------------------------------------


def serve_emulator(accounts: int, columns: int, seed: int) -> int:
    from emulator.scenario import generate_bulk
    from emulator.server import EmulatorServer

    exit_on_stdin_eof()
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    server = EmulatorServer(generate_bulk(accounts, columns, seed), host="127.0.0.1", port=0).start()
    print(f"PORT {server.port}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0


# -- role: wxmon round -----------------------------------------------------------------


def build_fetcher(config: Any, concurrency: int) -> Any:
    """The product's PageFetcher as ``checks:`` builds it (page limit, address policy), per-host caps lifted."""
    from monitor.http import PageFetcher

    return PageFetcher.from_checks(config.checks, concurrency=concurrency, per_host=concurrency,
                                   per_host_rate=None, timeout_s=15)


class ShiftedClock:
    """Real time plus a shift the bench sets: the "later" round runs LATER_H hours on."""

    def __init__(self) -> None:
        self.shift = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift


class GcTimer:
    """Time the cyclic garbage collector's passes (all threads) while installed."""

    def __init__(self) -> None:
        import gc

        self._gc = gc
        self.seconds = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self._started = 0.0

    def __enter__(self) -> GcTimer:
        self._gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        self._gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.count[info["generation"]] += 1


async def _wxmon(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from monitor.clock import set_clock, to_local
    from monitor.config import load_config
    from monitor.context import ProbeContext
    from monitor.store import Store
    from monitor.wechat import WeChatAPI
    from probes.columns import discover
    from wxmon.runner import run_probe, select_accounts, tune_gc

    config_path, concurrency, workdir, profile = args._config, args.concurrency, args._workdir, args.profile
    out: dict[str, Any] = {}
    t = time.perf_counter()
    config = load_config(config_path, check_env=True)
    out["load_config_s"] = time.perf_counter() - t
    tune_gc()  # as the CLI/daemon/demo do, once after loading the config
    clock = ShiftedClock()
    set_clock(clock)
    store = Store.open(config.store_url)
    api_calls: collections.Counter[str] = collections.Counter()  # endpoint -> requests, this round

    async def count_call(_session: Any, _ctx: Any, params: Any) -> None:
        api_calls[params.url.path.rsplit("/", 1)[-1]] += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(count_call)
    api = WeChatAPI(config.wechat.api_base, timeout=config.wechat.timeout_s, clock=clock, trace_configs=[trace],
                    max_answer_bytes=config.wechat.max_answer_bytes)
    ctx = ProbeContext.open(config, store, pages=build_fetcher(config, concurrency), clock=clock, api=api)
    ctx.api_helper = args.api_helper
    accounts = select_accounts(config, None)
    out["rss_before_round_mb"] = maxrss_mb()
    out["rounds"] = []
    try:
        for label in ROUNDS:
            if label == "later":
                clock.shift = timedelta(hours=LATER_H)
            api_calls.clear()
            profiler = None
            if profile is not None and label == args.profile_round:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            helpers = {"store writer": lambda: ctx._process_writer._proc.pid
                       if ctx._process_writer is not None and ctx._process_writer._proc else None,
                       "API helper": lambda: ctx._remote_api.pid if ctx._remote_api is not None else None}
            pids = {"wxmon": None, "emulator": args._emulator_pid, **{k: pid() for k, pid in helpers.items()}}
            remote_calls = collections.Counter(ctx._remote_api.calls) if ctx._remote_api is not None else None
            snap0 = cpu_snapshot({k: v for k, v in pids.items() if k not in helpers or v})
            with GcTimer() as gc_timer:
                results = await run_probe(ctx, "columns", accounts)
            for name, pid in helpers.items():
                now_pid = pid()
                if now_pid is not None and now_pid != pids[name]:
                    pids[name] = now_pid
                    snap0.procs[name] = snap0.waits[name] = 0.0  # started inside the round: all of it counts
            snap1 = cpu_snapshot({k: v for k, v in pids.items() if k not in helpers or v})
            if ctx._remote_api is not None:  # requests the API helper process made this round
                made = collections.Counter(ctx._remote_api.calls)
                made.subtract(remote_calls or {})
                for endpoint, n in made.items():
                    if n:
                        api_calls[endpoint.rsplit("/", 1)[-1]] += n
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
            rows = [row.to_json() for row in results[0].rows]
            view = [r for r in rows if r["type"] == "view" and r["target"]]
            out["rounds"].append({
                "label": label, "round_s": snap1.wall - snap0.wall, "cpu": cpu_usage(snap0, snap1),
                "gc_s": gc_timer.seconds, "gc_count": gc_timer.count, "run_status": results[0].run.status,
                "rows": len(rows), "view_checks": len(view),
                "status_counts": dict(collections.Counter(r["status"] for r in rows)),
                "not_ok": sorted(f"{r['account']}|{r['column']}|{r['status']}|{r['reason']}"
                                 for r in rows if r["status"] != "ok"),
                "rss_mb": maxrss_mb(), "api_calls": dict(api_calls),
            })
            if label == "cold":
                (workdir / "targets.txt").write_text("".join(r["target"] + "\n" for r in view), encoding="utf-8")
            del results, rows, view  # the bench's copy only: not the next round's memory
        out["rss_after_round_mb"] = maxrss_mb()
        out["store_column_states"] = len(store.get_column_states())
        today = to_local(ctx.now()).date()
        daily = store.column_totals_between(today - timedelta(days=1), today)
        out["store_checks"] = sum(t.checks for t in daily)
    finally:
        await ctx.aclose()

    # Discovery alone (stable_token + get_current_selfmenu_info + discover), fresh token cache,
    # the round's per-account concurrency: what the API side costs on its own.
    api = WeChatAPI(config.wechat.api_base, timeout=config.wechat.timeout_s,
                    max_answer_bytes=config.wechat.max_answer_bytes)
    limit = asyncio.Semaphore(max(8, config.checks.concurrency * 2))
    errors = 0

    async def one(account: Any) -> None:
        nonlocal errors
        async with limit:
            try:
                menu = await api.account(account.appid, config.secret(account)).get_current_selfmenu_info()
                discover(account.id, menu)
            except Exception:
                errors += 1

    try:
        snap0 = cpu_snapshot({"wxmon": None})
        await asyncio.gather(*(one(a) for a in accounts))
        snap1 = cpu_snapshot({"wxmon": None})
        out["discovery_s"] = snap1.wall - snap0.wall
        out["discovery_cpu_s"] = snap1.procs["wxmon"] - snap0.procs["wxmon"]  # type: ignore[operator]
        out["discovery_errors"] = errors
    finally:
        await api.aclose()
        store.close()
    return out


def run_wxmon_child(args: argparse.Namespace) -> int:
    exit_on_stdin_eof()
    result = asyncio.run(_wxmon(args))
    (args._workdir / "wxmon.json").write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
    return 0


# -- the bench (parent) ----------------------------------------------------------------


@dataclass
class LoopResult:
    checks: int
    seconds: float
    failed: int
    errors: int
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.checks / self.seconds if self.seconds else 0.0


def write_accounts_yaml(path: Path, scenario: Any, base_url: str, db_path: Path, concurrency: int) -> None:
    lines = [
        "# Generated by bench/bench_columns.py: the emulator's bulk scenario (simulated accounts).",
        "timezone: Asia/Shanghai",
        f"store: sqlite:///{db_path}",
        "wechat:",
        f"  api_base: {base_url}",
        "  timeout_s: 10",
        "policy: demo-default",
        "checks:",
        f"  concurrency: {concurrency}",
        f"  per_host: {min(concurrency, 100)}",  # the fetcher is built by the bench with per_host=concurrency
        "  per_host_rate: 1000",
        "  timeout_s: 15",
        f"  canary_urls: [{base_url}/_emu/canary]",
        "  allow_private: [127.0.0.1/32]",  # the emulator serves the pages
        "accounts:",
    ]
    for acct in scenario.accounts:
        lines += [
            f"  - id: {acct.id}",
            f"    name: {json.dumps(acct.name, ensure_ascii=False)}",
            f"    unit: {json.dumps(acct.unit, ensure_ascii=False)}",
            f"    category: {acct.category}",
            f"    appid: {acct.appid}",
            f"    secret_env: {secret_env(acct.id)}",
            "    api: true",
            "    inquiry: {channel: none}",
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def secret_env(account_id: str) -> str:
    return SECRET_ENV_PREFIX + account_id.upper().replace("-", "_")


def expected_not_ok(scenario: Any) -> tuple[set[str], set[str]]:
    """What the scenario serves broken: columns ("account|path") and pages ("account/page")."""
    from emulator.scenario import column_paths

    columns, pages = set(), set()
    for acct in scenario.accounts:
        for path, leaf in column_paths(acct.menu):
            if leaf.page and acct.pages[leaf.page].kind != "ok":
                columns.add(f"{acct.id}|{path}")
                pages.add(f"{acct.id}/{leaf.page}")
    return columns, pages


def page_urls(scenario: Any, base_url: str) -> list[str]:
    """The view pages behind every menu column of the scenario, as discovery finds them."""
    from emulator.scenario import column_paths

    return [f"{base_url}/site/{acct.id}/{leaf.page}" for acct in scenario.accounts
            for _, leaf in column_paths(acct.menu) if leaf.page]


async def run_loop(urls: Sequence[str], concurrency: int, request_url: Callable[[str], str],
                   judge: Callable[[int, str], bool], pids: dict[str, int | None]) -> LoopResult:
    """GET every URL at ``concurrency`` (connector limit + semaphore), read the body, judge it."""
    import aiohttp

    failed = errors = 0
    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), timeout=timeout) as session:

        async def one(url: str) -> None:
            nonlocal failed, errors
            async with sem:
                try:
                    async with session.get(request_url(url)) as resp:
                        text = await resp.text()
                        if not judge(resp.status, text):
                            failed += 1
                except (TimeoutError, aiohttp.ClientError):
                    errors += 1

        snap0 = cpu_snapshot(pids)
        await asyncio.gather(*(one(u) for u in urls))
        snap1 = cpu_snapshot(pids)
    return LoopResult(len(urls), snap1.wall - snap0.wall, failed, errors, cpu_usage(snap0, snap1))


def bare_judge(status: int, text: str) -> bool:
    return status < 400 and SOFT404_KEYWORD not in text


def blackbox_judge(status: int, text: str) -> bool:
    return status == 200 and "\nprobe_success 1" in text


BLACKBOX_CONFIG = f"""\
modules:
  http_kw:
    prober: http
    timeout: 15s
    http:
      method: GET
      valid_status_codes: []   # empty: 2xx
      preferred_ip_protocol: ip4
      fail_if_body_matches_regexp: ["{SOFT404_KEYWORD}"]
"""


@contextlib.contextmanager
def blackbox_exporter(workdir: Path) -> Iterator[tuple[subprocess.Popen[Any], int]]:
    import urllib.request

    (workdir / "blackbox.yml").write_text(BLACKBOX_CONFIG, encoding="utf-8")
    port = free_port()
    log = open(workdir / "blackbox.log", "wb")  # noqa: SIM115 - the exporter writes to it until it is killed
    proc = spawn([str(BLACKBOX_BIN), f"--config.file={workdir / 'blackbox.yml'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"blackbox_exporter did not start; see {workdir / 'blackbox.log'}")
            time.sleep(0.1)
        yield proc, port
    finally:
        stop_process(proc)
        log.close()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--columns", type=int, default=8, help="view columns per account (1..15)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--blackbox-urls", type=int, default=20_000,
                        help="URLs driven through blackbox_exporter, evenly sampled (0: all)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="cProfile a wxmon round into this file and print the top functions")
    parser.add_argument("--profile-round", choices=ROUNDS, default="cold", help="the round --profile profiles")
    parser.add_argument("--api-helper", choices=("auto", "inline", "process"), default="auto",
                        help="where the rounds make their API calls (as ProbeContext.api_helper; default auto)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--_role", choices=("emulator", "wxmon"), help=argparse.SUPPRESS)
    parser.add_argument("--_config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--_emulator-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args._role == "emulator":
        return serve_emulator(args.accounts, args.columns, SEED)
    if args._role == "wxmon":
        return run_wxmon_child(args)

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Also when started with SIGINT ignored (a background job): the children must be stopped.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="wxmon-bench-"))
    procs: dict[str, subprocess.Popen[Any]] = {}
    try:
        return bench(args, workdir, procs)
    except KeyboardInterrupt:
        print("\ninterrupted; stopping child processes", file=sys.stderr)
        return 130
    finally:
        for proc in reversed(list(procs.values())):
            stop_process(proc)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def bench(args: argparse.Namespace, workdir: Path, procs: dict[str, subprocess.Popen[Any]]) -> int:
    """The measurement; every child it starts is registered in ``procs`` for the caller to stop."""
    import aiohttp

    from emulator.scenario import generate_bulk

    C, script = args.concurrency, [sys.executable, str(Path(__file__).resolve())]
    common = ["--accounts", str(args.accounts), "--columns", str(args.columns), "--concurrency", str(C)]
    print(f"wxmon columns bench: {args.accounts} accounts x {args.columns} view columns, concurrency {C}")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load}; Python {platform.python_version()}, "
          f"aiohttp {aiohttp.__version__}")
    print(f"per-host politeness caps lifted for the measurement (all pages on one loopback host): "
          f"per_host={C}, per_host_rate=None (product defaults: per_host 4, 5 requests/s per host)")

    # 1. the emulator, in its own process
    t = time.perf_counter()
    emulator = procs["emulator"] = spawn([*script, "--_role", "emulator", *common],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    line = read_line(emulator, timeout_s=300)
    if not line.startswith("PORT "):
        raise RuntimeError(f"emulator said {line!r}")
    base_url = f"http://127.0.0.1:{int(line.split()[1])}"
    print(f"emulator: pid {emulator.pid}, {base_url}, ready in {time.perf_counter() - t:.1f} s")

    # 2. config, secrets, store for wxmon
    scenario = generate_bulk(args.accounts, args.columns, SEED)
    for acct in scenario.accounts:
        os.environ[secret_env(acct.id)] = acct.secret
    config_path = workdir / "accounts.yaml"
    write_accounts_yaml(config_path, scenario, base_url, workdir / "wxmon.db", C)
    expected, broken_pages = expected_not_ok(scenario)
    urls = page_urls(scenario, base_url)
    del scenario

    def bare_loop() -> LoopResult:
        print(f"bare aiohttp loop: {len(urls)} URLs ...", flush=True)
        return asyncio.run(run_loop(urls, C, lambda u: u, bare_judge, {"bare loop": None, "emulator": emulator.pid}))

    # 3. the bare aiohttp loop before wxmon, and 5. after it: the baseline is the faster of the
    # two, so a machine that slowed down during the bench cannot flatter wxmon's ratio.
    bare_runs = [bare_loop()]

    # 4. wxmon's rounds, in a child process (its own peak RSS, its own GIL)
    print("wxmon rounds: running ...", flush=True)
    child = procs["wxmon"] = spawn([*script, "--_role", "wxmon", *common, "--_config", str(config_path),
                                    "--_workdir", str(workdir), "--_emulator-pid", str(emulator.pid),
                                    "--api-helper", args.api_helper,
                                    *(["--profile", str(args.profile.resolve()), "--profile-round",
                                       args.profile_round] if args.profile else [])],
                                   stdin=subprocess.PIPE, cwd=ROOT)
    code = child.wait()
    if code != 0:
        raise RuntimeError(f"wxmon child failed (exit code {code})")
    w = json.loads((workdir / "wxmon.json").read_text(encoding="utf-8"))
    checked = (workdir / "targets.txt").read_text(encoding="utf-8").split()
    if sorted(checked) != sorted(urls):
        raise RuntimeError(f"wxmon checked {len(checked)} URLs, not the scenario's {len(urls)}")
    bare_runs.append(bare_loop())
    bare = max(bare_runs, key=lambda r: r.rate)

    # 5. blackbox_exporter over the same URLs (or an even sample)
    bb: LoopResult | None = None
    if BLACKBOX_BIN.exists():
        n = len(urls) if args.blackbox_urls <= 0 else min(args.blackbox_urls, len(urls))
        sample = urls[:: max(1, len(urls) // n)][:n]
        print(f"blackbox_exporter: {len(sample)} of {len(urls)} URLs through /probe ...", flush=True)
        with blackbox_exporter(workdir) as (proc, port):
            procs["blackbox"] = proc
            from urllib.parse import quote

            probe = f"http://127.0.0.1:{port}/probe?module=http_kw&target="
            bb = asyncio.run(run_loop(sample, C, lambda u: probe + quote(u, safe=""), blackbox_judge,
                                      {"driver": None, "blackbox_exporter": proc.pid, "emulator": emulator.pid}))
        procs.pop("blackbox", None)

    # 6. report
    def broken_in(sample: Sequence[str]) -> int:
        return sum(1 for u in sample if u.split("/site/", 1)[-1] in broken_pages)

    def contention(usage: dict[str, float]) -> str:
        return "  WARNING: other load on the machine" if usage.get("other", 0.0) > 25 else ""

    rss = w["rss_after_round_mb"]
    print()
    print("=" * 78)
    print("wxmon rounds (run_probe 'columns': discovery + checks + verdicts + store writes), one process,")
    print("as the daemon runs them: cold (first after a start), steady (the next: tokens and menus cached),")
    print(f"later ({LATER_H} h on: tokens expired, the menus due read again)")
    print(f"  load_config {w['load_config_s']:.1f} s (not timed)")
    n_expected = len(expected)
    for rnd in w["rounds"]:
        not_ok = {"|".join(x.split("|")[:2]) for x in rnd["not_ok"]}
        rnd["rate"] = rnd["view_checks"] / rnd["round_s"]
        profiled = ("  (under cProfile: slowed down, not comparable)"
                    if args.profile and rnd["label"] == args.profile_round else "")
        print(f"  {rnd['label']} round: {rnd['view_checks']} page checks in {rnd['round_s']:.2f} s -> "
              f"{rnd['rate']:,.0f} checks/s{profiled}")
        calls = ", ".join(f"{k} {v}" for k, v in sorted(rnd["api_calls"].items())) or "none"
        print(f"    API calls: {calls}")
        print(f"    statuses {rnd['status_counts']}, run {rnd['run_status']}; not-ok columns match the scenario's "
              f"{n_expected} broken pages: {'yes' if not_ok == expected else f'NO (got {len(not_ok)})'}")
        print(f"    {format_cpu(rnd['cpu'])}{contention(rnd['cpu'])}")
        cpu_us = (rnd["cpu"].get("wxmon", 0.0) + rnd["cpu"].get("store writer", 0.0)
                  + rnd["cpu"].get("API helper", 0.0)) / 100 * rnd["round_s"] \
            / max(1, rnd["view_checks"]) * 1e6
        rnd["cpu_us"] = cpu_us
        print(f"    CPU per page check, wxmon + its helper processes: {cpu_us:.0f} us; "
              f"cyclic GC {sum(rnd['gc_s']):.2f} s")
    print(f"  store after the rounds: column_state rows {w['store_column_states']}, checks recorded "
          f"{w['store_checks']}")
    print(f"  discovery alone, after the rounds (stable_token + get_current_selfmenu_info, {args.accounts} "
          f"accounts, {max(8, 2 * C)} at once): {w['discovery_s']:.2f} s, "
          f"{args.accounts / w['discovery_s']:,.0f} accounts/s, CPU {w['discovery_cpu_s']:.2f} s "
          f"({w['discovery_cpu_s'] / max(1, args.accounts * args.columns) * 1e6:.0f} us per page check), "
          f"errors {w['discovery_errors']}")
    for when, run in zip(("before", "after"), bare_runs):
        print(f"bare aiohttp loop, {when} wxmon: {run.checks} GETs in {run.seconds:.2f} s -> {run.rate:,.0f} checks/s"
              f"  (not ok {run.failed}, expected {broken_in(urls)}; errors {run.errors})"
              f"{'  <- baseline (the faster)' if run is bare else ''}")
        print(f"    {format_cpu(run.cpu)}{contention(run.cpu)}")
    bare_cpu_us = bare.cpu.get("bare loop", 0.0) / 100 * bare.seconds / (bare.checks or 1) * 1e6
    print(f"    baseline client CPU per GET: {bare_cpu_us:.0f} us")
    if bb is not None:
        print(f"blackbox_exporter 0.23 (/probe, module http_kw): {bb.checks} probes in {bb.seconds:.2f} s -> "
              f"{bb.rate:,.0f} checks/s  (probe_success 0: {bb.failed}, expected {broken_in(sample)}; "
              f"errors {bb.errors})")
        print(f"    {format_cpu(bb.cpu)}{contention(bb.cpu)}")
    else:
        print("blackbox_exporter: not installed (apt-get install prometheus-blackbox-exporter)")
    print("-" * 78)
    for rnd in w["rounds"]:
        r_bare = rnd["rate"] / bare.rate if bare.rate else 0.0
        print(f"wxmon {rnd['label']:6s} / bare loop        = {r_bare:.2f}x   target >= {TARGET_BARE}x   "
              f"{verdict(r_bare >= TARGET_BARE)}   (CPU per check, bare / wxmon = "
              f"{bare_cpu_us / rnd['cpu_us'] if rnd['cpu_us'] else 0:.2f})")
    for rnd in w["rounds"]:
        if bb is not None:
            r_bb = rnd["rate"] / bb.rate if bb.rate else 0.0
            print(f"wxmon {rnd['label']:6s} / blackbox_exporter = {r_bb:.2f}x   target >= {TARGET_BLACKBOX}x   "
                  f"{verdict(r_bb >= TARGET_BLACKBOX)}")
        else:
            print(f"wxmon {rnd['label']:6s} / blackbox_exporter = n/a (not installed)")
    print(f"wxmon peak RSS (round child, ru_maxrss after the rounds) = {rss:.0f} MB   "
          f"target < {TARGET_RSS_MB:.0f} MB   {verdict(rss < TARGET_RSS_MB)}   "
          f"(before the round: {w['rss_before_round_mb']:.0f} MB)")
    print(f"bench process peak RSS (bare loop, blackbox driver) = {maxrss_mb():.0f} MB")
    print("=" * 78)

    if args.profile:
        import pstats

        print(f"\ncProfile of the wxmon round ({args.profile}):")
        stats = pstats.Stats(str(args.profile.resolve()))
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
