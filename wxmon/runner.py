"""Runs one round of a probe kind: records the run in the store, isolates failures.

The daemon, ``wxmon probe`` and the demo all come through here, so a round is
the same thing wherever it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.config import Account, Config
from monitor.errors import BadInput
from monitor.store import COVERAGE_KINDS, ProbeRun
from probes.base import ProbeRow
from probes.registry import ALL, KINDS, PROBES

if TYPE_CHECKING:
    from monitor.context import ProbeContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundResult:
    kind: str
    run: ProbeRun
    rows: list[ProbeRow]


def tune_gc() -> None:
    """Once, after start-up: keep the long-lived config and modules out of collections.

    A round makes many short-lived objects; with the default thresholds the
    collector ran ~46 full passes per 80,000-check round (measured: a quarter of
    its time). Frozen objects are never collected, so call this once, not per round.
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20000, 10, 10)


def select_accounts(config: Config, account_id: str | None) -> list[Account]:
    if account_id is None:
        return list(config.accounts)
    return [config.account(account_id)]


# Row statuses that are no look at the account: the monitor's trouble, an account we cannot
# see (no API access, a verification page), or nothing to look at.
NOT_LOOKED = frozenset({"error", "unverifiable", "skipped"})


def record_coverage(ctx: ProbeContext, kind: str, at: datetime, rows: Sequence[ProbeRow], *,
                    skipped: bool = False) -> None:
    """Record which accounts this round of ``kind`` looked at successfully (at ``at``, the
    round's start: never later than the look) and which it failed to, for the metrics to
    judge each account only on the time it was watched."""
    if kind not in COVERAGE_KINDS:
        return
    ok = set() if skipped else {row.account for row in rows if row.status not in NOT_LOOKED}
    failed = {row.account for row in rows if row.status != "skipped"} - ok
    ctx.store.record_looks(kind, at, ok, failed)


async def run_probe(ctx: ProbeContext, kind: str, accounts: Sequence[Account]) -> list[RoundResult]:
    """One round of ``kind`` (or of every kind for ``all``) over ``accounts``."""
    if kind not in KINDS:
        raise BadInput(f"unknown probe kind {kind!r}; expected one of {', '.join(KINDS)}")
    kinds = list(PROBES) if kind == ALL else [kind]
    ctx.sync_accounts()
    results = []
    for one in kinds:
        run = ctx.store.start_run(one, accounts_total=len(accounts), started_at=ctx.now())
        try:
            rows = await PROBES[one].run_round(ctx, list(accounts), run.id)
        except BaseException as exc:
            ctx.round_notes.pop(one, None)
            ctx.store.finish_run(run.id, "error", detail={"error": type(exc).__name__}, finished_at=ctx.now())
            raise
        failed = {row.account for row in rows if row.failed}
        status = "ok" if not failed else ("error" if len(failed) >= len(accounts) else "partial")
        notes = ctx.round_notes.pop(one, {})
        if notes.get("skipped"):  # nothing was checked (the monitor's network was down)
            status, failed = "error", {a.id for a in accounts}
        record_coverage(ctx, one, run.started_at, rows, skipped=bool(notes.get("skipped")))
        finished = ctx.store.finish_run(run.id, status, accounts_error=len(failed), finished_at=ctx.now(),
                                        detail={"rows": len(rows), **notes})
        log.info("%s round %d: %d accounts, %d with errors, status %s", one, run.id, len(accounts),
                 len(failed), status)
        results.append(RoundResult(one, finished, rows))
    return results
