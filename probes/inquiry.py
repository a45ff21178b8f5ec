"""Test inquiries (互动回应): send a question as a follower, time the account's answer.

One inquiry per account and window (ISO week, Asia/Shanghai), made idempotent by
the store's unique ``(account_id, window_key)``; at most one *open* inquiry per
account (a previous window's inquiry still waiting blocks the next one).

Sending is at-most-once, across crashes. Before a message is handed to the
channel the row gets a marker, ``channel_ref = "pending:<attempt time>"``,
committed first. On success the marker becomes the channel's ref and the row
``sent``. A marker found later means the outcome of that attempt is unknown (a
crash, or a failure after the request left us), and the row is never simply
sent again:

- a channel that deduplicates by key (bridge, manual) is asked again with the
  same key, which cannot produce a second message;
- otherwise (the emulator) we look for evidence: any reply to the tester within
  10 minutes after the attempt (auto-replies arrive within seconds), else a
  follower message with the question's text in the account's customer-service
  records (``msgrecord``, when the account's API is available). Evidence found:
  the row becomes ``sent`` at the attempt time (at most one request's duration
  early) or at the recorded time. Records readable and empty after 10 minutes:
  it was not delivered, sending again is safe. No way to tell: the window's
  inquiry becomes ``error`` (not counted for or against the account) rather
  than risking a duplicate message to the account.

A send that fails for certain (connection refused, request refused) leaves the
row ``scheduled`` with the error; the next round of the same window retries.

Replies are classified here, never by the channel, by text first: ``auto``
when the reply carries 自动回复, or is one of the account's configured auto-reply
texts (``get_current_autoreply_info``, where the API is allowed), or is a text
already seen from the account as an auto-reply or in answer to a different
question (a canned text); by timing only when the times allow it: ``auto`` when
even the longest delay the recorded times permit is within 20 s. Times of
minute resolution (a phone, the manual channel) never allow that, so there the
text alone decides: a next-minute reply is human unless its text says auto.
``human`` otherwise. (A canned text is recognised from its second use on; the
first use keeps the kind it was given.)

Replies of one tester's conversation are attributed to the inquiries in it: an
auto-reply to the latest message sent before it, a human reply to the oldest
inquiry still waiting for a person (people answer in order). At minute
resolution "before" means "in the same minute or earlier": a reply in the
send's minute belongs to it. A channel whose send times are recorded by a
person (manual) may show a reply before the recorded send: when the reply came
after the task was issued and no earlier inquiry takes it, the send is taken as
made in the reply's minute (its deadline moved with it) and a note saying so is
kept in the inquiry's ``error`` column and shown in its reason. A reply that no
inquiry can take is logged and named in the account's row, never dropped
silently. Replies are read for inquiries still watched and, by hand, for every
inquiry sent in the last 45 days (a record typed in after its inquiry was
settled still counts; its outcome is worked out again).

States: ``answered`` (a person replied by the deadline, or an auto-reply did
and the policy counts it), ``late`` (a person replied after it), ``unanswered``
(deadline passed without). The deadline is N working days (the policy's
``inquiry_deadline`` rule, default 3) after the day of sending. ``unanswered``
is set only by a successful poll made after the deadline, and such inquiries are
watched for 30 more days so that a late reply turns them into ``late`` with
its real latency. Replies carry their own times, so the monitor's outages never
shift a measurement; a failed poll changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple, TypedDict

from monitor.clock import Clock, as_utc, to_local
from monitor.config import Account, Config
from monitor.context import ProbeContext
from monitor.errors import BadInput
from monitor.period import week_key_at
from monitor.store import Inquiry
from monitor.store.records import OPEN_INQUIRY_STATES
from monitor.wechat import answers as A
from monitor.wechat.errors import WeChatError
from probes.base import Json, ProbeRow, RowShape, RowStatus, row_status
from probes.channels import Channel, ChannelError, Reply, channel_for
from probes.channels.base import MINUTE, SECOND, floor_to

log = logging.getLogger(__name__)

PENDING = "pending:"  # channel_ref of a send whose outcome is not recorded yet
RECOVERED = "recovered:"  # channel_ref of a send confirmed after the fact (see module docstring)
AUTO_REPLY_WITHIN = timedelta(seconds=20)  # platform auto-replies arrive in seconds; people take longer
AUTO_MARKER = "自动回复"
EVIDENCE_WINDOW = timedelta(minutes=10)  # how long an interrupted send is looked into before giving up
REPLY_EVIDENCE = timedelta(minutes=2)  # a reply this soon after an attempt answers that attempt
CLOCK_SKEW = timedelta(seconds=60)
WATCH_AFTER_DEADLINE = timedelta(days=30)
HAND_LOOKBACK = timedelta(days=45)  # by hand, replies are read for inquiries sent this recently, settled or not
OUTCOME_STATES = ("sent", "answered", "late", "unanswered")  # states whose outcome replies decide
RETRY_SENDS_FOR = timedelta(days=7)  # a failed send is retried by polls while its window can still be open
REPLY_MAX_CHARS = 500
DEFAULT_WORKING_DAYS = 3
CONCURRENCY = 16
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_FAR = datetime(2200, 1, 1, tzinfo=UTC)

ChannelFactory = Callable[..., Channel | None]
KindOf = Callable[[Reply, datetime, str], Awaitable[Literal["auto", "human"]]]
Status = Literal["free", "sent", "deferred", "checking", "lost", "done"]


def deadline_working_days(config: Config) -> int:
    """Working days to answer, from the selected policy's inquiry_deadline rule (default 3)."""
    for rule in config.selected_policy.rules:
        if rule.kind == "inquiry_deadline":
            return rule.working_days
    return DEFAULT_WORKING_DAYS


def tester_of(account: Account) -> str:
    return account.inquiry.tester or f"wxmon-{account.id}"


def _norm(text: str) -> str:
    # Whitespace carries no meaning in Chinese text; copies of a rule's text differ only in it.
    return "".join(text.split())


def longest_delay(reply: Reply, sent_at: datetime) -> timedelta:
    """The longest time between send and reply the recorded times allow (exact at second resolution;
    at minute resolution from the start of the send's minute to the end of the reply's)."""
    if reply.resolution <= SECOND:
        return reply.at - sent_at
    return floor_to(reply.at, reply.resolution) + reply.resolution - floor_to(sent_at, reply.resolution)


def sent_before(sent_at: datetime, reply: Reply) -> bool:
    """Could the reply answer a message sent at ``sent_at``? At minute resolution a reply in the
    send's own minute can."""
    if reply.resolution <= SECOND:
        return sent_at < reply.at
    return floor_to(sent_at, reply.resolution) <= floor_to(reply.at, reply.resolution)


def classify(reply: Reply, sent_at: datetime, auto_texts: Collection[str] = (),
             canned: Collection[str] = ()) -> Literal["auto", "human"]:
    """``auto`` or ``human``, judged from the reply's text and timing only (module docstring).
    ``auto_texts``: the account's rule texts; ``canned``: texts known to be canned; both normalized."""
    if reply.stated_auto or AUTO_MARKER in reply.text or longest_delay(reply, sent_at) <= AUTO_REPLY_WITHIN:
        return "auto"
    norm = _norm(reply.text)
    return "auto" if norm in auto_texts or norm in canned else "human"


def autoreply_texts(info: A.AutoReply) -> frozenset[str]:
    """The text replies configured in ``get_current_autoreply_info`` (normalized)."""
    texts: list[object] = []
    for key in ("add_friend_autoreply_info", "message_default_autoreply_info"):
        item = info.get(key)
        if isinstance(item, dict) and item.get("type", "text") == "text":
            texts.append(item.get("content"))
    rules = (info.get("keyword_autoreply_info") or {}).get("list") or []
    for rule in rules if isinstance(rules, list) else []:
        for reply in (rule.get("reply_list_info") or []) if isinstance(rule, dict) else []:
            if isinstance(reply, dict) and reply.get("type", "text") == "text":
                texts.append(reply.get("content"))
    return frozenset(_norm(t) for t in texts if isinstance(t, str) and t.strip())


class AutoReplyTexts:
    """Each account's auto-reply texts, fetched at most once per round, lazily.
    API trouble means "no texts known" (timing and the marker still classify)."""

    def __init__(self, ctx: ProbeContext) -> None:
        self._ctx = ctx
        self._cache: dict[str, frozenset[str]] = {}

    async def get(self, account: Account) -> frozenset[str]:
        if account.id not in self._cache:
            texts: frozenset[str] = frozenset()
            api = self._ctx.account_api(account)
            if api is not None:
                try:
                    texts = autoreply_texts(await api.get_autoreply_info())
                except Exception as exc:  # optional enrichment: never let it break the probe
                    log.info("%s: auto-reply rules unavailable: %s", account.id, exc)
            self._cache[account.id] = texts
        return self._cache[account.id]


class ChannelSet:
    """The channels of one round, one per kind, closed together."""

    def __init__(self, config: Config, clock: Clock | None = None, factory: ChannelFactory = channel_for,
                 ctx: ProbeContext | None = None) -> None:
        self._config = config
        self._clock = clock
        self._factory = factory
        self._ctx = ctx  # given: the manual channel works on its store and API clients
        self._open: dict[str, Channel | None] = {}

    def get(self, account: Account) -> Channel | None:
        kind = account.inquiry.channel
        if kind == "none":
            return None
        if kind not in self._open:
            extra = {"store": self._ctx.store, "api_for": self._ctx.account_api} if self._ctx is not None else {}
            self._open[kind] = self._factory(self._config, account, clock=self._clock, **extra)
        return self._open[kind]

    async def aclose(self) -> None:
        for chan in self._open.values():
            if chan is not None:
                await chan.aclose()
        self._open.clear()

    async def __aenter__(self) -> ChannelSet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------
# sending


def _pending_at(ref: str | None) -> datetime | None:
    if ref and ref.startswith(PENDING):
        return as_utc(datetime.fromisoformat(ref[len(PENDING):]))
    return None


def _question(ctx: ProbeContext, account: Account) -> str:
    # Rotate through the pool by the number of inquiries the account has had: deterministic, restart-proof.
    pool = account.inquiry.questions
    if not pool:
        raise BadInput(f"account {account.id}: inquiry.questions is empty")
    count = len(ctx.store.inquiries_between(_EPOCH, _FAR, account_id=account.id))
    return pool[count % len(pool)]


def _mark_sent(ctx: ProbeContext, q: Inquiry, sent_at: datetime, ref: str) -> Inquiry:
    deadline = ctx.calendar.deadline(sent_at, deadline_working_days(ctx.config))
    return ctx.store.update_inquiry(q.id, state="sent", sent_at=sent_at, deadline_at=deadline,
                                    channel_ref=ref, error=None)


def _claim(ctx: ProbeContext, q: Inquiry, attempt_at: datetime) -> Inquiry | None:
    """Write the send marker, unless someone else changed the row since we read it.
    Committed before the send: a crash after this point can never lead to a blind resend."""
    return ctx.store.claim_inquiry(q.id, expected_ref=q.channel_ref, claim_ref=PENDING + attempt_at.isoformat())


async def _delivery_evidence(ctx: ProbeContext, account: Account, chan: Channel, q: Inquiry,
                             attempt_at: datetime) -> datetime | Literal["absent", "unknown"]:
    """Did an attempt whose outcome was lost reach the account? The send time, or why not known."""
    now = ctx.now()
    horizon = attempt_at + EVIDENCE_WINDOW
    records_say_absent = False
    api = ctx.account_api(account)
    if api is not None:  # the account's own record of what followers wrote: exact text, exact time
        try:
            records = await api.msg_records(attempt_at - CLOCK_SKEW, min(horizon, now) + timedelta(seconds=1))
        except WeChatError as exc:
            log.info("%s: msgrecord unavailable to confirm a send: %s", account.id, exc)
        else:
            for rec in records:
                if rec.get("opercode") == 2003 and _norm(str(rec.get("text", ""))) == _norm(q.question):
                    return datetime.fromtimestamp(int(rec["time"]), UTC)
            records_say_absent = now >= horizon
    # An (auto-)reply right after the attempt: our message got there. Only a short span counts,
    # so that a late answer to an older inquiry is not taken for evidence.
    replies = await chan.replies_since(account, q.tester or tester_of(account), attempt_at - CLOCK_SKEW)
    if any(floor_to(attempt_at, r.resolution) <= r.at <= attempt_at + REPLY_EVIDENCE for r in replies):
        return attempt_at
    return "absent" if records_say_absent else "unknown"


async def _resolve_scheduled(ctx: ProbeContext, account: Account, chan: Channel,
                             q: Inquiry) -> tuple[Inquiry, Status]:
    """Settle what is known about a scheduled row without sending anything."""
    if q.state != "scheduled":
        return q, "done"
    attempt_at = _pending_at(q.channel_ref)
    if q.channel_ref is None:
        return q, "free"
    if attempt_at is None:  # accepted for later sending (a manual task): has it gone out?
        status = await chan.sent_status(account, q.tester or tester_of(account), q.channel_ref)
        if status.sent_at is None:
            return q, "deferred"
        return _mark_sent(ctx, q, status.sent_at, status.ref), "sent"
    if chan.deduplicates:
        return q, "free"  # asking again with the same key cannot send a second message
    evidence = await _delivery_evidence(ctx, account, chan, q, attempt_at)
    if isinstance(evidence, datetime):
        log.warning("%s: send of inquiry %d was interrupted but did reach the account", account.id, q.id)
        return _mark_sent(ctx, q, evidence, RECOVERED + attempt_at.isoformat()), "sent"
    if evidence == "absent":
        return ctx.store.update_inquiry(q.id, channel_ref=None), "free"
    if ctx.now() < attempt_at + EVIDENCE_WINDOW:
        return q, "checking"
    q = ctx.store.update_inquiry(
        q.id, state="error",
        error="发送过程中断，无法确认留言是否已送达；为避免重复留言，本周期不再发送（不计入考核）")
    return q, "lost"


async def _send_now(ctx: ProbeContext, account: Account, chan: Channel, q: Inquiry) -> Inquiry:
    attempt_at = ctx.now()
    claimed = _claim(ctx, q, attempt_at)
    if claimed is None:  # another process got there first
        return ctx.store.get_inquiry(q.id)
    try:
        message = await chan.send(account, q.tester or tester_of(account), q.question, key=f"wxmon-inquiry-{q.id}")
    except ChannelError as exc:
        if exc.maybe_delivered:  # keep the marker: the next round finds out before anything is resent
            return ctx.store.update_inquiry(q.id, error=f"发送结果未知（监测端问题）：{exc}")
        return ctx.store.update_inquiry(q.id, channel_ref=None, error=f"发送失败（监测端问题，下轮重试）：{exc}")
    if message.sent_at is None:
        return ctx.store.update_inquiry(q.id, channel_ref=message.ref or f"wxmon-inquiry-{q.id}", error=None)
    return _mark_sent(ctx, q, message.sent_at, message.ref)


async def send_inquiry(ctx: ProbeContext, account: Account, window_key: str | None = None, *,
                       channels: ChannelSet | None = None) -> Inquiry:
    """Send this window's test inquiry to ``account`` unless it has been sent.

    Returns the window's inquiry, or the previous window's inquiry when that one
    is still open (then nothing is sent). Channel failures are recorded on the
    row (``scheduled`` with ``error``), not raised, except while checking an
    interrupted send. Raises :class:`BadInput` for an account without channel.
    """
    own = channels is None
    channels = channels or ChannelSet(ctx.config, ctx.clock, ctx=ctx)
    try:
        chan = channels.get(account)
        if chan is None:
            raise BadInput(f"account {account.id}: no inquiry channel (inquiry.channel is none)")
        ctx.sync_accounts()
        key = window_key or week_key_at(ctx.now())
        for other in ctx.store.open_inquiries(account_id=account.id):
            if other.window_key == key:
                continue
            other, status = await _resolve_scheduled(ctx, account, chan, other)
            if status in ("free", "deferred"):  # its window is over and it never went out
                why = ("检查员未在本周期内登记发送测试留言" if status == "deferred" else
                       "本周期测试留言未能发出" + (f"（{other.error}）" if other.error else ""))
                other = ctx.store.update_inquiry(other.id, state="error", error=why + "（不计入考核）")
            if other.state in OPEN_INQUIRY_STATES:
                return other
        q = ctx.store.find_inquiry(account.id, key)
        if q is None:
            q, _ = ctx.store.create_inquiry(account.id, key, channel=chan.name, question=_question(ctx, account),
                                            tester=tester_of(account), created_at=ctx.now())
        q, status = await _resolve_scheduled(ctx, account, chan, q)
        if status == "free":
            q = await _send_now(ctx, account, chan, q)
        return q
    finally:
        if own:
            await channels.aclose()


# ---------------------------------------------------------------------------
# polling


def _watching(q: Inquiry, now: datetime) -> bool:
    """Still waiting for a person's reply, and not given up on."""
    if q.sent_at is None or q.human_reply_at is not None:
        return False
    return q.state == "sent" or q.deadline_at is None or now <= q.deadline_at + WATCH_AFTER_DEADLINE


class InquiryOutcome(TypedDict):
    state: str
    latency_minutes: float | None


def outcome(q: Inquiry, polled_at: datetime, autoreply_counts: bool) -> InquiryOutcome:
    """The state and latency the inquiry's reply times imply (given a successful poll at ``polled_at``)."""
    assert q.sent_at is not None and q.deadline_at is not None
    latency = None
    if q.human_reply_at is not None:
        latency = round((q.human_reply_at - q.sent_at).total_seconds() / 60, 2)
    in_time = (q.human_reply_at is not None and q.human_reply_at <= q.deadline_at) or (
        autoreply_counts and q.auto_reply_at is not None and q.auto_reply_at <= q.deadline_at)
    if in_time:
        state = "answered"
    elif q.human_reply_at is not None:
        state = "late"
    elif polled_at > q.deadline_at:
        state = "unanswered"
    else:
        state = "sent"
    return {"state": state, "latency_minutes": latency}


class Polled(NamedTuple):
    watched: list[Inquiry]  # the inquiries looked at
    changed: list[Inquiry]  # those whose state changed
    notes: list[str]  # records that could not be placed (Chinese, for the account's row)


class _Canned:
    """Texts the account has used as canned replies: seen as an auto-reply, or answering
    two different questions (a person's answer to one question is not sent for another)."""

    def __init__(self) -> None:
        self.auto: set[str] = set()
        self.questions: dict[str, set[str]] = {}

    def add(self, text: str, kind: str, question: str) -> None:
        norm = _norm(text)
        if kind == "auto":
            self.auto.add(norm)
        else:
            self.questions.setdefault(norm, set()).add(_norm(question))

    def for_question(self, text: str, question: str) -> frozenset[str]:
        norm = _norm(text)
        if norm in self.auto or self.questions.get(norm, set()) - {_norm(question)}:
            return frozenset((norm,))
        return frozenset()


async def _poll_account(ctx: ProbeContext, account: Account, chan: Channel, autotexts: AutoReplyTexts,
                        retry_sends: bool = False) -> Polled:
    """Fetch and attribute the replies of the account's watched inquiries; update their states.
    Raises ChannelError (nothing changed then)."""
    for q in ctx.store.open_inquiries(states=("scheduled",), account_id=account.id):
        q, status = await _resolve_scheduled(ctx, account, chan, q)
        if status == "free" and retry_sends and q.created_at > ctx.now() - RETRY_SENDS_FOR:
            await _send_now(ctx, account, chan, q)
    polled_at = ctx.now()  # before fetching: every reply up to now is in the answer
    watched = [q for q in ctx.store.open_inquiries(states=("sent", "unanswered", "answered"), account_id=account.id)
               if _watching(q, polled_at)]
    hand = chan.sends_recorded_by_hand
    read_for = list(watched)
    if hand:  # records typed in late may belong to inquiries already settled: read theirs too
        ids = {q.id for q in watched}
        read_for += [q for q in ctx.store.inquiries_between(polled_at - HAND_LOOKBACK, polled_at + timedelta(seconds=1),
                                                            account_id=account.id)
                     if q.sent_at is not None and q.id not in ids and q.state in OUTCOME_STATES]
    since: dict[str, datetime] = {}  # per tester: the oldest send read for (by hand: or its task's issue)
    for q in read_for:
        assert q.sent_at is not None
        tester = q.tester or tester_of(account)
        first = min(q.sent_at, q.created_at) if hand else q.sent_at
        since[tester] = min(since.get(tester, first), first)
    fetched: dict[str, list[Reply]] = {}
    for tester, first in since.items():  # fetch everything before writing anything: a failure changes nothing
        fetched[tester] = await chan.replies_since(account, tester, first)

    working_days = deadline_working_days(ctx.config)
    waiting = {q.id for q in watched}
    corrected: dict[int, Inquiry] = {}  # and, by hand, settled inquiries given a new reply
    notes: list[str] = []
    for tester, replies in fetched.items():
        if not replies:
            continue
        # Every inquiry of this conversation that replies since then could belong to (closed ones too).
        span = ctx.store.inquiries_between(since[tester] - WATCH_AFTER_DEADLINE - timedelta(days=30),
                                           polled_at + timedelta(seconds=1), account_id=account.id)
        canned = _Canned()
        known: set[tuple[datetime, str]] = set()
        for q in span:
            for r in ctx.store.inquiry_replies(q.id):
                canned.add(r.text, r.kind, q.question)
                if (q.tester or tester_of(account)) == tester:
                    known.add((r.at, r.text))
        sent = sorted(((q.sent_at, q) for q in span
                       if q.sent_at is not None and (q.tester or tester_of(account)) == tester),
                      key=lambda pair: pair[0])

        async def kind_of(reply: Reply, sent_at: datetime, question: str,
                          canned: _Canned = canned) -> Literal["auto", "human"]:
            kind = classify(reply, sent_at, (), canned.for_question(reply.text, question))
            if kind == "human":  # the account's rule texts are fetched only when they can matter
                kind = classify(reply, sent_at, await autotexts.get(account),
                                canned.for_question(reply.text, question))
            return kind

        for reply in replies:
            reply = replace(reply, text=reply.text[:REPLY_MAX_CHARS])
            if (reply.at, reply.text) in known:
                continue  # seen and attributed in an earlier poll
            prior = [(sent_at, q) for sent_at, q in sent if sent_before(sent_at, reply)]
            if hand:
                late = await _late_send(ctx, account, reply, sent, prior, waiting, kind_of, working_days)
                if late is not None and late.sent_at is not None:
                    corrected[late.id] = late
                    sent = sorted([(s, q) for s, q in sent if q.id != late.id] + [(late.sent_at, late)],
                                  key=lambda pair: pair[0])
                    prior = [(sent_at, q) for sent_at, q in sent if sent_before(sent_at, reply)]
            if not prior:
                when = f"{to_local(reply.at):%Y-%m-%d %H:%M}"
                log.warning("%s: a reply of %s to %s answers no inquiry sent before it; kept out of the "
                            "measurement, check its recorded time", account.id, when, tester)
                notes.append(f"{when}收到的一条回复早于所有已发送的测试留言，无法对应，未计入（请核对登记时间）")
                continue
            latest_at, latest = prior[-1]
            kind = await kind_of(reply, latest_at, latest.question)
            target = latest  # an auto-reply answers the message just sent
            if kind == "human":  # people answer in order: the oldest inquiry still waiting
                target = next((q for _, q in prior if q.id in waiting), latest)
                waiting.discard(target.id)
            _, new = ctx.store.add_inquiry_reply(target.id, reply.at, kind, reply.text)
            if hand and new and target.state in OUTCOME_STATES:
                corrected.setdefault(target.id, target)
            canned.add(reply.text, kind, target.question)
            known.add((reply.at, reply.text))

    counts = ctx.config.selected_policy.autoreply_counts_as_answer
    out, changed = [], []
    looked_at = watched + [q for q in corrected.values()
                           if q.id not in {w.id for w in watched} and q.state in OUTCOME_STATES]
    for q in looked_at:
        q = ctx.store.get_inquiry(q.id)
        if q.deadline_at is None and q.sent_at is not None:  # not written by this probe; derive it alike
            q = ctx.store.update_inquiry(q.id, deadline_at=ctx.calendar.deadline(q.sent_at, working_days))
        fields = outcome(q, polled_at, counts)
        if any(getattr(q, k) != v for k, v in fields.items()):
            before = q.state
            q = ctx.store.update_inquiry(q.id, **fields)
            if q.state != before:
                changed.append(q)
        out.append(q)
    return Polled(out, changed, notes)


_LATE_NOTE = "发送时间登记为"


async def _late_send(ctx: ProbeContext, account: Account, reply: Reply, sent: list[tuple[datetime, Inquiry]],
                     prior: list[tuple[datetime, Inquiry]], waiting: set[int], kind_of: KindOf,
                     working_days: int) -> Inquiry | None:
    """A reply recorded before the recorded send of an inquiry whose task was already issued:
    the send was typed in late. Moves that send to the reply's minute (returns the inquiry),
    unless an earlier inquiry takes the reply (a person answering an older question in order,
    or an auto-reply to a send in the same or the previous minute)."""
    issued = [q for sent_at, q in sent
              if floor_to(q.created_at, MINUTE) <= reply.at < floor_to(sent_at, MINUTE)]
    if not issued:
        return None
    q = issued[0]
    kind = await kind_of(reply, reply.at, q.question)
    if kind == "human" and any(p.id in waiting for _, p in prior):
        return None
    if kind == "auto" and prior and prior[-1][0] >= reply.at - MINUTE:
        return None
    assert q.sent_at is not None
    new = floor_to(reply.at, MINUTE)
    recorded = f"{to_local(q.sent_at):%Y-%m-%d %H:%M}"
    if q.error and q.error.startswith(_LATE_NOTE):  # moved before: keep what the inspector wrote
        recorded = q.error[len(_LATE_NOTE):len(_LATE_NOTE) + len(recorded)]
    note = f"{_LATE_NOTE}{recorded}，晚于{to_local(new):%Y-%m-%d %H:%M}收到的回复，按该回复时间计为发送时间"
    log.warning("%s: inquiry %d: send recorded at %s after a reply at %s; taken as sent at %s",
                account.id, q.id, to_local(q.sent_at).isoformat(), to_local(new).isoformat(),
                to_local(new).isoformat())
    return ctx.store.update_inquiry(q.id, sent_at=new, deadline_at=ctx.calendar.deadline(new, working_days),
                                    error=note)


async def poll_inquiries(ctx: ProbeContext, accounts: Sequence[Account] | None = None, *,
                         channels: ChannelSet | None = None, retry_sends: bool = True) -> list[Inquiry]:
    """Poll the replies of every watched inquiry of ``accounts`` (default: all with a channel).

    Also settles ``scheduled`` rows: an interrupted send is confirmed (never blindly
    repeated) and, with ``retry_sends``, a send that failed for certain is tried
    again while its window can still be open (7 days), so a scheduler that sends
    once per window and then only polls still retries. A channel failure for one
    account is logged and changes nothing for it. Returns the inquiries looked at.
    """
    own = channels is None
    channels = channels or ChannelSet(ctx.config, ctx.clock, ctx=ctx)
    autotexts = AutoReplyTexts(ctx)
    out: list[Inquiry] = []
    try:
        for account in accounts if accounts is not None else ctx.config.accounts:
            chan = channels.get(account)
            if chan is None:
                continue
            try:
                out.extend((await _poll_account(ctx, account, chan, autotexts, retry_sends)).watched)
            except ChannelError as exc:
                log.warning("%s: polling inquiry replies failed: %s", account.id, exc)
        return out
    finally:
        if own:
            await channels.aclose()


# ---------------------------------------------------------------------------
# a round


def _duration(minutes: float) -> str:
    if minutes < 60:
        return f"{minutes:.0f}分钟"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f}小时"
    return f"{minutes / 1440:.1f}天"


def reason(q: Inquiry, working_days: int, autoreply_counts: bool = False) -> str:
    """Why the inquiry is where it is, in Chinese, for people (with the note on its records, if any)."""
    why = _reason(q, working_days, autoreply_counts)
    if q.error and q.state in ("sent", "answered", "late", "unanswered"):
        why += f"（注：{q.error}）"  # e.g. a send time corrected from the inspector's records
    return why


def _reason(q: Inquiry, working_days: int, autoreply_counts: bool) -> str:
    if q.state == "answered":
        if q.latency_minutes is not None and q.human_reply_at is not None and q.deadline_at is not None \
                and q.human_reply_at <= q.deadline_at:
            return f"{working_days}个工作日内已答复（用时{_duration(q.latency_minutes)}）"
        return "已自动回复（所选考核办法认可自动回复）"
    if q.state == "late":
        used = f"（用时{_duration(q.latency_minutes)}）" if q.latency_minutes is not None else ""
        return f"超过{working_days}个工作日才答复{used}"
    if q.state == "unanswered":
        return f"超过{working_days}个工作日未答复" + ("（仅收到自动回复）" if q.auto_reply_at else "")
    if q.state == "sent":
        due = f"{to_local(q.deadline_at):%Y-%m-%d %H:%M}" if q.deadline_at else "?"
        return f"已发送，等待答复（截止{due}）"
    if q.state == "scheduled":
        if q.error:
            return q.error
        if _pending_at(q.channel_ref) is not None:
            return "发送结果待确认"
        if q.channel_ref:
            return "已下发人工测试任务，等待检查员发送并登记"
        return "待发送"
    return q.error or "监测端错误（不计入考核）"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_local(value).isoformat()


# ``wxmon probe inquiry --json``: one object per account. ``state`` is the row's status: the inquiry's
# state, or ``error`` (the monitor's trouble this round; the inquiry's own is ``inquiry_state``) or ``skipped``.
ROW = RowShape(("account", "inquiry_id", "window", "state", "sent_at", "deadline_at", "human_reply_at",
                "latency_minutes", "reason", "changed", "inquiry_state", "auto_reply_at"), status_key="state")


def _row(account: Account, q: Inquiry | None, working_days: int, counts: bool, errors: Sequence[str] = (),
         changed: Sequence[Inquiry] = (), *, status: RowStatus = "error", why: str = "",
         notes: Sequence[str] = ()) -> ProbeRow:
    """The account's row: its inquiry ``q`` (without one: ``status`` and ``why``), with the monitor's
    own ``errors`` of this round (then the row is ``error``), the earlier inquiries ``changed`` and
    ``notes`` on records that could not be placed (added to the reason; the status is unchanged)."""
    fields: dict[str, Json] = {"inquiry_id": None, "window": None, "sent_at": None, "deadline_at": None,
                               "human_reply_at": None, "latency_minutes": None}
    # Earlier inquiries that this round's poll settled (the row itself shows the current one).
    fields["changed"] = [{"inquiry_id": c.id, "window": c.window_key, "state": c.state,
                          "latency_minutes": c.latency_minutes, "reason": reason(c, working_days, counts)}
                         for c in changed if q is None or c.id != q.id]
    if q is not None:
        fields.update(inquiry_id=q.id, window=q.window_key, inquiry_state=q.state, sent_at=_iso(q.sent_at),
                      deadline_at=_iso(q.deadline_at), human_reply_at=_iso(q.human_reply_at),
                      auto_reply_at=_iso(q.auto_reply_at), latency_minutes=q.latency_minutes)
        status, why = row_status(q.state), reason(q, working_days, counts)
        if q.state == "scheduled" and q.error:
            errors = [*errors, q.error]
    if errors:
        # The monitor's own trouble this round: reported as an error row, never against the account.
        status = "error"
        why = "；".join(dict.fromkeys([*errors, *([why] if why else [])]))
    if notes:
        why = "；".join(dict.fromkeys([*([why] if why else []), *notes]))
    return ProbeRow(ROW, account.id, status, why, fields)


async def _round_account(ctx: ProbeContext, account: Account, channels: ChannelSet,
                         autotexts: AutoReplyTexts) -> ProbeRow:
    working_days = deadline_working_days(ctx.config)
    counts = ctx.config.selected_policy.autoreply_counts_as_answer
    try:
        chan = channels.get(account)
        if chan is None:
            return _row(account, None, working_days, counts, status="skipped",
                        why="未配置测试留言渠道（inquiry.channel: none）")
        errors: list[str] = []
        changed: list[Inquiry] = []
        notes: list[str] = []
        q: Inquiry | None = None
        # Poll first: an inquiry that closes now no longer blocks this window's one, sent right after.
        # (Polling right after sending would find nothing: replies take at least a second.)
        try:
            polled = await _poll_account(ctx, account, chan, autotexts)
            changed, notes = polled.changed, polled.notes
        except ChannelError as exc:
            errors.append(f"查询回复失败（监测端问题，不计入考核）：{exc}")
        try:
            q = await send_inquiry(ctx, account, channels=channels)
        except ChannelError as exc:
            errors.append(f"确认发送结果失败（监测端问题，不计入考核）：{exc}")
        if q is None:
            q = ctx.store.find_inquiry(account.id, week_key_at(ctx.now()))
        else:
            q = ctx.store.get_inquiry(q.id)
        return _row(account, q, working_days, counts, errors, changed, notes=notes)
    except Exception as exc:  # one account's trouble never ends the round
        log.exception("%s: inquiry round failed", account.id)
        return _row(account, None, working_days, counts, status="error",
                    why=f"监测端异常（不计入考核）：{type(exc).__name__}: {exc}")


async def run_round(ctx: ProbeContext, accounts: Sequence[Account], run_id: int | None = None) -> list[ProbeRow]:
    """Poll the replies of the accounts' inquiries, then send this window's inquiry where due.

    One row per account (printed as :data:`ROW`): ``account, inquiry_id, window, state, sent_at,
    deadline_at, human_reply_at, latency_minutes, reason`` of the account's current inquiry (plus
    ``inquiry_state``, ``auto_reply_at``, and ``changed``: earlier inquiries this round settled).
    ``state``, the row's status, is the inquiry's, except ``error`` when the monitor had trouble with
    the account this round (the inquiry itself is then unchanged: ``inquiry_state``) and ``skipped``
    without a channel.
    """
    ctx.sync_accounts()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with ChannelSet(ctx.config, ctx.clock, ctx=ctx) as channels:
        autotexts = AutoReplyTexts(ctx)

        async def one(account: Account) -> ProbeRow:
            async with gate:
                row = await _round_account(ctx, account, channels, autotexts)
            ctx.account_done()
            return row

        return list(await asyncio.gather(*(one(a) for a in accounts)))
