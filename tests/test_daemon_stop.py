"""`wxmon run` stopped by SIGTERM in the middle of a round: a clean stop, logged at INFO, not an ERROR."""

from __future__ import annotations

import json
import re
import signal

try:
    from test_daemon import PATIENCE, query, scenario, start_daemon, wait_for, write_config
except ImportError:  # pragma: no cover
    from tests.test_daemon import PATIENCE, query, scenario, start_daemon, wait_for, write_config

from emulator.scenario import demo_secret_env


def test_sigterm_mid_round_is_a_clean_stop(make_emulator, tmp_path, monkeypatch):
    server = make_emulator(scenario())  # one page answers after 4 s: a round is in flight for a while
    for name, value in demo_secret_env(server.scenario).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path / "accounts.yaml", server.base_url)
    # Columns rounds only: inquiries would hold the first round back for many seconds.
    config.write_text(re.sub(r"inquiry: \{channel: emulator[^}]*\}", "inquiry: {channel: none}",
                             config.read_text(encoding="utf-8")), encoding="utf-8")
    db, log = tmp_path / "wxmon.db", tmp_path / "daemon.log"

    daemon = start_daemon(config, log)
    try:
        wait_for(lambda: query(db, "select 1 from probe_runs where kind='columns' and status='running'"), 60,
                 "a round in flight")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30 * PATIENCE) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()

    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("{")]
    loud = [e for e in entries if e["level"] in ("error", "critical")]
    assert not loud, loud
    assert not any("CancelledError" in json.dumps(e) for e in entries)
    messages = [e["message"] for e in entries if e["level"] == "info"]
    assert any(m == "job columns abandoned at shutdown" for m in messages), messages
    assert "wxmon stopped" in messages
    # The interrupted round is closed as an error (not left running); nothing stored is lost.
    assert query(db, "pragma integrity_check") == [("ok",)]
    assert not query(db, "select 1 from probe_runs where status='running'")
