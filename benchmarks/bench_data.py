"""image-folder loading against torchvision's ImageFolder + DataLoader, and `dann run`'s memory at 1× vs 8× images.

``python -m benchmarks.bench_data [--per-class 8] [--rounds 3] [--workers 2] [--batch 64] [--tree DIR]``

1. Throughput: on a generated Office-shaped tree (31 classes, JPEGs of 300×300 to 640×480), one pass
   over the images with the same transforms on both sides: training (RandomResizedCrop 224, scale
   0.08–1, ratio 3/4–4/3, + horizontal flip) and evaluation (Resize 256 + CenterCrop 224), the same
   DataLoader workers and batch size, float normalised batches out (torchvision: ToTensor + Normalize
   in the workers; dann: uint8 rows from the workers, ``finish`` in the main process, as on the CPU
   trainer). Each pass runs in its own subprocess (so its peak memory is its own), sides interleaved,
   ``--rounds`` times; medians compared. Peak memory: the main process's and the largest worker's
   max RSS (wait4's rusage).
2. ``dann run --dataset image-folder`` (LeNet, size 32, a few steps) on 1× and 8× the images: the
   run's peak RSS (wait4: the largest of the process and its reaped workers).

Absolute numbers on a shared machine mean little; the ratios within one run are the result. Writes
benchmarks/bench_data.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine

MD = Path(__file__).with_name("bench_data.md")
CLASSES = 31
SIZES = ((300, 300), (400, 300), (500, 375), (640, 480), (480, 640))


def write_tree(root: Path, per_class: int, seed: int = 0) -> Path:
    """``root/images/<class>/<n>.jpg``: photo-like JPEGs (smooth colour fields + noise) of real sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(CLASSES):
        folder = root / "images" / f"class_{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            width, height = SIZES[int(rng.integers(len(SIZES)))]
            small = rng.integers(0, 256, (height // 32 + 1, width // 32 + 1, 3), dtype=np.uint8)
            image = Image.fromarray(small).resize((width, height), Image.BICUBIC)
            noise = rng.normal(0, 12, (height, width, 3))
            pixels = np.clip(np.asarray(image, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root / "images"


# ------------------------------------------------------------------------------ one pass (subprocess)


def pass_dann(root: str, mode: str, workers: int, batch: int) -> int:
    import torch

    from dann_core import rows as lazy
    from dann_datasets.image_folder import make_image_folder

    data = make_image_folder(0, source=Path(root), target=Path(root), size=224, augment="standard",
                             normalize="imagenet", workers=workers)
    rows = data.target_train.x
    keys = [(i, 1000 + i) if mode == "train" else i for i in torch.randperm(len(rows)).tolist()]
    sampler = [keys[s : s + batch] for s in range(0, len(keys), batch)]
    count = 0
    for raw in lazy.loader(rows, batch, "cpu", batch_sampler=sampler):
        count += len(rows.finish(raw))
    return count


def pass_torchvision(root: str, mode: str, workers: int, batch: int) -> int:
    import torch
    from torchvision import datasets, transforms

    normalize = transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    steps = ([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip()] if mode == "train"
             else [transforms.Resize(256), transforms.CenterCrop(224)])
    folder = datasets.ImageFolder(root, transform=transforms.Compose([*steps, transforms.ToTensor(), normalize]))
    loader = torch.utils.data.DataLoader(folder, batch_size=batch, shuffle=True, num_workers=workers,
                                         prefetch_factor=4 if workers else None)
    return sum(len(x) for x, _ in loader)


def one_pass(side: str, root: str, mode: str, workers: int, batch: int) -> None:
    import resource

    import torch

    torch.set_num_threads(1)
    if side == "dann":  # imports stay outside the timed pass
        import dann_datasets.image_folder  # noqa: F401
    else:
        import torchvision.datasets  # noqa: F401
    start = time.perf_counter()
    count = (pass_dann if side == "dann" else pass_torchvision)(root, mode, workers, batch)
    seconds = time.perf_counter() - start
    peak_main = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"images": count, "seconds": seconds, "main_mib": peak_main, "worker_mib": peak_worker}))


def run_pass(side: str, root: Path, mode: str, workers: int, batch: int) -> dict:
    command = [sys.executable, "-m", "benchmarks.bench_data", "--one", side, mode, str(root),
               "--workers", str(workers), "--batch", str(batch)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ dann run RSS


def run_rss(root: Path, out: Path, workers: int, size: int = 32, steps: int = 20, select: str = "last") -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of a short `dann run` on ``root`` (source = target)."""
    command = [str(Path(sys.executable).with_name("dann")), "run", "--dataset", "image-folder", "--backbone", "lenet",
               "--steps", str(steps), "--eval-every", str(steps), "--batch-size", "16", "--kernels", "reference", "--quiet",
               "--threads", "1", "--out", str(out), "--set", f"dataset.source={root}", "--set", f"dataset.target={root}",
               "--set", f"dataset.size={size}", "--set", f"dataset.workers={workers}", "--select", select]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"dann run failed: {process.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, seconds


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=8, help="images per class (31 classes) in the 1× tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tree", type=Path, default=None, help="folder for the generated trees (default: a temporary one)")
    parser.add_argument("--one", nargs=3, metavar=("SIDE", "MODE", "ROOT"), help=argparse.SUPPRESS)
    parser.add_argument("--rss-only", action="store_true", help="only the peak RSS of dann run on 1× and 8× the images")
    parser.add_argument("--rss-size", type=int, default=32, help="image size of the peak-RSS runs (224: the Office recipe)")
    parser.add_argument("--rss-steps", type=int, default=20)
    parser.add_argument("--rss-select", default="last", help="--select of the peak-RSS runs (dev: features of the fixed views)")
    args = parser.parse_args()
    if args.one:
        side, mode, root = args.one
        one_pass(side, root, mode, args.workers, args.batch)
        return
    with tempfile.TemporaryDirectory() as scratch:
        base = args.tree or Path(scratch)
        small = write_tree(base / "x1", args.per_class)
        large = write_tree(base / "x8", args.per_class * 8, seed=1)
        lines = ["# image-folder loading benchmark\n", f"Machine: {machine()}, {os.cpu_count()} CPUs; "
                 f"{CLASSES * args.per_class} JPEGs (300×300 to 640×480); {args.workers} DataLoader workers, batch {args.batch}, "
                 f"{args.rounds} interleaved rounds (median); one subprocess per pass.\n",
                 "| transform | dann images/s | torchvision images/s | speed ratio (dann / tv) | dann peak MiB main / worker | tv peak MiB main / worker |",
                 "|---|---|---|---|---|---|"]
        for mode, label in () if args.rss_only else (("train", "RandomResizedCrop 224 + flip"), ("eval", "Resize 256 + CenterCrop 224")):
            results = {"dann": [], "tv": []}
            for _ in range(args.rounds):
                for side in ("dann", "tv"):
                    results[side].append(run_pass(side, small, mode, args.workers, args.batch))
            rate = {side: statistics.median(r["images"] / r["seconds"] for r in runs) for side, runs in results.items()}
            peak = {side: (max(r["main_mib"] for r in runs), max(r["worker_mib"] for r in runs)) for side, runs in results.items()}
            lines.append(f"| {label} | {rate['dann']:.1f} | {rate['tv']:.1f} | {rate['dann'] / rate['tv']:.2f}× | "
                         f"{peak['dann'][0]:.0f} / {peak['dann'][1]:.0f} | {peak['tv'][0]:.0f} / {peak['tv'][1]:.0f} |")
            print(lines[-1], flush=True)
        rss = (args.workers, args.rss_size, args.rss_steps, args.rss_select)
        rss1, s1 = run_rss(small, base / "run1", *rss)
        rss8, s8 = run_rss(large, base / "run8", *rss)
        lines += ["", f"`dann run --dataset image-folder --backbone lenet --select {args.rss_select}` (size {args.rss_size}, "
                  f"{args.rss_steps} steps, one evaluation), peak RSS (wait4):", "",
                  "| images | peak RSS MiB | seconds |", "|---|---|---|",
                  f"| {CLASSES * args.per_class} (1×) | {rss1:.0f} | {s1:.1f} |",
                  f"| {CLASSES * args.per_class * 8} (8×) | {rss8:.0f} | {s8:.1f} |",
                  "", f"Peak RSS growth at 8× the images: {rss8 / rss1:.2f}×."]
        print("\n".join(lines[-7:]))
    if not args.rss_only:
        MD.write_text("\n".join(lines) + "\n")
        print(f"wrote {MD}")


if __name__ == "__main__":
    main()
