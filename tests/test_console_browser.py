"""The console in a real browser: Debian's chromium driven by Playwright (never `playwright install`).

Signs in, reads the overview of a small office's quarter, opens an account, downloads the quarter's
XLSX, and sees the overview reload by itself when new data lands. Screenshots of the main pages go
to test-artifacts/console/ (listed in .gitignore). The Chinese must render with the console's own
font on a machine with no CJK system font: the bundled face is loaded, and the width the browser
gives CJK text is the width the font's metrics give it (a missing glyph's box has another width).
Skipped with the reason where chromium is missing; on CI that fails (tests/needs.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_fixtures import PASSWORD, Office, make_office
from console_server import running_console
from openpyxl import load_workbook
from test_metrics_support import NOW, sh

from dashboards.fonts import cjk_font_path
from monitor import clock
from monitor.store import ColumnResult
from wxmon.web import ConsoleServer

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "console"
PROBE = "合格率总览账号栏目"
SIZE_PX = 40


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    previous = clock.set_clock(clock.VirtualClock(NOW))
    try:
        made = make_office(tmp_path)
        with made.store:
            yield made
    finally:
        clock.set_clock(previous)


@pytest.fixture
def server(office: Office) -> Iterator[ConsoleServer]:
    with running_console(office.config, office.store) as running:
        running.app.state.console.poll_ms = 200  # the live refresh, quick enough for a test
        yield running


@pytest.fixture(scope="module")
def shots() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


def font_width(text: str, size_px: float) -> float:
    """The advance width of ``text`` in the bundled font, from its own metrics (hmtx)."""
    from fontTools.ttLib import TTFont

    font = TTFont(str(cjk_font_path()), lazy=True)
    cmap, hmtx = font.getBestCmap(), font["hmtx"]
    units = sum(hmtx[cmap[ord(ch)]][0] for ch in text)
    return units * size_px / font["head"].unitsPerEm


def sign_in(page: Any, base: str, name: str = "boss") -> None:
    page.goto(f"{base}/login")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_sign_in_overview_account_and_xlsx(browser: Any, server: ConsoleServer, shots: Path,
                                           tmp_path: Path) -> None:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    base = server.url
    page.goto(f"{base}/login")
    page.screenshot(path=str(shots / "login.png"))
    sign_in(page, base)
    assert page.text_content("#pass-rate") == "合格率25.0%"
    assert "模拟甲街道服务" in page.text_content("#changes")
    page.evaluate("document.fonts.ready")
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    page.click("text=模拟乙卫健")
    page.wait_for_url("**/accounts/b1**")
    assert "未答复" in page.text_content("#inquiries")
    page.screenshot(path=str(shots / "account.png"), full_page=True)

    page.goto(f"{base}/downloads?period=2023Q3")
    page.screenshot(path=str(shots / "downloads.png"), full_page=True)
    with page.expect_download() as download_info:
        page.click("text=全部账号（XLSX）")
    download = download_info.value
    assert download.suggested_filename == "wxmon-2023Q3.xlsx"
    target = tmp_path / download.suggested_filename
    download.save_as(str(target))
    rows = list(load_workbook(target).active.iter_rows(values_only=True))
    assert rows[0][0] == "账号ID" and len(rows) == 5
    context.close()


def test_chinese_renders_with_the_bundled_font(browser: Any, server: ConsoleServer, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    sign_in(page, server.url)
    page.evaluate("document.fonts.ready")
    faces = page.evaluate("[...document.fonts].map(f => [f.family.replace(/\"/g, ''), f.status])")
    assert ["WxmonCJK", "loaded"] in faces
    assert page.evaluate(f"document.fonts.check('{SIZE_PX}px WxmonCJK', '{PROBE}')")
    width = page.evaluate(f"""() => {{
        const span = document.createElement('span');
        span.textContent = '{PROBE}';
        span.style.fontSize = '{SIZE_PX}px';
        document.body.appendChild(span);
        return span.getBoundingClientRect().width; }}""")
    assert width == pytest.approx(font_width(PROBE, SIZE_PX), abs=1.0)
    page.screenshot(path=str(shots / "overview-phone.png"), full_page=True)
    page.close()


def test_a_rare_character_falls_back_to_the_whole_font(browser: Any, server: ConsoleServer) -> None:
    page = browser.new_page()
    fonts: list[str] = []
    page.on("request", lambda r: fonts.append(r.url.rsplit("/", 1)[-1]) if "/static/cjk-" in r.url else None)
    sign_in(page, server.url)
    page.evaluate("document.fonts.ready")
    assert set(fonts) == {"cjk-common"}  # common characters only: the 2 MB cut, not the 8 MB font
    rare = "喆犇"  # outside GB 2312 (names of people and places have such)
    width = page.evaluate(f"""async () => {{
        const span = document.createElement('span');
        span.textContent = '{rare}';
        span.style.fontSize = '{SIZE_PX}px';
        document.body.appendChild(span);
        span.getBoundingClientRect();
        await document.fonts.ready;
        return span.getBoundingClientRect().width; }}""")
    assert "cjk-font" in fonts
    assert width == pytest.approx(font_width(rare, SIZE_PX), abs=1.0)
    page.close()


def test_the_overview_reloads_when_new_data_lands(browser: Any, office: Office, server: ConsoleServer) -> None:
    page = browser.new_page()
    sign_in(page, server.url)
    page.goto(f"{server.url}/?period=2023Q3")
    assert page.text_content("#pass-rate") == "合格率25.0%"
    with page.expect_navigation():  # the page's own polling notices and reloads
        run = office.store.start_run("columns", started_at=sh(2023, 9, 30, 23, 30))
        office.store.apply_column_results([ColumnResult("a2", "首页", "ok", sh(2023, 9, 30, 23, 31), type="click")])
        office.store.finish_run(run.id, "ok", finished_at=sh(2023, 9, 30, 23, 32))
    page.wait_for_selector("#pass-rate")
    assert page.text_content("#pass-rate") != "" and "数据截至 2023-09-30 23:32" in page.text_content("main")
    page.close()
