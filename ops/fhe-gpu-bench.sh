#!/usr/bin/env bash
# The FHE engine on the GPU machine (tfhe-rs's CUDA backend, sm_90), in one call there.
#
#   ops/fhe-gpu-bench.sh stage   # here (Rust, nvcc from PyPI, no GPU): build the gpu_bench
#                                # example (ops/fhe-gpu-build.sh), strip it, xz it and the CUDA
#                                # runtime it links into target/fhe-gpu/, and check the carry
#                                # (with the working tree) against 62 MiB
#   ops/fhe-gpu-bench.sh run     # there (driver, no Rust): the stages below; JSON to $OUT
#                                # (when set) or bench/results/, rewritten after each stage
#
# With the device tool: stage here, then run with `carry: ["target/fhe-gpu"]` and the command
# `ops/fhe-gpu-bench.sh run`. Never part of the test command.
#
# Time of `run` (estimates for an H200 with 16 cores; the whole run has a 240 s `timeout`):
#   set-up (5, 3) and keys on the GPU          ~15 s
#   cpu: AND over 4,096 blocks, 3 reps         ~10 s
#   gpu: AND over 4,096 and 65,536, 5 reps     ~25 s (every block decrypted and checked)
#   multibit: keys, then the same              ~40 s
#   engine: 128 × AND64 through the engine     ~15 s
#   programs: auction + 1 random, 3 of 5       ~20 s
#   total                                     ~125 s (budget 240 s = 4 min)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stage=target/fhe-gpu
limit=$((62 * 1024 * 1024))

carry_bytes() {
  local tree
  tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -n1 | cut -f1)
  echo $((tree + $(du -cb "$@" 2>/dev/null | tail -n1 | cut -f1)))
}

case "${1:-}" in
stage)
    ops/fhe-gpu-build.sh -p fornax-fhe --features gpu --example gpu_bench
    rm -rf "$stage" && mkdir -p "$stage"
    strip -o "$stage/gpu_bench" target/gpu/release/examples/gpu_bench
    cp -L "$(ops/cuda-tools.sh)/lib/libcudart.so.13" "$stage/"
    xz -T0 -6 "$stage/gpu_bench" "$stage/libcudart.so.13"
    git rev-parse HEAD >"$stage/commit"
    git diff --quiet HEAD -- . || echo "dirty" >>"$stage/commit"
    ls -l "$stage"
    size=$(carry_bytes "$stage" "${@:2}")
    echo "staged $stage: working tree + carry${2:+ + ${*:2}} = $size bytes (the limit is $limit)"
    [ "$size" -le "$limit" ] || { echo "fhe-gpu-bench: over the 62 MiB limit" >&2; exit 1; }
    ;;
run)
    [ -f "$stage/gpu_bench.xz" ] || { echo "fhe-gpu-bench: run 'ops/fhe-gpu-bench.sh stage' first and carry $stage" >&2; exit 1; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    unpacked=/tmp/fornax-fhe-gpu
    mkdir -p "$unpacked"
    for f in gpu_bench libcudart.so.13; do
      python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as f, open(sys.argv[2], "wb") as g: shutil.copyfileobj(f, g)' \
        "$stage/$f.xz" "$unpacked/$f"
    done
    chmod +x "$unpacked/gpu_bench"
    export LD_LIBRARY_PATH="$unpacked${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    commit=$(head -n1 "$stage/commit")
    out_dir=${OUT:-bench/results}
    mkdir -p "$out_dir"
    json="$out_dir/${FHE_JSON_NAME:-fhe-gpu.json}"
    timeout -k 5 "${FHE_BUDGET_S:-240}" "$unpacked/gpu_bench" --commit "$commit" --json "$json" "${@:2}"
    ;;
*)
    echo "usage: ops/fhe-gpu-bench.sh stage [more carried paths…] | run [gpu_bench arguments…]" >&2
    exit 2
    ;;
esac
