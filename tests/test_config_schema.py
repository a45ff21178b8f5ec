"""`wxmon config schema`: valid JSON Schema that accepts a good file and rejects a bad one.

jsonschema is not a dependency; when it is installed it is used, otherwise a
small validator covering the keywords pydantic emits checks the same files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.config.yamlsource import read_yaml
from wxmon.cli import main

DATA = Path(__file__).parent / "data" / "config"


def schema_from_cli(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["config", "schema"]) == 0
    return json.loads(capsys.readouterr().out)


def mini_errors(schema: dict[str, Any], value: Any, root: dict[str, Any], path: str = "") -> list[str]:
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/$defs/")
        return mini_errors(root["$defs"][ref.split("/")[-1]], value, root, path)
    if "anyOf" in schema:
        branches = [mini_errors(s, value, root, path) for s in schema["anyOf"]]
        return [] if any(not b for b in branches) else [f"{path}: no anyOf branch matches"]
    errors: list[str] = []
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
    kind = schema.get("type")
    if kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind:
        ok = isinstance(value, types[kind])
    else:
        ok = True
    if not ok:
        return [f"{path}: not {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: not in enum")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: not const")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{path}: pattern")
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: too short")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: below minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: above maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{path}: not above exclusiveMinimum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: too few items")
        for i, item in enumerate(value):
            if "items" in schema:
                errors += mini_errors(schema["items"], item, root, f"{path}[{i}]")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}.{key}: required")
        for key, item in value.items():
            if key in props:
                errors += mini_errors(props[key], item, root, f"{path}.{key}")
                continue
            matched = [s for pat, s in schema.get("patternProperties", {}).items() if re.search(pat, key)]
            for sub in matched:
                errors += mini_errors(sub, item, root, f"{path}.{key}")
            if not matched and schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: additional property")
    return errors


def schema_errors(schema: dict[str, Any], value: Any) -> list[str]:
    try:
        import jsonschema
    except ImportError:
        return mini_errors(schema, value, schema)
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(value)]


def test_schema_is_json_with_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    schema = schema_from_cli(capsys)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["accounts"]
    assert {"timezone", "store", "wechat", "calendar", "policy", "policies", "schedules", "checks", "http", "channels",
            "component", "smtp", "supervisors", "alerts", "content", "web", "accounts"} == set(schema["properties"])
    assert schema["description"]
    for name, prop in schema["properties"].items():
        target = schema["$defs"][prop["$ref"].split("/")[-1]] if "$ref" in prop else prop
        assert prop.get("description") or target.get("description"), name
    account = schema["$defs"]["Account"]
    assert account["additionalProperties"] is False
    assert set(account["required"]) == {"id", "name", "unit", "category"}
    assert account["properties"]["appid"]["anyOf"][0]["pattern"] == "^wx[0-9a-f]{16}$"
    assert account["properties"]["category"]["enum"] == ["乡镇街道", "政府部门", "区政府", "事业单位", "其他"]
    for name, definition in schema["$defs"].items():
        assert definition.get("additionalProperties") is False, name  # unknown keys are errors everywhere
        for field, prop in definition["properties"].items():
            assert prop.get("description") or "$ref" in prop, (name, field)


def test_schema_validates_a_good_file(capsys: pytest.CaptureFixture[str]) -> None:
    schema = schema_from_cli(capsys)
    data = read_yaml(DATA / "full.yaml").data
    assert schema_errors(schema, data) == []


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(schedule={}),
    lambda d: d["accounts"][0].update(category="县"),
    lambda d: d["accounts"][0].update(appid="wx123"),
    lambda d: d["accounts"][0].update(secret="x"),
    lambda d: d["smtp"].update(security="tls"),
    lambda d: d.pop("accounts"),
    lambda d: d["policies"]["strict"]["rules"][0].update(working_days=0),
], ids=["unknown-top", "category", "appid", "account-extra", "smtp-security", "no-accounts", "rule-param"])
def test_schema_rejects_bad_files(capsys: pytest.CaptureFixture[str], mutate: Any) -> None:
    schema = schema_from_cli(capsys)
    data = read_yaml(DATA / "full.yaml").data
    mutate(data)
    assert schema_errors(schema, data)
