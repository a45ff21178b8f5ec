"""The shape of the code, checked: which package may import which, and typed seams.

monitor/ is the floor (config, clock, store, clients, metrics, scoring); probes/
and dashboards/ stand on it and never on each other; the emulator is the outside
world's stand-in and may borrow only the clock; wxmon/ (cli, daemon, demo, jobs,
reports, web) wires them together and nothing below imports it; console/ (the web
console) stands on monitor/ and dashboards/ and only wxmon/ imports it. Imports are read from
the source with ``ast`` (function-level imports and ``importlib.import_module``
calls with a literal name included), so a lazy import cannot slip through.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("wxmon", "monitor", "probes", "dashboards", "emulator", "console")

# package -> the first-party modules it may import (a name allows itself and its submodules)
ALLOWED: dict[str, tuple[str, ...]] = {
    "monitor": ("monitor",),
    "probes": ("monitor", "probes"),
    "dashboards": ("monitor", "dashboards"),
    "emulator": ("emulator", "monitor.clock"),
    # the web console reads through metrics/scoring and the dashboards' documents; never probes, never the emulator
    "console": ("monitor", "dashboards", "console"),
    "wxmon": PACKAGES,
}
# parameters that must name their real type: the seams every layer passes around
TYPED_PARAMETERS = {"ctx", "store", "config"}


def _sources(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in ``tree``, wherever it sits."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:  # `from monitor import store` imports monitor.store
                yield node.lineno, f"{node.module}.{alias.name}"
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, node.args[0].value


def _first_party(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def _allowed(module: str, allowed: tuple[str, ...]) -> bool:
    return any(module == a or module.startswith(a + ".") for a in allowed)


def layer_violations(package: str) -> list[str]:
    allowed = ALLOWED[package]
    found = []
    for path in _sources(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported_modules(tree):
            if _first_party(module) and not _allowed(module, allowed):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {module}")
    return found


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "wxmon"])
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    assert layer_violations(package) == []


def test_the_check_catches_a_lazy_import_of_a_caller(tmp_path: Path) -> None:
    source = (
        "import json\n"
        "def f():\n"
        "    from probes.columns import run_round\n"
        "    import importlib\n"
        "    return importlib.import_module('dashboards.charts')\n"
        "from monitor import clock\n"
    )
    modules = {m for _, m in imported_modules(ast.parse(source))}
    refused = {m for m in modules if _first_party(m) and not _allowed(m, ALLOWED["monitor"])}
    assert {"probes.columns", "dashboards.charts"} <= refused
    assert "monitor.clock" in modules and "monitor.clock" not in refused


def _any_typed(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation).strip("'\"")
    return text in {"Any", "typing.Any"} or text.replace(" ", "") in {"Any|None", "None|Any", "Optional[Any]"}


def untyped_parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    args = node.args
    return [arg for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs)
            if arg.arg in TYPED_PARAMETERS and (arg.annotation is None or _any_typed(arg.annotation))]


def untyped_seams(package: str) -> list[str]:
    found = []
    for path in _sources(package):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found += [f"{path.relative_to(ROOT)}:{arg.lineno}: {node.name}({arg.arg}) is not typed"
                          for arg in untyped_parameters(node)]
    return found


def test_the_seam_check_catches_an_any_typed_context() -> None:
    tree = ast.parse("async def run_round(ctx: Any, accounts, store: 'Any | None' = None, *, config=None): ...")
    node = tree.body[0]
    assert isinstance(node, ast.AsyncFunctionDef)
    assert [a.arg for a in untyped_parameters(node)] == ["ctx", "store", "config"]


@pytest.mark.parametrize("package", PACKAGES)
def test_context_store_and_config_parameters_name_their_type(package: str) -> None:
    assert untyped_seams(package) == []
