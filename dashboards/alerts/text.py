"""The alerts' Chinese text: the account, the rule, the reason, and what to do."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from dashboards.alerts.rules import BROKEN_COLUMN, INQUIRY_OVERDUE, NO_UPDATE, PRIVACY
from monitor.clock import to_local
from monitor.config import Account

PREFIX = "【政务新媒体监测】"
FOOTER = "本消息由政务新媒体监测系统（wxmon）自动发送，请勿直接回复。"

RULE_ZH = {
    BROKEN_COLUMN: "栏目无法访问",
    INQUIRY_OVERDUE: "测试留言超期未答复",
    NO_UPDATE: "长期未更新预警",
    PRIVACY: "发布内容含个人信息",
}
WHAT_TO_DO = {
    BROKEN_COLUMN: "请检查并修复上述菜单栏目的链接或页面，确保每个栏目都能正常打开；修复后系统将自动复核。",
    INQUIRY_OVERDUE: "请及时登录公众号后台查看并答复用户留言，落实留言办理和答复机制。",
    NO_UPDATE: "请尽快发布信息：连续14天未更新将被判定为不合格（单项否决）。",
    PRIVACY: "请立即核查上述文章，删除或遮盖其中的个人信息，必要时撤回文章，并向主管部门报告处理情况。",
}
KIND_ZH = {"columns": "栏目检查", "freshness": "更新检查", "privacy": "个人信息扫描", "inquiry": "测试留言",
           "inquiry_poll": "测试留言", "conversations": "留言互动"}


def _when(at: datetime) -> str:
    return to_local(at).strftime("%Y-%m-%d %H:%M")


def alert(account: Account, rule: str, reason: str, at: datetime) -> tuple[str, str]:
    """(subject, body) telling a unit its account newly fails ``rule``."""
    label = RULE_ZH.get(rule, rule)
    subject = f"{PREFIX}{account.name}：{label}"
    body = "\n".join([
        f"{account.unit}：",
        "",
        f"贵单位主办的政务公众号“{account.name}”经监测发现以下问题：",
        f"问题类型：{label}",
        f"具体情况：{reason}",
        f"发现时间：{_when(at)}（北京时间）",
        f"处理建议：{WHAT_TO_DO.get(rule, '请尽快核查处理。')}",
        "",
        "问题消除后，系统复核确认时将另行发送恢复通知。",
        FOOTER,
    ])
    return subject, body


def recovery(account: Account, rule: str, reason: str, at: datetime) -> tuple[str, str]:
    """(subject, body) telling a unit the problem has cleared."""
    label = RULE_ZH.get(rule, rule)
    subject = f"{PREFIX}{account.name}：{label}已恢复"
    body = "\n".join([
        f"{account.unit}：",
        "",
        f"贵单位主办的政务公众号“{account.name}”此前提示的“{label}”问题经复核已恢复正常。",
        f"复核情况：{reason}" if reason else "",
        f"复核时间：{_when(at)}（北京时间）",
        "",
        FOOTER,
    ])
    return subject, body


def storm(changes: Sequence[tuple[Account, str, str]], total: int, at: datetime) -> tuple[str, str]:
    """(subject, body) for the supervisors when many accounts change in one round.
    ``changes``: (account, rule, "alert"|"recovery")."""
    alerts = [c for c in changes if c[2] == "alert"]
    recoveries = [c for c in changes if c[2] == "recovery"]
    subject = f"{PREFIX}{len({a.id for a, _, _ in changes})}个账号同时状态变化，请核实"
    by_rule = Counter((rule, kind) for _, rule, kind in changes)
    lines = [
        "各位领导：",
        "",
        f"{_when(at)}（北京时间）的一轮监测中，{total}个账号里有{len({a.id for a, _, _ in changes})}个同时发生状态变化"
        f"（新发现问题{len(alerts)}项，恢复{len(recoveries)}项）。如此多账号同时变化，可能是平台或监测系统自身的网络故障，"
        "因此本轮未向各单位逐一发送提醒，请先核实。",
        "",
        *(f"- {RULE_ZH.get(rule, rule)}：{'新发现' if kind == 'alert' else '恢复'}{n}个账号"
          for (rule, kind), n in sorted(by_rule.items())),
        "",
        "涉及账号：" + "、".join(sorted({a.name for a, _, _ in changes})[:30])
        + ("等" if len({a.id for a, _, _ in changes}) > 30 else ""),
        "",
        FOOTER,
    ]
    return subject, "\n".join(lines)


def outage(kind: str, errors: int, total: int, skipped: bool, at: datetime) -> tuple[str, str]:
    """(subject, body) for the supervisors: a round the monitor could not do."""
    what = KIND_ZH.get(kind, kind)
    subject = f"{PREFIX}监测系统{what}异常：本轮无法完成"
    why = ("监测系统自身网络不通（对照网址无法访问），本轮未检查任何账号"
           if skipped else f"{total}个账号中{errors}个无法完成检查（平台接口或监测系统网络故障）")
    body = "\n".join([
        "各位领导：",
        "",
        f"{_when(at)}（北京时间）的{what}：{why}。",
        "这是监测系统或平台的问题，不计入各账号的考核结果，也未向各单位发送提醒。请检查监测服务器的网络和平台接口。",
        "恢复后将另行通知。",
        "",
        FOOTER,
    ])
    return subject, body


def outage_over(kind: str, at: datetime) -> tuple[str, str]:
    what = KIND_ZH.get(kind, kind)
    subject = f"{PREFIX}监测系统{what}已恢复"
    body = "\n".join(["各位领导：", "", f"{_when(at)}（北京时间）的{what}已正常完成，监测恢复。", "", FOOTER])
    return subject, body


def digest(items: Sequence[tuple[str, str]], day: str) -> tuple[str, str]:
    """(subject, body) of one recipient's daily digest: ``items`` are (subject, body)."""
    subject = f"{PREFIX}{day}监测提醒汇总（{len(items)}条）"
    parts = [f"以下是{day}的{len(items)}条监测提醒：", ""]
    for n, (sub, body) in enumerate(items, 1):
        parts += [f"{n}. {sub.removeprefix(PREFIX)}", body.replace(FOOTER, "").rstrip(), ""]
    parts.append(FOOTER)
    return subject, "\n".join(parts)
