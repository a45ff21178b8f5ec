"""The weekly charts (matplotlib, Agg): PNG bytes, Chinese titles, worst accounts first.

Every chart function returns a list of PNGs. Per-account charts are paginated
into pages of at most ``per_page`` accounts (40 by default; 200 accounts -> 5
pages), all pages on the same scale; the trend is one image. Long account names
are wrapped (2 lines, CJK counted double). Thresholds are drawn and labelled.

Inputs (never the store, never a probe, never a score):

``df`` — a scored frame of ``monitor.scoring.score`` (docs/metrics.md), for
  :func:`freshness_chart` (``days_since_update``, ``last_update``,
  ``freshness_known``) and :func:`broken_columns_chart` (``columns_checked``,
  ``columns_broken``, ``broken_column_rate``).

``weeks`` — for :func:`verdict_heatmap` and :func:`pass_rate_trend`, either a
  mapping ``week_key -> scored frame`` (e.g. ``{"2023-W37": df37, "2023-W38":
  df38}``; weeks are shown in key order, ISO keys sort chronologically) or a
  long frame with one row per (week, account): columns ``week`` (str key),
  ``account_id``, ``verdict`` and optionally ``account_name``
  (:func:`weeks_long` builds it from the mapping).

``inquiries`` — for :func:`latency_chart`, one row per test inquiry, built by
  the caller from the store's inquiry records:

  ====================  ==================================================================
  account_id            str
  state                 ``answered`` (a person replied in time), ``late`` (replied after the
                        deadline) or ``unanswered``; other states (open, error) are ignored
  latency_minutes       float, wall-clock minutes from sending to the first human reply;
                        NaN when there was none
  deadline_minutes      optional float, wall-clock minutes from sending to the deadline
                        (``deadline_at - sent_at``); or give ``sent_at`` and ``deadline_at``
                        (aware datetimes) and it is derived
  account_name          optional str (else names come from ``names=`` or the id)
  ====================  ==================================================================

  With deadlines known, each reply is placed at ``working_days * latency /
  deadline`` ("答复用时，按答复期限折算为工作日"): the deadline line then sits at
  exactly ``working_days`` for every inquiry, whatever weekends and holidays
  fell inside its window, so left of the line is in time and right of it late,
  as the store judged. Without deadlines the axis is wall-clock hours and the
  line an approximation (``working_days`` x 24 h), said so on the chart.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from dashboards.fonts import configure_matplotlib
from dashboards.labels import (
    FAIL,
    INQUIRY_OUTCOME_COLORS,
    INQUIRY_OUTCOME_LABELS,
    NO_DATA_COLOR,
    NO_DATA_LABEL,
    PASS,
    UNKNOWN,
    VERDICT_COLORS,
    account_labels,
    is_missing,
    pass_rate,
    rate_number,
    week_tick,
    wrap_cjk,
)

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from monitor.store import Inquiry

_Row = TypeVar("_Row")

PER_PAGE = 40
DPI = 100
NAME_WIDTH = 20  # display columns of a y-axis label line (10 Chinese characters)
_ROW_INCH = 0.36
_WIDTH_INCH = 10.5

# Outcomes of inquiries that count (the store's states with a known outcome).
_OUTCOMES = ("answered", "late", "unanswered")


# --------------------------------------------------------------------------- helpers


def page_slices(n: int, per_page: int = PER_PAGE) -> list[slice]:
    """Split ``n`` rows into as few pages as possible of at most ``per_page``, sizes balanced."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if n <= 0:
        return []
    pages = math.ceil(n / per_page)
    size = math.ceil(n / pages)
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _page_title(title: str, index: int, pages: int) -> str:
    return f"{title}（第{index}/{pages}页）" if pages > 1 else title


def _with_period(title: str, period_label: str) -> str:
    return f"{title}（{period_label}）" if period_label else title


def _figure(rows: int, width: float = _WIDTH_INCH) -> Figure:
    from matplotlib.figure import Figure

    configure_matplotlib()
    height = max(3.6, 2.0 + _ROW_INCH * rows)
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(fig: Figure) -> bytes:
    """The figure as a palette PNG: charts have few colours, and 20 pages go into one e-mail
    (128 colours without dithering are visually identical and about 3x smaller)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image  # a matplotlib dependency

    # matplotlib's Agg backend has no type annotations (no backend_agg.pyi): its calls are untyped.
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # type: ignore[no-untyped-call]  # straight to pixels: no PNG encoded only to be decoded again
    rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
    image = Image.frombuffer("RGBA", canvas.get_width_height(), rgba, "raw", "RGBA", 0, 1)
    palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _num(value: float, decimals: int = 1) -> str:
    """1 decimal, no trailing zeros: 41.0 -> 41, 2.25 -> 2.3."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _y_labels(ax: Axes, labels: Sequence[str]) -> None:
    ax.set_yticks(range(len(labels)), [wrap_cjk(label, NAME_WIDTH) for label in labels], fontsize=9)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # first (worst) row on top


def _right_labels(ax: Axes, labels: Sequence[str]) -> None:
    """Per-row notes on the right edge (a twin axis, so the layout makes room for them)."""
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(len(labels)), list(labels), fontsize=8.5)
    right.tick_params(axis="y", length=0)
    for side in ("top", "right", "left", "bottom"):
        right.spines[side].set_visible(False)


def _legend(fig: Figure, handles: Sequence[Artist], ncols: int | None = None) -> None:
    fig.legend(handles=list(handles), loc="outside lower center", ncols=ncols or len(handles), fontsize=9,
               frameon=False)


def _paged(items: Sequence[_Row], per_page: int, title: str, handles: Sequence[Artist],
           draw: Callable[[Axes, Sequence[_Row]], None], *, width: float = _WIDTH_INCH,
           title_pad: float | None = None, legend_cols: int | None = None) -> list[bytes]:
    """One PNG per page of ``items``: ``draw(ax, page_items)`` fills a page; the paging, the
    numbered title and the legend are the same for every chart."""
    slices = page_slices(len(items), per_page)
    pngs = []
    for page, sl in enumerate(slices, start=1):
        rows = items[sl]
        fig = _figure(len(rows), width=width)
        ax = fig.subplots()
        draw(ax, rows)
        ax.set_title(_page_title(title, page, len(slices)), pad=title_pad)  # None: the default pad
        _legend(fig, handles, ncols=legend_cols)
        pngs.append(_png(fig))
    return pngs


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series([math.nan] * len(frame), index=frame.index, dtype="float64")
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _local(value: Any) -> pd.Timestamp:
    """An instant in Shanghai wall time (naive input is taken as Shanghai already)."""
    ts = pd.Timestamp(value)
    return ts.tz_convert("Asia/Shanghai") if ts.tzinfo is not None else ts


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {', '.join(missing)}")


def save_pngs(pngs: Sequence[bytes], out_dir: str | Path, stem: str) -> list[Path]:
    """Write PNGs as ``stem.png`` (one) or ``stem-1.png``, ``stem-2.png``... (several)."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, data in enumerate(pngs, start=1):
        path = directory / (f"{stem}.png" if len(pngs) == 1 else f"{stem}-{i}.png")
        path.write_bytes(data)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- weeks input


def weeks_long(weeks: Mapping[str, pd.DataFrame] | pd.DataFrame) -> pd.DataFrame:
    """The long form (week, account_id, account_name, verdict) of a ``week_key -> frame`` mapping.

    A frame that already has a ``week`` column is returned with those columns.
    """
    if isinstance(weeks, pd.DataFrame):
        _require(weeks, ("week", "account_id", "verdict"), "weeks frame")
        out = weeks.copy()
        if "account_name" not in out.columns:
            out["account_name"] = out["account_id"]
        out["week"] = out["week"].astype(str)
        return out.loc[:, ["week", "account_id", "account_name", "verdict"]].reset_index(drop=True)
    parts = []
    for key, frame in weeks.items():
        _require(frame, ("account_id", "verdict"), f"week {key}")
        part = pd.DataFrame({
            "week": str(key),
            "account_id": frame["account_id"].astype(str).to_numpy(),
            "account_name": (frame["account_name"] if "account_name" in frame.columns
                             else frame["account_id"]).astype(str).to_numpy(),
            "verdict": frame["verdict"].astype(str).to_numpy(),
        })
        parts.append(part)
    if not parts:
        return pd.DataFrame({"week": [], "account_id": [], "account_name": [], "verdict": []}, dtype=str)
    return pd.concat(parts, ignore_index=True)


def _week_order(long: pd.DataFrame) -> list[str]:
    return sorted(long["week"].unique().tolist())


# --------------------------------------------------------------------------- pass-rate trend


def weekly_pass_rates(weeks: Mapping[str, pd.DataFrame] | pd.DataFrame) -> list[tuple[str, int, int, float]]:
    """(week, passed, checked, rate) per week, rate as ``monitor.scoring.pass_rate`` computes it."""
    long = weeks_long(weeks)
    out = []
    for week in _week_order(long):
        passed, checked, rate = pass_rate(long[long["week"] == week].reset_index(drop=True))
        out.append((week, passed, checked, rate))
    return out


def pass_rate_trend(weeks: Mapping[str, pd.DataFrame] | pd.DataFrame, *, title: str = "各周合格率趋势") -> list[bytes]:
    """A line of the weekly pass rate with each point labelled (``61.9%`` and ``13/21``)."""
    from matplotlib.lines import Line2D

    rates = weekly_pass_rates(weeks)
    fig = _figure(0, width=max(7.0, 2.5 + 0.7 * len(rates)))
    fig.set_figheight(4.8)
    ax = fig.subplots()
    xs = list(range(len(rates)))
    ys = [math.nan if is_missing(r) else r * 100 for _, _, _, r in rates]
    ax.plot(xs, ys, color="#1565c0", marker="o", linewidth=2, markersize=6)
    for x, (_, passed, checked, rate), y in zip(xs, rates, ys):
        if math.isnan(y):
            ax.annotate("无可判定账号", (x, 2), ha="center", fontsize=8, color="#757575")
            continue
        ax.annotate(rate_number(rate), (x, y), textcoords="offset points", xytext=(0, 8), ha="center",
                    fontsize=10, color="#0d47a1")
        ax.annotate(f"{passed}/{checked}", (x, y), textcoords="offset points", xytext=(0, -18), ha="center",
                    fontsize=8, color="#616161")
    if xs and not math.isnan(ys[-1]):
        ax.plot([xs[-1]], [ys[-1]], marker="o", markersize=11, markerfacecolor="none", color="#0d47a1")
    ax.set_xticks(xs, [week_tick(w) for w, *_ in rates], rotation=0 if len(xs) <= 16 else 90)
    ax.set_xlim(-0.6, max(len(xs) - 0.4, 0.6))
    ax.set_ylim(0, 110)
    ax.set_yticks(range(0, 101, 20), [f"{v}%" for v in range(0, 101, 20)])
    ax.set_ylabel("合格率（%）")
    ax.set_xlabel("周次（ISO周）")
    ax.grid(axis="y", color="#e0e0e0")
    ax.set_axisbelow(True)
    first, last = (week_tick(rates[0][0]), week_tick(rates[-1][0])) if rates else ("", "")
    ax.set_title(f"{title}（{first}–{last}）" if rates else title)
    _legend(fig, [Line2D([], [], color="#1565c0", marker="o",
                         label="合格率＝合格账号数／检查账号数（标注：合格数/检查数）")])
    return [_png(fig)]


# --------------------------------------------------------------------------- verdict heatmap


def verdict_heatmap(weeks: Mapping[str, pd.DataFrame] | pd.DataFrame, *, per_page: int = PER_PAGE,
                    title: str = "各账号每周检查结论") -> list[bytes]:
    """Accounts x weeks coloured by verdict (合格 green, 不合格 red with ×, 无法判定 grey, no data pale)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    long = weeks_long(weeks)
    week_list = _week_order(long)
    if not week_list:
        return []
    account_ids = list(dict.fromkeys(long["account_id"].tolist()))
    latest = long[long["week"] == week_list[-1]]
    names = account_labels(pd.concat([latest, long], ignore_index=True).drop_duplicates("account_id"))
    code = {PASS: 0, FAIL: 1, UNKNOWN: 2}
    matrix = {a: [3] * len(week_list) for a in account_ids}
    col = {w: i for i, w in enumerate(week_list)}
    for week, account, verdict in long[["week", "account_id", "verdict"]].itertuples(index=False, name=None):
        matrix[account][col[week]] = code.get(str(verdict), 2)
    fails = {a: sum(v == 1 for v in row) for a, row in matrix.items()}
    original = {a: i for i, a in enumerate(account_ids)}
    account_ids.sort(key=lambda a: (-fails[a], -(matrix[a][-1] == 1), original[a]))

    cmap = ListedColormap([VERDICT_COLORS[PASS], VERDICT_COLORS[FAIL], VERDICT_COLORS[UNKNOWN], NO_DATA_COLOR])
    present = {v for row in matrix.values() for v in row}
    handles = [Patch(facecolor=c, edgecolor="#9e9e9e", label=label) for i, (label, c) in enumerate(
        [(PASS, VERDICT_COLORS[PASS]), (f"{FAIL}（×）", VERDICT_COLORS[FAIL]), (UNKNOWN, VERDICT_COLORS[UNKNOWN]),
         (NO_DATA_LABEL, NO_DATA_COLOR)]) if i in present or i < 2]
    width = max(7.5, 4.2 + 0.5 * len(week_list))

    def draw(ax: Axes, ids: Sequence[str]) -> None:
        data = [matrix[a] for a in ids]
        ax.imshow(data, cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto", interpolation="nearest")
        if len(week_list) <= 26:
            for r, row in enumerate(data):
                for c, value in enumerate(row):
                    if value == 1:
                        ax.text(c, r, "×", ha="center", va="center", color="white", fontsize=9)
        ax.set_xticks(range(len(week_list)), [week_tick(w) for w in week_list],
                      rotation=0 if len(week_list) <= 14 else 90, fontsize=9)
        ax.set_xticks([x - 0.5 for x in range(1, len(week_list))], minor=True)
        ax.set_yticks([y - 0.5 for y in range(1, len(ids))], minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
        ax.xaxis.tick_top()
        _y_labels(ax, [names[a] for a in ids])
        _right_labels(ax, [f"不合格{fails[a]}周" if fails[a] else "" for a in ids])

    return _paged(account_ids, per_page, f"{title}（{week_tick(week_list[0])}–{week_tick(week_list[-1])}）",
                  handles, draw, width=width)


# --------------------------------------------------------------------------- freshness


def freshness_chart(df: pd.DataFrame, *, days: int = 14, per_page: int = PER_PAGE, period_label: str = "",
                    title: str = "各账号距最近一次更新的天数") -> list[bytes]:
    """Days since the last publication per account, against the ``days`` line (red beyond it)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    _require(df, ("account_id", "days_since_update"), "freshness chart")
    frame = df.reset_index(drop=True)
    names = account_labels(frame)
    value = _numeric(frame, "days_since_update")
    known = value.notna()
    if "freshness_known" in frame.columns:
        known &= frame["freshness_known"].fillna(False).astype(bool)
    last = frame["last_update"] if "last_update" in frame.columns else pd.Series([None] * len(frame))
    order = sorted(range(len(frame)), key=lambda i: (not known[i], -(value[i] if known[i] else 0), i))
    top = max([days * 1.35] + [value[i] * 1.45 for i in order if known[i]])
    over_color, ok_color = "#e53935", "#42a5f5"
    handles = [Patch(color=over_color, label=f"超过{days}天未更新"), Patch(color=ok_color, label="更新正常"),
               Line2D([], [], color="#b71c1c", linestyle="--", label=f"更新期限（{days}天）")]
    def draw(ax: Axes, rows: Sequence[int]) -> None:
        for y, i in enumerate(rows):
            if not known[i]:
                ax.text(0.2, y, "未知（未取得发布数据）", va="center", fontsize=8.5, color="#757575")
                continue
            v = float(value[i])
            ax.barh(y, v, color=over_color if v > days else ok_color, height=0.62)
            note = f"{_num(v)}天"
            if not is_missing(last[i]):
                note += f"（最后更新{_local(last[i]):%m-%d}）"
            ax.text(v + top * 0.01, y, note, va="center", fontsize=8.5)
        ax.axvline(days, color="#b71c1c", linestyle="--", linewidth=1.3)
        ax.text(days, 1.0, f" 更新期限（{days}天）", transform=ax.get_xaxis_transform(), va="bottom",
                fontsize=8.5, color="#b71c1c")
        ax.set_xlim(0, top)
        ax.set_xlabel("距检查日未更新天数（天）")
        ax.grid(axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
        _y_labels(ax, [names[str(frame.at[i, "account_id"])] for i in rows])

    return _paged(order, per_page, _with_period(title, period_label), handles, draw, title_pad=16)


# --------------------------------------------------------------------------- broken columns


def broken_columns_chart(df: pd.DataFrame, *, max_broken: int = 0, per_page: int = PER_PAGE,
                         period_label: str = "", title: str = "各账号栏目可用情况") -> list[bytes]:
    """Checked columns per account split into confirmed broken (red) and working (grey)."""
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    _require(df, ("account_id", "columns_checked", "columns_broken"), "broken-columns chart")
    frame = df.reset_index(drop=True)
    names = account_labels(frame)
    checked = _numeric(frame, "columns_checked")
    broken = _numeric(frame, "columns_broken").fillna(0)
    has = checked.fillna(0) > 0
    rate = (broken / checked.where(has)).fillna(0)
    order = sorted(range(len(frame)), key=lambda i: (not has[i], -broken[i], -rate[i], i))
    top = max([3.0] + [float(max(checked[i], broken[i])) * 1.4 for i in order if has[i]])
    bad_color, ok_color = "#e53935", "#cfd8dc"
    rule = f"已确认无法访问的栏目超过{max_broken}个即不合格" if max_broken else "出现已确认无法访问的栏目即不合格"
    handles = [Patch(color=bad_color, label="无法访问（已确认）"), Patch(color=ok_color, label="可正常访问")]
    def draw(ax: Axes, rows: Sequence[int]) -> None:
        for y, i in enumerate(rows):
            if not has[i]:
                ax.text(0.05, y, "未检查（无可验证的栏目）", va="center", fontsize=8.5, color="#757575")
                continue
            b, c = float(broken[i]), float(checked[i])
            ax.barh(y, b, color=bad_color, height=0.62)
            ax.barh(y, max(c - b, 0), left=b, color=ok_color, height=0.62)
            note = f"{int(b)}/{int(c)}" + (f"（{_num(rate[i] * 100)}%）" if b else "")
            ax.text(max(c, b) + top * 0.01, y, note, va="center", fontsize=8.5,
                    color="#b71c1c" if b > max_broken else "#424242")
        ax.set_xlim(0, top)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(f"栏目数（个）；标注：不可用栏目数/检查栏目数。标准：{rule}")
        ax.grid(axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
        _y_labels(ax, [names[str(frame.at[i, "account_id"])] for i in rows])

    return _paged(order, per_page, _with_period(title, period_label), handles, draw)


# --------------------------------------------------------------------------- reply latency


def inquiries_frame(records: Sequence[Inquiry]) -> pd.DataFrame:
    """The :func:`latency_chart` input from inquiry records the caller fetched
    (``monitor.store.Inquiry``: ``account_id``, ``state``, ``latency_minutes``,
    ``sent_at``, ``deadline_at``). Dashboards do not read the store themselves."""
    rows = [{"account_id": r.account_id, "state": r.state,
             "latency_minutes": math.nan if r.latency_minutes is None else float(r.latency_minutes),
             "sent_at": r.sent_at, "deadline_at": r.deadline_at} for r in records]
    columns = ["account_id", "state", "latency_minutes", "sent_at", "deadline_at"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("sent_at", "deadline_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def _latency_positions(q: pd.DataFrame, working_days: int) -> tuple[pd.Series, bool]:
    """Position of each reply on the x axis and whether it is deadline-normalised (else hours)."""
    latency = _numeric(q, "latency_minutes")
    deadline = _numeric(q, "deadline_minutes")
    if deadline.isna().all() and {"sent_at", "deadline_at"} <= set(q.columns):
        sent = pd.to_datetime(q["sent_at"], utc=True, errors="coerce")
        due = pd.to_datetime(q["deadline_at"], utc=True, errors="coerce")
        deadline = ((due - sent).dt.total_seconds() / 60).astype("float64")
    deadline = deadline.where(deadline > 0)
    if deadline.notna().any():
        # An inquiry without its own deadline gets the typical one rather than disappearing.
        deadline = deadline.fillna(deadline.median())
        return latency / deadline * working_days, True
    return latency / 60, False


@dataclass(frozen=True)
class _AccountReplies:
    account_id: str
    replied: pd.DataFrame  # pos (x position) and state of the inquiries with a human reply
    total: int  # inquiries with a known outcome
    in_time: int
    unanswered: int
    median: float

    @property
    def missed(self) -> int:
        return self.total - self.in_time


def latency_chart(inquiries: pd.DataFrame, *, working_days: int = 3, names: Mapping[str, str] | pd.DataFrame |
                  None = None, per_page: int = PER_PAGE, period_label: str = "",
                  title: str = "测试留言答复用时") -> list[bytes]:
    """Reply time of each test inquiry per account (points, box when 4+), deadline line, unanswered zone.

    See the module docstring for the ``inquiries`` columns.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    _require(inquiries, ("account_id", "latency_minutes", "state"), "inquiries")
    q = inquiries[inquiries["state"].astype(str).isin(_OUTCOMES)].reset_index(drop=True)
    q["account_id"] = q["account_id"].astype(str)
    if q.empty:
        return []
    pos, normalised = _latency_positions(q, working_days)
    q["pos"] = pos
    limit = float(working_days if normalised else working_days * 24)
    cap = limit * 3  # beyond 3x the deadline the exact value hardly matters: drawn at the edge
    if isinstance(names, pd.DataFrame):
        label_of = account_labels(names)
    elif names is not None:
        label_of = {str(k): str(v) for k, v in names.items()}
    elif "account_name" in q.columns:
        label_of = account_labels(q.drop_duplicates("account_id"))
    else:
        label_of = {}

    stats: list[_AccountReplies] = []
    for account, group in q.groupby("account_id", sort=False):
        states = group["state"].astype(str)
        replied = group.loc[group["pos"].notna() & (states != "unanswered"), ["pos", "state"]]
        stats.append(_AccountReplies(
            account_id=str(account), replied=replied, total=len(group),
            in_time=int((states == "answered").sum()), unanswered=int((states == "unanswered").sum()),
            median=float(replied["pos"].median()) if len(replied) else math.inf))
    # Worst first: share missed, then unanswered before late, then the slowest typical reply.
    stats.sort(key=lambda s: (-s.missed / s.total, -s.unanswered, -s.missed, -s.median))

    un_x = cap * 1.13
    unit = "工作日" if normalised else "小时"
    line_label = (f"答复期限（{working_days}个工作日）" if normalised
                  else f"答复期限（{working_days}个工作日，按{working_days * 24}小时近似）")
    handles = [
        Line2D([], [], linestyle="", marker="o", color=INQUIRY_OUTCOME_COLORS["answered"],
               label=INQUIRY_OUTCOME_LABELS["answered"]),
        Line2D([], [], linestyle="", marker="o", color=INQUIRY_OUTCOME_COLORS["late"],
               label=INQUIRY_OUTCOME_LABELS["late"]),
        Line2D([], [], linestyle="", marker="x", color=INQUIRY_OUTCOME_COLORS["unanswered"],
               label=INQUIRY_OUTCOME_LABELS["unanswered"]),
        Patch(color="#cfd8dc", label="四分位范围（4条及以上）"),
        Line2D([], [], color="#b71c1c", linestyle="--", label=line_label),
    ]
    jitter = (0.0, -0.16, 0.16, -0.08, 0.08, -0.24, 0.24)
    def draw(ax: Axes, rows: Sequence[_AccountReplies]) -> None:
        for y, row in enumerate(rows):
            xs = row.replied["pos"].clip(upper=cap)
            if len(xs) >= 4:
                q1, q3 = xs.quantile(0.25), xs.quantile(0.75)
                ax.hlines(y, xs.min(), xs.max(), color="#90a4ae", linewidth=1)
                ax.hlines(y, q1, q3, color="#cfd8dc", linewidth=8)
                ax.plot([xs.median()], [y], marker="|", markersize=12, color="#263238")
            for k, (x, state) in enumerate(zip(xs, row.replied["state"].astype(str))):
                beyond = x >= cap
                ax.plot([x], [y + jitter[k % len(jitter)]], linestyle="", marker=">" if beyond else "o",
                        markersize=5, alpha=0.85, color=INQUIRY_OUTCOME_COLORS[state])
            for k in range(row.unanswered):
                ax.plot([un_x], [y + jitter[k % len(jitter)]], linestyle="", marker="x", markersize=6,
                        color=INQUIRY_OUTCOME_COLORS["unanswered"])
        ax.axvspan(cap * 1.06, cap * 1.2, color="#ffebee", zorder=0)
        ax.axvline(limit, color="#b71c1c", linestyle="--", linewidth=1.3)
        ax.text(limit, 1.0, " " + line_label, transform=ax.get_xaxis_transform(), va="bottom", fontsize=8.5,
                color="#b71c1c")
        ax.set_xlim(0, cap * 1.2)
        step = max(1, round(cap / 9)) if normalised else max(12, round(cap / 9 / 12) * 12)
        ticks = list(range(0, int(cap) + 1, int(step)))
        ax.set_xticks([*ticks, un_x], [*(f"≥{t}" if t >= cap else str(t) for t in ticks), "未答复"])
        xlabel = (f"答复用时（{unit}，按每条留言的答复期限折算；超过{_num(cap)}{unit}画在右缘）" if normalised
                  else f"答复用时（{unit}；超过{_num(cap)}{unit}画在右缘）")
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", color="#eeeeee")
        ax.set_axisbelow(True)
        _y_labels(ax, [label_of.get(row.account_id, row.account_id) for row in rows])
        _right_labels(ax, [f"按时{row.in_time}/{row.total}" for row in rows])

    return _paged(stats, per_page, _with_period(title, period_label), handles, draw, title_pad=16, legend_cols=5)
