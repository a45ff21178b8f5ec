"""Verdicts: the only place that decides pass or fail (contract: docs/metrics.md).

    from monitor.scoring import metrics_table, pass_rate, format_rate
    df = metrics_table(store, config, parse_period("2023Q3"))
    print(format_rate(pass_rate(df)[2]))        # 合格率61.9%

Every rule kind of ``monitor.policy`` is judged in :func:`judge_rule` and
nowhere else. A rule whose inputs are unknown is not judged (and so not
failed); an account on which no rule of the policy could be judged is
``无法判定`` and is counted neither passed nor checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from monitor.clock import SHANGHAI
from monitor.config import Config
from monitor.metrics import EXPORT_METRIC_COLUMNS, LOOK_COVERS, compute
from monitor.period import Period
from monitor.policy import (
    RULE_KINDS,
    BrokenColumnsRule,
    InquiryDeadlineRule,
    NoInteractionRule,
    NoUpdateRule,
    Policy,
    PrivacyLeakRule,
    Rule,
    SecurityIncidentRule,
)
from monitor.store import Store

PASS = "合格"
FAIL = "不合格"
UNKNOWN = "无法判定"
VERDICTS = (PASS, FAIL, UNKNOWN)
SCORE_COLUMNS: tuple[str, ...] = ("verdict", "reasons", "score", "failed_rules")
# SPEC's export columns (--headers en).
EXPORT_COLUMNS: tuple[str, ...] = EXPORT_METRIC_COLUMNS + ("verdict", "reasons")
REASON_SEPARATOR = "；"
UNKNOWN_REASON = "未取得可供判定的监测数据"

PRIVACY_TYPE_ZH = {"id_card": "身份证号", "mobile": "手机号", "bank_card": "银行卡号"}


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule on one account. ``judged``: its inputs were known. ``occurrences``:
    how many times it failed beyond what it tolerates (points deductions)."""

    judged: bool
    failed: bool = False
    occurrences: int = 0
    reason: str = ""


NOT_JUDGED = RuleOutcome(judged=False)
PASSED = RuleOutcome(judged=True)


def _known(value: Any) -> bool:
    return value is not None and value is not pd.NA and value is not pd.NaT and not (
        isinstance(value, float) and math.isnan(value))


def _int(value: Any) -> int:
    return int(value) if _known(value) else 0


def _weeks_or_days(days: int) -> str:
    return f"{days // 7}周" if days % 7 == 0 else f"{days}天"


def _pct(rate: float) -> str:
    return f"{Decimal(repr(rate * 100)).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _check_date(row: Mapping[str, Any], context: Mapping[str, Any]) -> Any:
    as_of = context.get("as_of")
    if isinstance(as_of, datetime):  # the day of the last instant the metrics cover
        return (as_of - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    return None


# --------------------------------------------------------------- the rule kinds

def _no_update(rule: NoUpdateRule, row: Mapping[str, Any], context: Mapping[str, Any]) -> RuleOutcome:
    since = row.get("days_since_update")
    last = row.get("last_update")
    if not row.get("freshness_known") or since is None or not _known(since) or not _known(last):
        return NOT_JUDGED
    if since <= rule.days:
        return PASSED  # an article seen is proof, whatever the monitor saw after it
    blind = row.get("update_blind")
    if isinstance(blind, str) and blind:  # no source that sees 群发: silence proves nothing
        return RuleOutcome(False, reason=blind)
    last_day = pd.Timestamp(last).tz_convert(SHANGHAI).date()
    check = _check_date(row, context)
    unseen = row.get("days_unobserved")
    seen_until = row.get("freshness_seen_until")
    if isinstance(unseen, (int, float)) and _known(unseen) and unseen > 0 and _known(seen_until):
        # The monitor could not look for the end of the period: judge only the part it watched.
        look_day = (pd.Timestamp(seen_until) - LOOK_COVERS).tz_convert(SHANGHAI).date()
        down = (check - look_day).days if check is not None else math.ceil(unseen)
        if since - unseen <= rule.days:
            return RuleOutcome(False, reason=f"监测中断{down}天（最后成功核查{look_day.isoformat()}），"
                                             "更新情况无法判定")
        return RuleOutcome(True, True, 1, f"超过{_weeks_or_days(rule.days)}未更新"
                                          f"（最后更新{last_day.isoformat()}，至最后成功核查日"
                                          f"{look_day.isoformat()}已{(look_day - last_day).days}天）")
    days = (check - last_day).days if check is not None else math.floor(since)
    return RuleOutcome(True, True, 1, f"超过{_weeks_or_days(rule.days)}未更新"
                                      f"（最后更新{last_day.isoformat()}，距检查日{days}天）")


def _no_interaction(rule: NoInteractionRule, row: Mapping[str, Any], context: Mapping[str, Any]) -> RuleOutcome:
    sent = _int(row.get("inquiries_sent"))
    if sent == 0:
        return NOT_JUDGED
    # Any answer counts here, late or not: no national deadline exists for it.
    answered = _int(row.get("inquiries_answered_in_time")) + _int(row.get("inquiries_late"))
    rate = answered / sent
    if answered >= rule.min_answered and rate >= rule.min_response_rate:
        return PASSED
    who = "" if context.get("autoreply_counts_as_answer") else "人工"
    if answered == 0:
        detail = f"{sent}次测试留言均未获{who}答复"
    else:
        detail = f"{sent}次测试留言仅{answered}次获{who}答复"
        if rate < rule.min_response_rate:
            detail += f"，答复率{_pct(rate)}低于{_pct(rule.min_response_rate)}"
    return RuleOutcome(True, True, 1, f"无有效互动（{detail}）")


def _inquiry_deadline(rule: InquiryDeadlineRule, row: Mapping[str, Any],
                      context: Mapping[str, Any]) -> RuleOutcome:
    sent = _int(row.get("inquiries_sent"))
    if sent == 0:
        return NOT_JUDGED
    by_days = row.get("late_by_working_days")
    if isinstance(by_days, Mapping) and rule.working_days in by_days:
        late = int(by_days[rule.working_days])
    elif isinstance(by_days, Mapping) and by_days:
        raise ValueError(f"rule '{rule.id}': the metrics were computed without a {rule.working_days}-working-day "
                         f"deadline (they have {sorted(by_days)}); compute them with this policy")
    else:  # a table without the per-deadline detail: its own deadline
        late = _int(row.get("inquiries_late")) + _int(row.get("inquiries_unanswered"))
    if late <= rule.max_late:
        return PASSED
    tolerated = f"（允许{rule.max_late}次）" if rule.max_late else ""
    return RuleOutcome(True, True, late - rule.max_late,
                       f"{sent}次测试留言中{late}次未在{rule.working_days}个工作日内答复{tolerated}")


def _broken_columns(rule: BrokenColumnsRule, row: Mapping[str, Any], context: Mapping[str, Any]) -> RuleOutcome:
    if _int(row.get("columns_checked")) == 0:
        return NOT_JUDGED
    broken = _int(row.get("columns_broken"))
    if broken <= rule.max_broken:
        return PASSED
    tolerated = f"（允许{rule.max_broken}个）" if rule.max_broken else ""
    return RuleOutcome(True, True, broken - rule.max_broken, f"{broken}个栏目无法正常访问{tolerated}")


def _privacy_leak(rule: PrivacyLeakRule, row: Mapping[str, Any], context: Mapping[str, Any]) -> RuleOutcome:
    findings = _int(row.get("privacy_findings"))
    if findings == 0:  # evidence only: no finding is not proof of a scan
        return NOT_JUDGED
    if findings <= rule.max_findings:
        return PASSED
    by_type = row.get("privacy_by_type")
    detail = ""
    if isinstance(by_type, Mapping) and by_type:
        detail = "（" + "、".join(f"{PRIVACY_TYPE_ZH.get(t, t)}{n}处" for t, n in by_type.items()) + "）"
    tolerated = f"（允许{rule.max_findings}处）" if rule.max_findings else ""
    return RuleOutcome(True, True, findings - rule.max_findings, f"发现{findings}处个人信息泄露{detail}{tolerated}")


def _security_incident(rule: SecurityIncidentRule, row: Mapping[str, Any],
                       context: Mapping[str, Any]) -> RuleOutcome:
    incidents = _int(row.get("security_incidents"))
    if incidents == 0:  # evidence only
        return NOT_JUDGED
    details = row.get("security_incident_details")
    detail = ""
    if isinstance(details, (list, tuple)) and details:
        shown = [str(d) for d in details[:3]]
        more = f"等{len(details)}处" if len(details) > 3 else ""
        detail = "（" + "；".join(shown) + more + "）"
    return RuleOutcome(True, True, 1, f"发生{incidents}起安全、泄密事故{detail}")


_JUDGES: dict[str, Callable[[Any, Mapping[str, Any], Mapping[str, Any]], RuleOutcome]] = {
    "no_update": _no_update,
    "no_interaction": _no_interaction,
    "inquiry_deadline": _inquiry_deadline,
    "broken_columns": _broken_columns,
    "privacy_leak": _privacy_leak,
    "security_incident": _security_incident,
}
assert set(_JUDGES) == set(RULE_KINDS), "every rule kind is judged here"


def judge_rule(rule: Rule, row: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> RuleOutcome:
    """The outcome of one rule on one account's metrics (a row of the metrics table)."""
    return _JUDGES[rule.kind](rule, row, context or {})


# ----------------------------------------------------------------------- verdicts

def _points(value: float) -> str:
    return f"{value:g}"


def judge_account(policy: Policy, row: Mapping[str, Any],
                  context: Mapping[str, Any] | None = None) -> tuple[str, str, float, list[str]]:
    """(verdict, reasons, score, failed_rule_ids) of one account."""
    ctx = context or {}
    reasons: list[str] = []
    failed: list[str] = []
    judged = vetoed = False
    deducted = 0.0
    points = policy.mode == "points"
    notes: list[str] = []  # why a rule could not be judged, where it says
    for rule in policy.rules:
        outcome = judge_rule(rule, row, ctx)
        judged |= outcome.judged
        if not outcome.judged and outcome.reason:
            notes.append(outcome.reason)
        if not outcome.failed:
            continue
        failed.append(rule.id)
        if not points or rule.veto:
            vetoed = True
            reasons.append(outcome.reason)
            continue
        cost = rule.deduct * outcome.occurrences
        if rule.max_deduct is not None:
            cost = min(cost, rule.max_deduct)
        deducted += cost
        reasons.append(f"{outcome.reason}（扣{_points(cost)}分）")
    if not judged:
        return UNKNOWN, REASON_SEPARATOR.join(notes) or UNKNOWN_REASON, math.nan, []
    reasons += notes
    if not points:
        return (FAIL if vetoed else PASS), REASON_SEPARATOR.join(reasons), math.nan, failed
    score = float(policy.veto_score) if vetoed else max(0.0, float(policy.full_score) - deducted)
    verdict = PASS if score >= policy.pass_score else FAIL
    return verdict, REASON_SEPARATOR.join(reasons), score, failed


def score(metrics: pd.DataFrame, policy: Policy) -> pd.DataFrame:
    """The metrics table plus ``verdict``, ``reasons``, ``score`` (NaN in veto
    mode and for 无法判定) and ``failed_rules`` (rule ids), judged by ``policy``."""
    attrs = dict(metrics.attrs)
    computed = attrs.get("autoreply_counts_as_answer")
    if computed is not None and bool(computed) != policy.autoreply_counts_as_answer:
        raise ValueError(f"the metrics were computed with autoreply_counts_as_answer={computed}, policy "
                         f"'{policy.name}' says {policy.autoreply_counts_as_answer}; compute them with this policy")
    context = {"as_of": attrs.get("as_of"), "autoreply_counts_as_answer": policy.autoreply_counts_as_answer}
    results = [judge_account(policy, row, context) for row in metrics.to_dict("records")]
    out = metrics.copy()
    out["verdict"] = pd.Series([r[0] for r in results], index=out.index, dtype=object)
    out["reasons"] = pd.Series([r[1] for r in results], index=out.index, dtype=object)
    out["score"] = pd.Series([r[2] for r in results], index=out.index, dtype="float64")
    out["failed_rules"] = pd.Series([r[3] for r in results], index=out.index, dtype=object)
    out.attrs.update(attrs, scored_by=policy.name)
    return out


def pass_rate(verdicts: pd.DataFrame) -> tuple[int, int, float]:
    """(passed, checked, rate): 无法判定 counts in neither; rate NaN when nothing was checked."""
    v = verdicts["verdict"]
    passed = int((v == PASS).sum())
    checked = passed + int((v == FAIL).sum())
    return passed, checked, (passed / checked if checked else math.nan)


def format_rate(rate: float) -> str:
    """Like the bulletin: ``合格率61.9%`` (one decimal, half up); ``合格率—`` when unknown."""
    if not _known(rate) or not math.isfinite(float(rate)):
        return "合格率—"
    return f"合格率{_pct(float(rate))}"


def metrics_table(store: Store, config: Config, period: Period, *, now: datetime | None = None) -> pd.DataFrame:
    """The one entry point for the CLI and the dashboards: metrics of the period
    judged by the configuration's selected policy."""
    policy = config.selected_policy
    return score(compute(store, config, period, now=now, policy=policy), policy)
