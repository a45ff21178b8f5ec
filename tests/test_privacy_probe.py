"""The privacy round against the emulator: leaks found masked, decoys ignored, nothing full stored."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from emulator.content import article_html
from emulator.scenario import demo_secret_env
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI
from monitor.config import load_config
from probes import privacy_probe

try:
    from probe_harness import ProbeHarness
except ImportError:  # tests/ became a package
    from tests.probe_harness import ProbeHarness

QUARTER_START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
EPOCH = datetime(2000, 1, 1, tzinfo=SHANGHAI)
GETARTICLE = "/cgi-bin/freepublish/getarticle"
MASKS = {
    "id_card": re.compile(r"^\d{6}\*{8}\d{3}[\dX]$"),
    "mobile": re.compile(r"^1\d{2}\*{4}\d{4}$"),
    "bank_card": re.compile(r"^\d{4} \*{4} \*{4} \d{4}$"),
}
# How emulator.content writes the planted numbers (pii_paragraph).
PLANTED = {
    "id_card": re.compile(r"身份证号码：([0-9X]{18})"),
    "mobile": re.compile(r"联系电话：(1\d{10})"),
    "bank_card": re.compile(r"银行卡号：([\d ]{16,})"),
}


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class Harness(ProbeHarness):
    async def day(self, at: datetime, only: list[str] | None = None,
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The daily pair: freshness, then privacy, at the same instant (as `wxmon probe all` does)."""
        return await self.round("freshness", at, only), await self.round("privacy", None, only)

    def findings(self, account_id: str | None = None) -> list[Any]:
        return self.store.privacy_findings_between(EPOCH, self.clock.now() + timedelta(days=1), account_id=account_id)


run = Harness.run


def planted_numbers(server: EmulatorServer) -> dict[str, str]:
    """Every full number the emulator planted in an article -> its type (spaced and compact forms)."""
    out: dict[str, str] = {}
    for acct in server.scenario.accounts:
        for art in acct.articles:
            if not art.pii:
                continue
            html = article_html(acct, art, server.scenario.seed)
            for kind in art.pii:
                (number,) = PLANTED[kind].findall(html)
                out[number.strip()] = kind
                out[number.replace(" ", "")] = kind
    return out


def db_bytes(config_path: Path) -> bytes:
    db = Path(load_config(config_path).store_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def test_leaks_are_found_masked_and_decoys_are_not(emulator, demo_config, caplog):
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="probes")
    path = demo_config(emulator)
    numbers = planted_numbers(emulator)
    assert set(numbers.values()) == {"id_card", "mobile", "bank_card"}
    all_rows: list[dict[str, Any]] = []

    async def body(h: Harness) -> None:
        for point in ("2023-07-01T07:00:00", "2023-08-01T07:00:00", "2023-08-20T07:00:00", "2023-09-30T23:00:00"):
            fresh, rows = await h.day(local(point))
            all_rows.extend(rows)
            assert all(r["status"] in ("ok", "unverifiable") for r in rows), rows
            # Each round reads the articles new since the last one, once each however many sources
            # listed them (feed and freepublish: one page; datacube gives no link). bm-yjj's IP is
            # refused on 07-01, but its feed lists its articles: they are scanned all the same.
            at = h.clock.now()
            items = h.store.content_between(QUARTER_START - timedelta(days=100), at + timedelta(seconds=1))
            pages: dict[str, set[str]] = {}
            for i in items:
                if i.first_seen_at == at and i.url:
                    pages.setdefault(i.account_id, set()).add(i.url)
            assert sum(r["new_items"] for r in fresh) >= sum(len(v) for v in pages.values())
            for row in rows:
                assert row["scanned"] == len(pages.get(row["account"], ())), (point, row)
            if point.startswith("2023-07-01"):
                assert next(r for r in rows if r["account"] == "bm-yjj")["status"] == "ok"

        end = h.clock.now()
        truth = h.server.world.truth(QUARTER_START, end, h.server.base_url)["accounts"]
        leaking = {a for a, t in truth.items() if "leak" in (t["demo_expected"] or {}).get("fails", [])}
        assert leaking == {"zh-baisha", "bm-zjw"}
        for account_id, t in truth.items():
            got = {(f.source, f.type) for f in h.findings(account_id)}
            assert got == {(leak["url"], leak["type"]) for leak in t["leaks"]}, account_id
            assert bool(got) == (account_id in leaking), account_id
        stored = h.findings()
        assert len(stored) == 3
        for f in stored:
            assert MASKS[f.type].match(f.masked), f.masked
            # The mask belongs to a planted number of that type (same head and tail).
            assert any(k == f.type and n.replace(" ", "")[:3] == f.masked[:3]
                       and n.replace(" ", "")[-3:] == f.masked.replace(" ", "")[-3:] for n, k in numbers.items())

        # Re-running adds nothing: a plain round reads nothing new; a full re-read finds the same.
        again = await h.round("privacy")
        assert all(r["scanned"] == 0 and r["new_findings"] == 0 for r in again)
        rescan = [r.to_json() for r in await privacy_probe.run_round(
            h.ctx, [h.config.account(a) for a in sorted(leaking)], None, rescan_days=100)]
        assert all(r["scanned"] > 20 and len(r["findings"]) > 0 for r in rescan)
        assert all(r["new_findings"] == 0 for r in rescan)
        assert len(h.findings()) == 3
        all_rows.extend(rescan)

    run(emulator, path, body)

    # The full numbers are nowhere: not in the database file, not in the rows, not in the log.
    data = db_bytes(path)
    masked = [f["masked"] for r in all_rows for f in r["findings"]]
    assert masked and all(m.encode() in data for m in masked)  # the right file, and it holds the findings
    text = json.dumps(all_rows, ensure_ascii=False) + caplog.text
    for number in numbers:
        assert number.encode() not in data
        assert number not in text
    leak_rows = [r for r in all_rows if r["findings"]]
    assert {f["type"] for r in leak_rows for f in r["findings"]} == {"id_card", "mobile", "bank_card"}


def test_getarticle_refused_reads_the_page_without_duplicates(emulator, demo_config):
    path = demo_config(emulator)
    httpx.post(f"{emulator.base_url}/_emu/faults", timeout=5,
               json={"account": "zh-baisha", "endpoint": GETARTICLE, "kind": "unauthorized"}).raise_for_status()

    async def body(h: Harness) -> None:
        # First round: the backfill, via the article pages.
        _, (row,) = await h.day(local("2023-08-20T07:00:00"), only=["zh-baisha"])
        assert row["status"] == "ok" and {f["type"] for f in row["findings"]} == {"id_card", "mobile"}
        via_page = {(f.source, f.type, f.masked, f.start) for f in h.findings("zh-baisha")}
        assert len(via_page) == 2

        httpx.delete(f"{emulator.base_url}/_emu/faults", params={"account": "zh-baisha"}, timeout=5)
        rescan = [r.to_json() for r in await privacy_probe.run_round(
            h.ctx, [h.config.account("zh-baisha")], None, rescan_days=100)]
        assert rescan[0]["status"] == "ok" and len(rescan[0]["findings"]) == 2
        # Via the API the offsets differ (no page around the article); still the same two findings.
        assert rescan[0]["new_findings"] == 0
        assert {(f.source, f.type, f.masked, f.start) for f in h.findings("zh-baisha")} == via_page

    run(emulator, path, body)


def test_unreadable_articles_are_errors_and_retried_next_round(emulator, demo_config):
    path = demo_config(emulator)
    # Both ways to read bm-zjw's leaking article fail for a while: the API and the article page.
    httpx.post(f"{emulator.base_url}/_emu/faults", timeout=5,
               json={"account": "bm-zjw", "endpoint": GETARTICLE, "kind": "busy"}).raise_for_status()
    leak_key = emulator.world.accounts["bm-zjw"].article_by_id["notice-butie"].key
    httpx.post(f"{emulator.base_url}/_emu/faults", timeout=5,
               json={"account": "bm-zjw", "endpoint": f"/mp/s/{leak_key}", "kind": "http500"}).raise_for_status()

    async def body(h: Harness) -> None:
        h.ctx.api.retry = type(h.ctx.api.retry)(attempts=1)  # no waiting on the busy answers
        only = ["bm-zjw", "jd-binhe"]
        await h.day(local("2023-07-20T07:00:00"), only)
        _, rows = await h.day(local("2023-07-27T07:00:00"), only)
        row = next(r for r in rows if r["account"] == "bm-zjw")
        assert row["status"] == "error" and "下轮重试" in row["reason"]
        assert h.store.last_runs("privacy", limit=1)[0].status == "partial"
        assert not h.findings("bm-zjw")

        httpx.delete(f"{emulator.base_url}/_emu/faults", params={"account": "bm-zjw"}, timeout=5)
        fresh, rows = await h.day(local("2023-07-28T07:00:00"), only)
        row = next(r for r in rows if r["account"] == "bm-zjw")
        # The previous run was not clean, so the article missed then is read now.
        assert row["status"] == "ok" and [f["type"] for f in row["findings"]] == ["bank_card"]
        assert len(h.findings("bm-zjw")) == 1
        # jd-binhe read its articles fine on 07-27; after a run with errors they are read again
        # (cheap, and the findings are de-duplicated), then a clean run moves the mark forward.
        binhe = next(r for r in rows if r["account"] == "jd-binhe")
        assert binhe["scanned"] >= next(r for r in fresh if r["account"] == "jd-binhe")["new_items"]
        fresh, rows = await h.day(local("2023-07-29T07:00:00"), only)
        new = {r["account"]: r["new_items"] for r in fresh}
        assert all(r["scanned"] == new[r["account"]] for r in rows)

    run(emulator, path, body)


def test_accounts_without_api_scan_their_declared_columns(emulator, tmp_path, monkeypatch):
    for name, value in demo_secret_env(emulator.scenario).items():
        monkeypatch.setenv(name, value)
    emulator.clock.set(local("2023-08-20T07:00:00"))
    leak_url = next(leak["url"] for leak in emulator.world.truth(QUARTER_START, emulator.clock.now(),
                                                                 emulator.base_url)["accounts"]["zh-baisha"]["leaks"])
    path = tmp_path / "accounts.yaml"
    path.write_text(f"""
store: sqlite:///{tmp_path / 'w.db'}
wechat: {{api_base: "{emulator.base_url}"}}
checks: {{per_host_rate: 1000, allow_private: [127.0.0.1/32]}}
accounts:
  - id: jd-noapi
    name: 无接口街道（模拟）
    unit: 无接口街道办事处（模拟）
    category: 乡镇街道
    api: false
    columns:
      - {{path: 信息公开/公示, type: view, url: "{leak_url}"}}
      - {{path: 办事服务/办事指南, type: view, url: "{emulator.base_url}/site/jd-binhe/bszn"}}
  - id: jd-nothing
    name: 无栏目街道（模拟）
    unit: 无栏目街道办事处（模拟）
    category: 乡镇街道
    api: false
    inquiry: {{channel: manual, questions: [请问办事大厅几点开门？]}}
""", encoding="utf-8")

    async def body(h: Harness) -> None:
        rows = {r["account"]: r for r in await h.round("privacy")}
        assert rows["jd-noapi"]["status"] == "ok" and rows["jd-noapi"]["scanned"] == 2
        assert sorted(f["type"] for f in rows["jd-noapi"]["findings"]) == ["id_card", "mobile"]
        assert {f["source"] for f in rows["jd-noapi"]["findings"]} == {leak_url}
        assert rows["jd-nothing"]["status"] == "unverifiable" and "无接口权限" in rows["jd-nothing"]["reason"]
        # The declared page is read every round; what it shows is stored once.
        await h.round("privacy", local("2023-08-21T07:00:00"))
        assert len(h.findings("jd-noapi")) == 2

    run(emulator, path, body)
