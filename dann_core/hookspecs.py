"""Every hook a dann plugin can implement: one signature and one docstring each, nothing else.

A plugin is a module (or object) with functions marked ``@dann_core.hookimpl`` whose names are
hook names below, exposed through the ``dann`` entry-point group::

    # pyproject.toml of your package
    [project.entry-points.dann]
    my_datasets = "my_package.dann_plugin"

The built-in datasets, backbones, discriminators, methods and evaluation commands are plugins
wired exactly this way.

Factory context arguments (what :meth:`dann_core.plugins.Registry.build` passes besides options):

- dataset: ``factory(seed: int, **options) -> DomainData``; deterministic for a seed, offline.
- backbone: ``factory(input_shape: tuple[int, ...], **options) -> nn.Module`` with an ``out_features``
  attribute, ``forward(x) -> (N, out_features)`` and ``default_head(num_classes) -> nn.Module``.
- discriminator: ``factory(in_features: int, num_domains: int, **options) -> nn.Module`` with
  ``forward(features) -> logits`` of shape (N, 1) when ``num_domains == 2`` (positive = target),
  else (N, num_domains).
- method: ``factory(context: MethodContext, **options) -> Method`` (usually the
  :class:`~dann_core.methods.Method` subclass itself).
- selector: ``factory(**options) -> Selector`` (:mod:`dann_core.selection`).
- logger: ``factory(run_dir: pathlib.Path, **options) -> Logger`` (:mod:`dann_core.loggers`).
- launcher: ``factory(workers: int, **options) -> Launcher`` (see :func:`register_launchers`).

Any spec may carry ``recommended`` settings (``ComponentSpec.from_factory(..., recommended={...})``),
applied when the component is chosen, below --config, --set and explicit flags.
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
    one-line error naming the option or file at fault. A split's ``x`` is a float tensor, or a
    :class:`dann_core.rows.LazyRows` for inputs read on demand (streamed by DataLoader workers).
    """


@hookspec
def register_backbones() -> list[ComponentSpec]:
    """Return the feature extractors this plugin provides.

    ``factory(input_shape: tuple[int, ...], **options)`` returns an ``nn.Module`` with an
    ``out_features: int`` attribute, ``forward(x) -> (N, out_features)`` and a method
    ``default_head(num_classes) -> nn.Module`` (the label predictor used with this backbone).
    Optional, for backbones loaded from pretrained weights: ``pretrained_parameters()`` (the loaded
    parameters; trained at ``backbone_lr_mult`` × lr) and ``input_normalization`` (``"imagenet"`` or None).
    """


@hookspec
def register_discriminators() -> list[ComponentSpec]:
    """Return the domain classifiers this plugin provides.

    ``factory(in_features: int, num_domains: int, **options)`` returns an ``nn.Module`` whose
    ``forward(features)`` returns logits of shape (N, 1) for two domains (positive = target) or
    (N, num_domains). The method decides what features it sees (CDAN: a multilinear map).
    """


@hookspec
def register_methods() -> list[ComponentSpec]:
    """Return the training methods this plugin provides.

    ``factory(context: dann_core.methods.MethodContext, **options)`` returns a
    :class:`dann_core.methods.Method`: it declares the batches it needs each step (``needs``),
    implements ``objective(batch) -> (loss, metrics)`` (or all of ``update``), and adds to the
    checkpoint whatever modules and buffers it registers. The options are the keyword arguments
    with defaults (``lambda_`` is the option ``lambda``).
    """


@hookspec
def register_algorithms() -> list[ComponentSpec]:
    """Deprecated name of :func:`register_methods` (the CLI and the docs say "method").

    Still called, and its methods registered as if returned by ``register_methods``; a plugin that
    implements it is warned once when registered (``DeprecationWarning``; ``dann`` prints one line).
    """


@hookspec
def register_selectors() -> list[ComponentSpec]:
    """Return the model selectors this plugin provides.

    ``factory(**options)`` returns a :class:`dann_core.selection.Selector`: ``score(candidate)``
    rates a checkpoint from source data and unlabelled target inputs only (``candidate.data`` holds
    no target label), with ``higher_is_better``, ``per_eval`` (cheap enough for every evaluation)
    and ``across_runs`` (comparable between runs, for ``dann sweep``).
    """


@hookspec
def register_loggers() -> list[ComponentSpec]:
    """Return the metric loggers this plugin provides (chosen with ``dann run --log NAME,NAME``).

    ``factory(run_dir: pathlib.Path, **options)`` returns a :class:`dann_core.loggers.Logger`:
    ``log(record)`` gets one dict per evaluation (step, the method's metrics, accuracies, the
    selectors' scores under ``"selectors"``), ``resume(step)`` drops what was logged after ``step``
    when a killed run continues, ``close()`` ends the run. The factory must not write anything
    (the run directory is checked for being new after it is built).
    """


@hookspec
def register_launchers() -> list[ComponentSpec]:
    """Return the engines that run the jobs of ``dann sweep`` / ``dann table`` (``--launcher NAME``).

    ``factory(workers: int, **options)`` returns an object with ``launch(tasks, report) -> None``.
    Each task has ``id``, ``job_dir``, ``argv(threads)`` (a command line that runs the job in a fresh
    process) and ``run(threads)`` (the same, as a picklable call). ``launch`` runs every task at most
    once, up to ``workers`` at a time, calls ``report(task, "started")`` and ``report(task, "ended")``
    from the calling thread or any other, and returns when all have ended. A job's outcome is read
    from its directory afterwards, so a task that dies (kill -9, a lost node) needs no special care:
    it is seen as interrupted and resumed by the next launch.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add Click commands (or groups) to the ``dann`` command line: ``cli.add_command(...)``."""
