"""Hand-built metrics/verdict frames for the dashboard tests (columns and dtypes of docs/metrics.md).

The column names come from their one definition (``monitor.metrics.COLUMNS`` and
``monitor.scoring.SCORE_COLUMNS``), so these frames cannot drift from the real
ones: a column added there and not built here fails every test using a frame.
The values are written by hand: nothing is computed by monitor.metrics or
monitor.scoring, so the dashboards are tested against the contract.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from monitor.metrics import COLUMNS
from monitor.scoring import SCORE_COLUMNS as SCORING_COLUMNS

SHANGHAI = ZoneInfo("Asia/Shanghai")
CHECK_DAY = datetime(2023, 9, 30, 23, 59, tzinfo=SHANGHAI)

METRIC_COLUMNS = list(COLUMNS)
SCORE_COLUMNS = list(SCORING_COLUMNS)
INT_COLUMNS = ["inquiries_sent", "inquiries_answered_in_time", "columns_checked", "columns_broken",
               "privacy_findings", "inquiries_late", "inquiries_unanswered", "inquiries_open", "inquiries_error",
               "auto_reply_only", "columns_unverifiable", "columns_error", "follower_messages", "follower_answered",
               "security_incidents"]
FLOAT_COLUMNS = ["response_rate", "median_reply_minutes", "p90_reply_minutes", "broken_column_rate", "max_gap_days",
                 "days_since_update", "follower_response_rate", "follower_median_reply_minutes", "score"]
BROKEN_PATHS = ["办事服务/社保查询", "互动交流/我要留言", "机构信息/新闻动态"]

# 21 fictional accounts in the demo's style; "007" keeps its leading zeros in every export.
ACCOUNTS: list[tuple[str, str, str, str]] = [
    ("jb-fabu", "江滨发布（模拟）", "江滨区人民政府办公室（模拟）", "区政府"),
    ("jd-binhe", "滨河街道（模拟）", "江滨区滨河街道办事处（模拟）", "乡镇街道"),
    ("jd-wanghai", "望海街道（模拟）", "江滨区望海街道办事处（模拟）", "乡镇街道"),
    ("jd-xinqiao", "新桥街道（模拟）", "江滨区新桥街道办事处（模拟）", "乡镇街道"),
    ("jd-chengdong", "城东街道（模拟）", "江滨区城东街道办事处（模拟）", "乡镇街道"),
    ("jd-yuquan", "玉泉街道（模拟）", "江滨区玉泉街道办事处（模拟）", "乡镇街道"),
    ("zh-lishui", "丽水镇（模拟）", "江滨区丽水镇人民政府（模拟）", "乡镇街道"),
    ("zh-qingshan", "青山镇（模拟）", "江滨区青山镇人民政府（模拟）", "乡镇街道"),
    ("zh-baisha", "白沙镇（模拟）", "江滨区白沙镇人民政府（模拟）", "乡镇街道"),
    ("zh-taoyuan", "桃源镇（模拟）", "江滨区桃源镇人民政府（模拟）", "乡镇街道"),
    ("bm-jyj", "江滨教育（模拟）", "江滨区教育局（模拟）", "政府部门"),
    ("bm-wjw", "江滨健康（模拟）", "江滨区卫生健康委员会（模拟）", "政府部门"),
    ("bm-scjg", "江滨市场监管（模拟）", "江滨区市场监督管理局（模拟）", "政府部门"),
    ("bm-rsj", "江滨人社（模拟）", "江滨区人力资源和社会保障局（模拟）", "政府部门"),
    ("bm-mzj", "江滨民政（模拟）", "江滨区民政局（模拟）", "政府部门"),
    ("bm-sthj", "江滨生态环境（模拟）", "江滨区生态环境局（模拟）", "政府部门"),
    ("bm-zjj", "江滨住建（模拟）", "江滨区住房和城乡建设委员会（模拟）", "政府部门"),
    ("bm-wlj", "江滨文旅（模拟）", "江滨区文化和旅游局（模拟）", "政府部门"),
    ("sy-tsg", "江滨图书馆（模拟）", "江滨区图书馆（模拟）", "事业单位"),
    ("sy-zwfw", "江滨政务服务（模拟）", "江滨区政务服务中心（模拟）", "事业单位"),
    ("007", "江滨区老年大学服务号超长名称测试（模拟）", "江滨区老年大学（模拟）", "其他"),
]

REASON_TEXT = {
    "stale": "超过2周未更新（最后更新2023-08-20，距检查日41天）",
    "inquiry_deadline": "留言超过3个工作日未答复（1条：2023-09-11发送，至期限无人工答复）",
    "broken_columns": "栏目无法正常访问（办事服务/社保查询：页面不存在）",
    "privacy_leak": "泄露个人信息（身份证号 330102********123X，2023-08-03文章）",
}
RULE_ORDER = ["stale", "no_interaction", "security_incident", "privacy_leak", "inquiry_deadline", "broken_columns"]

#: account id -> failed rules in the bulletin frame: 8 of 21 fail (合格率61.9%);
#: inquiry_deadline 7 (三分之一), stale 3 (七分之一), broken_columns 5 (近四分之一), privacy_leak 1.
FAILURES: dict[str, list[str]] = {
    "jd-binhe": ["inquiry_deadline", "stale"],
    "jd-wanghai": ["inquiry_deadline", "broken_columns"],
    "jd-xinqiao": ["inquiry_deadline"],
    "zh-lishui": ["inquiry_deadline", "broken_columns"],
    "zh-qingshan": ["inquiry_deadline", "privacy_leak"],
    "zh-baisha": ["inquiry_deadline", "broken_columns"],
    "bm-scjg": ["inquiry_deadline", "stale", "broken_columns"],
    "007": ["stale", "broken_columns"],
}


def _row(account: tuple[str, str, str, str], failed: list[str], rng: random.Random) -> dict[str, object]:
    account_id, name, unit, category = account
    sent = 13
    late = 1 if "inquiry_deadline" in failed else 0
    answered = sent - late
    median = rng.uniform(30, 900)
    stale = "stale" in failed
    days = 41.0 if stale else round(rng.uniform(0.2, 6.0), 1)
    checked = rng.randint(8, 16)
    broken = (1 + rng.randint(0, 2)) if "broken_columns" in failed else 0
    return {
        "account_id": account_id, "account_name": name, "unit": unit, "category": category,
        "inquiries_sent": sent, "inquiries_answered_in_time": answered, "response_rate": answered / sent,
        "median_reply_minutes": round(median, 1), "p90_reply_minutes": round(median * 3.1, 1),
        "columns_checked": checked, "columns_broken": broken, "broken_column_rate": broken / checked,
        "last_update": CHECK_DAY - timedelta(days=days, minutes=rng.randint(0, 600)),
        "max_gap_days": max(days, round(rng.uniform(1, 9), 1)),
        "privacy_findings": 1 if "privacy_leak" in failed else 0,
        "days_since_update": days, "inquiries_late": late, "inquiries_unanswered": 0, "inquiries_open": 0,
        "inquiries_error": 0, "auto_reply_only": 0, "columns_unverifiable": 0, "columns_error": 0,
        "freshness_known": True, "follower_messages": 0, "follower_answered": 0,
        "freshness_seen_until": CHECK_DAY, "days_unobserved": 0.0,  # watched to the end
        "update_sources": ["feed"], "update_blind": None,  # a source that sees 群发 and 发表
        "follower_response_rate": math.nan, "follower_median_reply_minutes": math.nan, "security_incidents": 0,
        "late_by_working_days": {3: late}, "broken_column_paths": BROKEN_PATHS[:broken],
        "privacy_by_type": {"id_card": 1} if "privacy_leak" in failed else {},
        "security_incident_details": [],
        "verdict": "不合格" if failed else "合格",
        "reasons": "；".join(REASON_TEXT[r] for r in failed),
        "score": math.nan,
        "failed_rules": list(failed),
    }


def typed(rows: list[dict[str, object]]) -> pd.DataFrame:
    """A frame with the contract's column order and dtypes."""
    columns = METRIC_COLUMNS + SCORE_COLUMNS
    for row in rows:  # every column of the real frames, and none of its own
        if set(row) != set(columns):
            raise AssertionError(f"dashboard_frames is out of date: missing {sorted(set(columns) - set(row))}, "
                                 f"unknown {sorted(set(row) - set(columns))}")
    unknown = set(INT_COLUMNS + FLOAT_COLUMNS) - set(columns)
    if unknown:
        raise AssertionError(f"dashboard_frames types columns the real frames do not have: {sorted(unknown)}")
    df = pd.DataFrame(rows, columns=columns)
    for column in INT_COLUMNS:
        df[column] = df[column].astype("int64")
    for column in FLOAT_COLUMNS:
        df[column] = df[column].astype("float64")
    df["last_update"] = pd.to_datetime(df["last_update"], utc=True).dt.tz_convert("Asia/Shanghai")
    df["freshness_known"] = df["freshness_known"].astype(bool)
    df["freshness_seen_until"] = pd.to_datetime(df["freshness_seen_until"], utc=True).dt.tz_convert("Asia/Shanghai")
    df["days_unobserved"] = df["days_unobserved"].astype("float64")
    return df


def bulletin_frame() -> pd.DataFrame:
    """The 21-account quarter: 13 合格, 8 不合格 (see FAILURES)."""
    rng = random.Random(7)
    # failed_rules in policy order, the reasons in the same order.
    return typed([_row(a, sorted(FAILURES.get(a[0], []), key=RULE_ORDER.index), rng) for a in ACCOUNTS])


def many_accounts_frame(n: int = 200, seed: int = 1) -> pd.DataFrame:
    """``n`` accounts with varied results, some unknown, long names included."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        account = (f"acct-{i:03d}", f"江滨区第{i}号政务服务公众号（模拟）" if i % 7 == 0 else f"测试账号{i}（模拟）",
                   f"江滨区第{i}单位（模拟）", "政府部门")
        failed = [r for r, p in (("stale", 0.15), ("inquiry_deadline", 0.2), ("broken_columns", 0.1))
                  if rng.random() < p]
        rows.append(_row(account, sorted(failed, key=RULE_ORDER.index), rng))
    df = typed(rows)
    # A few accounts the monitor could not measure at all.
    for i in range(0, n, 37):
        df.loc[i, ["inquiries_sent", "inquiries_answered_in_time", "columns_checked", "columns_broken"]] = 0
        df.loc[i, ["response_rate", "median_reply_minutes", "p90_reply_minutes", "broken_column_rate",
                   "days_since_update", "max_gap_days"]] = math.nan
        df.loc[i, "last_update"] = pd.NaT
        df.loc[i, "freshness_known"] = False
        df.loc[i, "verdict"] = "无法判定"
        df.loc[i, "reasons"] = ""
        df.at[i, "failed_rules"] = []
        df.at[i, "late_by_working_days"] = {}
        df.at[i, "broken_column_paths"] = []
        df.at[i, "privacy_by_type"] = {}
        df.at[i, "security_incident_details"] = []
    return df


def inquiries_for(df: pd.DataFrame, seed: int = 3, per_account: int = 6) -> pd.DataFrame:
    """Test inquiries per account (the latency chart's input): deadlines 3..5 days of wall time."""
    rng = random.Random(seed)
    rows = []
    for account_id, failed in zip(df["account_id"], df["failed_rules"]):
        slow = "inquiry_deadline" in failed
        for k in range(per_account):
            sent = datetime(2023, 7, 3, 9, tzinfo=SHANGHAI) + timedelta(weeks=k)
            deadline = sent + timedelta(days=rng.choice([3, 3, 5]), hours=15)
            if slow and k == 0:
                state, latency = ("unanswered", math.nan) if rng.random() < 0.5 else ("late", 60 * 24 * 7.5)
            else:
                latency = rng.uniform(20, 60 * 24 * (2.5 if slow else 1.5))
                state = "answered"
            rows.append({"account_id": account_id, "state": state, "latency_minutes": latency,
                         "sent_at": sent, "deadline_at": deadline})
    rows.append({"account_id": df["account_id"].iloc[0], "state": "sent", "latency_minutes": math.nan,
                 "sent_at": datetime(2023, 9, 29, 9, tzinfo=SHANGHAI), "deadline_at": None})
    return pd.DataFrame(rows)


def weekly_frames(base: pd.DataFrame, weeks: list[str], seed: int = 5) -> dict[str, pd.DataFrame]:
    """``week_key -> scored frame``: verdicts vary week by week (the last week is ``base`` itself)."""
    rng = random.Random(seed)
    out: dict[str, pd.DataFrame] = {}
    for week in weeks[:-1]:
        frame = base.copy()
        frame["verdict"] = [
            v if v == "无法判定" else ("不合格" if rng.random() < (0.55 if v == "不合格" else 0.15) else "合格")
            for v in base["verdict"]
        ]
        out[week] = frame
    out[weeks[-1]] = base
    return out
