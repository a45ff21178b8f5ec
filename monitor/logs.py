"""Logging set-up: plain lines or JSON lines, times in Asia/Shanghai, never a secret.

Nothing in wxmon logs a secret on purpose; the filter is the belt to those braces:
it masks the values of every environment variable the configuration names as a
secret, and access tokens in URLs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from datetime import datetime

from monitor.clock import SHANGHAI

_TOKEN = re.compile(r"(access_token=)[^&\s]+")


class SecretFilter(logging.Filter):
    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = [s for s in (secrets or []) if len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _TOKEN.sub(r"\1***", message)
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, "***")
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, SHANGHAI).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False)


def secret_values(names: list[str]) -> list[str]:
    return [os.environ[n] for n in names if os.environ.get(n)]


def _shanghai_time(seconds: float | None) -> time.struct_time:
    """A log record's time as Shanghai wall time (a ``logging.Formatter.converter``)."""
    return datetime.fromtimestamp(time.time() if seconds is None else seconds, SHANGHAI).timetuple()


def setup_logging(*, json_lines: bool = False, level: str = "INFO", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        formatter.converter = _shanghai_time
        handler.setFormatter(formatter)
    handler.addFilter(SecretFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler.executors", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def logging_mode() -> dict[str, object]:
    """How this process logs (for a helper process to log the same way): JSON or not, and the level."""
    root = logging.getLogger()
    json_lines = any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    return {"json_lines": json_lines, "level": logging.getLevelName(root.getEffectiveLevel())}
