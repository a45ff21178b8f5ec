"""The weekly report: charts, an HTML and a plain-text summary, the CSV; and sending it.

    report = build_weekly_report(week_df, "2023-W38", out_dir,
                                 history={"2023-W37": df37, ...}, inquiries=inq, policy=cfg.selected_policy)

Inputs are scored frames (docs/metrics.md) and, for the reply-time chart, the
inquiries frame described in :mod:`dashboards.charts`. Nothing here touches the
store: sending, and the bookkeeping of who was sent what, is
:func:`wxmon.reports.send_weekly`.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dashboards import charts
from dashboards.export import csv_bytes as export_csv_bytes
from dashboards.labels import (
    FAIL,
    UNKNOWN,
    format_rate,
    frame_notes,
    half_up,
    is_missing,
    pass_rate,
    period_info,
    rate_number,
    week_tick,
)
from monitor.errors import file_error
from monitor.files import write_output

if TYPE_CHECKING:
    from monitor.period import Period
    from monitor.policy import Policy

log = logging.getLogger("wxmon.weekly")

_TREND_WEEKS = 8  # weeks of pass rate written out in the text


@dataclass(frozen=True)
class Section:
    """One chart of the report: a heading, a sentence about it and its pages as (content id, PNG)."""

    key: str
    heading: str
    note: str
    images: list[tuple[str, bytes]]


@dataclass(frozen=True)
class WeeklyReport:
    week_key: str
    subject: str
    html: str  # e-mail body: <img src="cid:...">
    text: str  # plain-text summary
    sections: list[Section]
    csv_bytes: bytes
    csv_filename: str
    files: list[Path] = field(default_factory=list)  # written under out_dir, if one was given

    @property
    def pngs(self) -> list[tuple[str, bytes]]:
        """All chart images in display order, as (content id, PNG bytes)."""
        return [image for section in self.sections for image in section.images]

    @property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        return [(self.csv_filename, self.csv_bytes, "text/csv")]


# --------------------------------------------------------------------------- building


def _rule_param(policy: Policy | None, kind: str, name: str, default: int) -> int:
    for rule in policy.rules if policy is not None else ():
        if rule.kind == kind:
            return int(getattr(rule, name, default))
    return default


def _name(row: Mapping[str, Any]) -> str:
    name = row.get("account_name")
    return str(row.get("account_id")) if is_missing(name) else str(name)


def _delta_text(rate: float, prev_key: str, prev_rate: float) -> str:
    if is_missing(rate) or is_missing(prev_rate):
        return ""
    delta = half_up(Decimal(repr(rate)) * 100 - Decimal(repr(prev_rate)) * 100, 1)
    prev = f"较上周（{prev_key}，{rate_number(prev_rate)}）"
    if delta > 0:
        return f"{prev}上升{delta}个百分点。"
    if delta < 0:
        return f"{prev}下降{-delta}个百分点。"
    return f"{prev}持平。"


def build_weekly_report(
    verdicts: pd.DataFrame,
    week: Period | str,
    out_dir: str | Path | None = None,
    *,
    history: Mapping[str, pd.DataFrame] | None = None,
    inquiries: pd.DataFrame | None = None,
    policy: Policy | None = None,
    district: str | None = None,
    notes: Sequence[str] = (),
    per_page: int = charts.PER_PAGE,
) -> WeeklyReport:
    """Build the weekly report of ``week`` (``"2023-W38"`` or a Period).

    ``verdicts``: the scored frame of the week. ``history``: scored frames of
    earlier weeks by key, for the trend and the heatmap (the week itself is
    added). ``inquiries``: the week's test inquiries (see dashboards.charts) for
    the reply-time chart, omitted when None. ``policy``: the policy the frames
    were scored with, for the thresholds drawn (14 days, 3 working days...).
    ``out_dir``: also write the PNGs, the CSV, the HTML (images by file name)
    and the text there.
    """
    info = period_info(week)
    key = info.key
    weeks = {str(k): v for k, v in (history or {}).items() if str(k) != key}
    weeks[key] = verdicts
    weeks = dict(sorted(weeks.items()))
    days = _rule_param(policy, "no_update", "days", 14)
    working_days = _rule_param(policy, "inquiry_deadline", "working_days", 3)
    max_broken = _rule_param(policy, "broken_columns", "max_broken", 0)

    passed, checked, rate = pass_rate(verdicts)
    keys = list(weeks)
    prev_key = keys[keys.index(key) - 1] if keys.index(key) > 0 else None
    rates = {k: pass_rate(f)[2] for k, f in weeks.items()}

    def images(prefix: str, pngs: list[bytes]) -> list[tuple[str, bytes]]:
        return [(f"{prefix}-{i}", png) for i, png in enumerate(pngs, start=1)]

    sections = [Section("trend", "合格率趋势", "每周合格率＝合格账号数÷检查账号数（无法判定的账号不计入）。",
                        images("trend", charts.pass_rate_trend(weeks)))]
    if len(weeks) > 1:
        sections.append(Section("heatmap", "各账号每周检查结论", "红色（×）为不合格，按不合格周数从多到少排列。",
                                images("heatmap", charts.verdict_heatmap(weeks, per_page=per_page))))
    if inquiries is not None and len(inquiries):
        pngs = charts.latency_chart(inquiries, working_days=working_days, names=verdicts, per_page=per_page,
                                    period_label=key)
        if pngs:
            sections.append(Section("latency", "测试留言答复用时",
                                    f"每个点为一条测试留言；虚线为答复期限（{working_days}个工作日），"
                                    f"线右侧为超期，右侧红区为未答复。", images("latency", pngs)))
    sections.append(Section("freshness", "内容更新情况", f"距检查日未更新天数，超过{days}天为红色。",
                            images("freshness", charts.freshness_chart(verdicts, days=days, per_page=per_page,
                                                                         period_label=key))))
    sections.append(Section("columns", "栏目可用情况", "红色为已确认无法访问的栏目。",
                            images("columns", charts.broken_columns_chart(verdicts, max_broken=max_broken,
                                                                            per_page=per_page, period_label=key))))

    csv_data = export_csv_bytes(verdicts, "zh")
    csv_name = f"政务新媒体监测周报_{key}.csv"
    area = district or ""
    subject = f"【wxmon】{area}政务新媒体监测周报 {key}（{format_rate(rate)}）"
    all_notes = [*frame_notes(verdicts, *(history or {}).values()), *notes]

    frame = verdicts.reset_index(drop=True)
    verdict = frame["verdict"].astype(str)
    failed = frame[verdict == FAIL]
    unknown = frame[verdict == UNKNOWN]
    headline = (f"本周共检查政务新媒体{checked}个，合格{passed}个，不合格{len(failed)}个，{format_rate(rate)}。"
                if checked else f"本周{len(frame)}个账号{'均' if len(frame) > 1 else ''}未取得足以判定的监测数据，"
                                "未计算合格率。")
    delta = _delta_text(rate, prev_key, rates[prev_key]) if prev_key else ""
    recent = list(keys[-_TREND_WEEKS:])
    trend = " → ".join(f"{week_tick(k)} {rate_number(rates[k])}" for k in recent) if len(recent) > 1 else ""
    new_fails: set[str] = set()
    if prev_key is not None:
        before = weeks[prev_key]
        failed_before = set(before.loc[before["verdict"].astype(str) == FAIL, "account_id"].astype(str))
        new_fails = {str(a) for a in failed["account_id"]} - failed_before

    text = _text(key, info.span_zh, area, headline, delta, trend, failed, unknown, new_fails, all_notes, csv_name)
    body = _html(key, info.span_zh, area, headline, delta, trend, failed, unknown, new_fails, all_notes, csv_name,
                 sections, lambda cid: f"cid:{cid}")

    files: list[Path] = []
    if out_dir is not None:
        directory = Path(out_dir)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise file_error(directory, exc, "cannot create the directory") from None
        csv_path = directory / f"weekly-{key}.csv"
        page = _html(key, info.span_zh, area, headline, delta, trend, failed, unknown, new_fails, all_notes,
                     csv_path.name, sections, lambda cid: f"{key}-{cid}.png")
        outputs = [(directory / f"{key}-{cid}.png", png) for s in sections for cid, png in s.images]
        outputs += [(csv_path, csv_data), (directory / f"weekly-{key}.html", page.encode("utf-8")),
                    (directory / f"weekly-{key}.txt", text.encode("utf-8"))]
        for path, data in outputs:
            files.append(write_output(path, data))
    return WeeklyReport(key, subject, body, text, sections, csv_data, csv_name, files)


def _failed_lines(failed: pd.DataFrame, new_fails: set[str]) -> list[tuple[str, str, str, bool]]:
    """(name, unit, reasons, newly failing) per failed account."""
    out = []
    for row in failed.to_dict("records"):
        reasons = "" if is_missing(row.get("reasons")) else str(row.get("reasons"))
        unit = "" if is_missing(row.get("unit")) else str(row.get("unit"))
        out.append((_name(row), unit, reasons, str(row.get("account_id")) in new_fails))
    return out


def _text(key: str, span: str, area: str, headline: str, delta: str, trend: str, failed: pd.DataFrame,
          unknown: pd.DataFrame, new_fails: set[str], notes: Sequence[str], csv_name: str) -> str:
    lines = [f"{area}政务新媒体监测周报 {key}" + (f"（{span}）" if span else ""), "", headline]
    if delta:
        lines.append(delta)
    if trend:
        lines.append(f"近期合格率：{trend}")
    lines.append("")
    if len(failed):
        lines.append(f"不合格账号（{len(failed)}个）：")
        for i, (name, unit, reasons, new) in enumerate(_failed_lines(failed, new_fails), start=1):
            who = f"{name}（{unit}）" if unit else name
            lines.append(f"{i}. {who}{'【本周新增】' if new else ''}：{reasons or '—'}")
    else:
        lines.append("本周无不合格账号。")
    if len(unknown):
        lines += ["", f"无法判定（{len(unknown)}个，未取得监测数据，不计入合格率）："
                  + "、".join(_name(r) for r in unknown.to_dict("records"))]
    if notes:
        lines += [""] + [f"说明：{n}" for n in notes]
    lines += ["", f"图表见本邮件的网页版正文，各账号明细见附件《{csv_name}》。",
              "本邮件由 wxmon 自动发送，请勿直接回复。"]
    return "\n".join(lines) + "\n"


def _html(key: str, span: str, area: str, headline: str, delta: str, trend: str, failed: pd.DataFrame,
          unknown: pd.DataFrame, new_fails: set[str], notes: Sequence[str], csv_name: str,
          sections: Sequence[Section], src: Callable[[str], str]) -> str:
    e = html.escape
    cell = "border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;"
    head = "background:#f0f3f7;" + cell
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{e(area)}政务新媒体监测周报 {e(key)}</title></head>",
        '<body style="font-family:\'Microsoft YaHei\',\'PingFang SC\',\'Noto Sans SC\',sans-serif;'
        'font-size:14px;color:#1f2328;max-width:1100px;">',
        f'<h2 style="margin:0 0 4px 0;">{e(area)}政务新媒体监测周报 {e(key)}</h2>',
    ]
    if span:
        parts.append(f'<p style="margin:0 0 12px 0;color:#57606a;">监测期间：{e(span)}</p>')
    parts.append(f'<p style="font-size:16px;"><b>{e(headline)}</b></p>')
    if delta:
        parts.append(f"<p>{e(delta)}</p>")
    if trend:
        parts.append(f"<p>近期合格率：{e(trend)}</p>")
    if len(failed):
        parts.append(f"<h3>不合格账号（{len(failed)}个）</h3>")
        parts.append('<table style="border-collapse:collapse;font-size:13px;">')
        parts.append(f'<tr><th style="{head}">序号</th><th style="{head}">账号名称</th>'
                     f'<th style="{head}">主办单位</th><th style="{head}">问题</th></tr>')
        for i, (name, unit, reasons, new) in enumerate(_failed_lines(failed, new_fails), start=1):
            tag = ' <span style="color:#cf222e;">【本周新增】</span>' if new else ""
            parts.append(f'<tr><td style="{cell}">{i}</td><td style="{cell}">{e(name)}{tag}</td>'
                         f'<td style="{cell}">{e(unit)}</td><td style="{cell}">{e(reasons) or "—"}</td></tr>')
        parts.append("</table>")
    else:
        parts.append("<p>本周无不合格账号。</p>")
    if len(unknown):
        names = "、".join(_name(r) for r in unknown.to_dict("records"))
        parts.append(f"<p>无法判定（{len(unknown)}个，未取得监测数据，不计入合格率）：{e(names)}</p>")
    for note in notes:
        parts.append(f'<p style="color:#9a6700;">说明：{e(note)}</p>')
    for section in sections:
        parts.append(f'<h3 style="margin-top:24px;">{e(section.heading)}</h3>')
        parts.append(f'<p style="color:#57606a;margin-top:0;">{e(section.note)}</p>')
        for cid, _ in section.images:
            parts.append(f'<p><img src="{e(src(cid))}" alt="{e(section.heading)}" '
                         f'style="max-width:100%;height:auto;border:0;"></p>')
    parts.append(f'<p style="color:#57606a;">各账号明细见附件《{e(csv_name)}》（可用 Excel / WPS 打开）。'
                 "本邮件由 wxmon 自动发送，请勿直接回复。</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
