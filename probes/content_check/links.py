"""Outbound links of a document: the URLs in its markup (href/src/action) and in its text.

Parsed, not grepped, for HTML: the attributes come from :class:`html.parser.HTMLParser`;
URLs written as text (``访问 www.example.cn``) are found in the visible text.
Offsets index the document given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from urllib.parse import urlsplit

__all__ = ["FoundUrl", "host_of", "urls_in_html", "urls_in_text"]

# Elements whose attribute takes the reader somewhere or loads something from a host.
_URL_ATTRS = {
    "a": ("href",), "area": ("href",), "iframe": ("src",), "frame": ("src",), "embed": ("src",),
    "form": ("action",), "img": ("src", "data-src"), "video": ("src",), "audio": ("src",), "source": ("src",),
}
_TEXT_URL = re.compile(r"(?:https?://|www\.)[A-Za-z0-9.\-]+(?::\d+)?(?:/[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*)?",
                       re.IGNORECASE)
MAX_URLS = 2000  # per document: a page of ten thousand links is not an article


@dataclass(frozen=True, slots=True)
class FoundUrl:
    url: str
    start: int
    end: int
    label: str = ""  # the anchor's text, when known


def host_of(url: str) -> str | None:
    candidate = url if "//" in url[:10] else "http://" + url
    try:
        host = urlsplit(candidate.strip()).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def urls_in_text(text: str) -> list[FoundUrl]:
    out = []
    for m in _TEXT_URL.finditer(text):
        url = m.group(0).rstrip(".,;:!?)'")
        out.append(FoundUrl(url, m.start(), m.start() + len(url)))
        if len(out) >= MAX_URLS:
            break
    return out


class _Parser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.found: list[FoundUrl] = []
        self._open: FoundUrl | None = None
        self._label: list[str] = []

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = _URL_ATTRS.get(tag)
        if not names or len(self.found) >= MAX_URLS:
            return
        tag_start = self._offset()
        raw = self.get_starttag_text() or ""
        for name, value in attrs:
            if name not in names or not value:
                continue
            value = value.strip()
            if not value.lower().startswith(("http://", "https://", "//")):
                continue  # relative links stay on the page's own host; javascript:, mailto: go nowhere
            # the span of the value as written (entities and all); the whole tag when not found
            written = value
            at = raw.find(written)
            if at < 0:
                written = escape(value, quote=False)
                at = raw.find(written)
            start = tag_start + at if at >= 0 else tag_start
            end = start + len(written) if at >= 0 else tag_start + len(raw)
            found = FoundUrl("https:" + value if value.startswith("//") else value, start, end)
            self.found.append(found)
            if tag == "a":
                self._open, self._label = found, []

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            label = " ".join("".join(self._label).split())[:60]
            i = self.found.index(self._open)
            o = self._open
            self.found[i] = FoundUrl(o.url, o.start, o.end, label)
            self._open = None


# Only a document with an absolute URL in an attribute needs parsing for them (most articles have none).
_ABSOLUTE_ATTR = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def urls_in_html(html: str) -> list[FoundUrl]:
    if _ABSOLUTE_ATTR.search(html) is None:
        return []
    parser = _Parser(html)
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # the parser gives up on some broken markup: keep what it saw
        pass
    return parser.found
