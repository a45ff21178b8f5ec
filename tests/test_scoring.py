"""Verdicts, scores and reasons of every policy on one small real store, by hand.

The accounts (period 2023Q3, checked at 2023-10-09 09:00):

    good      updated Sep 25; 3 inquiries answered within an hour; 2 columns ok
    stale     last update Aug 20 10:00; 1 inquiry in time; 1 column ok
    late      3 inquiries: in time, late (answered after 4 days), unanswered
    silent    2 inquiries, neither answered by a person (one got an auto-reply)
    broken    1 of 3 columns confirmed broken
    leak      2 personal-data findings (an ID card number, a mobile number)
    nodata    nothing measured
    colonly   only columns measured (all ok)
    many      5 broken columns; 4 inquiries all answered late
    recent    last update Sep 20 10:00; 1 inquiry answered after 1 working day and a bit
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from monitor.metrics import COLUMNS, compute
from monitor.period import parse_period
from monitor.policy import builtin_policies, resolve_policy
from monitor.scoring import (
    EXPORT_COLUMNS,
    SCORE_COLUMNS,
    UNKNOWN_REASON,
    format_rate,
    judge_account,
    judge_rule,
    metrics_table,
    pass_rate,
    score,
)
from monitor.store import Store

try:
    from test_metrics_support import NOW, World, sh, write_config
except ImportError:  # tests/ became a package
    from tests.test_metrics_support import NOW, World, sh, write_config

Q3 = parse_period("2023Q3")
IDS = ["good", "stale", "late", "silent", "broken", "leak", "nodata", "colonly", "many", "recent"]
CUSTOM = """policies:
  lenient:
    base: points-local
    rules:
      - {id: inquiry_deadline, max_late: 1, deduct: 5}
      - {id: broken_columns, max_deduct: 20}
  strict:
    base: demo-default
    rules:
      - {id: stale, days: 7, label: 超过1周未更新}
      - {id: inquiry_deadline, working_days: 1, label: 留言超过1个工作日未答复}
    drop_rules: [no_interaction]
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("scoring") / "wxmon.db"
    with Store.open(f"sqlite:///{path}") as opened:
        w = World(opened, IDS)
        ok = [("ok", sh(2023, 8, 1, 9))]
        for acct in ("good", "late", "silent", "broken", "leak", "many"):
            w.publish(acct, sh(2023, 7, 10, 10), sh(2023, 9, 25, 10))
        w.publish("stale", sh(2023, 7, 10, 10), sh(2023, 8, 20, 10))
        w.publish("recent", sh(2023, 7, 10, 10), sh(2023, 9, 20, 10))
        w.watched(IDS, date(2023, 7, 1), date(2023, 10, 9))  # the freshness probe looked daily

        for day in (3, 10, 17):
            w.inquiry("good", sh(2023, 7, day, 9), state="answered", human=sh(2023, 7, day, 10))
        w.checks("good", "首页", *ok)
        w.checks("good", "服务", *ok)

        w.inquiry("stale", sh(2023, 7, 3, 9), state="answered", human=sh(2023, 7, 3, 10))
        w.checks("stale", "首页", *ok)

        w.inquiry("late", sh(2023, 7, 3, 9), state="answered", human=sh(2023, 7, 3, 10))
        w.inquiry("late", sh(2023, 7, 10, 9), state="late", human=sh(2023, 7, 14, 9))
        w.inquiry("late", sh(2023, 7, 17, 9), state="unanswered")

        w.inquiry("silent", sh(2023, 7, 3, 9), state="unanswered", auto=sh(2023, 7, 3, 9, 0, 5))
        w.inquiry("silent", sh(2023, 7, 10, 9), state="unanswered")  # deadline passed, nothing came

        w.checks("broken", "首页", *ok)
        w.checks("broken", "服务", ("failing", sh(2023, 8, 10, 9)), ("broken", sh(2023, 8, 10, 10)))
        w.checks("broken", "互动", *ok)

        w.findings("leak", ("id_card", sh(2023, 8, 1, 9)), ("mobile", sh(2023, 8, 2, 9)))

        w.checks("colonly", "首页", *ok)

        for i in range(5):
            w.checks("many", f"栏目{i}", ("broken", sh(2023, 8, 1, 9)))
        for day in (3, 10, 17, 24):
            w.inquiry("many", sh(2023, 7, day, 9), state="late", human=sh(2023, 7, day + 5, 9))

        # Monday 09:00 → Wednesday 10:00: within 3 working days, not within 1 (deadline Wed 00:00)
        w.inquiry("recent", sh(2023, 7, 3, 9), state="answered", human=sh(2023, 7, 5, 10))
        yield opened


def table(store: Store, tmp_path: Path, policy: str) -> dict[str, dict[str, object]]:
    config = write_config(tmp_path, IDS, policy=policy, policies=CUSTOM)
    df = metrics_table(store, config, Q3, now=NOW)
    assert tuple(df.columns) == COLUMNS + SCORE_COLUMNS
    return {r["account_id"]: r for r in df.to_dict("records")}


def verdicts(t: dict[str, dict[str, object]]) -> dict[str, str]:
    return {k: str(v["verdict"]) for k, v in t.items()}


STALE = "超过2周未更新（最后更新2023-08-20，距检查日41天）"
LEAK = "发现2处个人信息泄露（身份证号1处、手机号1处）"
SILENT = "无有效互动（2次测试留言均未获人工答复）"


def test_national_2019(store: Store, tmp_path: Path) -> None:
    t = table(store, tmp_path, "national-2019")
    assert verdicts(t) == {
        "good": "合格", "stale": "不合格", "late": "合格", "silent": "不合格", "broken": "合格", "leak": "不合格",
        "nodata": "无法判定", "colonly": "无法判定",  # no national rule could be judged on columns alone
        "many": "合格", "recent": "合格",
    }
    assert t["stale"]["reasons"] == STALE
    assert t["stale"]["failed_rules"] == ["stale"]
    assert t["silent"]["reasons"] == SILENT
    assert t["silent"]["failed_rules"] == ["no_interaction"]
    assert t["leak"]["reasons"] == LEAK
    assert t["leak"]["failed_rules"] == ["privacy_leak"]
    assert t["late"]["reasons"] == "" and t["late"]["failed_rules"] == []  # answered late is still an answer
    assert t["nodata"]["reasons"] == UNKNOWN_REASON
    assert all(math.isnan(r["score"]) for r in t.values())  # veto mode: no score


def test_demo_default(store: Store, tmp_path: Path) -> None:
    t = table(store, tmp_path, "demo-default")
    assert verdicts(t) == {
        "good": "合格", "stale": "不合格", "late": "不合格", "silent": "不合格", "broken": "不合格",
        "leak": "不合格", "nodata": "无法判定", "colonly": "合格", "many": "不合格", "recent": "合格",
    }
    assert t["late"]["reasons"] == "3次测试留言中2次未在3个工作日内答复"
    assert t["late"]["failed_rules"] == ["inquiry_deadline"]
    assert t["silent"]["reasons"] == f"{SILENT}；2次测试留言中2次未在3个工作日内答复"
    assert t["silent"]["failed_rules"] == ["no_interaction", "inquiry_deadline"]
    assert t["broken"]["reasons"] == "1个栏目无法正常访问"
    assert t["many"]["reasons"] == "4次测试留言中4次未在3个工作日内答复；5个栏目无法正常访问"
    assert t["many"]["failed_rules"] == ["inquiry_deadline", "broken_columns"]
    assert t["stale"]["reasons"] == STALE
    assert t["leak"]["reasons"] == LEAK


def test_points_local(store: Store, tmp_path: Path) -> None:
    t = table(store, tmp_path, "points-local")
    scores = {k: v["score"] for k, v in t.items()}
    assert {k: v for k, v in scores.items() if k != "nodata"} == {
        "good": 100.0, "stale": 59.0, "late": 80.0, "silent": 59.0, "broken": 90.0, "leak": 59.0,
        "colonly": 100.0, "many": 10.0, "recent": 100.0,
    }
    assert math.isnan(scores["nodata"])
    assert verdicts(t) == {
        "good": "合格", "stale": "不合格", "late": "合格", "silent": "不合格", "broken": "合格", "leak": "不合格",
        "nodata": "无法判定", "colonly": "合格", "many": "不合格", "recent": "合格",
    }
    # A deduction that does not fail the account is still a reason.
    assert t["late"]["reasons"] == "3次测试留言中2次未在3个工作日内答复（扣20分）"
    assert t["late"]["failed_rules"] == ["inquiry_deadline"]
    assert t["broken"]["reasons"] == "1个栏目无法正常访问（扣10分）"
    assert t["many"]["reasons"] == "4次测试留言中4次未在3个工作日内答复（扣40分）；5个栏目无法正常访问（扣50分）"
    # A veto scores veto_score whatever else was deducted.
    assert t["silent"]["reasons"] == f"{SILENT}；2次测试留言中2次未在3个工作日内答复（扣20分）"


def test_custom_policy_over_points_local(store: Store, tmp_path: Path) -> None:
    t = table(store, tmp_path, "lenient")
    assert t["late"]["score"] == 95.0  # 2 late, 1 tolerated, 5 points each
    assert t["late"]["reasons"] == "3次测试留言中2次未在3个工作日内答复（允许1次）（扣5分）"
    assert t["broken"]["score"] == 90.0
    assert t["many"]["score"] == 65.0  # 100 - 3 x 5 - min(5 x 10, 20)
    assert t["many"]["verdict"] == "合格"
    assert t["many"]["reasons"] == ("4次测试留言中4次未在3个工作日内答复（允许1次）（扣15分）；"
                                    "5个栏目无法正常访问（扣20分）")
    assert t["stale"]["score"] == 59.0
    passed, checked, rate = pass_rate(pd.DataFrame(t.values()))
    assert (passed, checked) == (6, 9)
    assert format_rate(rate) == "合格率66.7%"


def test_custom_policy_over_demo_default(store: Store, tmp_path: Path) -> None:
    t = table(store, tmp_path, "strict")
    assert verdicts(t) == {
        "good": "合格", "stale": "不合格", "late": "不合格", "silent": "不合格", "broken": "不合格",
        "leak": "不合格", "nodata": "无法判定", "colonly": "合格", "many": "不合格", "recent": "不合格",
    }
    assert t["recent"]["reasons"] == ("超过1周未更新（最后更新2023-09-20，距检查日10天）；"
                                      "1次测试留言中1次未在1个工作日内答复")
    assert t["recent"]["failed_rules"] == ["stale", "inquiry_deadline"]
    assert t["stale"]["reasons"] == "超过1周未更新（最后更新2023-08-20，距检查日41天）"
    assert t["silent"]["reasons"] == "2次测试留言中2次未在1个工作日内答复"  # no_interaction dropped
    assert t["late"]["reasons"] == "3次测试留言中2次未在1个工作日内答复"


@pytest.mark.parametrize(("policy", "passed", "checked", "text"), [
    ("national-2019", 5, 8, "合格率62.5%"),
    ("demo-default", 3, 9, "合格率33.3%"),
    ("points-local", 5, 9, "合格率55.6%"),
    ("strict", 2, 9, "合格率22.2%"),
])
def test_pass_rates(store: Store, tmp_path: Path, policy: str, passed: int, checked: int, text: str) -> None:
    config = write_config(tmp_path, IDS, policy=policy, policies=CUSTOM)
    p, c, rate = pass_rate(metrics_table(store, config, Q3, now=NOW))
    assert (p, c) == (passed, checked)
    assert format_rate(rate) == text


# ------------------------------------------------------------- pass rate, format

def verdict_frame(passed: int, failed: int, unknown: int) -> pd.DataFrame:
    return pd.DataFrame({"verdict": ["合格"] * passed + ["不合格"] * failed + ["无法判定"] * unknown})


def test_pass_rate_of_the_bulletin() -> None:
    passed, checked, rate = pass_rate(verdict_frame(13, 8, 2))
    assert (passed, checked) == (13, 21)  # 无法判定 counted in neither
    assert rate == pytest.approx(13 / 21)
    assert format_rate(rate) == "合格率61.9%"
    assert format_rate(pass_rate(verdict_frame(2, 1, 0))[2]) == "合格率66.7%"


def test_format_rate_edges() -> None:
    assert format_rate(1.0) == "合格率100.0%"
    assert format_rate(0.0) == "合格率0.0%"
    assert format_rate(1 / 16) == "合格率6.3%"  # half up, as people round
    assert format_rate(float("nan")) == "合格率—"
    passed, checked, rate = pass_rate(verdict_frame(0, 0, 3))
    assert (passed, checked) == (0, 0) and math.isnan(rate)


# ----------------------------------------------------------- rules, row by row

def policy_rule(policy: str, rule_id: str) -> object:
    return builtin_policies()[policy].rule(rule_id)


def test_no_interaction_rate_threshold() -> None:
    rule = resolve_policy("p", {"p": {"base": "national-2019", "rules": [
        {"id": "no_interaction", "min_response_rate": 0.5}]}}).rule("no_interaction")
    row = {"inquiries_sent": 3, "inquiries_answered_in_time": 1, "inquiries_late": 0}
    out = judge_rule(rule, row)
    assert out.failed and out.reason == "无有效互动（3次测试留言仅1次获人工答复，答复率33.3%低于50.0%）"
    assert not judge_rule(rule, {**row, "inquiries_late": 1}).failed  # 2 of 3 answered
    assert not judge_rule(rule, {**row, "inquiries_sent": 0}).judged


def test_missing_data_never_fails() -> None:
    empty = {"inquiries_sent": 0, "columns_checked": 0, "privacy_findings": 0, "security_incidents": 0,
             "freshness_known": False, "days_since_update": float("nan"), "last_update": pd.NaT}
    for rule in builtin_policies()["demo-default"].rules:
        out = judge_rule(rule, empty)
        assert not out.failed and not out.judged, rule.id


def test_security_incident_and_privacy_tolerance() -> None:
    rule = policy_rule("national-2019", "security_incident")
    assert judge_rule(rule, {"security_incidents": 2}).reason == "发生2起安全、泄密事故"
    lenient = resolve_policy("p", {"p": {"base": "national-2019", "rules": [
        {"id": "privacy_leak", "max_findings": 2}]}}).rule("privacy_leak")
    assert not judge_rule(lenient, {"privacy_findings": 2, "privacy_by_type": {"mobile": 2}}).failed
    out = judge_rule(lenient, {"privacy_findings": 3, "privacy_by_type": {"bank_card": 1, "mobile": 2}})
    assert out.failed and out.occurrences == 1
    assert out.reason == "发现3处个人信息泄露（银行卡号1处、手机号2处）（允许2处）"


def test_no_update_boundary() -> None:
    rule = policy_rule("national-2019", "stale")
    last = pd.Timestamp("2023-09-16 23:00", tz="Asia/Shanghai")
    ctx = {"as_of": Q3.end}
    # Sep 16 23:00 → Oct 1 00:00 is 14 days 1 hour: more than 2 weeks.
    out = judge_rule(rule, {"freshness_known": True, "last_update": last, "days_since_update": 14 + 1 / 24}, ctx)
    assert out.failed and out.reason == "超过2周未更新（最后更新2023-09-16，距检查日14天）"
    # Sep 17 00:00: exactly 14 days: within 2 weeks.
    assert not judge_rule(rule, {"freshness_known": True, "last_update": last + pd.Timedelta(hours=1),
                                 "days_since_update": 14.0}, ctx).failed


def _fresh(last: pd.Timestamp, seen_until: pd.Timestamp) -> dict[str, object]:
    as_of = pd.Timestamp(Q3.end).tz_convert("Asia/Shanghai")
    day = 86400.0
    return {"freshness_known": True, "last_update": last, "days_since_update": (as_of - last).total_seconds() / day,
            "freshness_seen_until": seen_until, "days_unobserved": (as_of - seen_until).total_seconds() / day}


def test_no_update_is_judged_only_up_to_the_last_successful_look() -> None:
    rule = policy_rule("national-2019", "stale")
    ctx = {"as_of": Q3.end}
    last = pd.Timestamp("2023-09-10 10:00", tz="Asia/Shanghai")
    # Watched to the end: 20 days to the check date without an article is stale.
    out = judge_rule(rule, _fresh(last, pd.Timestamp(Q3.end)), ctx)
    assert out.failed and out.reason == "超过2周未更新（最后更新2023-09-10，距检查日20天）"
    # The last successful look on Sep 18 (seen until Sep 19 08:00): 9 days watched, 12 not.
    outage = _fresh(last, pd.Timestamp("2023-09-19 08:00", tz="Asia/Shanghai"))
    out = judge_rule(rule, outage, ctx)
    assert not out.judged and not out.failed
    assert out.reason == "监测中断12天（最后成功核查2023-09-18），更新情况无法判定"
    # Stale before the outage began: proven by the looks, said up to the last one.
    out = judge_rule(rule, _fresh(pd.Timestamp("2023-08-20 10:00", tz="Asia/Shanghai"),
                                  outage["freshness_seen_until"]), ctx)  # type: ignore[arg-type]
    assert out.failed and out.reason == "超过2周未更新（最后更新2023-08-20，至最后成功核查日2023-09-18已29天）"
    # An article seen recently passes whatever came after it.
    recent = pd.Timestamp("2023-09-25 10:00", tz="Asia/Shanghai")
    assert judge_rule(rule, _fresh(recent, recent + pd.Timedelta(days=1)), ctx) == judge_rule(rule, {
        "freshness_known": True, "last_update": recent, "days_since_update": 5.6}, ctx)
    assert judge_rule(rule, _fresh(recent, recent + pd.Timedelta(days=1)), ctx).judged


def test_an_unjudged_rule_says_why_in_the_reasons() -> None:
    policy = builtin_policies()["national-2019"]
    ctx = {"as_of": Q3.end, "autoreply_counts_as_answer": policy.autoreply_counts_as_answer}
    base = {"inquiries_sent": 0, "columns_checked": 0, "privacy_findings": 0, "security_incidents": 0}
    outage = {**base, **_fresh(pd.Timestamp("2023-09-10 10:00", tz="Asia/Shanghai"),
                               pd.Timestamp("2023-09-19 08:00", tz="Asia/Shanghai"))}
    verdict, reasons, _, failed = judge_account(policy, outage, ctx)
    assert (verdict, reasons, failed) == ("无法判定", "监测中断12天（最后成功核查2023-09-18），更新情况无法判定", [])
    answered = {**outage, "inquiries_sent": 2, "inquiries_answered_in_time": 2, "late_by_working_days": {3: 0}}
    verdict, reasons, _, failed = judge_account(policy, answered, ctx)
    assert (verdict, failed) == ("合格", []) and reasons.startswith("监测中断12天")


def test_points_score_never_below_zero(store: Store, tmp_path: Path) -> None:
    policies = """policies:
  harsh:
    base: points-local
    rules:
      - {id: broken_columns, deduct: 30}
      - {id: inquiry_deadline, deduct: 30}
"""
    config = write_config(tmp_path, IDS, policy="harsh", policies=policies)
    t = {r["account_id"]: r for r in metrics_table(store, config, Q3, now=NOW).to_dict("records")}
    assert t["many"]["score"] == 0.0  # 100 - 120 - 150, not below zero
    assert t["many"]["verdict"] == "不合格"


def test_score_keeps_metrics_and_appends_verdict_columns(store: Store, tmp_path: Path) -> None:
    config = write_config(tmp_path, IDS, policy="demo-default")
    metrics = compute(store, config, Q3, now=NOW)
    scored = score(metrics, config.selected_policy)
    assert list(scored.columns) == list(metrics.columns) + list(SCORE_COLUMNS)
    pd.testing.assert_frame_equal(scored[list(metrics.columns)], metrics)
    assert "verdict" not in metrics.columns  # the input is not modified
    assert EXPORT_COLUMNS == (
        "account_id", "account_name", "unit", "category", "inquiries_sent", "inquiries_answered_in_time",
        "response_rate", "median_reply_minutes", "p90_reply_minutes", "columns_checked", "columns_broken",
        "broken_column_rate", "last_update", "max_gap_days", "privacy_findings", "verdict", "reasons")
    assert set(scored["verdict"]) <= {"合格", "不合格", "无法判定"}


def test_scoring_with_a_policy_the_metrics_were_not_computed_for(store: Store, tmp_path: Path) -> None:
    config = write_config(tmp_path, IDS, policy="demo-default", policies=CUSTOM)
    metrics = compute(store, config, Q3, now=NOW)
    strict = config.model_copy(update={"policy": "strict"}).selected_policy
    with pytest.raises(ValueError, match="1-working-day deadline"):
        score(metrics, strict)
    auto = resolve_policy("a", {"a": {"base": "demo-default", "autoreply_counts_as_answer": True}})
    with pytest.raises(ValueError, match="autoreply_counts_as_answer"):
        score(metrics, auto)
    # national-2019 has no deadline rule: scoring demo-default metrics with it is sound.
    assert score(metrics, builtin_policies()["national-2019"])["verdict"].tolist()[0] == "合格"
