"""Every hook a dann plugin can implement: one signature and one docstring each, nothing else.

A plugin is a module (or object) with functions marked ``@dann_core.hookimpl`` whose names are
hook names below, exposed through the ``dann`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.dann]
    my_datasets = "my_package.dann_plugin"

The built-in datasets, backbones and discriminators are plugins wired exactly this way.

Factory context arguments (what :meth:`dann_core.plugins.Registry.build` passes besides options):

- dataset: ``factory(seed: int, **options) -> DomainData``; deterministic for a seed, offline.
- backbone: ``factory(input_shape: tuple[int, ...], **options) -> nn.Module`` with an ``out_features``
  attribute, ``forward(x) -> (N, out_features)`` and ``default_head(num_classes) -> nn.Module``.
- discriminator: ``factory(in_features: int, num_domains: int, num_classes: int, **options) ->
  nn.Module`` with a ``conditional`` attribute and ``forward(features, class_probs=None) -> logits``
  of shape (N, 1) when ``num_domains == 2`` (positive = target), else (N, num_domains).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from .specs import ComponentSpec

hookspec = pluggy.HookspecMarker("dann")
"""Marker for hook specifications (project name ``dann``, shared with :data:`dann_core.hookimpl`)."""


@hookspec
def register_datasets() -> list[ComponentSpec]:
    """Return the datasets this plugin provides.

    Each :class:`~dann_core.specs.ComponentSpec` has ``factory(seed: int, **options) -> DomainData``.
    The factory must be deterministic for a seed, must not download anything, and must raise a
    one-line error naming the option or file at fault.
    """


@hookspec
def register_backbones() -> list[ComponentSpec]:
    """Return the feature extractors this plugin provides.

    ``factory(input_shape: tuple[int, ...], **options)`` returns an ``nn.Module`` with an
    ``out_features: int`` attribute, ``forward(x) -> (N, out_features)`` and a method
    ``default_head(num_classes) -> nn.Module`` (the label predictor used with this backbone).
    """


@hookspec
def register_discriminators() -> list[ComponentSpec]:
    """Return the domain classifiers this plugin provides.

    ``factory(in_features: int, num_domains: int, num_classes: int, **options)`` returns an
    ``nn.Module`` with a ``conditional: bool`` attribute and ``forward(features, class_probs=None)``
    returning logits of shape (N, 1) for two domains (positive = target) or (N, num_domains).
    Conditional discriminators receive detached softmax class probabilities as ``class_probs``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add Click commands (or groups) to the ``dann`` command line: ``cli.add_command(...)``."""
