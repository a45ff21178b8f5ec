"""A person's decision on a content finding (issue 15): the one rule for it, taken by
``wxmon content review``, the demo's simulated reviewer and the console's 内容审核 page.

A reason is required (whitespace folded, at most :data:`MAX_REASON` characters) and a reviewer is
named; the store then records the decision (a dismissal also dismisses the account's other open
candidates of the same text, so the checker does not raise it again there).
"""

from __future__ import annotations

from typing import Literal

from monitor.errors import BadInput
from monitor.store import Store
from monitor.store.content_findings import ContentFinding
from monitor.store.core import NotFound

Decision = Literal["confirmed", "dismissed"]
MAX_REASON = 500
MAX_REVIEWER = 100

# The kinds of rule as office staff read them (the CLI, the console; probes.content_check re-exports it).
KIND_ZH = {
    "fixed_expression": "规范表述错误",
    "name_title": "领导姓名职务错配",
    "wrong_char": "错别字",
    "sensitive": "敏感词",
    "link_host": "有害链接",
}
STATUS_ZH = {"candidate": "待核实", "confirmed": "已确认", "dismissed": "已排除"}


class ReviewRefused(BadInput):
    """A decision not taken. ``field`` is what was wrong (``reason``, ``reviewer``, ``finding``) and
    ``message`` the Chinese sentence without the CLI's option name (the console shows it by its form)."""

    def __init__(self, field: str, message: str, *, option: str | None = None) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{option}: {message}" if option else message)


def decide(store: Store, finding_id: int, decision: Decision, *, reason: str,
           reviewer: str) -> list[ContentFinding]:
    """Confirm or dismiss a finding; returns every finding changed, the one asked for first.
    Raises ReviewRefused (a BadInput) for an empty or too long reason, no reviewer, or an unknown finding."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ReviewRefused("reason", "请写明确认或排除的理由", option="--reason")
    if len(reason) > MAX_REASON:
        raise ReviewRefused("reason", f"理由过长（最多{MAX_REASON}字）", option="--reason")
    reviewer = " ".join((reviewer or "").split())[:MAX_REVIEWER]
    if not reviewer:
        raise ReviewRefused("reviewer", "不能为空", option="--reviewer")
    try:
        return store.review_content_finding(finding_id, decision, reviewer=reviewer, reason=reason)
    except NotFound:
        raise ReviewRefused("finding", f"第{finding_id}条疑似问题不存在（wxmon content review 列出待核实的问题）") \
            from None
