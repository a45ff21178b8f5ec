"""The quarterly bulletin (通报) draft, in Markdown, from the scored frame only.

Shape of a real 通报: title; 一、总体情况 (how many accounts were checked, the
check ratio, the pass rate exactly as ``monitor.scoring`` computes it, the
well-maintained accounts); 二、存在问题 (one section per failed rule, how many
accounts, written the way bulletins write shares — "三分之一的账号", "近四分之一的账号"
— and each account with the masked details of its ``reasons``); 三、工作要求;
附件 (the well-maintained accounts; every account with its verdict).

Everything comes from the frame of ``monitor.scoring.score`` (docs/metrics.md):
never from the store, never from a scenario's truth.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards.labels import (
    FAIL,
    PASS,
    UNKNOWN,
    format_rate,
    frame_notes,
    is_missing,
    pass_rate,
    percent_text,
    period_info,
    rule_ids,
    split_reasons,
)

if TYPE_CHECKING:
    from monitor.period import Period
    from monitor.policy import Policy

_CN_NUMBERS = "零一二三四五六七八九十"
_ORDINALS = ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五"]
#: Shares bulletins name when a count is close to them (approximations use 近/超过).
_ROUND_SHARES = (Fraction(1, 2), Fraction(1, 3), Fraction(2, 3), Fraction(1, 4), Fraction(3, 4), Fraction(1, 5),
                 Fraction(1, 10))
_CLOSE = Fraction(1, 40)  # within 2.5 percentage points
_NAMED_BEST = 5


# --------------------------------------------------------------------------- shares in words


def _cn_number(n: int) -> str:
    if 0 <= n <= 10:
        return _CN_NUMBERS[n]
    if n < 20:
        return "十" + _CN_NUMBERS[n - 10]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _CN_NUMBERS[tens] + "十" + (_CN_NUMBERS[ones] if ones else "")
    return str(n)


def _fraction_cn(share: Fraction) -> str:
    if share == Fraction(1, 2):
        return "一半"
    return f"{_cn_number(share.denominator)}分之{_cn_number(share.numerator)}"


def fraction_words(part: int, whole: int) -> str:
    """How a bulletin says ``part`` of ``whole`` accounts.

    Exact when the share reduces to a denominator of at most 10 (7/21 ->
    三分之一, 1/2 -> 一半, 3/21 -> 七分之一); 全部 for all; close to a round share,
    近 (just under) or 超过 (just over) it (5/21 -> 近四分之一); otherwise the count
    and percentage, ``N个（占X%）`` (1/21 -> 1个（占4.8%）).
    """
    if whole <= 0 or not 0 <= part <= whole:
        raise ValueError(f"bad share {part}/{whole}")
    if part == 0:
        return "无"
    if part == whole:
        return "全部"
    share = Fraction(part, whole)
    if share.denominator <= 10:
        return _fraction_cn(share)
    nearest = min(_ROUND_SHARES, key=lambda s: (abs(s - share), s.denominator))
    if abs(nearest - share) <= _CLOSE:
        return ("近" if share < nearest else "超过") + _fraction_cn(nearest)
    return f"{part}个（占{percent_text(part, whole)}）"


def share_phrase(part: int, whole: int) -> str:
    """The subject of a problem sentence: ``三分之一的账号（7个）``, ``1个账号（占4.8%）``."""
    words = fraction_words(part, whole)
    if words == "全部":
        return f"全部{part}个账号"
    if words[0].isdigit():
        return f"{part}个账号（占{percent_text(part, whole)}）"
    return f"{words}的账号（{part}个）"


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class RuleInfo:
    id: str
    kind: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)


def _days_zh(days: int) -> str:
    """14 -> 2周 (as the rule labels write it), 10 -> 10天."""
    return f"{days // 7}周" if days % 7 == 0 and days >= 7 else f"{days}天"


def _problem_phrase(rule: RuleInfo) -> str:
    """What the accounts of a group did wrong, as the predicate of a bulletin sentence."""
    p = rule.params
    if rule.kind == "no_update":
        return f"在检查时间点前{_days_zh(int(p.get('days', 14)))}内未更新内容"
    if rule.kind == "no_interaction":
        return "互动回应差，测试留言未获得有效答复"
    if rule.kind == "inquiry_deadline":
        return f"未及时回复网民的简单咨询留言（超过{p.get('working_days', 3)}个工作日未答复）"
    if rule.kind == "broken_columns":
        return "存在栏目无法正常访问的情况（经多次检测确认）"
    if rule.kind == "privacy_leak":
        return "发布的内容泄露公民个人信息"
    if rule.kind == "security_incident":
        return "发生安全、泄密事故"
    return f"存在“{rule.label}”问题"


def rule_catalog(policy: Policy | None = None) -> dict[str, RuleInfo]:
    """Rule id -> id, kind, label and parameters, from the policy in use
    (``config.selected_policy``); without one, from the built-in demo-default
    (a superset of national-2019)."""
    if policy is None:
        from monitor.policy import builtin_policies

        policy = builtin_policies()["demo-default"]
    out: dict[str, RuleInfo] = {}
    for rule in policy.rules:
        params = rule.model_dump() if hasattr(rule, "model_dump") else dict(vars(rule))
        out[rule.id] = RuleInfo(rule.id, rule.kind, rule.label, params)
    return out


def _reason_for(rule_id: str, rule: RuleInfo | None, failed: list[str], parts: list[str]) -> str:
    """The part of an account's reasons that belongs to ``rule_id``.

    monitor.scoring writes one reason per failed rule, in the order of
    ``failed_rules``; when the counts disagree (a reason with ``；`` inside), a
    reason starting with the rule's label is taken, else all of them.
    """
    if len(parts) == len(failed) and rule_id in failed:
        return parts[failed.index(rule_id)]
    if rule is not None:
        for part in parts:
            if part.startswith(rule.label):
                return part
    return "；".join(parts) if parts else (rule.label if rule else rule_id)


def _detail(rule: RuleInfo | None, row: pd.Series) -> str:
    """Extra detail the metrics carry for a rule (the broken columns' paths)."""
    if rule is None or rule.kind != "broken_columns" or "broken_column_paths" not in row.index:
        return ""
    paths = row["broken_column_paths"]
    if isinstance(paths, str) or not hasattr(paths, "__iter__"):
        return ""
    names = [str(p) for p in paths if not is_missing(p)]
    return f"，涉及栏目：{'、'.join(names)}" if names else ""


# --------------------------------------------------------------------------- markdown


def _md(text: Any) -> str:
    """Text safe inside Markdown (and its tables)."""
    if is_missing(text):
        return ""
    out = " ".join(str(text).split())
    for ch in "\\`*_[]<>|":
        out = out.replace(ch, "\\" + ch)
    return out


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _who(row: pd.Series) -> str:
    """``江滨区教育局“江滨教育”`` — unit then the account's name, as bulletins name them."""
    unit, name = row.get("unit"), row.get("account_name")
    if is_missing(name):
        name = row.get("account_id")
    return f"{_md(unit)}“{_md(name)}”" if not is_missing(unit) else f"“{_md(name)}”"


def _sort_value(value: Any, descending: bool = False) -> float:
    if is_missing(value):
        return math.inf
    number = float(value)
    return -number if descending else number


def _well_maintained(passed: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
    """Passed accounts, best measures first, and whether the best ones have a clean record.

    A clean record (every test inquiry answered in time, columns checked and none
    broken, freshness known) is what lets the text say so.
    """
    def num(column: str) -> pd.Series:
        if column not in passed.columns:
            return pd.Series([math.nan] * len(passed), index=passed.index, dtype="float64")
        return pd.to_numeric(passed[column], errors="coerce")

    clean = (num("response_rate") == 1) & (num("columns_checked") > 0) & (num("columns_broken") == 0)
    if "freshness_known" in passed.columns:
        clean &= passed["freshness_known"].fillna(False).astype(bool)
    ranked = passed.assign(
        _not_clean=~clean,
        _rate=num("response_rate").map(lambda v: _sort_value(v, descending=True)),
        _median=num("median_reply_minutes").map(_sort_value),
        _stale=num("days_since_update").map(_sort_value),
        _gap=num("max_gap_days").map(_sort_value),
    ).sort_values(["_not_clean", "_rate", "_median", "_stale", "_gap"], kind="stable")
    return ranked, bool(clean.any())


# --------------------------------------------------------------------------- the bulletin


def render_bulletin(df: pd.DataFrame, period: Period | str, *, district: str | None = None,
                    policy: Policy | None = None, notes: Sequence[str] = ()) -> str:
    """The 通报 draft for ``period`` (a ``monitor.period.Period`` or its text) as Markdown.

    ``df`` is the scored frame (``monitor.scoring.score``); ``policy`` the policy
    it was scored with (``config.selected_policy``), for the rule labels and
    parameters; ``district`` names the issuing area (e.g. ``江滨区``). The 合格率
    is ``monitor.scoring.format_rate(pass_rate(df))``.
    """
    info = period_info(period)
    catalog = rule_catalog(policy)
    frame = df.reset_index(drop=True)
    verdict = frame["verdict"].astype(str)
    passed_n, checked_n, rate = pass_rate(frame)
    total = len(frame)
    unknown = frame[verdict == UNKNOWN]
    failed = frame[verdict == FAIL]
    passed = frame[verdict == PASS]
    where = district or "本地区"

    out: list[str] = [f"# 关于{info.label_zh}{district or ''}政务新媒体检查情况的通报", ""]
    draft = f"本稿由 wxmon 依据监测数据自动生成（监测期间：{info.span_zh or info.key}"
    if policy is not None:
        draft += f"；评分规则：{_md(policy.name)}"
    draft += "），供起草通报参考，印发前请逐项核对。"
    out += [f"> {draft}"]
    for note in [*frame_notes(df), *notes]:
        out += [">", f"> 说明：{_md(note)}"]
    out += ["", "各有关单位：", ""]
    span = f"于{info.span_zh}" if info.span_zh else f"在{info.label_zh}"
    out += [
        "为加强政务新媒体管理，根据《国务院办公厅关于推进政务新媒体健康有序发展的意见》（国办发〔2018〕123号）和"
        f"《政府网站与政务新媒体检查指标》（国办秘函〔2019〕19号）有关要求，{span}对{where}政务新媒体"
        "开展了常态化监测检查，内容包括内容更新、互动回应、栏目可用性和个人信息保护等方面。现将检查情况通报如下。",
        "",
    ]

    # 一、总体情况
    out += ["## 一、总体情况", ""]
    if checked_n:
        ratio = percent_text(checked_n, total).replace(".0%", "%")
        overall = (f"本次共检查政务新媒体{checked_n}个，检查比例{ratio}，{format_rate(rate)}"
                   f"（合格{passed_n}个，不合格{len(failed)}个）。")
    else:
        overall = (f"本次纳入监测的政务新媒体{total}个，{'均' if total > 1 else ''}未取得足以判定的监测数据，"
                   "未计算合格率。")
    if len(unknown) and checked_n:
        overall += (f"另有{len(unknown)}个账号因未能取得监测数据未作判定，不计入检查数："
                    + "、".join(_who(r) for _, r in unknown.iterrows()) + "。")
    out += [overall, ""]
    if len(passed):
        ranked, clean = _well_maintained(passed)
        best = ranked.head(_NAMED_BEST)
        names = "、".join(_who(r) for _, r in best.iterrows())
        more = "等" if len(passed) > len(best) else ""
        if clean:
            best = best[~best["_not_clean"]]
            names = "、".join(_who(r) for _, r in best.iterrows())
            out += [f"{names}{more}政务新媒体运维情况较好：内容保持更新，测试留言均按时答复，栏目均可正常访问。"
                    f"运维情况较好的政务新媒体名单见附件1。", ""]
        else:
            out += [f"{names}{more}政务新媒体运维情况相对较好，名单见附件1。", ""]
    elif checked_n:
        out += ["本次检查无合格的政务新媒体。", ""]

    # 二、存在问题
    out += ["## 二、存在问题", ""]
    groups: dict[str, list[tuple[pd.Series, str]]] = {}
    has_rules = "failed_rules" in frame.columns
    for _, row in failed.iterrows():
        parts = split_reasons(row.get("reasons"))
        ids = rule_ids(row.get("failed_rules")) if has_rules else []
        if not ids:  # no rule ids: group by the reason text itself
            ids = [p.split("（", 1)[0] for p in parts] or ["未注明原因"]
        for rid in dict.fromkeys(ids):
            reason = _reason_for(rid, catalog.get(rid), ids, parts) + _detail(catalog.get(rid), row)
            groups.setdefault(rid, []).append((row, reason))
    order = list(catalog)
    group_ids = sorted(groups, key=lambda g: (order.index(g) if g in order else len(order), -len(groups[g]), g))
    if not group_ids:
        out += ["本次检查未发现不合格问题。" if checked_n else "本次检查无可判定的账号。", ""]
    for n, rid in enumerate(group_ids):
        rule = catalog.get(rid) or RuleInfo(rid, "", rid)
        members = groups[rid]
        ordinal = _ORDINALS[n] if n < len(_ORDINALS) else str(n + 1)
        out += [f"### （{ordinal}）{_md(rule.label)}", ""]
        out += [f"{share_phrase(len(members), checked_n)}{_problem_phrase(rule)}。具体如下：", ""]
        for i, (row, reason) in enumerate(members, start=1):
            out += [f"{i}. {_who(row)}：{_md(reason)}"]
        out += [""]

    # 三、工作要求
    out += ["## 三、工作要求", ""] + _requirements(catalog, bool(group_ids)) + [""]

    # 附件
    out += ["## 附件", "", "### 附件1：运维情况较好的政务新媒体名单", ""]
    if len(passed):
        ranked, _ = _well_maintained(passed)
        out += _table(["序号", "账号名称", "主办单位", "类别"],
                      [[i, r.get("account_name"), r.get("unit"), r.get("category")]
                       for i, (_, r) in enumerate(ranked.iterrows(), start=1)])
    else:
        out += ["（无）"]
    out += ["", "### 附件2：政务新媒体检查结果一览表", ""]
    out += _table(["序号", "账号名称", "主办单位", "类别", "检查结论", "存在问题"],
                  [[i, r.get("account_name"), r.get("unit"), r.get("category"), r.get("verdict"),
                    r.get("reasons") if not is_missing(r.get("reasons")) and str(r.get("reasons")) else "—"]
                   for i, (_, r) in enumerate(frame.iterrows(), start=1)])
    out += [""]
    return "\n".join(out)


def _requirements(catalog: dict[str, RuleInfo], any_problem: bool) -> list[str]:
    kinds = {r.kind: r for r in catalog.values()}
    items = []
    first = "（一）压实主体责任。各单位要按照“谁开办、谁主管”的原则，切实履行政务新媒体主管主办责任"
    if any_problem:
        first += "，对本次通报的问题逐项整改，并于____年__月__日前将整改情况书面报送____。"
    else:
        first += "，保持良好运维水平。"
    items.append(first)
    reply = "（二）加强互动回应。建立健全网民留言受理、办理和反馈机制"
    if "inquiry_deadline" in kinds:
        days = kinds["inquiry_deadline"].params.get("working_days", 3)
        reply += f"，对网民的简单咨询类留言原则上在{days}个工作日内答复"
    reply += "，不得以自动回复代替人工答复，杜绝“只发不回”“回而不复”。"
    items.append(reply)
    fresh = "（三）保障内容更新和栏目可用。"
    if "no_update" in kinds:
        fresh += f"确保政务新媒体{_days_zh(int(kinds['no_update'].params.get('days', 14)))}内至少更新一次；"
    fresh += "定期巡查菜单栏目和链接，对无法访问的栏目及时修复或下线，对无力维护的账号按程序整合或关停。"
    items.append(fresh)
    items.append("（四）严格信息发布审核。落实“三审三校”制度，发布前严格审核，防止泄露公民身份证号码、手机号码、"
                 "银行卡号等个人信息；对已发现的问题信息立即删除或作脱敏处理。")
    items.append("（五）健全长效机制。各单位要将政务新媒体监管纳入日常工作，定期开展自查，"
                 "发现问题及时整改，确保政务新媒体安全、规范、有序运行。")
    out: list[str] = []
    for item in items:
        out += [item, ""]
    return out[:-1]
