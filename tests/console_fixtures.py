"""A small office for the console tests: two units, an account whose name holds HTML, a quarter of
observations written through the store's API (tests/test_metrics_support.World), and users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from test_metrics_support import World, sh

from console.auth import hash_password
from monitor.config import Config, load_config
from monitor.store import Store

EVIL_NAME = '<script>document.title="pwned"</script><b>恶意</b>'
PASSWORD = "correct horse 合格"
UNIT_A, UNIT_B = "甲街道办事处", "乙区卫健委"
ACCOUNTS = [  # id, name, unit, category
    ("a1", "模拟甲街道发布", UNIT_A, "乡镇街道"),
    ("a2", "模拟甲街道服务", UNIT_A, "乡镇街道"),
    ("b1", "模拟乙卫健", UNIT_B, "政府部门"),
    ("b2", EVIL_NAME, UNIT_B, "政府部门"),
]


@dataclass
class Office:
    config: Config
    store: Store
    path: Path


def write_office_config(tmp_path: Path, *, public: str = "") -> Config:
    lines = ["store: sqlite:///wxmon.db", "policy: demo-default"]
    if public:
        lines.append(public.rstrip("\n"))
    lines.append("accounts:")
    for account_id, name, unit, category in ACCOUNTS:
        lines += [f"  - id: {account_id}", f"    name: '{name}'", f"    unit: {unit}", f"    category: {category}",
                  "    api: false", "    columns: [{path: 首页, type: click}]"]
    path = tmp_path / "accounts.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


def fill(store: Store) -> None:
    """a1 passes; a2 has a broken column; b1 leaves an inquiry unanswered; b2 leaked an ID number."""
    world = World(store, [a[0] for a in ACCOUNTS])
    ids = [a[0] for a in ACCOUNTS]
    world.watched(ids, date(2023, 7, 1), date(2023, 10, 8))
    for account_id in ids:
        world.publish(account_id, *(sh(2023, m, d, 10) for m in (7, 8, 9) for d in (3, 10, 17, 24)),
                      sh(2023, 9, 29, 10), sh(2023, 10, 8, 10))
        world.checks(account_id, "首页", ("ok", sh(2023, 7, 3, 9)))
        world.inquiry(account_id, sh(2023, 7, 5, 10), state="answered", human=sh(2023, 7, 5, 15))
    world.checks("a2", "首页", *(("failing" if i < 3 else "broken", sh(2023, 9, 27 + i, 9)) for i in range(4)))
    world.inquiry("b1", sh(2023, 9, 4, 10), state="unanswered")
    world.findings("b2", ("id_card", sh(2023, 8, 8, 12)))
    run = store.start_run("columns", started_at=sh(2023, 9, 30, 23))
    store.finish_run(run.id, "ok", finished_at=sh(2023, 9, 30, 23, 5))


def make_office(tmp_path: Path, *, public: str = "") -> Office:
    """Needs the program clock set (the ``office_clock`` fixture: NOW, after the quarter)."""
    config = write_office_config(tmp_path, public=public)
    store = Store.open(config.store_url)
    fill(store)
    password_hash = hash_password(PASSWORD)
    store.add_user("boss", role="supervisor", unit=None, password_hash=password_hash, actor="test")
    store.add_user("jia", role="editor", unit=UNIT_A, password_hash=password_hash, actor="test")
    store.add_user("insp", role="inspector", unit=None, password_hash=password_hash, actor="test")
    return Office(config, store, tmp_path / "accounts.yaml")
