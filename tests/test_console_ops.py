"""The console's operations side: `wxmon user`, `wxmon web` errors, the session key, uploads judged
by content and size, the store read while the daemon writes (SQLite WAL), and the daemon serving
the console and stopping cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import stat
import struct
import threading
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from console_fixtures import PASSWORD, UNIT_A, Office, make_office, write_office_config
from starlette.datastructures import UploadFile
from test_metrics_support import NOW, sh

from console.auth import KEY_FILE, session_key, verify_password
from console.snapshot import compute_snapshot
from console.uploads import UploadRefused, read_screenshot
from monitor import clock
from monitor.errors import BadInput
from monitor.evidence import Screenshot
from monitor.period import parse_period
from monitor.store import ColumnResult, Store
from wxmon.cli import main


@pytest.fixture
def vclock() -> Iterator[clock.VirtualClock]:
    virtual = clock.VirtualClock(NOW)
    previous = clock.set_clock(virtual)
    try:
        yield virtual
    finally:
        clock.set_clock(previous)


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
            + chunk(b"IEND", b""))


# -- wxmon user ------------------------------------------------------------------------------------

def test_user_add_passwd_disable(tmp_path: Path, vclock: clock.VirtualClock, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = write_office_config(tmp_path)
    path = str(tmp_path / "accounts.yaml")
    monkeypatch.setenv("WXMON_NEW_PASSWORD", PASSWORD)
    assert main(["user", "add", "li", "--role", "editor", "--unit", UNIT_A, "--config", path]) == 0
    assert main(["user", "add", "wang", "--role", "supervisor", "--config", path]) == 0
    with Store.open(config.store_url) as store:
        li = store.get_user("li")
        assert li is not None and li.role == "editor" and li.unit == UNIT_A
        assert li.password_hash.startswith("$argon2id$") and PASSWORD not in li.password_hash
        assert verify_password(li.password_hash, PASSWORD)
    monkeypatch.setenv("WXMON_NEW_PASSWORD", "a new password 2")
    assert main(["user", "passwd", "li", "--config", path]) == 0
    assert main(["user", "disable", "wang", "--config", path]) == 0
    with Store.open(config.store_url) as store:
        li, wang = store.get_user("li"), store.get_user("wang")
        assert li is not None and verify_password(li.password_hash, "a new password 2")
        assert wang is not None and wang.disabled
        log = store.audit_log()
        assert [e.action for e in log][:4] == ["user.disable", "user.passwd", "user.add", "user.add"]
        assert all(e.actor.startswith("cli") for e in log)
        assert "a new password 2" not in repr(log) and PASSWORD not in repr(log)
    out = capsys.readouterr().out
    assert PASSWORD not in out and "a new password 2" not in out


@pytest.mark.parametrize(("argv", "says"), [
    (["user", "add", "x", "--role", "editor"], "--unit"),
    (["user", "add", "x", "--role", "editor", "--unit", "没有这个单位"], "no account"),
    (["user", "add", "x", "--role", "supervisor", "--unit", UNIT_A], "only an editor"),
    (["user", "add", "bad name", "--role", "supervisor"], "user name"),
    (["user", "passwd", "nobody"], "no such user"),
    (["user", "disable", "nobody"], "no such user"),
])
def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path, vclock: clock.VirtualClock,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                               argv: list[str], says: str) -> None:
    write_office_config(tmp_path)
    monkeypatch.setenv("WXMON_NEW_PASSWORD", PASSWORD)
    assert main([*argv, "--config", str(tmp_path / "accounts.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]


def test_a_short_password_or_none_at_all_is_refused(tmp_path: Path, vclock: clock.VirtualClock,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    write_office_config(tmp_path)
    path = str(tmp_path / "accounts.yaml")
    monkeypatch.setenv("WXMON_NEW_PASSWORD", "short")
    assert main(["user", "add", "x", "--role", "inspector", "--config", path]) == 2
    assert "至少" in capsys.readouterr().err
    monkeypatch.delenv("WXMON_NEW_PASSWORD")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    assert main(["user", "add", "x", "--role", "inspector", "--config", path]) == 2
    assert "WXMON_NEW_PASSWORD" in capsys.readouterr().err


def test_web_refuses_a_busy_address(tmp_path: Path, vclock: clock.VirtualClock,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    write_office_config(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["web", "--config", str(tmp_path / "accounts.yaml"), "--listen", f"127.0.0.1:{port}"]) == 2
    assert "cannot listen there" in capsys.readouterr().err


# -- the session key -------------------------------------------------------------------------------

def test_the_session_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    config = write_office_config(tmp_path)
    assert "WXMON_WEB_SECRET" in config.secret_env_names()  # scrubbed from the daemon's logs
    first = session_key(config, env={})
    assert len(first) >= 32 and session_key(config, env={}) == first
    kept = tmp_path / KEY_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert session_key(config, env={"WXMON_WEB_SECRET": "s" * 40}) == "s" * 40
    with pytest.raises(BadInput, match="at least 32"):
        session_key(config, env={"WXMON_WEB_SECRET": "short"})
    kept.chmod(0o644)
    with pytest.raises(BadInput, match="chmod 600"):
        session_key(config, env={})


# -- uploads ---------------------------------------------------------------------------------------

def read(data: bytes, filename: str, max_bytes: int = 1_000_000) -> Screenshot:
    return asyncio.run(read_screenshot(UploadFile(io.BytesIO(data), filename=filename), max_bytes))


def test_an_upload_that_is_not_an_image_is_refused() -> None:
    with pytest.raises(UploadRefused, match="不是PNG、JPEG或WebP图片"):
        read(b"<script>alert(1)</script>" * 10, "shot.png")
    with pytest.raises(UploadRefused, match=r"回复\.jpg"):
        read(b"%PDF-1.7\n" + b"0" * 100, "回复.jpg")
    with pytest.raises(UploadRefused, match="空"):
        read(b"", "a.png")


def test_an_image_is_accepted_by_content_and_bounded_in_size() -> None:
    data = png_bytes()
    shot = read(data, "../../etc/回复截图.bin")
    assert shot.media_type == "image/png" and shot.extension == ".png" and shot.data == data
    assert shot.original_name == "回复截图.bin"  # no path from the browser survives
    with pytest.raises(UploadRefused, match="上限"):
        read(data + b"\x00" * 2_000_000, "big.png")


# -- the store, read by the console while the daemon writes --------------------------------------

def test_the_console_reads_without_locking_out_writes(tmp_path: Path, vclock: clock.VirtualClock) -> None:
    office: Office = make_office(tmp_path)
    with office.store as console_store, Store.open(office.config.store_url) as daemon_store:
        with console_store.engine.connect() as conn:
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        reading = threading.Event()
        release = threading.Event()
        seen: list[int] = []

        def long_read() -> None:  # a read transaction held open, as a long overview computation is
            with console_store.engine.connect() as conn, conn.begin():
                seen.append(int(conn.execute(sa.text("select count(*) from column_events")).scalar_one()))
                reading.set()
                release.wait()
                seen.append(int(conn.execute(sa.text("select count(*) from column_events")).scalar_one()))

        reader = threading.Thread(target=long_read)
        reader.start()
        reading.wait()
        try:
            # the daemon's write goes through while the read is open (no "database is locked")
            daemon_store.apply_column_results([ColumnResult("a1", "首页", "broken", sh(2023, 9, 30, 22),
                                                            type="click", reason="404")])
        finally:
            release.set()
            reader.join()
        assert seen[0] == seen[1]  # the reader kept its consistent view
        snapshot = compute_snapshot(console_store, office.config, parse_period("2023Q3"))
        assert len(snapshot.table) == 4
        assert console_store.column_history("a1")[0].new_status == "broken"  # and sees the write afterwards


# -- the daemon serves it --------------------------------------------------------------------------

def test_the_daemon_serves_the_console_and_stops_on_sigterm(tmp_path: Path) -> None:
    from test_daemon import PATIENCE, start_daemon, wait_for

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_office_config(tmp_path, public=f"web:\n  enabled: true\n  listen: 127.0.0.1:{port}\n"
                                                  "  public: {enabled: true}\n")
    with Store.open(config.store_url):
        pass
    log = tmp_path / "daemon.log"
    env_key = "WXMON_WEB_SECRET"
    os.environ.pop(env_key, None)
    daemon = start_daemon(tmp_path / "accounts.yaml", log)
    try:
        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/login", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(answers, 60, "the console answering")
        assert "合格率" in httpx.get(f"http://127.0.0.1:{port}/public", timeout=30).text
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30 * PATIENCE) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = log.read_text(encoding="utf-8")
    assert "console on http://127.0.0.1:" in text and "wxmon stopped" in text
    assert (tmp_path / KEY_FILE).exists()


def test_new_data_the_same_day_remeasures_the_period_not_the_closed_weeks(tmp_path: Path,
                                                                         vclock: clock.VirtualClock) -> None:
    office: Office = make_office(tmp_path)
    period = parse_period("2023Q3")
    with office.store as store:
        first = compute_snapshot(store, office.config, period)
        run = store.start_run("columns", started_at=sh(2023, 9, 30, 23, 10))
        store.apply_column_results([ColumnResult("a1", "首页", "broken", sh(2023, 9, 30, 23, 11), type="click",
                                                 reason="404")])
        store.finish_run(run.id, "ok", finished_at=sh(2023, 9, 30, 23, 12))
        second = compute_snapshot(store, office.config, period, first)
    assert second.stamp != first.stamp
    closed = dict(first.weeks)
    for week, frame in second.weeks:
        if week.last_day < date(2023, 9, 30):
            assert frame is closed[week]  # kept from the same day's snapshot
    assert second.yesterday is first.yesterday
    a1 = second.table.set_index("account_id").loc["a1"]
    assert a1["verdict"] == "不合格"  # the period itself is measured again
    assert dict(second.weeks)[parse_period("2023-W39")].set_index("account_id").loc["a1", "verdict"] == "不合格"
