"""Property tests of the parsers that read outside input (issue #10, build item 6).

- periods: any text is a Period or BadInput (one line), never another exception;
  a valid period's key parses back to the same period;
- privacy scanning: any text, HTML or file bytes give findings inside the text whose
  mask never shows the whole number, and never an exception;
- page judging (``probes.columns.judge_page`` on what ``monitor.http.decode_body``
  makes of the bytes): any page is judged ok / fail / unverifiable, never an exception.

Fast on purpose (about 200 examples each, no deadline): the whole suite stays short.
"""

from __future__ import annotations

import re
import string
import tempfile
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from monitor.errors import BadInput
from monitor.http import PageResult, decode_body
from monitor.period import FIRST_YEAR, LAST_YEAR, MAX_RANGE_DAYS, Period, parse_period, parse_week
from probes.columns import DEFAULT_SOFT404, WECHAT_GONE, judge_page
from probes.privacy import BANK_CARD, ID_CARD, MOBILE, FileRefused, scan_file, scan_html, scan_text

try:
    from test_privacy import assert_invariants, digits_of
except ImportError:  # pragma: no cover
    from tests.test_privacy import assert_invariants, digits_of

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -------------------------------------------------------------------------------------------- periods

years = st.integers(0, 10_000)
# Texts near the grammar reach the deep branches (year 0, 9999-12, week 54, Feb 30...).
period_like = st.one_of(
    st.builds("{}Q{}".format, years, st.integers(-1, 9)),
    st.builds("{}-W{:02d}".format, years, st.integers(0, 99)),
    st.builds("{}-{:02d}".format, years, st.integers(0, 99)),
    st.builds("{:04d}-{:02d}-{:02d}..{:04d}-{:02d}-{:02d}".format, st.integers(0, 9999), st.integers(0, 13),
              st.integers(0, 32), st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32)),
    st.from_regex(r"\A\s*\d{1,5}-?[QqWw]?\d{0,3}(\.\.\d{4}-\d\d-\d\d)?\s*\Z"),
    st.text(alphabet=string.digits + "-.QqWw \n\t\x00", max_size=30),
    st.text(max_size=60),
)


def _bad_line(exc: BadInput) -> str:
    assert exc.exit_code == 2 and len(exc.problems) == 1
    line = exc.problems[0]
    assert "\n" not in line and "\r" not in line and len(line) < 300
    return line


@FAST
@given(period_like)
@example("9999-12")
@example("0000Q1")
@example("9999-12-31..9999-12-31")
@example("2023-02-30..2023-03-01")
def test_any_text_is_a_period_or_bad_input(text: str) -> None:
    try:
        period = parse_period(text)
    except BadInput as exc:
        line = _bad_line(exc)
        assert line.startswith("bad period '")
        return
    assert isinstance(period, Period)
    assert period.first_day.year >= FIRST_YEAR and period.last_day.year <= LAST_YEAR
    assert period.first_day <= period.last_day and 1 <= period.days <= MAX_RANGE_DAYS
    assert period.start < period.end and period.label_zh
    assert parse_period(period.key) == period


@FAST
@given(period_like)
def test_any_text_is_a_week_or_bad_input(text: str) -> None:
    try:
        week = parse_week(text)
    except BadInput as exc:
        assert _bad_line(exc).startswith("bad week '")
        return
    assert week.days == 7 and week.first_day.isoweekday() == 1
    assert parse_week(week.key) == week


valid_days = st.dates(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))


@st.composite
def valid_period_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["quarter", "week", "month", "range"]))
    year = draw(st.integers(FIRST_YEAR, LAST_YEAR))
    if kind == "quarter":
        return f"{year}{draw(st.sampled_from(['Q', 'q', '-Q']))}{draw(st.integers(1, 4))}"
    if kind == "week":
        last = date(year, 12, 28).isocalendar().week
        return f"{year}-W{draw(st.integers(1, last))}"
    if kind == "month":
        return f"{year}-{draw(st.integers(1, 12))}"
    first = draw(valid_days)
    last = min(first + timedelta(days=draw(st.integers(0, MAX_RANGE_DAYS - 1))), date(LAST_YEAR, 12, 31))
    return f"{first.isoformat()}..{last.isoformat()}"


@FAST
@given(valid_period_texts())
def test_valid_periods_parse_and_round_trip(text: str) -> None:
    period = parse_period(text)
    assert parse_period(period.key) == period
    assert parse_period(f"  {text}\n") == period
    assert period.first_day in period and period.last_day in period
    assert period.last_day + timedelta(days=1) not in period


# -------------------------------------------------------------------------------------------- privacy

_PROVINCES = ["11", "31", "44", "65", "81"]
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1920, 1, 1), date(2010, 12, 31)))
    body = (draw(st.sampled_from(_PROVINCES)) + f"{draw(st.integers(0, 9999)):04d}" + born.strftime("%Y%m%d")
            + f"{draw(st.integers(0, 999)):03d}")
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, _W)) % 11]


mobiles = st.builds("{}{:08d}".format, st.sampled_from(["138", "139", "150", "186", "199", "177"]),
                    st.integers(0, 10**8 - 1))


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    body = draw(st.sampled_from(["622202", "621700", "411111", "522222"])) + "".join(
        draw(st.lists(st.sampled_from(string.digits), min_size=9, max_size=9)))
    for check in string.digits:
        digits = [int(c) for c in reversed(body + check)]
        if sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits)) % 10 == 0:
            return body + check
    raise AssertionError("unreachable")


numbers = st.one_of(id_numbers(), mobiles, card_numbers())
# Text made of what surrounds numbers in real pages: digits, separators, labels, markup.
noise = st.lists(st.sampled_from(list(string.digits + " -+.:：，。\n\t<>/=\"'&;#xX")
                                 + ["身份证", "手机", "卡号", "订单号", "元", "\u3000", "\u00a0", "０", "１", "８",
                                    "－", "<p>", "</span>", "&nbsp;", "http://a.cn/?id="]),
                 max_size=40).map("".join)
texts_with_numbers = st.lists(st.one_of(noise, numbers, st.text(max_size=10)), max_size=8).map("".join)


def _check_findings(text: str, findings: list) -> None:
    for f in findings:
        assert 0 <= f.start < f.end <= len(text), f
        assert f.type in (ID_CARD, MOBILE, BANK_CARD)
        number = digits_of(f.type, text[f.start:f.end])
        assert number and number not in re.sub(r"\D", "", f.masked)
        assert f.masked.count("*") >= 4


@FAST
@given(texts_with_numbers)
def test_scan_text_findings_are_inside_and_masked(text: str) -> None:
    findings = scan_text(text)
    _check_findings(text, findings)
    assert_invariants(text, findings)


@FAST
@given(numbers, st.sampled_from(["联系人：{}。", "电话 {} 。", "{}", "身份证号码{}，", "卡号：{}"]))
def test_a_number_in_plain_words_is_found(number: str, template: str) -> None:
    text = template.format(number)
    findings = scan_text(text)
    start = text.index(number)
    assert [(f.start, f.end) for f in findings] == [(start, start + len(number))]
    assert number not in findings[0].masked


@FAST
@given(st.lists(st.one_of(noise, numbers, st.text(max_size=20),
                          st.sampled_from(["<script>", "</script>", "<!--", "-->", "<![CDATA[", "<style>", "<br>",
                                           "<td>", "&#x31;", "&#49;", "&", "<", "<a href='13800138000'>"])),
                max_size=12).map("".join))
def test_scan_html_offsets_index_the_source(html: str) -> None:
    for findings in (scan_html(html, source_offsets=True), scan_html(html)):
        for f in findings:
            assert 0 <= f.start < f.end and f.masked.count("*") >= 4
    for f in scan_html(html, source_offsets=True):
        assert f.end <= len(html)


@FAST
@given(st.one_of(st.binary(max_size=400), texts_with_numbers.map(lambda t: t.encode("utf-8")),
                 texts_with_numbers.map(lambda t: t.encode("gb18030")),
                 texts_with_numbers.map(lambda t: t.encode("utf-16"))),
       st.sampled_from(["page.txt", "page.html", "page"]))
def test_scan_file_any_bytes(data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            text, findings = scan_file(path)
        except FileRefused as exc:
            assert b"\x00" in data and "binary" in str(exc)
            return
    _check_findings(text, findings)


# -------------------------------------------------------------------------------------------- page judging

_MARKERS = list(DEFAULT_SOFT404) + list(WECHAT_GONE)
pages = st.lists(st.one_of(st.text(max_size=30), st.sampled_from(_MARKERS),
                           st.sampled_from(["<title>", "</title>", "<script>", "</script>", "<style>", "<body>",
                                            "<p>", "</", "<!--", "-->", "<", ">", " ", "\n", "&nbsp;"])),
                 max_size=15).map("".join)
charsets = st.one_of(st.none(), st.sampled_from(["utf-8", "gbk", "gb2312", "gb18030", "utf-16", "latin-1", "big5",
                                                 "ascii", "no-such-charset", "rot13", "base64", "zlib"]))
errors = st.one_of(st.none(), st.sampled_from(["timeout", "connect", "tls", "reset", "too_many_redirects", "bad_url",
                                               "bad_body", "undecodable", "refused_address", "refused_dns"]),
                   st.text(max_size=10))


@FAST
@given(st.one_of(st.binary(max_size=600), pages.map(lambda p: p.encode("utf-8")),
                 pages.map(lambda p: p.encode("gb18030"))),
       charsets, st.booleans(), st.integers(100, 599), errors,
       st.one_of(st.none(), st.sampled_from(["https://mp.weixin.qq.com/s/x", "https://a.gov.cn/mp/s/1"]),
                 st.text(max_size=20)))
def test_judge_page_any_page(body: bytes, charset: str | None, truncated: bool, status: int, error: str | None,
                             final_url: str | None) -> None:
    text = decode_body(body, charset, truncated)
    assert isinstance(text, str)
    result = PageResult("https://a.gov.cn/p", final_url, None if error and status < 200 else status, 12.0,
                        None if error else text, error=error, truncated=truncated)
    outcome, reason = judge_page(result)
    assert outcome in ("ok", "fail", "unverifiable") and isinstance(reason, str) and reason


@pytest.mark.parametrize("declared", ["undefined", "punycode", "rot13", "base64", "no-such-charset"])
def test_decode_body_survives_any_declared_charset(declared: str) -> None:
    assert decode_body(b"<html><body>ok</body></html>", declared) == "<html><body>ok</body></html>"
