"""The inquiry probe against the emulator's ground truth, over real HTTP, on its virtual clock."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, VirtualClock, as_utc
from monitor.config import Account, Config, load_config
from monitor.context import ProbeContext
from monitor.period import week_key_at as window_key
from monitor.store import Inquiry, Store
from monitor.workdays import WorkCalendar
from probes.channels import Channel, ChannelError, channel_for
from probes.inquiry import PENDING, ChannelSet, poll_inquiries, run_round, send_inquiry

T = TypeVar("T")

NORMAL, FAST, LATE, NEVER, AUTO_ONLY, NEVER_KW = (
    "jd-binhe", "jb-fabu", "jd-chengdong", "jd-wanghai", "zh-lishui", "bm-wjw")
QUESTIONS = ["请问居住证续签需要带什么材料？", "社区老年助餐点在哪里，怎么申请？",
             "小区门口的路灯坏了好几天，能安排维修吗？"]


def at(text: str) -> datetime:
    """A Shanghai wall time, as aware UTC."""
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI))


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Bed:
    """The emulator, a config on it and a store, with helpers to run the probe."""

    def __init__(self, server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 ids: list[str], policy: str = "demo-default", policies: dict[str, Any] | None = None,
                 api: bool = True) -> None:
        self.server = server
        self.clock: VirtualClock = server.clock  # type: ignore[assignment]
        for name, value in demo_secret_env(server.scenario).items():
            monkeypatch.setenv(name, value)
        by_id = {a.id: a for a in server.scenario.accounts}
        accounts = []
        for i in ids:
            a = by_id[i]
            accounts.append({
                "id": a.id, "name": a.name, "unit": a.unit, "category": a.category, "appid": a.appid,
                "secret_env": a.secret_env, "api": api,
                "inquiry": {"channel": "emulator", "tester": f"tester-{a.id}", "questions": QUESTIONS},
            })
        data = {"store": f"sqlite:///{tmp_path / 'wxmon.db'}", "wechat": {"api_base": server.base_url, "timeout_s": 5},
                "policy": policy, "policies": policies or {}, "accounts": accounts}
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        self.config: Config = load_config(path)
        self.store = Store.open(self.config.store_url)

    def account(self, account_id: str) -> Account:
        return self.config.account(account_id)

    def run(self, fn: Callable[[ProbeContext], Awaitable[T]]) -> T:
        """Run ``fn`` with a fresh ProbeContext (a fresh one each time: like a restart)."""
        async def go() -> T:
            ctx = ProbeContext.open(self.config, self.store, clock=self.clock)
            try:
                return await fn(ctx)
            finally:
                await ctx.aclose()
        return asyncio.run(go())

    def round(self, when: datetime | None = None) -> list[dict[str, Any]]:
        """One round's rows as ``wxmon probe inquiry --json`` prints them."""
        if when is not None:
            self.clock.set(when)
        return [row.to_json() for row in self.run(lambda ctx: run_round(ctx, self.config.accounts, 1))]

    def inquiries(self, account_id: str) -> list[Inquiry]:
        return self.store.inquiries_between(at("2023-01-01T00:00"), at("2024-01-01T00:00"), account_id=account_id)

    def truth(self, account_id: str) -> list[dict[str, Any]]:
        return self.server.world.truth(at("2023-06-01T00:00"), self.clock.now())["accounts"][account_id]["inquiries"]


def iso(value: str | None) -> datetime | None:
    return None if value is None else as_utc(datetime.fromisoformat(value))


def minutes(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds() / 60


@pytest.fixture
def bed_factory(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    beds: list[Bed] = []

    def make(ids: list[str], **kw: Any) -> Bed:
        bed = Bed(emulator, tmp_path, monkeypatch, ids, **kw)
        beds.append(bed)
        return bed

    yield make
    for bed in beds:
        bed.store.close()


# ---------------------------------------------------------------------------


def test_window_key_is_the_iso_week_in_shanghai() -> None:
    assert window_key(at("2023-07-03T09:00")) == "2023-W27"
    assert window_key(at("2023-07-02T23:59")) == "2023-W26"  # Sunday
    # Monday 00:30 in Shanghai is still Sunday in UTC: the window follows Shanghai.
    assert window_key(at("2023-07-10T00:30")) == "2023-W28"
    assert window_key(at("2024-01-01T08:00")) == "2024-W01"


def test_five_weeks_of_inquiries_match_the_ground_truth(bed_factory) -> None:
    bed = bed_factory([NORMAL, FAST, LATE, NEVER, AUTO_ONLY, NEVER_KW])
    start, end = at("2023-07-03T09:00"), at("2023-08-09T09:00")

    async def rounds(ctx: ProbeContext) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        t = start
        while t <= end:  # a round a day, at 09:00 (Mondays: the week's inquiry goes out)
            bed.clock.set(t)
            out += [row.to_json() for row in await run_round(ctx, bed.config.accounts, 1)]
            t += timedelta(hours=24)
        return out

    rows = bed.run(rounds)  # one context, like the daemon
    assert all(r["state"] != "error" for r in rows), [r for r in rows if r["state"] == "error"][:3]
    calendar = WorkCalendar()
    modes = {NORMAL: "answered", FAST: "answered", LATE: "late", NEVER: "unanswered",
             AUTO_ONLY: "unanswered", NEVER_KW: "unanswered"}
    for account_id, expected in modes.items():
        ours = [q for q in bed.inquiries(account_id) if q.sent_at is not None]
        truth = bed.truth(account_id)
        # One message per weekly window, none twice: what the emulator received is what we sent.
        assert len(truth) == len(ours) == 6, account_id
        assert len({q.window_key for q in ours}) == len(ours)
        assert len({q.question for q in ours[:3]}) == 3  # the pool rotates
        for q, t_ in zip(ours, truth):
            assert q.sent_at == iso(t_["sent_at"])
            assert q.deadline_at == calendar.deadline(q.sent_at, 3)
            if q.deadline_at > end:
                continue  # the last one may still be open
            assert q.state == expected, (account_id, q)
            human = iso(t_["human_reply_at"])
            if human is None:
                assert q.human_reply_at is None and q.latency_minutes is None
            else:
                assert q.latency_minutes == pytest.approx(minutes(iso(t_["sent_at"]), human), abs=1)
                assert q.human_reply_at == human
                assert (human <= q.deadline_at) == (q.state == "answered")
            auto = iso(t_["auto_reply_at"])
            if auto is not None and bed.server.world.accounts[account_id].cfg.follower_clock == "minute":
                auto = auto.replace(second=0, microsecond=0)  # a phone's clock: the minute it showed
            assert q.auto_reply_at == auto
    # autoreply_only: only an automatic reply came, and it is not an answer under demo-default.
    lishui = [q for q in bed.inquiries(AUTO_ONLY) if q.state == "unanswered"]
    assert lishui and all(q.auto_reply_at is not None for q in lishui)
    replies = bed.store.inquiry_replies(lishui[0].id)
    assert [r.kind for r in replies] == ["auto"]
    final = {r["account"]: r for r in rows[-6:]}
    assert final[NEVER]["reason"].startswith("超过3个工作日未答复") or final[NEVER]["state"] == "sent"


def test_autoreply_counts_when_the_policy_says_so(bed_factory) -> None:
    bed = bed_factory([AUTO_ONLY, NEVER], policy="lenient",
                      policies={"lenient": {"base": "demo-default", "autoreply_counts_as_answer": True}})
    bed.round(at("2023-07-03T09:00"))
    rows = {r["account"]: r for r in bed.round(at("2023-07-03T10:00"))}
    q = bed.inquiries(AUTO_ONLY)[0]
    assert q.state == "answered" and q.human_reply_at is None and q.auto_reply_at is not None
    assert rows[AUTO_ONLY]["state"] == "answered"
    # jd-wanghai has no auto-reply at all: still nothing, and after the deadline unanswered.
    bed.round(at("2023-07-07T09:00"))
    assert bed.inquiries(NEVER)[0].state == "unanswered"


def test_national_day_deadline_uses_holidays_and_make_up_days(bed_factory) -> None:
    bed = bed_factory([NORMAL])
    acct = bed.account(NORMAL)
    bed.clock.set(at("2023-09-28T20:00"))
    q = bed.run(lambda ctx: send_inquiry(ctx, acct))
    # 9-29..10-06 are holidays, 10-07 and 10-08 make-up working days: 3 working days end on 10-09.
    assert q.deadline_at == at("2023-10-10T00:00")
    bed.round(at("2023-10-06T18:00"))  # long after three calendar days: not unanswered
    assert bed.store.get_inquiry(q.id).state == "sent"
    bed.round(at("2023-10-09T18:00"))
    q = bed.store.get_inquiry(q.id)
    truth = bed.truth(NORMAL)
    assert iso(truth[0]["sent_at"]) == q.sent_at
    human = iso(truth[0]["human_reply_at"])
    assert human is not None and to_day(human) == "2023-10-07"  # answered on the make-up Saturday
    assert q.state == "answered"
    assert q.latency_minutes == pytest.approx(minutes(q.sent_at, human), abs=1)


def to_day(value: datetime) -> str:
    return value.astimezone(SHANGHAI).date().isoformat()


def test_no_duplicate_send_in_a_window_or_after_a_restart(bed_factory) -> None:
    bed = bed_factory([NORMAL])
    acct = bed.account(NORMAL)
    bed.clock.set(at("2023-07-04T10:00"))
    first = bed.run(lambda ctx: send_inquiry(ctx, acct))
    bed.clock.advance(timedelta(minutes=5))
    again = bed.run(lambda ctx: send_inquiry(ctx, acct))  # a new context: a restart
    assert again.id == first.id and again.sent_at == first.sent_at
    # Another store object on the same file: a restarted process.
    restarted = Store.open(bed.config.store_url)
    try:
        bed.store, old = restarted, bed.store
        assert bed.run(lambda ctx: send_inquiry(ctx, acct, window_key="2023-W27")).id == first.id
    finally:
        bed.store = old
        restarted.close()
    # Next window while this one is still open: it is returned, nothing is sent.
    bed.clock.set(at("2023-07-10T09:00"))
    nxt = bed.run(lambda ctx: send_inquiry(ctx, acct))
    assert nxt.id == first.id
    assert len(bed.truth(NORMAL)) == 1
    assert len(bed.inquiries(NORMAL)) == 1


class Crash(BaseException):
    """The process dies (not an Exception: nothing in the probe may catch it)."""


class AfterSend(Channel):
    """Delivers through the real emulator channel, then fails the way ``fail`` says."""

    name = "emulator"

    def __init__(self, inner: Channel, fail: BaseException, deliver: bool = True) -> None:
        self.inner, self.fail, self.deliver = inner, fail, deliver
        self.sends = 0

    async def send(self, account, tester, text, *, key=None):
        self.sends += 1
        if self.deliver:
            await self.inner.send(account, tester, text, key=key)
        raise self.fail

    async def replies_since(self, account, tester, since):
        return await self.inner.replies_since(account, tester, since)

    async def aclose(self) -> None:
        await self.inner.aclose()


def faulty(bed: Bed, fail: BaseException, deliver: bool = True) -> ChannelSet:
    return ChannelSet(bed.config, bed.clock,
                      factory=lambda cfg, acct, clock=None: AfterSend(channel_for(cfg, acct), fail, deliver))


# Evidence of delivery: the auto-reply (no API access) / the account's msgrecord (no auto-reply).
@pytest.mark.parametrize("account_id,api", [(NORMAL, False), (NEVER, True)])
def test_crash_between_send_and_record_does_not_send_twice(bed_factory, account_id: str, api: bool) -> None:
    bed = bed_factory([account_id], api=api)
    acct = bed.account(account_id)
    bed.clock.set(at("2023-07-04T10:00"))
    with pytest.raises(Crash):
        bed.run(lambda ctx: send_inquiry(ctx, acct, channels=faulty(bed, Crash())))
    row = bed.inquiries(account_id)[0]
    assert row.state == "scheduled" and row.channel_ref.startswith(PENDING)
    bed.clock.advance(timedelta(seconds=30))
    rows = bed.round()  # the restarted monitor
    q = bed.store.get_inquiry(row.id)
    truth = bed.truth(account_id)
    assert len(truth) == 1  # the emulator got exactly one message
    assert q.state == "sent" and rows[0]["state"] == "sent"
    assert abs(minutes(q.sent_at, iso(truth[0]["sent_at"]))) < 1
    bed.round(at("2023-07-11T09:00"))
    assert len(bed.truth(account_id)) == 2  # the next window sends as usual


def test_lost_answer_then_recovery_without_duplicate(bed_factory) -> None:
    bed = bed_factory([NORMAL])
    acct = bed.account(NORMAL)
    bed.clock.set(at("2023-07-04T10:00"))
    lost = ChannelError("emulator send: no answer (ReadTimeout)", maybe_delivered=True)
    q = bed.run(lambda ctx: send_inquiry(ctx, acct, channels=faulty(bed, lost)))
    assert q.state == "scheduled" and q.error and q.channel_ref.startswith(PENDING)
    bed.clock.advance(timedelta(minutes=1))
    q = bed.run(lambda ctx: send_inquiry(ctx, acct))
    assert q.state == "sent"
    assert len(bed.truth(NORMAL)) == 1


def test_unknowable_send_becomes_error_never_a_second_message(bed_factory, monkeypatch) -> None:
    # No API (no msgrecord), no auto-reply, and the message in fact never left: nothing can tell.
    bed = bed_factory([NEVER], api=False)
    monkeypatch.delenv(bed.account(NEVER).secret_env or "X", raising=False)
    acct = bed.account(NEVER)
    bed.clock.set(at("2023-07-04T10:00"))
    lost = ChannelError("emulator send: no answer (ReadTimeout)", maybe_delivered=True)
    bed.run(lambda ctx: send_inquiry(ctx, acct, channels=faulty(bed, lost, deliver=False)))
    bed.clock.advance(timedelta(minutes=3))
    q = bed.run(lambda ctx: send_inquiry(ctx, acct))
    assert q.state == "scheduled"  # still looking for evidence
    bed.clock.advance(timedelta(minutes=10))
    rows = bed.round()
    q = bed.inquiries(NEVER)[0]
    assert q.state == "error" and "无法确认" in (q.error or "")
    assert rows[0]["state"] == "error"
    assert bed.truth(NEVER) == []
    bed.round(at("2023-07-10T09:00"))  # the next window is a fresh start
    assert [i.state for i in bed.inquiries(NEVER)] == ["error", "sent"]
    assert len(bed.truth(NEVER)) == 1


def test_send_refused_stays_scheduled_and_is_retried_once(bed_factory) -> None:
    bed = bed_factory([NORMAL])
    good = bed.config.channels.emulator.base_url
    bed.config.channels.emulator.base_url = closed_port_url()
    rows = bed.round(at("2023-07-03T09:00"))
    q = bed.inquiries(NORMAL)[0]
    assert q.state == "scheduled" and q.channel_ref is None and "cannot connect" in (q.error or "")
    assert rows[0]["state"] == "error" and "监测端" in rows[0]["reason"]
    bed.config.channels.emulator.base_url = good
    bed.round(at("2023-07-03T10:00"))
    bed.round(at("2023-07-03T11:00"))
    assert [i.state for i in bed.inquiries(NORMAL)] == ["sent"]
    assert len(bed.truth(NORMAL)) == 1


def test_outage_across_the_deadline_blames_nobody_and_later_poll_is_right(bed_factory) -> None:
    bed = bed_factory([NORMAL, LATE, NEVER])
    bed.round(at("2023-07-03T09:00"))
    good = bed.config.channels.emulator.base_url
    bed.config.channels.emulator.base_url = closed_port_url()
    t = at("2023-07-03T18:00")
    while t <= at("2023-07-12T18:00"):  # the deadline (07-07 00:00) passes while the monitor is blind
        rows = bed.round(t)
        assert all(r["state"] == "error" and r["inquiry_state"] == "sent" for r in rows), rows
        t += timedelta(hours=24)
    assert {q.state for a in (NORMAL, LATE, NEVER) for q in bed.inquiries(a)} == {"sent"}
    # poll_inquiries alone, still blind: nothing changes either.
    bed.run(lambda ctx: poll_inquiries(ctx))
    assert {q.state for a in (NORMAL, LATE, NEVER) for q in bed.inquiries(a)} == {"sent"}

    bed.config.channels.emulator.base_url = good
    rows = {r["account"]: r for r in bed.round(at("2023-07-12T19:00"))}
    expected = {NORMAL: "answered", LATE: "late", NEVER: "unanswered"}
    for account_id, state in expected.items():
        q = bed.inquiries(account_id)[0]
        truth = bed.truth(account_id)[0]
        assert q.state == state, account_id
        human = iso(truth["human_reply_at"])
        if human is not None:
            assert q.latency_minutes == pytest.approx(minutes(iso(truth["sent_at"]), human), abs=1)
    # The rows show the current window's inquiry, and what this round settled.
    assert rows[NEVER]["changed"][0]["reason"] == "超过3个工作日未答复"
    assert rows[LATE]["changed"][0]["reason"].startswith("超过3个工作日才答复")
    assert rows[NORMAL]["changed"][0]["state"] == "answered"
    assert all(rows[a]["state"] == "sent" and rows[a]["window"] == "2023-W28" for a in expected)
    # The closed inquiries no longer block: the current window's inquiry went out in the same round.
    assert all(len(bed.truth(a)) == 2 for a in expected)


def test_late_reply_to_an_unanswered_inquiry_turns_it_late(bed_factory) -> None:
    # jd-chengdong answers after ~5 working days: unanswered first, then late with its real latency,
    # while the next week's inquiry is already out (the reply goes to the older one).
    bed = bed_factory([LATE])
    bed.round(at("2023-07-03T09:00"))
    bed.round(at("2023-07-07T09:00"))
    first = bed.inquiries(LATE)[0]
    assert first.state == "unanswered"
    bed.round(at("2023-07-10T09:00"))  # the new window's inquiry goes out
    assert len(bed.truth(LATE)) == 2
    bed.round(at("2023-07-12T18:00"))
    first, second = bed.inquiries(LATE)
    truth = bed.truth(LATE)
    assert first.state == "late"
    assert first.human_reply_at == iso(truth[0]["human_reply_at"])
    assert second.state == "sent" and second.human_reply_at is None


def test_channel_none_and_errors_are_rows_not_exceptions(bed_factory) -> None:
    bed = bed_factory([NORMAL, NEVER])
    bed.config.accounts[1].inquiry.channel = "none"
    rows = bed.round(at("2023-07-03T09:00"))
    assert [r["state"] for r in rows] == ["sent", "skipped"]
    assert all(set(r) >= {"account", "inquiry_id", "window", "state", "sent_at", "deadline_at",
                          "human_reply_at", "latency_minutes", "reason"} for r in rows)
    assert rows[0]["window"] == "2023-W27"


def test_classification_by_time_marker_and_the_accounts_configured_texts(bed_factory) -> None:
    from probes.channels import Reply
    from probes.inquiry import AutoReplyTexts, classify

    bed = bed_factory([NORMAL])
    texts = bed.run(lambda ctx: AutoReplyTexts(ctx).get(bed.account(NORMAL)))
    welcome = "欢迎关注！本账号为模拟账号，内容均为演示数据。"  # the add-friend reply: no 自动回复 marker
    assert welcome in texts and "您好，您的留言已收到，我们将在工作时间尽快回复。（自动回复）" in texts
    sent = at("2023-07-03T09:00")
    later = sent + timedelta(hours=2)
    assert classify(Reply(sent + timedelta(seconds=19), "您好，已收到"), sent, texts) == "auto"
    assert classify(Reply(sent + timedelta(seconds=45), "您好，已收到"), sent, texts) == "human"
    assert classify(Reply(later, "您好，这里是自动回复：请稍候"), sent, texts) == "auto"
    assert classify(Reply(later, welcome), sent, texts) == "auto"
    assert classify(Reply(later, " 欢迎关注！本账号为模拟账号，\n内容均为演示数据。"), sent, texts) == "auto"
    assert classify(Reply(later, "您好，需携带身份证原件。"), sent, texts) == "human"
    # The API failing only loses the texts; timing and the marker still work.
    bed.config.wechat.api_base = closed_port_url()
    assert bed.run(lambda ctx: AutoReplyTexts(ctx).get(bed.account(NORMAL))) == frozenset()


def test_polling_retries_a_refused_send_in_its_window(bed_factory) -> None:
    # The daemon sends once per window, then only polls: the poll must retry a send that surely failed.
    bed = bed_factory([NORMAL])
    acct = bed.account(NORMAL)
    good = bed.config.channels.emulator.base_url
    bed.config.channels.emulator.base_url = closed_port_url()
    bed.clock.set(at("2023-07-03T09:00"))
    q = bed.run(lambda ctx: send_inquiry(ctx, acct))
    assert q.state == "scheduled" and q.error
    bed.clock.set(at("2023-07-03T09:10"))
    bed.run(lambda ctx: poll_inquiries(ctx))  # still refused
    bed.config.channels.emulator.base_url = good
    bed.clock.set(at("2023-07-03T09:20"))
    bed.run(lambda ctx: poll_inquiries(ctx))
    bed.clock.set(at("2023-07-03T09:30"))
    bed.run(lambda ctx: poll_inquiries(ctx))
    q = bed.store.get_inquiry(q.id)
    assert q.state == "sent" and q.sent_at == at("2023-07-03T09:20") and q.error is None
    assert len(bed.truth(NORMAL)) == 1
    assert bed.run(lambda ctx: poll_inquiries(ctx, retry_sends=False))[0].auto_reply_at is not None


def test_records_prove_an_interrupted_send_never_arrived_then_it_is_sent_once(bed_factory) -> None:
    bed = bed_factory([NEVER])  # API access: msgrecord can tell
    acct = bed.account(NEVER)
    bed.clock.set(at("2023-07-04T10:00"))
    lost = ChannelError("emulator send: no answer (ReadTimeout)", maybe_delivered=True)
    bed.run(lambda ctx: send_inquiry(ctx, acct, channels=faulty(bed, lost, deliver=False)))
    bed.clock.advance(timedelta(minutes=2))
    assert bed.run(lambda ctx: send_inquiry(ctx, acct)).state == "scheduled"  # records may lag: wait
    assert bed.truth(NEVER) == []
    bed.clock.advance(timedelta(minutes=10))
    q = bed.run(lambda ctx: send_inquiry(ctx, acct))
    assert q.state == "sent" and q.sent_at == at("2023-07-04T10:12")
    assert len(bed.truth(NEVER)) == 1
