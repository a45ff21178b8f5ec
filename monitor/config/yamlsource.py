"""Read a YAML file into plain data plus the line of every field.

The composer gives nodes with marks; walking them before construction maps
each field path (``("accounts", 3, "appid")``) to the line of its key (or of the
list item), and finds duplicate mapping keys, which ``yaml.safe_load`` would
silently collapse.

The file is hostile input: it is read up to a size limit, and composed by our
own composer (on libyaml's events) that counts as it goes, so a 'billion laughs'
file of nested aliases, or nesting too deep for the recursive builder, is
refused at the line of the offending alias before anything is expanded.
"""

from __future__ import annotations

import codecs
import gc
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.composer import ComposerError

FieldPath = tuple[str | int, ...]

# 10,000 accounts as bench/ writes them, sharing fields through "<<: *defaults", are ~200,000
# values; with 8 declared columns, a contact and 3 questions each, ~1 million (12.5 MB written
# out). Checking costs ~1 kB per value: MAX_VALUES also bounds what a crafted file costs (~2 GB).
MAX_FILE_BYTES = 32 * 2**20
MAX_VALUES = 2_000_000  # nodes of the tree with every alias expanded (keys count)
MAX_DEPTH = 64  # nested lists/mappings, aliases included; a real file needs 5
MAX_NUMBER_CHARS = 100  # int() of a longer one is slow or refused (4300 digits)
MAX_PROBLEMS = 10_000  # problem lines listed; more come from a hostile or broken generated file

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
# Called directly, not through construct_object, which keeps every node it saw in a dict.
_PLAIN_CONSTRUCTORS = {tag: yaml.constructor.SafeConstructor.yaml_constructors[tag]
                       for tag in (_INT_TAG, _FLOAT_TAG, "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null")}
_COLLECTION_TAGS = {f"tag:yaml.org,2002:{kind}" for kind in ("map", "seq", "set", "omap", "pairs")}

# Line breaks YAML 1.1 knows besides LF and CRLF. Editors, grep and sed do not: what follows one
# in a comment would look like a comment but be read as settings, and line numbers would differ.
_ODD_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")


class SourceError(Exception):
    """The file cannot be read or is not YAML; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}")


class _Mark(Protocol):
    """A position in the file: ``yaml.error.Mark``, or libyaml's ``yaml._yaml.Mark``."""

    @property
    def line(self) -> int: ...  # 0-based


class _Lines:
    """1-based line of a mark, clamped to the file's lines (an error at the end of the file is
    on its last line). YAML's count is the editor's: the text has no line breaks but LF and CRLF."""

    def __init__(self, text: str) -> None:
        self.last = max(1, text.count("\n") + (0 if text.endswith("\n") else 1))

    def of(self, mark: _Mark) -> int:
        return min(mark.line + 1, self.last)

    def clamp(self, line: int) -> int:
        return min(max(line, 1), self.last)


class _Composer:
    """PyYAML's composer, on the parser's events, with limits.

    Counts the values of the tree as if every alias were expanded (an anchored
    node's size is known when it is complete, so this is one cheap pass), tracks
    the nesting depth the same way, and stops at the first value over a limit
    (libyaml's own composer cannot be stopped; this one, on libyaml's events, costs
    about a microsecond more per value).
    """

    get_event: Any
    resolve: Any
    lines: _Lines

    def get_single_node(self) -> yaml.Node | None:
        self._anchors: dict[str, tuple[yaml.Node, int, int]] = {}  # anchor -> node, values, height
        self._open: set[str] = set()  # anchors of collections being composed
        self._values = 0
        self._deepest = 0  # deepest level reached inside the anchored node being composed
        self.get_event()  # stream start
        node = None
        event = self.get_event()
        if not isinstance(event, yaml.StreamEndEvent):  # a document start
            node = self._node(self.get_event(), 0)
            self.get_event()  # document end
            event = self.get_event()
        if not isinstance(event, yaml.StreamEndEvent):
            raise ComposerError("expected a single document in the stream", node.start_mark if node else None,
                                "but found another document", event.start_mark)
        return node

    def _node(self, event: Any, depth: int) -> yaml.Node:
        """The node ``event`` starts, at ``depth`` (the number of collections around it)."""
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, depth)
        anchor = event.anchor
        if anchor is not None and (anchor in self._anchors or anchor in self._open):
            first = f" (first at line {self.lines.of(self._anchors[anchor][0].start_mark)})" \
                if anchor in self._anchors else ""
            raise SourceError(self.lines.of(event.start_mark), f"YAML error: duplicate anchor &{anchor}{first}")
        self._values += 1
        if self._values > MAX_VALUES:
            raise SourceError(self.lines.of(event.start_mark),
                              f"YAML error: the file has more than {MAX_VALUES:,} values")
        tag = event.tag
        if isinstance(event, yaml.ScalarEvent):
            if tag is None or tag == "!":
                tag = self.resolve(yaml.ScalarNode, event.value, event.implicit)
            # No end mark: nothing reads it, and it is a third of a node's memory. The stubs type a
            # node's mark as yaml.error.Mark only; libyaml's events carry a yaml._yaml.Mark.
            scalar = yaml.ScalarNode(tag, event.value, event.start_mark, None,  # type: ignore[arg-type]
                                     style=event.style)
            if anchor is not None:
                self._anchors[anchor] = (scalar, 1, 0)
            return scalar
        depth += 1
        if depth > MAX_DEPTH:
            raise SourceError(self.lines.of(event.start_mark),
                              f"YAML error: lists and mappings nested more than {MAX_DEPTH} levels deep")
        sequence = isinstance(event, yaml.SequenceStartEvent)
        kind = yaml.SequenceNode if sequence else yaml.MappingNode
        if tag is None or tag == "!":
            tag = self.resolve(kind, None, event.implicit)
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        values_before, deepest_outside = self._values - 1, self._deepest
        if anchor is not None:
            self._open.add(anchor)
            self._deepest = depth
        end = yaml.SequenceEndEvent if sequence else yaml.MappingEndEvent
        get, items = self.get_event, node.value
        event = get()
        while not isinstance(event, end):
            if sequence:
                items.append(self._node(event, depth))
            else:
                key = self._node(event, depth)
                items.append((key, self._node(get(), depth)))
            event = get()
        if anchor is not None:
            self._open.discard(anchor)
            self._anchors[anchor] = (node, self._values - values_before, self._deepest - depth + 1)
        self._deepest = max(self._deepest, deepest_outside, depth)
        return node

    def _alias(self, event: Any, depth: int) -> yaml.Node:
        line = self.lines.of(event.start_mark)
        if event.anchor in self._open:
            raise SourceError(line, "YAML error: recursive alias (it is inside the list or mapping it names)")
        if event.anchor not in self._anchors:
            raise ComposerError(None, None, f"found undefined alias {event.anchor!r}", event.start_mark)
        node, values, height = self._anchors[event.anchor]
        self._values += values
        if self._values > MAX_VALUES:
            raise SourceError(line, f"YAML error: aliases expand to more than {MAX_VALUES:,} values "
                                    "(a 'billion laughs' file?)")
        if depth + height > MAX_DEPTH:
            raise SourceError(line, f"YAML error: aliases nest lists and mappings more than {MAX_DEPTH} "
                                    "levels deep")
        self._deepest = max(self._deepest, depth + height)
        return node


# libyaml's parser when present: the pure-Python one takes ~25 s on a 10,000-account file.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_C_READER = _Base is not yaml.SafeLoader  # libyaml reports a bad character's offset in UTF-8 bytes


class _Loader(_Composer, _Base):  # type: ignore[misc]
    """Safe loader without implicit timestamps: dates stay strings and pydantic
    parses them, so '2027-02-30' is a located field error, not a crash."""

    def __init__(self, text: str, lines: _Lines) -> None:
        super().__init__(text)
        self.lines = lines


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class Source:
    path: Path
    data: Any
    lines: dict[FieldPath, int]
    # YAML-level problems that do not stop loading (duplicate keys): (path, message)
    problems: list[tuple[FieldPath, str]] = field(default_factory=list)
    # paths whose value could not be read (a problem says why; the value is None)
    unreadable: set[FieldPath] = field(default_factory=set)
    more_problems: bool = False  # problems past MAX_PROBLEMS were dropped

    def line_of(self, path: FieldPath) -> int:
        """Line of ``path`` or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def read_yaml(path: Path) -> Source:
    """Parse ``path``; raises :class:`SourceError` for unreadable or malformed files."""
    raw = _read_bytes(path, MAX_FILE_BYTES).removeprefix(codecs.BOM_UTF8)  # so error offsets are into raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
    return parse_yaml(text, path)


def _read_bytes(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of ``path``; a FIFO nobody writes to reads as empty, not forever."""
    nonblocking = getattr(os, "O_NONBLOCK", 0)  # opening a FIFO would wait for a writer
    try:
        fd = os.open(path, os.O_RDONLY | nonblocking | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SourceError(1, f"cannot read: {exc.strerror or exc}") from None
    try:
        if nonblocking:
            os.set_blocking(fd, True)  # a writer that has opened the FIFO is waited for
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
    except IsADirectoryError:
        raise SourceError(1, "cannot read: is a directory") from None
    except OSError as exc:
        raise SourceError(1, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    raise SourceError(1, f"cannot read: larger than {limit // 2**20} MB, the limit for this file")


def parse_yaml(text: str, path: Path) -> Source:
    lines = _Lines(text)
    odd = _ODD_BREAK.search(text)
    if odd:
        raise SourceError(lines.clamp(text.count("\n", 0, odd.start()) + 1),
                          f"YAML syntax error: unacceptable line break #x{ord(odd.group()):04x} "
                          "(lines must end with LF or CRLF)")
    # The cyclic collector would walk the growing node graph again and again (measured: 2/3
    # of the time of a 10,000-account file); the graph has no cycles (recursive aliases are refused).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse(text, path, lines)
    except SourceError as exc:
        raise SourceError(lines.clamp(exc.line), exc.message) from None
    finally:
        if collecting:
            gc.enable()


def _parse(text: str, path: Path, lines: _Lines) -> Source:
    loader = _Loader(text, lines)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise SourceError(*_describe(exc, "YAML syntax error", lines)) from None
        except yaml.reader.ReaderError as exc:
            raise SourceError(_reader_line(text, exc.position),
                              f"YAML syntax error: unacceptable character #x{exc.character:04x}") from None
        if root is None:
            raise SourceError(1, "the file is empty; expected a mapping with at least accounts:")
        builder = _Builder(loader, lines)
        try:
            data = builder.build(root, (), None, merged=False)
        except yaml.MarkedYAMLError as exc:
            raise SourceError(*_describe(exc, "YAML error", lines)) from None
    finally:
        loader.dispose()
    return Source(path=path, data=data, lines=builder.lines, problems=builder.problems,
                  unreadable=builder.unreadable, more_problems=builder.more_problems)


def _reader_line(text: str, position: int) -> int:
    if _C_READER:  # an offset into the UTF-8 bytes, not into the text
        return text.encode("utf-8", "surrogatepass").count(b"\n", 0, max(position, 0)) + 1
    return text.count("\n", 0, max(position, 0)) + 1


def _describe(exc: yaml.MarkedYAMLError, kind: str, lines: _Lines) -> tuple[int, str]:
    """Line of the problem, and a message naming where the construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = lines.of(mark) if mark else 1
    parts = []
    if exc.context:
        start = lines.of(exc.context_mark) if exc.context_mark else None
        parts.append(exc.context + (f" (from line {start})" if start and start != line else ""))
    if exc.problem:
        parts.append(exc.problem.replace("found '?'", "found another key"))
    return line, f"{kind}: " + ("; ".join(parts) or "malformed YAML")


class _Builder:
    """Constructs the data from the node tree and records, in the same pass, the
    line of every field path and the duplicate keys."""

    def __init__(self, loader: _Loader, lines: _Lines) -> None:
        self.loader = loader
        self.line_of = lines.of
        self.lines: dict[FieldPath, int] = {(): 1}
        self.problems: list[tuple[FieldPath, str]] = []
        self.unreadable: set[FieldPath] = set()
        self.more_problems = False
        self._active: set[int] = set()  # nodes being built: an alias to one of them recurses

    def _scalar(self, node: yaml.ScalarNode, path: FieldPath, key: bool = False) -> Any:
        """The value of a scalar; one that cannot be read is a problem at ``path`` and reads as
        None (a key: as its text)."""
        if node.tag == _STR_TAG:
            return node.value  # most scalars; skips the constructor's bookkeeping
        problem = None
        if node.tag in (_INT_TAG, _FLOAT_TAG) and len(node.value) > MAX_NUMBER_CHARS:
            problem = f"a number of more than {MAX_NUMBER_CHARS} characters (quote it if it is text)"
        else:
            try:
                plain = _PLAIN_CONSTRUCTORS.get(node.tag)
                if plain is not None:
                    return plain(self.loader, node)
                if node.tag in _COLLECTION_TAGS:  # "!!set x": would give an empty set, silently
                    raise ValueError(node.tag)
                return self.loader.construct_object(node)  # !!binary, or a located error (unsafe tags)
            except yaml.MarkedYAMLError:
                raise
            except Exception:  # "!!int x", "!!bool maybe": the constructor's own errors are not marked
                problem = f"cannot be read as {node.tag.rsplit(':', 1)[-1]}"
        if key:
            path = (*path, node.value)
        self._problem(path, problem)
        self.unreadable.add(path)
        return node.value if key else None

    def _problem(self, path: FieldPath, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append((path, message))
        else:
            self.more_problems = True

    def build(self, node: yaml.Node, path: FieldPath, key_line: int | None, merged: bool) -> Any:
        line = key_line if key_line is not None else self.line_of(node.start_mark)
        if not merged or path not in self.lines:
            self.lines[path] = line
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._active:
            raise SourceError(line, "YAML error: recursive alias")
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            try:
                return self.loader.construct_object(node, deep=True)  # !!set, !!omap, or a located error
            except yaml.MarkedYAMLError:
                raise
            except Exception:
                raise SourceError(line, f"YAML error: cannot be read as {node.tag.rsplit(':', 1)[-1]}") from None
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i), None, merged) for i, item in enumerate(node.value)]
            assert isinstance(node, yaml.MappingNode)  # the composer makes scalars, sequences and mappings only
            return self._mapping(node, path, line, merged)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: FieldPath, line: int, merged: bool) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        inherited: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            kline = self.line_of(key_node.start_mark)
            if key_node.tag == _MERGE_TAG:  # "<<: *defaults": explicit keys win, earlier sources first
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode):
                        raise SourceError(kline, "YAML error: '<<' merges mappings only")
                    for key, value in self.build(src, path, line, merged=True).items():
                        inherited.setdefault(key, value)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise SourceError(kline, "YAML error: a key must be a plain value, not a list or mapping")
            key = self._scalar(key_node, path, key=True)
            if key in seen and not merged:
                self._problem((*path, key), f"duplicate key (first at line {seen[key]})")
            else:
                seen[key] = kline
            out[key] = self.build(value_node, (*path, key), kline, merged)
        return {**inherited, **out} if inherited else out
