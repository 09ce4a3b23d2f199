#!/usr/bin/env bash
# The CUDA backend's checks on a GPU machine, in one call.
#
#   ops/gpu-check.sh stage   # here (has Rust): build the CUDA conformance test and `fornax`
#                            # optimised and copy them to target/gpu-check/
#   ops/gpu-check.sh run     # there (has the driver, no Rust): field/curve self-tests and the
#                            # MSM/NTT conformance against the CPU up to 2^24, then
#                            # `fornax bench --device cuda:0`, results to bench/results/
#
# With the device tool: stage here, then run with `carry: ["target/gpu-check"]` and the
# command `ops/gpu-check.sh run`. The bench JSON lands in $OUT (when set) and in
# bench/results/, named after the device and the commit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stage=target/gpu-check

case "${1:-}" in
stage)
    mkdir -p "$stage"
    cargo build --release --locked -p fornax-scheduler --bin fornax
    # The test binary's path is printed by cargo as JSON; take the newest executable.
    test_bin=$(cargo test --release --locked -p fornax-kernels --test conformance_cuda --no-run \
        --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*conformance_cuda[^"]*\)".*/\1/p' | tail -n1)
    [ -n "$test_bin" ] || { echo "gpu-check: could not build conformance_cuda" >&2; exit 1; }
    cp "$test_bin" "$stage/conformance_cuda"
    cp target/release/fornax "$stage/fornax"
    git rev-parse HEAD >"$stage/commit"
    du -sh "$stage"
    ;;
run)
    [ -x "$stage/fornax" ] || { echo "gpu-check: run 'ops/gpu-check.sh stage' first and carry $stage" >&2; exit 1; }
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    # cudarc loads libnvrtc at run time: put the first one found on the loader path.
    nvrtc=$(find / -xdev -name 'libnvrtc.so*' 2>/dev/null | head -n1 || true)
    [ -n "$nvrtc" ] && export LD_LIBRARY_PATH="$(dirname "$nvrtc")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    "$stage/fornax" devices
    status=0
    FORNAX_REQUIRE_GPU=1 "$stage/conformance_cuda" --test-threads=1 --nocapture || status=1
    commit=$(cat "$stage/commit")
    out_dir=${OUT:-bench/results}
    mkdir -p "$out_dir"
    json="$out_dir/cuda-$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')-${commit:0:10}.json"
    "$stage/fornax" bench --device cuda:0 --msm 20,24 --ntt 24 --groth16 20 --reps 3 \
        --json "$json" || status=1
    exit "$status"
    ;;
*)
    echo "usage: ops/gpu-check.sh stage|run" >&2
    exit 2
    ;;
esac
