"""巡检任务: the inspectors' workspace. Their open inquiry tasks, and on each task's page a form to
record the send and one to record a reply (time to the minute, text, 自动回复, a screenshot), made
to be done from a phone in a minute.

What is recorded goes through ``monitor.taskdesk.TaskDesk``, the same checks and writes as
``wxmon inquiry sent|reply`` (bad time, before the task was issued, in the future: the same
Chinese messages, and nothing stored). Screenshots are read by ``console.uploads`` (bounded, judged
by their content). An inspector sees only the tasks issued to their name: another's answers 404.
Every record is written to the audit log in the same transaction, with who and when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from console.access import INSPECTOR, SUPERVISOR, Viewer
from console.labels import EVIDENCE_STAGE
from console.state import ConsoleState
from console.uploads import UploadRefused, read_screenshot
from console.web import form_endpoint, redirect, render, require, state
from monitor import clock
from monitor.errors import BadInput
from monitor.evidence import Screenshot, evidence_dir
from monitor.metrics import deadline_working_days
from monitor.store.core import NotFound
from monitor.store.tasks import Evidence, InquiryTask, TaskReply, TaskWithState
from monitor.taskdesk import REPLY_MAX_CHARS, Recorded, TaskDesk, hhmm, parse_time, task_status

INPUT_MINUTE = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows
_EVIDENCE_FILE = re.compile(r"^[0-9a-f]{64}\.(png|jpg|webp)$")
_FLASH = "tasks_flash"
ALL_SHOWN = 300  # ?all=1 lists the newest tasks, not every task ever issued


@dataclass
class TaskView:
    """One task as the pages show it."""

    task: InquiryTask
    status: str
    account_name: str
    reply_due: datetime | None  # see _Deadlines.due
    sent: datetime | None
    replies: list[TaskReply] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)


class _Deadlines:
    """The reply deadline of a send (the policy's working days, Chinese holidays), made once per page."""

    def __init__(self, st: ConsoleState) -> None:
        days = deadline_working_days(st.config.selected_policy)
        self.days = days[0] if days else None
        self.calendar = st.config.work_calendar()

    def due(self, sent: datetime | None) -> datetime | None:
        """When sent: its reply deadline; not yet: the deadline if it were sent now."""
        return None if self.days is None else self.calendar.deadline(sent or clock.now(), self.days)


def _view(st: ConsoleState, row: TaskWithState, deadlines: _Deadlines, *, details: bool = False) -> TaskView:
    t = row.task
    account = st.config.accounts_by_id.get(t.account_id)
    sent = t.records_sent_at or t.sent_at
    view = TaskView(t, task_status(row), account.name if account else t.account_id, deadlines.due(sent), sent)
    if details:
        view.replies = st.store.task_replies([t.id])
        view.evidence = st.store.task_evidence(t.id)
    return view


def _load(st: ConsoleState, who: Viewer, task_id: int) -> TaskView:
    """The task with its records, or 404 (absent, or not this viewer's)."""
    rows = st.store.tasks(ids=[task_id])
    if not rows or not who.may_see_task(rows[0].task.inspector):
        raise HTTPException(404)  # another inspector's task is as absent as a wrong number
    return _view(st, rows[0], _Deadlines(st), details=True)


def _task_id(request: Request) -> int:
    raw = request.path_params["task_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise HTTPException(404)
    return int(raw)


def _default_minute() -> str:
    return clock.to_local(clock.now()).strftime(INPUT_MINUTE)


async def tasks_page(request: Request) -> Response:
    who = await require(request, INSPECTOR, SUPERVISOR)
    st = state(request)
    show_all = request.query_params.get("all") == "1"

    def load() -> list[TaskView]:
        rows = st.store.tasks(open_only=not show_all)
        deadlines = _Deadlines(st)
        return [_view(st, r, deadlines) for r in rows if who.may_see_task(r.task.inspector)]

    views = await run_in_threadpool(load)
    if show_all:
        views = views[::-1][:ALL_SHOWN]  # the newest first when the closed ones are listed too
    return render(request, "tasks.html", title="巡检任务", viewer=who, tasks=views, show_all=show_all)


def _task_page(request: Request, who: Viewer, view: TaskView, *, status_code: int = 200,
               errors: dict[str, list[str]] | None = None, values: dict[str, Any] | None = None) -> Response:
    flash = request.session.pop(_FLASH, None)
    given = {"sent_at": _default_minute(), "reply_at": _default_minute(), "text": "", "auto": "0"}
    given.update(values or {})
    title = f"任务{view.task.id} · {view.account_name}"
    return render(request, "tasks_detail.html", status_code=status_code, title=title, viewer=who,
                  view=view, errors=errors or {}, values=given,
                  flash=flash if isinstance(flash, list) else [], stage_label=EVIDENCE_STAGE,
                  reply_max=REPLY_MAX_CHARS)


async def task_page(request: Request) -> Response:
    who = await require(request, INSPECTOR, SUPERVISOR)
    st = state(request)
    task_id = _task_id(request)
    view = await run_in_threadpool(_load, st, who, task_id)
    return _task_page(request, who, view)


async def _screenshot(st: ConsoleState, form: FormData) -> Screenshot | None:
    """The form's screenshot, None when no file was chosen; UploadRefused when it is not accepted."""
    upload = form.get("screenshot")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None  # a browser sends an empty, nameless part when no file was chosen
    limit = min(st.upload_max_bytes, st.config.channels.manual.evidence_max_bytes)
    return await read_screenshot(upload, limit)


def _minute(raw: object, label: str) -> datetime:
    text = str(raw or "").strip()
    if not text:
        raise BadInput(f"请填写{label}")
    try:
        return parse_time(text)
    except ValueError as exc:
        raise BadInput(f"{label}：{exc}") from None


def _record(st: ConsoleState, who: Viewer, task_id: int, stage: str, at: datetime, text: str | None, auto: bool,
            shot: Screenshot | None) -> Recorded:
    """Record through the desk and write the audit entry in the same transaction."""
    desk = TaskDesk(st.config, st.store, clock.get_clock())
    with st.store.transaction():
        if stage == "sent":
            done = desk.record_sent(task_id, at, shot)
        else:
            done = desk.record_reply(task_id, at, text, auto=auto, evidence=shot)
        detail: dict[str, Any] = {"account": done.task.account_id, "at": hhmm(at)}
        if stage == "reply":
            detail["auto"] = auto
        if shot is not None:
            detail["evidence"] = shot.sha256
        st.store.record_audit(who.name, f"task.{stage}", f"task:{task_id}", detail)
    return done


async def _post(request: Request, form: FormData, stage: str) -> Response:
    who = await require(request, INSPECTOR, SUPERVISOR)
    st = state(request)
    task_id = _task_id(request)
    view = await run_in_threadpool(_load, st, who, task_id)  # 404 before anything is read or kept
    problems: list[str] = []
    label = "发送时间" if stage == "sent" else "回复时间"
    field_name = "sent_at" if stage == "sent" else "reply_at"
    raw_at = str(form.get(field_name) or "")[:40]
    text = str(form.get("text") or "")[:REPLY_MAX_CHARS + 1] if stage == "reply" else None
    auto = form.get("auto") == "1"
    at: datetime | None = None
    try:
        at = _minute(raw_at, label)
    except BadInput as exc:
        problems += exc.problems
    shot: Screenshot | None = None
    try:
        shot = await _screenshot(st, form)
    except UploadRefused as exc:
        problems += exc.problems
    if at is not None and problems:  # say everything that is wrong at once
        desk = TaskDesk(st.config, st.store, clock.get_clock())
        problems += desk.check_sent(view.task, at) if stage == "sent" else \
            desk.check_reply(view.task, at, (text or "").strip())
    if at is not None and not problems:
        try:
            done = await run_in_threadpool(_record, st, who, task_id, stage, at, text, auto, shot)
        except NotFound:
            raise HTTPException(404) from None
        except BadInput as exc:  # the desk's refusal: the CLI's own words
            problems += exc.problems
        else:
            what = "发送" if stage == "sent" else ("收到自动回复" if auto else "收到回复")
            saved = "，截图已保存" if shot is not None else ""
            request.session[_FLASH] = [f"已登记：{hhmm(at)}{what}{saved}", *done.notes]
            return redirect(f"/tasks/{task_id}#flash")
    values = {field_name: raw_at, "text": text or "", "auto": "1" if auto else "0"}
    return _task_page(request, who, view, status_code=400, errors={stage: problems}, values=values)


async def record_sent(request: Request, form: FormData) -> Response:
    return await _post(request, form, "sent")


async def record_reply(request: Request, form: FormData) -> Response:
    return await _post(request, form, "reply")


async def evidence_file(request: Request) -> Response:
    """A kept screenshot of the viewer's task (the same 404 as the task for anyone else)."""
    who = await require(request, INSPECTOR, SUPERVISOR)
    st = state(request)
    view = await run_in_threadpool(_load, st, who, _task_id(request))
    wanted = request.path_params["evidence_id"]
    item = next((e for e in view.evidence if str(e.id) == wanted), None)
    if item is None or not _EVIDENCE_FILE.match(item.file_name):
        raise HTTPException(404)
    path = evidence_dir(st.config) / item.file_name
    if not path.is_file():
        raise HTTPException(404)
    return FileResponse(path, media_type=item.media_type, headers={"Cache-Control": "private, max-age=3600"})


ROUTES = [
    Route("/tasks", tasks_page, methods=["GET"]),
    Route("/tasks/{task_id}", task_page, methods=["GET"]),
    Route("/tasks/{task_id}/sent", form_endpoint(record_sent), methods=["POST"]),
    Route("/tasks/{task_id}/reply", form_endpoint(record_reply), methods=["POST"]),
    Route("/tasks/{task_id}/evidence/{evidence_id}", evidence_file, methods=["GET"]),
]
