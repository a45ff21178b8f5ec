"""HTML -> visible text, with a map from visible-text offsets back to the source.

The privacy scanner works on what a reader sees, not on markup: tags, attributes,
comments, <script>, <style> and <template> are dropped and entities are decoded.
Whitespace is collapsed the way a browser renders it. Block-level tags become a
line break ('\\t' for table cells) so that text in neighbouring cells or paragraphs
never merges into one number, while inline tags (<span>, <b>, <font>...) add
nothing, because the WeChat editor often splits a single number over several
<span>s and a reader still sees one number.

`TextMap.to_source(start, end)` turns a span of the visible text into the span of
the source it was rendered from (start of its first character, end of its last),
so a finding can be reported against the raw file.
"""

from __future__ import annotations

import html as _html
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = ["TextMap", "extract_text", "html_to_text", "looks_like_html"]

# Tags that do not interrupt the flow of text (HTML "phrasing content" that has no
# visual break). Anything else - <p>, <div>, <br>, <td>, <img>... - breaks it.
_INLINE_TAGS = frozenset(
    ["a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i",
     "ins", "kbd", "label", "mark", "nobr", "q", "rp", "rt", "ruby", "s", "samp", "small", "span", "strike",
     "strong", "sub", "sup", "time", "tt", "u", "var", "wbr", "o:p"]
)
# Elements whose content is never shown.
_HIDDEN_TAGS = frozenset({"script", "style", "template"})
_CELL_TAGS = frozenset({"td", "th"})
_WS_RUN = re.compile(r"[ \t\n\r\f]+")
_ENTITY_REF = re.compile(r"&([a-zA-Z][-.a-zA-Z0-9]*);?")
_CHAR_REF = re.compile(r"&#(?:[xX][0-9a-fA-F]+|[0-9]+);?")


@dataclass
class TextMap:
    """Visible text plus segments mapping it back to the source string.

    Segment k covers visible chars [vis[k], vis[k+1]) and source chars
    [src[k], src_end[k]). An identity segment maps char-for-char; any other
    (decoded entity, collapsed whitespace run, inserted line break) maps all its
    visible chars onto the whole source span.
    """

    text: str = ""
    vis: list[int] = field(default_factory=list)
    src: list[int] = field(default_factory=list)
    src_end: list[int] = field(default_factory=list)
    identity: list[bool] = field(default_factory=list)

    def _segment(self, i: int) -> int:
        return bisect_right(self.vis, i) - 1

    def source_start(self, i: int) -> int:
        """Source offset where visible char i starts."""
        k = self._segment(i)
        if k < 0:
            return 0
        if self.identity[k]:
            return self.src[k] + (i - self.vis[k])
        return self.src[k]

    def source_end(self, i: int) -> int:
        """Source offset just past visible char i."""
        k = self._segment(i)
        if k < 0:
            return 0
        if self.identity[k]:
            return self.src[k] + (i - self.vis[k]) + 1
        return self.src_end[k]

    def to_source(self, start: int, end: int) -> tuple[int, int]:
        """Map the visible span [start, end) to a source span."""
        if end <= start:  # empty span: the position just after the previous char
            pos = self.source_end(start - 1) if start > 0 else 0
            return pos, pos
        return self.source_start(start), self.source_end(end - 1)


class _Extractor(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=False)  # we need each entity's position
        self._source = source
        self._line_starts = [0]
        find = source.find
        pos = find("\n")
        while pos != -1:
            self._line_starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self._parts: list[str] = []
        self._vis_len = 0
        self._last = "\n"  # pretend we start after a break: drop leading whitespace
        self._hidden = 0
        self.map = TextMap()

    # -- helpers -------------------------------------------------------------
    def _offset(self) -> int:
        line, col = self.getpos()
        return self._line_starts[line - 1] + col

    def _emit(self, text: str, src: int, src_end: int, identity: bool) -> None:
        if not text:
            return
        m = self.map
        m.vis.append(self._vis_len)
        m.src.append(src)
        m.src_end.append(src_end)
        m.identity.append(identity)
        self._parts.append(text)
        self._vis_len += len(text)
        self._last = text[-1]

    def _break(self, char: str) -> None:
        if self._hidden or self._last in "\n\t":
            return
        pos = self._offset()
        self._emit(char, pos, pos, False)

    # -- parser callbacks ----------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
            return
        if tag not in _INLINE_TAGS:
            self._break("\t" if tag in _CELL_TAGS else "\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            return  # <script/> opens nothing
        if tag not in _INLINE_TAGS:
            self._break("\t" if tag in _CELL_TAGS else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            if self._hidden:
                self._hidden -= 1
            return
        if tag not in _INLINE_TAGS:
            self._break("\t" if tag in _CELL_TAGS else "\n")

    def handle_data(self, data: str) -> None:
        if self._hidden or not data:
            return
        base = self._offset()
        pos = 0
        for m in _WS_RUN.finditer(data):
            if m.start() > pos:
                self._emit(data[pos:m.start()], base + pos, base + m.start(), True)
            if self._last not in " \n\t":
                self._emit(" ", base + m.start(), base + m.end(), False)
            pos = m.end()
        if pos < len(data):
            self._emit(data[pos:], base + pos, base + len(data), True)

    def _handle_ref(self, regex: re.Pattern[str]) -> None:
        if self._hidden:
            return
        start = self._offset()
        m = regex.match(self._source, start)
        if not m:  # cannot happen with a well-behaved parser; keep the raw '&'
            self._emit("&", start, start + 1, True)
            return
        raw = m.group(0)
        decoded = _html.unescape(raw)
        if decoded == raw:  # unknown entity: shown as written
            self._emit(raw, start, m.end(), True)
            return
        # &nbsp; renders as a non-collapsing space: keep it as U+00A0.
        self._emit(decoded, start, m.end(), False)

    def handle_entityref(self, name: str) -> None:
        self._handle_ref(_ENTITY_REF)

    def handle_charref(self, name: str) -> None:
        self._handle_ref(_CHAR_REF)

    def close(self) -> None:
        super().close()
        self.map.text = "".join(self._parts)


def extract_text(source: str) -> TextMap:
    """Parse HTML and return its visible text with the offset map."""
    parser = _Extractor(source)
    parser.feed(source)
    parser.close()
    return parser.map


def html_to_text(source: str) -> str:
    """The visible text of an HTML document (see the module docstring)."""
    return extract_text(source).text


_HTML_SNIFF = re.compile(
    r"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<meta\s|"
    r"<(?:p|div|table|section|span|br)[\s/>]",
    re.IGNORECASE,
)


def looks_like_html(text: str) -> bool:
    """Content sniffing: an HTML tag near the start of the document."""
    head = text[:4096]
    if _HTML_SNIFF.search(head) is None:
        return False
    # Either the document starts with markup, or it clearly contains some.
    return head.lstrip().startswith("<") or "</" in head
