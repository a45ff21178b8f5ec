"""The metrics table on small real stores, every value computed by hand.

Runs on SQLite and, when a server answers, PostgreSQL (the publication gaps are
computed in SQL, differently per backend).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from monitor.clock import SHANGHAI
from monitor.config import Config
from monitor.metrics import COLUMNS, EXPORT_METRIC_COLUMNS, compute, to_json_rows
from monitor.period import parse_period
from monitor.store import Store

try:
    from store_fixtures import store_url, vclock
    from test_metrics_support import NOW, World, sh, write_config
except ImportError:  # tests/ became a package
    from tests.store_fixtures import store_url, vclock  # noqa: F401
    from tests.test_metrics_support import NOW, World, sh, write_config

Q3 = parse_period("2023Q3")
IDS = ["jd-a", "jd-b", "bm-c", "jd-d"]  # config order, deliberately not sorted


@pytest.fixture
def opened(store_url: str, vclock: object) -> Iterator[Store]:
    with Store.open(store_url) as store:
        yield store


@pytest.fixture
def world(opened: Store) -> World:
    """jd-a: a bit of everything; jd-b: nothing; bm-c: last update before the period;
    jd-d: publications on the period's edges; zz-ghost: in the store, not in the config."""
    w = World(opened, [*IDS, "zz-ghost"])

    # jd-a inquiries (deadline: 3 working days)
    w.inquiry("jd-a", sh(2023, 7, 3, 9), state="answered", human=sh(2023, 7, 3, 10, 30))  # in time, 90 min
    w.inquiry("jd-a", sh(2023, 7, 10, 9), state="late", human=sh(2023, 7, 14, 9))  # late, 5760 min
    w.inquiry("jd-a", sh(2023, 7, 17, 9), state="unanswered", auto=sh(2023, 7, 17, 9, 0, 5))  # auto only
    w.inquiry("jd-a", sh(2023, 7, 24, 9), state="error")  # the monitor's failure: not counted
    # Thursday before the Mid-Autumn/National Day holiday: the 3 working days are
    # Oct 7, 8 (make-up days) and 9, so the deadline is Oct 10 00:00: still open at NOW.
    w.inquiry("jd-a", sh(2023, 9, 28, 9), state="sent")
    w.inquiry("jd-a", sh(2023, 6, 30, 9), state="late", human=sh(2023, 7, 6, 9))  # sent before the period
    w.inquiry("jd-a", None, state="scheduled", created=sh(2023, 9, 25, 9))  # not sent yet: open

    # jd-a columns
    w.checks("jd-a", "服务/查询", ("ok", sh(2023, 7, 1, 8)), ("ok", sh(2023, 7, 1, 9)), ("ok", sh(2023, 7, 1, 10)),
             ("failing", sh(2023, 8, 10, 9)), ("broken", sh(2023, 8, 10, 10)), ("broken", sh(2023, 8, 10, 11)))
    w.checks("jd-a", "服务/办事", ("ok", sh(2023, 7, 1, 8)), ("ok", sh(2023, 9, 30, 23, 30)),
             ("broken", sh(2023, 10, 1, 0, 10)))  # broken on October 1st (Shanghai): after the period
    w.checks("jd-a", "小程序", ("unverifiable", sh(2023, 7, 1, 8)), ("unverifiable", sh(2023, 8, 1, 8)))
    w.checks("jd-a", "外链", ("error", sh(2023, 7, 1, 8)))
    w.checks("jd-a", "旧栏目", ("broken", sh(2023, 6, 29, 10)))  # broken only before the period
    w.checks("jd-a", "修复栏目", ("broken", sh(2023, 6, 30, 10)), ("ok", sh(2023, 7, 2, 10)))

    # jd-a content, findings, follower rollups
    w.publish("jd-a", sh(2023, 6, 20, 10), sh(2023, 7, 5, 10), sh(2023, 8, 20, 10), sh(2023, 10, 2, 10))
    w.findings("jd-a", ("id_card", sh(2023, 8, 1, 9)), ("mobile", sh(2023, 8, 1, 9)))
    w.findings("jd-a", ("id_card", sh(2023, 8, 1, 9)))  # the same finding again: no-op
    w.findings("jd-a", ("bank_card", sh(2023, 6, 1, 9)), source="old")  # found before the period
    w.follower("jd-a", date(2023, 7, 1), 10, 8, 30.0)
    w.follower("jd-a", date(2023, 7, 2), 4, 2, 100.0)
    w.follower("jd-a", date(2023, 6, 30), 100, 100, 1.0)  # before the period

    # bm-c
    w.publish("bm-c", sh(2023, 6, 15, 8))
    w.inquiry("bm-c", sh(2023, 8, 1, 9), state="unanswered")  # deadline Aug 5 00:00 passed, probe saw no reply
    w.checks("bm-c", "混合", ("unverifiable", sh(2023, 7, 5, 9)), ("ok", sh(2023, 7, 6, 9)))
    w.checks("bm-c", "两者", ("error", sh(2023, 7, 5, 9)), ("unverifiable", sh(2023, 7, 6, 9)))

    # jd-d: publications exactly at the period start and half a day before its end
    w.publish("jd-d", sh(2023, 7, 1, 0, 0), sh(2023, 9, 30, 12))

    # the freshness probe looked at every account daily (coverage)
    w.watched(IDS, date(2023, 6, 1), date(2023, 10, 9))

    # not configured: must not appear nor leak into anyone's numbers
    w.publish("zz-ghost", sh(2023, 9, 1))
    w.inquiry("zz-ghost", sh(2023, 7, 3, 9), state="answered", human=sh(2023, 7, 3, 9, 5))
    w.checks("zz-ghost", "首页", ("broken", sh(2023, 7, 3, 9)))
    return w


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return write_config(tmp_path, IDS)


def rows(df: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {r["account_id"]: r for r in df.to_dict("records")}


def nan(value: object) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def test_shape_order_and_identity(world: World, config: Config) -> None:
    df = compute(world.store, config, Q3, now=NOW)
    assert tuple(df.columns) == COLUMNS
    # SPEC's export columns (before verdict and reasons) lead, written out here: COLUMNS is built from
    # EXPORT_METRIC_COLUMNS, so comparing the two would prove nothing.
    spec_export = ("account_id", "account_name", "unit", "category", "inquiries_sent", "inquiries_answered_in_time",
                   "response_rate", "median_reply_minutes", "p90_reply_minutes", "columns_checked",
                   "columns_broken", "broken_column_rate", "last_update", "max_gap_days", "privacy_findings")
    assert tuple(df.columns[:15]) == spec_export == EXPORT_METRIC_COLUMNS
    assert tuple(df.columns[-4:]) == ("late_by_working_days", "broken_column_paths", "privacy_by_type",
                                      "security_incident_details")
    assert df["account_id"].tolist() == IDS
    a = rows(df)["jd-a"]
    assert (a["account_name"], a["unit"], a["category"]) == ("账号jd-a", "单位jd-a", "乡镇街道")
    assert rows(df)["jd-b"]["category"] == "政府部门"
    assert df.attrs["period"] == Q3
    assert df.attrs["as_of"] == Q3.end
    assert df.attrs["policy"] == "demo-default"


def test_inquiries(world: World, config: Config) -> None:
    a = rows(compute(world.store, config, Q3, now=NOW))["jd-a"]
    assert a["inquiries_sent"] == 3  # answered, late, unanswered
    assert a["inquiries_answered_in_time"] == 1
    assert a["response_rate"] == pytest.approx(1 / 3)
    assert a["median_reply_minutes"] == pytest.approx((90 + 5760) / 2)
    assert a["p90_reply_minutes"] == pytest.approx(5193.0)  # 90 and 5760 min, linear interpolation
    assert a["inquiries_late"] == 1
    assert a["inquiries_unanswered"] == 1
    assert a["inquiries_open"] == 2  # sent before its deadline; scheduled, not sent
    assert a["inquiries_error"] == 1
    assert a["auto_reply_only"] == 1
    assert a["late_by_working_days"] == {3: 2}


def test_sent_inquiry_past_its_deadline_stays_open_until_the_probe_looked(world: World, config: Config) -> None:
    # Still "sent" after its deadline: the monitor could not look (its own trouble), so nobody is blamed.
    a = rows(compute(world.store, config, Q3, now=sh(2023, 10, 10, 0, 0)))["jd-a"]
    assert (a["inquiries_sent"], a["inquiries_unanswered"], a["inquiries_open"]) == (3, 1, 2)
    assert a["response_rate"] == pytest.approx(1 / 3)


def test_inquiry_the_probe_closed_unanswered_counts(world: World, config: Config) -> None:
    c = rows(compute(world.store, config, Q3, now=NOW))["bm-c"]
    assert (c["inquiries_sent"], c["inquiries_answered_in_time"], c["inquiries_unanswered"]) == (1, 0, 1)
    assert c["response_rate"] == 0.0
    assert nan(c["median_reply_minutes"]) and nan(c["p90_reply_minutes"])


def test_no_inquiries_gives_nan_rate(world: World, config: Config) -> None:
    b = rows(compute(world.store, config, Q3, now=NOW))["jd-b"]
    assert b["inquiries_sent"] == 0
    assert nan(b["response_rate"]) and nan(b["median_reply_minutes"])
    assert b["late_by_working_days"] == {}


def test_columns(world: World, config: Config) -> None:
    df = compute(world.store, config, Q3, now=NOW)
    a, c = rows(df)["jd-a"], rows(df)["bm-c"]
    # 查询 (broken in August), 办事 (broken only on Oct 1), 修复栏目 (broken only before the period);
    # 旧栏目 has no check in the period at all.
    assert a["columns_checked"] == 3
    assert a["columns_broken"] == 1
    assert a["broken_column_rate"] == pytest.approx(1 / 3)
    assert a["columns_unverifiable"] == 1
    assert a["columns_error"] == 1
    assert a["broken_column_paths"] == ["服务/查询"]
    assert (c["columns_checked"], c["columns_broken"], c["columns_unverifiable"], c["columns_error"]) == (1, 0, 1, 0)
    assert c["broken_column_rate"] == 0.0
    b = rows(df)["jd-b"]
    assert (b["columns_checked"], b["columns_broken"]) == (0, 0)
    assert nan(b["broken_column_rate"])
    assert b["broken_column_paths"] == []


def test_freshness_and_gaps(world: World, config: Config) -> None:
    df = compute(world.store, config, Q3, now=NOW)
    assert str(df["last_update"].dtype) == "datetime64[us, Asia/Shanghai]"
    a, b, c, d = (rows(df)[k] for k in IDS)
    # jd-a: period start → Jul 5 10:00 = 4.4 d, → Aug 20 10:00 = 46.0 d, → Oct 1 00:00 = 41.6 d
    assert a["last_update"].isoformat() == "2023-08-20T10:00:00+08:00"  # not the October item
    assert a["days_since_update"] == pytest.approx(41 + 14 / 24)
    assert a["max_gap_days"] == 46.0
    assert a["freshness_known"] is True or a["freshness_known"] == True  # noqa: E712 - numpy bool
    # bm-c: last update before the period: the whole period is one gap
    assert c["last_update"].isoformat() == "2023-06-15T08:00:00+08:00"
    assert c["days_since_update"] == pytest.approx(107 + 16 / 24)
    assert c["max_gap_days"] == 92.0
    # jd-d: publications on the edges: 0 d, 91.5 d, 0.5 d
    assert d["max_gap_days"] == 91.5
    assert d["days_since_update"] == pytest.approx(0.5)
    # jd-b: nothing known
    assert nan(b["last_update"]) and nan(b["max_gap_days"]) and nan(b["days_since_update"])
    assert not b["freshness_known"]


def test_gaps_are_measured_only_while_the_monitor_could_look(opened: Store, tmp_path: Path) -> None:
    w = World(opened, ["jd-x", "jd-y"])
    w.publish("jd-x", sh(2023, 7, 1), sh(2023, 7, 20), sh(2023, 8, 10))
    w.publish("jd-y", sh(2023, 6, 15))
    # jd-x watched daily until Sep 10, then the API failed for it; jd-y not watched since June 20.
    w.watched(["jd-x", "jd-y"], date(2023, 6, 1), date(2023, 6, 20))
    w.watched(["jd-x"], date(2023, 6, 21), date(2023, 9, 10))
    w.watched(["jd-x", "jd-y"], date(2023, 9, 11), date(2023, 10, 9), failed=["jd-x", "jd-y"])
    x, y = (rows(compute(opened, write_config(tmp_path, ["jd-x", "jd-y"]), Q3, now=NOW))[k] for k in ("jd-x", "jd-y"))
    # The last look (Sep 10 08:00) covers a day: seen until Sep 11 08:00, 19 d 16 h unseen before Oct 1.
    assert x["freshness_seen_until"].isoformat() == "2023-09-11T08:00:00+08:00"
    assert x["days_unobserved"] == pytest.approx(19 + 16 / 24)
    assert x["days_since_update"] == pytest.approx(52.0)  # as before: the export's column
    assert x["max_gap_days"] == 32.3  # Aug 10 → Sep 11 08:00, not → Oct 1
    # Not watched at all in the period: no gap can be measured in it. (Looks are sought in the
    # 31 days before as_of; older, the article seen is the proof of a look: never later than the truth.)
    assert y["freshness_seen_until"].isoformat() == "2023-06-16T00:00:00+08:00"
    assert nan(y["max_gap_days"])
    assert y["days_unobserved"] > 100


def test_period_in_progress_is_measured_at_now(world: World, config: Config) -> None:
    a = rows(compute(world.store, config, Q3, now=sh(2023, 8, 21)))["jd-a"]
    assert a["days_since_update"] == pytest.approx(14 / 24)
    assert a["max_gap_days"] == 46.0
    assert a["inquiries_open"] == 2


def test_privacy_and_followers(world: World, config: Config) -> None:
    df = compute(world.store, config, Q3, now=NOW)
    a, b = rows(df)["jd-a"], rows(df)["jd-b"]
    assert a["privacy_findings"] == 2
    assert a["privacy_by_type"] == {"id_card": 1, "mobile": 1}
    assert a["security_incidents"] == 0
    assert (a["follower_messages"], a["follower_answered"]) == (14, 10)
    assert a["follower_response_rate"] == pytest.approx(10 / 14)
    assert a["follower_median_reply_minutes"] == 30.0  # answered-weighted: 8 replies at 30, 2 at 100
    assert b["privacy_findings"] == 0 and b["privacy_by_type"] == {}
    assert nan(b["follower_messages"]) and nan(b["follower_response_rate"])


def test_dtypes(world: World, config: Config) -> None:
    df = compute(world.store, config, Q3, now=NOW)
    for name in ("inquiries_sent", "inquiries_answered_in_time", "columns_checked", "columns_broken",
                 "privacy_findings", "inquiries_late", "inquiries_open", "security_incidents"):
        assert df[name].dtype == "int64", name
    for name in ("response_rate", "median_reply_minutes", "broken_column_rate", "max_gap_days",
                 "days_since_update"):
        assert df[name].dtype == "float64", name
    assert df["freshness_known"].dtype == bool


def test_autoreply_counts_when_the_policy_says_so(world: World, tmp_path: Path) -> None:
    config = write_config(tmp_path, IDS, policy="auto-ok",
                          policies="policies:\n  auto-ok: {base: demo-default, autoreply_counts_as_answer: true}")
    a = rows(compute(world.store, config, Q3, now=NOW))["jd-a"]
    assert (a["inquiries_sent"], a["inquiries_answered_in_time"], a["inquiries_late"],
            a["inquiries_unanswered"]) == (3, 2, 1, 0)
    assert a["auto_reply_only"] == 1
    assert a["median_reply_minutes"] == pytest.approx((90 + 5760) / 2)  # human replies only
    assert a["late_by_working_days"] == {3: 1}


def test_each_deadline_of_the_policy_is_counted(world: World, tmp_path: Path) -> None:
    policies = ("policies:\n  two-deadlines:\n    base: points-local\n    rules:\n"
                "      - {id: very_late, kind: inquiry_deadline, working_days: 10, label: 留言超过10个工作日未答复}")
    config = write_config(tmp_path, IDS, policy="two-deadlines", policies=policies)
    a = rows(compute(world.store, config, Q3, now=NOW))["jd-a"]
    # The Jul 10 reply on Jul 14 is late for 3 working days, in time for 10 (deadline Jul 25 00:00).
    assert a["late_by_working_days"] == {3: 2, 10: 1}
    assert a["inquiries_sent"] == 3


def test_policy_without_deadline_rule_uses_the_probes_deadline(opened: Store, tmp_path: Path) -> None:
    w = World(opened, ["jd-e"])
    w.inquiry("jd-e", sh(2023, 8, 1, 9), state="sent", human=sh(2023, 8, 1, 13))
    inquiry = opened.find_inquiry("jd-e", "w1")
    assert inquiry is not None
    opened.update_inquiry(inquiry.id, deadline_at=sh(2023, 8, 1, 12))  # the probe's own deadline
    national = rows(compute(opened, write_config(tmp_path, ["jd-e"], policy="national-2019"), Q3, now=NOW))
    demo = rows(compute(opened, write_config(tmp_path, ["jd-e"], name="demo.yaml"), Q3, now=NOW))
    assert (national["jd-e"]["inquiries_late"], national["jd-e"]["late_by_working_days"]) == (1, {})
    assert (demo["jd-e"]["inquiries_answered_in_time"], demo["jd-e"]["late_by_working_days"]) == (1, {3: 0})


def test_to_json_rows(world: World, config: Config) -> None:
    lines = to_json_rows(compute(world.store, config, Q3, now=NOW))
    assert len(lines) == len(IDS)
    objs = [json.loads(line) for line in lines]
    assert [list(o) for o in objs] == [list(COLUMNS)] * len(IDS)
    a, b = objs[0], objs[1]
    assert a["account_id"] == "jd-a" and "账号jd-a" in lines[0]  # Chinese not escaped
    assert a["last_update"] == "2023-08-20T10:00:00+08:00"
    assert a["response_rate"] == pytest.approx(1 / 3)
    assert a["inquiries_sent"] == 3 and a["freshness_known"] is True
    assert a["late_by_working_days"] == {"3": 2}
    assert a["broken_column_paths"] == ["服务/查询"]
    assert a["privacy_by_type"] == {"id_card": 1, "mobile": 1}
    for key in ("response_rate", "median_reply_minutes", "last_update", "max_gap_days", "follower_messages",
                "follower_response_rate", "days_since_update"):
        assert b[key] is None, key
    assert "NaN" not in "".join(lines)


def test_to_json_rows_reads_naive_and_utc_times_as_shanghai() -> None:
    df = pd.DataFrame({"t": [pd.Timestamp("2023-08-20 02:00", tz="UTC")], "n": [float("nan")], "k": [[1, 2]]})
    assert json.loads(to_json_rows(df)[0]) == {"t": "2023-08-20T10:00:00+08:00", "n": None, "k": [1, 2]}
    assert json.loads(to_json_rows(df, ["n"])[0]) == {"n": None}
    assert SHANGHAI.key == "Asia/Shanghai"


def test_empty_store(opened: Store, config: Config) -> None:
    World(opened, IDS)
    df = compute(opened, config, Q3, now=NOW)
    assert df["account_id"].tolist() == IDS
    assert (df["inquiries_sent"] == 0).all() and (df["columns_checked"] == 0).all()
    assert df["last_update"].isna().all() and not df["freshness_known"].any()


def test_a_week(world: World, config: Config) -> None:
    a = rows(compute(world.store, config, parse_period("2023-W32"), now=NOW))["jd-a"]  # Aug 7..13
    assert (a["columns_checked"], a["columns_broken"]) == (1, 1)  # 查询, broken on Aug 10
    assert a["inquiries_sent"] == 0 and a["privacy_findings"] == 0
    assert a["last_update"].isoformat() == "2023-07-05T10:00:00+08:00"
    assert a["max_gap_days"] == 7.0
    assert a["days_since_update"] == pytest.approx(39 + 14 / 24)


def test_only_unsent_inquiries(opened: Store, tmp_path: Path) -> None:
    w = World(opened, ["jd-e"])
    w.inquiry("jd-e", None, state="scheduled", created=sh(2023, 8, 1, 9))
    e = rows(compute(opened, write_config(tmp_path, ["jd-e"]), Q3, now=NOW))["jd-e"]
    assert (e["inquiries_sent"], e["inquiries_open"], e["inquiries_error"]) == (0, 1, 0)
    assert nan(e["response_rate"])


def test_recorded_states_and_uncounted_auto_replies(opened: Store, tmp_path: Path) -> None:
    w = World(opened, ["jd-e"])
    # A manual channel recorded outcomes without reply times: trusted.
    w.inquiry("jd-e", sh(2023, 8, 1, 9), state="answered")
    w.inquiry("jd-e", sh(2023, 8, 8, 9), state="late")
    # "answered" by an auto-reply only, under a policy where it does not count: unanswered once due.
    w.inquiry("jd-e", sh(2023, 8, 15, 9), state="answered", auto=sh(2023, 8, 15, 9, 0, 5))
    e = rows(compute(opened, write_config(tmp_path, ["jd-e"]), Q3, now=NOW))["jd-e"]
    assert (e["inquiries_sent"], e["inquiries_answered_in_time"], e["inquiries_late"],
            e["inquiries_unanswered"], e["auto_reply_only"]) == (3, 1, 1, 1, 1)
    assert e["late_by_working_days"] == {3: 2}
    assert nan(e["median_reply_minutes"])  # no human reply time known
