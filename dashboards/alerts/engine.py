"""From observations to messages: once per account and rule change, a recovery when it
clears, never a repeat while the state holds (the state is in the store), and no storms.

    evaluate(store, config, rules_for("columns"), now, rounds=[run])   # after a round
    deliver(store, config, now)                                         # what is due now
    send_digests(store, config, now)                                    # at alerts.digest_time

A storm: more than ``alerts.storm_percent`` of the accounts (and at least
``storm_min_accounts``) change in one evaluation, or a round the monitor could
not do (canary-skipped, or that share of the accounts turned error). Then the
supervisors get one message and the units none; the states still move, so
nothing is told again afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from dashboards.alerts import text
from dashboards.alerts.providers import (
    Alert,
    DeliveryError,
    Recipient,
    account_recipients,
    all_recipients,
    one_line,
    supervisor_recipients,
)
from dashboards.alerts.rules import RULES, Observation, observe
from monitor.clock import to_local
from monitor.config import Config
from monitor.store import ProbeRun, Store
from monitor.store.alerts import MONITOR_ACCOUNT, AlertState, NewMessage

log = logging.getLogger("wxmon.alerts")

# The rounds after which each rule can have changed (job name -> rules).
RULES_BY_JOB: dict[str, tuple[str, ...]] = {
    "columns": ("broken_column",),
    "inquiry_poll": ("inquiry_overdue",),
    "freshness": ("no_update",),
    "privacy": ("privacy",),
}
OUTAGE_RULE = "outage:"  # + probe kind: the monitor's own state, account ""


def rules_for(job: str) -> tuple[str, ...]:
    return RULES_BY_JOB.get(job, ())


@dataclass
class Outcome:
    """What one evaluation did (for logs and tests)."""

    alerts: list[tuple[str, str]] = field(default_factory=list)  # (account, rule) newly failing
    recoveries: list[tuple[str, str]] = field(default_factory=list)
    storm: bool = False
    outages: list[str] = field(default_factory=list)  # probe kinds newly out
    queued: int = 0


def _is_outage(run: ProbeRun, config: Config) -> bool:
    if run.status == "running":
        return False
    if isinstance(run.detail, Mapping) and run.detail.get("skipped"):
        return True  # the canary said the monitor's network is down: nothing was checked
    total = max(run.accounts_total, 1)
    a = config.alerts
    return run.accounts_error >= min(a.storm_min_accounts, total) and run.accounts_error * 100 > a.storm_percent * total


def _queue(recipients: Iterable[Recipient], account_id: str, rule: str, kind: str,
           subject: str, body: str) -> list[NewMessage]:
    return [NewMessage(r.provider.key, account_id, rule, kind, subject, body, r.digest) for r in recipients]


def evaluate(store: Store, config: Config, rules: Sequence[str], now: datetime, *,
             rounds: Sequence[ProbeRun] = ()) -> Outcome:
    """Compare what the rules see now with the stored states; queue the messages of the changes."""
    outcome = Outcome()
    if not config.alerts.enabled:
        return outcome
    states: list[AlertState] = []
    messages: list[NewMessage] = []
    supervisors = supervisor_recipients(config)

    # The monitor's own trouble first: it is told to the supervisors, once, and suppresses this round.
    out_now: set[str] = set()
    prior_all = store.alert_states()
    for run in rounds:
        key = (MONITOR_ACCOUNT, OUTAGE_RULE + run.kind)
        before = prior_all.get(key)
        was_out = before is not None and before.state == "failing"
        if _is_outage(run, config):
            out_now.add(run.kind)
            if not was_out:
                skipped = isinstance(run.detail, Mapping) and bool(run.detail.get("skipped"))
                subject, body = text.outage(run.kind, run.accounts_error, run.accounts_total, skipped, now)
                messages += _queue(supervisors, MONITOR_ACCOUNT, key[1], "outage", subject, body)
                states.append(AlertState(*key, "failing", (run.kind,), subject, now, now))
                outcome.outages.append(run.kind)
        elif was_out:
            subject, body = text.outage_over(run.kind, now)
            messages += _queue(supervisors, MONITOR_ACCOUNT, key[1], "outage_over", subject, body)
            states.append(AlertState(*key, "ok", (), subject, now, now))

    changes: list[tuple[Observation, str, AlertState | None]] = []  # (observation, alert|recovery, before)
    if not out_now:
        for rule in rules:
            if rule not in RULES:
                raise ValueError(f"unknown alert rule {rule!r}")
            for obs in observe(store, config, rule, now, prior_all):
                before = prior_all.get((obs.account_id, rule))
                change = _transition(before, obs)
                if change is not None:
                    changes.append((obs, change, before))
                new = _new_state(before, obs, now)
                if new is not None:
                    states.append(new)

    accounts = config.accounts_by_id
    changed_accounts = {obs.account_id for obs, _, _ in changes}
    a = config.alerts
    if (len(changed_accounts) >= a.storm_min_accounts
            and len(changed_accounts) * 100 > a.storm_percent * max(len(config.accounts), 1)):
        outcome.storm = True
        subject, body = text.storm([(accounts[o.account_id], o.rule, c) for o, c, _ in changes],
                                   len(config.accounts), now)
        messages += _queue(supervisors, MONITOR_ACCOUNT, "storm", "storm", subject, body)
    else:
        for obs, change, before in changes:
            account = accounts[obs.account_id]
            if change == "alert":
                reason = obs.reason
                if before is not None and before.state == "failing":  # more of the same: name what is new
                    added = [i for i in obs.items if i not in before.items]
                    reason = f"新增{len(added)}项。{obs.reason}"
                subject, body = text.alert(account, obs.rule, reason, now)
            else:
                subject, body = text.recovery(account, obs.rule, obs.reason, now)
            recipients = account_recipients(config, obs.account_id)
            if not recipients:
                log.warning("account %s has no contact to tell about %s (%s)", obs.account_id, obs.rule, change)
            messages += _queue(recipients, obs.account_id, obs.rule, "alert" if change == "alert" else "recovery",
                               subject, body)
    for obs, change, _ in changes:
        (outcome.alerts if change == "alert" else outcome.recoveries).append((obs.account_id, obs.rule))
    if states or messages:
        store.apply_alert_changes(states, messages, at=now)
    outcome.queued = len(messages)
    if changes or outcome.outages:
        log.info("alerts: %d new, %d recovered, %d messages queued%s", len(outcome.alerts),
                 len(outcome.recoveries), len(messages), " (storm: one message to the supervisors)"
                 if outcome.storm else "")
    return outcome


def _transition(before: AlertState | None, obs: Observation) -> str | None:
    """alert | recovery | None."""
    if obs.status == "unknown":
        return None
    failing_before = before is not None and before.state == "failing"
    if obs.status == "failing":
        if not failing_before:
            return "alert"
        assert before is not None
        return "alert" if any(i not in before.items for i in obs.items) else None
    return "recovery" if failing_before else None


def _new_state(before: AlertState | None, obs: Observation, now: datetime) -> AlertState | None:
    if obs.status == "unknown":
        return None
    if before is not None and before.state == obs.status and before.items == obs.items:
        return None  # unchanged: nothing written
    since = before.since if before is not None and before.state == obs.status else now
    return AlertState(obs.account_id, obs.rule, obs.status, obs.items, obs.reason, since, now)


# ---------------------------------------------------------------------------- delivery

@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0


def deliver(store: Store, config: Config, now: datetime, *, env: Mapping[str, str] | None = None) -> Delivery:
    """Send every immediate message still pending (failed ones are retried up to alerts.max_attempts)."""
    result = Delivery()
    pending = store.pending_alert_messages(digest=False)
    if not pending:
        return result
    recipients = all_recipients(config, env=env)
    for m in pending:
        r = recipients.get(m.recipient)
        if r is None:
            store.mark_alert_messages([m.id], sent=False, error="recipient no longer in accounts.yaml", at=now)
            result.failed += 1
            continue
        error = _send(r, Alert(m.subject, m.body))
        store.mark_alert_messages([m.id], sent=error is None, error=error, max_attempts=config.alerts.max_attempts,
                                  at=now)
        if error is None:
            result.sent += 1
        else:
            result.failed += 1
    return result


def _send(r: Recipient, alert: Alert) -> str | None:
    """None when delivered, else the (secret-free) reason."""
    try:
        r.provider.send(alert)
    except DeliveryError as exc:
        error = one_line(str(exc))
        log.warning("alert to %s not delivered: %s", r.provider.label, error)
        return error
    except Exception as exc:  # a provider's bug fails this recipient, not the round
        error = one_line(f"{type(exc).__name__}: {exc}")
        log.warning("alert to %s failed: %s", r.provider.label, error)
        return error
    log.info("alert delivered to %s", r.provider.label)
    return None


def send_digests(store: Store, config: Config, now: datetime, *, env: Mapping[str, str] | None = None) -> Delivery:
    """One message per digest recipient with everything queued for them before ``now``."""
    result = Delivery()
    pending = store.pending_alert_messages(digest=True, before=now)
    if not pending:
        return result
    recipients = all_recipients(config, env=env)
    by_recipient: dict[str, list[int]] = {}
    items: dict[str, list[tuple[str, str]]] = {}
    for m in pending:
        by_recipient.setdefault(m.recipient, []).append(m.id)
        items.setdefault(m.recipient, []).append((m.subject, m.body))
    day = to_local(now).strftime("%Y-%m-%d")
    for key, ids in by_recipient.items():
        r = recipients.get(key)
        if r is None:
            store.mark_alert_messages(ids, sent=False, error="recipient no longer in accounts.yaml", at=now)
            result.failed += 1
            continue
        subject, body = text.digest(items[key], day)
        error = _send(r, Alert(subject, body))
        store.mark_alert_messages(ids, sent=error is None, error=error, max_attempts=config.alerts.max_attempts,
                                  at=now)
        if error is None:
            result.sent += 1
        else:
            result.failed += 1
    return result
