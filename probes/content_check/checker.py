"""The content checker: every rule of every loaded set in one Aho-Corasick automaton.

Pure: no network, no store. ``Checker(sets).scan_text(text, as_of=day)`` returns
:class:`Hit` candidates; whether one counts is a person's decision (the review
queue), not this module's.

How each kind finds its hits
----------------------------
- fixed_expression: the listed wrong forms, plus (``auto``) each inner character
  dropped, doubled or swapped with its neighbour; a wrong form that lies inside a
  correct form of any rule (``中国`` inside ``中国共产党``) is not an error.
- wrong_char: the listed wrong forms, outside any correct form; a short form (two
  characters or less) only where the segmenter (jieba) cuts words around it, so
  ``布署`` is flagged in ``工作布署`` but not in ``公布署名``.
- name_title: a listed name next to a listed title (``区长林某``, ``林某区长``)
  where the person did not hold that title on ``as_of`` (the article's date);
  ``原``/``前``/``时任`` before the title mark a former post and are left alone.
- sensitive: the listed words; ``whole_word`` ones only as whole words (jieba).
- link_host: see :mod:`probes.content_check.links`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import ahocorasick

from probes.content_check import links as L
from probes.content_check.rules import (
    AUTO_MIN_CHARS,
    FixedExpressionSet,
    LinkHostSet,
    LoadedSet,
    NameTitleSet,
    SensitiveSet,
    WrongCharSet,
)
from probes.text import extract_text

CONTEXT_CHARS = 15
SHORT_WORD = 2  # wrong_char forms this short need word boundaries
_FORMER = ("原", "前", "时任", "曾任")


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str
    rule_set: str
    rule: str  # "<set>:<entry>", stable across runs: what a dismissal and a policy refer to
    revision: str
    start: int
    end: int  # exclusive
    text: str
    context: str
    suggestion: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Wrong:
    kind: str
    rule_set: str
    revision: str
    key: str
    suggestion: str | None
    whole_word: bool


@dataclass(frozen=True, slots=True)
class _Name:
    rule_set: str
    revision: str
    name: str


@dataclass(frozen=True, slots=True)
class _Post:
    title: str
    since: date
    until: date | None

    def held_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day <= self.until)


_CORRECT = "correct"


def auto_variants(correct: str) -> set[str]:
    """One inner character dropped, doubled, or swapped with the next (the ends stay: a dropped
    first or last character is mostly a shorter correct word)."""
    out: set[str] = set()
    n = len(correct)
    if n < AUTO_MIN_CHARS:
        return out
    for i in range(1, n - 1):
        out.add(correct[:i] + correct[i + 1:])
        out.add(correct[:i] + correct[i] + correct[i:])
    for i in range(1, n - 2):
        if correct[i] != correct[i + 1]:
            out.add(correct[:i] + correct[i + 1] + correct[i] + correct[i + 2:])
    out.discard(correct)
    return out


class Checker:
    """Built once from rule sets (building costs ~ their size); scans any number of texts."""

    def __init__(self, sets: Sequence[LoadedSet]) -> None:
        self.sets = [s.rules for s in sets]
        self._auto = ahocorasick.Automaton()
        entries: dict[str, list[object]] = {}
        corrects: set[str] = set()
        self._posts: dict[str, list[_Post]] = {}
        self._titles: list[str] = []
        self._hosts: dict[str, tuple[str, str, str]] = {}
        for rs in self.sets:
            if isinstance(rs, FixedExpressionSet):
                for fe in rs.rules:
                    corrects.add(fe.correct)
            elif isinstance(rs, WrongCharSet):
                for wc in rs.rules:
                    corrects.add(wc.correct)
        for rs in self.sets:
            if isinstance(rs, FixedExpressionSet):
                for fe in rs.rules:
                    forms = set(fe.wrong)
                    if fe.auto:
                        # a variant that is itself correct, or lies inside a correct form, is no error
                        forms |= {v for v in auto_variants(fe.correct) if not any(v in c for c in corrects)}
                    for form in forms:
                        entries.setdefault(form, []).append(
                            _Wrong(rs.kind, rs.name, rs.revision, fe.correct, fe.correct, False))
            elif isinstance(rs, WrongCharSet):
                for wc in rs.rules:
                    entries.setdefault(wc.wrong, []).append(
                        _Wrong(rs.kind, rs.name, rs.revision, wc.wrong, wc.correct, len(wc.wrong) <= SHORT_WORD))
            elif isinstance(rs, SensitiveSet):
                for sw in rs.rules:
                    entries.setdefault(sw.word, []).append(
                        _Wrong(rs.kind, rs.name, rs.revision, sw.word, None, sw.whole_word))
            elif isinstance(rs, NameTitleSet):
                self._titles.extend(rs.titles)
                for off in rs.rules:
                    self._posts.setdefault(off.name, []).append(_Post(off.title, off.since, off.until))
                    entries.setdefault(off.name, []).append(_Name(rs.name, rs.revision, off.name))
            elif isinstance(rs, LinkHostSet):
                for lh in rs.rules:
                    self._hosts.setdefault(lh.host.removeprefix("*."), (rs.name, rs.revision, lh.host))
        for c in corrects:
            entries.setdefault(c, []).append(_CORRECT)
        for key, values in entries.items():
            self._auto.add_word(key, (len(key), tuple(dict.fromkeys(values))))
        self._titles = sorted(set(self._titles), key=len, reverse=True)
        self._empty = not entries
        if not self._empty:
            self._auto.make_automaton()

    @property
    def has_links(self) -> bool:
        return bool(self._hosts)

    def blocked(self, host: str | None) -> tuple[str, str, str] | None:
        """(set, revision, listed host) when ``host`` or a domain above it is on a blocklist."""
        if not host:
            return None
        host = host.lower().rstrip(".")
        while True:
            found = self._hosts.get(host)
            if found is not None:
                return found
            if "." not in host:
                return None
            host = host.split(".", 1)[1]

    # ------------------------------------------------------------------ text

    def scan_text(self, text: str, *, as_of: date | None = None) -> list[Hit]:
        """Hits in plain text (links written in it included); offsets index ``text``."""
        hits = self._scan_words(text, as_of or date.today())
        hits.extend(self._link_hits((u.url, u.start, u.end, _context(text, u.start, u.end))
                                    for u in L.urls_in_text(text)))
        return _sorted(hits)

    def scan_html(self, html: str, *, as_of: date | None = None) -> list[Hit]:
        """Hits in the visible text and the links of an HTML document; offsets index ``html``."""
        tmap = extract_text(html)
        out = []
        for h in self._scan_words(tmap.text, as_of or date.today()):
            start, end = tmap.to_source(h.start, h.end)
            out.append(Hit(h.kind, h.rule_set, h.rule, h.revision, start, end, h.text, h.context, h.suggestion))
        found = [(u.url, u.start, u.end, f"链接“{u.label}”" if u.label else u.url) for u in L.urls_in_html(html)]
        for u in L.urls_in_text(tmap.text):
            start, end = tmap.to_source(u.start, u.end)
            found.append((u.url, start, end, _context(tmap.text, u.start, u.end)))
        out.extend(self._link_hits(found))
        return _sorted(out)

    def _link_hits(self, found: Iterable[tuple[str, int, int, str]]) -> list[Hit]:
        if not self._hosts:
            return []
        out = []
        seen: set[str] = set()
        for url, start, end, context in found:
            if url in seen:
                continue
            seen.add(url)
            listed = self.blocked(L.host_of(url))
            if listed is not None:
                out.append(link_hit(listed, url, start, end, context))
        return out

    def _scan_words(self, text: str, day: date) -> list[Hit]:
        if self._empty or not text:
            return []
        correct_spans: list[tuple[int, int]] = []
        raw: list[tuple[int, int, object]] = []
        for last, (length, values) in self._auto.iter(text):
            start, end = last - length + 1, last + 1
            for v in values:
                if v is _CORRECT:
                    correct_spans.append((start, end))
                else:
                    raw.append((start, end, v))
        hits: list[Hit] = []
        bounds: _Bounds | None = None
        for start, end, v in raw:
            if isinstance(v, _Name):
                hit = self._name_hit(text, start, end, v, day)
                if hit is not None:
                    hits.append(hit)
                continue
            assert isinstance(v, _Wrong)
            if any(cs <= start and end <= ce and (cs, ce) != (start, end) for cs, ce in correct_spans):
                continue
            if v.whole_word:
                bounds = bounds or _Bounds(text)
                if not bounds.word_at(start, end):
                    continue
            hits.append(Hit(v.kind, v.rule_set, f"{v.rule_set}:{v.key}", v.revision, start, end, text[start:end],
                            _context(text, start, end), v.suggestion))
        return hits

    def _name_hit(self, text: str, start: int, end: int, v: _Name, day: date) -> Hit | None:
        posts = self._posts.get(v.name, [])
        held = [p.title for p in posts if p.held_on(day)]
        before = next((t for t in self._titles if text.endswith(t, 0, start)), None)
        after_at = end + 2 if text.startswith("同志", end) else end
        after = next((t for t in self._titles if text.startswith(t, after_at)), None)
        for title, t_start, t_end in ((before, start - len(before or ""), start), (after, after_at,
                                                                                  after_at + len(after or ""))):
            if title is None:
                continue
            if title is before and text.endswith(_FORMER, 0, t_start):
                continue
            if title in held:
                continue
            lo, hi = min(start, t_start), max(end, t_end)
            if held:
                right = held[0]
                suggestion = f"{right}{v.name}" if title is before else f"{v.name}{right}"
            else:
                suggestion = None  # holds no listed post on that day: the office says what is right
            return Hit("name_title", v.rule_set, f"{v.rule_set}:{v.name}", v.revision, lo, hi, text[lo:hi],
                       _context(text, lo, hi), suggestion)
        return None


def link_hit(listed: tuple[str, str, str], url: str, start: int, end: int, context: str,
             via: str | None = None) -> Hit:
    """A link whose host (or, ``via`` a redirect, whose target's host) is on a blocklist."""
    rule_set, revision, host = listed
    text = url if via is None else f"{url} -> {via}"
    return Hit("link_host", rule_set, f"{rule_set}:{host}", revision, start, end, text, context, None)


class _Bounds:
    """Word boundaries by jieba, computed around a position on demand (a window, not the whole text)."""

    WINDOW = 12  # characters each side: enough for the segmenter to see the words around

    def __init__(self, text: str) -> None:
        self.text = text

    def word_at(self, start: int, end: int) -> bool:
        lo = max(0, start - self.WINDOW)
        hi = min(len(self.text), end + self.WINDOW)
        cuts = {lo, hi}
        for _word, s, e in _jieba().tokenize(self.text[lo:hi], HMM=False):
            cuts.add(lo + s)
            cuts.add(lo + e)
        return start in cuts and end in cuts


_JIEBA: Any = None


def _jieba() -> Any:
    global _JIEBA
    if _JIEBA is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it prints its dictionary loading otherwise
        _JIEBA = jieba
    return _JIEBA


def _context(text: str, start: int, end: int) -> str:
    before = text[max(0, start - CONTEXT_CHARS):start]
    after = text[end:end + CONTEXT_CHARS]
    return " ".join(f"{before}【{text[start:end]}】{after}".split())


def _sorted(hits: list[Hit]) -> list[Hit]:
    unique = {(h.kind, h.rule, h.start, h.end): h for h in hits}
    return sorted(unique.values(), key=lambda h: (h.start, h.end, h.kind))
