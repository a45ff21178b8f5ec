"""Rule files of the content check: the format, loading, and `wxmon content rules check`.

A rule file is YAML, one rule set per file, every rule of one ``kind``::

    version: 1                 # the format's version (this code reads 1)
    name: fixed-expressions    # the rule set's id: findings name it, a policy selects by it
    revision: "2026-11-20"     # the content's own version, said in every finding
    kind: fixed_expression     # fixed_expression | name_title | wrong_char | sensitive | link_host
    description: 规范表述
    rules: [...]               # entries, by kind (see docs/content-check.md)

The file is untrusted input: it is read through the config's bounded YAML reader
and validated by pydantic models; each problem is one line ``FILE:LINE: field: what``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from monitor.config.yamlsource import Source, SourceError, read_yaml
from monitor.content_review import KIND_ZH as KIND_ZH  # one place for the labels; re-exported

FORMAT_VERSION = 1
SHIPPED_DIR = Path(__file__).parent / "rules"

Kind = Literal["fixed_expression", "name_title", "wrong_char", "sensitive", "link_host"]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]

Phrase = Annotated[str, Field(min_length=1, max_length=200)]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{1,64}$")]
_HOST = re.compile(r"^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FixedExpression(_Model):
    """A fixed expression and the wrong forms to flag (word order, missing or extra characters)."""

    correct: Phrase
    wrong: list[Phrase] = Field([], max_length=200)
    auto: bool = Field(True, description="Also flag one dropped, doubled or swapped inner character "
                                         "(expressions of 5 or more characters).")
    note: str = ""

    @model_validator(mode="after")
    def _distinct(self) -> FixedExpression:
        if self.correct in self.wrong:
            raise ValueError(f"the correct form '{self.correct}' is also listed as wrong")
        if not self.wrong and not (self.auto and len(self.correct) >= AUTO_MIN_CHARS):
            raise ValueError("needs wrong forms (or auto: true on an expression of 5 or more characters)")
        return self


class Official(_Model):
    """A person and the titles held, with the dates they were held (inclusive)."""

    name: Annotated[str, Field(min_length=2, max_length=10)]
    title: Phrase
    since: date
    until: date | None = None
    unit: str = ""

    @model_validator(mode="after")
    def _dates(self) -> Official:
        if self.until is not None and self.until < self.since:
            raise ValueError(f"until ({self.until}) is before since ({self.since})")
        return self


class WrongChar(_Model):
    wrong: Phrase
    correct: Phrase

    @model_validator(mode="after")
    def _differ(self) -> WrongChar:
        if self.wrong == self.correct:
            raise ValueError("wrong and correct are the same")
        return self


class Sensitive(_Model):
    word: Phrase
    whole_word: bool = Field(False, description="Only where the segmenter sees it as words of its own.")
    note: str = ""


class LinkHost(_Model):
    host: Annotated[str, Field(max_length=253)]
    note: str = ""

    @model_validator(mode="after")
    def _host(self) -> LinkHost:
        self.host = self.host.lower().rstrip(".")
        if not _HOST.match(self.host):
            raise ValueError(f"'{self.host}' is not a host name (e.g. bad.example or *.bad.example)")
        return self


AUTO_MIN_CHARS = 5


class _SetBase(_Model):
    version: Literal[1] = Field(description="Format version.")
    name: RuleId
    revision: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""


class FixedExpressionSet(_SetBase):
    kind: Literal["fixed_expression"]
    rules: list[FixedExpression] = Field(min_length=1, max_length=100_000)


class NameTitleSet(_SetBase):
    kind: Literal["name_title"]
    titles: list[Phrase] = Field(min_length=1, max_length=10_000,
                                 description="Every title watched: a name next to one of them is checked.")
    rules: list[Official] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _known_titles(self) -> NameTitleSet:
        unknown = sorted({o.title for o in self.rules} - set(self.titles))
        if unknown:
            raise ValueError(f"titles held but not listed in titles: {'、'.join(unknown)}")
        return self


class WrongCharSet(_SetBase):
    kind: Literal["wrong_char"]
    rules: list[WrongChar] = Field(min_length=1, max_length=100_000)


class SensitiveSet(_SetBase):
    kind: Literal["sensitive"]
    rules: list[Sensitive] = Field(min_length=1, max_length=1_000_000)


class LinkHostSet(_SetBase):
    kind: Literal["link_host"]
    rules: list[LinkHost] = Field(min_length=1, max_length=1_000_000)


RuleSet = Annotated[
    FixedExpressionSet | NameTitleSet | WrongCharSet | SensitiveSet | LinkHostSet,
    Field(discriminator="kind"),
]


class _File(BaseModel):
    rule_set: RuleSet


class RulesError(ValueError):
    """A rule file that cannot be used; ``lines`` are its problems, one ``FILE:LINE: ...`` each."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class LoadedSet:
    path: Path
    rules: FixedExpressionSet | NameTitleSet | WrongCharSet | SensitiveSet | LinkHostSet


def check_file(path: str | Path) -> list[str]:
    """Every problem of a rule file, one line each (empty: the file is valid)."""
    try:
        load_file(path)
    except RulesError as exc:
        return exc.lines
    return []


def load_file(path: str | Path) -> LoadedSet:
    p = Path(path)
    label = str(p)
    try:
        src = read_yaml(p)
    except SourceError as exc:
        raise RulesError([f"{label}:{exc.line}: {exc.message}"]) from None
    except OSError as exc:
        raise RulesError([f"{label}: cannot read: {exc.strerror or type(exc).__name__}"]) from None
    problems = [f"{label}:{src.line_of(path_)}: {_where(path_)}: {msg}" for path_, msg in src.problems]
    data = src.data
    if not isinstance(data, dict):
        raise RulesError([f"{label}:1: must be a mapping (version:, name:, revision:, kind:, rules:)"])
    if data.get("version") not in (None, FORMAT_VERSION):
        raise RulesError([f"{label}:{src.line_of(('version',))}: version: format version "
                          f"{data.get('version')!r} is not known (this wxmon reads {FORMAT_VERSION})"])
    if "kind" in data and data["kind"] not in KINDS:
        raise RulesError([f"{label}:{src.line_of(('kind',))}: kind: '{data['kind']}' is not one of "
                          f"{', '.join(KINDS)}"])
    try:
        parsed = _File.model_validate({"rule_set": data}).rule_set
    except ValidationError as exc:
        problems.extend(_problems(label, src, exc))
        raise RulesError(problems) from None
    if problems:
        raise RulesError(problems)
    dupes = _duplicates(parsed)
    if dupes:
        raise RulesError([f"{label}:{src.line_of(('rules', i))}: rules[{i}]: {msg}" for i, msg in dupes])
    return LoadedSet(p, parsed)


def load_sets(paths: Iterable[str | Path]) -> list[LoadedSet]:
    """Load several files; raises one RulesError with every file's problems, or a duplicated set name."""
    lines: list[str] = []
    out: list[LoadedSet] = []
    for path in paths:
        try:
            out.append(load_file(path))
        except RulesError as exc:
            lines.extend(exc.lines)
    seen: dict[str, Path] = {}
    for s in out:
        if s.rules.name in seen:
            lines.append(f"{s.path}:1: name: rule set '{s.rules.name}' is also defined in {seen[s.rules.name]}")
        seen[s.rules.name] = s.path
    if lines:
        raise RulesError(lines)
    return out


def shipped_paths() -> list[Path]:
    """The rule files for real use: fixed expressions and wrong characters."""
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def sample_paths() -> list[Path]:
    """The samples, for the demo and the tests only: FICTIONAL leaders, neutral sensitive words,
    link hosts on reserved test domains (``content.samples: true``, ``--samples``)."""
    return sorted((SHIPPED_DIR / "samples").glob("*.yaml"))


def _where(path: Sequence[str | int]) -> str:
    out = ""
    for el in path:
        out += f"[{el}]" if isinstance(el, int) else ("." if out else "") + str(el)
    return out


def _problems(label: str, src: Source, exc: ValidationError) -> list[str]:
    out: dict[str, None] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])[1:]  # drop "rule_set"
        # the discriminated union adds the kind's tag to the path: drop it
        loc = tuple(x for x in loc if not (isinstance(x, str) and x in KINDS))
        line = src.line_of(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field"
        out[f"{label}:{line}: {_where(loc) or '.'}: {msg}"] = None
    return list(out)


def _duplicates(rule_set: RuleSet) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    out = []
    for i, rule in enumerate(rule_set.rules):
        key = _rule_key(rule)
        if key in seen:
            out.append((i, f"'{key}' is already listed at rules[{seen[key]}]"))
        else:
            seen[key] = i
    return out


def _rule_key(rule: BaseModel) -> str:
    if isinstance(rule, FixedExpression):
        return rule.correct
    if isinstance(rule, Official):
        return f"{rule.name} {rule.title} {rule.since}"
    if isinstance(rule, WrongChar):
        return rule.wrong
    if isinstance(rule, Sensitive):
        return rule.word
    assert isinstance(rule, LinkHost)
    return rule.host
