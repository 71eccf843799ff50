"""A run directory's config.json: the resolved config and its provenance, written and read back."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import files
from .schema import RunConfig
from .sources import load_file


PROVENANCE_KEY = "provenance"
"""config.json's record of where each component came from and which recommendations applied;
informational (ignored when the config is read back)."""


def save(config: RunConfig, path: str | Path, provenance: dict[str, Any] | None = None) -> None:
    """Write the resolved config as JSON (the run directory's config.json), with its provenance.

    The recommendations a user setting overrode (``config.overridden``, from :func:`resolve`) are
    recorded under ``provenance["overridden"]``."""
    data = config.to_dict()
    overridden = getattr(config, "overridden", None)  # set by resolve(): recommendations a user setting replaced
    if overridden:
        provenance = {**(provenance or {}), "overridden": overridden}
    if provenance:
        data[PROVENANCE_KEY] = provenance
    files.write_json(data, path)


def load(path: str | Path) -> RunConfig:
    """Read a config.json written by :func:`save`."""
    values = load_file(path)
    values.pop(PROVENANCE_KEY, None)
    return RunConfig.from_dict(values, f"in {path}")


def load_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance recorded in a config.json (empty for runs written before it was recorded)."""
    return load_file(path).get(PROVENANCE_KEY) or {}
