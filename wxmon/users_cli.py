"""``wxmon user add|passwd|disable|list`` and ``wxmon web``: the console's users and server."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.errors import BadInput

PASSWORD_ENV = "WXMON_NEW_PASSWORD"
_NAME = re.compile(r"^[\w.@-]{1,64}$")


def _actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _new_password() -> str:
    from console.auth import password_problem

    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            raise BadInput(f"no password: set {PASSWORD_ENV} or run the command in a terminal")
        password = getpass.getpass("新密码: ")
        if getpass.getpass("再输一次: ") != password:
            raise BadInput("两次输入的密码不一致")
    problem = password_problem(password)
    if problem:
        raise BadInput(f"password: {problem}")
    return password


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from monitor.config import load_config
    from monitor.store import Store

    config = load_config(Path(args.config))
    args.store_url = config.store_url
    return config, Store.open(config.store_url)


def _cmd_add(args: argparse.Namespace) -> int:
    from console.auth import hash_password
    from monitor.store.users import UserExists

    name = args.name
    if not _NAME.match(name):
        raise BadInput(f"user name {name!r}: 1 to 64 letters, digits or . _ @ -")
    if args.role == "editor" and not args.unit:
        raise BadInput("--unit: an editor sees one unit's accounts; name the unit (as in accounts.yaml unit:)")
    if args.role != "editor" and args.unit:
        raise BadInput(f"--unit: only an editor has a unit (a {args.role} does not)")
    config, store = _open(args)
    with store:
        if args.unit:
            units = sorted({a.unit for a in config.accounts})
            if args.unit not in units:
                shown = "、".join(units[:10]) + ("……" if len(units) > 10 else "")
                raise BadInput(f"--unit {args.unit}: no account of {args.config} has this unit (units: {shown})")
        password = _new_password()
        try:
            store.add_user(name, role=args.role, unit=args.unit, password_hash=hash_password(password),
                           actor=_actor())
        except UserExists:
            raise BadInput(f"user {name}: already exists (wxmon user passwd {name} sets a new password)") from None
    print(f"user {name} added ({args.role}{', ' + args.unit if args.unit else ''})")
    return 0


def _cmd_passwd(args: argparse.Namespace) -> int:
    from console.auth import hash_password
    from monitor.store import NotFound

    _, store = _open(args)
    with store:
        if store.get_user(args.name) is None:
            raise BadInput(f"user {args.name}: no such user")
        password = _new_password()
        try:
            store.set_password_hash(args.name, hash_password(password), actor=_actor())
        except NotFound:
            raise BadInput(f"user {args.name}: no such user") from None
    print(f"password of {args.name} changed (their open sessions end)")
    return 0


def _cmd_disable(args: argparse.Namespace) -> int:
    from monitor.store import NotFound

    _, store = _open(args)
    with store:
        try:
            store.disable_user(args.name, actor=_actor())
        except NotFound:
            raise BadInput(f"user {args.name}: no such user") from None
    print(f"user {args.name} disabled (their open sessions end)")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    _, store = _open(args)
    with store:
        for user in store.users():
            state = "disabled" if user.disabled else "active"
            print(f"{user.name}\t{user.role}\t{user.unit or ''}\t{state}")
    return 0


def _cmd_web(args: argparse.Namespace) -> int:
    from wxmon.web import run_console

    return run_console(Path(args.config), args.listen)


def register(sub: argparse._SubParsersAction[Any],
             with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
             parser_class: type[argparse.ArgumentParser]) -> None:
    web = with_config(sub.add_parser(
        "web", help="the web console (default 127.0.0.1:8788)",
        description="Serves the console (docs/console.md) until SIGTERM/SIGINT. Users: wxmon user add."))
    web.add_argument("--listen", metavar="ADDR:PORT", help="where to listen (default web.listen, 127.0.0.1:8788)")
    web.set_defaults(func=_cmd_web)

    user = sub.add_parser("user", help="console users: add, passwd, disable, list")
    user_sub = user.add_subparsers(dest="user_command", required=True, parser_class=parser_class)
    add = with_config(user_sub.add_parser(
        "add", help="add a console user",
        description=f"The password is read from the terminal, or from {PASSWORD_ENV}."))
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=["supervisor", "editor", "inspector"],
                     help="supervisor: everything; editor: one unit's accounts, read-only; inspector: their tasks")
    add.add_argument("--unit", help="the editor's unit, as in accounts.yaml unit:")
    add.set_defaults(func=_cmd_add)
    passwd = with_config(user_sub.add_parser("passwd", help="set a user's password (ends their sessions)"))
    passwd.add_argument("name", metavar="NAME")
    passwd.set_defaults(func=_cmd_passwd)
    disable = with_config(user_sub.add_parser("disable", help="disable a user (ends their sessions)"))
    disable.add_argument("name", metavar="NAME")
    disable.set_defaults(func=_cmd_disable)
    listing = with_config(user_sub.add_parser("list", help="list the users"))
    listing.set_defaults(func=_cmd_list)
