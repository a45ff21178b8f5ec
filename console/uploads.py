"""Uploads from the console's forms (the inspectors' screenshots): bounded in size while they are
read, and judged by their content with the same rule as ``wxmon inquiry --evidence``
(``monitor.evidence.check_screenshot``), never by their name or the browser's content type."""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from typing import Protocol

from monitor.errors import BadInput
from monitor.evidence import Screenshot, check_screenshot

CHUNK = 64 * 1024
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class Upload(Protocol):
    """What Starlette's UploadFile offers (and a test's stand-in can)."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


class UploadRefused(BadInput):
    """The file is not accepted; the message (Chinese) is shown to the user."""


async def read_screenshot(upload: Upload, max_bytes: int) -> Screenshot:
    """Read at most ``max_bytes`` (+1 to tell a larger file) and check it is a PNG, JPEG or WebP."""
    name = _safe_name(upload.filename)
    data = bytearray()
    while True:
        chunk = await upload.read(CHUNK)
        if not chunk:
            break
        data += chunk
        if len(data) > max_bytes:
            raise UploadRefused(f"{name}: 截图文件超过{max(max_bytes // 1_000_000, 1)}MB上限")
    if not data:
        raise UploadRefused(f"{name}: 文件是空的")
    # The one content rule lives in monitor.evidence, which reads a path: hand it a private temp file.
    fd, tmp = tempfile.mkstemp(prefix="wxmon-upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            shot = check_screenshot(tmp, max_bytes)
        except BadInput as exc:
            reason = str(exc).split(": ", 1)[-1]
            raise UploadRefused(f"{name}: {reason}") from None
    finally:
        os.unlink(tmp)
    return dataclasses.replace(shot, original_name=name)


def _safe_name(filename: str | None) -> str:
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE_NAME.sub("_", base)[:200] or "上传文件"
