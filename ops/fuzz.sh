#!/usr/bin/env bash
# Longer fuzzing of the parsers that take outside bytes (scheduler/tests/fuzz.rs: zkey,
# r1cs, wtns, circom wasm and input JSON, FHE programs and ciphertexts, TEE quotes, the
# API's task JSON). CI runs the same properties with 256 inputs each.
#
#   ops/fuzz.sh [CASES]     CASES inputs per parser (default 20000); prints each parser's
#                           count, how many it accepted, and the total. FORNAX_SEED repeats
#                           a run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cases=${1:-20000}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The workspace's build, as the test command makes it (another package selection would
# resolve other features and rebuild the dependencies).
FORNAX_FUZZ_CASES=$cases cargo test --workspace --profile ci --locked --test fuzz \
  -- --nocapture --test-threads 1 2>&1 | tee "$log" | grep -E '^(fuzz |test |seed )' || true
grep -q '^test result: ok' "$log" || { echo "fuzzing failed: see above" >&2; tail -n 40 "$log" >&2; exit 1; }
awk '/^fuzz /{ for (i = 1; i <= NF; i++) if ($i == "inputs") n += $(i - 1) } END { print "fuzzing: " n " inputs, no panic, no server error" }' "$log"
