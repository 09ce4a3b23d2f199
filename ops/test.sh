#!/usr/bin/env bash
# README's test command: set-up, then every test of the workspace (optimised: the crypto
# is unusable unoptimised), then a compile check of the benchmarks so they do not rot.
# Ends with one summary line, "tests: N passed, M failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ops/setup.sh
ops/circuits.sh >/dev/null
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --release --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
cargo build --release --locked -p fornax-bench --benches
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
