"""The layers hold, function-level imports included: no import cycle anywhere in the house (dann_core and
every first-party plugin package); dann_core never imports a plugin package; a plugin package imports
dann_core and itself, never another plugin package (what two need moves down into dann_core, or into
the one that owns it). Inside dann_core the layers run ops → specs/options → plugins → config →
model/methods → train → cli (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path
from tests.paths import ROOT

PACKAGE = ROOT / "dann_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """dann_core modules ``path`` imports anywhere in its body (``from x import y`` counts x.y when
    that is a module, else x)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = [p for p in PACKAGE.rglob("*.py")]
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_dann_core_has_no_import_cycle():
    graph = import_graph()
    found = cycles(graph)
    described = [" ".join(f"{a}->{b}" for a in c for b in sorted(graph[a]) if b in c) for c in found]
    assert not found, "import cycles: " + " | ".join(described)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
    package = tmp_path / "dann_core"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from .sub import b\n")
    (package / "sub" / "b.py").write_text("from .. import a\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", package)
    assert cycles(import_graph()) == [["dann_core.a", "dann_core.sub.b"]]


def house_packages(root: Path = ROOT) -> dict[str, Path]:
    """dann_core and the first-party plugin packages (plugins/dann_*), by import name."""
    found = {"dann_core": root / "dann_core"}
    found.update({p.name: p for p in sorted((root / "plugins").glob("dann_*")) if (p / "__init__.py").exists()})
    return found


def house_imports(packages: dict[str, Path]) -> list[tuple[str, int, str, str]]:
    """(file, line, importing package, imported module) for every import of one house package by another,
    anywhere in a file's body (relative imports stay inside their package, so only absolute ones count)."""
    found = []
    for package, path in packages.items():
        for file in sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    targets = [node.module]
                else:
                    continue
                found += [(file.relative_to(path.parent).as_posix(), node.lineno, package, t)
                          for t in targets if t.split(".")[0] in packages and t.split(".")[0] != package]
    return found


def backward_imports(packages: dict[str, Path]) -> list[str]:
    """The imports that break the layer rule, as ``file:line: package imports module``."""
    return [f"{file}:{line}: {package} imports {target}" for file, line, package, target in house_imports(packages)
            if package == "dann_core" or target.split(".")[0] != "dann_core"]


def test_no_import_points_up_or_across_the_plugin_packages():
    assert backward_imports(house_packages()) == []


def test_no_plugin_package_has_an_import_cycle(monkeypatch):
    for name, path in house_packages().items():
        if name == "dann_core":
            continue
        monkeypatch.setattr(__import__(__name__), "PACKAGE", path)
        found = cycles(import_graph())
        assert not found, f"import cycles in {name}: {found}"


def test_the_layer_check_fails_on_a_planted_backward_import(tmp_path):
    for name, body in (("dann_core", "def f():\n    from dann_selectors.simple import Last\n"),
                       ("dann_selectors", "import dann_evaluation.report\n"), ("dann_evaluation", "from dann_core import hookimpl\n")):
        root = tmp_path / ("plugins" if name != "dann_core" else "") / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "__init__.py").write_text(body)
    (tmp_path / "plugins" / "dann_selectors" / "simple.py").write_text("")
    assert backward_imports(house_packages(tmp_path)) == [
        "dann_core/__init__.py:2: dann_core imports dann_selectors.simple",
        "dann_selectors/__init__.py:1: dann_selectors imports dann_evaluation.report",
    ]  # dann_evaluation importing dann_core is the rule, not a breach
