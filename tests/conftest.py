"""Shared fixtures: the WeChat platform emulator on a free port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
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
