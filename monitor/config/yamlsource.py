"""Read a YAML file into plain data plus the line of every field.

PyYAML's composer gives nodes with marks; walking them before construction maps
each field path (``("accounts", 3, "appid")``) to the line of its key (or of the
list item), and finds duplicate mapping keys, which ``yaml.safe_load`` would
silently collapse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FieldPath = tuple[str | int, ...]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# libyaml when present: the pure-Python parser takes ~25 s on a 10,000-account file.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe loader without implicit timestamps: dates stay strings and pydantic
    parses them, so '2027-02-30' is a located field error, not a crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class SourceError(Exception):
    """The file cannot be read or is not YAML; ``line`` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"{line}: {message}")


@dataclass
class Source:
    path: Path
    data: Any
    lines: dict[FieldPath, int]
    # YAML-level problems that do not stop loading (duplicate keys): (path, message)
    problems: list[tuple[FieldPath, str]] = field(default_factory=list)

    def line_of(self, path: FieldPath) -> int:
        """Line of ``path`` or of its nearest ancestor present in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def read_yaml(path: Path) -> Source:
    """Parse ``path``; raises :class:`SourceError` for unreadable or malformed files."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise SourceError(1, "cannot read: is a directory") from None
    except OSError as exc:
        raise SourceError(1, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(line, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})") from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path) -> Source:
    loader = _Loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise SourceError(*_describe(exc, "YAML syntax error")) from None
        except yaml.reader.ReaderError as exc:
            raise SourceError(_line_at(text, exc.position),
                              f"YAML syntax error: unacceptable character #x{exc.character:04x}") from None
        if root is None:
            raise SourceError(1, "the file is empty; expected a mapping with at least accounts:")
        builder = _Builder(loader)
        try:
            data = builder.build(root, (), None, merged=False)
        except yaml.MarkedYAMLError as exc:
            raise SourceError(*_describe(exc, "YAML error")) from None
    finally:
        loader.dispose()
    return Source(path=path, data=data, lines=builder.lines, problems=builder.problems)


def _describe(exc: yaml.MarkedYAMLError, kind: str) -> tuple[int, str]:
    """Line of the problem, and a message naming where the construct began."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else 1
    parts = []
    if exc.context:
        start = exc.context_mark.line + 1 if exc.context_mark else None
        parts.append(exc.context + (f" (from line {start})" if start and start != line else ""))
    if exc.problem:
        parts.append(exc.problem.replace("found '?'", "found another key"))
    return line, f"{kind}: " + ("; ".join(parts) or "malformed YAML")


class _Builder:
    """Constructs the data from the node tree and records, in the same pass, the
    line of every field path and the duplicate keys."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[FieldPath, int] = {(): 1}
        self.problems: list[tuple[FieldPath, str]] = []
        self._active: set[int] = set()  # nodes being built: an alias to one of them recurses

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == _STR_TAG:
            return node.value  # most scalars; skips the constructor's bookkeeping
        return self.loader.construct_object(node)  # int, float, bool, null; unsafe tags raise

    def build(self, node: yaml.Node, path: FieldPath, key_line: int | None, merged: bool) -> Any:
        line = key_line if key_line is not None else node.start_mark.line + 1
        if not merged or path not in self.lines:
            self.lines[path] = line
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._active:
            raise SourceError(node.start_mark.line + 1, "YAML error: recursive alias")
        if node.tag not in (_MAP_TAG, _SEQ_TAG):
            return self.loader.construct_object(node, deep=True)  # !!set, !!omap, or a located error
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self.build(item, (*path, i), None, merged) for i, item in enumerate(node.value)]
            return self._mapping(node, path, line, merged)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: FieldPath, line: int, merged: bool) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        inherited: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            kline = key_node.start_mark.line + 1
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
            key = self._scalar(key_node)
            if key in seen and not merged:
                self.problems.append(((*path, key), f"duplicate key (first at line {seen[key]})"))
            else:
                seen[key] = kline
            out[key] = self.build(value_node, (*path, key), kline, merged)
        return {**inherited, **out} if inherited else out
