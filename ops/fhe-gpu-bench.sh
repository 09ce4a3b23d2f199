#!/usr/bin/env bash
# The FHE engine on the GPU machine (tfhe-rs's CUDA backend, sm_90), in one call there.
#
#   ops/fhe-gpu-bench.sh stage   # here (Rust, nvcc from PyPI, no GPU): build the gpu_bench
#                                # example (ops/fhe-gpu-build.sh), strip it, and put it with
#                                # the CUDA runtime it links into target/fhe-gpu/ (≤ 64 MiB)
#   ops/fhe-gpu-bench.sh run     # there (driver, no Rust): batched KS-PBS throughput against
#                                # the CPU, programs on the GPU threshold-decrypted; JSON to
#                                # $OUT (when set) and bench/results/
#
# With the device tool: stage here, then run with `carry: ["target/fhe-gpu"]` and the command
# `ops/fhe-gpu-bench.sh run`. Never part of the test command.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stage=target/fhe-gpu
limit=$((64 * 1024 * 1024))

case "${1:-}" in
stage)
    ops/fhe-gpu-build.sh -p fornax-fhe --features gpu --example gpu_bench
    mkdir -p "$stage"
    strip -o "$stage/gpu_bench" target/gpu/release/examples/gpu_bench
    cp -L "$(ops/cuda-tools.sh)/lib/libcudart.so.13" "$stage/"
    git rev-parse HEAD >"$stage/commit"
    size=$(du -cb "$stage" | tail -n1 | cut -f1)
    echo "staged $stage: $size bytes (the carry limit is $limit)"
    [ "$size" -le "$limit" ] || { echo "fhe-gpu-bench: $stage is over the carry limit" >&2; exit 1; }
    ;;
run)
    [ -x "$stage/gpu_bench" ] || { echo "fhe-gpu-bench: run 'ops/fhe-gpu-bench.sh stage' first and carry $stage" >&2; exit 1; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    export LD_LIBRARY_PATH="$root/$stage${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    commit=$(cat "$stage/commit")
    out_dir=${OUT:-bench/results}
    mkdir -p "$out_dir"
    gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')
    json="$out_dir/fhe-cuda-${gpu:-gpu}-${commit:0:10}.json"
    "$stage/gpu_bench" --commit "$commit" --json "$json" "${@:2}"
    ;;
*)
    echo "usage: ops/fhe-gpu-bench.sh stage|run [gpu_bench arguments…]" >&2
    exit 2
    ;;
esac
