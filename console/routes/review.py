"""内容审核: the content check's candidates (issue 15), for supervisors to confirm or dismiss with a
reason, and the decisions taken lately (who, when, why).

A decision goes through ``monitor.content_review.decide``, the same rule as ``wxmon content review``
(a reason is required; a dismissal also dismisses the account's other open candidates of the same
text, which the checker then no longer raises). Only confirmed findings count as security incidents.
Each decision is written to the audit log in the same transaction. The matched text and its context
come from outside: the template shows them as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.access import SUPERVISOR, Viewer
from console.state import ConsoleState
from console.web import form_endpoint, redirect, render, require, state
from monitor.content_review import KIND_ZH, MAX_REASON, STATUS_ZH, Decision, ReviewRefused, decide
from monitor.store.content_findings import ContentFinding
from monitor.store.core import NotFound

OPEN_SHOWN = 300  # the newest open candidates; the page says how many more wait
DECIDED_SHOWN = 50
_FLASH = "review_flash"
_DECISIONS: dict[str, Decision] = {"confirm": "confirmed", "dismiss": "dismissed"}
_ACTION = {"confirmed": "content.confirm", "dismissed": "content.dismiss"}


@dataclass(frozen=True)
class FindingView:
    """One finding as the page shows it; the context split around the matched text to mark it."""

    finding: ContentFinding
    account_name: str
    kind: str
    status: str
    before: str
    match: str
    after: str
    link: str | None  # the article's address when it is a web address


def _view(st: ConsoleState, f: ContentFinding) -> FindingView:
    account = st.config.accounts_by_id.get(f.account_id)
    at = f.context.find(f.text) if f.text else -1
    before, match, after = (f.context[:at], f.text, f.context[at + len(f.text):]) if at >= 0 \
        else (f.context, "", "")
    link = f.source if f.source.startswith(("https://", "http://")) else None
    return FindingView(f, account.name if account else f.account_id, KIND_ZH.get(f.kind, f.kind),
                       STATUS_ZH.get(f.status, f.status), before, match, after, link)


@dataclass(frozen=True)
class _Page:
    open: list[FindingView]
    waiting: int
    decided: list[FindingView]


def _load(st: ConsoleState) -> _Page:
    store = st.store
    waiting = store.count_content_findings("candidate")
    open_ = [_view(st, f) for f in store.latest_content_findings(status="candidate", limit=OPEN_SHOWN)]
    decided = [_view(st, f) for f in store.latest_content_findings(decided=True, limit=DECIDED_SHOWN)]
    return _Page(open_, waiting, decided)


async def _page(request: Request, who: Viewer, *, status_code: int = 200, errors: dict[str, list[str]] | None = None,
                values: dict[str, str] | None = None) -> Response:
    st = state(request)
    page = await run_in_threadpool(_load, st)
    flash = request.session.pop(_FLASH, None)
    return render(request, "review.html", status_code=status_code, title="内容审核", viewer=who, page=page,
                  errors=errors or {}, values=values or {}, flash=flash if isinstance(flash, list) else [],
                  max_reason=MAX_REASON)


async def review_page(request: Request) -> Response:
    who = await require(request, SUPERVISOR)
    return await _page(request, who)


def _finding_id(request: Request) -> int:
    raw = request.path_params["finding_id"]
    if not raw.isdigit() or len(raw) > 12:
        raise HTTPException(404)
    return int(raw)


def _decide(st: ConsoleState, who: Viewer, finding_id: int, decision: Decision, reason: str) -> list[ContentFinding]:
    """The CLI's rule, and the audit entry in the same transaction. Raises ReviewRefused, NotFound."""
    with st.store.transaction():
        current = st.store.content_finding(finding_id)
        if current.status != "candidate":  # a stale page (another supervisor was quicker): change nothing
            raise ReviewRefused("stale", f"第{finding_id}条已由{current.reviewer or '他人'}处理"
                                           f"（{STATUS_ZH.get(current.status, current.status)}），未作更改")
        changed = decide(st.store, finding_id, decision, reason=reason, reviewer=who.name)
        first = changed[0]
        detail: dict[str, Any] = {"account": first.account_id, "kind": first.kind, "text": first.text[:100],
                                  "reason": first.reason}
        if len(changed) > 1:
            detail["also"] = [f.id for f in changed[1:]]
        st.store.record_audit(who.name, _ACTION[decision], f"content:{finding_id}", detail)
    return changed


async def _post(request: Request, form: FormData, verb: str) -> Response:
    who = await require(request, SUPERVISOR)
    st = state(request)
    finding_id = _finding_id(request)
    decision = _DECISIONS[verb]
    reason = str(form.get("reason") or "")[:MAX_REASON * 4]  # bounded before the rule says "too long"
    try:
        changed = await run_in_threadpool(_decide, st, who, finding_id, decision, reason)
    except NotFound:
        raise HTTPException(404) from None
    except ReviewRefused as exc:
        if exc.field == "finding":
            raise HTTPException(404) from None
        # a stale page's form is gone from the queue: say it at the top
        key = "page" if exc.field == "stale" else f"{finding_id}-{verb}"
        return await _page(request, who, status_code=400, errors={key: [exc.message]}, values={key: reason})
    first = changed[0]
    word = "已确认（计入安全事故）" if decision == "confirmed" else "已排除（同一账号同一文本不再提示）"
    lines = [f"第{finding_id}条{word}：{KIND_ZH.get(first.kind, first.kind)}“{_short(first.text)}”"]
    if len(changed) > 1:
        lines.append(f"同一账号同一文本的另外{len(changed) - 1}条待核实问题一并排除")
    request.session[_FLASH] = lines
    return redirect("/review#flash")


def _short(text: str, limit: int = 60) -> str:
    """The flash rides in the session cookie: keep it small."""
    return text if len(text) <= limit else text[:limit] + "…"


async def confirm(request: Request, form: FormData) -> Response:
    return await _post(request, form, "confirm")


async def dismiss(request: Request, form: FormData) -> Response:
    return await _post(request, form, "dismiss")


ROUTES = [
    Route("/review", review_page, methods=["GET"]),
    Route("/review/{finding_id}/confirm", form_endpoint(confirm), methods=["POST"]),
    Route("/review/{finding_id}/dismiss", form_endpoint(dismiss), methods=["POST"]),
]
