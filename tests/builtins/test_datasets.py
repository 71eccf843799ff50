"""The built-in datasets at tiny sizes: shapes, determinism, splits, and one-line input errors."""
from __future__ import annotations

import gzip
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from dann_core import rows as lazy
from dann_core.cli import build_cli
from dann_core.plugins import get_plugin_manager, get_registry
from dann_core.specs import DomainData
from dann_datasets._digits import blend_with_photos, render_digits
from dann_datasets.digits_blend import original_pools
from dann_datasets.mnist import read_idx
from dann_datasets.moons import MOONS_CENTRE, two_moons

SPLITS = ("source_train", "source_val", "target_train", "target_test")


@pytest.fixture(scope="module")
def registry():
    return get_registry(get_plugin_manager(autoload=False))


def build(registry, name, seed=0, **options):
    return registry.build("dataset", name, options, seed=seed)


def assert_well_formed(data: DomainData, labelled_target: bool = True):
    for name in SPLITS:
        part = getattr(data, name)
        assert part.x.dtype == torch.float32 and tuple(part.x.shape[1:]) == tuple(data.input_shape), name
        if labelled_target or name.startswith("source"):
            assert part.y.dtype == torch.int64 and part.y.shape == (len(part),), name
            assert 0 <= int(part.y.min()) and int(part.y.max()) < data.num_classes, name


def values(x) -> torch.Tensor:
    """A split's inputs as a float tensor (LazyRows read)."""
    return lazy.materialize(x)


def assert_same(a: DomainData, b: DomainData):
    for name in SPLITS:
        assert torch.equal(values(getattr(a, name).x), values(getattr(b, name).x)), name
        assert torch.equal(getattr(a, name).y, getattr(b, name).y), name


# ---------------------------------------------------------------------------------------- moons


@pytest.mark.parametrize("n, noise, seed", [(300, 0.1, 0), (1000, 0.1, 2**31 - 1), (7, 0.0, 5), (2, 0.3, 123), (1, 0.1, 9)])
def test_two_moons_are_scikit_learns_points_bit_for_bit(n, noise, seed):
    from sklearn.datasets import make_moons

    x, y = two_moons(n, noise, seed)
    expected_x, expected_y = make_moons(n_samples=n, noise=noise, random_state=seed)
    np.testing.assert_array_equal(x, expected_x)
    np.testing.assert_array_equal(y, expected_y)
    assert x.dtype == expected_x.dtype and y.dtype == expected_y.dtype


def test_the_moons_dataset_imports_no_scikit_learn():
    import subprocess
    import sys

    code = ("import sys\nfrom dann_datasets.moons import make_moons_problem\nmake_moons_problem(0)\n"
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_moons_shapes_and_determinism(registry):
    data = build(registry, "moons", n_per_class=20, n_test_per_class=7)
    assert_well_formed(data)
    assert data.input_shape == (2,) and data.num_classes == 2
    assert [len(getattr(data, name)) for name in SPLITS] == [40, 14, 40, 14]
    assert_same(data, build(registry, "moons", n_per_class=20, n_test_per_class=7))
    assert not torch.equal(data.source_train.x, build(registry, "moons", seed=1, n_per_class=20).source_train.x)


def test_moons_target_is_the_source_rotated_about_the_centre(registry):
    data = build(registry, "moons", n_per_class=30, noise=0.0, angle=50.0)
    theta = math.radians(-50.0)
    back = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float32)
    centre = torch.tensor(MOONS_CENTRE, dtype=torch.float32)
    for part, rotate in ((data.source_train, False), (data.target_train, True)):
        points = (part.x - centre) @ back.T + centre if rotate else part.x
        # without noise, class 0 lies on the unit circle about (0, 0) and class 1 on the one about (1, 0.5)
        arc_centre = torch.where(part.y[:, None] == 0, torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.5]))
        assert torch.allclose((points - arc_centre).norm(dim=1), torch.ones(len(part)), atol=1e-5)
    assert not torch.allclose(data.target_train.x, data.source_train.x, atol=0.1)


def test_moons_standardize_source(registry):
    data = build(registry, "moons", n_per_class=50, standardize="source")
    assert torch.allclose(data.source_train.x.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(data.source_train.x.std(0), torch.ones(2), atol=1e-4)
    with pytest.raises(ValueError, match="standardize must be one of source, domain, none, got 'both'"):
        build(registry, "moons", standardize="both")


# --------------------------------------------------------------------------------- digits-blend

TINY_DIGITS = dict(n_images=40, n_val_images=12, n_test_images=24)


def test_digits_blend_shapes_and_determinism(registry):
    data = build(registry, "digits-blend", **TINY_DIGITS)
    assert_well_formed(data)
    assert data.input_shape == (3, 28, 28) and data.num_classes == 10 and data.class_names[3] == "3"
    assert [len(getattr(data, name)) for name in SPLITS] == [40, 12, 40, 24]
    assert_same(data, build(registry, "digits-blend", **TINY_DIGITS))
    assert not torch.equal(data.target_test.x, build(registry, "digits-blend", seed=1, **TINY_DIGITS).target_test.x)
    # source is gray (channels equal), target is coloured by the photos
    assert torch.equal(data.source_train.x[:, 0], data.source_train.x[:, 2])
    assert not torch.equal(data.target_train.x[:, 0], data.target_train.x[:, 2])


def test_digits_blend_standardisation_modes(registry):
    by_source = build(registry, "digits-blend", **TINY_DIGITS)
    raw = build(registry, "digits-blend", standardize="none", **TINY_DIGITS)
    mean = raw.source_train.x.mean(dim=(0, 2, 3), keepdim=True)
    std = raw.source_train.x.std(dim=(0, 2, 3), keepdim=True)
    assert torch.allclose(by_source.target_test.x, (raw.target_test.x - mean) / std, atol=1e-5)
    by_domain = build(registry, "digits-blend", standardize="domain", **TINY_DIGITS)
    for part in (by_domain.source_train, by_domain.target_train):
        assert torch.allclose(part.x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert not torch.allclose(by_source.target_train.x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=0.1)


def test_digits_blend_original_pools_are_disjoint_and_complete():
    train, val, test = original_pools(seed=3, n=1797, test_fraction=0.3, val_fraction=0.1)
    assert len(set(train) | set(val) | set(test)) == 1797 == len(train) + len(val) + len(test)
    assert len(test) == round(1797 * 0.3) and abs(len(val) - 180) <= 1


def test_digits_blend_target_test_comes_from_unseen_digits(registry):
    from sklearn.datasets import load_digits

    # no jitter and a black photo: every image is exactly the plain rendering of one original
    plain = dict(max_rotation=0.0, max_scale_change=0.0, max_shift=0.0, photo_intensity=0.0, standardize="none")
    data = build(registry, "digits-blend", seed=5, n_images=300, n_val_images=50, n_test_images=100, **plain)
    originals = load_digits().images.astype(np.float32) / 16.0
    rendered = torch.as_tensor(render_digits(originals, np.random.default_rng(0), 0.0, (1.0, 1.0), 0.0)).flatten(1)

    def which(part):
        distances = torch.cdist(part.x[:, 0].flatten(1), rendered, compute_mode="donot_use_mm_for_euclid_dist")
        assert torch.all(distances.min(dim=1).values < 1e-4)
        return set(distances.argmin(dim=1).tolist())

    train, val, test = (set(pool.tolist()) for pool in original_pools(5, 1797, 0.3, 0.1))
    assert which(data.source_train) <= train and which(data.target_train) <= train
    assert which(data.source_val) <= val and which(data.target_test) <= test


def test_render_digits_fits_the_20_pixel_box():
    square = np.ones((1, 8, 8), dtype=np.float32)
    image = render_digits(square, np.random.default_rng(0), 0.0, (1.0, 1.0), 0.0)[0]
    inside = image[4:24, 4:24]
    assert image.shape == (28, 28) and inside[1:-1, 1:-1].min() > 0.99
    assert image[:3].max() == 0 and image[25:].max() == 0 and image[:, :3].max() == 0


def test_half_intensity_blend_keeps_strokes_brighter_than_background():
    digits = np.zeros((50, 28, 28), dtype=np.float32)
    digits[:, 10:18, 10:18] = 1.0
    photos = [np.random.default_rng(0).uniform(0, 1, (40, 60, 3)).astype(np.float32)]
    blended = blend_with_photos(digits, photos, 0.5, np.random.default_rng(1))
    assert blended.shape == (50, 3, 28, 28)
    assert blended[:, :, 10:18, 10:18].min() >= 0.5 and blended[:, :, :10].max() <= 0.5
    full = blend_with_photos(digits, [np.ones((40, 60, 3), np.float32)], 1.0, np.random.default_rng(1))
    assert full[:, :, 10:18, 10:18].max() == 0.0  # a white photo at full intensity erases the stroke


# ------------------------------------------------------------------------------------------- npz


def save_npz(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return str(path)


def npz_arrays(n=20, features=3, classes=4):
    rng = np.random.default_rng(0)
    return dict(
        xs=rng.normal(size=(n, features)).astype(np.float32),
        ys=np.arange(n) % classes,
        xt=rng.normal(size=(n + 5, features)),
    )


def test_npz_splits_source_and_infers_classes(registry, tmp_path):
    arrays = npz_arrays()
    data = build(registry, "npz", path=save_npz(tmp_path, **arrays, yt=np.arange(25) % 4), val_fraction=0.25)
    assert_well_formed(data)
    assert data.num_classes == 4 and data.input_shape == (3,)
    assert (len(data.source_train), len(data.source_val), len(data.target_test)) == (15, 5, 25)
    rows = torch.cat([data.source_train.x, data.source_val.x])
    assert torch.equal(rows.sort(dim=0).values, torch.as_tensor(arrays["xs"]).sort(dim=0).values)


def test_npz_explicit_validation_and_test_sets(registry, tmp_path):
    arrays = npz_arrays()
    path = save_npz(
        tmp_path,
        **arrays,
        xs_val=np.zeros((2, 3)),
        ys_val=np.array([0, 1]),
        xt_test=np.ones((3, 3)),
        yt_test=np.array([0, 1, 5]),
    )
    data = build(registry, "npz", path=path)
    assert data.num_classes == 6 and len(data.source_train) == 20 and len(data.source_val) == 2
    assert torch.equal(data.target_test.y, torch.tensor([0, 1, 5])) and data.target_train.y is None


def test_npz_without_target_labels_has_unlabelled_target_test(registry, tmp_path):
    data = build(registry, "npz", path=save_npz(tmp_path, **npz_arrays()))
    assert_well_formed(data, labelled_target=False)
    assert data.target_test.y is None and len(data.target_test) == 25


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("xt"), "lacks required key 'xt' \\(required: xs, ys, xt; optional: yt, xt_test"),
        (lambda a: a.update(xt=np.zeros((5, 4))), "key 'xt' has per-example shape \\(4,\\) but 'xs' has \\(3,\\)"),
        (lambda a: a.update(ys=np.arange(19)), "key 'ys' must be 1-D integer labels, one per row of 'xs' \\(shape \\(20,"),
        (lambda a: a.update(ys=np.full(20, 0.5)), "key 'ys' must be 1-D integer labels"),
        (lambda a: a.update(ys=np.full(20, -1)), "key 'ys' has negative label -1"),
        (lambda a: a.update(yt=np.arange(25)), "key 'yt' has label 24 >= num_classes 4"),
        (lambda a: a.update(xt_test=np.zeros((2, 3))), "has 'xt_test' but not 'yt_test'; give both or neither"),
        (lambda a: a.update(extra=np.zeros(2)), "unknown key 'extra' \\(valid: xs, ys, xt, yt"),
        (lambda a: a.update(xs=np.array(["a"] * 20)), "key 'xs' must be a numeric array, got dtype <U1"),
        (lambda a: a.update(xs=np.arange(20)), "key 'xs' must have shape \\(N>0, ...features\\), got \\(20,\\)"),
        (lambda a: a.update(xt=np.full((5, 3), np.nan)), "key 'xt' contains NaN"),
    ],
)
def test_npz_validation_errors_name_the_key(registry, tmp_path, change, message):
    arrays = npz_arrays()
    change(arrays)
    options = {"path": save_npz(tmp_path, **arrays)}
    if "num_classes 4" in message:
        options["num_classes"] = 4
    with pytest.raises(ValueError, match=message) as error:
        build(registry, "npz", **options)
    assert "\n" not in str(error.value)


def test_npz_missing_file_and_missing_path(registry, tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        build(registry, "npz", path=str(tmp_path / "nope.npz"))
    assert str(missing.value) == f"dataset 'npz' option 'path': no such file '{tmp_path / 'nope.npz'}'"
    with pytest.raises(ValueError, match="npz dataset needs the option path=<file.npz>"):
        build(registry, "npz")


# ----------------------------------------------------------------------------------------- mnist


def write_idx(path, array, gz=False):
    header = (0x0803 if array.ndim == 3 else 0x0801).to_bytes(4, "big")
    header += b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as file:
            file.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "mnist"
    root.mkdir()
    write_idx(root / "train-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)), gz=True)
    write_idx(root / "train-labels-idx1-ubyte", np.arange(30) % 10, gz=True)
    write_idx(root / "t10k-images.idx3-ubyte", rng.integers(0, 256, (10, 28, 28)))
    write_idx(root / "t10k-labels.idx1-ubyte", np.arange(10))
    return root


def test_read_idx_round_trip_and_bad_magic(tmp_path):
    array = np.arange(24).reshape(2, 3, 4)
    write_idx(tmp_path / "x-idx3-ubyte", array)
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte", 3), array)
    write_idx(tmp_path / "y-idx1-ubyte", np.arange(5))
    with pytest.raises(ValueError, match="not an idx file of 3-d unsigned bytes"):
        read_idx(tmp_path / "y-idx1-ubyte", 3)


def test_mnist_reads_idx_files(registry, mnist_root):
    data = build(registry, "mnist", root=str(mnist_root), n_val=6, standardize="none")
    assert_well_formed(data)
    assert data.input_shape == (3, 28, 28) and data.num_classes == 10
    assert [len(getattr(data, name)) for name in SPLITS] == [24, 6, 24, 10]
    raw = read_idx(mnist_root / "t10k-images.idx3-ubyte", 3)
    assert torch.allclose(data.target_test.x[:][:, 1], torch.as_tensor(raw / 255.0, dtype=torch.float32))
    assert_same(data, build(registry, "mnist", root=str(mnist_root), n_val=6, standardize="none"))
    assert len(build(registry, "mnist", root=str(mnist_root), n_train=12, n_val=2).source_train) == 10


def test_mnist_m_blends_with_a_backgrounds_folder(registry, mnist_root, tmp_path):
    backgrounds = tmp_path / "photos"
    backgrounds.mkdir()
    Image.fromarray(np.full((40, 50, 3), 255, np.uint8)).save(backgrounds / "white.png")
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(backgrounds / "too-small.png")
    data = build(registry, "mnist-m", root=str(mnist_root), backgrounds=str(backgrounds), n_val=6, standardize="none")
    assert_well_formed(data)
    digits = torch.as_tensor(read_idx(mnist_root / "t10k-images.idx3-ubyte", 3) / 255.0, dtype=torch.float32)
    # a white photo at the paper's full intensity: |1 - digit| in every channel
    assert torch.allclose(data.target_test.x[:], (1.0 - digits)[:, None].expand(-1, 3, -1, -1), atol=1e-6)
    default = values(build(registry, "mnist-m", root=str(mnist_root), n_val=6, standardize="none").target_test.x)
    assert default.max() <= 1.0 and not torch.equal(default[:, 0], default[:, 2])


def test_mnist_keeps_uint8_images_once_and_standardises_in_finish(registry, mnist_root):
    data = build(registry, "mnist", root=str(mnist_root), n_val=6)
    assert data.source_train.x.resident().dtype == torch.uint8 and data.source_train.x.resident().shape == (24, 1, 28, 28)
    assert data.target_train.x.images is data.source_train.x.images  # source_train is target_train: held once
    x = data.source_train.x[:]
    assert x.shape == (24, 3, 28, 28) and abs(float(x.mean())) < 1e-4 and float(x.std()) == pytest.approx(1.0, abs=1e-3)
    domain = build(registry, "mnist-m", root=str(mnist_root), n_val=6, standardize="domain")
    target = domain.target_train.x[:]
    assert torch.allclose(target.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert domain.target_train.x.resident().dtype == torch.uint8


def test_a_truncated_gz_idx_file_is_one_line_naming_it(registry, mnist_root):
    path = mnist_root / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"'.*train-images-idx3-ubyte.gz' is truncated or corrupt \(.*\); extract or download it again"):
        build(registry, "mnist", root=str(mnist_root))
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz' is truncated or corrupt"):
        build(registry, "mnist", root=str(mnist_root))
    result = CliRunner().invoke(build_cli(), ["run", "--dataset", "mnist", "--set", f"dataset.root={mnist_root}", "--steps", "1"])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code != 0 and "Aborted" not in result.output and len(errors) == 1
    assert "train-images-idx3-ubyte.gz' is truncated or corrupt" in errors[0]


def test_mnist_errors_name_the_missing_piece(registry, mnist_root, tmp_path):
    (mnist_root / "t10k-labels.idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="MNIST file 't10k-labels-idx1-ubyte' \\(or .gz\\) not found in"):
        build(registry, "mnist", root=str(mnist_root))
    with pytest.raises(ValueError, match="mnist-m dataset needs the option root="):
        build(registry, "mnist-m")
    with pytest.raises(FileNotFoundError, match="backgrounds folder not found"):
        write_idx(mnist_root / "t10k-labels-idx1-ubyte", np.arange(10))
        build(registry, "mnist-m", root=str(mnist_root), backgrounds=str(tmp_path / "none"), n_val=6)
    with pytest.raises(ValueError, match="n_val=30 leaves no training images out of 30"):
        build(registry, "mnist", root=str(mnist_root), n_val=30)


def test_npz_source_domains_for_multi_source_training(registry, tmp_path):
    arrays = npz_arrays()
    data = build(registry, "npz", path=save_npz(tmp_path, **arrays, ds=np.arange(20) % 3), val_fraction=0.25)
    assert data.num_source_domains == 3 and data.domains.dtype == torch.int64
    assert data.domains.shape == (len(data.source_train),)
    # each kept row keeps its own domain: rows of xs are unique, so look them up
    for row, domain in zip(data.source_train.x, data.domains):
        index = int(np.flatnonzero((arrays["xs"] == row.numpy()).all(axis=1))[0])
        assert domain == index % 3
    with pytest.raises(ValueError, match="key 'ds' must be 1-D integer labels, one per row of 'xs'"):
        build(registry, "npz", path=save_npz(tmp_path, **arrays, ds=np.zeros(3, dtype=int)))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_images": 0}, "digits-blend: n_images must be at least 1, got 0"),
        ({"test_fraction": 0.7, "val_fraction": 0.3}, "must be positive with a sum below 1, got 0.7 and 0.3"),
        ({"val_fraction": 0.0}, "must be positive with a sum below 1, got 0.3 and 0.0"),
        ({"photo_intensity": 1.5}, "photo_intensity must be in \\[0, 1\\], got 1.5"),
    ],
)
def test_digits_blend_option_errors(registry, options, message):
    with pytest.raises(ValueError, match=message):
        build(registry, "digits-blend", **{**TINY_DIGITS, **options})
