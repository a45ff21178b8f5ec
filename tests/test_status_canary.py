"""A columns round skipped for the canary (the monitor's own network down) shows in its log and in `wxmon status`."""

from __future__ import annotations

import logging

import pytest

from monitor.config import load_config
from monitor.store import Store
from wxmon.cli import main

DOWN = "http://127.0.0.1:1/health"  # nothing listens on port 1: the canary cannot be reached


def test_skipped_round_is_logged_recorded_and_shown(emulator, demo_config, capsys: pytest.CaptureFixture[str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    healthy = demo_config(emulator)
    assert main(["probe", "columns", "--config", str(healthy), "--account", "bm-rsj"]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(healthy)]) == 0
    [ran] = [x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("columns ")][-1:]
    assert " ok (run " in ran and "skipped" not in ran  # the control: a round that ran is not shown as skipped

    down = demo_config(emulator, canary_urls=[DOWN])
    caplog.set_level(logging.WARNING)
    main(["probe", "columns", "--config", str(down), "--account", "bm-rsj"])
    capsys.readouterr()
    [record] = [r for r in caplog.records if "round skipped" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "http://127.0.0.1:1/health: connect" in record.getMessage()

    config = load_config(down)
    with Store.open(config.store_url) as store:
        [run] = store.last_runs(kind="columns", limit=1)
    assert run.status == "error" and run.accounts_error == 1
    assert run.detail is not None and run.detail["skipped"] == "network_down"

    assert main(["status", "--config", str(down)]) == 0
    out = capsys.readouterr().out
    [shown] = [x for x in out.splitlines() if x.strip().startswith("columns ")][-1:]
    assert "skipped — monitor network down" in shown and "http://127.0.0.1:1/health: connect" in shown


def test_default_canary(emulator, demo_config) -> None:
    from monitor.config.warnings import ARTICLE_HOST_URL, default_canary_urls

    config = load_config(demo_config(emulator, canary_urls=[]))
    assert default_canary_urls(config) == [emulator.base_url]  # the emulator serves the pages too
    real = config.model_copy(update={"wechat": config.wechat.model_copy(
        update={"api_base": "https://api.weixin.qq.com"})})
    assert default_canary_urls(real) == ["https://api.weixin.qq.com", ARTICLE_HOST_URL]
