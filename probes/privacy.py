"""Personal-data scanner: resident ID numbers, mobile numbers, bank card numbers.

Pure functions: no network, no store. The probe and `wxmon privacy scan` call
`scan_text`, `scan_html` or `scan_file` and decide what to do with the findings.

How a number is found
---------------------
1. A *chunk* is a maximal run of digit groups joined by single separators (space,
   NBSP, ideographic space, hyphen, full-width hyphen...) that is not glued to a
   longer digit/letter run ("ABC13800138000", "1101011990XXXX1234" and unified
   social credit codes never start a chunk) nor to a decimal point.
2. Every run of consecutive groups with one uniform separator whose group
   lengths form a known layout (18 / 6-8-4 / 6-4-4-4 / 3-3-4-4-4 / 4-4-4-4-2 for
   IDs, 15 / 6-6-3 for old IDs, 11 / 3-4-4 / 3-8 for mobiles, 16-19 / 4-4-4-4[-n]
   for cards) is a candidate, validated by checksum or structure:
   - id_card: ISO 7064 MOD 11-2 check character, province code, birth date
     1900..today (15-digit form: province code and a valid 19YYMMDD date);
   - mobile: a real prefix (13x 14[5-9] 15[0-35-9] 16[2567] 17[0-8] 18x
     19[0-35-9]), optionally preceded by +86 / 0086 / 86- (the prefix is part of
     the span);
   - bank_card: Luhn, IIN 62 (UnionPay), 4 (Visa) or 51-55 (Mastercard).
3. Context only disambiguates: a mobile or card inside a URL is a query id, a card
   or 15-digit "ID" right after 订单号/流水号/编号... is a serial number, an amount
   followed by 元 is money, an 18-digit run valid as both ID and card is a card
   only after 卡号/账号. A full 18-digit ID is reported even inside a URL: its
   checksum + date + region are strong enough evidence on their own.
4. A grouped number ("138 0013 8000") must not continue into more digit groups
   with the same separator unless those groups are themselves a finding or a long
   (>= 7 digit) token; a hyphen glues tokens ("SN-13800138000", "400-810-8888").

Masking rule (one rule, used everywhere; never reveals the full number)
-----------------------------------------------------------------------
- id_card 18: first 6 + 8 '*' + last 4   -> 110101********7715
- id_card 15: first 4 + 8 '*' + last 3   -> 1101********123
- mobile:     first 3 + 4 '*' + last 4   -> 138****8000 (country code dropped)
- bank_card:  first 4 + ' **** **** ' + last 4 -> 6222 **** **** 1234

Offsets
-------
`scan_text` offsets index the given string. `scan_html` offsets index the visible
text (`html_to_text`), or the HTML source with `source_offsets=True`.
`scan_file` always returns offsets into the decoded file content it returns (for
HTML, the raw markup: visible-text spans are mapped back, so text[start:end] runs
from the number's first to its last character; if the page splits a number with
inline tags or writes a separator as &nbsp; that markup lies inside the span).
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from probes.text import extract_text, html_to_text, looks_like_html

__all__ = [
    "BANK_CARD",
    "ID_CARD",
    "MAX_FILE_BYTES",
    "MOBILE",
    "FileRefused",
    "Finding",
    "decode_bytes",
    "html_to_text",
    "is_valid_bank_card",
    "is_valid_id15",
    "is_valid_id18",
    "is_valid_mobile",
    "mask",
    "read_bounded",
    "scan_file",
    "scan_html",
    "scan_text",
]

ID_CARD = "id_card"
MOBILE = "mobile"
BANK_CARD = "bank_card"


@dataclass(frozen=True, slots=True)
class Finding:
    type: str  # 'id_card' | 'mobile' | 'bank_card'
    start: int
    end: int  # exclusive
    masked: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# --- character classes ---------------------------------------------------------
_D = "0-9\uff10-\uff19"  # ASCII and full-width digits
_X = "Xx\uff38\uff58"  # check character X, also full-width
_ALNUM = "0-9A-Za-z_\uff10-\uff19\uff21-\uff3a\uff41-\uff5a"
_HYPHENS = "-\u2010\u2011\u2012\u2013\uff0d"
_SPACES = " \u00a0\u2009\u202f\u3000"
_SEP = _SPACES + _HYPHENS

_CHUNK = re.compile(
    rf"(?<![{_ALNUM}])(?<![{_D}][.\uff0e])"  # not glued to a run or a decimal point
    rf"[{_D}]+[{_X}]?(?:[{re.escape(_SEP)}][{_D}]+[{_X}]?)*"
    rf"(?![{_ALNUM}])(?![.\uff0e][{_D}])"
)
_GROUP = re.compile(rf"[{_D}]+[{_X}]?")
_ALNUM_RE = re.compile(rf"[{_ALNUM}]")
_HAS_SEP = re.compile(rf"[{re.escape(_SEP)}]")
_NORMALIZE = str.maketrans(
    "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19xX\uff58\uff38",
    "0123456789XXXX",
)

# --- validators ----------------------------------------------------------------
# Province-level codes of GB/T 2260, plus 81/82/83 (residence permits of Hong Kong,
# Macao and Taiwan residents, which use the same 18-digit format).
_PROVINCES = frozenset(
    ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
     "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "81", "82", "83"]
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MOBILE_PREFIX = re.compile(r"1(?:3\d|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8\d|9[0-35-9])\d{8}")
_CARD_PREFIX = re.compile(r"62|4|5[1-5]")


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        born = date(year, month, day)
    except ValueError:
        return False
    return date(1900, 1, 1) <= born <= date.today()


def is_valid_id18(digits: str) -> bool:
    """18-char resident ID: region, birth date and MOD 11-2 check character."""
    digits = digits.upper()
    if len(digits) != 18 or not digits[:17].isdigit() or digits[:2] not in _PROVINCES:
        return False
    if not _valid_date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14])):
        return False
    total = sum(int(c) * w for c, w in zip(digits, _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == digits[17]


def is_valid_id15(digits: str) -> bool:
    """Old 15-digit ID (no check digit): region and a 19YYMMDD birth date."""
    if len(digits) != 15 or not digits.isdigit() or digits[:2] not in _PROVINCES:
        return False
    return _valid_date(1900 + int(digits[6:8]), int(digits[8:10]), int(digits[10:12]))


def is_valid_mobile(digits: str) -> bool:
    """11-digit mainland mobile number with an allocated prefix."""
    return len(digits) == 11 and _MOBILE_PREFIX.fullmatch(digits) is not None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = ord(c) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def is_valid_bank_card(digits: str) -> bool:
    """16-19 digit card number with a common IIN and a valid Luhn check."""
    return (
        16 <= len(digits) <= 19
        and digits.isdigit()
        and _CARD_PREFIX.match(digits) is not None
        and luhn_ok(digits)
    )


def mask(kind: str, digits: str) -> str:
    """Masked display form (see the module docstring for the rule)."""
    if kind == ID_CARD:
        if len(digits) == 15:
            return digits[:4] + "*" * 8 + digits[-3:]
        return digits[:6] + "*" * 8 + digits[-4:]
    if kind == MOBILE:
        local = digits[-11:]
        return local[:3] + "****" + local[-4:]
    if kind == BANK_CARD:
        return f"{digits[:4]} **** **** {digits[-4:]}"
    raise ValueError(f"unknown finding type {kind!r}")


# --- layouts ---------------------------------------------------------------------
_ID18_LAYOUTS = frozenset({(18,), (6, 8, 4), (6, 4, 4, 4), (3, 3, 4, 4, 4), (4, 4, 4, 4, 2)})
_ID15_LAYOUTS = frozenset({(15,), (6, 6, 3)})
_MOBILE_LAYOUTS = frozenset({(11,), (3, 4, 4), (3, 8)})
_CARD_LAYOUTS = frozenset(
    {(n,) for n in range(16, 20)} | {(4, 4, 4, 4)} | {(4, 4, 4, 4, n) for n in (1, 2, 3)}
)
_MAX_GROUPS = 5
_LENGTHS = frozenset({11, 15, 16, 17, 18, 19})
_SINGLE_LENGTHS = _LENGTHS | {13}  # 13: "8613800138000" after a plus sign

# --- context -------------------------------------------------------------------------
_SERIAL_WORDS = re.compile(
    "订单|单号|流水|编号|序列号|序号|运单|快递|物流|发票|批次|批号|工单|受理号|文号|"
    "条码|合同号|票号|交易号|凭证|追踪|查询码|识别码|代码|证书号|登记号|案号|版本"
)
_CARD_WORDS = re.compile("卡号|银行卡|账号|帐号|借记卡|信用卡|储蓄卡|工资卡|开户|收款")
_ID_WORDS = re.compile("身份证|证件号|身份号码|公民身份")
_CURRENCY_BEFORE = re.compile(r"[¥￥$＄]\s?$|RMB\s?$|人民币\s?$")
_CURRENCY_AFTER = re.compile(r"\s?(?:元|万元|亿元|美元)")
# Printable ASCII except space, quotes, angle brackets and comma (CSV columns):
# what a URL written in text is made of.
_URL_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - set("\"'<>,")
# Text before the number, within the same URL-character run, that makes it part of
# a URL: a scheme, www., a host followed by a path, or a query parameter.
_URL_HEAD = re.compile(
    r"://|^www\.|[A-Za-z0-9-]\.[A-Za-z]{2,}(?::\d+)?/|[?&][A-Za-z_][\w.\-]*=|^[A-Za-z_][\w.\-]*=$"
)
_WINDOW = 12


def _last_match(regex: re.Pattern[str], window: str) -> int:
    """End position of the last match of regex in window, or -1."""
    end = -1
    for m in regex.finditer(window):
        end = m.end()
    return end


def _in_url(text: str, start: int) -> bool:
    lo = start
    limit = max(0, start - 2048)
    while lo > limit and text[lo - 1] in _URL_CHARS:
        lo -= 1
    return lo < start and _URL_HEAD.search(text[lo:start]) is not None


def _serial_context(text: str, start: int) -> bool:
    """Preceded by a serial-number label that is closer than any card/ID label."""
    window = text[max(0, start - _WINDOW):start]
    serial = _last_match(_SERIAL_WORDS, window)
    if serial < 0:
        return False
    return serial > max(_last_match(_CARD_WORDS, window), _last_match(_ID_WORDS, window))


def _money_context(text: str, start: int, end: int) -> bool:
    return (
        _CURRENCY_BEFORE.search(text[max(0, start - 4):start]) is not None
        or _CURRENCY_AFTER.match(text, end) is not None
    )


def _card_context(text: str, start: int) -> bool:
    """A card label is the nearest label before the number."""
    window = text[max(0, start - _WINDOW - 4):start]
    card = _last_match(_CARD_WORDS, window)
    return card >= 0 and card > _last_match(_ID_WORDS, window)


# --- chunk analysis ---------------------------------------------------------------
@dataclass(slots=True)
class _Candidate:
    kind: str
    start: int
    end: int
    first: int  # index of the first group (a country-code group included)
    last: int  # index of the last group
    digits: str
    inner: str | None  # separator between its digit groups, None if one group


@dataclass(slots=True)
class _Chunk:
    groups: list[tuple[int, int]]  # absolute spans of the digit groups
    norm: list[str]  # normalized digits of each group
    seps: list[str]  # seps[k] joins group k and k+1: " " (any space) or "-" (any hyphen)
    glued_left: bool  # "SN-2023...": a hyphen ties the chunk to a word before it
    glued_right: bool

    @classmethod
    def parse(cls, text: str, start: int, chunk: str) -> _Chunk:
        groups = [(start + m.start(), start + m.end()) for m in _GROUP.finditer(chunk)]
        norm = [text[s:e].translate(_NORMALIZE) for s, e in groups]
        # Spaces of any kind look alike (&nbsp; vs ' '), as do hyphens: one class each.
        seps = ["-" if text[groups[k][1]] in _HYPHENS else " " for k in range(len(groups) - 1)]
        end = start + len(chunk)
        left = start >= 2 and text[start - 1] in _HYPHENS and _ALNUM_RE.match(text, start - 2) is not None
        right = (end + 1 < len(text) and text[end] in _HYPHENS
                 and _ALNUM_RE.match(text, end + 1) is not None)
        return cls(groups, norm, seps, left, right)


def _classify(layout: tuple[int, ...], digits: str) -> list[str]:
    """Types this digit string can be, given its grouping (validators only)."""
    kinds: list[str] = []
    n = len(digits)
    if n == 18 and layout in _ID18_LAYOUTS and is_valid_id18(digits):
        kinds.append(ID_CARD)
    if "X" in digits:
        return kinds
    if n == 15 and layout in _ID15_LAYOUTS and is_valid_id15(digits):
        kinds.append(ID_CARD)
    if n == 11 and layout in _MOBILE_LAYOUTS and is_valid_mobile(digits):
        kinds.append(MOBILE)
    if 16 <= n <= 19 and layout in _CARD_LAYOUTS and is_valid_bank_card(digits):
        kinds.append(BANK_CARD)
    return kinds


def _candidates(text: str, ch: _Chunk) -> list[_Candidate]:
    groups, norm, seps = ch.groups, ch.norm, ch.seps
    n = len(groups)
    found: list[_Candidate] = []
    lengths = [len(g) for g in norm]
    for i in range(n):
        total = 0
        for j in range(i, min(n, i + _MAX_GROUPS)):
            if j > i and (seps[j - 1] != seps[i] or norm[j - 1][-1] == "X"):
                break  # separators are uniform inside one number; X only ends one
            total += lengths[j]
            if total > 19:
                break
            if total not in _LENGTHS:
                continue
            digits = "".join(norm[i:j + 1])
            for kind in _classify(tuple(lengths[i:j + 1]), digits):
                found.append(_Candidate(kind, groups[i][0], groups[j][1], i, j, digits,
                                        seps[i] if j > i else None))

    # Country code as its own group: "+86 138 0013 8000", "0086-13800138000",
    # "86-13800138000" (a bare 86 only with a hyphen: "共86 13800138000" is a count).
    start0 = groups[0][0]
    # A plus sign counts only as a free-standing "+86", not in "66231+86".
    plus = (start0 > 0 and text[start0 - 1] in "+\uff0b"
            and (start0 < 2 or _ALNUM_RE.match(text, start0 - 2) is None))
    for c in [c for c in found if c.kind == MOBILE and c.first > 0]:
        k = c.first - 1
        if norm[k] == "0086" or (norm[k] == "86" and ((k == 0 and plus) or seps[k] == "-")):
            pstart = start0 - 1 if (k == 0 and plus) else groups[k][0]
            found.append(_Candidate(MOBILE, pstart, c.end, k, c.last, norm[k] + c.digits, c.inner))
    # Country code glued on: "+8613800138000", "008613800138000".
    for k, g in enumerate(norm):
        glued_plus = k == 0 and plus and len(g) == 13 and g.startswith("86")
        if (glued_plus or (len(g) == 15 and g.startswith("0086"))) and is_valid_mobile(g[-11:]):
            found.append(_Candidate(MOBILE, start0 - 1 if glued_plus else groups[k][0],
                                    groups[k][1], k, k, g, None))
    return found


def _context_ok(text: str, c: _Candidate) -> bool:
    if _money_context(text, c.start, c.end):
        return False
    if c.kind == ID_CARD and len(c.digits) == 18:
        return True  # checksum + date + region: strong enough anywhere
    if _in_url(text, c.start):
        return False
    if c.kind == BANK_CARD or (c.kind == ID_CARD and len(c.digits) == 15):
        return not _serial_context(text, c.start)
    return True


def _glue_ok(c: _Candidate, taken: set[int], ch: _Chunk) -> bool:
    """Whether the digit groups next to the candidate leave it a number of its own."""
    if (c.first == 0 and ch.glued_left) or (c.last == len(ch.groups) - 1 and ch.glued_right):
        return False
    for k, sep in ((c.first - 1, ch.seps[c.first - 1] if c.first > 0 else None),
                   (c.last + 1, ch.seps[c.last] if c.last < len(ch.seps) else None)):
        if sep is None or k in taken:
            continue
        if sep == "-":
            return False  # "SN-13800138000", "400-138-0013-8000": one identifier
        if c.inner is not None and sep == c.inner and len(ch.norm[k]) < 7:
            return False  # "6222 0212 3456 7890 123": the number goes on
    return True


def _resolve(text: str, ch: _Chunk, cands: list[_Candidate]) -> list[_Candidate]:
    cands = [c for c in cands if _context_ok(text, c)]
    # Same digits valid as ID and as card: a card label just before decides, else ID.
    by_span: dict[tuple[int, int], list[_Candidate]] = {}
    for c in cands:
        by_span.setdefault((c.start, c.end), []).append(c)
    picked: list[_Candidate] = []
    for (start, _end), same in by_span.items():
        if len(same) > 1:
            want = BANK_CARD if _card_context(text, start) else ID_CARD
            same = [c for c in same if c.kind == want] or same
        picked.append(same[0])

    # Longest first (a +86 prefix beats the bare number), then left to right; drop
    # candidates whose neighbours make them part of something longer and retry.
    picked.sort(key=lambda c: (c.start - c.end, c.start))
    while True:
        chosen: list[_Candidate] = []
        for c in picked:
            if all(c.end <= o.start or c.start >= o.end for o in chosen):
                chosen.append(c)
        taken = {k for c in chosen for k in range(c.first, c.last + 1)}
        bad = [c for c in chosen if not _glue_ok(c, taken, ch)]
        if not bad:
            return chosen
        picked = [c for c in picked if all(c is not b for b in bad)]


def scan_text(text: str) -> list[Finding]:
    """Find personal numbers in plain text; offsets index `text`."""
    findings: list[Finding] = []
    for m in _CHUNK.finditer(text):
        chunk = m.group(0)
        if len(chunk) < 11:  # shortest finding: an 11-digit mobile
            continue
        if len(chunk) not in _SINGLE_LENGTHS and _HAS_SEP.search(chunk) is None:
            continue  # one group of a length nothing has (dates, serials...)
        ch = _Chunk.parse(text, m.start(), chunk)
        cands = _candidates(text, ch)
        if not cands:
            continue
        for c in _resolve(text, ch, cands):
            findings.append(Finding(c.kind, c.start, c.end, mask(c.kind, c.digits)))
    findings.sort(key=lambda f: f.start)
    return findings


def scan_html(html: str, *, source_offsets: bool = False) -> list[Finding]:
    """Scan the visible text of an HTML document.

    Offsets index `html_to_text(html)`; with source_offsets=True they index `html`
    itself (see the module docstring).
    """
    tmap = extract_text(html)
    findings = scan_text(tmap.text)
    if not source_offsets:
        return findings
    out = []
    for f in findings:
        start, end = tmap.to_source(f.start, f.end)
        out.append(Finding(f.type, start, end, f.masked))
    return out


def decode_bytes(data: bytes) -> str:
    """UTF-8 (BOM stripped), UTF-16 with BOM, else GB18030 (the superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


_HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".shtml"})


MAX_FILE_BYTES = 50 * 1024 * 1024  # far above any page; /dev/zero or a disk image stops here


class FileRefused(ValueError):
    """A file `scan_file` will not scan: a directory or device, too large, or binary."""


def read_bounded(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """At most ``max_bytes`` of a regular file or a pipe (``<(curl ...)``).

    Never reads without a bound, and never waits for a FIFO nobody opened for
    writing (it reads as empty, as the config loader's do). A device (/dev/zero)
    or a directory is refused before reading: the file is opened non-blocking and
    judged by fstat, so a path swapped in between cannot slip through.
    Raises FileRefused or OSError.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused("it is a directory")
        if stat.S_ISFIFO(info.st_mode):
            os.set_blocking(fd, True)  # a writer that has opened it is waited for
        elif not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"not a regular file ({_file_kind(info.st_mode)})")
        elif info.st_size > max_bytes:
            raise FileRefused(f"{_size(info.st_size)}, over the limit of {_size(max_bytes)}")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise FileRefused(f"over the limit of {_size(max_bytes)}")
    return data


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _size(n: int) -> str:
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.3g} {unit}"
    return f"{n} bytes"


def looks_binary(data: bytes) -> bool:
    """NUL bytes where text has none (UTF-16 text, which is full of them, carries a BOM)."""
    return not data.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" in data


def scan_file(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> tuple[str, list[Finding]]:
    """Decode and scan a file; offsets index the returned decoded text.

    HTML files (by extension or content sniffing) are scanned by their visible
    text and the spans mapped back to the decoded markup. Raises FileRefused
    for a directory, a device, a file over ``max_bytes`` or a binary file,
    OSError if the file cannot be read.
    """
    p = Path(path)
    data = read_bounded(p, max_bytes)
    if looks_binary(data):
        raise FileRefused("binary file (NUL bytes), not text or HTML")
    text = decode_bytes(data)
    if p.suffix.lower() in _HTML_SUFFIXES or looks_like_html(text):
        return text, scan_html(text, source_offsets=True)
    return text, scan_text(text)
