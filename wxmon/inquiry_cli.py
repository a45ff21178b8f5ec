"""``wxmon inquiry``: the inspectors' workflow for ``manual`` accounts (docs/inspectors.md).

    wxmon inquiry list [--all]
    wxmon inquiry sent ID [--at T] [--evidence FILE]
    wxmon inquiry reply ID --at T [--text TEXT] [--auto] [--evidence FILE]
    wxmon inquiry template --out FILE.csv|FILE.xlsx
    wxmon inquiry import FILE.csv|FILE.xlsx

Times to the minute, Asia/Shanghai (``2023-07-03 10:15``). Messages are in Chinese: they are
for inspectors. Mistakes exit 2 with one line each and record nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.clock import get_clock
from monitor.config import Config, load_config
from monitor.errors import BadInput
from monitor.evidence import check_screenshot
from monitor.store import Account as StoredAccount
from monitor.store import Store
from monitor.taskdesk import task_status
from probes.channels.base import ChannelError
from probes.channels.manual import TaskDesk, hhmm, import_legacy_file, parse_time


def register(sub: argparse._SubParsersAction[Any],
             with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
             parser_class: type[argparse.ArgumentParser]) -> None:
    """Add ``inquiry`` and its subcommands to the wxmon parser."""
    inquiry = sub.add_parser("inquiry", help="the inspectors' workflow for manual test inquiries")
    isub = inquiry.add_subparsers(dest="inquiry_command", required=True, parser_class=parser_class)
    lst = with_config(isub.add_parser("list", help="list the open tasks"))
    lst.add_argument("--all", action="store_true", help="closed tasks too")
    lst.set_defaults(func=_cmd_list)
    sent = with_config(isub.add_parser("sent", help="record when a task's message was sent"))
    sent.add_argument("id", type=int, help="task number (wxmon inquiry list)")
    sent.add_argument("--at", metavar="T", help="as the phone shows it, e.g. \"2023-07-03 10:15\" (default now)")
    sent.add_argument("--evidence", metavar="FILE", help="screenshot of the sent message (PNG, JPEG or WebP)")
    sent.set_defaults(func=_cmd_sent)
    reply = with_config(isub.add_parser("reply", help="record a reply the tester received"))
    reply.add_argument("id", type=int, help="task number (wxmon inquiry list)")
    reply.add_argument("--at", metavar="T", required=True, help="as the phone shows it, e.g. \"2023-07-03 14:02\"")
    reply.add_argument("--text", help="the reply's text")
    reply.add_argument("--auto", action="store_true", help="the reply was automatic (自动回复)")
    reply.add_argument("--evidence", metavar="FILE", help="screenshot of the reply (PNG, JPEG or WebP)")
    reply.set_defaults(func=_cmd_reply)
    template = with_config(isub.add_parser("template", help="write the open tasks as a spreadsheet to fill in"))
    template.add_argument("--out", required=True, metavar="FILE", help="FILE.csv or FILE.xlsx")
    template.set_defaults(func=_cmd_template)
    imp = with_config(isub.add_parser("import", help="record a filled-in spreadsheet (all rows or none)"))
    imp.add_argument("file", metavar="FILE", help="FILE.csv or FILE.xlsx written by template")
    imp.set_defaults(func=_cmd_import)


def _open(args: argparse.Namespace) -> tuple[Config, Store, TaskDesk]:
    config = load_config(Path(args.config))
    args.store_url = config.store_url
    store = Store.open(config.store_url)
    try:
        store.upsert_accounts(StoredAccount(a.id, a.name, a.unit, a.category) for a in config.accounts)
        imported = import_legacy_file(config, store)
    except ChannelError as exc:  # the old task file is unreadable: the user's file to fix
        store.close()
        raise BadInput(str(exc)) from None
    except BaseException:
        store.close()
        raise
    if imported is not None:
        print(f"已将旧版记录文件中的{imported}个任务导入数据库（原文件改名为 manual-inquiries.json.imported）")
    return config, store, TaskDesk(config, store, get_clock())


def _time(text: str, what: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise BadInput(f"--{what}: {exc}") from None


def _cmd_list(args: argparse.Namespace) -> int:
    config, store, _ = _open(args)
    with store:
        rows = store.tasks(open_only=not args.all)
        if not rows:
            print("没有待办的测试留言任务" if not args.all else "没有测试留言任务")
            return 0
        names = {a.id: a.name for a in config.accounts}
        for row in rows:
            t = row.task
            sent = t.records_sent_at or t.sent_at
            parts = [f"任务{t.id}", f"{names.get(t.account_id, t.account_id)}（{t.account_id}）", task_status(row),
                     f"发送截止{hhmm(t.send_by)}", f"测试号“{t.tester}”",
                     f"发送{hhmm(sent)}" if sent else "未登记发送",
                     f"检查员{t.inspector}" if t.inspector else "未指派检查员",
                     f"留言：{t.question}"]
            if t.note:
                parts.append(f"注：{t.note}")
            print("  ".join(parts))
    return 0


def _cmd_sent(args: argparse.Namespace) -> int:
    config, store, desk = _open(args)
    with store:
        at = _time(args.at, "at") if args.at else desk.clock.now()
        shot = check_screenshot(args.evidence, config.channels.manual.evidence_max_bytes) if args.evidence else None
        done = desk.record_sent(args.id, at, shot)
        print(f"已登记：任务{done.task.id}于{hhmm(at)}发送" + ("，截图已保存" if shot else ""))
        for note in done.notes:
            print(note)
    return 0


def _cmd_reply(args: argparse.Namespace) -> int:
    config, store, desk = _open(args)
    with store:
        at = _time(args.at, "at")
        shot = check_screenshot(args.evidence, config.channels.manual.evidence_max_bytes) if args.evidence else None
        done = desk.record_reply(args.id, at, args.text, auto=args.auto, evidence=shot)
        kind = "自动回复" if args.auto else "回复"
        print(f"已登记：任务{done.task.id}于{hhmm(at)}收到{kind}" + ("，截图已保存" if shot else ""))
        for note in done.notes:
            print(note)
    return 0


def _cmd_template(args: argparse.Namespace) -> int:
    from wxmon.inquiry_sheet import write_template

    config, store, _ = _open(args)
    with store:
        tasks = [r.task for r in store.tasks(open_only=True)]
        count = write_template(Path(args.out), config, tasks)
    print(f"已写出{count}个待办任务：{args.out}（填写发送时间、回复时间等后用 wxmon inquiry import 导入）")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from wxmon.inquiry_sheet import import_sheet

    config, store, desk = _open(args)
    with store:
        sends, replies = import_sheet(Path(args.file), config, store, desk)
    print(f"已导入{args.file}：登记发送{sends}条、回复{replies}条")
    return 0
