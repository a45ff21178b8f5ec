"""Command line: parse, call, print. Logic lives in the modules it calls."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.errors import BadInput, WxmonError

DEFAULT_CONFIG = "accounts.yaml"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.exit(2, f"wxmon: {message} (see '{self.prog} --help')\n")


def _cmd_config_check(args: argparse.Namespace) -> int:
    from monitor.config import check_file

    path = Path(args.path or DEFAULT_CONFIG)
    problems = check_file(path, check_env=not args.no_env)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"{path}: OK")
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
    from monitor.runner import run_probe, select_accounts
    from monitor.store import Store
    from probes.context import ProbeContext

    config = load_config(Path(args.config), check_env=True)
    accounts = select_accounts(config, args.account)

    async def go() -> list:
        with Store.open(config.store_url) as store, _progress(len(accounts) * (4 if args.kind == "all" else 1),
                                                              f"probe {args.kind}") as advance:
            ctx = ProbeContext.open(config, store)
            ctx.progress = advance
            try:
                return await run_probe(ctx, args.kind, accounts)
            finally:
                await ctx.aclose()

    results = asyncio.run(go())
    if args.json:
        for result in results:
            for row in result.rows:
                print(json.dumps(row, ensure_ascii=False, default=str))
    else:
        _print_rounds(results)
    return 0


def _progress(total: int, label: str):
    """A progress bar on a terminal (stderr); nothing when piped or in --json mode."""
    import contextlib

    if not sys.stderr.isatty():
        return contextlib.nullcontext(lambda n=1: None)
    from rich.progress import Progress

    @contextlib.contextmanager
    def bar():
        with Progress(transient=True) as progress:
            task = progress.add_task(label, total=total)
            yield lambda n=1: progress.advance(task, n)

    return bar()


def _print_rounds(results: list) -> None:
    from collections import Counter

    for result in results:
        statuses = Counter(str(row.get("status", row.get("state"))) for row in result.rows)
        summary = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        print(f"{result.kind}: run {result.run.id} {result.run.status} ({summary})")
        for row in result.rows:
            status = row.get("status", row.get("state"))
            if status not in ("ok", "answered", "sent", "scheduled"):
                where = "/".join(str(row[k]) for k in ("account", "column") if row.get(k))
                print(f"  {status:<12} {where}  {row.get('reason') or ''}")


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

    probe = sub.add_parser("probe", help="run one round of a probe now")
    probe.add_argument("kind", choices=["columns", "inquiry", "freshness", "privacy", "all"])
    probe.add_argument("--config", default=DEFAULT_CONFIG, help=f"accounts file (default ./{DEFAULT_CONFIG})")
    probe.add_argument("--account", help="only this account id")
    probe.add_argument("--json", action="store_true", help="one JSON object per line per result")
    probe.set_defaults(func=_cmd_probe)

    emu = sub.add_parser("emulator", help="run the WeChat platform emulator")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=int, default=8780)
    emu.add_argument("--scenario", help="scenario YAML (default: the demo scenario)")
    emu.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    emu.add_argument("--print-env", action="store_true",
                     help="print the scenario's (fake) account secrets as shell exports and exit, "
                          "for: eval \"$(wxmon emulator --print-env)\"")
    emu.set_defaults(func=_cmd_emulator)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BadInput as exc:
        for line in exc.problems:
            print(f"wxmon: {line}", file=sys.stderr)
        return 2
    except WxmonError as exc:
        print(f"wxmon: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
