"""What every request handler shares: the configuration, the store, the caches and the templates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from console.auth import LoginLimiter
from console.snapshot import SnapshotCache
from dashboards.weekly import WeeklyReport
from monitor.config import Config
from monitor.store import Store

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# Builds the weekly report of a week key (the application hands in wxmon.reports' own builder,
# so the console draws exactly the charts the weekly mail carries).
WeeklyBuilder = Callable[[Config, Store, str], WeeklyReport]


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env


@dataclass
class ConsoleState:
    config: Config
    store: Store
    session_key: str
    secure_cookie: bool
    weekly: WeeklyBuilder | None = None
    poll_ms: int = 30_000  # how often an open overview asks whether the data changed
    cache: SnapshotCache = field(init=False)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    templates: jinja2.Environment = field(default_factory=make_templates)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = SnapshotCache(self.store, self.config)

    @property
    def upload_max_bytes(self) -> int:
        return self.config.web.upload_max_bytes
