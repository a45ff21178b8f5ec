"""Which HTML parser reads pages for the columns probe: selectolax (Lexbor) vs lxml, by measurement.

    .venv/bin/python bench/bench_page_parser.py [--repeat 5]

Each parser does what probes.pages needs: parse, read the title, drop scripts/styles/hidden
elements, and read the visible text of the message block, the article body and the page. The
pages are the corpus in tests/data/pages/ plus a ~1.5 MB article built from it. The baseline is
the regex strip the probe used before (``probes.columns.visible_text``), which reads no structure;
every figure is printed as a ratio of time against that baseline measured in the same run
(ratio > 1: slower than the baseline), so the machine's speed and load cancel out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CORPUS = ROOT / "tests" / "data" / "pages"
HIDDEN = ('[hidden], [style*="display:none"], [style*="display: none"], [style*="visibility:hidden"], '
          '[style*="visibility: hidden"]')
MESSAGE = ".weui-msg, .weui_msg, .global_error_msg, .page_msg"


def pages() -> dict[str, list[str]]:
    index = json.loads((CORPUS / "index.json").read_text(encoding="utf-8"))
    small = [(CORPUS / e["file"]).read_text(encoding="utf-8") for e in index]
    article = (CORPUS / "article-body-says-expired.html").read_text(encoding="utf-8")
    para = "<p>" + "为进一步做好居住证办理工作，方便群众办事，现将有关事项通知如下。" * 15 + "<img src=\"x.jpg\"></p>"
    big = article.replace('style="visibility: hidden;">', 'style="visibility: hidden;">' + para * 1000, 1)
    return {"corpus (31 pages, 0.2 MB)": small, f"article ({len(big.encode()) / 1e6:.1f} MB)": [big]}


def with_selectolax(html: str) -> tuple[str, str, str]:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    node = tree.css_first("title")
    title = node.text() if node is not None else ""
    for n in tree.css("script, style, noscript, template, head"):
        n.decompose()
    for n in tree.css(HIDDEN):
        if n.parent is not None and not n.css_matches("#js_content"):
            n.decompose()
    msg = tree.css_first(MESSAGE)
    body = tree.body
    return title, msg.text(separator=" ") if msg is not None else "", body.text(separator=" ") if body else ""


def with_lxml(html: str) -> tuple[str, str, str]:
    import lxml.html

    if not html.strip():
        return "", "", ""  # lxml refuses an empty document
    root = lxml.html.document_fromstring(html)
    title = root.findtext(".//title") or ""
    for n in root.xpath("//script|//style|//noscript|//template|//head"):
        n.drop_tree()
    for n in root.xpath("//*[@hidden or contains(translate(@style,' ',''),'display:none') "
                        "or contains(translate(@style,' ',''),'visibility:hidden')][not(@id='js_content')]"):
        if n.getparent() is not None:
            n.drop_tree()
    msg = root.xpath("//*[contains(concat(' ',normalize-space(@class),' '),' weui-msg ') or "
                     "contains(concat(' ',normalize-space(@class),' '),' weui_msg ') or "
                     "contains(concat(' ',normalize-space(@class),' '),' page_msg ')]")
    body = root.find("body")
    return (title, " ".join(msg[0].itertext()) if msg else "",
            " ".join(body.itertext()) if body is not None else "")


def baseline(html: str) -> str:
    from probes.columns import visible_text

    return visible_text(html)


def timed(fn: Callable[[str], object], docs: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        for doc in docs:
            fn(doc)
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    candidates: dict[str, Callable[[str], object]] = {"selectolax (lexbor)": with_selectolax, "lxml": with_lxml}
    try:
        import lxml.html  # noqa: F401  (a comparison only: not a dependency)
    except ImportError:
        del candidates["lxml"]
        print("lxml not installed: selectolax measured alone (pip install lxml to compare)")
    for name, docs in pages().items():
        base = timed(baseline, docs, args.repeat)
        print(f"{name}: baseline (regex strip, no structure) {base * 1e3:.2f} ms")
        for label, fn in candidates.items():
            took = timed(fn, docs, args.repeat)
            print(f"  {label:22s} {took * 1e3:8.2f} ms  ratio {took / base:5.2f}x of the baseline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
