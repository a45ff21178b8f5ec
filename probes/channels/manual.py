"""Manual channel: an inspector sends the test inquiry from a phone and records what happened.

``send`` does not send anything: it writes a task ("请于DUE前用测试号TESTER向公众号ACCOUNT发送留言：TEXT")
to a small JSON file and returns a message without a send time. The inspector then
records, with this module's functions or its command line, when the message was
really sent and each reply received (time as shown on the phone, and the text):

    python -m probes.channels.manual FILE tasks
    python -m probes.channels.manual FILE sent ACCOUNT [--at ISO] [--key KEY]
    python -m probes.channels.manual FILE reply ACCOUNT --at ISO --text TEXT [--tester T]

Times without an offset are Asia/Shanghai. The probe picks the records up on its
next round: the send time starts the deadline, the replies are classified (auto
or human) by the probe like any other channel's. The file is small and edited
under a lock (POSIX) and replaced atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

from monitor.clock import SHANGHAI, Clock, SystemClock, as_utc, get_clock, to_local
from monitor.config import Account
from probes.channels.base import Channel, ChannelError, Reply, SentMessage

try:  # POSIX only; elsewhere the atomic replace alone has to do
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_FILE = "manual-inquiries.json"


def _iso(value: datetime) -> str:
    return to_local(value).isoformat(timespec="seconds")


def _parse(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def _due(issued_at: datetime) -> datetime:
    """The end of the ISO week (Sunday 24:00, Asia/Shanghai) the task was issued in."""
    local = to_local(issued_at)
    monday = local.date() + timedelta(days=7 - local.weekday())
    return as_utc(datetime.combine(monday, time(0), SHANGHAI))


class ManualLog:
    """The inspector's task and reply records (one JSON file)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"tasks": [], "replies": []}
        except (OSError, ValueError) as exc:
            raise ChannelError(f"manual: cannot read {self.path}: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise ChannelError(f"manual: {self.path} is not a task file")
        data.setdefault("tasks", [])
        data.setdefault("replies", [])
        return data

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _edit(self) -> Iterator[dict[str, Any]]:
        with self._locked():
            data = self._load()
            yield data
            tmp = self.path.with_name(self.path.name + ".tmp")
            try:
                tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as exc:
                raise ChannelError(f"manual: cannot write {self.path}: {type(exc).__name__}") from None

    def read(self) -> dict[str, Any]:
        with self._locked():
            return self._load()

    # -- what the probe does -------------------------------------------------

    def add_task(self, key: str, account: Account, tester: str, text: str, issued_at: datetime) -> dict[str, Any]:
        """Issue a task (a task with the same key is returned unchanged)."""
        with self._edit() as data:
            tasks: list[dict[str, Any]] = data["tasks"]
            for task in tasks:
                if task["key"] == key:
                    return task
            due = _due(issued_at)
            task = {
                "key": key, "account": account.id, "account_name": account.name, "tester": tester,
                "text": text, "issued_at": _iso(issued_at), "due": _iso(due), "sent_at": None,
                "instruction": f"请于{to_local(due):%Y-%m-%d %H:%M}前用测试微信号“{tester}”向公众号"
                               f"“{account.name}”发送留言：{text}",
            }
            tasks.append(task)
            return task

    def task(self, key: str) -> dict[str, Any] | None:
        return next((t for t in self.read()["tasks"] if t["key"] == key), None)

    def replies(self, account_id: str, tester: str, since: datetime) -> list[Reply]:
        out = [Reply(_parse(r["at"]), r["text"]) for r in self.read()["replies"]
               if r["account"] == account_id and r.get("tester") in (None, tester) and _parse(r["at"]) > since]
        return sorted(out, key=lambda r: r.at)

    # -- what the inspector does ---------------------------------------------

    def pending_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.read()["tasks"] if t["sent_at"] is None]

    def record_sent(self, account_id: str, at: datetime, *, key: str | None = None) -> dict[str, Any]:
        """The inspector sent the task's message at ``at`` (the oldest unsent task of the account,
        or the task ``key``). Raises ChannelError when there is no such task."""
        with self._edit() as data:
            tasks: list[dict[str, Any]] = data["tasks"]
            for task in tasks:
                if task["account"] == account_id and (task["key"] == key if key else task["sent_at"] is None):
                    task["sent_at"] = _iso(at)
                    return task
        raise ChannelError(f"manual: no {'task ' + key if key else 'unsent task'} for account {account_id}")

    def record_reply(self, account_id: str, at: datetime, text: str, *, tester: str | None = None) -> None:
        """The tester received ``text`` from the account at ``at`` (as shown on the phone)."""
        if not text.strip():
            raise ChannelError("manual: a reply needs its text")
        with self._edit() as data:
            data["replies"].append({"account": account_id, "tester": tester, "at": _iso(at), "text": text})


class ManualChannel(Channel):
    name: ClassVar[str] = "manual"
    deduplicates: ClassVar[bool] = True  # a task is keyed: issuing it again changes nothing

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.log = ManualLog(path)
        self._clock = clock

    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        now = (self._clock or get_clock()).now()
        key = key or f"{account.id}-{_iso(now)}"
        task = self.log.add_task(key, account, tester, text, now)
        return SentMessage(key, _parse(task["sent_at"]) if task["sent_at"] else None)

    async def sent_status(self, account: Account, tester: str, ref: str) -> SentMessage:
        task = self.log.task(ref)
        if task is None:
            raise ChannelError(f"manual: task {ref} is missing from {self.log.path}")
        return SentMessage(ref, _parse(task["sent_at"]) if task["sent_at"] else None)

    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        return self.log.replies(account.id, tester, since)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m probes.channels.manual",
                                     description="Record what an inspector did for manual test inquiries.")
    parser.add_argument("file", help=f"the task file (default name {DEFAULT_FILE}, beside accounts.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tasks", help="list the tasks not yet sent")
    sent = sub.add_parser("sent", help="record that a task's message was sent")
    sent.add_argument("account")
    sent.add_argument("--at", help="when it was sent (ISO 8601; default now)")
    sent.add_argument("--key", help="the task key (default: the oldest unsent task of the account)")
    reply = sub.add_parser("reply", help="record a reply the tester received")
    reply.add_argument("account")
    reply.add_argument("--at", required=True, help="when it arrived (ISO 8601, as shown on the phone)")
    reply.add_argument("--text", required=True)
    reply.add_argument("--tester")
    args = parser.parse_args(argv)
    log = ManualLog(args.file)
    try:
        if args.command == "tasks":
            for task in log.pending_tasks():
                print(f"{task['key']}\t{task['instruction']}")
        elif args.command == "sent":
            at = _parse(args.at) if args.at else SystemClock().now()
            task = log.record_sent(args.account, at, key=args.key)
            print(f"recorded: {task['key']} sent at {task['sent_at']}")
        else:
            log.record_reply(args.account, _parse(args.at), args.text, tester=args.tester)
            print("recorded")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ChannelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
