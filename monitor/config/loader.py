"""Load accounts.yaml: every problem as one line ``FILE:LINE: field.path: what is wrong``."""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config.models import (
    PATTERN_MESSAGES,
    Account,
    Channels,
    Component,
    Config,
    ConfigParts,
    FieldPath,
    Problem,
    Smtp,
    cross_problems,
    env_problems,
)
from monitor.config.yamlsource import MAX_PROBLEMS, Source, SourceError, read_yaml
from monitor.errors import BadInput
from monitor.policy import NAME_PATTERN, PolicySpec, pydantic_message

_PRUNED_ITEMS = 100
_SECRET_KEYS = {"secret", "appsecret", "app_secret", "password", "token", "access_token", "passwd", "key"}


def load_config(path: str | Path, *, check_env: bool = False,
                environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate ``path``; raises :class:`BadInput` with one line per problem.

    ``check_env``: also require the environment variables the file names (the
    account secrets, the bridge token, the SMTP credentials) to be set.
    """
    config, problems = _load(Path(path), check_env, environ)
    if problems or config is None:
        raise BadInput(problems)
    return config


def check_file(path: str | Path, check_env: bool = True, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every problem of the file, one line each (empty when the file is good)."""
    return _load(Path(path), check_env, environ)[1]


def check_file_warnings(path: str | Path, check_env: bool = True,
                        environ: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """The file's problems (as :func:`check_file`) and, when it has none, its warnings, one line each.

    A warning (``FILE:LINE: warning: field.path: ...``) is a valid setting likely wrong here.
    """
    from monitor.config.warnings import config_warnings

    config, problems = _load(Path(path), check_env, environ)
    if problems or config is None:
        return problems, []
    label = str(path)
    lines = [_printable(f"{label}:{config.line_of(*where) or 1}: warning: {format_path(where)}: {msg}")
             for where, msg in config_warnings(config)]
    return [], lines


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of accounts.yaml, with descriptions, for editors."""
    schema = Config.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "title": "wxmon accounts.yaml",
        "description": "Global settings and the monitored WeChat official accounts of wxmon. "
                       "Secrets are never in this file: it names environment variables.",
    }


# ---------------------------------------------------------------------------


def _load(path: Path, check_env: bool, environ: Mapping[str, str] | None) -> tuple[Config | None, list[str]]:
    label = str(path)
    try:
        src = read_yaml(path)
    except SourceError as exc:
        return None, [_printable(f"{label}:{exc.line}: {exc.message}")]
    data = src.data
    if not isinstance(data, dict):
        return None, [_printable(f"{label}:1: must be a mapping of settings (timezone:, store:, ..., "
                                 "accounts:)")]

    problems: list[Problem] = list(src.problems)
    more, pruned = src.more_problems, False
    config: Config | None = None
    try:
        config = Config.model_validate(data, context={"config_dir": path.parent})
    except ValidationError as exc:
        errors: ValidationError | None = exc
        if exc.error_count() > MAX_PROBLEMS:
            # Listing millions of errors takes gigabytes (a hostile or broken generated file):
            # list those of the first items of every list and mapping, and say there are more.
            pruned = True
            data = _pruned(data)
            errors = _validation_error(data)
        for err in errors.errors(include_url=False) if errors else ():
            if err["type"] == "wxmon_problems" and not err["loc"]:
                continue  # checks across sections: redone below on the valid parts
            problems.extend(p for p in _from_pydantic(err, data)
                            if p[0] not in src.unreadable or err["type"] == "extra_forbidden")
    if config is None:
        parts = _parts(data)
        problems.extend(cross_problems(parts))
    else:
        parts = ConfigParts.of(config)  # valid as a whole: no need to validate the parts again
    if check_env:
        problems.extend(env_problems(parts, os.environ if environ is None else environ))

    lines = _format(label, src, problems)
    if pruned:
        lines = lines[:MAX_PROBLEMS] + [f"{_printable(label)}:1: more problems than listed: only those in the "
                                        f"first {_PRUNED_ITEMS} items of each list or mapping are; fix them "
                                        "and check again"]
    elif more or len(lines) > MAX_PROBLEMS:
        lines = lines[:MAX_PROBLEMS] + [f"{_printable(label)}:1: more problems than the {MAX_PROBLEMS:,} "
                                        "listed; fix them and check again"]
    if lines:
        return None, lines
    assert config is not None
    config._source = path
    config._lines = src.lines
    return config, []


def _pruned(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _pruned(v) for k, v in list(data.items())[:_PRUNED_ITEMS]}
    if isinstance(data, list):
        return [_pruned(v) for v in data[:_PRUNED_ITEMS]]
    return data


def _validation_error(data: Any) -> ValidationError | None:
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        return exc
    return None


def _format(label: str, src: Source, problems: Iterable[Problem]) -> list[str]:
    located = [(src.line_of(path), format_path(path), msg) for path, msg in problems]
    located.sort(key=lambda p: p[0])  # stable: same line keeps the order found
    out: dict[str, None] = {}
    for line, where, msg in located:
        out[_printable(f"{label}:{line}: {where}: {msg}" if where else f"{label}:{line}: {msg}")] = None
    return list(out)


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_LINE_CHARS = 1000


def _printable(line: str) -> str:
    """One line, of a sane length, whatever values the message quotes from the file."""
    line = _UNPRINTABLE.sub(lambda m: ascii(m.group())[1:-1], line)
    return line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS - 1] + "…"


def format_path(path: FieldPath) -> str:
    """``("accounts", 3, "inquiry", "channel")`` -> ``accounts[3].inquiry.channel``."""
    out = ""
    for el in path:
        if isinstance(el, int):
            out += f"[{el}]"
        else:
            text = str(el)
            if not re.fullmatch(r"[\w-]+", text):
                text = json.dumps(text, ensure_ascii=False)
            out += ("." if out else "") + text
    return out


def _parts(data: dict[str, Any]) -> ConfigParts:
    """The valid parts of a file, validated one by one."""
    raw_accounts = data.get("accounts")
    raw_accounts = list(enumerate(raw_accounts)) if isinstance(raw_accounts, list) else []
    accounts = [(i, a) for i, a in ((i, _valid(Account, raw)) for i, raw in raw_accounts) if a is not None]

    policy = data.get("policy", Config.model_fields["policy"].default)
    raw_policies = data.get("policies", {})
    policies = None
    policy_names: set[str] = set()
    if isinstance(raw_policies, dict):
        policy_names = {k for k in raw_policies if isinstance(k, str)}
        policies = {k: spec for k, spec in ((k, _valid(PolicySpec, v)) for k, v in raw_policies.items())
                    if spec is not None and isinstance(k, str) and re.fullmatch(NAME_PATTERN, k)}
    channels = _valid(Channels, data.get("channels", {}))
    smtp = _valid(Smtp, data["smtp"]) if data.get("smtp") is not None else None
    component = _valid(Component, data["component"]) if data.get("component") is not None else None
    return ConfigParts(accounts, raw_accounts, policy if isinstance(policy, str) else None, policies,
                       channels, smtp, policy_names=policy_names, component=component,
                       component_given=data.get("component") is not None)


def _valid(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _from_pydantic(err: Mapping[str, Any], data: Any) -> list[Problem]:
    loc = _clean_loc(tuple(err["loc"]), data)
    if err["type"] == "wxmon_problems":
        return [((*loc, *sub), msg) for sub, msg in err["ctx"]["problems"]]
    if err["type"] == "invalid_key" and loc:  # YAML keys like 1, yes, null
        return [(loc[:-1], f"key {loc[-1]!r} must be a string (quote it)")]
    if loc and loc[-1] == "[key]":  # a dict key, e.g. a policy name
        return [(loc[:-1], "bad name: " + PATTERN_MESSAGES.get(NAME_PATTERN, "bad name"))]
    return [(loc, _message(err, loc))]


def _clean_loc(loc: tuple[Any, ...], data: Any) -> FieldPath:
    """Drop what pydantic adds to a location that is not in the data (union tags)."""
    out: list[Any] = []
    node = data
    lost = False  # past the data: a missing key and what pydantic says under it
    for n, el in enumerate(loc):
        if lost:
            out.append(el)
        elif (isinstance(node, dict) and el in node) or (
                isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node)):
            node = node[el]
            out.append(el)
        elif n < len(loc) - 1 and isinstance(el, str):
            continue
        else:
            lost = True
            out.append(el)
    return tuple(out)


def _message(err: Mapping[str, Any], loc: FieldPath) -> str:
    kind = err["type"]
    if kind == "string_pattern_mismatch":
        return PATTERN_MESSAGES.get((err.get("ctx") or {}).get("pattern", ""), "has the wrong format")
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        if key.lower() in _SECRET_KEYS:
            return ("unknown key; secrets are never in this file: name the environment variable that holds "
                    "it (e.g. secret_env: WXMON_SECRET_XXX)")
        allowed = _allowed_keys(loc[:-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.7)
        return f"unknown key (did you mean '{close[0]}'?)" if close else "unknown key"
    if kind == "literal_error" and loc and loc[-1] == "timezone":
        return "must be 'Asia/Shanghai' (the only supported time zone)"
    if kind == "too_short" and loc == ("accounts",):
        return "needs at least one account"
    if kind == "string_too_long":
        return f"must be at most {(err.get('ctx') or {}).get('max_length')} characters"
    return pydantic_message(err)


def _allowed_keys(path: FieldPath) -> list[str]:
    tp: Any = Config
    for el in path:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(el))
            if field is None:
                return []
            tp = field.annotation
        elif origin is list:
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    return list(tp.model_fields) if isinstance(tp, type) and issubclass(tp, BaseModel) else []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0] if args else tp
            if len(args) != 1:
                return tp
        else:
            return tp
