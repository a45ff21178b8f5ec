"""`wxmon run` against the emulator on real time: SIGKILL mid-round, restart, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_config_hostile import laughs

from emulator.scenario import demo_secret_env

ACCOUNTS = ("acct-fast", "acct-auto", "acct-slowpage")


def scenario() -> dict:
    menu = [{"name": "服务", "sub": [{"name": "办事指南", "type": "view", "page": "guide"},
                                   {"name": "联系我们", "type": "text", "value": "电话：12345"}]}]
    common = {"category": "政府部门", "menu": menu, "pages": {"guide": {"title": "办事指南"}},
              "autoreply": {"default": "您好，留言已收到。（自动回复）"}}
    fast = {"mode": "normal", "median_minutes": 0.6, "p90_minutes": 0.8, "max_minutes": 1.0, "hours": "always"}
    return {"seed": 7, "accounts": [
        {**common, "id": "acct-fast", "name": "快速答复（模拟）", "appid": "wx00000000000000a1",
         "secret_env": "WXMON_T_SECRET_1", "operator": fast},
        {**common, "id": "acct-auto", "name": "仅自动回复（模拟）", "appid": "wx00000000000000a2",
         "secret_env": "WXMON_T_SECRET_2", "operator": {"mode": "autoreply_only"}},
        {**common, "id": "acct-slowpage", "name": "慢页面（模拟）", "appid": "wx00000000000000a3",
         "secret_env": "WXMON_T_SECRET_3", "operator": fast,
         "pages": {"guide": {"title": "办事指南", "kind": "slow", "delay_s": 4}}},
    ]}


def write_config(path: Path, base_url: str) -> Path:
    accounts = "".join(f"""  - id: {a}
    name: {a}
    unit: 测试单位
    category: 政府部门
    appid: wx00000000000000a{i}
    secret_env: WXMON_T_SECRET_{i}
    inquiry: {{channel: emulator, tester: tester-{a}, questions: [请问办事指南在哪里查看？]}}
""" for i, a in enumerate(ACCOUNTS, 1))
    path.write_text(f"""timezone: Asia/Shanghai
store: sqlite:///wxmon.db
wechat: {{api_base: "{base_url}", timeout_s: 5}}
policy: demo-default
schedules:
  columns: "*/3 * * * * *"
  inquiry: "*/20 * * * * *"
  freshness: "0 0 1 1 *"
  privacy: "0 0 1 1 *"
  weekly_report: "0 0 1 1 *"
  inquiry_poll: "*/2 * * * * *"
checks: {{canary_urls: ["{base_url}/_emu/canary"], timeout_s: 10, per_host: 10, per_host_rate: null,
         allow_private: [127.0.0.1/32]}}
accounts:
{accounts}""", encoding="utf-8")
    return path


def start_daemon(config: Path, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "wxmon.cli", "run", "--config", str(config), "--log-json"],
                            stdout=out, stderr=out, env=os.environ.copy())


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchall()


# Every wait is for an event (a row, a log line); the timeouts only bound a failing run, so
# they are generous: on a machine running two suites at once a daemon takes long to start.
PATIENCE = 4


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout * PATIENCE
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except sqlite3.OperationalError:  # not created yet
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_mid_round_and_restart(make_emulator, tmp_path, monkeypatch):
    server = make_emulator(scenario())  # real time
    for name, value in demo_secret_env(server.scenario).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path / "accounts.yaml", server.base_url)
    db, log = tmp_path / "wxmon.db", tmp_path / "daemon.log"

    first = start_daemon(config, log)
    try:
        wait_for(lambda: len(query(db, "select 1 from inquiries where state='sent'")) == 3, 60, "three inquiries")
        wait_for(lambda: query(db, "select 1 from probe_runs where kind='columns' and status='ok'"), 30,
                 "a finished columns round")
        # A round takes >= 4 s (the slow page): kill inside one.
        wait_for(lambda: query(db, "select 1 from probe_runs where kind='columns' and status='running'"), 30,
                 "a round in flight")
        checks_before = query(db, "select coalesce(sum(checks), 0) from column_daily")[0][0]
        first.send_signal(signal.SIGKILL)
        first.wait(10 * PATIENCE)
    finally:
        if first.poll() is None:
            first.kill()
    assert query(db, "pragma integrity_check") == [("ok",)]
    killed_runs = [r[0] for r in query(db, "select id from probe_runs where status='running'")]
    assert killed_runs

    second = start_daemon(config, log)
    try:
        fast = wait_for(lambda: query(db, "select state, sent_at, human_reply_at, latency_minutes from inquiries "
                                          "where account_id='acct-fast' and state='answered'"), 90,
                        "the fast account's answer")
        wait_for(lambda: query(db, "select 1 from inquiries where account_id='acct-slowpage' and state='answered'"),
                 90, "the second account's answer")
        wait_for(lambda: query(db, f"select 1 from probe_runs where kind='columns' and status='ok' "
                                   f"and id > {max(killed_runs)}"), 30, "a round after the restart")
        # SIGHUP with a hostile file (a YAML alias bomb, parsed in a thread) keeps the running
        # configuration and the rounds going; a good file is taken.
        good = config.read_text(encoding="utf-8")
        config.write_text(laughs("flow"), encoding="utf-8")
        second.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: [line for line in log.read_text(errors="replace").splitlines()
                                    if "reload refused" in line], 20, "the refused reload")
        assert len(refused) == 1 and "billion laughs" in refused[0] and f"{config}:" in refused[0]
        rounds = len(query(db, "select 1 from probe_runs where kind='columns'"))
        wait_for(lambda: len(query(db, "select 1 from probe_runs where kind='columns'")) > rounds, 30,
                 "rounds going on after the refused reload")
        config.write_text(good, encoding="utf-8")
        second.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in log.read_text(errors="replace"), 20, "the reload")
        second.send_signal(signal.SIGTERM)
        assert second.wait(30 * PATIENCE) == 0, log.read_text(errors="replace")[-2000:]
    finally:
        if second.poll() is None:
            second.kill()

    # No inquiry sent twice: one row per account, one message per account on the platform side.
    assert sorted(query(db, "select account_id, count(*) from inquiries group by account_id")) == \
        [(a, 1) for a in sorted(ACCOUNTS)]
    truth = server.world.truth(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC))
    for account in ACCOUNTS:
        assert len(truth["accounts"][account]["inquiries"]) == 1, account
    # The answer matches the emulator's truth within a minute.
    _, _, human_at, _ = fast[0]
    true_reply = datetime.fromisoformat(truth["accounts"]["acct-fast"]["inquiries"][0]["human_reply_at"])
    measured = datetime.fromisoformat(human_at).replace(tzinfo=UTC)
    assert abs((measured - true_reply).total_seconds()) <= 60
    # Auto-reply only: still waiting (its deadline is days away), auto reply recorded, not answered.
    assert query(db, "select state, auto_reply_at is not null from inquiries where account_id='acct-auto'") == \
        [("sent", 1)]
    # Nothing recorded before the kill was lost; the abandoned round was closed, not left running.
    assert query(db, "select coalesce(sum(checks), 0) from column_daily")[0][0] > checks_before
    assert not query(db, "select 1 from probe_runs where status='running'")
    assert {r[0] for r in query(db, f"select status from probe_runs where id in "
                                    f"({','.join(map(str, killed_runs))})")} == {"error"}
    logged = log.read_text(errors="replace")
    assert "Traceback" not in logged
    assert "wxmon stopped" in logged
    for secret in demo_secret_env(server.scenario).values():
        assert secret not in logged
    status = subprocess.run([sys.executable, "-m", "wxmon.cli", "status", "--config", str(config)],
                            capture_output=True, text=True, timeout=60 * PATIENCE)
    assert status.returncode == 0, status.stderr
    assert "open inquiries: 1" in status.stdout and "acct-auto" in status.stdout
    assert "(ok, schema" in status.stdout and "columns" in status.stdout


def test_reload_keeps_the_running_wechat_settings_until_a_restart(emulator, demo_config, caplog):
    """The API client (and its helper process) is built once: a changed api_base is not silently ignored."""
    import asyncio
    import logging

    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.clock import SHANGHAI
    from monitor.config import load_config
    from monitor.context import ProbeContext
    from monitor.store import Store
    from wxmon.daemon import Daemon

    path = demo_config(emulator)
    config = load_config(path)
    gateway = "http://127.0.0.1:9/wechat-gateway"

    async def go():
        with Store.open(config.store_url) as store:
            daemon = Daemon(path)
            daemon.ctx = ProbeContext.open(config, store)
            daemon.scheduler = AsyncIOScheduler(timezone=SHANGHAI)
            try:
                text = path.read_text(encoding="utf-8")
                path.write_text(text.replace(f"api_base: {emulator.base_url}", f"api_base: {gateway}")
                                .replace("timeout_s: 3", "timeout_s: 4"), encoding="utf-8")
                with caplog.at_level(logging.WARNING, logger="wxmon.daemon"):
                    daemon.reload()
                return daemon.ctx.config
            finally:
                await daemon.ctx.aclose()

    assert f"api_base: {emulator.base_url}" in path.read_text(encoding="utf-8")
    reloaded = asyncio.run(go())
    assert "the wechat settings changed: they take effect at the next restart" in caplog.text
    assert reloaded.checks.timeout_s == 4  # the rest of the file is taken
    assert str(reloaded.wechat.api_base).rstrip("/") == emulator.base_url
