#!/usr/bin/env bash
# README's test command: set-up, then every test of the workspace (optimised: the crypto
# is unusable unoptimised; the CUDA kernels compiled for sm_90 with nvcc, ptxas and NVRTC
# from PyPI), the contracts' Foundry tests (offline, on fresh fornax proofs), a check that
# the committed contract artifacts match their sources, and a compile check of the
# benchmarks so they do not rot. Ends with one summary line,
# "tests: N passed, M failed" (forge's tests counted in).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ops/setup.sh
ops/circuits.sh >/dev/null
# The CUDA kernels are compiled for sm_90 (nvcc + ptxas, and NVRTC as at run time) even
# without a GPU; the GPU conformance tests skip loudly here (FORNAX_REQUIRE_GPU=1 fails them).
cuda_tools=$(ops/cuda-tools.sh)
export FORNAX_CUDA_TOOLS="$cuda_tools" FORNAX_REQUIRE_CUDA_TOOLS=1
export LD_LIBRARY_PATH="$cuda_tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The wgpu conformance kit runs on lavapipe (installed by the set-up); its absence fails.
export FORNAX_REQUIRE_WGPU=1
# The scale-out scenarios start their own nats-server on loopback.
FORNAX_NATS_SERVER=$(ops/nats.sh)
export FORNAX_NATS_SERVER
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
ops/contracts.sh check || status=1
# forge prints "Ran N test suites …: P tests passed, F failed": counted as one result line.
ops/contracts.sh test 2>&1 | tee -a "$log" | grep -vE '^\s*$'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
cargo build --release --locked -p fornax-bench --benches
awk '/^test result:/ { p += $4; f += $6 }
     /^Ran [0-9]+ test suites? in/ { for (i = 1; i <= NF; i++) { if ($i == "passed,") p += $(i-2); if ($i == "failed,") f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
