"""Times as people record them: the manual channel and the emulator's phone at minute resolution.

The emulator runs as a real HTTP server (it answers the account's auto-reply rules through the
API, and plays a phone-like follower); the manual records are a real file written through the
inspector's command line; the store is a real SQLite file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI, VirtualClock, as_utc
from monitor.config import Config, load_config
from monitor.context import ProbeContext
from monitor.store import Inquiry, Store
from probes.channels.base import MINUTE, SECOND, Reply, floor_to
from probes.inquiry import AUTO_REPLY_WITHIN, classify, longest_delay, run_round, sent_before
from wxmon.cli import main as wxmon_main

RULE_TEXT = "感谢您的留言，工作人员会在工作日尽快处理。"  # the account's default auto-reply: no 自动回复 marker
QUESTION = "请问老年人助餐补贴怎么申请？"


def at(text: str) -> datetime:
    return as_utc(datetime.fromisoformat(text).replace(tzinfo=SHANGHAI))


def scenario(follower_clock: str = "second") -> dict[str, Any]:
    return {
        "seed": 11,
        "clock": {"start": "2023-07-03T08:00:00+08:00"},
        "accounts": [{
            "id": "jd-shouji", "name": "手机街道（模拟）", "unit": "手机街道办事处（模拟）", "category": "乡镇街道",
            "appid": "wx5e1f0c0ffee00001", "secret_env": "WXMON_TEST_PHONE_SECRET",
            "follower_clock": follower_clock,
            # A round-the-clock desk answering within ~15 s: the person's reply lands in the send's minute.
            "operator": {"median_minutes": 0.2, "p90_minutes": 0.25, "max_minutes": 0.3, "hours": "always"},
            "autoreply": {"default": RULE_TEXT},
        }],
    }


class Bed:
    def __init__(self, server: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, channel: str) -> None:
        self.server = server
        self.clock: VirtualClock = server.clock  # type: ignore[assignment]
        for name, value in demo_secret_env(server.scenario).items():
            monkeypatch.setenv(name, value)
        [a] = server.scenario.accounts
        data = {"store": f"sqlite:///{tmp_path / 'wxmon.db'}",
                "wechat": {"api_base": server.base_url, "timeout_s": 5},
                "channels": {"emulator": {"base_url": server.base_url}},
                "policy": "demo-default",
                "accounts": [{"id": a.id, "name": a.name, "unit": a.unit, "category": a.category, "appid": a.appid,
                              "secret_env": a.secret_env, "api": True,
                              "inquiry": {"channel": channel, "tester": "检查员手机A", "questions": [QUESTION]}}]}
        path = tmp_path / "accounts.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        self.config: Config = load_config(path)
        self.store = Store.open(self.config.store_url)
        self.config_path = path
        self.account_id = a.id

    def round(self, when: datetime) -> dict[str, Any]:
        self.clock.set(when)

        async def go() -> list[dict[str, Any]]:
            ctx = ProbeContext.open(self.config, self.store, clock=self.clock)
            try:
                return [r.to_json() for r in await run_round(ctx, self.config.accounts, 1)]
            finally:
                await ctx.aclose()

        [row] = asyncio.run(go())
        return row

    def inquiry(self) -> Inquiry:
        [q] = self.store.inquiries_between(at("2023-01-01T00:00"), at("2024-01-01T00:00"),
                                           account_id=self.account_id)
        return q

    def replies(self) -> list[tuple[str, str]]:
        return [(r.kind, r.text) for r in self.store.inquiry_replies(self.inquiry().id)]

    def inspector(self, command: str, account_id: str, *argv: str) -> int:
        """``wxmon inquiry sent|reply`` for the account's task: to send, its oldest unsent one; for a
        reply, the latest issued by the reply's minute (an unknown number when there is none)."""
        tasks = [r.task for r in self.store.tasks(account_id=account_id)]
        if command == "sent":
            chosen = [t for t in tasks if t.sent_at is None][:1]
        else:
            when = floor_to(at(argv[argv.index("--at") + 1][:16]), MINUTE)
            chosen = [t for t in tasks if floor_to(t.issued_at, MINUTE) <= when][-1:]
        task_id = str(chosen[0].id) if chosen else "999"
        return wxmon_main(["inquiry", command, task_id, *argv, "--config", str(self.config_path)])


@pytest.fixture
def bed(make_emulator: Callable[..., EmulatorServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Any:
    channel, follower_clock = getattr(request, "param", ("manual", "second"))
    server = make_emulator(scenario(follower_clock))
    b = Bed(server, tmp_path, monkeypatch, channel)
    yield b
    b.store.close()


# ---------------------------------------------------------------------------
# the manual channel, through the inspector's command line


def test_a_send_typed_in_late_keeps_the_reply_that_came_before_it(bed: Bed, caplog, capsys) -> None:
    assert bed.round(at("2023-07-03T09:00"))["state"] == "scheduled"  # the task is issued
    # The phone showed 10:12 for the answer; the inspector typed the send in afterwards as 10:15.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:12",
                         "--text", "您好，助餐补贴可到社区事务受理服务中心申请，需带身份证。") == 0
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    assert "已登记2023-07-03 10:12收到的回复，早于本次登记的发送时间" in capsys.readouterr().out
    with caplog.at_level(logging.WARNING, logger="probes.inquiry"):
        row = bed.round(at("2023-07-03T12:00"))
    q = bed.inquiry()
    assert row["state"] == "answered" and q.human_reply_at == at("2023-07-03T10:12")
    assert q.sent_at == at("2023-07-03T10:12") and q.latency_minutes == 0
    assert q.deadline_at == at("2023-07-07T00:00")  # moved with the send: 3 working days after its day
    assert "发送时间登记为2023-07-03 10:15" in row["reason"] and "按该回复时间计为发送时间" in row["reason"]
    assert "send recorded at" in caplog.text
    # Nothing changes on the next round: the correction is made once and kept.
    assert bed.round(at("2023-07-03T15:00"))["reason"] == row["reason"] and bed.inquiry().sent_at == q.sent_at


def test_a_reply_recorded_late_before_a_send_already_taken_moves_that_send(bed: Bed) -> None:
    bed.round(at("2023-07-03T09:00"))
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    assert bed.round(at("2023-07-03T11:00"))["state"] == "sent"
    assert bed.inquiry().sent_at == at("2023-07-03T10:15")
    # The phone's clock and the inspector's watch differ by minutes: the auto-reply shows 10:13.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:13", "--text", RULE_TEXT) == 0
    row = bed.round(at("2023-07-03T12:00"))
    q = bed.inquiry()
    assert row["state"] == "sent" and q.sent_at == at("2023-07-03T10:13") and q.auto_reply_at == q.sent_at
    assert bed.replies() == [("auto", RULE_TEXT)]
    # A person's reply written down later shows 10:12: the send moves once more, and the note
    # keeps what the inspector recorded.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:12", "--text", "您好，已转社区办理。") == 0
    row = bed.round(at("2023-07-03T12:30"))
    q = bed.inquiry()
    assert row["state"] == "answered" and q.sent_at == at("2023-07-03T10:12") and q.latency_minutes == 0
    assert "发送时间登记为2023-07-03 10:15，晚于2023-07-03 10:12收到的回复" in row["reason"]
    # Settled, but a record typed in afterwards still counts: the welcome auto-reply showed 10:11.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:11", "--text", "（自动回复）欢迎关注") == 0
    row = bed.round(at("2023-07-04T09:00"))
    q = bed.inquiry()
    assert q.sent_at == at("2023-07-03T10:11") and q.latency_minutes == 1 and row["state"] == "answered"
    assert "晚于2023-07-03 10:11收到的回复" in row["reason"]


def test_an_auto_reply_in_the_next_minute_is_auto_by_the_accounts_rule(bed: Bed) -> None:
    bed.round(at("2023-07-03T09:00"))
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    # No 自动回复 marker: only the account's rule (read through the API) tells it is automatic.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:16", "--text", RULE_TEXT) == 0
    row = bed.round(at("2023-07-03T12:00"))
    q = bed.inquiry()
    assert row["state"] == "sent" and q.auto_reply_at == at("2023-07-03T10:16") and q.human_reply_at is None
    assert bed.replies() == [("auto", RULE_TEXT)]
    # By the deadline nobody wrote: unanswered, with only the automatic reply.
    assert bed.round(at("2023-07-07T09:00"))["reason"] == "超过3个工作日未答复（仅收到自动回复）"


def test_a_persons_reply_in_the_send_minute_is_human_and_on_time(bed: Bed) -> None:
    bed.round(at("2023-07-03T09:00"))
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:15:40",
                         "--text", "您好，请携带身份证到社区服务中心申请。") == 0
    row = bed.round(at("2023-07-03T12:00"))
    q = bed.inquiry()
    assert row["state"] == "answered" and q.human_reply_at == at("2023-07-03T10:15")  # to the minute
    assert q.latency_minutes == 0 and "注" not in row["reason"]
    assert bed.replies() == [("human", "您好，请携带身份证到社区服务中心申请。")]


def test_a_canned_text_used_for_two_questions_is_auto(bed: Bed) -> None:
    bed.round(at("2023-07-03T09:00"))
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    canned = "您好，您的问题已收到，请留意后续回复。"
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:17", "--text", canned) == 0
    bed.round(at("2023-07-03T12:00"))
    assert bed.replies() == [("human", canned)]  # the first time nothing tells it apart
    # Next week, a different question gets the very same text: a canned reply, not a person's.
    bed.config.accounts[0].inquiry.questions = ["请问社区食堂几点开门？"]
    bed.round(at("2023-07-10T09:00"))
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-10T10:00") == 0
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-10T10:02", "--text", canned) == 0
    bed.round(at("2023-07-10T12:00"))
    week2 = bed.store.inquiries_between(at("2023-07-10T00:00"), at("2023-07-17T00:00"), account_id=bed.account_id)
    [q2] = week2
    assert [(r.kind, r.text) for r in bed.store.inquiry_replies(q2.id)] == [("auto", canned)]
    assert q2.human_reply_at is None


def test_records_that_cannot_be_placed_are_refused(bed: Bed, capsys) -> None:
    # Before any task: nothing to record it for, exit 2 with the reason.
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T08:30", "--text", "您好") == 2
    assert "没有编号为999的测试任务" in capsys.readouterr().err
    bed.round(at("2023-07-03T09:00"))
    [task] = [r.task for r in bed.store.tasks(account_id=bed.account_id)]
    argv = ["inquiry", "reply", str(task.id), "--at", "2023-06-03T10:00", "--text", "您好", "--config",
            str(bed.config_path)]
    assert wxmon_main(argv) == 2  # wrong month: before the task was issued, it cannot answer it
    assert "早于任务下发时间2023-07-03 09:00" in capsys.readouterr().err
    assert wxmon_main(["inquiry", "sent", str(task.id), "--at", "7月3日下午", "--config", str(bed.config_path)]) == 2
    assert "无法识别时间“7月3日下午”" in capsys.readouterr().err
    assert bed.store.task_replies([task.id]) == [] and bed.store.get_task(task.id).sent_at is None
    assert bed.inspector("sent", bed.account_id, "--at", "2023-07-03T10:15") == 0
    assert bed.inspector("reply", bed.account_id, "--at", "2023-07-03T10:20", "--text", "您好") == 0
    row = bed.round(at("2023-07-03T12:30"))
    assert row["state"] == "answered" and bed.inquiry().latency_minutes == 5


# ---------------------------------------------------------------------------
# the emulator's follower as a person's phone


@pytest.mark.parametrize("bed", [("emulator", "minute")], indirect=True)
def test_the_emulators_phone_shows_minutes_and_the_probe_tells_auto_from_human_by_text(bed: Bed) -> None:
    row = bed.round(at("2023-07-03T10:15:05"))  # auto-reply at :06, the person within ~20 s: same minute
    assert row["state"] == "sent" and row["sent_at"] == "2023-07-03T10:15:00+08:00"
    row = bed.round(at("2023-07-03T11:00"))
    q = bed.inquiry()
    assert q.auto_reply_at == at("2023-07-03T10:15") and q.human_reply_at == at("2023-07-03T10:15")
    assert row["state"] == "answered" and q.latency_minutes == 0
    assert sorted(kind for kind, _ in bed.replies()) == ["auto", "human"] and ("auto", RULE_TEXT) in bed.replies()
    truth = bed.server.world.truth(at("2023-07-01T00:00"), bed.clock.now())["accounts"][bed.account_id]
    assert truth["inquiries"][0]["human_reply_at"] is not None


@pytest.mark.parametrize("bed", [("emulator", "minute")], indirect=True)
def test_the_emulators_next_minute_auto_reply_is_auto(bed: Bed) -> None:
    row = bed.round(at("2023-07-03T10:15:59.500"))  # the auto-reply lands one second later: 10:16
    assert row["sent_at"] == "2023-07-03T10:15:00+08:00"
    bed.round(at("2023-07-03T11:00"))
    q = bed.inquiry()
    assert q.auto_reply_at == at("2023-07-03T10:16")
    kinds = {text: kind for kind, text in bed.replies()}
    assert kinds[RULE_TEXT] == "auto" and list(kinds.values()).count("human") == 1


@pytest.mark.parametrize("bed", [("emulator", "second")], indirect=True)
def test_the_emulators_default_follower_keeps_seconds(bed: Bed) -> None:
    bed.round(at("2023-07-03T10:15:05"))
    bed.round(at("2023-07-03T11:00"))
    q = bed.inquiry()
    assert q.sent_at == at("2023-07-03T10:15:05") and q.auto_reply_at == at("2023-07-03T10:15:06")


# ---------------------------------------------------------------------------
# the minute-interval rules

instants = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda d: as_utc(d.replace(tzinfo=SHANGHAI)))
delays = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))


def on_phone(real: datetime) -> Reply:
    return Reply(floor_to(real, MINUTE), "您好，已收到。", MINUTE)


@settings(deadline=None)  # no wall-clock bound: other suites may share the machine
@given(instants, delays)
def test_a_reply_after_its_send_always_counts_as_after_it_on_a_phone(sent: datetime, delay: timedelta) -> None:
    reply = on_phone(sent + delay)
    shown_send = floor_to(sent, MINUTE)
    assert sent_before(shown_send, reply)
    # The real delay lies within what the shown minutes allow.
    assert longest_delay(reply, shown_send) >= delay
    assert longest_delay(reply, shown_send) - delay <= 2 * MINUTE


@settings(deadline=None)  # no wall-clock bound: other suites may share the machine
@given(instants, delays)
def test_timing_never_calls_a_phone_reply_auto(sent: datetime, delay: timedelta) -> None:
    reply = on_phone(sent + delay)
    assert classify(reply, floor_to(sent, MINUTE)) == "human"
    assert classify(Reply(reply.at, RULE_TEXT, MINUTE), floor_to(sent, MINUTE), {RULE_TEXT}) == "auto"
    assert classify(Reply(reply.at, "（自动回复）稍后答复", MINUTE), floor_to(sent, MINUTE)) == "auto"


@settings(deadline=None)  # no wall-clock bound: other suites may share the machine
@given(instants, st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=5)))
def test_second_resolution_keeps_the_20_second_rule(sent: datetime, delay: timedelta) -> None:
    reply = Reply(sent + delay, "您好，已收到。", SECOND)
    assert classify(reply, sent) == ("auto" if delay <= AUTO_REPLY_WITHIN else "human")
    assert sent_before(sent, reply) == (delay > timedelta(0))


@settings(deadline=None)  # no wall-clock bound: other suites may share the machine
@given(instants)
def test_a_minute_is_an_interval(t: datetime) -> None:
    start = floor_to(t, MINUTE)
    assert start <= t < start + MINUTE and start.second == 0 and start.microsecond == 0
    assert floor_to(start, MINUTE) == start and floor_to(t, SECOND) == t
