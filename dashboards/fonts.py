"""A CJK font for the charts, on any machine.

The weekly charts are in Chinese. A fresh Debian/Ubuntu server usually has only
DejaVu, which has no Han glyphs, so matplotlib would draw empty boxes and warn
"Glyph ... missing from font(s) DejaVu Sans". wxmon therefore depends on a
PyPI package that ships a Simplified Chinese font (``pylopdf-fonts-zh-cn``:
Noto Sans SC, SIL OFL 1.1, no network access at install or run time) and
registers it with matplotlib here. System CJK fonts are only a fallback.

Usage: call :func:`configure_matplotlib` before drawing a chart. It is
idempotent and cheap on repeated calls.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import matplotlib

#: Environment variable that forces a specific font file (operators' escape hatch).
FONT_ENV = "WXMON_CJK_FONT"

#: The PyPI distribution that brings the font (see pyproject.toml).
FONT_PACKAGE = "pylopdf-fonts-zh-cn"

# Family names of CJK fonts commonly installed on servers and desktops, best
# first. Simplified Chinese faces come first: the same code point has different
# regional glyph forms in JP/KR/TC faces.
_PREFERRED_FAMILIES: tuple[str, ...] = (
    "Noto Sans SC",
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "SimHei",
    "Noto Sans CJK",
    "Source Han Sans",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans CJK HK",
)

# Characters a font must have to count as a usable Chinese font.
_PROBE_TEXT = "合格率江滨区（）"


class CJKFontNotFound(RuntimeError):
    """No font able to render Chinese could be found."""


@dataclass(frozen=True)
class _Registration:
    path: Path
    family: str
    manager_id: int


_lock = threading.Lock()
_registration: _Registration | None = None


def _bundled_font_paths() -> list[Path]:
    """Font files shipped by installed Python packages, best first."""
    paths: list[Path] = []
    try:
        import pylopdf_fonts_zh_cn  # Noto Sans SC (OFL-1.1)
    except ImportError:
        pass
    else:
        try:
            paths.append(Path(pylopdf_fonts_zh_cn.sans_path()))
        except AttributeError:  # a future version without the helper
            paths.extend(sorted(Path(pylopdf_fonts_zh_cn.__file__).parent.glob("NotoSans*.otf")))
    return [p for p in paths if p.is_file()]


def _covers(path: Path, text: str = _PROBE_TEXT) -> bool:
    """True if the font file (its first face) has a glyph for every character of *text*."""
    from matplotlib import ft2font

    try:
        font = ft2font.FT2Font(os.fsdecode(path))
    except (OSError, RuntimeError, ValueError, TypeError):
        return False
    return all(font.get_char_index(ord(ch)) != 0 for ch in text)


def _pick_system_font(entries: Iterable[object]) -> Path | None:
    """The best CJK font among matplotlib FontEntry-like objects (``fname``, ``name``)."""
    by_family: dict[str, list[Path]] = {}
    for entry in entries:
        name = str(getattr(entry, "name", ""))
        fname = str(getattr(entry, "fname", ""))
        if name and fname:
            by_family.setdefault(name.casefold(), []).append(Path(fname))
    for family in _PREFERRED_FAMILIES:
        for path in by_family.get(family.casefold(), []):
            if path.is_file():
                return path
    return None


def _system_font_path() -> Path | None:
    from matplotlib import font_manager

    return _pick_system_font(font_manager.fontManager.ttflist)


def cjk_font_path() -> Path:
    """Path of the font file used for Chinese text.

    Order: the file named by ``$WXMON_CJK_FONT``; a font shipped by an
    installed package (``pylopdf-fonts-zh-cn``); a system CJK font known to
    matplotlib (Noto Sans CJK, Source Han Sans, WenQuanYi, ...).
    """
    forced = os.environ.get(FONT_ENV)
    if forced:
        path = Path(forced).expanduser()
        if not path.is_file():
            raise CJKFontNotFound(f"{FONT_ENV}={forced}: no such font file")
        return path
    for path in _bundled_font_paths():
        return path
    system = _system_font_path()
    if system is not None:
        return system
    raise CJKFontNotFound(
        f"no font able to render Chinese was found: install the Python package "
        f"'{FONT_PACKAGE}' (a wxmon dependency), or a system font such as "
        f"fonts-noto-cjk, or set {FONT_ENV} to a .ttf/.otf/.ttc file"
    )


class _FontEntry(Protocol):
    """What is read of a matplotlib ``font_manager.FontEntry``."""

    @property
    def fname(self) -> str: ...

    @property
    def name(self) -> str: ...


def _family_for(path: Path, entries: Iterable[_FontEntry]) -> str:
    """The family name matplotlib registered for *path* (an SC face for collections)."""
    target = os.path.realpath(path)
    names = [str(e.name) for e in entries if e.fname and os.path.realpath(str(e.fname)) == target]
    if not names:
        raise CJKFontNotFound(f"matplotlib could not read the font file {path}")
    for family in _PREFERRED_FAMILIES:
        if family in names:
            return family
    for name in names:
        if name.endswith((" SC", " CN")):
            return name
    return names[0]


def _register(path: Path) -> str:
    from matplotlib import font_manager

    manager = font_manager.fontManager
    target = os.path.realpath(path)
    known = any(os.path.realpath(e.fname) == target for e in manager.ttflist)
    if not known:
        manager.addfont(os.fsdecode(path))
    return _family_for(path, manager.ttflist)


def _use_agg() -> None:
    # matplotlib.use() switches pyplot's backend (closing its figures), so skip it
    # when Agg is already selected.
    get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
    current = get() if get is not None else None
    if (current or "").lower() != "agg":
        matplotlib.use("Agg")


def configure_matplotlib() -> str:
    """Make matplotlib render Chinese: register the CJK font and set rcParams.

    Selects the Agg backend, puts the CJK family first in ``font.sans-serif``
    (DejaVu Sans stays as a fallback for symbols), selects ``sans-serif`` and
    turns off ``axes.unicode_minus``. Returns the family name in use.
    Raises :class:`CJKFontNotFound` if no usable font exists.
    """
    global _registration
    from matplotlib import font_manager

    with _lock:
        reg = _registration
        # Re-register only if never done or matplotlib's font manager was rebuilt.
        if reg is None or reg.manager_id != id(font_manager.fontManager):
            path = cjk_font_path()
            if not _covers(path):
                raise CJKFontNotFound(f"{path} has no glyphs for Chinese text")
            _use_agg()
            family = _register(path)
            reg = _registration = _Registration(path=path, family=family, manager_id=id(font_manager.fontManager))

        # rcParams are re-applied on every call: callers (or rcdefaults()) may have reset them.
        rc = matplotlib.rcParams
        rc["font.family"] = ["sans-serif"]
        current = [f for f in rc["font.sans-serif"] if f != reg.family]
        if "DejaVu Sans" not in current:
            current.append("DejaVu Sans")
        rc["font.sans-serif"] = [reg.family, *current]
        rc["axes.unicode_minus"] = False
        return reg.family

