#!/usr/bin/env bash
# Everything the GPU machine checks (issues 24 and 25), in one call that fits its lease:
# the CUDA proving check, the FHE bench, the wgpu check, and Nsight Compute over the MSM and
# NTT kernels if time is left. Each part has its own budget, all capped by one deadline.
#
# Here: ops/gpu-check.sh stage && ops/fhe-gpu-bench.sh stage target/gpu-check .gl
# There (device tool): carry ["target/gpu-check", "target/fhe-gpu", ".gl"], command
#   ops/device-check.sh [deadline_s, default 540]
#
# Estimates (H200, 16 cores): CUDA ~230 s, FHE ~125 s, FHE multi-bit ~80 s, wgpu ~90 s (G2 included), ncu
# ~60 s (only if time is left): ~8 to 9 minutes,
# inside a 10-minute command; the budgets stop each part early rather than lose the rest.
# Files under $OUT (8 at most): gpu-check.json, fhe-gpu.json, fhe-gpu-multibit.json,
# cuda.log, fhe.log, fhe-multibit.log, wgpu.log, ncu.txt.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
start=$(date +%s)
export FORNAX_DEADLINE=$((start + ${1:-540}))
out=${OUT:-bench/results}
mkdir -p "$out"
left() { echo $((FORNAX_DEADLINE - $(date +%s))); }
status=0
echo "== CUDA proving check"
ops/gpu-check.sh run 2>&1 | tee "$out/cuda.log" || status=1
echo "== FHE bench ($(left) s left)"
if [ "$(left)" -gt 60 ]; then
  budget=$(( $(left) - 45 )); [ "$budget" -le 240 ] || budget=240
  FHE_BUDGET_S=$budget ops/fhe-gpu-bench.sh run 2>&1 | tee "$out/fhe.log" || status=1
else
  echo "skipped: too little time left"; status=1
fi
if [ "$(left)" -gt 150 ]; then
  echo "== FHE bench on the multi-bit parameter set ($(left) s left)"
  budget=$(( $(left) - 100 )); [ "$budget" -le 120 ] || budget=120
  FHE_BUDGET_S=$budget FHE_JSON_NAME=fhe-gpu-multibit.json ops/fhe-gpu-bench.sh run \
    --params gpu-multi-bit --stages gpu,engine,programs 2>&1 | tee "$out/fhe-multibit.log" || status=1
fi
echo "== wgpu check ($(left) s left)"
ops/gpu-check.sh wgpu 2>&1 | tee "$out/wgpu.log" || status=1
if [ "$(left)" -gt 50 ]; then
  echo "== ncu ($(left) s left)"
  ops/gpu-check.sh profile $(( $(left) - 10 )) || true
fi
echo "device-check: done in $(( $(date +%s) - start )) s, status $status"
exit "$status"
