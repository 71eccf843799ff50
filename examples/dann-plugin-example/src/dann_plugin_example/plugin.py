"""The hooks of the example plugin: one component of each kind (two methods) and a command.

Wired through ``[project.entry-points.dann] dann_plugin_example = "dann_plugin_example.plugin"``.
Each component is named by reference (``"module:attr"``): dann reads its options and description
from the source and imports the module only when the component is built, so ``dann --help``,
``dann plugins`` and shell completion never import torch for it.
"""
from __future__ import annotations

from dann_core import hookimpl
from dann_core.methods import composable
from dann_core.specs import ComponentSpec

from .command import csv_summary

DANN_PLUGIN_API = "1.1"  # the dann plugin API this was written for (a newer major is refused)


@hookimpl
def register_datasets():
    return [ComponentSpec.from_reference(
        "csv-table", "dann_plugin_example.csv_dataset:csv_table", recommended={"backbone": "resmlp", "lr": 0.05, "steps": 600},
    )]


@hookimpl
def register_backbones():
    return [ComponentSpec.from_reference("resmlp", "dann_plugin_example.resmlp:make_resmlp")]


@hookimpl
def register_discriminators():
    return [ComponentSpec.from_reference("spectral-mlp", "dann_plugin_example.spectral:make_spectral_mlp")]


@hookimpl
def register_methods():
    return [
        ComponentSpec.from_reference("coral", "dann_plugin_example.coral:Coral"),
        # vada takes plus and **regularizer_options: composable lets it take every regulariser (plus=mcc),
        # each regulariser's NAME_OPTION accepted only while that regulariser is in plus
        composable(ComponentSpec.from_reference("vada", "dann_plugin_example.vada:VADA")),
    ]


@hookimpl
def register_selectors():
    return [ComponentSpec.from_reference("agreement", "dann_plugin_example.agreement:Agreement")]


@hookimpl
def register_loggers():
    return [ComponentSpec.from_reference("text", "dann_plugin_example.text_logger:TextLogger")]


@hookimpl
def register_commands(cli):
    cli.add_command(csv_summary)
