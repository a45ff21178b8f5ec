"""Follower conversations (网民留言答复): how each account answers all its followers.

One round reads one Shanghai day's customer-service records of every account
(``customservice/msgrecord/getmsglist``: follower messages, opercode 2003, and
agent replies, opercode 2002, with unix times) and stores one
:class:`~monitor.store.FollowerDay` per account: messages, answered, median and
p90 reply minutes. Metrics read those rows, never this probe's result rows.
Unlike the inquiry probe this measures every follower, not only testers.

Pairing (per openid, in record order)
-------------------------------------
- A follower message (2003) is answered by the first agent reply (2002) to the
  same openid after it. Several follower messages before one reply (a follower
  writing two or three lines, then waiting) each count as a message, and that
  one reply answers all of them; each message's reply time is measured from its
  own time, so the run's first message carries the longest wait. The
  alternative (count the run as one message) would hide how many messages a
  follower had to write before anyone answered.
- A reply before a message answers nothing of that day: it belongs to an earlier
  message (of the day before, whose records we do not read).
- Ties inside one second keep the platform's order (records sort by msgid).
- Records with other opercodes (session events 1000-1005, 2001) are ignored.
  Keyword auto-replies set in the web admin are not in these records at all, so
  they never count as answers; every 2002 does (a message sent through the
  customer-service API is an agent reply whatever the ``worker``).

Answer window
-------------
A message of day D counts as answered when its reply comes before the end of
day D+1 (Shanghai), so the round reads records of [D 00:00, D+2 00:00): two
24 h windows. A message answered later counts as unanswered (a message at
23:59 still gets a full day). While D+1 is not over, the day's figures are
provisional (``final`` False in the row, and said in the reason): the default
day, yesterday, is provisional until midnight, and re-running a day replaces
its row (the store upserts), so a later round for the same day settles it.

Failures
--------
All-or-nothing per account and day: nothing is stored unless every page of
both windows was read, so a failed round never leaves invented numbers and an
earlier row for that day stays as it was. 65400 (new customer-service feature
off), 48001, IP whitelist, bad credentials, no secret, ``api: false`` are the
account's configuration (``unverifiable``); busy, quota, network, malformed
answers and range errors (65416/65417, our bug) are the monitor's (``error``).

Privacy: message texts may hold personal data. They are never logged, never
stored and not kept past parsing; openids are not logged either.
"""

from __future__ import annotations

import asyncio
import logging
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from monitor.clock import SHANGHAI, to_local
from monitor.config import Account
from monitor.context import ProbeContext
from monitor.store import FollowerDay
from monitor.wechat import answers as A
from monitor.wechat import errors as E
from probes.base import ProbeRow, RowShape
from probes.failures import Unjudged, api_failure, missing_secret_reason

log = logging.getLogger(__name__)

FOLLOWER_MESSAGE = 2003  # 客服接收消息: a follower wrote to the account
AGENT_REPLY = 2002  # 客服发送信息: an agent (or the customer-service API) answered
ANSWER_DAYS = 2  # the day itself and the next one: replies later count as no answer
CONCURRENCY = 16  # accounts in flight at once
WHAT = "网民留言答复情况"
MSGRECORD = "customservice/msgrecord/getmsglist"
FEATURE_OFF_REASON = f"未开通新版客服功能（65400），无法统计{WHAT}"
PROVISIONAL_REASON = "次日尚未结束，答复数为暂计，重新统计该日时更新"
ROW = RowShape(("account", "status", "reason", "day", "messages", "answered", "median_reply_minutes",
                "p90_reply_minutes", "final"))


# -- pairing -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    """One account's follower messages of one day, paired with their replies."""

    messages: int
    reply_minutes: tuple[float, ...]  # one per answered message

    @property
    def answered(self) -> int:
        return len(self.reply_minutes)

    @property
    def median(self) -> float | None:
        return statistics.median(self.reply_minutes) if self.reply_minutes else None

    @property
    def p90(self) -> float | None:
        return quantile(self.reply_minutes, 0.9)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (pandas' and numpy's default, as metrics use)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def parse_records(records: Iterable[object]) -> list[tuple[int, int, str]]:
    """(unix time, opercode, openid) of the 2002/2003 records, in platform order; texts dropped.

    Each record is checked against :class:`~monitor.wechat.answers.MsgRecord` (the client has
    checked those it returns already; this takes records from anywhere).
    """
    out: list[tuple[int, int, str]] = []
    for i, raw in enumerate(records):
        record = A.check(A.MsgRecord, raw, MSGRECORD)
        code = record["opercode"]
        if code not in (FOLLOWER_MESSAGE, AGENT_REPLY):
            continue  # session events: not a message either way
        if not record["openid"]:
            raise E.MalformedAnswer("a message without an openid", endpoint=MSGRECORD, field=f"recordlist.{i}.openid")
        out.append((record["time"], code, record["openid"]))
    return out


def pair(records: Iterable[tuple[int, int, str]], day_start: int, day_end: int, answer_end: int) -> Tally:
    """Pair the follower messages of [day_start, day_end) with replies before ``answer_end`` (unix seconds).

    ``records`` must be in platform order (by msgid, i.e. by time); a stable sort by time
    keeps that order inside one second and repairs pages that came back out of order.
    """
    waiting: dict[str, list[int]] = {}  # openid -> times of its messages not answered yet
    messages = 0
    minutes: list[float] = []
    for when, code, openid in sorted(records, key=lambda r: r[0]):
        if code == FOLLOWER_MESSAGE:
            if day_start <= when < day_end:
                messages += 1
                waiting.setdefault(openid, []).append(when)
        elif when < answer_end:
            for sent in waiting.pop(openid, ()):  # one reply answers every message waiting for it
                minutes.append((when - sent) / 60.0)
    return Tally(messages, tuple(minutes))


# -- one account ---------------------------------------------------------------------


@dataclass
class Outcome:
    status: Literal["ok"] | Unjudged
    reason: str = ""
    tally: Tally | None = None


def day_bounds(day: date) -> tuple[datetime, datetime, datetime]:
    """(start, end, answer deadline) of a Shanghai day, aware UTC."""
    start = datetime.combine(day, time(0), SHANGHAI).astimezone(UTC)
    return start, start + timedelta(days=1), start + timedelta(days=ANSWER_DAYS)


def failure(exc: BaseException) -> tuple[Unjudged, str]:
    if isinstance(exc, E.FeatureOff):
        return "unverifiable", FEATURE_OFF_REASON
    return api_failure(exc, WHAT)


async def check_account(ctx: ProbeContext, account: Account, day: date, now: datetime) -> Outcome:
    api = ctx.account_api(account)
    if api is None:
        return Outcome("unverifiable", missing_secret_reason(account, WHAT))
    start, end, deadline = day_bounds(day)
    # Nothing after now exists yet: reading up to now saves calls on a provisional day.
    read_end = min(deadline, now)
    try:
        records = parse_records(await api.msg_records(start, read_end))
    except E.WeChatError as exc:
        return Outcome(*failure(exc))
    tally = pair(records, int(start.timestamp()), int(end.timestamp()), int(deadline.timestamp()))
    return Outcome("ok", "" if now >= deadline else PROVISIONAL_REASON, tally)


def _row(account: Account, day: date, outcome: Outcome, final: bool) -> ProbeRow:
    t = outcome.tally
    return ProbeRow(ROW, account.id, outcome.status, outcome.reason, {
        "day": day.isoformat(),
        "messages": t.messages if t else None,
        "answered": t.answered if t else None,
        "median_reply_minutes": None if t is None or t.median is None else round(t.median, 1),
        "p90_reply_minutes": None if t is None or t.p90 is None else round(t.p90, 1),
        "final": final if t else None,
    })


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None = None, *,
                    day: date | None = None) -> list[ProbeRow]:
    """Measure one Shanghai day (default: yesterday) of every account's follower conversations.

    Stores one FollowerDay per account measured (replacing that day's earlier row);
    returns one row per account.
    """
    now = ctx.now()
    today = to_local(now).date()
    day = day if day is not None else today - timedelta(days=1)
    if day > today:
        raise ValueError(f"cannot measure {day.isoformat()}: the day has not begun")
    final = now >= day_bounds(day)[2]
    ctx.sync_accounts()  # follower_conversations rows reference the accounts table
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(account: Account) -> Outcome:
        async with limit:
            try:
                return await check_account(ctx, account, day, now)
            except Exception as exc:  # one account's bug never ends the round
                log.exception("conversations: %s failed", account.id)
                return Outcome(*failure(exc))
            finally:
                ctx.account_done()

    accounts = list(accounts)
    outcomes = await asyncio.gather(*(one(a) for a in accounts))
    batch = [FollowerDay(a.id, day, o.tally.messages, o.tally.answered, o.tally.median, o.tally.p90)
             for a, o in zip(accounts, outcomes) if o.status == "ok" and o.tally is not None]
    if batch:
        await asyncio.to_thread(ctx.store.upsert_follower_days, batch)
    rows = [_row(a, day, o, final) for a, o in zip(accounts, outcomes)]
    for row in rows:
        if row.status != "ok":
            log.info("conversations %s %s: %s (%s)", row.account, day.isoformat(), row.status, row.reason)
    log.info("conversations round %s for %s: %d accounts, %d stored, %d messages%s", run_id, day.isoformat(),
             len(accounts), len(batch), sum(d.messages for d in batch), "" if final else " (provisional)")
    return rows
