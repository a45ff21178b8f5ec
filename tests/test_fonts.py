"""Chinese charts render with real glyphs, also on a machine with only DejaVu."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib import font_manager, ft2font
from matplotlib.figure import Figure

from dashboards import fonts
from dashboards.fonts import CJKFontNotFound, cjk_font_path, configure_matplotlib

TITLE = "江滨区（模拟）新华街道 合格率"
XLABEL = "回复时长（分钟）"
YLABEL = "合格率"
TICKS = ["新华街道", "城关镇", "区教育局"]
LEGEND = ["合格", "不合格"]
ALL_TEXT = TITLE + XLABEL + YLABEL + "".join(TICKS) + "".join(LEGEND) + "61.9%-5"


def _render_chart() -> tuple[bytes, list[str]]:
    """Draw a chart with Chinese everywhere; return the PNG and all warnings raised."""
    fig = Figure(figsize=(6, 4), dpi=72)
    ax = fig.subplots()
    ax.bar(range(3), [61.9, 80.0, 45.5], label=LEGEND[0])
    ax.plot(range(3), [-5, 10, 20], color="red", label=LEGEND[1])  # negative tick: minus sign
    ax.set_xticks(range(3), TICKS)
    ax.set_title(TITLE)
    ax.set_xlabel(XLABEL)
    ax.set_ylabel(YLABEL)
    ax.legend(title="图例")
    ax.annotate("合格率61.9%", (0, 61.9))
    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig.savefig(buf, format="png")
    return buf.getvalue(), [str(w.message) for w in caught]


def _glyph_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if "missing from font" in m]


@pytest.fixture(autouse=True)
def _isolated_rc():
    with matplotlib.rc_context():
        yield


def test_detector_catches_missing_glyphs_with_dejavu_only() -> None:
    # Guard for the guard: what a fresh machine without configure_matplotlib() does.
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}):
        png, messages = _render_chart()
    assert png.startswith(b"\x89PNG")
    missing = _glyph_warnings(messages)
    assert missing, messages
    assert any("DejaVu Sans" in m for m in missing)


def test_chinese_chart_has_no_missing_glyphs() -> None:
    family = configure_matplotlib()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning at all fails the render
        png, messages = _render_chart()
    assert png.startswith(b"\x89PNG")
    assert _glyph_warnings(messages) == []
    assert messages == []
    assert matplotlib.rcParams["font.sans-serif"][0] == family
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert matplotlib.get_backend().lower() == "agg"


def test_text_resolves_to_the_cjk_font_file() -> None:
    family = configure_matplotlib()
    resolved = Path(str(font_manager.findfont(font_manager.FontProperties())))
    # fallback_to_default=False: an unknown family must not silently become DejaVu.
    by_family = Path(str(font_manager.findfont(family, fallback_to_default=False)))
    assert by_family.resolve() == resolved.resolve()
    font = ft2font.FT2Font(str(resolved))
    assert font.family_name == family
    missing = [ch for ch in set(ALL_TEXT) if font.get_char_index(ord(ch)) == 0]
    assert missing == []
    if not os.environ.get(fonts.FONT_ENV):
        # Same file unless another copy of the same family is installed system-wide.
        same_family = {Path(e.fname).resolve() for e in font_manager.fontManager.ttflist if e.name == family}
        assert cjk_font_path().resolve() in same_family
        assert resolved.resolve() in same_family


def test_font_comes_from_an_installed_package() -> None:
    # A fresh machine has no CJK system font: the install itself must bring one.
    bundled = fonts._bundled_font_paths()
    assert bundled, f"the Python package {fonts.FONT_PACKAGE} is not installed"
    assert bundled[0].suffix.lower() in {".otf", ".ttf", ".ttc"}
    assert bundled[0].stat().st_size > 1_000_000
    if not os.environ.get(fonts.FONT_ENV):
        assert cjk_font_path() == bundled[0]


def test_configure_is_idempotent() -> None:
    # Cheap because idempotent: a second call adds no font and rebuilds nothing (no timing here:
    # a wall-clock bound fails on a loaded machine).
    family = configure_matplotlib()
    count = len(font_manager.fontManager.ttflist)
    for _ in range(100):
        assert configure_matplotlib() == family
    assert len(font_manager.fontManager.ttflist) == count
    assert matplotlib.rcParams["font.sans-serif"].count(family) == 1


def test_configure_reapplies_after_rcdefaults() -> None:
    family = configure_matplotlib()
    matplotlib.rcdefaults()
    assert matplotlib.rcParams["font.sans-serif"][0] != family
    configure_matplotlib()
    assert matplotlib.rcParams["font.sans-serif"][0] == family
    _, messages = _render_chart()
    assert _glyph_warnings(messages) == []


def test_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = fonts._bundled_font_paths()[0]
    monkeypatch.setenv(fonts.FONT_ENV, str(real))
    assert cjk_font_path() == real
    missing = tmp_path / "nope.otf"
    monkeypatch.setenv(fonts.FONT_ENV, str(missing))
    with pytest.raises(CJKFontNotFound, match=fonts.FONT_ENV):
        cjk_font_path()


def test_no_font_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fonts.FONT_ENV, raising=False)
    monkeypatch.setattr(fonts, "_bundled_font_paths", lambda: [])
    monkeypatch.setattr(fonts, "_system_font_path", lambda: None)
    with pytest.raises(CJKFontNotFound, match=fonts.FONT_PACKAGE):
        cjk_font_path()


def test_system_fallback_prefers_simplified_chinese(tmp_path: Path) -> None:
    files = {}
    for name in ("jp.ttc", "wqy.ttc", "sc.ttc"):
        files[name] = tmp_path / name
        files[name].write_bytes(b"x")
    entries = [
        font_manager.FontEntry(fname=str(tmp_path / "dejavu.ttf"), name="DejaVu Sans"),
        font_manager.FontEntry(fname=str(files["jp.ttc"]), name="Noto Sans CJK JP"),
        font_manager.FontEntry(fname=str(files["wqy.ttc"]), name="WenQuanYi Zen Hei"),
        font_manager.FontEntry(fname=str(files["sc.ttc"]), name="Noto Sans CJK SC"),
    ]
    assert fonts._pick_system_font(entries) == files["sc.ttc"]
    assert fonts._pick_system_font(entries[:3]) == files["wqy.ttc"]
    assert fonts._pick_system_font(entries[:1]) is None
