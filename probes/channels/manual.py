"""Manual channel: an inspector sends the test inquiry from a phone and records what happened.

``send`` sends nothing: it issues a *task* kept in the store (account, tester, question, send
by the end of the week) and returns a message without a send time; wxmon mails the task to the
account's inspector (``wxmon/inquiry_mail.py``). The inspector records, with ``wxmon inquiry``
(``sent``, ``reply``, or a filled-in spreadsheet through ``import``), when the message was sent
and each reply received, with screenshots as evidence. :class:`TaskDesk` (``monitor.taskdesk``,
re-exported here; the console's 巡检任务 pages use it too) is the one place that checks and
writes those records.

Times are to the minute, Asia/Shanghai, as a phone shows them: "10:15" is the interval
[10:15:00, 10:16:00). The probe picks the records up on its next round: the send time starts
the deadline; a reply in the same minute as the send answers it; a send recorded *after* a
reply that can only answer it (typed in late, or the phone's minute and the inspector's differ)
is taken as sent in that reply's minute, with a note on the inquiry (``probes.inquiry``; the
rule lives there, for every channel whose sends are recorded by hand). A reply before the
task was issued cannot answer it and is refused when recorded (exit 2).

Where the account has API access, its customer-service records (``msgrecord``) confirm the
send (a follower message with the task's question, after the task was issued) and the agent
replies to that follower: the task closes itself and the inspector records nothing. Where
both exist, both are kept: the records' send time counts (it is exact), a reply the inspector
recorded in the same minute as a recorded one is the same reply, and a difference is noted on
the task (keyword auto-replies and replies typed in the web admin are not in the records, so
the inspector's other replies still count).

Offices that used the JSON file of earlier versions (``manual-inquiries.json`` beside
accounts.yaml) lose nothing: the file is imported into the store once, on first use, and
renamed to ``manual-inquiries.json.imported``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar

from monitor.clock import SHANGHAI, Clock, as_utc, get_clock, to_local
from monitor.config import Account, Config
from monitor.store import Store
from monitor.store.core import NotFound
from monitor.store.tasks import InquiryTask, TaskReply
from monitor.taskdesk import REPLY_MAX_CHARS
from monitor.taskdesk import Recorded as Recorded
from monitor.taskdesk import RecordRefused as RecordRefused
from monitor.taskdesk import TaskDesk as TaskDesk
from monitor.taskdesk import hhmm as hhmm
from monitor.taskdesk import parse_time as parse_time
from monitor.wechat import AccountAPI
from monitor.wechat.errors import WeChatError
from probes.channels.base import MINUTE, SECOND, Channel, ChannelError, Reply, SentMessage, floor_to

log = logging.getLogger(__name__)

DEFAULT_FILE = "manual-inquiries.json"  # the file of earlier versions, imported once
FOLLOWER_MESSAGE, AGENT_REPLY = 2003, 2002  # msgrecord opercodes
RECORDS_SPAN = timedelta(days=14)  # how long after its issue a task's records are looked at
LEGACY_MAX_BYTES = 50_000_000
KEY_PREFIX = "wxmon-inquiry-"  # the inquiry probe's key: wxmon-inquiry-<inquiry id>

ApiFor = Callable[[Account], AccountAPI | None]


def send_by(issued_at: datetime) -> datetime:
    """The end of the ISO week (Sunday 24:00, Asia/Shanghai) the task was issued in."""
    local = to_local(issued_at)
    monday = local.date() + timedelta(days=7 - local.weekday())
    return as_utc(datetime.combine(monday, time(0), SHANGHAI))


def _norm(text: str) -> str:
    return "".join(text.split())


def _follower_digest(openid: str) -> str:
    # The tester's openid is an identifier of a person's WeChat: kept only as a digest.
    return hashlib.sha256(openid.encode("utf-8")).hexdigest()[:32]


def sent_time(task: InquiryTask) -> datetime | None:
    """When the task's message was sent, as far as known: the records' time (exact) when they
    show it, else the inspector's (the start of the recorded minute)."""
    if task.records_sent_at is not None:
        return task.records_sent_at
    return floor_to(task.sent_at, MINUTE) if task.sent_at is not None else None


def inquiry_id_of(key: str) -> int | None:
    if key.startswith(KEY_PREFIX) and key[len(KEY_PREFIX):].isdigit():
        return int(key[len(KEY_PREFIX):])
    return None


# ---------------------------------------------------------------------------
# the file of earlier versions


def legacy_path(config: Config) -> Path:
    return config.config_dir / DEFAULT_FILE


def import_legacy_file(config: Config, store: Store) -> int | None:
    """Import ``manual-inquiries.json`` (earlier versions' records) into the store, once: the
    file is then renamed ``*.imported``. Returns the number of tasks imported (None: no file).
    Records of accounts no longer configured stay in the renamed file (logged)."""
    path = legacy_path(config)
    try:
        if path.stat().st_size > LEGACY_MAX_BYTES:
            raise ChannelError(f"manual: {path} is larger than {LEGACY_MAX_BYTES} bytes; not a task file")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ChannelError(f"manual: cannot read {path}: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ChannelError(f"manual: {path} is not a task file")
    tasks = [t for t in data.get("tasks") or [] if isinstance(t, dict)]
    replies = [r for r in data.get("replies") or [] if isinstance(r, dict)]
    known = config.accounts_by_id
    from monitor.store import Account as StoredAccount

    store.upsert_accounts(StoredAccount(a.id, a.name, a.unit, a.category) for a in config.accounts)
    imported = 0
    with store.transaction():
        made: dict[str, list[InquiryTask]] = {}
        for i, t in enumerate(tasks, 1):
            try:
                key, account_id = str(t["key"]), str(t["account"])
                issued = as_utc(datetime.fromisoformat(str(t["issued_at"])))
                sent = as_utc(datetime.fromisoformat(str(t["sent_at"]))) if t.get("sent_at") else None
                question, tester = str(t["text"]), str(t["tester"])
            except (KeyError, ValueError, TypeError):
                raise ChannelError(f"manual: {path}: task record {i} is unreadable") from None
            if account_id not in known:
                log.warning("manual: %s: task %s of unknown account %s not imported (kept in the file)",
                            path.name, key[:40], account_id)
                continue
            inquiry_id = inquiry_id_of(key)
            if inquiry_id is not None:
                try:
                    store.get_inquiry(inquiry_id)
                except NotFound:
                    inquiry_id = None
            task, _ = store.add_task(key, account_id, tester=tester, question=question, issued_at=issued,
                                     send_by=send_by(issued), inquiry_id=inquiry_id)
            if sent is not None and task.sent_at is None:
                task = store.update_task(task.id, sent_at=floor_to(sent, MINUTE), sent_recorded_at=issued)
            made.setdefault(account_id, []).append(task)
            imported += 1
        for i, r in enumerate(replies, 1):
            try:
                account_id, text = str(r["account"]), str(r["text"])
                at = floor_to(as_utc(datetime.fromisoformat(str(r["at"]))), MINUTE)
            except (KeyError, ValueError, TypeError):
                raise ChannelError(f"manual: {path}: reply record {i} is unreadable") from None
            reply_tester = r.get("tester")
            candidates = [t for t in made.get(account_id, []) if reply_tester in (None, t.tester)]
            before = [t for t in candidates if floor_to(t.issued_at, MINUTE) <= at]
            target = (before or candidates)[-1] if candidates else None
            if target is None:
                log.warning("manual: %s: reply record %d matches no imported task; kept in the file", path.name, i)
                continue
            store.add_task_reply(target.id, at, text[:REPLY_MAX_CHARS], source="inspector", recorded_at=at)
    os.replace(path, path.with_name(path.name + ".imported"))
    log.warning("manual: imported %d tasks from %s into the store; the file is kept as %s.imported",
                imported, path, path.name)
    return imported


# ---------------------------------------------------------------------------
# the channel


class ManualChannel(Channel):
    name: ClassVar[str] = "manual"
    deduplicates: ClassVar[bool] = True  # a task is keyed: issuing it again changes nothing
    sends_recorded_by_hand: ClassVar[bool] = True

    def __init__(self, config: Config, *, store: Store | None = None, clock: Clock | None = None,
                 api_for: ApiFor | None = None) -> None:
        self.config = config
        self._store = store
        self._own_store = store is None
        self._clock = clock
        self._api_for = api_for
        self._legacy_checked = False
        self._records_read: set[str] = set()  # accounts whose records this channel (one round) has read

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.config.store_url)
        if not self._legacy_checked:
            self._legacy_checked = True
            import_legacy_file(self.config, self._store)
        return self._store

    def _now(self) -> datetime:
        return (self._clock or get_clock()).now()

    async def send(self, account: Account, tester: str, text: str, *, key: str | None = None) -> SentMessage:
        now = self._now()
        key = key or f"{account.id}-{to_local(now).isoformat(timespec='seconds')}"
        inquiry_id = inquiry_id_of(key)
        if inquiry_id is not None:
            try:
                self.store.get_inquiry(inquiry_id)
            except NotFound:
                inquiry_id = None
        inspector = account.inquiry.inspector or self.config.channels.manual.inspector
        task, _ = self.store.add_task(key, account.id, tester=tester, question=text, issued_at=now,
                                      send_by=send_by(now), inquiry_id=inquiry_id,
                                      inspector=inspector.name if inspector else None,
                                      inspector_email=inspector.email if inspector else None)
        return SentMessage(key, sent_time(task))

    async def sent_status(self, account: Account, tester: str, ref: str) -> SentMessage:
        await self._read_records(account)
        task = self.store.task_by_key(ref)
        if task is None:
            raise ChannelError(f"manual: task {ref[:60]} is missing from the store")
        return SentMessage(ref, sent_time(task))

    async def replies_since(self, account: Account, tester: str, since: datetime) -> list[Reply]:
        await self._read_records(account)
        tasks = [t.task for t in self.store.tasks(account_id=account.id, tester=tester)]
        records = [r for r in self.store.task_replies([t.id for t in tasks]) if r.source == "records"]
        recorded_minutes = {floor_to(r.at, MINUTE) for r in records}
        out = []
        for r in self.store.task_replies([t.id for t in tasks]):
            if r.source == "records":
                reply = Reply(r.at, r.text, SECOND)
            elif floor_to(r.at, MINUTE) in recorded_minutes and not r.auto:
                continue  # the same reply the records show, known to the second there
            else:
                reply = Reply(floor_to(r.at, MINUTE), r.text, MINUTE, stated_auto=r.auto)
            if reply.at + reply.resolution > since:
                out.append(reply)
        return sorted(out, key=lambda r: r.at)

    async def aclose(self) -> None:
        if self._own_store and self._store is not None:
            self._store.close()
            self._store = None

    # -- the account's customer-service records --------------------------------

    async def _read_records(self, account: Account) -> None:
        """Confirm sends and replies of the account's recent open tasks from its customer-service
        records (once per round). Trouble with the API changes nothing (the monitor's own)."""
        if self._api_for is None or account.id in self._records_read:
            return
        self._records_read.add(account.id)
        api = self._api_for(account)
        if api is None:
            return
        now = self._now()
        tasks = [t.task for t in self.store.tasks(account_id=account.id)
                 if t.task.closed_by != "records" and t.task.issued_at > now - RECORDS_SPAN]
        if not tasks:
            return
        start = floor_to(min(t.issued_at for t in tasks), MINUTE)
        try:
            records = await api.msg_records(start, now + SECOND)
        except WeChatError as exc:
            log.info("%s: customer-service records unavailable to confirm manual tasks: %s", account.id, exc)
            return
        records = sorted((r for r in records if isinstance(r.get("time"), int) and isinstance(r.get("openid"), str)),
                         key=lambda r: int(r["time"]))
        claimed = {t.records_follower + "@" + str(t.records_sent_at) for t in tasks if t.records_follower}
        with self.store.transaction():
            for task in tasks:
                if task.records_sent_at is None:
                    task = self._confirm_send(task, records, claimed)
            tasks = [t.task for t in self.store.tasks(ids=[t.id for t in tasks])]
            for rec in records:
                if rec.get("opercode") != AGENT_REPLY:
                    continue
                at = datetime.fromtimestamp(int(rec["time"]), SHANGHAI)
                follower = _follower_digest(rec["openid"])
                mine = [t for t in tasks if t.records_follower == follower and t.records_sent_at is not None
                        and t.records_sent_at <= at]
                if not mine:
                    continue
                task = mine[-1]  # the latest message of this follower before the reply
                text = str(rec.get("text") or "")[:REPLY_MAX_CHARS] or "（客服消息记录中的非文字回复）"
                _, new = self.store.add_task_reply(task.id, as_utc(at), text, source="records", recorded_at=now)
                if new and task.closed_at is None:
                    self.store.update_task(task.id, closed_at=now, closed_by="records")
            for row in self.store.tasks(ids=[t.id for t in tasks]):
                self._note_disagreement(row.task, self.store.task_replies([row.task.id]))

    def _confirm_send(self, task: InquiryTask, records: Sequence[Any], claimed: set[str]) -> InquiryTask:
        question = _norm(task.question)
        issued = floor_to(task.issued_at, MINUTE)
        for rec in records:
            at = as_utc(datetime.fromtimestamp(int(rec["time"]), SHANGHAI))
            follower = _follower_digest(rec["openid"])
            if rec.get("opercode") != FOLLOWER_MESSAGE or at < issued or _norm(str(rec.get("text") or "")) != question:
                continue
            mark = follower + "@" + str(at)
            if mark in claimed:
                continue  # another task's message (the same question asked again)
            claimed.add(mark)
            log.info("task %d: send confirmed by the customer-service records", task.id)
            return self.store.update_task(task.id, records_sent_at=at, records_follower=follower)
        return task

    def _note_disagreement(self, task: InquiryTask, replies: Sequence[TaskReply]) -> None:
        notes = []
        if task.records_sent_at is not None and task.sent_at is not None \
                and floor_to(task.sent_at, MINUTE) != floor_to(task.records_sent_at, MINUTE):
            notes.append(f"检查员登记发送时间{hhmm(task.sent_at)}，客服消息记录为"
                         f"{to_local(task.records_sent_at):%Y-%m-%d %H:%M:%S}，以消息记录为准")
        if task.records_follower is not None:
            recorded = {floor_to(r.at, MINUTE) for r in replies if r.source == "records"}
            for r in replies:
                if r.source == "inspector" and not r.auto and floor_to(r.at, MINUTE) not in recorded:
                    notes.append(f"检查员登记的{hhmm(r.at)}回复不在客服消息记录中（可能来自后台消息管理或自动回复），"
                                 "两者均保留")
        note = "；".join(notes) or None
        if note != task.note:
            if note:
                log.warning("task %d: the inspector's records and the customer-service records differ", task.id)
            self.store.update_task(task.id, note=note)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line of earlier versions: moved to ``wxmon inquiry``."""
    print("python -m probes.channels.manual is replaced by `wxmon inquiry list | sent ID | reply ID | "
          "template | import` (see docs/inspectors.md); an existing manual-inquiries.json is imported "
          "into the store on first use.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
