"""image-folder on an Office-31-shaped synthetic tree: lazy reads, modes, transforms, cache, multi-source, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from dann_core import rows as lazy
from dann_core.cli import build_cli
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.testing import check_dataset
from dann_datasets import _image_decode

DOMAINS = ("amazon", "dslr", "webcam")
CLASSES = [f"class_{index:02d}" for index in range(31)]
MODES = ("jpeg", "gray", "rgba", "palette", "gray16", "cmyk")


def write_image(path_stem, mode: str, rng: np.random.Generator):
    """One small image of ``mode`` at ``path_stem`` + its suffix; returns the path."""
    height, width = int(rng.integers(24, 48)), int(rng.integers(24, 48))
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if mode == "jpeg":
        path = path_stem.with_suffix(".jpg")
        Image.fromarray(rgb).save(path, quality=90)
    elif mode == "gray":
        path = path_stem.with_suffix(".png")
        Image.fromarray(rgb[..., 0]).save(path)
    elif mode == "rgba":
        path = path_stem.with_suffix(".png")
        Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (height, width), dtype=np.uint8)])).save(path)
    elif mode == "palette":
        path = path_stem.with_suffix(".png")
        Image.fromarray(rgb).quantize(8).save(path, transparency=0)
    elif mode == "gray16":
        path = path_stem.with_suffix(".png")
        Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.uint16)).save(path)
    else:
        path = path_stem.with_suffix(".jpg")
        Image.fromarray(rgb).convert("CMYK").save(path)
    return path


def write_office_tree(root, per_class=2, domains=DOMAINS, classes=CLASSES, seed=0):
    """``root/<domain>/images/<class>/<n>.<ext>``: the Office-31 layout, every mode represented."""
    rng = np.random.default_rng(seed)
    count = 0
    for domain in domains:
        for name in classes:
            folder = root / domain / "images" / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                write_image(folder / str(index), MODES[count % len(MODES)], rng)
                count += 1
    return root


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    return write_office_tree(tmp_path_factory.mktemp("office31"))


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def images(office, domain):
    return str(office / domain / "images")


def build(registry, seed=0, **options):
    options.setdefault("workers", 0)
    options.setdefault("size", 16)
    return registry.build("dataset", "image-folder", options, seed=seed)


def office_data(registry, office, **options):
    return build(registry, source=images(office, "amazon"), target=images(office, "webcam"), **options)


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail any image decode (building must only list and check files)."""
    def refuse(self, path, seed=None):
        raise AssertionError(f"decoded {path} while building")

    monkeypatch.setattr(_image_decode.Transform, "read", refuse)


def one_image_tree(root, pixels_or_image, name="x.png", save_kwargs=None):
    """A two-class tree whose class 'a' holds one given image and 'b' a plain one."""
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
    image = pixels_or_image if isinstance(pixels_or_image, Image.Image) else Image.fromarray(pixels_or_image)
    image.save(root / "a" / name, **(save_kwargs or {}))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "b" / "y.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "b" / "z.png")
    return str(root)


def first_row(registry, root, **options):
    """The evaluation-transform uint8 row of class 'a''s image in ``root`` (source = target = root)."""
    data = build(registry, source=root, target=root, augment="none", **options)
    target = data.target_train.x
    return target.read(int(torch.nonzero(data.target_train.y == 0)[0]))


# ---------------------------------------------------------------------------------------- building


def test_office_tree_builds_lazily_with_labels_and_shapes(registry, office, no_decoding):
    data = office_data(registry, office, size=32)
    assert data.num_classes == 31 and data.class_names == CLASSES and data.input_shape == (3, 32, 32)
    assert len(data.source_train) + len(data.source_val) == 62 and len(data.target_train) == 62
    assert data.target_test.x is data.target_train.x  # the target is listed once, not held twice
    for split in (data.source_train, data.source_val, data.target_train):
        assert lazy.is_lazy(split.x) and split.x.shape == (len(split), 3, 32, 32) and split.y.dtype == torch.int64
    assert data.domains is None and data.num_source_domains == 1


def test_every_mode_reads_to_uint8_rgb_rows(registry, office):
    data = office_data(registry, office, size=24, augment="none")
    rows = data.target_train.x
    for index in range(len(MODES)):
        row = rows.read(index)
        assert row.dtype == torch.uint8 and row.shape == (3, 24, 24)


def test_contract_check_passes(office):
    check_dataset("image-folder", {"source": images(office, "amazon"), "target": images(office, "dslr"), "size": 16, "workers": 0})


# ------------------------------------------------------------------------------------------ modes


def test_16_bit_gray_is_scaled_not_clipped(registry, tmp_path):
    root = one_image_tree(tmp_path / "t", np.full((10, 10), 32896, np.uint16))
    row = first_row(registry, root, size=8, resize=8)
    assert int(row.min()) == int(row.max()) == 128


def test_transparency_is_composited_on_the_background(registry, tmp_path):
    clear_red = np.zeros((10, 10, 4), np.uint8)
    clear_red[..., 0] = 255
    root = one_image_tree(tmp_path / "rgba", clear_red)
    assert int(first_row(registry, root, size=8, resize=8).min()) == 255  # white by default
    assert int(first_row(registry, root, size=8, resize=8, background="black").max()) == 0
    assert first_row(registry, root, size=8, resize=8, background="10,20,30")[:, 0, 0].tolist() == [10, 20, 30]
    palette = Image.fromarray(np.zeros((10, 10, 3), np.uint8)).quantize(2)
    root = one_image_tree(tmp_path / "palette", palette, save_kwargs={"transparency": 0})
    assert int(first_row(registry, root, size=8, resize=8).min()) == 255
    with pytest.raises(ValueError, match="background must be white, black or r,g,b"):
        first_row(registry, root, size=8, background="purple")


def test_cmyk_and_gray_become_rgb(registry, tmp_path):
    gray = one_image_tree(tmp_path / "gray", np.full((10, 10), 100, np.uint8))
    assert first_row(registry, gray, size=8, resize=8).unique().tolist() == [100]
    cmyk = Image.fromarray(np.full((16, 16, 3), (200, 40, 40), np.uint8)).convert("CMYK")
    row = first_row(registry, one_image_tree(tmp_path / "cmyk", cmyk, name="x.jpg"), size=8, resize=8).float()
    assert row[0].mean() > 150 and row[1].mean() < 90 and row[2].mean() < 90


# ------------------------------------------------------------------------------------- transforms


def test_reads_are_deterministic_per_seed(registry, office):
    rows = office_data(registry, office, size=16).source_train.x
    assert torch.equal(rows.read(3, 11), rows.read(3, 11))
    assert any(not torch.equal(rows.read(3, 11), rows.read(3, seed)) for seed in range(12, 16))
    assert torch.equal(rows.read(3), rows.read(3)) and torch.equal(rows.read(3), rows.read(3, None))
    plain = office_data(registry, office, size=16, augment="none").source_train.x
    assert torch.equal(plain.read(3, 11), plain.read(3))  # no augmentation: training reads are evaluation reads


def test_resize_then_centre_crop_and_resize_default(registry, tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, 6:34] = 255  # a 40×20 image, white but for 6 columns at each end
    root = one_image_tree(tmp_path / "t", pixels)
    assert int(first_row(registry, root, size=10, resize=10).min()) == 255  # only the white middle survives the crop
    assert build(registry, source=root, target=root, size=224).source_train.x.rows.transform.resize == 256
    with pytest.raises(ValueError, match=r"resize \(8\) must be at least size \(16\)"):
        build(registry, source=root, target=root, size=16, resize=8)


def test_jpeg_draft_decodes_large_images_at_reduced_scale(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(np.full((800, 800, 3), 90, np.uint8)).save(path)
    transform = _image_decode.Transform(size=32, resize=36)
    with Image.open(path) as image:
        box = _image_decode._draft(image, transform._centre_box(800, 800), 32)
        assert image.size == (100, 100) and box[2] - box[0] == pytest.approx(32 / 36 * 800 / 8)  # 1/8: still ≥ 32 px
    assert transform.read(path).float().mean() == pytest.approx(90, abs=2)


# ----------------------------------------------------------------------------------- normalisation


def test_normalisation_modes_share_one_normaliser(registry, office):
    data = office_data(registry, office, size=16, augment="none", normalize="dataset")
    normalizer = data.source_train.x.rows.normalizer
    assert data.target_test.x.normalizer is normalizer and data.source_val.x.rows.normalizer is normalizer
    x = data.source_train.x[:]
    assert abs(float(x.mean())) < 0.3 and 0.7 < float(x.std()) < 1.3
    raw = data.target_train.x.read(0)[None]
    none = office_data(registry, office, size=16, augment="none", normalize="none").target_train.x
    assert torch.allclose(none.finish(raw), raw.float() / 255)
    imagenet = office_data(registry, office, size=16, augment="none", normalize="imagenet").target_train.x
    assert torch.allclose(imagenet.finish(raw)[0, 0], (raw[0, 0].float() / 255 - 0.485) / 0.229)
    auto = office_data(registry, office, size=16, augment="none").target_train.x
    auto.adopt_normalization("imagenet")
    assert torch.allclose(auto.finish(raw), imagenet.finish(raw))
    with pytest.raises(ValueError, match="normalize must be one of auto, dataset, imagenet, none"):
        office_data(registry, office, normalize="z-score")


# ------------------------------------------------------------------------------------------ cache


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_cache_gives_the_rows_of_no_cache(registry, office, tmp_path, cache):
    plain = office_data(registry, office, size=16, augment="none").target_train.x
    cached = office_data(registry, office, size=16, augment="none", cache=cache, cache_dir=str(tmp_path)).target_train.x
    assert plain.resident() is None
    assert torch.equal(cached.resident(), torch.stack([plain.read(i) for i in range(len(plain))]))
    assert torch.equal(cached.read(5), plain.read(5))
    if cache == "disk":  # complete, renamed into place, no partial files left; a new build reuses it undecoded
        stem = cached.cache.path.name[: -len(".npy")]
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(stem)) == [cached.cache.path.name]
        again = office_data(registry, office, size=16, augment="none", cache="disk", cache_dir=str(tmp_path)).target_train.x
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_image_decode.Transform, "read", lambda *a, **k: pytest.fail("decoded a cached row"))
            assert torch.equal(again.resident(), cached.resident())


def test_augmented_rows_bypass_the_cache_and_workers_read_alike(registry, office, tmp_path):
    data = office_data(registry, office, size=16, cache="memory", workers=2)
    rows = data.target_train.x
    assert rows.resident() is None  # training reads are random: nothing resident
    in_workers = torch.cat(list(lazy.batches(rows, batch_size=16)))
    assert rows.cache.filled.all()  # the workers filled the shared cache
    data0 = office_data(registry, office, size=16, workers=0)
    assert torch.equal(in_workers, data0.target_train.x[:])


# ----------------------------------------------------------------------------------- multi-source


def test_multi_source_domains_and_per_domain_hold_out(registry, office):
    source = f"{images(office, 'amazon')},{images(office, 'dslr')}"
    data = build(registry, source=source, target=images(office, "webcam"), val_fraction=0.25)
    assert data.num_source_domains == 2 and data.domains.dtype == torch.int64
    assert data.domains.shape == (len(data.source_train),) and data.domains.tolist().count(0) == 62 - 16
    held_domains = data.source_val.x.rows.listing.root_index[data.source_val.x.indices.numpy()]
    assert sorted(np.unique(held_domains).tolist()) == [0, 1] and len(data.source_val) == 32


def test_multi_source_paths_stay_separate_when_made_absolute(tmp_path, monkeypatch):
    from dann_core.plugins.options import absolute_path

    monkeypatch.chdir(tmp_path)
    assert absolute_path("a,b/c") == f"{tmp_path}/a,{tmp_path}/b/c"


# ------------------------------------------------------------------------------------------ errors


def test_missing_folder_and_options(registry, office, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"^dataset 'image-folder' option 'target': no such folder '.*missing'$"):
        build(registry, source=images(office, "amazon"), target=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="needs the options source=<folder> and target=<folder>"):
        build(registry, source=images(office, "amazon"))
    with pytest.raises(ValueError, match="cache must be one of none, memory, disk, got 'ram'"):
        office_data(registry, office, cache="ram")


def test_domain_root_and_too_few_classes(registry, office, tmp_path):
    with pytest.raises(ValueError, match=r"holds a single folder 'images' .* point at '.*amazon/images' instead"):
        build(registry, source=str(office / "amazon"), target=images(office, "webcam"))
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(one / "only" / "a.png")
    with pytest.raises(ValueError, match="must hold at least two class sub-folders .* found only 'only'"):
        build(registry, source=str(one), target=str(one))


def test_empty_source_class_is_named(registry, tmp_path):
    root = write_office_tree(tmp_path, per_class=1, domains=("a",), classes=["cat", "dog"])
    (root / "a" / "images" / "emu").mkdir()
    with pytest.raises(ValueError, match="source class 'emu' has no images under"):
        build(registry, source=str(root / "a" / "images"), target=str(root / "a" / "images"))


def test_class_mismatch_and_intersection(registry, tmp_path, capsys):
    write_office_tree(tmp_path, per_class=1, domains=("s",), classes=["a", "b", "c"])
    write_office_tree(tmp_path, per_class=1, domains=("t",), classes=["a", "b", "d"])
    source, target = str(tmp_path / "s" / "images"), str(tmp_path / "t" / "images")
    with pytest.raises(ValueError, match="class folders differ .*only in source: c; only in the other: d; set classes=intersection"):
        build(registry, source=source, target=target)
    data = build(registry, source=source, target=target, classes="intersection", val_fraction=0.5)
    assert data.class_names == ["a", "b"] and len(data.target_train) == 2
    assert "classes=intersection keeps 2 classes, dropped 2: c, d" in capsys.readouterr().err


def test_unreadable_files_are_all_named_or_skipped(registry, tmp_path, capsys):
    root = write_office_tree(tmp_path, per_class=3, domains=("s",), classes=["a", "b"])
    images_root = root / "s" / "images"
    (images_root / "a" / "junk.jpg").write_bytes(b"not an image at all")
    good_jpeg = next(images_root.rglob("*.jpg")).read_bytes()
    (images_root / "b" / "cut.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 2])
    with pytest.raises(ValueError) as caught:
        build(registry, source=str(images_root), target=str(images_root))
    message = str(caught.value)
    assert "\n" not in message and "2 unreadable source image(s)" in message
    assert "junk.jpg (cannot identify image file" in message and "cut.jpg (" in message and "skip_unreadable=true" in message
    data = build(registry, source=str(images_root), target=str(images_root), skip_unreadable=True)
    assert len(data.target_train) == 6 and "skipped 2 unreadable source image(s)" in capsys.readouterr().err


def test_a_file_broken_after_listing_is_named_when_read(registry, tmp_path):
    root = write_office_tree(tmp_path, per_class=2, domains=("s",), classes=["a", "b"])
    images_root = root / "s" / "images"
    data = build(registry, source=str(images_root), target=str(images_root))
    broken = data.target_train.x.listing.path(0)
    with open(broken, "wb") as file:
        file.write(b"garbage")
    with pytest.raises(ValueError, match=f"image-folder: cannot decode '{broken}': "):
        data.target_train.x.read(0)


# --------------------------------------------------------------------------------------------- CLI


def invoke(*args: str):
    return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)


def test_dann_run_trains_on_an_image_folder(office, tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "run", "--dataset", "image-folder", "--backbone", "lenet", "--steps", "4", "--eval-every", "2",
        "--batch-size", "8", "--kernels", "reference", "--out", str(out), "--json",
        "--set", f"dataset.source={images(office, 'amazon')}", "--set", f"dataset.target={images(office, 'webcam')}",
        "--set", "dataset.size=32", "--set", "dataset.workers=0",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 4  # stdout alone: stderr says the threads and settings


def test_a_typo_in_the_backbone_fails_before_any_image_is_decoded(office, tmp_path, no_decoding):
    result = invoke(
        "run", "--dataset", "image-folder", "--backbone", "lenett", "--steps", "2", "--out", str(tmp_path / "r"),
        "--set", f"dataset.source={images(office, 'amazon')}", "--set", f"dataset.target={images(office, 'webcam')}",
    )
    assert result.exit_code != 0 and "lenett" in result.output and "decoded" not in result.output
    assert not (tmp_path / "r").exists()


def test_a_pretrained_backbone_sets_imagenet_normalisation_and_a_restored_run_keeps_it(office, tmp_path):
    from torchvision.models import resnet18

    from dann_core import config
    from dann_core.train import load_run, train

    torch.save(resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    cfg = config.resolve(flags={
        "dataset": "image-folder", "backbone": "resnet18", "steps": 2, "eval_every": 2, "batch_size": 4, "kernels": "reference",
    }, sets=[f"dataset.source={images(office, 'amazon')}", f"dataset.target={images(office, 'webcam')}",
             "dataset.size=32", "dataset.workers=0", f"backbone.weights={tmp_path / 'r18.pt'}"])
    summary = train(cfg, tmp_path / "run")
    (tmp_path / "r18.pt").unlink()  # the checkpoint holds the weights; the backbone no longer declares 'imagenet'
    run = load_run(tmp_path / "run")
    x = run.data.target_test.x
    assert x.normalizer.effective == "imagenet"
    accuracy = (run.model.predict(x[:]).argmax(1) == run.data.target_test.y).float().mean().item()
    assert accuracy == pytest.approx(summary["target_test_acc"])


def test_a_file_broken_after_listing_stops_the_cli_run_with_one_line(tmp_path):
    images_root = tmp_path / "tree"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (images_root / label).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(images_root / label / f"{index}.png")
    broken = images_root / "a" / "0.png"
    data = bytearray(broken.read_bytes())
    for k in range(60, 200):  # scramble the pixel data; the header and the end chunk pass the scan's checks
        data[k] ^= 0x5A
    broken.write_bytes(bytes(data))
    def run(out, normalize):
        return invoke(
            "run", "--dataset", "image-folder", "--backbone", "lenet", "--steps", "4", "--eval-every", "2",
            "--batch-size", "4", "--kernels", "reference", "--out", str(out),
            "--set", f"dataset.source={images_root}", "--set", f"dataset.target={images_root}",
            "--set", "dataset.size=28", "--set", "dataset.workers=1", "--set", f"dataset.normalize={normalize}",
        )

    # while training (ImageNet statistics: nothing is read before the first step): the run can be resumed
    # once the file is fixed; while estimating the dataset's statistics at the start: no run is left
    for normalize, hint in (("imagenet", "dann run --resume"), ("dataset", "")):
        result = run(tmp_path / normalize, normalize)
        assert result.exit_code != 0
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "Traceback" not in result.output and "DataLoader worker" not in result.output, result.output
        assert f"cannot decode '{broken}'" in errors[0] and hint in errors[0]
    assert (tmp_path / "imagenet" / "last.pt").exists() and not (tmp_path / "dataset").exists()


def test_splits_of_one_folder_share_a_disk_cache_and_the_rows_pickle_for_spawned_workers(registry, office, tmp_path):
    import pickle

    from dann_core.rows import materialize

    folder = images(office, "amazon")
    cached = build(registry, source=folder, target=folder, augment="none", cache="disk", cache_dir=str(tmp_path / "c"))
    plain = build(registry, source=folder, target=folder, augment="none")
    for split in ("source_train", "target_train", "target_test"):  # source and target fill and seal one file
        assert torch.equal(materialize(getattr(cached, split).x), materialize(getattr(plain, split).x))
    assert [p.name.endswith(".npy") and ".partial" not in p.name for p in (tmp_path / "c").glob("*.npy")] == [True]
    for cache in ("none", "memory", "disk"):
        data = build(registry, source=folder, target=folder, cache=cache, cache_dir=str(tmp_path / "c"))
        copy = pickle.loads(pickle.dumps(data.target_train.x))  # what a spawn/forkserver worker receives
        assert torch.equal(copy.read(3), data.target_train.x.read(3)) and torch.equal(copy.read(3, 11), data.target_train.x.read(3, 11))


def test_a_run_is_evaluated_with_the_statistics_it_trained_with_after_the_files_change(tmp_path):
    from dann_core import config
    from dann_core.train import load_run, train

    root = write_office_tree(tmp_path / "tree", per_class=3, domains=("s", "t"), classes=["a", "b"])
    cfg = config.resolve(flags={
        "dataset": "image-folder", "backbone": "lenet", "steps": 2, "eval_every": 2, "batch_size": 4, "kernels": "reference",
    }, sets=[f"dataset.source={root / 's' / 'images'}", f"dataset.target={root / 't' / 'images'}", "dataset.size=28", "dataset.workers=0"])
    summary = train(cfg, tmp_path / "run")
    trained = load_run(tmp_path / "run")
    before = trained.data.source_train.x.normalization_state()
    assert before["mode"] == "dataset"
    for index in range(20):  # the source folder grows after training: re-estimated statistics would differ
        Image.fromarray(np.full((30, 30, 3), 250, np.uint8)).save(root / "s" / "images" / "a" / f"new{index}.png")
    run = load_run(tmp_path / "run")
    after = run.data.source_train.x.normalization_state()
    assert torch.equal(after["mean"], before["mean"]) and torch.equal(after["std"], before["std"])
    accuracy = (run.model.predict(run.data.target_test.x[:]).argmax(1) == run.data.target_test.y).float().mean().item()
    assert accuracy == pytest.approx(summary["target_test_acc"])


def test_a_small_tree_trains_at_the_default_batch_size_capped_with_a_note(office, tmp_path):
    """Issue 22: a copy-paste command on a small tree stopped with "batch_size 64 is larger than every split"."""
    result = CliRunner().invoke(build_cli(), [
        "run", "--dataset", "image-folder", "--backbone", "lenet", "--steps", "2", "--eval-every", "2", "--kernels", "reference",
        "--out", str(tmp_path / "run"), "--set", f"dataset.source={images(office, 'amazon')}",
        "--set", f"dataset.target={images(office, 'webcam')}", "--set", "dataset.size=32", "--set", "dataset.workers=0",
    ])
    assert result.exit_code == 0, result.output
    assert "note: the default batch_size 64 is larger than every split the run samples; training with batch_size" in result.stderr
    explicit = CliRunner().invoke(build_cli(), [
        "run", "--dataset", "image-folder", "--backbone", "lenet", "--batch-size", "500", "--out", str(tmp_path / "explicit"),
        "--set", f"dataset.source={images(office, 'amazon')}", "--set", f"dataset.target={images(office, 'webcam')}",
        "--set", "dataset.size=32", "--set", "dataset.workers=0",
    ])
    assert explicit.exit_code == 2 and "batch_size 500 is larger than every split" in explicit.stderr  # the user's choice stays


def test_mlp_on_large_images_warns_with_one_line_naming_a_backbone(capsys):
    from dann_backbones.mlp import make_mlp

    make_mlp((3, 224, 224))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "backbone mlp flattens 3×224×224 images" in lines[0] and "--backbone resnet18" in lines[0]
    make_mlp((3, 32, 32))
    make_mlp((2,))
    assert capsys.readouterr().err == ""


def test_a_full_disk_under_the_image_cache_is_one_line_naming_it(office, tmp_path, monkeypatch):
    """Issue 22: rows written through the cache's mapping into a full disk ended the process (SIGBUS)."""
    import errno
    import os

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    result = CliRunner().invoke(build_cli(), [
        "run", "--dataset", "image-folder", "--backbone", "lenet", "--steps", "2", "--batch-size", "8",
        "--out", str(tmp_path / "run"), "--set", f"dataset.source={images(office, 'amazon')}",
        "--set", f"dataset.target={images(office, 'webcam')}", "--set", "dataset.size=32", "--set", "dataset.workers=0",
        "--set", "dataset.cache=disk", "--set", f"dataset.cache_dir={tmp_path / 'cache'}",
    ])
    assert result.exit_code == 2, result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "No space left on device (the image cache" in error and str(tmp_path / "cache") in error
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()
