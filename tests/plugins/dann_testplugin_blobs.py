"""A test plugin: one dataset ("test-blobs") and one command ("blobs-hello")."""
from __future__ import annotations

import click
import torch

from dann_core import hookimpl
from dann_core.specs import ComponentSpec, DomainData, Split


def make_blobs(seed: int, n: int = 8, shift: float = 1.0) -> DomainData:
    """Gaussian blobs; the target is shifted by ``shift``.

    Options:
      n: points per split.
      shift: target offset.
    """
    generator = torch.Generator().manual_seed(seed)

    def draw(offset: float) -> Split:
        return Split(torch.randn(n, 2, generator=generator) + offset, torch.arange(n) % 2)

    return DomainData(draw(0.0), draw(0.0), draw(shift), draw(shift), num_classes=2, input_shape=(2,))


@hookimpl
def register_datasets():
    return [ComponentSpec.from_factory("test-blobs", make_blobs)]


@hookimpl
def register_commands(cli):
    @cli.command("blobs-hello")
    def hello():
        click.echo("hello from blobs")
