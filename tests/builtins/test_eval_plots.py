"""dann plot: every figure is a valid, non-blank PNG; the boundary plot is skipped with a notice
for inputs that are not 2-D."""
from __future__ import annotations

import dataclasses

import pytest

from dann_evaluation.plots import plot_curves, plot_run
from dann_core.train import train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png_not_blank(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0.02  # not a single colour
    assert (pixels < 0.5).mean() > 0.001  # some dark ink (axes, points, text)


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    from dann_core.config import RunConfig

    from conftest import TINY_SETTINGS

    run_dir = tmp_path_factory.mktemp("plots") / "run"
    train(RunConfig(**TINY_SETTINGS), run_dir=run_dir)
    return run_dir


def test_moons_run_gets_every_figure(moons_run):
    notices = []
    paths = plot_run(moons_run, max_points=80, notice=notices.append)
    names = sorted(p.name for p in paths)
    assert names == ["boundary.png", "curves.png", "embedding_pca.png", "embedding_tsne.png"]
    assert all(p.parent == moons_run / "plots" for p in paths)
    for path in paths:
        assert_png_not_blank(path)
    assert notices == []


def test_baseline_run_is_drawn_before_adaptation(moons_run, tmp_path):
    from dann_core.config import load

    base_dir = tmp_path / "source-only"
    train(dataclasses.replace(load(moons_run / "config.json"), method="source-only", method_options={}), run_dir=base_dir)
    paths = plot_run(moons_run, out=tmp_path / "figs", tsne=False, baseline=base_dir, max_points=60, notice=None)
    assert sorted(p.name for p in paths) == ["boundary.png", "curves.png", "embedding_pca.png"]


def test_image_dataset_skips_the_boundary_with_a_notice(tmp_path, tiny_config):
    cfg = dataclasses.replace(
        tiny_config, dataset="digits-blend", backbone="lenet", steps=4, eval_every=2, batch_size=8, lr=0.01,
        dataset_options={"n_images": 48, "n_val_images": 16, "n_test_images": 16},
    )
    run_dir = tmp_path / "digits"
    train(cfg, run_dir=run_dir)
    notices = []
    paths = plot_run(run_dir, max_points=60, notice=notices.append)
    assert sorted(p.name for p in paths) == ["curves.png", "embedding_pca.png", "embedding_tsne.png"]
    for path in paths:
        assert_png_not_blank(path)
    assert len(notices) == 1 and "skipped boundary.png" in notices[0] and "(3, 28, 28)" in notices[0]


def test_curves_need_records(tmp_path):
    with pytest.raises(ValueError, match="no metrics"):
        plot_curves([], tmp_path / "c.png")
    path = plot_curves([{"step": 1, "label_loss": 0.5}, {"step": 2, "label_loss": 0.4}], tmp_path / "c.png")
    assert_png_not_blank(path)


def test_plot_without_matplotlib_is_one_line_naming_the_extra(moons_run, monkeypatch):
    import sys

    from click.testing import CliRunner

    from dann_core.cli import build_cli

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # an import of it now raises ImportError
    result = CliRunner().invoke(build_cli(), ["plot", str(moons_run)])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1] == "Error: dann plot needs matplotlib, which is not installed: pip install 'dann[eval]'"
