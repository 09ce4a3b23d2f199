#!/usr/bin/env bash
# Builds the benchmark circuit bench/circuits/hash_chain.circom at LINKS links into DIR:
# c.r1cs and the witness generator (circom2), c.zkey (fornax dev-setup: an INSECURE key,
# for benchmarks only) and c.wtns (fornax witness). 84 links fill a 2^16 domain, 335 a
# 2^18 one.
#
#   bench/circuit.sh LINKS DIR [FORNAX]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
links=${1:?links}
dir=${2:?output folder}
fornax=${3:-${CARGO_TARGET_DIR:-$root/target}/ci/fornax}
bin=$root/ops/js/node_modules/.bin
[ -x "$bin/circom2" ] || { echo "circom2 missing: run ops/setup.sh" >&2; exit 1; }
mkdir -p "$dir"
src=$dir/c.circom
{ cat "$root/bench/circuits/hash_chain.circom"; echo; echo "component main = HashChain($links);"; } >"$src"
"$bin/circom2" "$src" --r1cs --wasm -o "$dir" -l "$root/ops/js/node_modules" >/dev/null
echo '{"seed": "12345"}' >"$dir/input.json"
"$fornax" dev-setup "$dir/c.r1cs" "$dir/c.zkey"
"$fornax" witness "$dir/c_js/c.wasm" "$dir/input.json" "$dir/c.wtns"
