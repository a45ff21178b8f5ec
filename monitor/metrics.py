"""Per-account metrics of a period, from the store's rollups (contract: docs/metrics.md).

    from monitor.metrics import compute, to_json_rows
    df = compute(store, config, parse_period("2023Q3"))

One row per configured account, in config order, with :data:`COLUMNS` in that
order. Everything is aggregated per account in SQL or with pandas over the
store's rollups (``column_daily`` sums, one row per inquiry, per-account
publication gaps computed by the database), all read through ``Store`` methods;
nothing here loops over checks, and nothing here decides pass or fail (that is
``monitor.scoring``).

Two inputs depend on the scoring policy, which is why ``compute`` takes it
(default: the config's selected policy): whether an automatic reply answers an
inquiry, and the working-day deadline(s) of its ``inquiry_deadline`` rules.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitor import clock
from monitor.clock import SHANGHAI, as_utc
from monitor.config import Config
from monitor.period import Period
from monitor.policy import InquiryDeadlineRule, Policy, SecurityIncidentRule
from monitor.sources import account_blind_reason
from monitor.store import Store
from monitor.workdays import WorkCalendar

# SPEC's export columns before verdict and reasons.
EXPORT_METRIC_COLUMNS: tuple[str, ...] = (
    "account_id", "account_name", "unit", "category",
    "inquiries_sent", "inquiries_answered_in_time", "response_rate", "median_reply_minutes", "p90_reply_minutes",
    "columns_checked", "columns_broken", "broken_column_rate",
    "last_update", "max_gap_days", "privacy_findings",
)
# Used by scoring and the charts.
EXTRA_COLUMNS: tuple[str, ...] = (
    "days_since_update", "inquiries_late", "inquiries_unanswered", "inquiries_open", "inquiries_error",
    "auto_reply_only", "columns_unverifiable", "columns_error", "freshness_known",
    "follower_messages", "follower_answered", "follower_response_rate", "follower_median_reply_minutes",
    "security_incidents",
    # coverage: the instant freshness was watched until, and the unwatched time after it
    "freshness_seen_until", "days_unobserved",
    # the sources that saw the account publish, and why none of them sees 群发 (empty: one does)
    "update_sources", "update_blind",
    # details for the reasons and the bulletin
    "late_by_working_days", "broken_column_paths", "privacy_by_type",
    "security_incident_details",
)
COLUMNS: tuple[str, ...] = EXPORT_METRIC_COLUMNS + EXTRA_COLUMNS

DEFAULT_DEADLINE_WORKING_DAYS = 3  # the probe's default when nothing else says
# A successful freshness look also covers the day after it: the round is daily, so only a
# longer silence of the monitor is an outage (and a period measured while it works is judged
# exactly as before coverage was recorded).
LOOK_COVERS = timedelta(days=1)
LOOKS_WITHIN = timedelta(days=31)  # how far back from as_of the last successful look is sought
_DAY_S = 86400.0
_INT_COLUMNS = (
    "inquiries_sent", "inquiries_answered_in_time", "columns_checked", "columns_broken", "privacy_findings",
    "inquiries_late", "inquiries_unanswered", "inquiries_open", "inquiries_error", "auto_reply_only",
    "columns_unverifiable", "columns_error", "security_incidents",
)


def compute(store: Store, config: Config, period: Period, *, now: datetime | None = None,
            policy: Policy | None = None) -> pd.DataFrame:
    """The metrics table of ``period`` (see docs/metrics.md).

    ``now`` (default: the program clock) decides which inquiries are still open
    and, for a period not over yet, the instant metrics are taken at
    (``as_of = min(period.end, now)``). ``policy`` defaults to
    ``config.selected_policy``. ``df.attrs`` carries ``period``, ``as_of``,
    ``policy``, ``autoreply_counts_as_answer`` and ``calendar_fallback_years``.
    """
    policy = policy or config.selected_policy
    now_utc = as_utc(now) if now is not None else clock.now()
    as_of = max(period.start, min(period.end, now_utc))
    ids = [a.id for a in config.accounts]
    index = pd.Index(ids, name="account_id", dtype=object)
    calendar = config.work_calendar()

    base = pd.DataFrame(
        {
            "account_id": pd.Series(ids, index=index, dtype=object),
            "account_name": pd.Series([a.name for a in config.accounts], index=index, dtype=object),
            "unit": pd.Series([a.unit for a in config.accounts], index=index, dtype=object),
            "category": pd.Series([a.category for a in config.accounts], index=index, dtype=object),
        }
    )
    parts = [
        base,
        _inquiry_metrics(store, index, period, now_utc, policy, calendar),
        _column_metrics(store, index, period),
        _content_metrics(store, index, period, as_of),
        _source_metrics(store, config, index, as_of),
        _privacy_metrics(store, index, period),
        _incident_metrics(store, index, period, policy),
        _follower_metrics(store, index, period),
    ]
    df = pd.concat(parts, axis=1)
    for name in _INT_COLUMNS:
        df[name] = df[name].fillna(0).astype("int64")
    for name in ("late_by_working_days", "privacy_by_type"):
        df[name] = [v if isinstance(v, dict) else {} for v in df[name]]
    df["broken_column_paths"] = [v if isinstance(v, list) else [] for v in df["broken_column_paths"]]
    df["security_incident_details"] = [v if isinstance(v, list) else [] for v in df["security_incident_details"]]
    df["freshness_known"] = df["last_update"].notna()

    df = df.loc[:, list(COLUMNS)].reset_index(drop=True)
    df.attrs.update({
        "period": period,
        "as_of": as_of,
        "policy": policy.name,
        "autoreply_counts_as_answer": policy.autoreply_counts_as_answer,
        "calendar_fallback_years": sorted(calendar.fallback_years),
    })
    return df


# --------------------------------------------------------------------- inquiries

def deadline_working_days(policy: Policy) -> list[int]:
    """Distinct working-day deadlines of the policy's ``inquiry_deadline`` rules, ascending."""
    return sorted({r.working_days for r in policy.rules if isinstance(r, InquiryDeadlineRule)})


def _inquiry_metrics(store: Store, index: pd.Index, period: Period, now: datetime, policy: Policy,
                     calendar: WorkCalendar) -> pd.DataFrame:
    names = ("inquiries_sent", "inquiries_answered_in_time", "response_rate", "median_reply_minutes",
             "p90_reply_minutes", "inquiries_late", "inquiries_unanswered", "inquiries_open", "inquiries_error",
             "auto_reply_only", "late_by_working_days")
    # The six columns needed, not Store.inquiries_between's full records: at
    # 130,000 inquiries a quarter the records cost seconds.
    times = store.inquiry_times_between(period.start, period.end)
    q = _frame({"account_id": times.account_id, "state": times.state, "sent_at": times.sent_at,
                "deadline_at": times.deadline_at, "auto_reply_at": times.auto_reply_at,
                "human_reply_at": times.human_reply_at})
    q = q[q["account_id"].isin(index)]
    if q.empty:
        return pd.DataFrame(index=index, columns=list(names))
    for col in ("sent_at", "deadline_at", "auto_reply_at", "human_reply_at"):
        q[col] = pd.to_datetime(q[col], utc=True)
    now_ts = pd.Timestamp(now)

    is_error = q["state"].eq("error")
    is_sent = q["sent_at"].notna() & ~is_error
    answer = q["human_reply_at"]
    if policy.autoreply_counts_as_answer:
        answer = q[["human_reply_at", "auto_reply_at"]].min(axis=1)
    has_answer = answer.notna()
    # A state recorded without any reply time (a manual channel): trust the recorder.
    recorded = q["state"].where(q["human_reply_at"].isna() & q["auto_reply_at"].isna(), "")
    awaited = ~has_answer & ~recorded.isin(["answered", "late"])  # no answer that counts, so far
    # The probe closes an inquiry only after a successful look past the deadline.
    probe_gave_up = q["state"].isin(["unanswered", "answered", "late"])

    working_days = deadline_working_days(policy)
    if working_days:
        deadline = _deadlines(q["sent_at"], working_days[0], calendar)
    else:  # no deadline rule: the deadline the probe set when sending
        deadline = q["deadline_at"].fillna(_deadlines(q["sent_at"], DEFAULT_DEADLINE_WORKING_DAYS, calendar))

    in_time = is_sent & ((has_answer & (answer <= deadline)) | recorded.eq("answered"))
    late = is_sent & ((has_answer & (answer > deadline)) | recorded.eq("late"))
    # Only the probe, after a successful look past the deadline, may say nobody answered: a row still
    # `sent` past its deadline means the monitor could not look (its own trouble), so it stays open.
    unanswered = is_sent & awaited & probe_gave_up & (deadline <= now_ts)
    counted = in_time | late | unanswered
    q["sent"] = counted
    q["in_time"] = in_time
    q["late"] = late
    q["unanswered"] = unanswered
    q["open"] = ~is_error & ~counted
    q["error"] = is_error
    q["auto_only"] = counted & q["human_reply_at"].isna() & q["auto_reply_at"].notna()
    human = counted & q["human_reply_at"].notna()
    q["reply_minutes"] = ((q["human_reply_at"] - q["sent_at"]).dt.total_seconds() / 60.0).where(human)

    late_cols = []
    for w in working_days:
        d = deadline if w == working_days[0] else _deadlines(q["sent_at"], w, calendar)
        col = f"_late_{w}"
        q[col] = counted & ((has_answer & (answer > d)) | recorded.eq("late")
                            | (awaited & probe_gave_up & (d <= now_ts)))
        late_cols.append((w, col))

    g = q.groupby("account_id", sort=False)
    sums = g[["sent", "in_time", "late", "unanswered", "open", "error", "auto_only",
              *(c for _, c in late_cols)]].sum()
    minutes = g["reply_minutes"]
    out = pd.DataFrame(index=sums.index)
    out["inquiries_sent"] = sums["sent"]
    out["inquiries_answered_in_time"] = sums["in_time"]
    out["response_rate"] = (sums["in_time"] / sums["sent"]).where(sums["sent"] > 0)
    out["median_reply_minutes"] = minutes.median()
    out["p90_reply_minutes"] = minutes.quantile(0.9)
    out["inquiries_late"] = sums["late"]
    out["inquiries_unanswered"] = sums["unanswered"]
    out["inquiries_open"] = sums["open"]
    out["inquiries_error"] = sums["error"]
    out["auto_reply_only"] = sums["auto_only"]
    out["late_by_working_days"] = [
        {w: int(sums.at[acct, c]) for w, c in late_cols} for acct in sums.index
    ]
    out = out.reindex(index)
    out["response_rate"] = out["response_rate"].astype("float64")
    return out


def _deadlines(sent_at: pd.Series, working_days: int, calendar: WorkCalendar) -> pd.Series:
    """Deadline of each inquiry (a function of the Shanghai day it was sent): computed
    once per distinct day, not per inquiry."""
    days = sent_at.dt.tz_convert(SHANGHAI).dt.date
    cache: dict[date, datetime] = {}
    for day in days.dropna().unique():
        cache[day] = calendar.deadline(datetime.combine(day, time(12), SHANGHAI), working_days)
    return pd.to_datetime(days.map(cache), utc=True)


# ----------------------------------------------------------------------- columns

def _column_metrics(store: Store, index: pd.Index, period: Period) -> pd.DataFrame:
    names = ("columns_checked", "columns_broken", "broken_column_rate", "columns_unverifiable", "columns_error",
             "broken_column_paths")
    totals = store.column_totals_between(period.first_day, period.last_day)
    wanted = set(index)
    rows = [(t.account_id, t.column_path, t.ok + t.failing + t.broken, t.broken, t.unverifiable, t.error)
            for t in totals if t.account_id in wanted]
    if not rows:
        return pd.DataFrame(index=index, columns=list(names))
    c = pd.DataFrame(rows, columns=["account_id", "column_path", "judged", "broken", "unverifiable", "error"])
    c["is_checked"] = c["judged"] > 0
    c["is_broken"] = c["broken"] > 0
    # Columns never judged in the period, by why: a partition of the columns seen.
    c["is_unverifiable"] = ~c["is_checked"] & (c["unverifiable"] > 0)
    c["is_error"] = ~c["is_checked"] & (c["unverifiable"] == 0) & (c["error"] > 0)
    g = c.groupby("account_id", sort=False)
    sums = g[["is_checked", "is_broken", "is_unverifiable", "is_error"]].sum()
    out = pd.DataFrame(index=sums.index)
    out["columns_checked"] = sums["is_checked"]
    out["columns_broken"] = sums["is_broken"]
    out["broken_column_rate"] = (sums["is_broken"] / sums["is_checked"]).where(sums["is_checked"] > 0)
    out["columns_unverifiable"] = sums["is_unverifiable"]
    out["columns_error"] = sums["is_error"]
    broken = c[c["is_broken"]]
    paths = broken.groupby("account_id", sort=False)["column_path"].agg(lambda s: sorted(s))
    out["broken_column_paths"] = paths.reindex(out.index)
    out = out.reindex(index)
    out["broken_column_rate"] = out["broken_column_rate"].astype("float64")
    return out


# ----------------------------------------------------------------------- content

def _content_metrics(store: Store, index: pd.Index, period: Period, as_of: datetime) -> pd.DataFrame:
    """last_update, days_since_update, max_gap_days and the freshness coverage. The gaps
    between consecutive publications are computed by the database
    (``Store.publication_spans``), so one row per account comes back, not one per article.

    A successful look lists everything published before it, so the record is complete up
    to the last successful look (plus :data:`LOOK_COVERS`), ``freshness_seen_until``; the
    gap that ends the period is measured only up to there, never over the monitor's outage.
    """
    last = store.last_published(before=as_of)
    # A bounded scan (10,000 accounts: 1/3 of a quarter's rows); an older look is left out,
    # which can only make the watched part shorter, never count an outage against an account.
    looks = store.last_looks("freshness", as_of, since=(as_of - LOOKS_WITHIN).astimezone(SHANGHAI).date())
    start_s = period.start.timestamp()
    gaps = {s.account_id: (s.first_s, s.last_s, s.max_gap_s) for s in store.publication_spans(period.start, as_of)}

    last_update: list[pd.Timestamp | None] = []
    seen_until: list[pd.Timestamp | None] = []
    unobserved: list[float] = []
    since: list[float] = []
    max_gap: list[float] = []
    for acct in index:
        when = last.get(acct)
        # An article seen is a look at or after its publication, whatever was recorded.
        look = max((t for t in (looks.get(acct), when) if t is not None), default=None)
        seen = min(as_of, look + LOOK_COVERS) if look is not None else None
        seen_until.append(pd.Timestamp(seen).tz_convert(SHANGHAI) if seen is not None else None)
        unobserved.append((as_of - seen).total_seconds() / _DAY_S if seen is not None else math.nan)
        if when is None:
            last_update.append(None)
            since.append(math.nan)
            max_gap.append(math.nan)
            continue
        assert seen is not None
        last_update.append(pd.Timestamp(when).tz_convert(SHANGHAI))
        since.append((as_of - when).total_seconds() / _DAY_S)
        seen_s = seen.timestamp()
        if acct in gaps:
            first, latest, inner_gap = gaps[acct]
            widest = max(first - start_s, seen_s - latest, float(inner_gap or 0.0))
            max_gap.append(round(widest / _DAY_S, 1))
        elif seen_s > start_s:  # known to publish, but nothing in the watched part of the period
            max_gap.append(round((seen_s - start_s) / _DAY_S, 1))
        else:  # not watched at all in the period
            max_gap.append(math.nan)
    zone = f"datetime64[us, {SHANGHAI.key}]"
    out = pd.DataFrame(index=index)
    out["last_update"] = pd.Series(last_update, index=index, dtype=zone)
    out["max_gap_days"] = np.array(max_gap, dtype="float64")
    out["days_since_update"] = np.array(since, dtype="float64")
    out["freshness_seen_until"] = pd.Series(seen_until, index=index, dtype=zone)
    out["days_unobserved"] = np.array(unobserved, dtype="float64")
    return out


def _source_metrics(store: Store, config: Config, index: pd.Index, as_of: datetime) -> pd.DataFrame:
    """Which sources saw each account publish (up to ``as_of``), and whether any of them (or a
    configured feed) can see 群发: freepublish alone cannot, so its silence proves nothing."""
    seen = store.content_sources(before=as_of)
    feeds = {a.id for a in config.accounts if a.feed is not None}
    out = pd.DataFrame(index=index)
    out["update_sources"] = pd.Series([sorted(seen.get(a, {})) for a in index], index=index, dtype=object)
    out["update_blind"] = pd.Series([account_blind_reason(seen.get(a, {}), a in feeds) for a in index],
                                    index=index, dtype=object)
    return out


# ----------------------------------------------------------------------- privacy

def _privacy_metrics(store: Store, index: pd.Index, period: Period) -> pd.DataFrame:
    wanted = set(index)
    counts: dict[str, Counter[str]] = {}
    for f in store.privacy_findings_between(period.start, period.end):
        if f.account_id in wanted:
            counts.setdefault(f.account_id, Counter())[f.type] += 1
    out = pd.DataFrame(index=index)
    out["privacy_findings"] = [sum(counts[a].values()) if a in counts else 0 for a in index]
    out["privacy_by_type"] = [dict(sorted(counts[a].items())) if a in counts else {} for a in index]
    return out


# --------------------------------------------------------------------- incidents

_INCIDENT_KIND_ZH = {"fixed_expression": "严重表述错误", "name_title": "领导姓名职务错误", "wrong_char": "错别字",
                     "sensitive": "敏感内容", "link_host": "有害链接"}


def _where(title: str | None) -> str:
    """An article by its title in 《》; a menu link's title (菜单“...”) as it is."""
    if not title:
        return ""
    return f"{title}：" if title.startswith("菜单") else f"《{title}》"


def _incident_metrics(store: Store, index: pd.Index, period: Period, policy: Policy) -> pd.DataFrame:
    """Security incidents: content findings a person confirmed (found in the period), of the rule
    sets the policy's security_incident rules count (all when one of them names none)."""
    wanted = set(index)
    sets: set[str] | None = set()
    for rule in policy.rules:
        if isinstance(rule, SecurityIncidentRule) and sets is not None:
            sets = None if rule.content_rule_sets is None else sets | set(rule.content_rule_sets)
    # One incident per article (or menu link): its errors listed together.
    by_source: dict[str, dict[str, list[str]]] = {}
    titles: dict[tuple[str, str], str] = {}
    for f in store.content_findings(status="confirmed", start=period.start, end=period.end):
        if f.account_id in wanted and (sets is None or f.rule_set in sets):
            fix = f"（应为“{f.suggestion}”）" if f.suggestion else ""
            by_source.setdefault(f.account_id, {}).setdefault(f.source, []).append(
                f"{_INCIDENT_KIND_ZH.get(f.kind, f.kind)}“{f.text}”{fix}")
            if f.title:
                titles[(f.account_id, f.source)] = f.title
    details = {account: [_where(titles.get((account, src))) + "、".join(errors) for src, errors in sources.items()]
               for account, sources in by_source.items()}
    out = pd.DataFrame(index=index)
    out["security_incidents"] = [len(details.get(a, [])) for a in index]
    out["security_incident_details"] = pd.Series([details.get(a, []) for a in index], index=index, dtype=object)
    return out


# --------------------------------------------------------------------- followers

def _follower_metrics(store: Store, index: pd.Index, period: Period) -> pd.DataFrame:
    """Customer-service conversations (all followers, not only testers), from the
    per-day rollup. The period's median reply time is the answered-weighted median
    of the daily medians (the exact one would need every reply)."""
    totals = store.follower_totals_between(period.first_day, period.last_day)
    medians = store.follower_medians_between(period.first_day, period.last_day)
    t = _frame({"account_id": [x.account_id for x in totals], "messages": [x.messages for x in totals],
                "answered": [x.answered for x in totals]})
    m = _frame({"account_id": medians.account_id, "answered": medians.answered,
                "median": medians.median_reply_minutes})
    t = t.set_index("account_id").reindex(index)
    out = pd.DataFrame(index=index)
    out["follower_messages"] = t["messages"].astype("Int64")
    out["follower_answered"] = t["answered"].astype("Int64")
    rate = t["answered"].astype("float64") / t["messages"].astype("float64")
    out["follower_response_rate"] = rate.where(t["messages"].astype("float64") > 0)
    out["follower_median_reply_minutes"] = _weighted_median(m).reindex(index).astype("float64")
    return out


def _weighted_median(m: pd.DataFrame) -> pd.Series:
    """Per account: the smallest value whose cumulative weight reaches half the total."""
    if m.empty:
        return pd.Series(dtype="float64")
    m = m.astype({"answered": "float64", "median": "float64"}).sort_values(["account_id", "median"])
    cum = m.groupby("account_id", sort=False)["answered"].cumsum()
    half = m.groupby("account_id", sort=False)["answered"].transform("sum") / 2.0
    return m[cum >= half].groupby("account_id", sort=False)["median"].first()


def _frame(columns: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """A DataFrame from the store's column-major results (all columns object
    dtype when there are no rows)."""
    if not any(len(values) for values in columns.values()):
        return pd.DataFrame({n: pd.Series(dtype=object) for n in columns})
    return pd.DataFrame({n: list(values) for n, values in columns.items()})


# -------------------------------------------------------------------------- JSON

def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime)):
        if value.tzinfo is None:
            value = value.replace(tzinfo=SHANGHAI)
        return value.astimezone(SHANGHAI).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def to_json_rows(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    """One JSON object per account (per row), for ``wxmon metrics --json``:
    datetimes ISO 8601 in Asia/Shanghai, NaN/NaT/NA as null, lists and mappings
    as JSON arrays and objects, Chinese as is (not escaped)."""
    names = list(columns) if columns is not None else list(df.columns)
    return [json.dumps(dict(zip(names, map(_json_value, row))), ensure_ascii=False)
            for row in df.loc[:, names].itertuples(index=False, name=None)]
