"""`wxmon config check` warnings: valid settings likely wrong here, said without failing (exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import check_file_warnings
from wxmon.cli import main

ACCOUNT = ("accounts:\n  - {id: a1, name: 甲, unit: 甲单位, category: 其他, appid: wx0123456789abcdef, "
           "secret_env: WXMON_T1}\n")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(ACCOUNT + text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("canary", "where"), [
    ("http://127.0.0.1:8780/_emu/canary", "this machine (127.0.0.1)"),
    ("http://localhost/health", "this machine (localhost)"),
    ("http://10.8.0.5/ok", "a private network (10.8.0.5)"),
])
def test_a_local_canary_on_a_real_installation_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     canary: str, where: str) -> None:
    path = write(tmp_path, f"checks:\n  canary_urls: [https://www.gov.cn/, {canary}]\n")
    assert main(["config", "check", "--no-env", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == f"{path}: OK (1 warning(s))\n"
    [line] = out.err.splitlines()
    assert line.startswith(f"{path}:4: warning: checks.canary_urls[1]: points at {where}")
    assert "Unless this is a test setup, remove checks.canary_urls" in line
    assert "checks.allow_private does not list its address either" in line


def test_the_emulator_setup_is_told_what_to_do_on_a_real_installation(tmp_path: Path) -> None:
    path = write(tmp_path, "wechat: {api_base: 'http://127.0.0.1:8780'}\n"
                           "checks:\n  canary_urls: [http://127.0.0.1:8780/_emu/canary]\n"
                           "  allow_private: [127.0.0.1/32]\n")
    problems, [line] = check_file_warnings(path, check_env=False)
    assert problems == []
    assert "Fine for the demo's emulator; on a real installation remove checks.canary_urls" in line
    assert "allow_private does not list" not in line


@pytest.mark.parametrize("checks", ["", "checks:\n  canary_urls: [https://www.gov.cn/]\n"])
def test_no_warning_for_the_default_or_a_public_canary(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       checks: str) -> None:
    path = write(tmp_path, checks)
    assert main(["config", "check", "--no-env", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_problems_come_first_and_alone(tmp_path: Path) -> None:
    path = write(tmp_path, "checks:\n  canary_urls: [http://127.0.0.1/]\n  timeout_s: -1\n")
    problems, warnings = check_file_warnings(path, check_env=False)
    assert len(problems) == 1 and "timeout_s" in problems[0] and warnings == []
