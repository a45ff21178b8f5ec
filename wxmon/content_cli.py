"""``wxmon content``: the content check on files, its rule files, and the review queue.

    wxmon content scan PATH... [--json] [--rules FILE]... [--no-shipped] [--samples] [--as-of DATE]
    wxmon content rules check FILE...
    wxmon content review [--config PATH] [--all] [--account ID]
    wxmon content review --confirm ID --reason TEXT [--reviewer NAME]
    wxmon content review --dismiss ID --reason TEXT [--reviewer NAME]

Findings of the monitor are candidates until a person confirms them here (docs/content-check.md);
only confirmed ones count as security incidents. Messages for office staff are in Chinese.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

from monitor.content_review import STATUS_ZH, decide
from monitor.errors import BadInput
from monitor.store import Store
from monitor.store.content_findings import ContentFinding
from probes.content_check import KIND_ZH, Checker, Hit, RulesError, load_sets, sample_paths, shipped_paths
from probes.privacy import MAX_FILE_BYTES, FileRefused, decode_bytes, looks_binary, read_bounded
from probes.text import looks_like_html
from wxmon.file_scan import FileScan

_HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml"})


def register(sub: argparse._SubParsersAction[Any],
             with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
             parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``content`` and its subcommands to the wxmon parser."""
    content = sub.add_parser("content", help="serious wording errors, sensitive words, harmful links")
    csub = content.add_subparsers(dest="content_command", required=True, parser_class=parser_class)
    scan = csub.add_parser("scan", help="scan text/HTML files with the content rules")
    scan.add_argument("paths", nargs="+", metavar="PATH")
    scan.add_argument("--json", action="store_true", help="one JSON object per finding per line")
    scan.add_argument("--rules", action="append", default=[], metavar="FILE",
                      help="also use this rule file (repeatable)")
    scan.add_argument("--no-shipped", action="store_true", help="only the --rules files, not the shipped ones")
    scan.add_argument("--samples", action="store_true",
                      help="also the shipped samples (fictional leaders, neutral sensitive words, test link hosts)")
    scan.add_argument("--as-of", type=_date_arg, metavar="YYYY-MM-DD",
                      help="the date names and titles are judged on (default today)")
    scan.set_defaults(func=_cmd_scan)

    rules = csub.add_parser("rules", help="rule files")
    rsub = rules.add_subparsers(dest="rules_command", required=True, parser_class=parser_class)
    check = rsub.add_parser("check", help="validate rule files (exit 2 with one line per problem)")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=_cmd_rules_check)

    review = with_config(csub.add_parser(
        "review", help="the review queue: list candidates, confirm or dismiss one",
        description="Without --confirm/--dismiss: lists the candidates waiting for review. A confirmed "
                    "finding counts as a security incident; a dismissed one is not raised again for the "
                    "same text in the same account."))
    review.add_argument("--all", action="store_true", help="list reviewed findings too")
    review.add_argument("--account", metavar="ID", help="only this account")
    decision = review.add_mutually_exclusive_group()
    decision.add_argument("--confirm", type=int, metavar="ID", help="confirm finding ID (it counts)")
    decision.add_argument("--dismiss", type=int, metavar="ID", help="dismiss finding ID (not an error)")
    review.add_argument("--reason", help="why (required with --confirm/--dismiss)")
    review.add_argument("--reviewer", help="who decides (default: cli:<login name>)")
    review.add_argument("--json", action="store_true", help="list as JSON lines")
    review.set_defaults(func=_cmd_review)


def _date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad date {text!r}: use YYYY-MM-DD") from None


# ------------------------------------------------------------------------- scan


def scan_file(checker: Checker, path: Path, *, as_of: date | None = None,
              max_bytes: int = MAX_FILE_BYTES) -> tuple[str, list[Hit]]:
    """Decode and check a file; offsets index the returned decoded text (HTML: its markup).
    Raises FileRefused or OSError."""
    data = read_bounded(path, max_bytes)
    if looks_binary(data):
        raise FileRefused("binary file (NUL bytes), not text or HTML")
    text = decode_bytes(data)
    if path.suffix.lower() in _HTML_SUFFIXES or looks_like_html(text):
        return text, checker.scan_html(text, as_of=as_of)
    return text, checker.scan_text(text, as_of=as_of)


def _checker(rule_files: Sequence[str], shipped: bool, samples: bool) -> Checker:
    paths = ((shipped_paths() if shipped else []) + (sample_paths() if samples else [])
             + [Path(p) for p in rule_files])
    if not paths:
        raise BadInput("no rule files: give --rules FILE or leave out --no-shipped")
    try:
        return Checker(load_sets(paths))
    except RulesError as exc:
        raise BadInput(exc.lines) from None


def _cmd_scan(args: argparse.Namespace) -> int:
    checker = _checker(args.rules, not args.no_shipped, args.samples)
    run, found = FileScan(), 0
    for name, (_, hits) in run.each(args.paths, lambda path: scan_file(checker, path, as_of=args.as_of)):
        for h in hits:
            found += 1
            if args.json:
                print(json.dumps({"source": name, "kind": h.kind, "rule": h.rule, "start": h.start, "end": h.end,
                                  "text": h.text, "suggestion": h.suggestion}, ensure_ascii=False))
            else:
                fix = f" → {h.suggestion}" if h.suggestion else ""
                kind = KIND_ZH.get(h.kind, h.kind)
                print(f"{name}:{h.start}-{h.end}: {kind} “{h.text}”{fix}  [{h.rule}]  {h.context}")
    if run.scanned and not args.json:
        skipped = len(args.paths) - run.scanned
        tail = f"，{skipped}个文件未扫描" if skipped else ""
        print(f"{run.scanned}个文件，发现{found}处疑似问题（待人工核实）{tail}", file=sys.stderr)
    return run.code


def _cmd_rules_check(args: argparse.Namespace) -> int:
    problems: list[str] = []
    for name in args.files:
        try:
            loaded = load_sets([name])
        except RulesError as exc:
            problems.extend(exc.lines)
            continue
        rs = loaded[0].rules
        print(f"{name}: OK ({rs.kind} '{rs.name}' revision {rs.revision}, {len(rs.rules)} rule(s))")
    for line in problems:
        print(f"wxmon: {line}", file=sys.stderr)
    return 2 if problems else 0


# ----------------------------------------------------------------------- review


def _default_reviewer() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _cmd_review(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    config = load_config(args.config)
    store = Store.open(config.store_url)
    try:
        if args.confirm is not None or args.dismiss is not None:
            status: Literal["confirmed", "dismissed"] = "confirmed" if args.confirm is not None else "dismissed"
            fid = args.confirm if args.confirm is not None else args.dismiss
            changed = decide(store, fid, status, reason=args.reason or "",
                             reviewer=args.reviewer or _default_reviewer())
            word = "已确认（计入安全事故）" if status == "confirmed" else "已排除（同一账号同一文本不再提示）"
            print(f"第{fid}条{word}：{_line(changed[0])}")
            if len(changed) > 1:
                print(f"同一账号同一文本的另外{len(changed) - 1}条待核实问题一并排除")
            return 0
        if args.reason is not None:
            raise BadInput("--reason: 只与 --confirm 或 --dismiss 一起使用")
        rows = store.content_findings(status=None if args.all else "candidate", account_id=args.account)
        names = {a.id: a.name for a in config.accounts}
        for f in rows:
            if args.json:
                print(json.dumps(_json(f), ensure_ascii=False))
            else:
                print(f"[{f.id}] {_status_zh(f.status)} {names.get(f.account_id, f.account_id)}：{_line(f)}")
                print(f"      出处：{f.title or ''} {f.source}")
                print(f"      上下文：{f.context}")
                if f.reason:
                    print(f"      理由：{f.reason}（{f.reviewer}）")
        if not args.json:
            what = "条" if args.all else "条待核实"
            print(f"共{len(rows)}{what}", file=sys.stderr)
        return 0
    finally:
        store.close()


def _status_zh(status: str) -> str:
    return STATUS_ZH.get(status, status)


def _line(f: ContentFinding) -> str:
    fix = f"，应为“{f.suggestion}”" if f.suggestion else ""
    return f"{KIND_ZH.get(f.kind, f.kind)}“{f.text}”{fix}"


def _json(f: ContentFinding) -> dict[str, Any]:
    return {"id": f.id, "account": f.account_id, "status": f.status, "kind": f.kind, "rule": f.rule,
            "text": f.text, "suggestion": f.suggestion, "context": f.context, "source": f.source, "title": f.title,
            "found_at": f.found_at.isoformat() if f.found_at else None, "reviewer": f.reviewer, "reason": f.reason}


# ------------------------------------------------------------------ simulations


def review_as_scenario(store: Store, truth: dict[str, dict[str, Any]]) -> tuple[int, int]:
    """The simulated reviewer of ``wxmon simulate``/``demo``: decides every open candidate through
    :func:`decide`, as a person would, knowing the scenario's truth (``/_emu/truth``'s
    ``incidents`` of each account, by config account id): a hit inside a published error is
    confirmed, any other is dismissed as a false alarm. Returns (confirmed, dismissed)."""
    confirmed = dismissed = 0
    for f in store.content_findings(status="candidate"):
        if f.status != "candidate":
            continue
        incidents = (truth.get(f.account_id) or {}).get("incidents") or []
        real = next((i for i in incidents if isinstance(i.get("text"), str)
                     and (f.text in i["text"] or i["text"] in f.text)), None)
        if real is not None:
            decide(store, f.id or 0, "confirmed", reviewer="demo-reviewer",
                   reason=f"经核实，《{real.get('title', '')}》中确有此问题（模拟审核）")
            confirmed += 1
        else:
            # re-read: a dismissal also dismisses the account's other candidates of the same text
            if store.content_finding(f.id or 0).status != "candidate":
                continue
            decide(store, f.id or 0, "dismissed", reviewer="demo-reviewer", reason="经核实为误报（模拟审核）")
            dismissed += 1
    return confirmed, dismissed


def config_rule_problems(config_path: Path) -> list[str]:
    """``wxmon config check``: the problems of the office's rule files a valid accounts.yaml names
    (``content.rules``), one line each, naming the entry of accounts.yaml and the rule file's line."""
    from monitor.config import load_config

    config = load_config(config_path)
    out: list[str] = []
    for i, name in enumerate(config.content.rules):
        try:
            load_sets([config.config_dir / name])
        except RulesError as exc:
            out.extend(f"{config_path}: content.rules[{i}]: {line}" for line in exc.lines)
    return out
