"""Runs one round of a probe kind: records the run in the store, isolates failures.

The daemon, ``wxmon probe`` and the demo all come through here, so a round is
the same thing wherever it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from monitor.config import Account, Config
from monitor.errors import BadInput
from monitor.store import ProbeRun
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
            ctx.store.finish_run(run.id, "error", detail={"error": type(exc).__name__}, finished_at=ctx.now())
            raise
        failed = {row.account for row in rows if row.failed}
        status = "ok" if not failed else ("error" if len(failed) >= len(accounts) else "partial")
        finished = ctx.store.finish_run(run.id, status, accounts_error=len(failed), finished_at=ctx.now(),
                                        detail={"rows": len(rows)})
        log.info("%s round %d: %d accounts, %d with errors, status %s", one, run.id, len(accounts),
                 len(failed), status)
        results.append(RoundResult(one, finished, rows))
    return results
