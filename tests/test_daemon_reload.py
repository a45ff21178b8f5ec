"""SIGHUP reload: the file is parsed off the event loop; a hostile file is refused and the daemon goes on."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from emulator.scenario import demo_secret_env
from monitor.errors import BadInput
from tests.test_config_hostile import laughs
from tests.test_daemon import query, scenario, start_daemon, wait_for, write_config


def test_a_reload_is_parsed_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The loading blocks until a coroutine on the loop lets it go: that can only happen if the
    loop keeps running while the file is being loaded."""
    from monitor import daemon as daemon_module

    parsing, release = threading.Event(), threading.Event()
    on_loop_thread: list[bool] = []

    def slow_load(path: Path, **kwargs: object) -> None:
        on_loop_thread.append(threading.current_thread() is threading.main_thread())
        parsing.set()
        if not release.wait(60):
            raise AssertionError("the event loop did not run during the reload")
        raise BadInput([f"{path}:7: YAML error: aliases expand to more than 2,000,000 values"])

    monkeypatch.setattr(daemon_module, "load_config", slow_load)

    async def go() -> None:
        daemon = daemon_module.Daemon(tmp_path / "accounts.yaml")
        daemon._reload_soon()  # SIGHUP
        assert await asyncio.to_thread(parsing.wait, 60)
        daemon._reload_soon()  # SIGHUP again during the reload: one more reload once it is done
        daemon._reload_soon()
        release.set()
        assert daemon._reloading is not None
        await asyncio.wait_for(daemon._reloading, 60)

    with caplog.at_level(logging.ERROR, logger="wxmon.daemon"):
        asyncio.run(go())
    assert on_loop_thread == [False, False]
    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refused) == 2 and "aliases expand" in refused[0]


def test_the_daemon_keeps_running_through_the_reload_of_a_yaml_bomb(make_emulator: Any, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = make_emulator(scenario())  # real time
    for name, value in demo_secret_env(server.scenario).items():
        monkeypatch.setenv(name, value)
    config = write_config(tmp_path / "accounts.yaml", server.base_url)
    db, log = tmp_path / "wxmon.db", tmp_path / "daemon.log"

    def columns_rounds() -> int:
        return len(query(db, "select 1 from probe_runs where kind='columns' and status='ok'"))

    daemon = start_daemon(config, log)
    try:
        wait_for(columns_rounds, 60, "a finished columns round")
        good = config.read_text(encoding="utf-8")
        config.write_text(laughs("flow"), encoding="utf-8")
        daemon.send_signal(signal.SIGHUP)
        refused = wait_for(lambda: [line for line in log.read_text(errors="replace").splitlines()
                                    if "reload refused" in line], 30, "the refused reload")
        assert len(refused) == 1 and "billion laughs" in refused[0] and f"{config}:" in refused[0]
        rounds = columns_rounds()
        wait_for(lambda: columns_rounds() > rounds, 60, "rounds going on after the refused reload")
        assert daemon.poll() is None

        config.write_text(good, encoding="utf-8")  # and a good file is taken again
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "configuration reloaded" in log.read_text(errors="replace"), 30, "the reload")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(120) == 0, log.read_text(errors="replace")[-2000:]
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert "Traceback" not in log.read_text(errors="replace")
