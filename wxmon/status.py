"""``wxmon status``: what the daemon will do next and how the store looks."""

from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from monitor.clock import get_clock, to_local
from monitor.config import Config
from monitor.store import Store
from probes.registry import PROBES


class LastRound(TypedDict):
    id: int | None  # None: inquiries, sent one by one (then over the last 60 days)
    status: str
    started_at: str
    accounts_error: int
    skipped: str | None  # why nothing was checked: "network_down" (the monitor's own network), else None
    canary: str | None  # what the canary check saw when skipped


class OpenInquiry(TypedDict):
    account: str
    window: str
    state: str
    deadline: str | None


class StoreState(TypedDict):
    url: str
    ok: bool
    schema_version: str | None
    integrity: str | None
    file_bytes: int | None


class StatusReport(TypedDict):
    next_runs: dict[str, str | None]  # job -> local time, minutes
    last_rounds: dict[str, LastRound]  # by probe kind
    open_inquiries: list[OpenInquiry]
    store: StoreState


def status_report(config: Config, store: Store) -> StatusReport:
    now = get_clock().now()
    next_runs: dict[str, str | None] = {}
    for job, trigger in config.schedules.triggers().items():
        fire = trigger.get_next_fire_time(None, now)
        next_runs[job] = to_local(fire).isoformat(timespec="minutes") if fire else None
    last: dict[str, LastRound] = {}
    for kind in PROBES:
        runs = store.last_runs(kind=kind, limit=1)
        if runs:
            run = runs[0]
            detail = run.detail if isinstance(run.detail, dict) else {}
            skipped, canary = detail.get("skipped"), detail.get("canary")
            last[kind] = {"id": run.id, "status": run.status, "started_at": to_local(run.started_at).isoformat(
                timespec="minutes"), "accounts_error": run.accounts_error,
                "skipped": skipped if isinstance(skipped, str) else None,
                "canary": canary[:500] if isinstance(canary, str) else None}
    recent = store.inquiries_between(now - timedelta(days=60), now + timedelta(days=1))
    sent = [i.sent_at for i in recent if i.sent_at is not None]
    if sent and "inquiry" not in last:  # inquiries go out one by one, not in rounds
        last["inquiry"] = {"id": None, "status": "ok", "started_at": to_local(max(sent)).isoformat(
            timespec="minutes"), "accounts_error": sum(i.state == "error" for i in recent), "skipped": None,
            "canary": None}
    open_inquiries: list[OpenInquiry] = [
        {"account": i.account_id, "window": i.window_key, "state": i.state,
         "deadline": to_local(i.deadline_at).isoformat(timespec="minutes") if i.deadline_at else None}
        for i in store.open_inquiries()]
    health = store.health()
    return {"next_runs": next_runs, "last_rounds": last, "open_inquiries": open_inquiries,
            "store": {"url": health.url, "ok": health.ok, "schema_version": health.schema_version,
                      "integrity": health.integrity, "file_bytes": health.file_bytes}}


def print_status(config: Config, store: Store) -> None:
    report = status_report(config, store)
    print(f"accounts: {len(config.accounts)}   store: {report['store']['url']} "
          f"({'ok' if report['store']['ok'] else 'PROBLEM'}, schema {report['store']['schema_version']})")
    print("next runs:")
    for job, at in report["next_runs"].items():
        print(f"  {job:<14} {at or '-'}")
    print("last rounds:")
    for kind in PROBES:
        run = report["last_rounds"].get(kind)
        if run and run["id"] is None:
            print(f"  {kind:<14} last sent {run['started_at']} ({run['accounts_error']} in error, 60 days)")
            continue
        if run and run["skipped"] == "network_down":
            print(f"  {kind:<14} {run['started_at']} skipped — monitor network down (run {run['id']}; canary: "
                  f"{run['canary'] or '-'}); nothing was checked, nothing counted against the accounts")
            continue
        print(f"  {kind:<14} " + (f"{run['started_at']} {run['status']} (run {run['id']}, "
                                  f"{run['accounts_error']} account(s) with errors)" if run else "never"))
    print(f"open inquiries: {len(report['open_inquiries'])}")
    for item in report["open_inquiries"][:20]:
        print(f"  {item['account']:<20} {item['window']} {item['state']:<10} due {item['deadline'] or '-'}")
    from wxmon.connect import authorization_lines  # third-party-platform access (docs/access.md)

    for line in authorization_lines(config, store):
        print(line)
