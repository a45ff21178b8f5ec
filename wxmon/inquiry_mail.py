"""The task mail: each new manual-inquiry task is e-mailed once to its inspector (Chinese text).

A task is marked mailed only when the server accepted the message; one that failed is tried
again after the next inquiry round. Without ``smtp`` in accounts.yaml nothing is mailed and
``wxmon inquiry list`` is the inspectors' only view of their tasks.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Mapping
from datetime import datetime

from dashboards.mail import DeliveryResult, MailConfigError, SmtpSettings, build_message, recipient, send_each
from monitor.clock import to_local
from monitor.config import Config
from monitor.store import Store
from monitor.store.tasks import InquiryTask
from monitor.workdays import WorkCalendar
from probes.channels.manual import hhmm
from probes.inquiry import deadline_working_days

log = logging.getLogger(__name__)


def task_mail_text(config: Config, task: InquiryTask, calendar: WorkCalendar) -> tuple[str, str]:
    """(subject, body) of the task's mail."""
    account = config.accounts_by_id.get(task.account_id)
    name = account.name if account else task.account_id
    unit = f"（{account.unit}）" if account else ""
    days = deadline_working_days(config)
    due_if_today = calendar.deadline(task.issued_at, days)
    records = account is not None and account.api and bool(account.appid)
    lines = [
        f"{task.inspector or '检查员'}您好：",
        "",
        f"请于{hhmm(task.send_by)}前，用测试微信号“{task.tester}”向公众号“{name}”{unit}发送以下留言：",
        "",
        f"    {task.question}",
        "",
        f"答复时限：发送后{days}个工作日（节假日顺延）；如今天发送，截止{hhmm(due_if_today)}。",
        "",
        "请登记（时间以手机显示为准，精确到分钟）：",
        f"  1. 发送时间：wxmon inquiry sent {task.id} --at \"YYYY-MM-DD HH:MM\" --evidence 发送截图.png",
        f"  2. 收到的每条回复：wxmon inquiry reply {task.id} --at \"YYYY-MM-DD HH:MM\" --text \"回复内容\" "
        "--evidence 回复截图.png（自动回复加 --auto）",
        "  也可以填写 wxmon inquiry template 生成的表格，再用 wxmon inquiry import 导入。",
        "  请保留发送和回复的截图，季度通报需要。",
    ]
    if records:
        lines += ["", "本账号已接入客服消息记录：发送和回复时间可自动核实，无需手工登记时间（截图仍请保留）。"]
    lines += ["", f"任务编号：{task.id}（下发于{hhmm(task.issued_at)}）", "本邮件由wxmon自动发送，请勿直接回复。"]
    subject = f"【测试留言任务{task.id}】{name}（{to_local(task.send_by):%m月%d日}前发送）"
    return subject, "\n".join(lines) + "\n"


def mail_new_tasks(config: Config, store: Store, now: datetime,
                   env: Mapping[str, str] | None = None) -> list[DeliveryResult]:
    """Mail every task not mailed yet to its inspector; marks those the server accepted."""
    if config.smtp is None:
        return []
    tasks = store.tasks_to_mail()
    if not tasks:
        return []
    settings = SmtpSettings.from_config(config.smtp)
    calendar = config.work_calendar()
    messages = []
    for task in tasks:
        assert task.inspector_email is not None
        subject, text = task_mail_text(config, task, calendar)
        body = f"<pre style=\"font-family:sans-serif;white-space:pre-wrap\">{html.escape(text)}</pre>"
        messages.append(build_message(subject, settings.sender, recipient(task.inspector, task.inspector_email),
                                      body, text, date=to_local(now)))
    try:
        results = send_each(settings, messages, env=env)
    except MailConfigError as exc:
        log.warning("task mail not sent: %s", exc)
        return []
    # One recipient per message: results come in the messages' order.
    for task, result in zip(tasks, results, strict=False):
        if result.ok:
            store.update_task(task.id, mailed_at=now)
    return results


async def mail_new_tasks_quietly(config: Config, store: Store, now: datetime) -> None:
    """For the rounds: mail in a thread (smtplib blocks); trouble is logged, never raised."""
    try:
        await asyncio.to_thread(mail_new_tasks, config, store, now)
    except Exception:  # a mail failure never ends a round or the daemon
        log.exception("task mail failed")
