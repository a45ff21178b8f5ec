"""Ground truth and the demo scenario: the facts agree with the scenario's ``expected:`` labels."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from emulator.content import id_check_digit, luhn_check_digit
from emulator.operators import WORKDAY_MINUTES
from emulator.scenario import demo_secret_env, generate_bulk, load_scenario
from emulator.server import EmulatorServer
from monitor.clock import SHANGHAI

Q_START = datetime(2023, 7, 1, tzinfo=SHANGHAI)
Q_END = datetime(2023, 9, 30, 23, 59, 59, tzinfo=SHANGHAI)
DEADLINE_MINUTES = 3 * WORKDAY_MINUTES

ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dX])(?![0-9A-Za-z])")
MOBILE_RE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
CARD_RE = re.compile(r"(?<!\d)(\d{4}(?: ?\d{4}){3}(?: ?\d{1,3})?)(?!\d)")


def shown_message(html: str) -> str:
    """The visible message block of a WeChat page ("": none); hidden tip templates do not count."""
    from selectolax.lexbor import LexborHTMLParser

    for node in LexborHTMLParser(html).css(".weui-msg"):
        if "display:none" not in (node.attributes.get("style") or "").replace(" ", ""):
            return node.text(separator=" ", strip=True)
    return ""


def personal_data(html: str) -> set[str]:
    """An independent check (not the product's scanner): valid IDs, mobiles, Luhn-valid cards."""
    found = set()
    if any(id_check_digit(m[:17]) == m[17] for m in ID_RE.findall(html)):
        found.add("id_card")
    if MOBILE_RE.search(html):
        found.add("mobile")
    for m in CARD_RE.findall(html):
        digits = m.replace(" ", "")
        if 16 <= len(digits) <= 19 and luhn_check_digit(digits[:-1]) == digits[-1]:
            found.add("bank_card")
    return found


@pytest.fixture(scope="module")
def demo_run() -> Any:
    """The demo quarter with a weekly test inquiry (Mondays 10:00) to every account."""
    server = EmulatorServer(load_scenario(None)).start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=5) as client:
            monday = datetime(2023, 7, 3, 10, 0, tzinfo=SHANGHAI)
            while monday < Q_END:
                server.clock.set(monday)  # type: ignore[attr-defined]
                for acct in server.scenario.accounts:
                    client.post("/_emu/follower/send", json={"account": acct.id, "tester": "inspector",
                                                             "text": "请问居住证续签需要什么材料？"})
                monday += timedelta(days=7)
            server.clock.set(Q_END)  # type: ignore[attr-defined]
            truth = client.get("/_emu/truth", params={"from": Q_START.isoformat(), "to": Q_END.isoformat()}).json()
            yield server, client, truth
    finally:
        server.stop()


def test_demo_pass_rate(demo_run: Any) -> None:
    _, _, truth = demo_run
    assert truth["demo_expected_summary"] == {"checked": 21, "passed": 13, "pass_rate": "合格率61.9%"}
    assert len(truth["accounts"]) == 21
    fails = [set(a["demo_expected"]["fails"]) for a in truth["accounts"].values()]
    assert sum("inquiry" in f for f in fails) == 7
    assert sum(len(f) > 1 for f in fails) >= 3
    assert all(f for f in fails if f) and sum(not f for f in fails) == 13


def test_demo_names_are_marked_simulated() -> None:
    scenario = load_scenario(None)
    assert "模拟" in scenario.note
    assert all("（模拟）" in a.name and "（模拟）" in a.unit for a in scenario.accounts)
    env = demo_secret_env(scenario)
    assert len(env) == 21 and all(k.startswith("WXMON_DEMO_SECRET_") for k in env)


def test_stale_label_matches_publications(demo_run: Any) -> None:
    _, _, truth = demo_run
    last_two_weeks = datetime(2023, 9, 16, tzinfo=SHANGHAI)
    for acct_id, facts in truth["accounts"].items():
        recent = [t for t in facts["articles"] if datetime.fromisoformat(t) >= last_two_weeks]
        stale = "stale" in facts["demo_expected"]["fails"]
        assert (not recent) == stale, acct_id
        assert (facts["days_since_update"] > 14) == stale, acct_id


def test_inquiry_label_matches_replies(demo_run: Any) -> None:
    _, _, truth = demo_run
    for acct_id, facts in truth["accounts"].items():
        inquiries = facts["inquiries"]
        assert len(inquiries) == 13, acct_id
        late = [q for q in inquiries if q["human_reply_at"] is None
                or q["human_reply_working_minutes"] > DEADLINE_MINUTES]
        failing = "inquiry" in facts["demo_expected"]["fails"]
        assert bool(late) == failing, acct_id
        if failing:
            assert len(late) == len(inquiries), acct_id  # clearly failing, not by chance


def test_broken_label_matches_pages(demo_run: Any) -> None:
    server, client, truth = demo_run
    for acct_id, facts in truth["accounts"].items():
        assert bool(facts["broken_columns"]) == ("broken_column" in facts["demo_expected"]["fails"]), acct_id
    # a permanently broken column really fails at the check date, a transient one really works then
    from emulator.menus import leaf_targets
    from emulator.scenario import column_paths

    for acct in server.scenario.accounts:
        facts = truth["accounts"][acct.id]
        for path, leaf in column_paths(acct.menu):
            for url in leaf_targets(acct, leaf, server.base_url):
                r = client.get(url, follow_redirects=True)
                if r.url.path == "/connect/oauth2/authorize":  # behind web authorization: never broken
                    assert path not in facts["broken_columns"], (acct.id, path)
                    continue
                # Read as a person would: a gone article's text sits in the message block; every article
                # page carries the same texts in its scripts.
                failed = r.status_code >= 400 or "页面不存在" in r.text or bool(shown_message(r.text))
                if path in facts["broken_columns"]:
                    assert failed or len(leaf_targets(acct, leaf, server.base_url)) > 1, (acct.id, path)
                else:
                    assert not failed, (acct.id, path, url)
    passing_with_transients = [a for a, f in truth["accounts"].items()
                               if f["transient_columns"] and f["demo_expected"]["verdict"] == "合格"]
    assert len(passing_with_transients) >= 4


def test_leak_label_matches_content(demo_run: Any) -> None:
    server, client, truth = demo_run
    for acct in server.scenario.accounts:
        facts = truth["accounts"][acct.id]
        leaks = "leak" in facts["demo_expected"]["fails"]
        assert bool(facts["leaks"]) == leaks, acct.id
        found: set[str] = set()
        for art in acct.articles:
            html = client.get(f"/mp/s/{art.key}").text
            found |= personal_data(html)
        assert bool(found) == leaks, (acct.id, found)
        if leaks:
            assert found == {leak["type"] for leak in facts["leaks"]}
            assert all(str(leak["url"]).startswith(server.base_url) for leak in facts["leaks"])


def test_decoys_present_in_demo(demo_run: Any) -> None:
    server, client, _ = demo_run
    acct = server.scenario.account("bm-scjg")
    html = "".join(client.get(f"/mp/s/{a.key}").text for a in acct.articles if a.decoys)
    assert "统一社会信用代码" in html and "12345" in html and "〔2023〕" in html and "********" in html


def test_truth_window_defaults_and_errors(emulator: EmulatorServer) -> None:
    with httpx.Client(base_url=emulator.base_url) as client:
        truth = client.get("/_emu/truth").json()
        assert truth["from"] == "2023-07-01T00:00:00+08:00" and truth["to"] == truth["now"]
        assert client.get("/_emu/truth", params={"from": "garbage"}).status_code == 400
        assert client.get("/_emu/truth", params={"from": "2023-09-01", "to": "2023-08-01"}).status_code == 400


def test_generate_bulk() -> None:
    bulk = generate_bulk(10_000, 8, seed=1)  # its speed: bench/bench_emulator.py
    assert len(bulk.accounts) == 10_000
    assert all(sum(len(t.sub) for t in a.menu) == 8 for a in bulk.accounts[:50])
    kinds = [p.kind for a in bulk.accounts for p in a.pages.values()]
    assert 0 < sum(k != "ok" for k in kinds) < 100
    assert generate_bulk(3, 8, seed=1).accounts[2].appid == bulk.accounts[2].appid


def test_bulk_server_serves_pages(make_emulator: Any) -> None:
    server = make_emulator(generate_bulk(200, 8, seed=2))
    with httpx.Client(base_url=server.base_url) as client:
        acct = server.scenario.accounts[150]
        for name in acct.pages:
            r = client.get(f"/site/{acct.id}/{name}")
            assert r.status_code == 200 and "页面不存在" not in r.text
        token = client.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": acct.appid,
                                                          "secret": acct.secret}).json()["access_token"]
        menu = client.get("/cgi-bin/get_current_selfmenu_info", params={"access_token": token}).json()
        urls = [leaf["url"] for b in menu["selfmenu_info"]["button"] for leaf in b["sub_button"]["list"]]
        assert len(urls) == 8 and all(u.startswith(server.base_url + "/site/") for u in urls)


def test_accounts_yaml_matches_demo() -> None:
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "accounts.yaml").read_text(encoding="utf-8"))
    scenario = load_scenario(None)
    assert config["wechat"]["api_base"] == "http://127.0.0.1:8780" and config["policy"] == "demo-default"
    assert len(config["supervisors"]) == 2
    by_id = {a.id: a for a in scenario.accounts}
    assert [a["id"] for a in config["accounts"]] == [a.id for a in scenario.accounts]
    for entry in config["accounts"]:
        acct = by_id[entry["id"]]
        assert (entry["name"], entry["appid"], entry["secret_env"]) == (acct.name, acct.appid, acct.secret_env)
        assert entry["inquiry"]["channel"] == "emulator" and len(entry["inquiry"]["questions"]) >= 3
