"""What each alert rule sees now, per account: failing (with what and why), ok, or unknown.

Unknown is the monitor's own trouble (a column it could not check, an inquiry it
could not look at, a span it did not watch): it never changes a state, so the
monitor's failure never reaches a unit as the unit's fault. Thresholds and their
wording come from the store's records and, for freshness, from
:func:`monitor.scoring.judge_rule` (the one home of the no-update rule).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from monitor.clock import to_local
from monitor.config import Config
from monitor.metrics import compute
from monitor.period import day_range
from monitor.policy import NoUpdateRule
from monitor.scoring import PRIVACY_TYPE_ZH, judge_rule
from monitor.store import Inquiry, Store
from monitor.store.alerts import AlertState

Status = Literal["failing", "ok", "unknown"]

BROKEN_COLUMN = "broken_column"
INQUIRY_OVERDUE = "inquiry_overdue"
NO_UPDATE = "no_update"
PRIVACY = "privacy"
RULES = (BROKEN_COLUMN, INQUIRY_OVERDUE, NO_UPDATE, PRIVACY)

INQUIRY_LOOKBACK = timedelta(days=60)  # the latest decided inquiry is sought this far back
FRESHNESS_SPAN_DAYS = 31  # the metrics span the no-update warning is computed on
MAX_LISTED = 10  # items named in one reason


@dataclass(frozen=True, slots=True)
class Observation:
    account_id: str
    rule: str
    status: Status
    items: tuple[str, ...] = ()
    reason: str = ""


def observe(store: Store, config: Config, rule: str, now: datetime,
            prior: Mapping[tuple[str, str], AlertState]) -> list[Observation]:
    """One observation per configured account for ``rule`` at ``now``."""
    if rule == BROKEN_COLUMN:
        return _broken_columns(store, config, prior)
    if rule == INQUIRY_OVERDUE:
        return _inquiries(store, config, now)
    if rule == NO_UPDATE:
        return _no_update(store, config, now)
    if rule == PRIVACY:
        return _privacy(store, config, now, prior)
    raise ValueError(f"unknown alert rule {rule!r}")


def _listed(parts: list[str]) -> str:
    shown = "；".join(parts[:MAX_LISTED])
    return shown + (f"等{len(parts)}项" if len(parts) > MAX_LISTED else "")


def _broken_columns(store: Store, config: Config,
                    prior: Mapping[tuple[str, str], AlertState]) -> list[Observation]:
    by_account = defaultdict(list)
    for state in store.get_column_states():
        by_account[state.account_id].append(state)
    out = []
    for account in config.accounts:
        states = {s.column_path: s for s in by_account.get(account.id, [])}
        before = prior.get((account.id, BROKEN_COLUMN))
        was = set(before.items) if before is not None and before.state == "failing" else set()
        broken = {p for p, s in states.items() if s.status == "broken"}
        # A column that was broken and now cannot be checked (the monitor's trouble) stays as it was.
        unseen = {p for p in was if p in states and states[p].status in ("error", "unverifiable")}
        if broken:
            items = sorted(broken | unseen)
            reasons = [f"“{p}”" + (f"（{states[p].reason}）" if p in broken and states[p].reason else "")
                       for p in items]
            out.append(Observation(account.id, BROKEN_COLUMN, "failing", tuple(items),
                                   f"{len(items)}个栏目经复核确认无法正常访问：{_listed(reasons)}"))
        elif unseen or not any(s.status in ("ok", "failing") for s in states.values()):
            out.append(Observation(account.id, BROKEN_COLUMN, "unknown"))
        else:
            out.append(Observation(account.id, BROKEN_COLUMN, "ok", (), "全部栏目经复核可正常访问"))
    return out


def _inquiries(store: Store, config: Config, now: datetime) -> list[Observation]:
    latest: dict[str, tuple[datetime, Inquiry]] = {}
    for q in store.inquiries_between(now - INQUIRY_LOOKBACK, now):
        # Only the probe's verdicts: a `sent` past its deadline means the monitor could not look.
        if (q.state in ("answered", "late", "unanswered") and q.sent_at is not None
                and (q.account_id not in latest or q.sent_at > latest[q.account_id][0])):
            latest[q.account_id] = (q.sent_at, q)
    out = []
    for account in config.accounts:
        if account.id not in latest:
            out.append(Observation(account.id, INQUIRY_OVERDUE, "unknown"))
            continue
        sent_at, q = latest[account.id]
        sent = to_local(sent_at).strftime("%Y-%m-%d %H:%M")
        deadline = f"，答复期限{to_local(q.deadline_at).strftime('%Y-%m-%d %H:%M')}" if q.deadline_at else ""
        if q.state == "answered":
            out.append(Observation(account.id, INQUIRY_OVERDUE, "ok", (),
                                   f"{sent}发送的测试留言已在期限内获得答复"))
        else:
            what = "逾期后才答复" if q.state == "late" else "超过期限仍未答复"
            out.append(Observation(account.id, INQUIRY_OVERDUE, "failing", (q.window_key,),
                                   f"{sent}发送的测试留言{what}（问题：“{q.question}”{deadline}）"))
    return out


def _no_update(store: Store, config: Config, now: datetime) -> list[Observation]:
    today = to_local(now).date()
    period = day_range(today - timedelta(days=FRESHNESS_SPAN_DAYS - 1), today)
    df = compute(store, config, period, now=now)
    days = config.alerts.no_update_warn_days
    rule = NoUpdateRule(id="alert-no-update", kind="no_update", label=f"超过{days}天未更新", days=days)
    context = {"as_of": df.attrs.get("as_of")}
    out = []
    for row in df.to_dict("records"):
        outcome = judge_rule(rule, row, context)
        account_id = str(row["account_id"])
        if not outcome.judged:  # blind sources or an unwatched span: not the account's fault
            out.append(Observation(account_id, NO_UPDATE, "unknown"))
        elif outcome.failed:
            out.append(Observation(account_id, NO_UPDATE, "failing", ("no_update",), outcome.reason))
        else:
            out.append(Observation(account_id, NO_UPDATE, "ok", (), "已有新发布的信息"))
    return out


def _privacy(store: Store, config: Config, now: datetime,
             prior: Mapping[tuple[str, str], AlertState]) -> list[Observation]:
    since = now - timedelta(days=config.alerts.privacy_days)
    found = defaultdict(list)
    for f in store.privacy_findings_between(since, now + timedelta(microseconds=1)):
        found[f.account_id].append(f)
    looks = store.last_looks("privacy", now + timedelta(microseconds=1))
    out = []
    for account in config.accounts:
        findings = found.get(account.id, [])
        if findings:
            sources = sorted({f.source for f in findings})
            # Only the masked text ever reaches the store, and so the message.
            parts = [f"{PRIVACY_TYPE_ZH.get(f.type, f.type)}{f.masked}（{f.source}）" for f in findings]
            out.append(Observation(account.id, PRIVACY, "failing", tuple(sources),
                                   f"发现{len(findings)}处个人信息：{_listed(parts)}"))
            continue
        before = prior.get((account.id, PRIVACY))
        look = looks.get(account.id)
        if look is None or (before is not None and look <= before.updated_at and before.state == "failing"):
            out.append(Observation(account.id, PRIVACY, "unknown"))  # no scan since: nothing proven
        else:
            out.append(Observation(account.id, PRIVACY, "ok", (),
                                   f"近{config.alerts.privacy_days}天的扫描未再发现个人信息"))
    return out
