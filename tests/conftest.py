"""Shared fixtures: the WeChat platform emulator on a free port."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from emulator.scenario import Scenario, load_scenario, parse_scenario
from emulator.server import EmulatorServer
from monitor.clock import Clock, VirtualClock

DEMO_START = datetime.fromisoformat("2023-07-01T00:00:00+08:00")


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """The demo scenario on 127.0.0.1 (free port), virtual clock at 2023-07-01 00:00 Shanghai."""
    server = EmulatorServer(load_scenario(None), host="127.0.0.1", port=0, clock=VirtualClock(DEMO_START))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Factory: ``make_emulator(scenario_or_dict, clock=None)`` -> a started EmulatorServer."""
    servers: list[EmulatorServer] = []

    def make(scenario: Scenario | dict[str, Any], clock: Clock | None = None) -> EmulatorServer:
        loaded = parse_scenario(scenario) if isinstance(scenario, dict) else scenario
        server = EmulatorServer(loaded, host="127.0.0.1", port=0, clock=clock)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``demo_config(server, **checks)``: the shipped accounts.yaml pointed at ``server``.

    The store is a SQLite file in tmp_path; the demo's fake secrets are set in the
    environment; ``checks`` overrides settings of the ``checks:`` section.
    """
    from emulator.scenario import demo_secret_env

    def make(server: EmulatorServer, **checks: Any) -> Path:
        for name, value in demo_secret_env(server.scenario).items():
            monkeypatch.setenv(name, value)
        text = (ROOT / "accounts.yaml").read_text(encoding="utf-8")
        text = text.replace("http://127.0.0.1:8780", server.base_url)
        text = text.replace("store: sqlite:///wxmon.db", f"store: sqlite:///{tmp_path / 'wxmon.db'}")
        settings = {"canary_urls": [f"{server.base_url}/_emu/canary"], "per_host": 50, "per_host_rate": 1000,
                    "timeout_s": 3, "allow_private": ["127.0.0.1/32"], **checks}
        block = "checks:\n" + "".join(f"  {k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in settings.items())
        start = text.index("checks:\n")
        end = text.index("channels:")
        path = tmp_path / "accounts.yaml"
        path.write_text(text[:start] + block + text[end:], encoding="utf-8")
        return path

    return make


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (never `playwright install`); skipped with the reason
    where either is missing, a failure on CI (tests/needs.py)."""
    from needs import missing

    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []  # chromium refuses root without it (CI)
        launched = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            launched.close()
