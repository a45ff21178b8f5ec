"""The seam between the runner and the probes: ProbeRow, the registry, and how run_probe judges a round."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import to_local
from monitor.errors import BadInput
from monitor.store import RUN_KINDS, Account, Store
from probes import columns, conversations, freshness, inquiry, privacy_probe
from probes.base import ProbeRow, RowShape, row_status
from probes.registry import ALL, KINDS, PROBES
from wxmon import runner

AT = datetime(2023, 9, 30, 2, 0, tzinfo=UTC)


# -- rows ------------------------------------------------------------------------


def test_a_column_row_prints_the_spec_object_in_the_spec_order() -> None:
    row = ProbeRow(columns.ROW, "bm-rsj", "failing", "HTTP 404", {
        "column": "政务服务/政策文件", "type": "view", "target": "https://example.org/a", "http_status": 404,
        "elapsed_ms": 12.5})
    assert json.dumps(row.to_json(), ensure_ascii=False) == (
        '{"account": "bm-rsj", "column": "政务服务/政策文件", "type": "view", "target": "https://example.org/a", '
        '"status": "failing", "reason": "HTTP 404", "http_status": 404, "elapsed_ms": 12.5}')


def test_an_inquiry_row_prints_its_status_as_state_and_only_the_fields_it_has() -> None:
    fields = {"inquiry_id": None, "window": None, "sent_at": None, "deadline_at": None, "human_reply_at": None,
              "latency_minutes": None, "changed": []}
    skipped = ProbeRow(inquiry.ROW, "a", "skipped", "no channel", fields)
    assert list(skipped.to_json()) == ["account", "inquiry_id", "window", "state", "sent_at", "deadline_at",
                                       "human_reply_at", "latency_minutes", "reason", "changed"]
    assert skipped.to_json()["state"] == "skipped" and not skipped.failed
    sent = ProbeRow(inquiry.ROW, "a", "sent", "", {**fields, "inquiry_state": "sent", "auto_reply_at": None})
    assert list(sent.to_json())[-3:] == ["changed", "inquiry_state", "auto_reply_at"]


def test_every_shape_starts_with_the_account_and_has_a_status_and_a_reason() -> None:
    for shape in (columns.ROW, inquiry.ROW, freshness.ROW, privacy_probe.ROW, conversations.ROW):
        assert shape.keys[0] == "account" and {shape.status_key, "reason"} <= set(shape.keys)


def test_a_field_outside_the_shape_is_refused_not_dropped() -> None:
    with pytest.raises(ValueError, match="outside the row's shape"):
        ProbeRow(freshness.ROW, "a", "ok", "", {"typo": 1}).to_json()
    with pytest.raises(ValueError, match="needs the keys"):
        RowShape(("account", "status"))


def test_row_status_takes_only_known_statuses() -> None:
    assert row_status("unanswered") == "unanswered"
    with pytest.raises(ValueError):
        row_status("running")


# -- the registry ------------------------------------------------------------------


def test_the_registry_keeps_the_kind_names_and_loads_each_probe_when_needed() -> None:
    assert KINDS == ("columns", "inquiry", "freshness", "privacy", ALL)
    assert set(KINDS) == set(RUN_KINDS)  # every kind's runs can be stored
    modules = {"columns": columns, "inquiry": inquiry, "freshness": freshness, "privacy": privacy_probe}
    for kind, probe in PROBES.items():
        assert probe._load() is modules[kind]  # type: ignore[attr-defined]


# -- the runner ---------------------------------------------------------------------


@dataclass(frozen=True)
class Acct:
    id: str


class FakeContext:
    """What run_probe itself uses of a ProbeContext: the store, the clock, the account sync."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.synced = 0
        self.round_notes: dict[str, dict[str, object]] = {}  # what a round notes about itself (none here)

    def now(self) -> datetime:
        return AT

    def sync_accounts(self) -> None:
        self.synced += 1


class FakeProbe:
    def __init__(self, statuses: dict[str, list[str]], fail: BaseException | None = None) -> None:
        self.statuses = statuses  # account -> the statuses of its rows
        self.fail = fail
        self.run_ids: list[int | None] = []

    async def run_round(self, ctx: object, accounts: Sequence[Acct], run_id: int | None) -> list[ProbeRow]:
        self.run_ids.append(run_id)
        if self.fail is not None:
            raise self.fail
        return [ProbeRow(freshness.ROW, a.id, row_status(s)) for a in accounts for s in self.statuses[a.id]]


@pytest.fixture
def store(tmp_path: Path):
    with Store.open(f"sqlite:///{tmp_path / 'wxmon.db'}") as store:
        store.upsert_accounts(Account(a, a) for a in "abcd")  # what sync_accounts would have stored
        yield store


def run(store: Store, monkeypatch: pytest.MonkeyPatch, probe: FakeProbe, accounts: list[Acct],
        kind: str = "freshness") -> list[runner.RoundResult]:
    monkeypatch.setattr(runner, "PROBES", dict.fromkeys(PROBES, probe))
    return asyncio.run(runner.run_probe(FakeContext(store), kind, accounts))  # type: ignore[arg-type]


@pytest.mark.parametrize(("statuses", "run_status", "errors"), [
    ({"a": ["ok"], "b": ["unverifiable", "ok"]}, "ok", 0),
    ({"a": ["ok"], "b": ["error", "failing", "error"]}, "partial", 1),  # one account, however many rows
    ({"a": ["error"], "b": ["ok", "error"]}, "error", 2),
])
def test_a_round_is_judged_by_the_accounts_with_error_rows(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                           statuses: dict[str, list[str]], run_status: str,
                                                           errors: int) -> None:
    probe = FakeProbe(statuses)
    (result,) = run(store, monkeypatch, probe, [Acct("a"), Acct("b")])
    assert (result.kind, result.run.status, result.run.accounts_error) == ("freshness", run_status, errors)
    assert probe.run_ids == [result.run.id]
    assert [r.account for r in result.rows] == [a for a, s in statuses.items() for _ in s]
    assert store.last_runs(kind="freshness")[0].detail == {"rows": len(result.rows)}


def test_a_round_records_which_accounts_it_looked_at(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # error: the monitor's trouble; unverifiable: it cannot see; skipped: nothing to look at.
    statuses = {"a": ["error"], "b": ["unverifiable"], "c": ["error", "failing"], "d": ["skipped"]}
    run(store, monkeypatch, FakeProbe(statuses), [Acct(a) for a in "abcd"])
    day = to_local(AT).date()
    totals = {t.account_id: (t.days_ok, t.days_failed) for t in store.coverage_between("freshness", day, day)}
    assert totals == {"a": (0, 1), "b": (0, 1), "c": (1, 0)}
    assert store.last_looks("freshness", AT + timedelta(seconds=1)) == {"c": AT}


def test_all_runs_every_kind_in_the_registry_order(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    results = run(store, monkeypatch, FakeProbe({"a": ["ok"]}), [Acct("a")], kind=ALL)
    assert [r.kind for r in results] == ["columns", "inquiry", "freshness", "privacy"]


def test_a_round_that_raises_leaves_its_run_in_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError):
        run(store, monkeypatch, FakeProbe({}, fail=RuntimeError("bug")), [Acct("a")])
    (last,) = store.last_runs(kind="freshness")
    assert last.status == "error" and last.detail == {"error": "RuntimeError"}


def test_an_unknown_kind_is_bad_input(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadInput, match="columns, inquiry, freshness, privacy, all"):
        run(store, monkeypatch, FakeProbe({}), [Acct("a")], kind="conversations")
