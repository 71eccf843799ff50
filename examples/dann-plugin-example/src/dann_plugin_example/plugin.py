"""The hooks of the example plugin: one component of each kind and a command.

Wired through ``[project.entry-points.dann] dann_plugin_example = "dann_plugin_example.plugin"``.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.specs import ComponentSpec

from .command import csv_summary
from .coral import Coral
from .csv_dataset import csv_table
from .resmlp import make_resmlp
from .spectral import make_spectral_mlp
from .text_logger import TextLogger

DANN_PLUGIN_API = "1.0"  # the dann plugin API this was written for (a newer major is refused)


@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("csv-table", csv_table, recommended={"backbone": "resmlp", "lr": 0.05, "steps": 600})]


@hookimpl
def register_backbones():
    return [ComponentSpec.from_factory("resmlp", make_resmlp)]


@hookimpl
def register_discriminators():
    return [ComponentSpec.from_factory("spectral-mlp", make_spectral_mlp)]


@hookimpl
def register_algorithms():
    return [ComponentSpec.from_factory("coral", Coral)]


@hookimpl
def register_loggers():
    return [ComponentSpec.from_factory("text", TextLogger)]


@hookimpl
def register_commands(cli):
    cli.add_command(csv_summary)
