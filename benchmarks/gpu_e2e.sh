#!/usr/bin/env bash
# End-to-end GPU numbers (issues 9 and 13), one call on a machine with a GPU, nvcc and python3 with
# torch, torchvision and pytest, no network:
#
#     bash benchmarks/gpu_e2e.sh          # about 6 min on one H200; logs under $OUT when set
#
# 1. build the extension in place for this GPU; 2. tests/cuda; 3. bench_train --device cuda (dann's
# trainer vs the textbook loop: moons, digits, resnet18; eager, compile, bf16); 4. a streamed
# image-folder run on the GPU (JPEG tree generated here, DataLoader workers, pinned memory) and
# benchmarks/bench_data.py when present. Each stage has its own timeout inside GPU_E2E_BUDGET_S.
set -u
cd "$(dirname "$0")/.."
BUDGET=${GPU_E2E_BUDGET_S:-500}
LOGDIR=${OUT:-$(mktemp -d /tmp/gpu_e2e.XXXXXX)}
mkdir -p "$LOGDIR"
PY=${PYTHON:-python3}
STAGES=${GPU_E2E_STAGES:-1234}  # e.g. 123: skip the image-folder stage
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"  # the repo is not pip-installed there
left() { local r=$((BUDGET - SECONDS)); ((r > $1)) && r=$1; ((r < 10)) && r=10; echo "$r"; }

echo "INFO gpu_e2e $(date -u +%FT%TZ), budget $BUDGET s"
"$PY" -c "import torch, torchvision; print('INFO torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0)); print('INFO cpus', __import__('os').cpu_count())"
arch=$("$PY" -c "import torch; print('.'.join(map(str, torch.cuda.get_device_capability(0))))")

echo "== 1. build for $arch"
MAX_JOBS=16 TORCH_CUDA_ARCH_LIST=$arch timeout "$(left 240)" "$PY" setup.py build_ext --inplace --force >"$LOGDIR/build.log" 2>&1 \
  && echo "PASS build in $SECONDS s" || { tail -20 "$LOGDIR/build.log"; echo "FAIL build"; }
"$PY" setup.py -q egg_info >/dev/null 2>&1  # the entry points that register the built-in plugins (nothing is pip-installed)

if [[ $STAGES == *2* ]]; then
echo "== 2. tests/cuda"
xdist=$("$PY" -c "import xdist" 2>/dev/null && echo "-n 8")
timeout "$(left 150)" "$PY" -m pytest -q -p no:cacheprovider --confcutdir=tests/cuda $xdist tests/cuda 2>&1 | tail -6

fi
if [[ $STAGES == *3* ]]; then
echo "== 3. bench_train --device cuda"
timeout "$(left 200)" "$PY" -m benchmarks.bench_train --device cuda --steps 50 --rounds 3 --warmup 20 ${BENCH_TRAIN_ARGS:-} 2>&1 | tee "$LOGDIR/bench_train_cuda.txt"

fi
if [[ $STAGES == *4* ]]; then
echo "== 4. streamed image-folder on the GPU"
TREE=$(mktemp -d /tmp/office.XXXXXX)
"$PY" - "$TREE" <<'PY'
import sys, numpy as np
from pathlib import Path
from PIL import Image
root, rng = Path(sys.argv[1]), np.random.default_rng(0)
for d, domain in enumerate(("amazon", "webcam")):
    for c in range(10):
        folder = root / domain / "images" / f"class_{c:02d}"
        folder.mkdir(parents=True)
        for i in range(40):
            h, w = rng.integers(240, 480, 2)
            base = np.zeros((h, w, 3), np.uint8) + np.uint8(20 * c + 40 * d)
            noise = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
            Image.fromarray(base + noise).save(folder / f"{i:03d}.jpg", quality=90)
print("INFO tree: 2 domains x 10 classes x 40 JPEGs")
PY
timeout "$(left 120)" "$PY" -m dann_core run --dataset image-folder --set dataset.source="$TREE/amazon/images" \
  --set dataset.target="$TREE/webcam/images" --set dataset.size=224 --set dataset.augment=standard --set dataset.workers=8 \
  --backbone resnet18 --device cuda --steps 200 --eval-every 100 --batch-size 64 --out "$LOGDIR/run_image_folder" --json 2>&1 | tail -30
if [ -f benchmarks/bench_data.py ]; then
  timeout "$(left 150)" "$PY" -m benchmarks.bench_data --workers 8 2>&1 | tee "$LOGDIR/bench_data_h200.txt" | tail -30
fi
fi
echo "SUMMARY gpu_e2e done in $SECONDS s"
