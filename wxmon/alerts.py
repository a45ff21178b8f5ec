"""Alerts in the daemon: after a round that can change a rule's state, evaluate and send;
the daily digest at ``alerts.digest_time``. The work is in ``dashboards.alerts``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger

from dashboards.alerts import Delivery, Outcome, deliver, evaluate, rules_for, send_digests
from monitor.clock import SHANGHAI
from monitor.config import Config
from monitor.errors import BadInput
from monitor.store import ProbeRun, Store

if TYPE_CHECKING:
    from monitor.context import ProbeContext

log = logging.getLogger("wxmon.alerts")

# One evaluation or delivery at a time: two jobs finishing together must not send a message twice.
_LOCK = threading.Lock()


def digest_trigger(config: Config) -> CronTrigger:
    hour, minute = config.alerts.digest_time.split(":")
    return CronTrigger(hour=int(hour), minute=int(minute), timezone=SHANGHAI)


def _after_job(ctx: ProbeContext, job: str, runs: Sequence[ProbeRun]) -> tuple[Outcome, Delivery]:
    now = ctx.now()
    with _LOCK:
        outcome = evaluate(ctx.store, ctx.config, rules_for(job), now, rounds=runs)
        return outcome, deliver(ctx.store, ctx.config, now)


async def after_job(ctx: ProbeContext, job: str, runs: Sequence[ProbeRun] = ()) -> tuple[Outcome, Delivery] | None:
    """Evaluate the rules ``job`` can change and send what is due; None when alerts are off.
    Never raises: an alert failure must not fail the round."""
    if not ctx.config.alerts.enabled or not (rules_for(job) or runs):
        return None
    try:
        return await asyncio.to_thread(_after_job, ctx, job, runs)
    except Exception:
        log.exception("alerts after %s failed", job)
        return None


def _digest(ctx: ProbeContext) -> Delivery:
    with _LOCK:
        return send_digests(ctx.store, ctx.config, ctx.now())


async def digest(ctx: ProbeContext) -> Delivery | None:
    """The daily digest (one message per recipient with digest: true)."""
    if not ctx.config.alerts.enabled:
        return None
    return await asyncio.to_thread(_digest, ctx)


# -- wxmon alerts status | test ------------------------------------------------------------------

def status_lines(config: Config, store: Store) -> list[str]:
    """The failing states (what the units have been told) and the delivery queue."""
    from dashboards.alerts.text import RULE_ZH
    from monitor.clock import to_local
    from monitor.store.alerts import MONITOR_ACCOUNT

    names = {a.id: a.name for a in config.accounts}
    lines = [f"提醒：{'已启用' if config.alerts.enabled else '未启用（alerts.enabled: false）'}"]
    failing = [s for s in store.alert_states().values() if s.state == "failing"]
    for s in sorted(failing, key=lambda s: (s.account_id, s.rule)):
        who = "监测系统" if s.account_id == MONITOR_ACCOUNT else names.get(s.account_id, s.account_id)
        rule = RULE_ZH.get(s.rule, s.rule)
        lines.append(f"{who}\t{rule}\t自{to_local(s.since).strftime('%Y-%m-%d %H:%M')}\t{s.reason or ''}")
    if not failing:
        lines.append("当前没有未恢复的问题")
    messages = store.alert_messages()
    pending = sum(1 for m in messages if m.status == "pending")
    failed = [m for m in messages if m.status == "failed"]
    lines.append(f"待发送{pending}条，发送失败{len(failed)}条")
    lines += [f"失败：{m.recipient.split(':', 1)[0]} {m.subject}：{m.error or ''}" for m in failed[-10:]]
    return lines


def send_test(config: Config, account_id: str | None = None) -> list[tuple[str, str | None]]:
    """A test message to every recipient (or the account's contacts): (label, None | error)."""
    from dashboards.alerts.providers import Alert, DeliveryError, account_recipients, supervisor_recipients
    from dashboards.alerts.text import FOOTER, PREFIX

    if account_id is not None:
        recipients = account_recipients(config, config.account(account_id).id)
    else:
        recipients = list({r.provider.key: r for r in [
            *supervisor_recipients(config), *(r for a in config.accounts for r in account_recipients(config, a.id))
        ]}.values())
    if not recipients:
        raise BadInput(f"{config.source or 'accounts.yaml'}: no contact or supervisor with an e-mail address or "
                       "apprise URL to send to")
    alert = Alert(f"{PREFIX}测试消息", f"这是一条测试消息：政务新媒体监测系统的提醒可以送达此处。\n{FOOTER}")
    results: list[tuple[str, str | None]] = []
    for r in recipients:
        try:
            r.provider.send(alert)
            results.append((r.provider.label, None))
        except DeliveryError as exc:
            results.append((r.provider.label, str(exc).removeprefix(f"{r.provider.label}: ")))
    return results


def _cmd_alerts(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    config = load_config(Path(args.config))
    if args.alerts_command == "status":
        with Store.open(config.store_url) as store:
            for line in status_lines(config, store):
                print(line)
        return 0
    results = send_test(config, args.account)
    for label, error in results:
        print(f"已送达\t{label}" if error is None else f"失败\t{label}\t{error}")
    return 0 if all(error is None for _, error in results) else 1


def register(sub: argparse._SubParsersAction[Any],
             with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
             parser_class: type[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("alerts", help="alerts to the units: what is failing, and a test message (docs/alerts.md)")
    alerts_sub = p.add_subparsers(dest="alerts_command", required=True, parser_class=parser_class)
    status = with_config(alerts_sub.add_parser("status", help="the problems told and not yet recovered, and "
                                                              "the delivery queue"))
    status.set_defaults(func=_cmd_alerts)
    test = with_config(alerts_sub.add_parser(
        "test", help="send a test message to every recipient (exit 1 when one was not delivered)"))
    test.add_argument("--account", default=None, help="only this account's contacts")
    test.set_defaults(func=_cmd_alerts, account=None)
