"""What each scheduled job does. The daemon and the demo both call :func:`run_event`."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from monitor.clock import SHANGHAI, as_utc
from monitor.period import previous_week_key, week_key_at
from monitor.scheduler import ROUND_JOBS, Event, current_window
from monitor.store import Inquiry
from wxmon import alerts
from wxmon.runner import RoundResult, record_coverage, run_probe

if TYPE_CHECKING:
    from dashboards.alerts import Delivery
    from dashboards.weekly import WeeklyReport
    from monitor.context import ProbeContext
    from wxmon.reports import SendResult

log = logging.getLogger(__name__)

# What a job did: a probe round's results, the inquiry sent (or still open), the inquiries
# polled, or the weekly report and its sending.
JobResult: TypeAlias = ("list[RoundResult] | Inquiry | list[Inquiry] | tuple[WeeklyReport, list[SendResult]] "
                        "| Delivery | None")


async def run_event(ctx: ProbeContext, event: Event, *, report_dir: Path | None = None,
                    send: bool = False) -> JobResult:
    """Run one job at ``event.at`` (the clock is already there)."""
    config = ctx.config
    if event.job in ROUND_JOBS:
        results = await run_probe(ctx, ROUND_JOBS[event.job], config.accounts)
        if event.job == "freshness":  # daily: also how the accounts answered all followers
            await follower_days(ctx, event.at)
        await alerts.after_job(ctx, event.job, [r.run for r in results])
        return results
    if event.job == "inquiry_send":
        from probes import inquiry

        window = current_window(config.schedules.trigger("inquiry"), event.at)
        key = week_key_at(window[0] if window else event.at)
        ctx.sync_accounts()
        at = ctx.now()
        q = await inquiry.send_inquiry(ctx, config.account(event.account_id), key)
        if q.channel == "manual":  # the inspector's task is mailed now
            from wxmon.inquiry_mail import mail_new_tasks_quietly

            await mail_new_tasks_quietly(config, ctx.store, ctx.now())
        if q.error is None and q.sent_at is not None:  # the channel answered: the account was reached
            ctx.store.record_looks("inquiry", at, [q.account_id])
        elif q.error is not None:
            ctx.store.record_looks("inquiry", at, [], [q.account_id])
        return q
    if event.job == "inquiry_poll":
        from probes import inquiry

        if any(a.inquiry.channel == "manual" for a in config.accounts):  # task mail that failed: again
            from wxmon.inquiry_mail import mail_new_tasks_quietly

            await mail_new_tasks_quietly(config, ctx.store, ctx.now())
        if ctx.store.open_inquiries() or _recent_unanswered(ctx):
            at = ctx.now()
            polled = await inquiry.poll_inquiries(ctx)
            ctx.store.record_looks("inquiry", at, {q.account_id for q in polled})  # failed polls: not returned
            await alerts.after_job(ctx, event.job)
            return polled
        return []
    if event.job == "alerts_digest":
        return await alerts.digest(ctx)
    if event.job == "weekly_report":
        return weekly_report(ctx, previous_week_key(event.at), report_dir, send=send)
    raise ValueError(f"unknown job {event.job!r}")


async def follower_days(ctx: ProbeContext, at: datetime) -> None:
    """Customer-service conversations: the day before yesterday settles, yesterday is provisional."""
    from probes import conversations

    today = as_utc(at).astimezone(SHANGHAI).date()
    for back in (2, 1):
        start = ctx.now()
        rows = await conversations.run_round(ctx, ctx.config.accounts, day=today - timedelta(days=back))
        record_coverage(ctx, "conversations", start, rows)


def _recent_unanswered(ctx: ProbeContext) -> bool:
    since = ctx.now() - timedelta(days=30)
    return any(i.state == "unanswered" for i in ctx.store.inquiries_between(since, ctx.now()))


def weekly_report(ctx: ProbeContext, week_key: str, out_dir: Path | None, *,
                  send: bool) -> tuple[WeeklyReport, list[SendResult]]:
    from wxmon.reports import weekly_report as build

    return build(ctx.config, ctx.store, week_key, out_dir, send=send, now=ctx.now())
