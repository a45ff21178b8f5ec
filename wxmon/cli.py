"""Command line: parse, call, print. Logic lives in the modules it calls."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from monitor.errors import BadInput, RuntimeFailure, WxmonError, is_runtime_oserror, os_problem

if TYPE_CHECKING:
    import pandas as pd

    from monitor.config import Config
    from monitor.store import Store
    from wxmon.runner import RoundResult

DEFAULT_CONFIG = "accounts.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors: one line, exit 2
        self.exit(2, f"wxmon: {message} (see '{self.prog} --help')\n")


def _cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.config import check_file_warnings

    path = Path(args.path or DEFAULT_CONFIG)
    problems, warnings = check_file_warnings(path, check_env=not args.no_env)
    if not problems:
        from wxmon.content_cli import config_rule_problems

        problems = config_rule_problems(path)  # the content check's rule files it names (issue 15)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    for line in warnings:  # valid but likely wrong here: said, not failed
        print(line, file=sys.stderr)
    print(f"{path}: OK" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 0


def _cmd_config_schema(args: argparse.Namespace) -> int:
    import json

    from monitor.config import json_schema

    print(json.dumps(json_schema(), ensure_ascii=False, indent=2))
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from monitor.config import load_config
    from monitor.context import ProbeContext
    from monitor.store import Store
    from wxmon.runner import run_probe, select_accounts, tune_gc

    config = load_config(Path(args.config), check_env=True)
    args.store_url = config.store_url
    accounts = select_accounts(config, args.account)
    tune_gc()

    async def go() -> list[RoundResult]:
        with Store.open(config.store_url) as store, _progress(len(accounts) * (4 if args.kind == "all" else 1),
                                                              f"probe {args.kind}") as advance:
            ctx = ProbeContext.open(config, store)
            ctx.progress = advance
            try:
                results = await run_probe(ctx, args.kind, accounts)
                if args.kind in ("inquiry", "all"):  # new inspectors' tasks (manual channel) are mailed now
                    from wxmon.inquiry_mail import mail_new_tasks_quietly

                    await mail_new_tasks_quietly(config, store, ctx.now())
                return results
            finally:
                await ctx.aclose()

    results = asyncio.run(go())
    if args.json:
        for result in results:
            for row in result.rows:
                print(json.dumps(row.to_json(), ensure_ascii=False, default=str))
    else:
        _print_rounds(results)
    return 0


def _progress(total: int, label: str) -> AbstractContextManager[Callable[[int], None]]:
    """A progress bar on a terminal (stderr); nothing when piped or in --json mode."""
    import contextlib

    def ignore(n: int = 1) -> None:
        pass

    if not sys.stderr.isatty():
        return contextlib.nullcontext(ignore)
    from rich.progress import Progress

    @contextlib.contextmanager
    def bar() -> Iterator[Callable[[int], None]]:
        with Progress(transient=True) as progress:
            task = progress.add_task(label, total=total)

            def advance(n: int = 1) -> None:
                progress.advance(task, n)

            yield advance

    return bar()


def _print_rounds(results: list[RoundResult]) -> None:
    from collections import Counter

    for result in results:
        statuses = Counter(row.status for row in result.rows)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        print(f"{result.kind}: run {result.run.id} {result.run.status} ({summary})")
        for row in result.rows:
            if row.status not in ("ok", "answered", "sent", "scheduled"):
                where = "/".join(str(v) for v in (row.account, row.fields.get("column")) if v)
                print(f"  {row.status:<12} {where}  {row.reason or ''}")


def _open(args: argparse.Namespace, *, check_env: bool = False) -> tuple[Config, Store]:
    from monitor.config import load_config
    from monitor.store import Store

    config = load_config(Path(args.config), check_env=check_env)
    args.store_url = config.store_url
    return config, Store.open(config.store_url)


def _cmd_metrics(args: argparse.Namespace) -> int:
    from monitor.metrics import to_json_rows
    from monitor.period import parse_period
    from monitor.scoring import format_rate, metrics_table, pass_rate

    period = parse_period(args.period)
    config, store = _open(args)
    with store:
        table = metrics_table(store, config, period)
    if args.json:
        for line in to_json_rows(table):
            print(line)
        return 0
    _print_table(table)
    passed, checked, rate = pass_rate(table)
    print(f"{period.label_zh}：共检查{checked}个，合格{passed}个，{format_rate(rate)}")
    return 0


def _print_table(table: pd.DataFrame) -> None:
    from rich.console import Console
    from rich.table import Table

    view = Table(show_lines=False)
    for title in ("账号", "名称", "答复率", "不可用栏目", "最后更新", "隐私", "结论", "问题"):
        view.add_column(title, overflow="fold")
    for row in table.itertuples():
        rate = "—" if row.response_rate != row.response_rate else f"{row.response_rate:.0%}"
        update = "—" if row.last_update is None or row.last_update != row.last_update else \
            str(row.last_update)[:10]
        style = "red" if row.verdict == "不合格" else None
        view.add_row(row.account_id, row.account_name, rate, str(row.columns_broken), update,
                     str(row.privacy_findings), row.verdict, row.reasons or "", style=style)
    Console(width=160).print(view)


def _cmd_export(args: argparse.Namespace) -> int:
    from dashboards.export import write_export
    from monitor.period import parse_period
    from monitor.scoring import metrics_table

    period = parse_period(args.period)
    config, store = _open(args)
    with store:
        table = metrics_table(store, config, period)
    path = write_export(table, Path(args.out), headers=args.headers)
    print(f"wrote {path} ({len(table)} accounts)")
    return 0


def _cmd_bulletin(args: argparse.Namespace) -> int:
    from dashboards.bulletin import render_bulletin
    from monitor.files import write_output
    from monitor.period import parse_period
    from monitor.scoring import metrics_table

    period = parse_period(args.period)
    config, store = _open(args)
    with store:
        table = metrics_table(store, config, period)
    text = render_bulletin(table, period, policy=config.selected_policy)
    if args.out:
        write_output(args.out, text.encode("utf-8"))
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


def _cmd_report_weekly(args: argparse.Namespace) -> int:
    from monitor.clock import now
    from monitor.period import parse_week, previous_week_key
    from wxmon.reports import weekly_report

    week = parse_week(args.week).key if args.week is not None else previous_week_key(now())
    config, store = _open(args)
    with store:
        report, results = weekly_report(config, store, week, Path(args.out), send=args.send)
    print(f"{report.subject}")
    print(f"charts and CSV in {Path(args.out) / week}")
    failed = [r for r in results if r.status == "failed"]
    for result in results:
        print(f"  {result.status:<8} {result.recipient} {getattr(result, 'error', '') or ''}")
    return 1 if failed else 0


def _cmd_privacy_scan(args: argparse.Namespace) -> int:
    import json

    from probes.privacy import MAX_FILE_BYTES, scan_file
    from wxmon.file_scan import FileScan

    run, found = FileScan(), 0
    max_bytes = args.max_size or MAX_FILE_BYTES
    for name, (_, findings) in run.each(args.paths, lambda path: scan_file(path, max_bytes=max_bytes)):
        for finding in findings:
            found += 1
            if args.json:
                print(json.dumps({"source": name, **finding.to_dict()}, ensure_ascii=False))
            else:
                print(f"{name}:{finding.start}-{finding.end}: {finding.type} {finding.masked}")
    if run.scanned and not args.json:
        skipped = len(args.paths) - run.scanned
        tail = f", {skipped} not scanned" if skipped else ""
        print(f"{found} finding(s) in {run.scanned} file(s){tail}", file=sys.stderr)
    return run.code


def _port_arg(text: str) -> int:
    """A TCP port 0..65535 (argparse type)."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"bad port {text!r}: use a number from 0 to 65535")
    return port


def _size_arg(text: str) -> int:
    """``50M``, ``200k``, ``1G`` or a number of bytes (argparse type)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    raw = text.strip().upper().removesuffix("B").removesuffix("I")
    number, unit = (raw[:-1], raw[-1]) if raw[-1:] in units else (raw, "")
    try:
        value = int(float(number) * units[unit])
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"bad size {text!r}: use e.g. 50M, 200K or a number of bytes") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"bad size {text!r}: must be more than 0")
    return value


def _cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from monitor.config import load_config
    from monitor.logs import secret_values, setup_logging
    from wxmon.daemon import Daemon

    config = load_config(Path(args.config), check_env=True)
    setup_logging(json_lines=args.log_json, level=args.log_level, secrets=secret_values(config.secret_env_names()))
    return asyncio.run(Daemon(Path(args.config)).run())


def _cmd_status(args: argparse.Namespace) -> int:
    from wxmon.status import print_status

    config, store = _open(args)
    with store:
        print_status(config, store)
    return 0


def _out_dir(text: str) -> Path:
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{out}: --out must be a directory, and this is not one")
    return out


def _run_simulation(args: argparse.Namespace, out: Path, label: str,
                    run: Callable[[Callable[[int, int], None] | None], Any]) -> Any:
    """``run(progress)`` with a progress bar; a full disk under DIR is one line naming it."""
    from wxmon.simulate import progress_bar

    args.store_url = str(out.resolve() / "wxmon.db")  # the run's store, named if it fails
    try:
        with progress_bar(sys.stderr.isatty(), label) as progress:
            return run(progress)
    except OSError as exc:
        if exc.filename is None and is_runtime_oserror(exc):  # a full disk while writing under DIR
            raise RuntimeFailure(f"{out}: cannot write the {args.command}'s files: {os_problem(exc)}") from None
        raise


def _cmd_demo(args: argparse.Namespace) -> int:
    from wxmon.demo import print_result, run_demo

    out = _out_dir(args.out)
    result = _run_simulation(args, out, "模拟季度 2023Q3", lambda progress: run_demo(out, seed=args.seed,
                                                                                    progress=progress,
                                                                                    channel=args.channel,
                                                                                    access=args.access))
    print_result(result)
    return 0 if result.matches else 1


def _cmd_simulate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from wxmon.simulate import Simulation, print_result, run_simulation

    out = _out_dir(args.out)
    sim = Simulation(scenario=Path(args.scenario), config=Path(args.config), out_dir=out, period=args.period,
                     fast=args.fast, seed=args.seed, channel=args.channel, access=args.access)
    result = _run_simulation(args, out, f"模拟 {args.period or Path(args.scenario).name}",
                             lambda progress: run_simulation(sim, progress))
    print_result(replace(result, truth_word="预期", show_rule_ids=True))
    return 0 if result.matches else 1


def _cmd_bridge_check(args: argparse.Namespace) -> int:
    from wxmon.bridge_check import CheckOptions, report_lines, run_check

    report = run_check(CheckOptions(args.url, args.token_env, args.config, tuple(args.allow_private), args.account,
                                    args.account_name, args.tester, args.send, args.text, args.timeout))
    for line in report_lines(report):
        print(line)
    return 0 if report.conforms else 1


def _cmd_emulator(args: argparse.Namespace) -> int:
    from emulator.server import serve_forever

    if args.print_env:
        import shlex

        from emulator.scenario import ScenarioError, demo_secret_env, load_scenario

        try:
            scenario = load_scenario(args.scenario, seed=args.seed)
        except ScenarioError as exc:
            raise BadInput(str(exc)) from None
        for name, value in sorted(demo_secret_env(scenario).items()):
            print(f"export {name}={shlex.quote(value)}")
        return 0

    return serve_forever(host=args.host, port=args.port, scenario=args.scenario, seed=args.seed)


def _access_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--access", choices=("secret", "component"), default="secret",
                        help="how the accounts' API is reached: secret (their AppSecrets, default) or component "
                             "(each unit authorizes the emulated third-party platform; docs/access.md)")


def _channel_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", choices=("emulator", "bridge"), default="emulator",
                        help="how the inquiries reach the emulator's follower: its own route (default) or the "
                             "bridge protocol, as a tester-device rig (docs/bridge.md)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="wxmon", description="Monitor government WeChat official accounts.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    config = sub.add_parser("config", help="validate accounts.yaml or print its JSON Schema")
    config_sub = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    check = config_sub.add_parser("check", help="validate an accounts file")
    check.add_argument("path", nargs="?", help=f"accounts file (default ./{DEFAULT_CONFIG})")
    check.add_argument("--no-env", action="store_true",
                       help="do not require the secret environment variables to be set")
    check.set_defaults(func=_cmd_config_check)
    schema = config_sub.add_parser("schema", help="print the JSON Schema of accounts.yaml")
    schema.set_defaults(func=_cmd_config_schema)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=DEFAULT_CONFIG, help=f"accounts file (default ./{DEFAULT_CONFIG})")
        return p

    demo = sub.add_parser("demo", help="simulate the quarter 2023Q3 on the emulator and report it")
    demo.add_argument("--out", default="demo-out", help="output directory (default ./demo-out)")
    demo.add_argument("--seed", type=int, default=None, help="the scenario's random seed (default: its own)")
    _channel_arg(demo)
    _access_arg(demo)
    demo.set_defaults(func=_cmd_demo)

    simulate = sub.add_parser(
        "simulate", help="run a scenario through the product on the emulator and compare with its expected:",
        usage="wxmon simulate --scenario FILE --config FILE [--period P] [--out DIR] [--fast] [--seed N] "
              "[--channel emulator|bridge] [--access secret|component]",
        description="Starts the emulator with the scenario and runs the period through the real probes, store, "
                    "metrics and reports on a virtual clock, using the config's accounts, policy and schedules. "
                    "Prints each account's measured verdict and failed rules beside the scenario's expected: "
                    "(or, for an account without one, what the emulator's world says). Exit 0 when all agree, "
                    "1 on a mismatch, 2 on a bad scenario or config. See docs/simulate.md.")
    simulate.add_argument("--scenario", required=True, metavar="FILE", help="scenario YAML (emulator/SCENARIO.md)")
    simulate.add_argument("--config", required=True, metavar="FILE",
                          help="accounts file; its accounts must be the scenario's (same appid)")
    simulate.add_argument("--period", metavar="P", help="period judged: 2023Q3, 2023-09, 2023-W38 or "
                          "2023-07-01..2023-07-28 (default: the scenario's period:)")
    simulate.add_argument("--out", default="simulate-out", metavar="DIR",
                          help="output directory (default ./simulate-out)")
    simulate.add_argument("--fast", action="store_true",
                          help="the demo's spacing of the jobs (columns every 6 h, replies polled daily) and 3 s "
                               "page timeouts instead of the config's schedules and timeouts")
    simulate.add_argument("--seed", type=int, default=None, metavar="N",
                          help="the scenario's random seed (default: its own)")
    _channel_arg(simulate)
    _access_arg(simulate)
    simulate.set_defaults(func=_cmd_simulate)

    run = with_config(sub.add_parser("run", help="run the monitoring daemon"))
    run.add_argument("--log-json", action="store_true", help="log JSON lines")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=_cmd_run)

    status = with_config(sub.add_parser("status", help="next runs, open inquiries, last rounds, store health"))
    status.set_defaults(func=_cmd_status)

    metrics = with_config(sub.add_parser("metrics", help="per-account metrics and verdicts for a period"))
    metrics.add_argument("--period", required=True, help="2023Q3, 2023-W38, 2023-09 or 2023-07-01..2023-09-30")
    metrics.add_argument("--json", action="store_true", help="one JSON object per account per line")
    metrics.set_defaults(func=_cmd_metrics)

    export = with_config(sub.add_parser("export", help="write the period's table as .csv or .xlsx"))
    export.add_argument("--period", required=True)
    export.add_argument("--out", required=True, help="FILE.csv or FILE.xlsx")
    export.add_argument("--headers", choices=["zh", "en"], default="zh")
    export.set_defaults(func=_cmd_export)

    report = sub.add_parser("report", help="reports")
    report_sub = report.add_subparsers(dest="report_command", required=True, parser_class=_Parser)
    weekly = with_config(report_sub.add_parser("weekly", help="render the weekly charts (and e-mail them)"))
    weekly.add_argument("--week", help="ISO week like 2023-W38 (default: last week)")
    weekly.add_argument("--out", default="reports", help="output directory (default ./reports)")
    weekly.add_argument("--send", action="store_true", help="e-mail the report to the supervisors")
    weekly.set_defaults(func=_cmd_report_weekly)

    bulletin = with_config(sub.add_parser("bulletin", help="draft the period's bulletin (Markdown)"))
    bulletin.add_argument("--period", required=True)
    bulletin.add_argument("--out", help="output file (default: print)")
    bulletin.set_defaults(func=_cmd_bulletin)

    privacy = sub.add_parser("privacy", help="personal-data scanning")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True, parser_class=_Parser)
    scan = privacy_sub.add_parser("scan", help="scan text/HTML files for personal data")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--json", action="store_true", help="one JSON object per finding per line")
    scan.add_argument("--max-size", type=_size_arg, default=None, metavar="SIZE",
                      help="skip (and report) files larger than this (default 50M)")
    scan.set_defaults(func=_cmd_privacy_scan)

    probe = sub.add_parser("probe", help="run one round of a probe now")
    probe.add_argument("kind", choices=["columns", "inquiry", "freshness", "privacy", "all"])
    probe.add_argument("--config", default=DEFAULT_CONFIG, help=f"accounts file (default ./{DEFAULT_CONFIG})")
    probe.add_argument("--account", help="only this account id")
    probe.add_argument("--json", action="store_true", help="one JSON object per line per result")
    probe.set_defaults(func=_cmd_probe)

    emu = sub.add_parser("emulator", help="run the WeChat platform emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=_port_arg, default=8780, help="TCP port (default 8780; 0: any free port)")
    emu.add_argument("--scenario", help="scenario YAML (default: the demo scenario)")
    emu.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    emu.add_argument("--print-env", action="store_true",
                     help="print the scenario's (fake) account secrets as shell exports and exit, "
                          "for: eval \"$(wxmon emulator --print-env)\"")
    emu.set_defaults(func=_cmd_emulator)

    from wxmon.inquiry_cli import register as register_inquiry  # the inspectors' workflow (issue 13)

    register_inquiry(sub, with_config, _Parser)

    from wxmon.connect import register as register_connect  # third-party-platform access (issue 13)

    register_connect(sub, with_config, _Parser)

    from wxmon.alerts import register as register_alerts  # alerts to the units (issue 13)

    register_alerts(sub, with_config, _Parser)

    from wxmon.users_cli import register as register_console  # the web console and its users (issue 14)

    register_console(sub, with_config, _Parser)

    from wxmon.content_cli import register as register_content  # the content check (issue 15)

    register_content(sub, with_config, _Parser)

    bridge = sub.add_parser("bridge", help="tester-device bridges (docs/bridge.md)")
    bridge_sub = bridge.add_subparsers(dest="bridge_command", required=True, parser_class=_Parser)
    bcheck = bridge_sub.add_parser(
        "check", help="tell whether a device bridge conforms to the bridge protocol",
        description="Checks a rig against docs/bridge-openapi.yaml without sending anything (check mode, "
                    "X-Wxmon-Check: dry-run) unless --send is given. Exit 0 conforms, 1 does not (with what "
                    "failed), 2 bad input.")
    bcheck.add_argument("url", metavar="URL", help="the rig's base URL (channels.bridge.url)")
    bcheck.add_argument("--token-env", metavar="NAME",
                        help="environment variable holding the rig's token (default: channels.bridge.token_env "
                             "of --config, else WXMON_BRIDGE_TOKEN)")
    bcheck.add_argument("--config", metavar="PATH", help="accounts.yaml whose checks.allow_private and "
                        "channels.bridge.token_env apply (default ./accounts.yaml when it exists)")
    bcheck.add_argument("--allow-private", action="append", default=[], metavar="CIDR",
                        help="also allow this private range (the rig's network); repeatable")
    bcheck.add_argument("--account", metavar="ID", help="also read this account's chat (read-only)")
    bcheck.add_argument("--account-name", metavar="NAME", help="its name as WeChat shows it (default from --config)")
    bcheck.add_argument("--tester", metavar="T", help="the tester identity on the rig")
    bcheck.add_argument("--send", action="store_true",
                        help="really send one test message to --account (the office's own test account)")
    bcheck.add_argument("--text", help="the test message's text (with --send)")
    bcheck.add_argument("--timeout", type=float, default=10.0, metavar="S", help="per request (default 10 s)")
    bcheck.set_defaults(func=_cmd_bridge_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    stdout = sys.stdout
    sys.stdout = _GuardedStdout(stdout)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a full stdout is this command's failure, not the interpreter's at exit
        return code
    except BadInput as exc:
        for line in exc.problems:
            print(f"wxmon: {line}", file=sys.stderr)
        return 2
    except WxmonError as exc:
        print(f"wxmon: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `wxmon ... | head`: the reader has all it wanted
        _silence_stdout(stdout)
        return 1
    except OSError as exc:  # last resort: the machine's trouble (a socket, an unnamed file), one line
        _debug_traceback()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"wxmon: {where}{os_problem(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:
        store_line = _store_error_line(exc, getattr(args, "store_url", None))
        if store_line is None:
            raise
        _debug_traceback()
        print(f"wxmon: {store_line}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


class _GuardedStdout:
    """sys.stdout while a command runs: a failed write becomes one line naming standard
    output (an OSError from print() carries no file name)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            _silence_stdout(self._inner)
            raise RuntimeFailure(f"standard output: cannot write: {os_problem(exc)}") from None

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            _silence_stdout(self._inner)
            raise RuntimeFailure(f"standard output: cannot write: {os_problem(exc)}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# Database messages that mean wrong SQL or schema (a bug, shown with its traceback),
# not the database's trouble.
_SQL_BUGS = ("syntax error", "no such table", "no such column")


def _store_error_line(exc: Exception, store_url: str | None) -> str | None:
    """One line for a database failure that escaped the store (disk full, locked), else None."""
    try:
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover - sqlalchemy is a dependency
        return None
    if not isinstance(exc, OperationalError) or any(bug in str(exc.orig) for bug in _SQL_BUGS):
        return None
    from monitor.store.engine import display_url, parse_url, sqlite_path

    message = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
    where = "the store"
    if store_url:
        url = parse_url(store_url)
        path = sqlite_path(url)
        where = str(path) if path is not None else display_url(url)
    if "locked" in message:
        message += " (another process is writing to it; try again when it is done)"
    return f"{where}: store failed: {message}"


def _silence_stdout(stream: TextIO) -> None:
    """Point stdout's descriptor at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture it)
        pass


def _debug_traceback() -> None:
    """WXMON_DEBUG=1 shows the traceback behind a one-line error (for bug reports)."""
    if os.environ.get("WXMON_DEBUG"):
        import traceback

        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
