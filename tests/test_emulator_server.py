"""The server process: serve_forever prints its URL, stops cleanly on signals, reports bad input."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emulator.scenario import ScenarioError, load_scenario
from emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[1]


def run_emulator(*args: str) -> subprocess.Popen[str]:
    code = f"import sys; from emulator.server import serve_forever; sys.exit(serve_forever({', '.join(args)}))"
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_forever_stops_on_signal(sig: signal.Signals) -> None:
    proc = run_emulator("host='127.0.0.1'", "port=0", "seed=99")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert httpx.get(url.group(0) + "/_emu/canary", timeout=5).text == "ok"
        clock = httpx.get(url.group(0) + "/_emu/clock", timeout=5).json()
        assert clock == {"now": "2023-07-01T00:00:00+08:00", "virtual": True}
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()


def test_serve_forever_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("accounts:\n  - id: x\n", encoding="utf-8")
    proc = run_emulator(f"scenario={str(bad)!r}", "port=0")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and "bad.yaml" in err and "accounts.0.name" in err


def test_serve_forever_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        proc = run_emulator(f"port={sock.getsockname()[1]}")
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "cannot listen" in err


def test_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    dup = tmp_path / "dup.yaml"
    dup.write_text("accounts:\n"
                   "  - {id: a, name: A, appid: wx1, secret: s, menu: [{name: M, type: view, page: nope}]}\n"
                   "  - {id: a, name: B, appid: wx1, secret: s}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(dup)
    assert "duplicate id a" in str(err.value) and "unknown page 'nope'" in str(err.value)


def test_real_clock_by_default() -> None:
    scenario = load_scenario(None)
    scenario.clock.start = None
    with EmulatorServer(scenario) as server:
        clock = httpx.get(server.base_url + "/_emu/clock").json()
        assert clock["virtual"] is False
        assert httpx.post(server.base_url + "/_emu/clock", json={"advance_seconds": 5}).status_code == 409
