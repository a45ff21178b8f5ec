"""Feeds the reports: measurements from the store, verdicts from scoring, drawing by dashboards/.

The one place where the weekly report, the export and the bulletin get their
inputs, so the CLI, the daemon and the demo produce the same documents.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from dashboards.charts import inquiries_frame
from dashboards.mail import MailConfigError, SmtpSettings, build_message, recipient, send_each
from dashboards.weekly import WeeklyReport, build_weekly_report
from monitor.config import Config
from monitor.errors import BadInput
from monitor.period import Period, iso_week, parse_week
from monitor.scoring import metrics_table
from monitor.store import Store

log = logging.getLogger("wxmon.weekly")

REPORT_KIND = "weekly"


@dataclass(frozen=True)
class SendResult:
    recipient: str
    status: Literal["sent", "failed", "skipped"]  # skipped: already sent for this week
    error: str | None = None


HISTORY_WEEKS = 8  # weeks shown in the trend and the heatmap


def previous_weeks(week: Period, count: int) -> list[Period]:
    """``count`` ISO weeks ending with ``week``, oldest first."""
    weeks = []
    for back in range(count - 1, -1, -1):
        year, num, _ = (week.first_day - timedelta(days=7 * back)).isocalendar()
        weeks.append(iso_week(year, num))  # not parse_period: history may reach before FIRST_YEAR
    return weeks


def weekly_report(config: Config, store: Store, week_key: str, out_dir: Path | None = None, *,
                  send: bool = False, now: datetime | None = None) -> tuple[WeeklyReport, list[SendResult]]:
    """Build (and with ``send`` e-mail) the weekly report of ``week_key``; returns (report, send results)."""
    week = parse_week(week_key)
    history = {w.key: metrics_table(store, config, w, now=now) for w in previous_weeks(week, HISTORY_WEEKS)}
    verdicts = history[week.key]
    inquiries = inquiries_frame(store.inquiries_between(week.start, week.end))
    target = out_dir / week.key if out_dir is not None else None
    report = build_weekly_report(verdicts, week, target, history=history, inquiries=inquiries,
                                 policy=config.selected_policy)
    results = send_weekly(config, store, report, week.key) if send else []
    return report, results


def send_weekly(config: Config, store: Store, report: WeeklyReport, week_key: str | None = None, *,
                env: Mapping[str, str] | None = None, ssl_context: ssl.SSLContext | None = None,
                local_hostname: str | None = None) -> list[SendResult]:
    """E-mail ``report`` to every supervisor not yet recorded as sent for this week.

    One message per supervisor over one SMTP session (dashboards.mail.send_each);
    every outcome is recorded in the store (``record_report_sent``) right after
    the session, so a rerun skips those sent and retries those that failed. A
    refused address fails alone. Raises :class:`BadInput` when the configuration
    has no smtp or no supervisors, or the SMTP credentials it names are not set.
    """
    key = week_key or report.week_key
    source = config.source or "accounts.yaml"
    if config.smtp is None:
        raise BadInput(f"{source}: smtp: not configured; the weekly report has nowhere to be sent from")
    supervisors = list(config.supervisors)
    if not supervisors:
        raise BadInput(f"{source}: supervisors: empty; nobody to send the weekly report to")
    settings = SmtpSettings.from_config(config.smtp)

    results: dict[str, SendResult] = {}
    pending: list[tuple[str, str, EmailMessage]] = []  # (email, name, message)
    seen: set[str] = set()
    for supervisor in supervisors:
        email, name = str(supervisor.email), str(supervisor.name)
        if email.casefold() in seen:
            continue
        seen.add(email.casefold())
        if store.report_already_sent(REPORT_KIND, key, email):
            log.info("weekly report %s already sent to %s; skipped", key, email)
            results[email] = SendResult(email, "skipped")
            continue
        message = build_message(report.subject, settings.sender, recipient(name, email), report.html, report.text,
                                inline_images=report.pngs, attachments=report.attachments)
        pending.append((email, name, message))

    if pending:
        try:
            delivered = send_each(settings, [m for _, _, m in pending], env=env, ssl_context=ssl_context,
                                  local_hostname=local_hostname)
        except MailConfigError as exc:
            raise BadInput(f"{source}: {exc}") from None
        by_address = {d.recipient.casefold(): d for d in delivered}
        for email, _, _ in pending:
            outcome = by_address.get(email.casefold())
            ok = outcome is not None and outcome.ok
            error = None if ok else (outcome.error if outcome is not None else "no delivery result")
            store.record_report_sent(REPORT_KIND, key, email, status="sent" if ok else "failed", error=error)
            results[email] = SendResult(email, "sent" if ok else "failed", error)
    ordered: list[SendResult] = []
    for supervisor in supervisors:
        email = str(supervisor.email)
        if email in results and results[email] not in ordered:
            ordered.append(results[email])
    return ordered
