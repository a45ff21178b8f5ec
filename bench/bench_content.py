"""Content check: precision and recall per rule kind on the labelled corpus, and scan speed.

    .venv/bin/python bench/bench_content.py

Quality: the shipped rules over tests/data/content/corpus.yaml (sentences written for the tests,
labelled with the hits they must give). A hit is right when its kind and matched text are those
of a label of its sentence.

Speed: a quarter's articles of 10,000 accounts (one article every 3 days: ~300,000 articles of
~2,000 characters of visible text) is not scanned here; a sample of generated articles is, and
the total is extrapolated from the measured rate. The figure is also printed as a ratio against
the privacy scan of the same articles measured in the same run (both: best of three).
"""

from __future__ import annotations

import random
import sys
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import best  # noqa: E402

from probes.content_check import KINDS, shipped_checker  # noqa: E402
from probes.privacy import scan_html as privacy_scan_html  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "content" / "corpus.yaml"
QUARTER_ARTICLES = 10_000 * 92 // 3
SAMPLE = 2_000


def quality() -> dict[str, tuple[int, int, int]]:
    """kind -> (true positives, false positives, false negatives)."""
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    as_of = date.fromisoformat(str(data["as_of"]))
    checker = shipped_checker()
    counts = {k: [0, 0, 0] for k in KINDS}
    for s in data["sentences"]:
        want = {(h["kind"], h["text"]) for h in s.get("hits") or []}
        got = {(h.kind, h.text) for h in checker.scan_text(s["text"], as_of=as_of)}
        for kind, _ in got & want:
            counts[kind][0] += 1
        for kind, _ in got - want:
            counts[kind][1] += 1
        for kind, _ in want - got:
            counts[kind][2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in counts.items()}


def articles(n: int, error_rate: float = 0.05) -> list[str]:
    """Generated article bodies of ~2,000 characters in WeChat-editor markup: the corpus's clean
    sentences, with a sentence carrying an error at ``error_rate`` (far more than real articles
    have: hits cost more than clean text) and a link in one article out of ten."""
    data = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    clean = [s["text"] for s in data["sentences"] if not s.get("hits")]
    wrong = [s["text"] for s in data["sentences"] if s.get("hits")]
    rng = random.Random(15)
    out = []
    for i in range(n):
        paras = []
        size = 0
        if i % 10 == 0:
            paras.append('<p><a href="https://www.jiangbin-sample.gov.example/zwgk/1.html">阅读原文</a></p>')
        while size < 2000:
            para = "".join(rng.choice(wrong if rng.random() < error_rate else clean) for _ in range(4))
            size += len(para)
            paras.append(f'<p style="text-indent:2em;"><span style="font-size:16px;">{para}</span></p>')
        out.append('<section id="js_content">' + "".join(paras) + "</section>")
    return out


def main() -> None:
    print("quality (shipped rules, tests/data/content/corpus.yaml):")
    print(f"  {'kind':<18}{'TP':>4}{'FP':>4}{'FN':>4}  precision  recall")
    for kind, (tp, fp, fn) in quality().items():
        precision = tp / (tp + fp) if tp + fp else float("nan")
        recall = tp / (tp + fn) if tp + fn else float("nan")
        print(f"  {kind:<18}{tp:>4}{fp:>4}{fn:>4}  {precision:9.3f}  {recall:6.3f}")

    checker = shipped_checker()
    docs = articles(SAMPLE)
    chars = sum(len(d) for d in docs)
    as_of = date(2023, 8, 15)
    checker.scan_html(docs[0], as_of=as_of)  # jieba's dictionary loads once, outside the timing
    content_s = best(lambda: [checker.scan_html(d, as_of=as_of) for d in docs], runs=3)
    privacy_s = best(lambda: [privacy_scan_html(d) for d in docs], runs=3)
    per_article = content_s / SAMPLE
    total_min = per_article * QUARTER_ARTICLES / 60
    print(f"\nspeed: {SAMPLE} generated articles ({chars / SAMPLE:,.0f} characters of markup each)")
    print(f"  content check  {content_s:6.2f} s  ({per_article * 1000:.2f} ms per article)")
    print(f"  privacy scan   {privacy_s:6.2f} s  (baseline, same articles)")
    print(f"  ratio          {content_s / privacy_s:6.2f} x the privacy scan")
    print(f"  a quarter of 10,000 accounts ({QUARTER_ARTICLES:,} articles): ~{total_min:.1f} min of one core "
          "(extrapolated from the sample; spread over the quarter's daily rounds)")


if __name__ == "__main__":
    main()
