#!/usr/bin/env bash
# README's test command: set-up, then every test of the workspace (optimised: the crypto
# is unusable unoptimised), then a compile check of the benchmarks so they do not rot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
ops/setup.sh
ops/circuits.sh >/dev/null
cargo test --workspace --release --locked
cargo build --release --locked -p fornax-bench --benches
