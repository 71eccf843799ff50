"""The hooks of the example plugin: one component of each kind and a command.

Wired through ``[project.entry-points.dann] dann_plugin_example = "dann_plugin_example.plugin"``.
Each hook imports its component's module itself: importing this module stays cheap (no torch), so
``dann --help`` and shell completion do not pay for components they never build.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .command import csv_summary

DANN_PLUGIN_API = "1.0"  # the dann plugin API this was written for (a newer major is refused)


@hookimpl
def register_datasets():
    from .csv_dataset import csv_table
    return [ComponentSpec.from_factory("csv-table", csv_table, recommended={"backbone": "resmlp", "lr": 0.05, "steps": 600})]


@hookimpl
def register_backbones():
    from .resmlp import make_resmlp
    return [ComponentSpec.from_factory("resmlp", make_resmlp)]


@hookimpl
def register_discriminators():
    from .spectral import make_spectral_mlp
    return [ComponentSpec.from_factory("spectral-mlp", make_spectral_mlp)]


@hookimpl
def register_algorithms():
    from .coral import Coral
    return [ComponentSpec.from_factory("coral", Coral)]


@hookimpl
def register_loggers():
    from .text_logger import TextLogger
    return [ComponentSpec.from_factory("text", TextLogger)]


@hookimpl
def register_commands(cli):
    cli.add_command(csv_summary)
