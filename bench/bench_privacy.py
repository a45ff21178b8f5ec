"""Privacy scanning speed on 1 MB inputs, as ratios against a baseline measured in the same run.

The baseline is one pass of a plain regular expression for digit runs over the same text:
the least any scanner of numbers must do. Run on demand:

    .venv/bin/python bench/bench_privacy.py

Figures: the best of five runs of each; "x baseline" is how many baseline passes one scan costs.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import best

from probes.privacy import scan_html, scan_text

DIGITS = re.compile(r"\d[\d -]{9,}\d")


def count_digit_runs(text: str) -> int:
    return sum(1 for _ in DIGITS.finditer(text))


def article(size: int) -> str:
    script = ("<script>var ids=[" + ",".join(str(10 ** 15 + i * 7919) for i in range(12000)) + "];</script>")
    para = ('<section style="margin:0 8px;"><p><span style="font-size:15px;">根据《京政办发〔2023〕12号》要求，'
            "咨询电话010-12345678，服务热线12345。</span><span>联系人：张老师，手机<strong>139 0013 9000"
            "</strong>。</span></p></section>\n")
    body = para * ((size - len(script)) // len(para) + 1)
    return "<html><head>" + script + '</head><body><div id="js_content">' + body + "</div></body></html>"


def dense_table(size: int) -> str:
    row = ("<tr><td>张三</td><td>110101199003077715</td><td>138 0013 8000</td>"
           "<td>2023-09-15 10:30</td><td>订单号202309151234567890</td></tr>\n")
    return "<html><body><table>" + row * (size // len(row) + 1) + "</table></body></html>"


def plain(size: int) -> str:
    para = "根据京政办发〔2023〕12号文件，联系电话010-12345678，手机13800138000，金额1234.56元。\n"
    return para * (size // len(para))


def main() -> None:
    cases = [("1 MB article page", article(1_000_000), lambda t: scan_html(t, source_offsets=True)),
             ("1 MB dense table", dense_table(1_000_000), lambda t: scan_html(t, source_offsets=True)),
             ("1 MB plain text", plain(1_000_000), scan_text)]
    print(f"{'input':<20}{'findings':>10}{'scan s':>10}{'baseline s':>12}{'x baseline':>12}")
    for name, text, scan in cases:
        found = len(scan(text))
        scan_s = best(partial(scan, text))
        base_s = best(partial(count_digit_runs, text))
        print(f"{name:<20}{found:>10}{scan_s:>10.3f}{base_s:>12.4f}{scan_s / base_s:>12.1f}")


if __name__ == "__main__":
    main()
