"""The 通报 draft: pass rate as scoring computes it, shares in words, the right accounts per problem."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from dashboards.bulletin import fraction_words, render_bulletin, share_phrase
from monitor.period import parse_period
from monitor.policy import builtin_policies
from monitor.scoring import format_rate, pass_rate

try:
    from dashboard_frames import FAILURES, SCORE_COLUMNS, bulletin_frame
except ImportError:  # pragma: no cover
    from tests.dashboard_frames import FAILURES, SCORE_COLUMNS, bulletin_frame

POLICY = builtin_policies()["demo-default"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return bulletin_frame()


@pytest.fixture(scope="module")
def text(frame: pd.DataFrame) -> str:
    return render_bulletin(frame, parse_period("2023Q3"), district="江滨区", policy=POLICY)


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start): text.index(end, text.index(start))]


def _problem_group(text: str, label: str) -> str:
    head = f"）{label}\n"
    start = text.index(head)
    nxt = [i for i in (text.find("\n### ", start + 1), text.find("\n## ", start + 1)) if i != -1]
    return text[start: min(nxt)]


@pytest.mark.parametrize(("part", "whole", "words"), [
    (7, 21, "三分之一"), (1, 2, "一半"), (3, 21, "七分之一"), (14, 21, "三分之二"), (2, 10, "五分之一"),
    (3, 10, "十分之三"), (5, 21, "近四分之一"), (10, 21, "近一半"), (11, 21, "超过一半"), (21, 21, "全部"),
    (1, 21, "1个（占4.8%）"), (8, 21, "8个（占38.1%）"), (0, 21, "无"),
])
def test_fraction_words(part: int, whole: int, words: str) -> None:
    assert fraction_words(part, whole) == words


def test_share_phrase() -> None:
    assert share_phrase(7, 21) == "三分之一的账号（7个）"
    assert share_phrase(1, 21) == "1个账号（占4.8%）"
    assert share_phrase(21, 21) == "全部21个账号"
    with pytest.raises(ValueError):
        fraction_words(3, 2)


def test_pass_rate_is_scorings(frame: pd.DataFrame, text: str) -> None:
    passed, checked, rate = pass_rate(frame)
    assert (passed, checked) == (13, 21)
    assert format_rate(rate) == "合格率61.9%"
    overall = _section(text, "## 一、总体情况", "## 二、")
    assert "共检查政务新媒体21个，检查比例100%，合格率61.9%（合格13个，不合格8个）" in overall
    assert re.findall(r"合格率[0-9.]+%", text) == [format_rate(rate)]


def test_title_and_period(text: str) -> None:
    assert text.startswith("# 关于2023年第三季度江滨区政务新媒体检查情况的通报\n")
    assert "2023年7月1日至2023年9月30日" in text
    for heading in ("## 一、总体情况", "## 二、存在问题", "## 三、工作要求", "## 附件"):
        assert heading in text


def test_problem_groups_list_the_right_accounts(frame: pd.DataFrame, text: str) -> None:
    names = dict(zip(frame["account_id"], frame["account_name"]))
    expected_share = {"超过2周未更新": "七分之一的账号（3个）", "留言超过3个工作日未答复": "三分之一的账号（7个）",
                      "栏目无法正常访问": "近四分之一的账号（5个）", "泄露个人信息": "1个账号（占4.8%）"}
    rule_of_label = {r.label: r.id for r in POLICY.rules}
    for label, share in expected_share.items():
        group = _problem_group(text, label)
        assert share in group, label
        members = {a for a, rules in FAILURES.items() if rule_of_label[label] in rules}
        listed = re.findall(r"^\d+\. .*?“(.+?)”：", group, flags=re.M)
        assert sorted(listed) == sorted(names[a] for a in members), label
    # the inquiry group says it the bulletin way
    assert "三分之一的账号（7个）未及时回复网民的简单咨询留言" in text
    # groups in policy order; rules nobody failed are absent
    assert text.index("）超过2周未更新") < text.index("）泄露个人信息") < text.index("）留言超过3个工作日未答复")
    assert "无有效互动" not in _section(text, "## 二、存在问题", "## 三、")


def test_problem_details_are_the_accounts_own_reasons(frame: pd.DataFrame, text: str) -> None:
    group = _problem_group(text, "泄露个人信息")
    assert "青山镇（模拟）" in group and "330102\\*\\*\\*\\*\\*\\*\\*\\*123X" in group  # masked, Markdown-escaped
    stale = _problem_group(text, "超过2周未更新")
    assert "（最后更新2023-08-20，距检查日41天）" in stale
    assert "留言超过3个工作日未答复" not in stale  # only this rule's part of the reasons


def test_well_maintained_units_are_passed_accounts(frame: pd.DataFrame, text: str) -> None:
    passed = set(frame.loc[frame["verdict"] == "合格", "account_name"])
    failed = set(frame.loc[frame["verdict"] == "不合格", "account_name"])
    overall = _section(text, "## 一、总体情况", "## 二、")
    named = set(re.findall(r"“(.+?)”", overall))
    assert named and named <= passed
    annex1 = _section(text, "### 附件1", "### 附件2")
    rows = re.findall(r"^\| \d+ \| (.+?) \|", annex1, flags=re.M)
    assert set(rows) == passed and not set(rows) & failed


def test_annex_lists_every_account_with_its_verdict(frame: pd.DataFrame, text: str) -> None:
    annex2 = text[text.index("### 附件2"):]
    rows = re.findall(r"^\| (\d+) \| (.+?) \| .+? \| .+? \| (合格|不合格|无法判定) \|", annex2, flags=re.M)
    assert [(name, verdict) for _, name, verdict in rows] == list(zip(frame["account_name"], frame["verdict"]))


def test_unknown_accounts_are_not_checked(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df.loc[0, "verdict"] = "无法判定"
    df.loc[0, "reasons"] = "未取得可供判定的监测数据"
    df.at[0, "failed_rules"] = []
    text = render_bulletin(df, "2023Q3", policy=POLICY)
    _, checked, rate = pass_rate(df)
    assert checked == 20
    assert f"共检查政务新媒体20个，检查比例95.2%，{format_rate(rate)}" in text
    assert "另有1个账号因未能取得监测数据未作判定" in text
    # shares are of the accounts checked: 7 of 20 (35%) is just over a third
    assert "超过三分之一的账号（7个）未及时回复" in text


def test_without_failed_rules_groups_by_reason_text(frame: pd.DataFrame) -> None:
    text = render_bulletin(frame.drop(columns=["failed_rules"]), "2023Q3")
    assert "三分之一的账号（7个）" in text


def test_scoring_reasons_are_matched_by_position() -> None:
    # monitor.scoring writes reasons that need not start with the rule label.
    df = bulletin_frame().head(3).copy()
    df.loc[1, "failed_rules"] = None
    df.at[1, "failed_rules"] = ["inquiry_deadline", "broken_columns"]
    df.loc[1, "reasons"] = "13次测试留言中2次未在3个工作日内答复；2个栏目无法正常访问"
    df.loc[1, "verdict"] = "不合格"
    df["broken_column_paths"] = [[], ["办事服务/社保查询", "互动/留言"], []]
    text = render_bulletin(df, "2023Q3", policy=POLICY)
    assert "：13次测试留言中2次未在3个工作日内答复\n" in text
    assert "：2个栏目无法正常访问，涉及栏目：办事服务/社保查询、互动/留言" in text


def test_nobody_failed() -> None:
    df = bulletin_frame()
    df["verdict"], df["reasons"] = "合格", ""
    df["failed_rules"] = [[] for _ in range(len(df))]
    text = render_bulletin(df, "2023Q3")
    assert "合格率100.0%" in text and "本次检查未发现不合格问题" in text


def test_notes_from_metrics_are_shown(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df.attrs["calendar_fallback_years"] = [2027]
    text = render_bulletin(df, "2023Q3")
    assert "2027年的法定节假日和调休安排未知" in text


def test_period_text_and_nan_safety(frame: pd.DataFrame) -> None:
    df = frame.copy()
    df.loc[2, "unit"] = math.nan
    text = render_bulletin(df, "2023-07-01..2023-09-30")
    assert "“望海街道（模拟）”" in text


def test_frame_scored_by_monitor_scoring() -> None:
    # The real scorer's reasons and dtypes, not the hand-written ones.
    from monitor.scoring import score

    metrics = bulletin_frame().drop(columns=SCORE_COLUMNS)
    metrics["late_by_working_days"] = [{3: int(n)} for n in metrics["inquiries_late"]]
    metrics["broken_column_paths"] = [[f"栏目{i}" for i in range(int(n))] for n in metrics["columns_broken"]]
    metrics["privacy_by_type"] = [{"id_card": int(n)} if n else {} for n in metrics["privacy_findings"]]
    scored = score(metrics, POLICY)
    text = render_bulletin(scored, "2023Q3", policy=POLICY)
    assert format_rate(pass_rate(scored)[2]) in text and "合格率61.9%" in text
    counts = pd.Series([r for rules in scored["failed_rules"] for r in rules]).value_counts()
    for rule in POLICY.rules:
        if rule.id in counts:
            group = _problem_group(text, rule.label)
            assert len(re.findall(r"^\d+\. ", group, flags=re.M)) == counts[rule.id]
    broken = _problem_group(text, "栏目无法正常访问")
    for n in scored.loc[scored["columns_broken"] > 0, "columns_broken"]:
        assert f"：{n}个栏目无法正常访问，涉及栏目：" + "、".join(f"栏目{i}" for i in range(n)) in broken
    assert "：13次测试留言中1次未在3个工作日内答复\n" in text
