export PYTHONUNBUFFERED=1
echo "== install + a DANN run on cuda"
TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 timeout 90 python3 -m pip install -q --no-deps --no-build-isolation -e . > $OUT/install.log 2>&1 || tail -5 $OUT/install.log
timeout 60 dann run --device cuda --steps 400 --eval-every 100 --out /tmp/gpu_run --json 2>&1 | python3 -c "import json,sys; t=sys.stdin.read(); i=t.find('{'); d=json.loads(t[i:]) if i>=0 else None; print(d and {k: d[k] for k in ('best_step','target_test_acc','selector','seconds')} or t[-800:])"
timeout 40 dann run --device cuda --dataset digits-blend --steps 200 --eval-every 100 --precision bf16 --out /tmp/gpu_run2 --json 2>&1 | tail -c 600
echo "== gpu_check"
GPU_CHECK_BUDGET_S=140 bash benchmarks/gpu_check.sh 2>&1 | grep -v "^PASS\|^INFO bench"
