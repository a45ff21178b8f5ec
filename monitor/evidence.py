"""Screenshots kept as evidence of test inquiries (the quarterly review asks for them).

A file is accepted only when its content is a PNG, JPEG or WebP image (judged by the first
bytes, never by its name) and it is no larger than the configured bound. It is copied into
the evidence directory under its SHA-256 (the same picture given twice is kept once), written
to a temporary name and renamed, so a crash never leaves half a file under a real name.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from monitor.config import Config
from monitor.errors import BadInput

EVIDENCE_DIR = "evidence"


def _media_type(data: bytes) -> tuple[str, str] | None:
    """(media type, extension) from the first bytes, None for anything but PNG, JPEG, WebP."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", ".png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", ".jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


@dataclass(frozen=True, slots=True)
class Screenshot:
    """A checked image, ready to be kept."""

    original_name: str
    media_type: str
    extension: str
    data: bytes
    sha256: str

    @property
    def file_name(self) -> str:
        return self.sha256 + self.extension


def evidence_dir(config: Config) -> Path:
    """``channels.manual.evidence_dir`` (relative to accounts.yaml), else ``evidence`` beside the
    SQLite store file (beside accounts.yaml for a PostgreSQL store)."""
    configured = config.channels.manual.evidence_dir
    if configured:
        path = Path(configured)
        return path if path.is_absolute() else config.config_dir / path
    url = make_url(config.store_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not url.database.startswith("file:"):
        return Path(url.database).parent / EVIDENCE_DIR
    return config.config_dir / EVIDENCE_DIR


def check_screenshot(path: str | Path, max_bytes: int) -> Screenshot:
    """Read and check ``path``; :class:`BadInput` (one line naming the file, in Chinese for the
    inspector) when it is missing, too large or not a PNG/JPEG/WebP image."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise BadInput(f"{path}: 截图文件不存在") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: 是目录，不是截图文件") from None
    except OSError as exc:
        raise BadInput(f"{path}: 无法读取截图文件（{exc.strerror or type(exc).__name__}）") from None
    if len(data) > max_bytes:
        raise BadInput(f"{path}: 截图文件超过{max_bytes // 1_000_000 or 1}MB上限（channels.manual.evidence_max_bytes）")
    kind = _media_type(data)
    if kind is not None:
        return Screenshot(path.name[:200], kind[0], kind[1], data, hashlib.sha256(data).hexdigest())
    raise BadInput(f"{path}: 不是PNG、JPEG或WebP图片，不能作为截图证据")


def keep(shot: Screenshot, directory: Path) -> Path:
    """Copy the checked image into ``directory`` (created if needed); returns where it is."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o750)
    target = directory / shot.file_name
    if target.exists() and target.stat().st_size == len(shot.data):
        return target  # content-addressed: the same picture is already kept
    tmp = directory / f".{shot.file_name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(shot.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
