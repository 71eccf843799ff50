"""Factories named ``"package.module:attr"`` and read from their source without importing it.

``dann plugins``, ``dann run --help`` and shell completion need every component's name, options and
description, but not the component itself. Importing it costs torch's import (about 2 s here), so
:meth:`dann_core.specs.ComponentSpec.from_reference` reads the factory's signature and docstring from
its module's source with :mod:`ast`; :class:`LazyFactory` imports the module on the first call (or the
first attribute asked of it, such as a method's ``needs``).

What ``ast`` can read is what :func:`read_factory` accepts: an undecorated function, or a class
with its own ``__init__`` or one inherited from a base it can find (through ``from … import`` too),
whose defaults are literals (numbers, strings, tuples, None, ...) or module-level constants holding
literals. Anything else (a decorator, a dataclass, a default computed by a call, a module that cannot
be found) returns None and the caller imports the factory instead: slower, never wrong.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any

_KINDS = {
    "posonlyargs": inspect.Parameter.POSITIONAL_ONLY,
    "args": inspect.Parameter.POSITIONAL_OR_KEYWORD,
    "kwonlyargs": inspect.Parameter.KEYWORD_ONLY,
}


class LazyFactory:
    """A callable standing for ``module:attr`` until it is needed: calling it, or asking it any
    attribute but its signature and docstring, imports the module (once)."""

    def __init__(self, reference: str, signature: inspect.Signature, doc: str | None) -> None:
        self.__dict__.update(reference=reference, __signature__=signature, __doc__=doc, _target=None)

    @property
    def target(self) -> Any:
        """The imported factory."""
        if self._target is None:
            self.__dict__["_target"] = resolve(self.reference)
        return self._target

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # only reached for attributes not set above
        if name.startswith("_") or name == "reference":  # dunders, and an instance copy made without __init__
            raise AttributeError(name)
        return getattr(self.target, name)

    def __reduce__(self):  # copies and pickles (a sweep's job spec) rebuild it from the reference
        return LazyFactory, (self.reference, self.__signature__, self.__doc__)

    def __repr__(self) -> str:
        return f"<factory {self.reference} (not imported yet)>" if self._target is None else repr(self._target)


def resolve(reference: str) -> Any:
    """The object ``module:attr`` names, imported."""
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def read_factory(reference: str) -> tuple[inspect.Signature, str | None] | None:
    """The signature (annotations as source text, defaults as values) and docstring of the function
    or class ``module:attr`` from its source, or None when :mod:`ast` cannot tell them.

    Names are followed as Python would find them: a class without ``__init__`` (or docstring) takes
    its first base's, a default naming a module-level literal constant takes its value, and either
    may come through ``from … import`` (relative too) from another module found the same way."""
    module, _, attr = reference.partition(":")
    found = _definition(module, attr) if attr else None
    if found is None:
        return None
    node, where = found
    if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or not _plain(node):
        return None
    if isinstance(node, ast.FunctionDef):
        parameters = _parameters(node.args, 0, where)
        doc = ast.get_docstring(node)
    else:
        init, doc = _class_init_and_doc(node, where)
        if init is _OBJECT_INIT:  # no __init__ anywhere up to a class without bases: object's, no options
            parameters = []
        else:
            parameters = _parameters(init[0].args, 1, init[1]) if init is not None else None  # 1: ``self``
    if parameters is None:
        return None
    return inspect.Signature(parameters), inspect.cleandoc(doc) if doc else None


_DEPTH = 8  # imports and bases followed before giving up (a cycle, or a very deep hierarchy)
_OBJECT_INIT = ("object", "builtins")  # the chain of bases ends at object: ``__init__(self)``, no options


def _class_init_and_doc(node: ast.ClassDef, where: str, depth: int = 0):
    """((``__init__`` node, its module) or None, docstring or None), inherited from the first base where missing."""
    init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    found_init = (init, where) if init is not None else None
    doc = ast.get_docstring(node)
    bases = [b for b in node.bases if not (isinstance(b, ast.Name) and b.id == "object")]
    if found_init is None and not bases:
        found_init = _OBJECT_INIT
    if found_init is None and len(bases) > 1:  # another base's __init__ may come first in the MRO: import to know
        return None, None
    if (found_init is None or doc is None) and bases and depth < _DEPTH:
        base = bases[0]
        parent = _definition(where, base.id, depth + 1) if isinstance(base, ast.Name) else None
        if parent is None or not isinstance(parent[0], ast.ClassDef) or not _plain(parent[0]):
            return None, None
        parent_init, parent_doc = _class_init_and_doc(parent[0], parent[1], depth + 1)
        found_init, doc = found_init or parent_init, doc or parent_doc
    return found_init, doc


def _plain(node: ast.FunctionDef | ast.ClassDef) -> bool:
    """No decorator, metaclass or ``__new__``: what the source says is what Python builds (a
    dataclass's ``__init__``, a wrapper's signature or a metaclass's ``__call__`` exist only at run time)."""
    if node.decorator_list:
        return False
    if isinstance(node, ast.ClassDef):
        return not node.keywords and not any(isinstance(n, ast.FunctionDef) and n.name == "__new__" for n in node.body)
    return True


def _definition(module: str, name: str, depth: int = 0) -> tuple[ast.AST, str] | None:
    """The top-level function, class or assigned value named ``name`` in ``module`` (following
    ``from … import``), with the module it is defined in."""
    tree = _parse(module)
    if tree is None or depth > _DEPTH:
        return None
    for node in reversed(_top_level(tree.body)):  # the last binding wins, as at run time
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return node, module
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value, module
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name and node.value:
            return node.value, module
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    source = _imported_module(module, node)
                    return _definition(source, alias.name, depth + 1) if source else None
    return None


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The module's statements, with those of ``if TYPE_CHECKING:`` blocks in place (a package that
    imports its names lazily declares there where they come from)."""
    flat = []
    for node in body:
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING":
            flat.extend(node.body)
        else:
            flat.append(node)
    return flat


def _imported_module(module: str, node: ast.ImportFrom) -> str | None:
    if not node.level:
        return node.module
    package = module if _is_package(module) else module.rpartition(".")[0]
    try:
        return importlib.util.resolve_name("." * node.level + (node.module or ""), package)
    except (ImportError, ValueError):
        return None


def _parse(module: str) -> ast.Module | None:
    source = _source_file(module)
    if source is None:
        return None
    try:
        return ast.parse(source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None


def _source_file(module: str) -> Path | None:
    """The source of ``module``, found on disk below its top-level package: ``find_spec`` of a submodule
    would import its parent packages, and a package's ``__init__`` may import torch (``dann plugins``
    would then pay for it when a plugin's class inherits from ``dann_core.selection.Selector``)."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    origin = getattr(spec, "origin", None)
    found = Path(origin) if origin and origin.endswith(".py") else None
    locations = list(spec.submodule_search_locations or [])
    for part in rest:
        found = None
        for location in locations:
            package, plain = Path(location) / part / "__init__.py", Path(location) / f"{part}.py"
            if package.is_file():
                found, locations = package, [str(package.parent)]
                break
            if plain.is_file():
                found, locations = plain, []
                break
        if found is None:
            return _imported_source_file(module)  # a namespace package, a zip, a custom finder
    return found


def _imported_source_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)  # imports the parent packages
    except (ImportError, ValueError):
        return None
    origin = getattr(spec, "origin", None)
    return Path(origin) if origin and origin.endswith(".py") else None


def _is_package(module: str) -> bool:
    source = _source_file(module)
    return source is not None and source.name == "__init__.py"


def _literal(node: ast.AST, module: str, depth: int = 0) -> Any:
    """The value of a default: a literal, or a name bound to one at module level (ValueError otherwise)."""
    if isinstance(node, ast.Name) and depth < _DEPTH:
        found = _definition(module, node.id)
        if found is None or isinstance(found[0], (ast.FunctionDef, ast.ClassDef)):
            raise ValueError(node.id)
        return _literal(found[0], found[1], depth + 1)
    return ast.literal_eval(node)


def _parameters(args: ast.arguments, skip: int, module: str) -> list[inspect.Parameter] | None:
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    found = []
    for group in ("posonlyargs", "args"):
        for arg in getattr(args, group):
            found.append((arg, _KINDS[group], defaults[positional.index(arg)]))
    if args.vararg:
        found.append((args.vararg, inspect.Parameter.VAR_POSITIONAL, None))
    found += [(arg, _KINDS["kwonlyargs"], default) for arg, default in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        found.append((args.kwarg, inspect.Parameter.VAR_KEYWORD, None))
    parameters = []
    for arg, kind, default in found[skip:]:
        value = inspect.Parameter.empty
        if default is not None:
            try:
                value = _literal(default, module)
            except (ValueError, TypeError, SyntaxError, RecursionError):  # a call or an expression: known only after importing
                return None
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else inspect.Parameter.empty
        parameters.append(inspect.Parameter(arg.arg, kind, default=value, annotation=annotation))
    return parameters
