"""Hostile input to the CLI (issue #10): every path ends in exit 0, 1 or 2 and one line
saying what and where; a full disk or a locked store loses no stored data.

Exit 2 is bad input the user can fix (a period, a path); exit 1 is the machine's
trouble (a full disk, a locked store). The commands run for real: ``wxmon.cli.main``
in-process, or ``python -m wxmon.cli`` in a child process where the test needs a
mount namespace (a small tmpfs that is full) or a guard against a hang.
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from needs import missing

from monitor.errors import BadInput, RuntimeFailure
from monitor.files import write_output
from monitor.store import Account, ColumnResult, Store
from wxmon.cli import main

try:
    from store_fixtures import T0
except ImportError:  # pragma: no cover
    from tests.store_fixtures import T0

PERIOD_FORMS = "2023Q3, 2023-W38, 2023-09 or 2023-07-01..2023-09-30"

CONFIG = """\
timezone: Asia/Shanghai
store: sqlite:///wxmon.db
policy: demo-default
accounts:
  - id: jb-fabu
    name: 江滨发布（模拟）
    unit: 江滨区人民政府办公室（模拟）
    category: 区政府
    api: false
    columns:
      - {path: 办事服务/社保查询, type: view, url: "https://example.gov.cn/sb"}
  - id: jd-binhe
    name: 滨河街道（模拟）
    unit: 江滨区滨河街道办事处（模拟）
    category: 乡镇街道
    api: false
    columns:
      - {path: 便民服务, type: view, url: "https://example.gov.cn/bm"}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    """The single stderr line of a failed command (no traceback, nothing else)."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("wxmon: "), err
    return lines[0]


def wxmon(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wxmon.cli", *argv], capture_output=True, text=True,
                          timeout=timeout)


def db_rows(db: Path) -> tuple[str, int, int]:
    """(integrity_check, probe runs, column checks) of a SQLite store, read with sqlite3 itself."""
    with closing(sqlite3.connect(db)) as conn:  # closed now: no -wal/-shm left behind taking disk space
        integrity = conn.execute("pragma integrity_check").fetchone()[0]
        runs = conn.execute("select count(*) from probe_runs").fetchone()[0]
        checks = conn.execute("select coalesce(sum(checks), 0) from column_daily").fetchone()[0]
    return integrity, runs, checks


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """accounts.yaml and its store (``disk/wxmon.db``) holding three weeks of column checks.

    Shared by the module's tests: none of them may change it (the failing ones check that).
    """
    disk = tmp_path_factory.mktemp("site") / "disk"
    disk.mkdir()
    config = disk / "accounts.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    with Store.open(disk / "wxmon.db") as store:
        store.upsert_accounts([Account("jb-fabu", "江滨发布（模拟）", "江滨区人民政府办公室（模拟）", "区政府"),
                               Account("jd-binhe", "滨河街道（模拟）", "江滨区滨河街道办事处（模拟）", "乡镇街道")])
        for day in range(21):
            at = T0 + timedelta(days=day)
            run_ = store.start_run("columns", accounts_total=2, started_at=at)
            store.apply_column_results([
                ColumnResult("jb-fabu", "办事服务/社保查询", "ok", at, "view", "https://example.gov.cn/sb",
                             "HTTP 200", 200, 80.0),
                ColumnResult("jd-binhe", "便民服务", "ok" if day % 7 else "failing", at, "view",
                             "https://example.gov.cn/bm", "HTTP 200" if day % 7 else "HTTP 404",
                             200 if day % 7 else 404, 120.0, 0 if day % 7 else 1),
            ], run_id=run_.id)
            store.finish_run(run_.id, "ok", finished_at=at)
    return config


# -------------------------------------------------------------------------------------------- periods

BAD_PERIODS = [
    ("9999-12", "year 9999 is outside 2000 to 2099"),  # its end (10000-01-01) overflowed
    ("0000-01", "year 0 is outside"),
    ("0000Q1", "year 0 is outside"),
    ("9999Q4", "year 9999 is outside"),
    ("9999-W52", "year 9999 is outside"),
    ("2023-W54", "2023 has ISO weeks 1 to 52"),
    ("2023-02-30..2023-03-01", "2023-02-30 is not a date"),
    ("2023-09-30..2023-07-01", "2023-07-01 is before 2023-09-30"),
    ("0001-01-01..9999-12-31", "year 1 is outside"),
    ("9999-12-31..9999-12-31", "year 9999 is outside"),
    ("2023-01-01..2030-01-01", "a range can span at most 1098 days"),
    ("2023\n-09", None),
]


@pytest.mark.parametrize("command", [["metrics"], ["bulletin"], ["export", "--out", "x.csv"]])
@pytest.mark.parametrize(("period", "detail"), BAD_PERIODS)
def test_bad_period_is_exit_2_and_one_line(site: Path, capsys: pytest.CaptureFixture[str], command: list[str],
                                           period: str, detail: str | None) -> None:
    code, out, err = run(capsys, *command, "--period", period, "--config", str(site))
    line = one_line(err)
    assert code == 2 and out == ""
    assert line.startswith("wxmon: bad period '") and PERIOD_FORMS in line
    if detail:
        assert detail in line


def test_long_but_sane_ranges_still_work(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for period in ("2023-01-01..2023-12-31", "2022-01-01..2024-12-31", "2000Q1", "2099-12", "2099-W53"):
        code, _, err = run(capsys, "metrics", "--period", period, "--config", str(site), "--json")
        assert code == 0, err


@pytest.mark.parametrize(("week", "detail"), [
    ("2023Q3", "use an ISO week like 2023-W38"),  # was a KeyError traceback
    ("2023-09", "use an ISO week like 2023-W38"),
    ("9999-W52", "year 9999 is outside"),  # was an OverflowError traceback
    ("2023-W54", "2023 has ISO weeks 1 to 52"),
    ("0000-W01", "year 0 is outside"),
])
def test_report_weekly_bad_week(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], week: str,
                                detail: str) -> None:
    code, _, err = run(capsys, "report", "weekly", "--week", week, "--config", str(site),
                         "--out", str(tmp_path / "reports"))
    line = one_line(err)
    assert code == 2 and line.startswith(f"wxmon: bad week '{week}'") and detail in line
    assert not (tmp_path / "reports").exists()


def test_report_weekly_names_its_directory_by_the_weeks_key(site: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", "weekly", "--week", "2023w27", "--config", str(site),
                         "--out", str(tmp_path / "reports"))
    assert code == 0, err
    assert f"charts and CSV in {tmp_path / 'reports' / '2023-W27'}" in out
    assert (tmp_path / "reports" / "2023-W27" / "weekly-2023-W27.csv").is_file()


# -------------------------------------------------------------------------------------------- output paths

OUTPUTS = {  # command -> (argv before --out, file name it writes)
    "bulletin": (["bulletin", "--period", "2023Q3"], "bulletin.md"),
    "export": (["export", "--period", "2023Q3"], "table.csv"),
    "export-xlsx": (["export", "--period", "2023Q3"], "table.xlsx"),
}


@pytest.mark.parametrize("command", sorted(OUTPUTS))
@pytest.mark.parametrize("case", ["missing directory", "directory given as file", "file as a directory",
                                  "/dev/full"])
def test_bad_output_file(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str,
                         case: str) -> None:
    argv, name = OUTPUTS[command]
    suffix = Path(name).suffix
    target, code_wanted, says = {
        "missing directory": (tmp_path / "nope" / name, 2, "directory"),
        "directory given as file": (tmp_path / f"dir{suffix}", 2, "it is a directory"),
        "file as a directory": (site / name, 2, "Not a directory"),  # accounts.yaml/bulletin.md
        "/dev/full": (tmp_path / f"full{suffix}", 1, "No space left on device"),
    }[case]
    if case == "directory given as file":
        target.mkdir()
    elif case == "/dev/full":
        target.symlink_to("/dev/full")
    code, _, err = run(capsys, *argv, "--config", str(site), "--out", str(target))
    line = one_line(err)
    assert code == code_wanted, line
    assert line.startswith(f"wxmon: {target}: cannot write: ") and says in line
    assert os.path.realpath(target) == "/dev/full" or not target.is_file()
    assert Path("/dev/full").is_char_device()  # written through, never replaced


def test_bulletin_to_dev_full(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bulletin", "--period", "2023Q3", "--config", str(site), "--out", "/dev/full")
    assert code == 1 and one_line(err) == "wxmon: /dev/full: cannot write: No space left on device"
    assert Path("/dev/full").is_char_device()


def test_report_weekly_out_is_a_file(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "weekly", "--week", "2023-W27", "--config", str(site),
                         "--out", str(site))
    line = one_line(err)
    assert code == 2 and line == f"wxmon: {site / '2023-W27'}: cannot create the directory: Not a directory"


def test_bulletin_replaces_its_file_whole(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bulletin.md"
    target.write_text("old draft", encoding="utf-8")
    code, out, err = run(capsys, "bulletin", "--period", "2023Q3", "--config", str(site), "--out", str(target))
    assert code == 0 and out == f"wrote {target}\n", err
    assert "2023年第三季度" in target.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@contextmanager
def without_rights() -> Iterator[None]:
    """Run the body as a user without rights on the test's files (root: as nobody, via seteuid)."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_output_without_permission_is_bad_input(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with without_rights(), pytest.raises(BadInput) as info:
        write_output(locked / "bulletin.md", b"text")
    assert str(info.value) == f"{locked / 'bulletin.md'}: cannot write: Permission denied"
    assert not list(locked.iterdir())


def test_full_device_is_a_runtime_failure() -> None:
    with pytest.raises(RuntimeFailure) as info:
        write_output("/dev/full", b"text")
    assert str(info.value) == "/dev/full: cannot write: No space left on device"
    assert info.value.exit_code == 1


@pytest.mark.parametrize("argv", [["config", "schema"], ["metrics", "--period", "2023Q3", "--config", "{site}"]])
def test_full_stdout_is_exit_1_and_one_line(site: Path, argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "wxmon.cli", *[a.format(site=site) for a in argv]],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == "wxmon: standard output: cannot write: No space left on device\n"


def test_closed_stdout_pipe_is_quiet(site: Path) -> None:
    """`wxmon ... | head -1`: no traceback, no 'Exception ignored' when the reader goes away."""
    proc = subprocess.Popen([sys.executable, "-m", "wxmon.cli", "config", "schema"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(60) in (0, 1)  # 0 when everything fitted in the pipe before it closed
    assert err == ""


# -------------------------------------------------------------------------------------------- other commands

@pytest.mark.parametrize(("argv", "says"), [
    (["emulator", "--port", "99999"], "bad port '99999'"),  # was an OverflowError traceback
    (["emulator", "--print-env", "--scenario", "/dev/zero"], "/dev/zero: cannot read: larger than 32 MB"),
    (["privacy", "scan", "x.txt", "--max-size", "0"], "bad size '0'"),
    (["privacy", "scan", "x.txt", "--max-size", "lots"], "bad size 'lots'"),
    (["demo", "--out", "/dev/full"], "/dev/full: --out must be a directory"),
])
def test_other_bad_arguments(argv: list[str], says: str) -> None:
    done = wxmon(*argv, timeout=60)  # a child: /dev/zero read without a bound would eat the memory
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert says in done.stderr


# -------------------------------------------------------------------------------------------- privacy scan

def test_privacy_scan_reports_each_bad_file_and_scans_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("联系人手机13800138000。", encoding="utf-8")
    other = tmp_path / "other.html"
    other.write_text("<p>电话 139 0013 9000</p>", encoding="utf-8")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes to it: it reads as empty, never hangs
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    big = tmp_path / "big.txt"
    big.write_bytes(b"13800138000 " * 200_000)  # 2.4 MB
    (tmp_path / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    paths = ["/dev/zero", str(good), str(tmp_path), str(fifo), str(binary), str(big),
             str(tmp_path / "dangling.txt"), str(other)]
    done = wxmon("privacy", "scan", *paths, "--max-size", "1M", timeout=60)
    assert done.returncode == 2
    assert done.stdout.splitlines() == [f"{good}:5-16: mobile 138****8000", f"{other}:6-19: mobile 139****9000"]
    assert done.stderr.splitlines() == [
        "wxmon: /dev/zero: not scanned: not a regular file (a character device)",
        f"wxmon: {tmp_path}: not scanned: it is a directory",
        f"wxmon: {binary}: not scanned: binary file (NUL bytes), not text or HTML",
        f"wxmon: {big}: not scanned: 2.29 MB, over the limit of 1 MB",
        f"wxmon: {tmp_path / 'dangling.txt'}: cannot read: No such file or directory",
        "2 finding(s) in 3 file(s), 5 not scanned",
    ]


def test_privacy_scan_default_limit_stops_dev_zero_style_files(tmp_path: Path) -> None:
    """A regular file over 50 MB is refused from its size, before a byte is read."""
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(60 * 1024 * 1024)  # sparse: costs no disk
    done = wxmon("privacy", "scan", str(huge), "--json", timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"wxmon: {huge}: not scanned: 60 MB, over the limit of 50 MB\n"


def test_privacy_scan_reads_a_pipe(tmp_path: Path) -> None:
    """`wxmon privacy scan <(curl ...)`: a pipe is read (with the same bound)."""
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m wxmon.cli privacy scan --json "
                                         "<(printf '手机13800138000')"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"masked": "138****8000"' in done.stdout and "13800138000" not in done.stdout


def test_privacy_scan_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("13800138000", encoding="utf-8")
    secret.chmod(0)
    import json  # noqa: F401 - what the command imports, imported while the interpreter's files are readable

    import probes.privacy  # noqa: F401
    with without_rights():
        code, out, err = run(capsys, "privacy", "scan", str(secret))
    assert code == 2 and out == ""
    assert one_line(err) == f"wxmon: {secret}: cannot read: Permission denied"


# -------------------------------------------------------------------------------------------- locked store

@contextmanager
def write_locked(db: Path) -> Iterator[None]:
    """Another process holds the store's write lock (BEGIN IMMEDIATE) until the block ends."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sqlite3, sys
            conn = sqlite3.connect({str(db)!r}, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            print("locked", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)


@pytest.mark.parametrize("argv", [
    ["bulletin", "--period", "2023Q3"],
    ["metrics", "--period", "2023Q3"],
    ["export", "--period", "2023Q3", "--out", "{tmp}/x.csv"],
    ["report", "weekly", "--week", "2023-W27", "--out", "{tmp}/reports"],
    ["status"],
])
def test_locked_store_is_exit_1_naming_the_store(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    import monitor.store.engine as engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 300)  # the real wait is 30 s
    db = site.parent / "wxmon.db"
    before = db_rows(db)
    with write_locked(db):
        code, _, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv], "--config", str(site))
    assert code == 1
    assert one_line(err) == f"wxmon: {db}: cannot open the store: database is locked"
    assert db_rows(db) == before


def test_store_locked_during_a_round(emulator, demo_config, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process takes the write lock after the store was opened: the round's first write
    fails after the busy timeout; exit 1, one line naming the store, nothing lost."""
    import monitor.store.engine as engine
    from monitor.context import ProbeContext

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 300)
    config = demo_config(emulator)
    db = tmp_path / "wxmon.db"
    assert run(capsys, "probe", "columns", "--config", str(config))[0] == 0
    before = db_rows(db)
    opened = ProbeContext.open
    with ExitStack() as later:
        def open_then_lose_the_lock(cls: type, *args: object, **kwargs: object) -> ProbeContext:
            ctx = opened(*args, **kwargs)
            later.enter_context(write_locked(db))
            return ctx

        monkeypatch.setattr(ProbeContext, "open", classmethod(open_then_lose_the_lock))
        code, _, err = run(capsys, "probe", "columns", "--config", str(config))
    assert code == 1
    assert one_line(err) == (f"wxmon: {db}: store failed: database is locked "
                             "(another process is writing to it; try again when it is done)")
    assert db_rows(db) == before


# -------------------------------------------------------------------------------------------- full disk

FILL = r"""
set -e
disk=$1; saved=$2; free_kb=$3; shift 3
cp -a "$disk/." "$saved/"
mount -t tmpfs -o size=4m tmpfs "$disk" || exit 97
cp -a "$saved/." "$disk/"
dd if=/dev/zero of="$disk/.filler" bs=64k 2>/dev/null || true
truncate -s "-${free_kb}K" "$disk/.filler"
set +e
"$@"
rc=$?
rm -f "$disk/.filler"
rm -rf "$saved" && mkdir "$saved" && cp -a "$disk/." "$saved/"
exit $rc
"""


@functools.cache
def tmpfs_refused() -> str | None:
    """Why a private tmpfs cannot be mounted here (None: it can)."""
    if shutil.which("unshare") is None:
        return "no unshare(1) to make a private mount namespace"
    probe = Path(os.environ.get("TMPDIR", "/tmp")) / f"wxmon-tmpfs-probe-{os.getpid()}"
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"],
                              capture_output=True, text=True, timeout=30)
    finally:
        probe.rmdir()
    if done.returncode != 0:
        return f"cannot mount a tmpfs in a private mount namespace (needs root): {done.stderr.strip()}"
    return None


def on_full_disk(disk: Path, argv: list[str], free_kb: int = 0) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run ``python -m wxmon.cli *argv`` with ``disk`` on a tmpfs that has ``free_kb`` KB left.

    The tmpfs lives in a private mount namespace: the host's mounts are untouched and
    ``disk`` itself keeps its files. What the command left on the tmpfs is copied to
    the returned directory.
    """
    reason = tmpfs_refused()
    if reason:
        missing(reason)
    saved = Path(tempfile.mkdtemp(prefix=f"{disk.name}-after-", dir=disk.parent))
    done = subprocess.run(["unshare", "-m", "sh", "-c", FILL, "fill", str(disk), str(saved), str(free_kb),
                           sys.executable, "-m", "wxmon.cli", *argv],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 97, done.stderr
    return done, saved


@pytest.mark.parametrize("argv", [
    ["bulletin", "--period", "2023Q3", "--out", "{disk}/bulletin.md"],
    ["report", "weekly", "--week", "2023-W27", "--out", "{disk}/reports"],
    ["export", "--period", "2023Q3", "--out", "{disk}/table.xlsx"],
])
def test_reports_on_a_full_disk(site: Path, argv: list[str]) -> None:
    """Store and output on one full disk: the store cannot even be opened; exit 1, nothing lost."""
    disk = site.parent
    before = db_rows(disk / "wxmon.db")
    done, after = on_full_disk(disk, [a.format(disk=disk) for a in argv] + ["--config", str(site)])
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"wxmon: {disk / 'wxmon.db'}: cannot open the store: disk I/O error\n"
    assert db_rows(after / "wxmon.db") == before


@pytest.mark.parametrize(("argv", "written"), [
    (["bulletin", "--period", "2023Q3", "--out", "{out}/bulletin.md"], "{out}/bulletin.md"),
    (["report", "weekly", "--week", "2023-W27", "--out", "{out}"], "{out}/2023-W27/2023-W27-"),
    (["export", "--period", "2023Q3", "--out", "{out}/table.csv"], "{out}/table.csv"),
])
def test_reports_to_a_full_disk(site: Path, tmp_path: Path, argv: list[str], written: str) -> None:
    """The store has room, the output's disk is full: exit 1, one line naming the file."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "bulletin.md").write_text("last quarter's draft", encoding="utf-8")
    done, after = on_full_disk(out, [a.format(out=out) for a in argv] + ["--config", str(site)])
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"wxmon: {written.format(out=out)}"), done.stderr
    assert done.stderr.endswith(": cannot write: No space left on device\n"), done.stderr
    assert len(done.stderr.splitlines()) == 1
    # Written whole or not at all: the previous draft is still there, no temporary file is left.
    assert (after / "bulletin.md").read_text(encoding="utf-8") == "last quarter's draft"
    assert not [p for p in after.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.parametrize(("free_kb", "says"), [(0, "cannot open the store: disk I/O error"),
                                               (48, "store failed: database or disk is full")])
def test_probe_columns_on_a_full_disk(emulator, demo_config, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      free_kb: int, says: str) -> None:
    """0 KB free: the store cannot be opened; 48 KB: it opens and the round's first write fails."""
    config = demo_config(emulator)
    disk = tmp_path / "disk"
    disk.mkdir()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"sqlite:///{tmp_path / 'wxmon.db'}", f"sqlite:///{disk / 'wxmon.db'}"),
                      encoding="utf-8")
    code, _, err = run(capsys, "probe", "columns", "--config", str(config))
    assert code == 0, err
    before = db_rows(disk / "wxmon.db")
    assert before[1] == 1 and before[2] > 0

    done, after = on_full_disk(disk, ["probe", "columns", "--config", str(config)], free_kb)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"wxmon: {disk / 'wxmon.db'}: {says}\n"
    integrity, runs, checks = db_rows(after / "wxmon.db")
    assert integrity == "ok" and checks == before[2] and runs in (before[1], before[1] + 1)
