#!/usr/bin/env bash
# One-call GPU check of dann's CUDA path (issue 12), for a machine with a GPU, nvcc and a python3 with
# torch, pytest (pytest-xdist and pytest-timeout used when present) and no network:
#
#     bash benchmarks/gpu_check.sh          # from anywhere in the repo; about 5-8 min on one H200
#
# Stages, each under its own timeout inside one overall budget (GPU_CHECK_BUDGET_S, default 540 s):
# build the extension in place for this GPU's arch; the targeted checks of the issue (streams,
# device guard, CUDA graphs with λ changed between replays, no host sync, n > 2^24 and n >= 2^31,
# torch.compile reduce-overhead over a DANN step, deferred bad-label errors); the rest of tests/cuda;
# compute-sanitizer memcheck / racecheck / synccheck on a small workload of every kernel;
# benchmarks/cuda_bench.py. Prints one PASS / FAIL / SKIP / INFO line per check and a SUMMARY line;
# exits 1 if anything failed. With $OUT set, the log, JUnit XML, sanitizer logs and the benchmark CSV
# are written there.
set -u
cd "$(dirname "$0")/.."
BUDGET=${GPU_CHECK_BUDGET_S:-540}
LOGDIR=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$LOGDIR"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD:$PWD/plugins${PYTHONPATH:+:$PYTHONPATH}"  # the repo is not pip-installed there
TARGETED="stream or device_guard or graph or pageable or no_host_sync or 2_pow or reduce_overhead or same_bits or bad_input"

# Seconds for a stage: at most $1, leaving $2 for the stages after it; when the budget cannot leave
# that much, the stage gets what is left (never under 10), so a small budget still builds.
cap() { local left=$((BUDGET - SECONDS)) r=$((BUDGET - SECONDS - $2)); ((r < 10)) && r=$left; ((r > $1)) && r=$1; ((r < 10)) && r=10; echo "$r"; }

# JUnit XML -> PASS/FAIL/SKIP lines (mode "each") or a count with the failures only ("summary").
report() {
  "$PY" - "$@" <<'PY'
import sys, collections, xml.etree.ElementTree as ET
path, mode, label = sys.argv[1:4]
try:
    root = ET.parse(path).getroot()
except (OSError, ET.ParseError) as exc:
    print(f"FAIL {label}: no test report ({exc.__class__.__name__}); the stage crashed or timed out, see the log")
    sys.exit(1)
n, skips = collections.Counter(), collections.Counter()
for tc in root.iter("testcase"):
    name = f"{tc.get('classname', '').split('.')[-1]}::{tc.get('name')}"
    bad = tc.find("failure") if tc.find("failure") is not None else tc.find("error")
    if bad is not None:
        n["failed"] += 1
        msg = (bad.get("message") or bad.text or "").strip().splitlines()
        print(f"FAIL {name}: {msg[0][:240] if msg else '?'}")
    elif tc.find("skipped") is not None:
        n["skipped"] += 1
        why = (tc.find("skipped").get("message") or "").strip()
        if mode == "each":
            print(f"SKIP {name}: {why[:240]}")
        skips[why[:160]] += 1
    else:
        n["passed"] += 1
        if mode == "each":
            print(f"PASS {name} ({float(tc.get('time') or 0):.1f} s)")
if mode == "summary":
    for why, count in skips.most_common(8):
        print(f"INFO {label}: {count} skipped: {why}")
print(f"INFO {label}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped")
sys.exit(1 if n["failed"] or not sum(n.values()) else 0)
PY
}

WORKLOAD=$(mktemp /tmp/dann_gpu_workload.XXXXXX.py)
trap 'rm -f "$WORKLOAD"' EXIT
cat >"$WORKLOAD" <<'PY'
# Every CUDA kernel of dann once or more, small: odd sizes, aligned and misaligned pointers, every
# dtype and kind of λ, CE groups G = 1 / 8 / 32, a grid at the loss-block cap, a bad label (the
# kernel writes the pinned flag) and a CUDA graph replay. For compute-sanitizer.
import torch
import dann_core.ops  # noqa: F401  (registers torch.ops.dann)
from dann_core import _C

D, dev = torch.ops.dann, "cuda"
lams = [torch.tensor(0.37, device=dev), torch.tensor(0.37).pin_memory(), torch.tensor(0.37),
        torch.tensor(0.37, device=dev, dtype=torch.bfloat16)]
for dt in (torch.float32, torch.float16, torch.float64, torch.bfloat16):
    x = torch.randn(1038, 3, device=dev).to(dt)
    for t in (x.view(-1), x.view(-1)[1:]):  # aligned, misaligned
        for lam in lams:
            D.grl_backward(t, lam)
        D.split_reverse_backward(t[:500], t, 500, lams[0])
        D.split_reverse_backward(None, t, 0, lams[1])
        z = t[:1037]
        for red in ("none", "mean", "sum"):
            D.domain_bce(z, None, 300, None, red)
            D.domain_bce(z, (z > 0).int(), 0, z.abs(), red)
            for k in (3, 20, 100):
                D.domain_ce(torch.randn(1037, k, device=dev).to(dt), torch.randint(0, k, (1037,), device=dev), None, red)
    D.grl_linear_backward(x[:, :2].contiguous(), x, x[:2], lams[1])
big = torch.randn(1024 * 256 * 2 + 5, device=dev)
D.domain_bce(big, None, 1000, None, "mean")
D.domain_ce(big[: big.numel() // 5 * 5].view(-1, 5), torch.randint(0, 5, (big.numel() // 5,), device=dev), None, "sum")
D.domain_ce(torch.randn(64, 3, device=dev), torch.full((64,), 5, device=dev), None, "mean")
torch.cuda.synchronize()
try:
    _C.raise_pending_label_errors()
    raise SystemExit("a bad label was not reported")
except ValueError:
    pass
g, lam = torch.cuda.CUDAGraph(), torch.tensor(0.5, device=dev)
xg = torch.randn(4099, device=dev)
D.grl_backward(xg, lam)
torch.cuda.synchronize()
with torch.cuda.graph(g):
    out = D.grl_backward(xg, lam)
lam.fill_(0.25)
g.replay()
torch.cuda.synchronize()
assert torch.equal(out, xg * -0.25)
print("workload ok")
PY

main() {
  local fails=0 rc t0
  echo "INFO gpu_check $(date -u +%FT%TZ) in $PWD, budget ${BUDGET} s, logs in $LOGDIR"
  if ! "$PY" - <<'PY'; then echo "FAIL environment: no usable CUDA GPU from $PY"; return 1; fi
import sys, torch
print(f"INFO torch {torch.__version__} (CUDA {torch.version.cuda}), python {sys.version.split()[0]}")
if not torch.cuda.is_available():
    sys.exit(1)
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"INFO cuda:{i} {p.name}, sm_{p.major}{p.minor}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs")
PY
  echo "INFO nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'not on PATH')"
  local arch xdist="" ptimeout="" filter=""
  arch=${TORCH_CUDA_ARCH_LIST:-$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}
  "$PY" -c 'import xdist' 2>/dev/null && xdist="-n 8"
  "$PY" -c 'import pytest_timeout' 2>/dev/null && ptimeout="--timeout=200"
  command -v ninja >/dev/null || "$PY" -c 'import ninja' 2>/dev/null ||
    echo "INFO ninja not found: the build falls back to the serial setuptools backend (slower)"
  local skip_opcheck=""
  "$PY" -c 'import expecttest' 2>/dev/null ||
    { skip_opcheck=" and not opcheck"; echo "INFO expecttest is missing: torch.library.opcheck tests deselected"; }
  echo "INFO pytest options: ${xdist:-no xdist} ${ptimeout:-no per-test timeout}"

  # 1. build
  t0=$SECONDS
  MAX_JOBS=${MAX_JOBS:-16} TORCH_CUDA_ARCH_LIST=$arch timeout "$(cap 300 300)" \
    "$PY" setup.py build_ext --inplace --force >"$LOGDIR/build.log" 2>&1
  rc=$?
  if ((rc != 0)); then
    tail -25 "$LOGDIR/build.log"
    echo "FAIL build for TORCH_CUDA_ARCH_LIST=$arch: rc $rc after $((SECONDS - t0)) s (124 = timed out); see build.log"
    return 1
  fi
  if "$PY" -c "
from dann_core.ops import build_info
b = build_info(); print('INFO build_info', b)
want = 'sm_' + ''.join(c for c in '$arch'.split('+')[0] if c.isdigit())  # 9.0a and 9.0 both build sm_90
assert b.get('cuda') and want in b['cuda_archs'], b"; then
    echo "PASS build for sm_${arch/./} in $((SECONDS - t0)) s"
  else
    echo "FAIL build: dann_core._C does not load with CUDA kernels for $arch"
    return 1
  fi

  # 2. the targeted checks of issue 12, one line each
  echo "== targeted checks"
  timeout "$(cap 240 200)" "$PY" -m pytest -q -p no:cacheprovider --confcutdir=tests/cuda $xdist $ptimeout \
    tests/cuda/test_cuda_ops.py tests/cuda/test_capture_safety.py -k "$TARGETED or capture_safety" \
    --junitxml="$LOGDIR/targeted.xml" >"$LOGDIR/targeted.log" 2>&1
  rc=$?
  ((rc == 124)) && echo "FAIL targeted checks: timed out; the report below may be partial"
  report "$LOGDIR/targeted.xml" each "targeted checks" || fails=$((fails + 1))

  # 3. the rest of tests/cuda (values, dtypes, layouts, errors, opcheck, compile)
  echo "== tests/cuda"
  timeout "$(cap 300 150)" "$PY" -m pytest -q -p no:cacheprovider --confcutdir=tests/cuda $xdist $ptimeout \
    tests/cuda/test_cuda_ops.py -k "not ($TARGETED)$skip_opcheck" --junitxml="$LOGDIR/suite.xml" >"$LOGDIR/suite.log" 2>&1
  rc=$?
  ((rc == 124)) && echo "FAIL tests/cuda: timed out; the report below may be partial"
  report "$LOGDIR/suite.xml" summary "tests/cuda" || fails=$((fails + 1))

  # 4. compute-sanitizer on the small workload, our kernels only
  echo "== compute-sanitizer"
  if ! "$PY" "$WORKLOAD" >"$LOGDIR/workload.log" 2>&1; then
    tail -5 "$LOGDIR/workload.log"
    echo "FAIL sanitizer workload fails without a sanitizer; see workload.log"
    fails=$((fails + 1))
  elif ! command -v compute-sanitizer >/dev/null; then
    echo "INFO compute-sanitizer is not on PATH: not run"
  else
    compute-sanitizer --help 2>/dev/null | grep -q -- '--kernel-name ' && filter="--kernel-name kns=dann"
    for tool in memcheck racecheck synccheck; do
      t0=$SECONDS
      timeout "$(cap 80 60)" compute-sanitizer --tool "$tool" $filter --error-exitcode 7 \
        --print-limit 20 "$PY" "$WORKLOAD" >"$LOGDIR/sanitizer_$tool.log" 2>&1
      rc=$?
      if ((rc == 0)) && grep -q "workload ok" "$LOGDIR/sanitizer_$tool.log"; then
        echo "PASS compute-sanitizer $tool (${filter:-all kernels}): no errors in $((SECONDS - t0)) s"
      elif ((rc == 124)); then
        echo "INFO compute-sanitizer $tool: timed out after $((SECONDS - t0)) s, no verdict"
      else
        grep -m6 -E '^=+ +(Invalid|Race|Barrier|Error|.*[Hh]azard|.*ERROR)' "$LOGDIR/sanitizer_$tool.log"
        echo "FAIL compute-sanitizer $tool: rc $rc (7 = errors found); see sanitizer_$tool.log"
        fails=$((fails + 1))
      fi
    done
  fi

  # 5. the benchmark: large n first (memory bound), then the DANN-batch size (launch bound)
  echo "== benchmarks/cuda_bench.py"
  t0=$SECONDS
  timeout "$(cap 60 30)" "$PY" benchmarks/cuda_bench.py --quick --csv "$LOGDIR/cuda_bench.csv" 2>&1 | sed 's/^/INFO bench /'
  rc=${PIPESTATUS[0]}
  if ((rc == 0)) && ((BUDGET - SECONDS > 25)); then
    timeout "$(cap 40 0)" "$PY" benchmarks/cuda_bench.py --sizes 256 --no-compile --reps 10 \
      --csv "$LOGDIR/cuda_bench.csv" 2>&1 | grep -v '^#\|^case' | sed 's/^/INFO bench /'
    rc=${PIPESTATUS[0]}
  fi
  if ((rc == 0)); then echo "PASS cuda_bench.py ran in $((SECONDS - t0)) s"; else
    echo "FAIL cuda_bench.py: rc $rc (124 = timed out)"
    fails=$((fails + 1))
  fi

  echo "SUMMARY $fails failed stage(s) in ${SECONDS} s (budget ${BUDGET} s); logs in $LOGDIR"
  ((fails == 0))
}

main 2>&1 | tee "$LOGDIR/gpu_check.log"
exit "${PIPESTATUS[0]}"
