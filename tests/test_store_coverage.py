"""The store's coverage records: which accounts were looked at successfully, per kind and day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from monitor.store import CoverageTotals, Store
from monitor.store.tables import coverage_daily

try:
    from store_fixtures import T0, store, store_url, vclock
except ImportError:  # tests/ became a package
    from tests.store_fixtures import T0, store, store_url, vclock  # noqa: F401

H = timedelta(hours=1)
DAY = timedelta(days=1)
MONDAY = date(2023, 7, 3)  # T0's Shanghai day


def test_looks_fold_into_one_row_per_account_kind_and_day(store: Store) -> None:
    assert store.record_looks("freshness", T0, ["acc-a"], ["acc-b"]) == 2
    assert store.record_looks("freshness", T0 + 2 * H, ["acc-a", "acc-b"]) == 2
    assert store.record_looks("freshness", T0 - H, ["acc-a"]) == 1  # out of order: first look moves back
    assert store.record_looks("freshness", T0 + 3 * H, [], ["acc-a"]) == 1
    with store.engine.connect() as conn:
        rows = {r.account_id: r for r in conn.execute(sa.select(coverage_daily))}
    a, b = rows["acc-a"], rows["acc-b"]
    assert (a.kind, a.day, a.ok, a.failed) == ("freshness", MONDAY, 3, 1)
    assert (b.ok, b.failed) == (1, 1)
    assert store.coverage_between("freshness", MONDAY, MONDAY) == [
        CoverageTotals("acc-a", 1, 0, T0 + 2 * H), CoverageTotals("acc-b", 1, 0, T0 + 2 * H)]


def test_an_account_in_both_lists_was_looked_at(store: Store) -> None:
    store.record_looks("columns", T0, ["acc-a"], ["acc-a"])
    (totals,) = store.coverage_between("columns", MONDAY, MONDAY)
    assert (totals.days_ok, totals.days_failed) == (1, 0)


def test_last_looks_is_the_last_successful_look_before_the_instant(store: Store) -> None:
    for d in range(3):  # looked at daily, then the API failed for a week
        store.record_looks("freshness", T0 + d * DAY, ["acc-a", "acc-b"])
    for d in range(3, 10):
        store.record_looks("freshness", T0 + d * DAY, ["acc-b"], ["acc-a"])
    store.record_looks("inquiry", T0 + 9 * DAY, ["acc-a"])  # another kind says nothing about freshness
    looks = store.last_looks("freshness", T0 + 10 * DAY)
    assert looks == {"acc-a": T0 + 2 * DAY, "acc-b": T0 + 9 * DAY}
    assert store.last_looks("freshness", T0 + 2 * DAY) == {"acc-a": T0 + DAY, "acc-b": T0 + DAY}
    assert store.last_looks("freshness", T0) == {}
    totals = {t.account_id: t for t in store.coverage_between("freshness", MONDAY, MONDAY + timedelta(days=9))}
    assert (totals["acc-a"].days_ok, totals["acc-a"].days_failed) == (3, 7)
    assert (totals["acc-b"].days_ok, totals["acc-b"].days_failed) == (10, 0)


def test_within_the_instants_own_day_the_answer_is_never_later_than_the_truth(store: Store) -> None:
    store.record_looks("freshness", T0, ["acc-a"])
    store.record_looks("freshness", T0 + 4 * H, ["acc-a"])
    store.record_looks("freshness", T0 + 8 * H, ["acc-a"])
    assert store.last_looks("freshness", T0 + 9 * H) == {"acc-a": T0 + 8 * H}
    # Only the day's first and last looks are kept: before the last one, the first answers.
    assert store.last_looks("freshness", T0 + 6 * H) == {"acc-a": T0}


def test_bad_kind_and_naive_time_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="coverage kind must be one of"):
        store.record_looks("weather", T0, ["acc-a"])
    with pytest.raises(ValueError, match="naive datetime"):
        store.record_looks("freshness", T0.replace(tzinfo=None), ["acc-a"])
    assert store.record_looks("freshness", T0, []) == 0


def test_last_looks_can_be_bounded_to_recent_days(store: Store) -> None:
    store.record_looks("freshness", T0, ["acc-a"])
    store.record_looks("freshness", T0 + 5 * DAY, ["acc-b"])
    assert store.last_looks("freshness", T0 + 9 * DAY, since=MONDAY + timedelta(days=1)) == {"acc-b": T0 + 5 * DAY}
