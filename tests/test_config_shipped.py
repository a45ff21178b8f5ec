"""The shipped demo configuration (./accounts.yaml) passes `wxmon config check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import check_file, load_config
from wxmon.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "accounts.yaml"


def _line_of(text: str) -> int:
    return next(n for n, line in enumerate(SHIPPED.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip().startswith(text))



def test_shipped_file_is_valid_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert check_file(Path("accounts.yaml"), check_env=False) == []


def test_shipped_file_is_valid_with_the_demo_secrets(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from emulator import scenario

    env = scenario.demo_secret_env(scenario.load_scenario(None))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    assert check_file(Path("accounts.yaml"), check_env=True) == []
    assert main(["config", "check"]) == 0
    out = capsys.readouterr()
    # Valid, with one warning: the canary is the emulator's (fine for the demo, wrong elsewhere).
    assert out.out == "accounts.yaml: OK (1 warning(s))\n"
    [warning] = out.err.splitlines()
    assert warning.startswith(f"accounts.yaml:{_line_of('canary_urls:')}: warning: checks.canary_urls[0]: ")
    assert "remove checks.canary_urls" in warning and "https://mp.weixin.qq.com/" in warning
    for value in env.values():
        assert value not in out.out + out.err


def test_shipped_file_matches_the_demo_scenario() -> None:
    from emulator import scenario

    world = scenario.load_scenario(None)
    cfg = load_config(SHIPPED)
    assert len(cfg.accounts) == 21
    by_id = {a.id: a for a in world.accounts}
    for acct in cfg.accounts:
        assert acct.id in by_id, acct.id
        if acct.appid is not None:
            assert acct.appid == by_id[acct.id].appid
        if acct.api:
            assert acct.secret_env == by_id[acct.id].secret_env


def test_emulator_print_env_makes_the_shipped_file_pass(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--print-env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 21 and all(line.startswith("export WXMON_DEMO_SECRET_") for line in lines)
    for line in lines:
        name, value = line.removeprefix("export ").split("=", 1)
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    assert check_file(Path("accounts.yaml"), check_env=True) == []
