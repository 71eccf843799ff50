"""Components named by reference ("module:attr"): read from the source, imported when built."""
from __future__ import annotations

import copy
import importlib
import pickle
import sys
import textwrap

import pytest

from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.references import LazyFactory, read_factory
from dann_core.specs import ComponentSpec


def _first_party_references():
    registry = get_registry(get_plugin_manager(autoload=False))
    for kind in ("dataset", "backbone", "discriminator", "method", "selector", "logger", "launcher"):
        for spec in registry.of_kind(kind).values():
            yield pytest.param(kind, spec, id=f"{kind}-{spec.name}")


@pytest.mark.parametrize("kind, spec", list(_first_party_references()))
def test_every_first_party_component_is_read_without_import_and_matches_its_import(kind, spec):
    """The options, defaults, path options and description read from the source are what
    inspecting the imported factory gives (ComponentSpec.from_factory)."""
    assert isinstance(spec.factory, LazyFactory), f"{kind} {spec.name} was imported to register it"
    module, _, attr = spec.factory.reference.partition(":")
    eager = ComponentSpec.from_factory(spec.name, getattr(importlib.import_module(module), attr))
    own_options = {k: v for k, v in spec.options.items() if k in eager.options}  # composable() adds the regularisers'
    assert own_options == eager.options and list(own_options) == list(eager.options)
    assert (spec.description, spec.path_options) == (eager.description, eager.path_options)


def _module(tmp_path, monkeypatch, name: str, source: str) -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_a_class_inherits_init_and_docstring_through_imports_and_constants(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "refbase", '''
        from pathlib import Path
        WIDTHS = (8, 16)
        class Base:
            """A base. More text."""
            def __init__(self, context, width: int = 3, sizes: tuple = WIDTHS, data: Path | None = None, *, k: float = -1.5, **rest):
                pass
    ''')
    _module(tmp_path, monkeypatch, "refchild", '''
        from refbase import Base as Parent
        class Child(Parent):
            pass
    ''')
    spec = ComponentSpec.from_reference("child", "refchild:Child")
    assert isinstance(spec.factory, LazyFactory) and "refchild" not in sys.modules
    assert spec.options == {"width": 3, "sizes": (8, 16), "data": None, "k": -1.5}
    assert spec.path_options == {"data"} and spec.description == "A base."
    assert spec.factory(context=None).__class__.__name__ == "Child" and "refchild" in sys.modules


@pytest.mark.parametrize("source", [
    "import math\ndef make(width: float = math.pi):\n    '''Computed default.'''\n",
    "import functools\n@functools.lru_cache\ndef make(width: int = 3):\n    '''Decorated.'''\n",
    "from dataclasses import dataclass\n@dataclass\nclass make:\n    '''A dataclass.'''\n    width: int = 3\n",
    "make = lambda width=3: width\n",
])
def test_what_the_source_cannot_tell_is_imported_instead(tmp_path, monkeypatch, source):
    name = _module(tmp_path, monkeypatch, f"refodd{abs(hash(source))}", source)
    assert read_factory(f"{name}:make") is None
    spec = ComponentSpec.from_reference("odd", f"{name}:make")
    assert not isinstance(spec.factory, LazyFactory) and name in sys.modules
    assert spec == ComponentSpec.from_factory("odd", importlib.import_module(name).make)


def test_a_reference_to_nothing_fails_when_registered_naming_it(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "refmissing", "def other():\n    pass\n")
    with pytest.raises(AttributeError, match="make"):
        ComponentSpec.from_reference("x", "refmissing:make")
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        ComponentSpec.from_reference("x", "no_such_module_here:make")


def test_a_lazy_factory_copies_pickles_and_forwards_attributes(tmp_path, monkeypatch):
    _module(tmp_path, monkeypatch, "reflazy", '''
        class Method:
            """A method."""
            needs = ("source", "target")
            def __init__(self, context, weight: float = 1.0):
                self.weight = weight
    ''')
    factory = ComponentSpec.from_reference("m", "reflazy:Method").factory
    assert "not imported yet" in repr(factory) and "reflazy" not in sys.modules
    for twin in (copy.copy(factory), copy.deepcopy(factory), pickle.loads(pickle.dumps(factory))):
        assert twin.reference == "reflazy:Method" and twin.__doc__ == "A method."
    assert factory.needs == ("source", "target") and "reflazy" in sys.modules
    assert factory(context=None, weight=2.0).weight == 2.0


def test_a_class_inheriting_object_init_through_a_package_is_read_without_importing_anything(tmp_path, monkeypatch):
    # the base lives in a submodule of a package whose __init__ fails on import (as one importing torch
    # would cost): finding the source must not run it, and no __init__ up to object means no options
    package = tmp_path / "heavy_base"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\nfrom .contract import Base\n")
    (package / "contract.py").write_text('class Base:\n    """A base without __init__."""\n')
    name = _module(tmp_path, monkeypatch, "light_plugin", """
        from heavy_base.contract import Base

        class Mine(Base):
            pass
    """)
    signature, doc = read_factory(f"{name}:Mine")
    assert list(signature.parameters) == [] and doc == "A base without __init__."
    assert "heavy_base" not in sys.modules


def test_a_class_with_two_bases_is_not_guessed(tmp_path, monkeypatch):
    name = _module(tmp_path, monkeypatch, "two_bases", """
        class A:
            pass

        class B:
            def __init__(self, width: int = 3):
                self.width = width

        class Both(A, B):
            pass
    """)
    assert read_factory(f"{name}:Both") is None  # B's __init__ comes first in the MRO: the spec imports it
    assert ComponentSpec.from_reference("both", f"{name}:Both").options == {"width": 3}
