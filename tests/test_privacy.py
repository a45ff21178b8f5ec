"""Personal-data scanner: corpus precision/recall, masking, invariants, files."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from probes.privacy import (
    BANK_CARD,
    ID_CARD,
    MOBILE,
    Finding,
    decode_bytes,
    mask,
    scan_file,
    scan_html,
    scan_text,
)
from probes.text import html_to_text

CORPUS = Path(__file__).parent / "data" / "privacy" / "corpus.jsonl"

# --- independent checks (deliberately not imported from the scanner) -----------

_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_FW = str.maketrans("０１２３４５６７８９ｘＸx", "0123456789XXX")
_NOT_DIGIT = re.compile(r"[^0-9X]")
_ALNUM = re.compile(r"[0-9A-Za-z_０-９Ａ-Ｚａ-ｚ]")


def _luhn(s: str) -> bool:
    digits = [int(c) for c in reversed(s)]
    return sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0


def _id18_ok(s: str) -> bool:
    return "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], _W)) % 11] == s[17]


def digits_of(kind: str, span_text: str) -> str:
    """The number a finding covers, separators and +86/0086 removed."""
    d = _NOT_DIGIT.sub("", span_text.translate(_FW))
    if kind == MOBILE and len(d) > 11:
        assert d[:-11] in ("86", "0086"), span_text
        d = d[-11:]
    return d


def checksum_ok(kind: str, d: str) -> bool:
    if kind == ID_CARD:
        if len(d) == 18:
            return _id18_ok(d) and int(d[6:10]) >= 1900
        return len(d) == 15 and d.isdigit() and 1 <= int(d[8:10]) <= 12 and 1 <= int(d[10:12]) <= 31
    if kind == MOBILE:
        return len(d) == 11 and re.fullmatch(
            r"1(3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}", d) is not None
    if kind == BANK_CARD:
        return 16 <= len(d) <= 19 and d.isdigit() and _luhn(d) and re.match(r"62|4|5[1-5]", d) is not None
    return False


def assert_invariants(text: str, findings: list[Finding]) -> None:
    """No overlaps, sorted, clean boundaries, valid checksums, safe masks."""
    prev_end = -1
    for f in findings:
        assert f.start < f.end, f
        assert f.start >= prev_end, f"overlapping/unsorted findings: {findings}"
        prev_end = f.end
        span = text[f.start:f.end]
        d = digits_of(f.type, span)
        assert checksum_ok(f.type, d), (f, span)
        # not part of a longer digit/letter run
        assert f.start == 0 or not _ALNUM.match(text[f.start - 1]), (f, text[max(0, f.start - 5):f.end])
        assert f.end == len(text) or not _ALNUM.match(text[f.end]), (f, text[f.start:f.end + 5])
        assert d not in f.masked and d.lower() not in f.masked, f
        hidden = f.masked.count("*")
        assert hidden >= (4 if f.type == MOBILE else 8), f


def load_corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def scan_case(case: dict) -> list[Finding]:
    if case["kind"] == "html":
        return scan_html(case["text"], source_offsets=True)
    return scan_text(case["text"])


# --- corpus ------------------------------------------------------------------------------


def test_corpus_precision_and_recall() -> None:
    cases = load_corpus()
    assert len(cases) >= 150
    tp = fp = fn = 0
    misses: list[str] = []
    for case in cases:
        got = {(f.type, f.start, f.end) for f in scan_case(case)}
        want = {(e["type"], e["start"], e["end"]) for e in case["expected"]}
        tp += len(got & want)
        fp += len(got - want)
        fn += len(want - got)
        for kind, s, e in sorted(got ^ want):
            tag = "FP" if (kind, s, e) in got else "FN"
            misses.append(f"{tag} {case['id']} {case['note']}: {kind} {case['text'][s:e]!r}")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"\nprivacy corpus: {len(cases)} cases, {tp + fn} expected findings, "
          f"TP={tp} FP={fp} FN={fn}, precision={precision:.4f}, recall={recall:.4f}")
    for line in misses:
        print("  " + line)
    assert precision >= 0.97
    assert recall >= 0.97


def test_corpus_findings_are_safe_and_consistent() -> None:
    for case in load_corpus():
        text = case["text"]
        findings = scan_case(case)
        if case["kind"] == "html":
            # source spans contain markup; check through the visible text instead
            visible = html_to_text(text)
            vfind = scan_html(text)
            assert len(vfind) == len(findings)
            assert_invariants(visible, vfind)
            for f, v in zip(findings, vfind):
                assert digits_of(f.type, html_to_text(text[f.start:f.end])) == \
                    digits_of(v.type, visible[v.start:v.end])
        else:
            assert_invariants(text, findings)


def test_corpus_is_reproducible() -> None:
    """make_corpus.py regenerates exactly the committed jsonl."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS.with_name("make_corpus.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    regenerated = [json.dumps(c, ensure_ascii=False) for c in module.CASES]
    committed = CORPUS.read_text(encoding="utf-8").splitlines()
    assert regenerated == committed


# --- examples from the brief -------------------------------------------------------------


@pytest.mark.parametrize("text,kind,number", [
    ("联系电话13800138000", MOBILE, "13800138000"),
    ("手机：138 0013 8000。", MOBILE, "138 0013 8000"),
    ("手机：138-0013-8000", MOBILE, "138-0013-8000"),
    ("电话+86 13800138000", MOBILE, "+86 13800138000"),
    ("电话0086-13800138000", MOBILE, "0086-13800138000"),
    ("电话86-13800138000", MOBILE, "86-13800138000"),
    ("身份证号：110101199003077715", ID_CARD, "110101199003077715"),
    ("身份证号：110101 19900307 7715", ID_CARD, "110101 19900307 7715"),
    ("身份证号：110101-19900307-7715", ID_CARD, "110101-19900307-7715"),
    ("身份证号：110101 1990 0307 7715", ID_CARD, "110101 1990 0307 7715"),
    ("身份证号：110 101 1990 0307 7715", ID_CARD, "110 101 1990 0307 7715"),
    ("身份证号：11010519491231002x", ID_CARD, "11010519491231002x"),
    ("旧证110101900307771", ID_CARD, "110101900307771"),
    ("卡号6222 0212 3456 7890 128", BANK_CARD, "6222 0212 3456 7890 128"),
    ("卡号4111111111111111", BANK_CARD, "4111111111111111"),
])
def test_positive_examples(text: str, kind: str, number: str) -> None:
    assert kind != BANK_CARD or _luhn(_NOT_DIGIT.sub("", number))
    findings = scan_text(text)
    assert [(f.type, text[f.start:f.end]) for f in findings] == [(kind, number)]


@pytest.mark.parametrize("text", [
    "91110108MA01XXXXX", "京政办发〔2023〕12号", "010-12345678", "0755-8888 8888", "12345",
    "95588", "400-810-8888", "https://mp.weixin.qq.com/s?__biz=MzA5&mid=2652812345&idx=1",
    "http://x.gov.cn/a?id=13800138000", "https://x.cn/p/4111111111111111", "2023-09-15 10:30:00",
    "1101011990XXXX1234", "138****8000", "身份证号：XXXXXXXXXXXXXXXXXX", "110101199003077716",
    "12012345678", "13800138000.00", "¥13800138000", "订单号4111111111111111",
])
def test_decoy_examples(text: str) -> None:
    assert scan_text(text) == []


def test_masking_rule() -> None:
    assert mask(ID_CARD, "110101199003077715") == "110101********7715"
    assert mask(ID_CARD, "110101900307771") == "1101********771"
    assert mask(MOBILE, "13800138000") == "138****8000"
    assert mask(MOBILE, "8613800138000") == "138****8000"
    assert mask(BANK_CARD, "6222021234567890128") == "6222 **** **** 0128"
    [f] = scan_text("卡号 6222 0212 3456 7890 128")
    assert f.masked == "6222 **** **** 0128"
    assert f.to_dict() == {"type": "bank_card", "start": 3, "end": 26, "masked": f.masked}


def test_id_or_card_decided_by_label() -> None:
    number = "620102199001010257"  # valid Gansu ID, and Luhn-valid with a 62 IIN
    assert _id18_ok(number) and _luhn(number)
    assert [f.type for f in scan_text("身份证号：" + number)] == [ID_CARD]
    assert [f.type for f in scan_text("银行卡号：" + number)] == [BANK_CARD]
    assert [f.type for f in scan_text(number)] == [ID_CARD]


# --- property: random documents -------------------------------------------------------------


def _random_number(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:  # an 18-digit ID, valid or not
        region = rng.choice(["110101", "620102", "440305", "010101", "910101"])
        first = region + f"{rng.randrange(1890, 2030)}{rng.randrange(1, 14):02d}{rng.randrange(1, 33):02d}" \
            + f"{rng.randrange(1000):03d}"
        check = "10X98765432"[sum(int(c) * w for c, w in zip(first, _W)) % 11]
        s = first + (check if rng.random() < 0.7 else rng.choice("0123456789X"))
        if rng.random() < 0.2:
            s = s.lower()
    elif kind == 1:
        s = f"1{rng.randrange(10)}{rng.randrange(10 ** 9):09d}"
    elif kind == 2:
        n = rng.randrange(15, 20)
        body = rng.choice(["62", "4", "5", "9", "1"]) + "".join(str(rng.randrange(10)) for _ in range(n))
        for c in "0123456789":
            if _luhn(body + c):
                s = body + c
                break
    else:
        s = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(1, 25)))
    if rng.random() < 0.3:
        sep = rng.choice([" ", "-", "\u00a0"])
        cuts = sorted(rng.sample(range(1, len(s)), min(len(s) - 1, rng.randrange(1, 5))))
        s = sep.join(s[a:b] for a, b in zip([0] + cuts, cuts + [len(s)]))
    if rng.random() < 0.1:
        s = rng.choice(["+86", "+86 ", "0086", "86-"]) + s
    return s


_FILLERS = ["电话", "身份证号：", "，", "。", " ", "-", "+", "X", "x", "abc", "SN-", "卡号",
            "订单号", "http://a.cn/?id=", "元", ".5", "\n", "\t", "／", "（", "）", "１３８",
            "０", "*", "&nbsp;", "<span>", "</span>", "<p>", "<td>"]


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_keep_invariants(seed: int) -> None:
    rng = random.Random(seed)
    pieces = []
    for _ in range(300):
        pieces.append(_random_number(rng) if rng.random() < 0.4 else rng.choice(_FILLERS))
    text = "".join(pieces)
    assert_invariants(text, scan_text(text))
    visible = html_to_text(text)
    vfind = scan_html(text)
    assert_invariants(visible, vfind)
    for f, v in zip(scan_html(text, source_offsets=True), vfind):
        assert digits_of(f.type, html_to_text(text[f.start:f.end])) == digits_of(v.type, visible[v.start:v.end])


# --- HTML ---------------------------------------------------------------------------------------


def test_html_to_text_drops_markup_and_decodes_entities() -> None:
    page = ("<html><head><title>通知</title><style>.a{}</style>"
            "<script>var uin='13800138000';</script></head><body>"
            "<!-- 110101199003077715 --><p>张三&nbsp;&lt;电话&gt;&#65306;138<span>0013</span>8000</p>"
            "<table><tr><td>a</td><td>b</td></tr></table>"
            '<a href="tel:13900139000">拨打</a></body></html>')
    text = html_to_text(page)
    assert "uin" not in text and ".a{}" not in text and "110101" not in text and "139001" not in text
    assert "张三\u00a0<电话>：13800138000" in text
    assert "a\tb" in text
    [f] = scan_html(page)
    assert (f.type, text[f.start:f.end]) == (MOBILE, "13800138000")
    [g] = scan_html(page, source_offsets=True)
    assert page[g.start:g.end] == "138<span>0013</span>8000"


def test_html_block_tags_separate_numbers() -> None:
    assert scan_html("<table><tr><td>138</td><td>0013</td><td>8000</td></tr></table>") == []
    assert scan_html("<p>13800</p><p>138000</p>") == []
    assert scan_html("138<br>00138000") == []
    assert len(scan_html("<p>138<b>0013</b><i>8000</i></p>")) == 1


def test_html_source_offsets_with_entities_and_whitespace() -> None:
    page = "<p>手机\n 138&nbsp;0013\n   8000\n</p><p>身份证&#58;110101199003077715</p>"
    found = scan_html(page, source_offsets=True)
    assert [(f.type, page[f.start:f.end]) for f in found] == [
        (MOBILE, "138&nbsp;0013\n   8000"), (ID_CARD, "110101199003077715")]


# --- files ----------------------------------------------------------------------------------------


def test_scan_file_utf8_bom_and_gb18030(tmp_path: Path) -> None:
    body = "公示名单\n张三 身份证号：110101199003077715 电话：138-0013-8000\n"
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes(body.encode("gb18030"))
    for path in (bom, gbk):
        text, findings = scan_file(path)
        assert text == body  # BOM stripped; offsets index this string
        assert [(f.type, text[f.start:f.end]) for f in findings] == [
            (ID_CARD, "110101199003077715"), (MOBILE, "138-0013-8000")]


def test_scan_file_html_offsets_index_the_raw_file(tmp_path: Path) -> None:
    page = ('<!DOCTYPE html><html><body><script>var x="13900139000";</script>'
            "<p>电话：<span>138</span> 0013 8000</p><p>卡号&#65306;4111111111111111</p></body></html>")
    for name in ("a.html", "a.htm", "sniffed.txt"):
        path = tmp_path / name
        path.write_text(page, encoding="utf-8")
        text, findings = scan_file(path)
        assert text == page
        assert [(f.type, text[f.start:f.end]) for f in findings] == [
            (MOBILE, "138</span> 0013 8000"), (BANK_CARD, "4111111111111111")]


def test_plain_text_with_angle_brackets_is_not_html(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("若 a<b 则联系 13800138000 <不是标签>", encoding="utf-8")
    text, findings = scan_file(path)
    assert [text[f.start:f.end] for f in findings] == ["13800138000"]


def test_decode_bytes_fallbacks() -> None:
    assert decode_bytes("身份证".encode("gb18030")) == "身份证"
    assert decode_bytes("身份证".encode("utf-16")) == "身份证"
    assert decode_bytes(b"\xef\xbb\xbfabc") == "abc"


# --- large inputs (their speed is measured in bench/bench_privacy.py, not here) ----------------


def _article_page(size: int) -> str:
    """A WeChat-article-like page: big inline scripts, styled sections and spans."""
    script = ("<script>var msg_link='https://mp.weixin.qq.com/s?__biz=MzA5NTQ4MjQyMA==&amp;mid=2652812345';"
              + "var ids=[" + ",".join(str(10 ** 15 + i * 7919) for i in range(12000)) + "];</script>")
    para = ('<section style="margin:0 8px;line-height:1.75em;"><p style="text-indent:2em;">'
            '<span style="font-size:15px;color:rgb(62,62,62);">根据《京政办发〔2023〕12号》要求，'
            "现将2023年9月15日受理情况公示如下，咨询电话010-12345678，服务热线12345。</span>"
            '<span style="font-size:15px;">联系人：张老师，手机<strong>139 0013 9000</strong>。</span>'
            "</p></section>\n")
    body = para * ((size - len(script)) // len(para) + 1)
    return "<!DOCTYPE html><html><head>" + script + '</head><body><div id="js_content">' + body + "</div></body></html>"


def test_one_megabyte_article_page() -> None:
    page = _article_page(1_000_000)
    assert len(page) >= 1_000_000
    findings = scan_html(page, source_offsets=True)
    assert findings and all(page[f.start:f.end] == "139 0013 9000" for f in findings)


def test_one_megabyte_dense_table() -> None:
    """Worst case: every row an ID, a mobile and an order number (~10k findings)."""
    row = ("<tr><td>张三</td><td>110101199003077715</td><td>138 0013 8000</td>"
           "<td>2023-09-15 10:30</td><td>订单号202309151234567890</td>"
           '<td><a href="https://mp.weixin.qq.com/s?mid=2652812345">链接</a></td></tr>\n')
    page = "<html><body><table>" + row * (1_000_000 // len(row) + 1) + "</table></body></html>"
    findings = scan_html(page, source_offsets=True)
    assert len(findings) == 2 * (1_000_000 // len(row) + 1)


def test_one_megabyte_plain_text() -> None:
    para = "根据京政办发〔2023〕12号文件，联系电话010-12345678，手机13800138000，金额1234.56元。\n"
    text = para * (1_000_000 // len(para))
    findings = scan_text(text)
    assert len(findings) == 1_000_000 // len(para)
    assert {f.type for f in findings} == {"mobile"}


def test_cli_privacy_scan_json_follows_the_spec(tmp_path, capsys):
    import json

    from wxmon.cli import main

    number = "11010519491231002X"
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><p>联系人身份证：{number}，电话 138-0013-8000</p>"
                    f"<p>统一社会信用代码 91110108MA01ABCD3X，热线12345</p></body></html>", encoding="utf-8")
    assert main(["privacy", "scan", str(page), "--json"]) == 0
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(line["type"] for line in lines) == ["id_card", "mobile"]
    text = page.read_text(encoding="utf-8")
    for line in lines:
        assert set(line) == {"source", "type", "start", "end", "masked"}
        assert line["source"] == str(page)
        assert text[line["start"]:line["end"]].replace("-", "") in (number, "13800138000")
    assert number not in out and "13800138000" not in out


def test_cli_privacy_scan_missing_file_is_bad_input(tmp_path, capsys):
    from wxmon.cli import main

    assert main(["privacy", "scan", str(tmp_path / "nope.html")]) == 2
    err = capsys.readouterr().err
    assert "nope.html" in err and len(err.strip().splitlines()) == 1
