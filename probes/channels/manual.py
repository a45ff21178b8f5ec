"""Manual channel: an inspector sends the test inquiry from a phone and records what happened.

``send`` does not send anything: it writes a task ("请于DUE前用测试号TESTER向公众号ACCOUNT发送留言：TEXT")
to a small JSON file and returns a message without a send time. The inspector then
records, with this module's functions or its command line, when the message was
really sent and each reply received (time as shown on the phone, and the text):

    python -m probes.channels.manual FILE tasks
    python -m probes.channels.manual FILE sent ACCOUNT [--at ISO] [--key KEY]
    python -m probes.channels.manual FILE reply ACCOUNT --at ISO --text TEXT [--tester T]

Times without an offset are Asia/Shanghai. A phone shows minutes, so every time
recorded here is taken to the minute: "10:15" (seconds, if typed, are kept in the
file but not used) is the interval [10:15:00, 10:16:00). The probe picks the records up on its next
round: the send time starts the deadline; a reply in the same minute as the
send answers it; a send recorded *after* a reply that can only answer it (typed
in late, or the phone's minute and the inspector's differ) is taken as sent in
that reply's minute, with a note on the inquiry, instead of losing the reply.
Replies are classified (auto or human) by the probe like any other channel's.
A reply that cannot answer any task of the account (recorded before the
account's first task was issued, or for a tester no task uses) is refused when
it is recorded (exit 2). The file is
small and edited under a lock (POSIX) and replaced atomically; a record in it
that cannot be read is reported with its place, never skipped.
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
from probes.channels.base import MINUTE, Channel, ChannelError, Reply, SentMessage, floor_to

try:  # POSIX only; elsewhere the atomic replace alone has to do
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_FILE = "manual-inquiries.json"


def _iso(value: datetime) -> str:
    return to_local(value).isoformat(timespec="seconds")


def _parse(value: str) -> datetime:
    return as_utc(datetime.fromisoformat(value))


def _minute(value: object, where: str) -> datetime:
    """A recorded time (ISO 8601 text from the file) as the start of its minute, aware UTC."""
    if not isinstance(value, str):
        raise ChannelError(f"manual: {where}: time missing or not text")
    try:
        return floor_to(_parse(value), MINUTE)
    except ValueError:
        raise ChannelError(f"manual: {where}: {value[:40]!r} is not an ISO 8601 time") from None


class RecordRefused(ValueError):
    """What the inspector asked to record cannot be right (the message says why)."""


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
        for part in ("tasks", "replies"):
            if not isinstance(data[part], list) or not all(isinstance(r, dict) for r in data[part]):
                raise ChannelError(f"manual: {self.path}: {part} is not a list of records")
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
                if task.get("key") == key:
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
        return next((t for t in self.read()["tasks"] if t.get("key") == key), None)

    def replies(self, account_id: str, tester: str, since: datetime) -> list[Reply]:
        """The account's replies to ``tester`` (or to no named tester) that may have come after
        ``since`` (their minute ends after it), each at the start of its minute. Raises ChannelError
        naming an unreadable record."""
        out = []
        for i, rec in enumerate(self.read()["replies"], 1):
            if rec.get("account") != account_id or rec.get("tester") not in (None, tester):
                continue
            where = f"{self.path.name} reply record {i}"
            text = rec.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ChannelError(f"manual: {where}: text missing")
            at = _minute(rec.get("at"), where)
            if at + MINUTE > since:
                out.append(Reply(at, text, MINUTE))
        return sorted(out, key=lambda r: r.at)

    def sent_at(self, task: dict[str, Any]) -> datetime | None:
        """The task's recorded send time, to the minute (None: not sent yet)."""
        if task.get("sent_at") is None:
            return None
        return _minute(task["sent_at"], f"{self.path.name} task {str(task.get('key'))[:40]}")

    # -- what the inspector does ---------------------------------------------

    def pending_tasks(self) -> list[dict[str, Any]]:
        return [t for t in self.read()["tasks"] if t.get("sent_at") is None]

    def record_sent(self, account_id: str, at: datetime, *, key: str | None = None) -> dict[str, Any]:
        """The inspector sent the task's message at ``at`` (the oldest unsent task of the account,
        or the task ``key``). Raises ChannelError when there is no such task."""
        with self._edit() as data:
            tasks: list[dict[str, Any]] = data["tasks"]
            for task in tasks:
                if task.get("account") == account_id and (task.get("key") == key if key
                                                          else task.get("sent_at") is None):
                    task["sent_at"] = _iso(at)
                    return task
        raise ChannelError(f"manual: no {'task ' + key if key else 'unsent task'} for account {account_id}")

    def record_reply(self, account_id: str, at: datetime, text: str, *, tester: str | None = None) -> None:
        """The tester received ``text`` from the account at ``at`` (as shown on the phone)."""
        if not text.strip():
            raise RecordRefused("manual: a reply needs its text")
        with self._edit() as data:
            # A reply answers one of our messages: one before the account's first task is a mistyped
            # time (or the wrong account), refused now rather than lost later.
            tasks = [t for t in data["tasks"] if t.get("account") == account_id]
            issued = [_minute(t.get("issued_at"), f"{self.path.name} task {str(t.get('key'))[:40]}") for t in tasks]
            minute = floor_to(at, MINUTE)
            if not issued or minute < min(issued):
                first = f" (its first task was issued {to_local(min(issued)):%Y-%m-%d %H:%M})" if issued else ""
                raise RecordRefused(f"manual: reply at {to_local(at):%Y-%m-%d %H:%M} for account {account_id} "
                                    f"is before any task for it was issued{first}; check the time and account")
            if tester is not None and tester not in {t.get("tester") for t in tasks}:
                raise RecordRefused(f"manual: no task of account {account_id} uses tester {tester!r}; "
                                    "check the name (or leave --tester out)")
            data["replies"].append({"account": account_id, "tester": tester, "at": _iso(at), "text": text})

    def replies_before_send(self, task: dict[str, Any]) -> list[datetime]:
        """Replies recorded between the task's issue and its recorded send (minutes): the send
        was most likely typed in late, and the probe will take it as made by the first of them."""
        sent, issued = self.sent_at(task), _minute(task.get("issued_at"), f"{self.path.name} task")
        if sent is None:
            return []
        return sorted(r.at for r in self.replies(str(task.get("account")), str(task.get("tester")), issued)
                      if issued <= r.at < sent)


class ManualChannel(Channel):
    name: ClassVar[str] = "manual"
    deduplicates: ClassVar[bool] = True  # a task is keyed: issuing it again changes nothing
    sends_recorded_by_hand: ClassVar[bool] = True

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.log = ManualLog(path)
        self._clock = clock

    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        now = (self._clock or get_clock()).now()
        key = key or f"{account.id}-{_iso(now)}"
        task = self.log.add_task(key, account, tester, text, now)
        return SentMessage(key, self.log.sent_at(task))

    async def sent_status(self, account: Account, tester: str, ref: str) -> SentMessage:
        task = self.log.task(ref)
        if task is None:
            raise ChannelError(f"manual: task {ref} is missing from {self.log.path}")
        return SentMessage(ref, self.log.sent_at(task))

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
            early = log.replies_before_send(task)
            if early:
                print(f"note: a reply is recorded at {to_local(early[0]):%Y-%m-%d %H:%M}, before this send; "
                      "unless it answers an earlier task, the send is taken as made in that minute")
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
