"""The example needs no framework internals: every name it imports from dann is public."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SOURCES = sorted((HERE.parent / "src" / "dann_plugin_example").rglob("*.py")) + sorted(HERE.glob("*.py"))


def dann_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of every import from dann_core in ``path`` (name "" for ``import dann_core.x``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "dann_core":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "") for alias in node.names if alias.name.split(".")[0] == "dann_core"]
    return found


def private_parts(module: str, name: str) -> list[str]:
    """The parts of ``from module import name`` that are underscore names (a module segment after dann_core, or the
    name); a ``*`` counts too, since what it imports cannot be checked here."""
    return [part for part in module.split(".")[1:] + [name] if part.startswith("_") or part == "*"]


def test_the_check_finds_private_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from dann_core import hookimpl\nfrom dann_core._C import thing\nimport dann_core.train._impl\n"
                      "from dann_core.methods import (\n    Method,\n    _helper,\n)\nfrom dann_core.x import *\n")
    found = {(line, module, name): private_parts(module, name) for line, module, name in dann_imports(sample)}
    assert found == {(1, "dann_core", "hookimpl"): [], (2, "dann_core._C", "thing"): ["_C"], (3, "dann_core.train._impl", ""): ["_impl"],
                     (4, "dann_core.methods", "Method"): [], (4, "dann_core.methods", "_helper"): ["_helper"], (8, "dann_core.x", "*"): ["*"]}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_imports_only_public_dann_names(path):
    private = [f"{path.name}:{line}: from {module} import {name}" for line, module, name in dann_imports(path) if private_parts(module, name)]
    assert not private, "underscore names imported from dann_core:\n" + "\n".join(private)


def test_the_package_does_import_from_dann():
    assert len(SOURCES) > 10 and sum(len(dann_imports(path)) for path in SOURCES) > 15
