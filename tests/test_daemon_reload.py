"""SIGHUP reload: the file is parsed off the event loop (a real daemon refusing a YAML bomb and going
on: tests/test_daemon.py::test_kill_mid_round_and_restart)."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest

from monitor.errors import BadInput


def test_a_reload_is_parsed_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The loading blocks until a coroutine on the loop lets it go: that can only happen if the
    loop keeps running while the file is being loaded."""
    from wxmon import daemon as daemon_module

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
