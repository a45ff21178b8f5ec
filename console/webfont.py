"""The Chinese font for the pages: the bundled Noto Sans SC cut down to the characters of GB 2312
(the 6,763 common hanzi, punctuation, ASCII): about 2 MB instead of 8 MB for a phone. Any other
character falls back to the whole font (a second face, fetched by the browser only when a page
holds such a character, e.g. a rare one in a place name)."""

from __future__ import annotations

import io
import logging
import threading
import time

from dashboards.fonts import cjk_font_path

log = logging.getLogger("wxmon.console")

_lock = threading.Lock()
_common: bytes | None = None


# Python's gb2312 codec maps two marks to other code points than GB 18030 and the pages do.
EXTRA = "\u00b7\u2014\u2013\u2026\u2018\u2019\u201c\u201d\u2022\u00d7\u00b0"


def common_characters() -> str:
    chars = {chr(c) for c in range(0x20, 0x7F)} | set(EXTRA)
    for first in range(0xA1, 0xF8):
        for second in range(0xA1, 0xFF):
            try:
                chars.add(bytes([first, second]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(sorted(chars))


def common_subset() -> bytes:
    """The cut-down font (OpenType), made once per process (a few seconds) and kept in memory."""
    global _common
    with _lock:
        if _common is None:
            from fontTools import subset  # type: ignore[import-untyped]
            from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

            started = time.perf_counter()
            options = subset.Options()
            options.layout_features = ["*"]
            options.notdef_outline = True
            font = TTFont(str(cjk_font_path()))
            subsetter = subset.Subsetter(options)
            subsetter.populate(text=common_characters())
            subsetter.subset(font)
            out = io.BytesIO()
            font.save(out)
            _common = out.getvalue()
            log.info("console: font cut to %d KiB in %.1fs", len(_common) // 1024, time.perf_counter() - started)
        return _common
