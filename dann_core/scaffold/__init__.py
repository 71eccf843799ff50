"""``dann new plugin NAME``: a ready plugin package whose tests pass as generated, once installed.

The files come from the ``plugin/`` templates beside this module (``string.Template``: ``$module``,
``$prefix``, ...), one example of each component kind, tests using :mod:`dann_core.testing`.
"""
from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).parent / "plugin"
NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*$")
LAYOUT = {  # template → path in the package ($module is substituted)
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "init.py.tmpl": "src/$module/__init__.py",
    "plugin.py.tmpl": "src/$module/plugin.py",
    "components.py.tmpl": "src/$module/components.py",
    "test_plugin.py.tmpl": "tests/test_plugin.py",
}


def names(name: str) -> dict[str, str]:
    """The template values of plugin ``name``: distribution, module (import name), prefix of component names."""
    from .. import PLUGIN_API_VERSION, __version__

    if not NAME_PATTERN.match(name):
        raise ValueError(f"plugin name '{name}' must be letters and digits, words joined by - or _ (e.g. dann-tabular)")
    module = name.lower().replace("-", "_")
    prefix = re.sub(r"^dann[-_]", "", name.lower()).replace("_", "-")
    return {"distribution": name, "module": module, "prefix": prefix, "api_version": PLUGIN_API_VERSION, "dann_version": __version__}


def write_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the package of plugin ``name`` into ``directory/name`` (missing or empty); returns that folder."""
    values = names(name)
    root = Path(directory) / name
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(f"{root} already exists and is not an empty folder; choose another NAME or --dir")
    for template, target in LAYOUT.items():
        path = root / Template(target).substitute(values)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template((TEMPLATES / template).read_text()).substitute(values))
    return root
