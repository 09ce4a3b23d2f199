#!/usr/bin/env bash
# Builds the circom/snarkjs fixtures that Fornax's interoperability tests and the demo use:
# for each ops/circuits/NAME.circom, the .r1cs and .wasm (circom2), a Groth16 key from a
# small powers-of-tau ceremony with one contribution (snarkjs), its verification key, and
# the witness for NAME.input.json. Results are cached by content in the cache folder
# ($FORNAX_CACHE_DIR, default .fornax-cache) and rebuilt only when a circuit, an input, this
# script or the npm lock changes.
#
# Usage: ops/circuits.sh            prints the fixture directory (absolute) on its last line
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=ops/js/node_modules/.bin
[ -x "$bin/snarkjs" ] && [ -x "$bin/circom2" ] || { echo "snarkjs/circom2 missing: run ops/setup.sh" >&2; exit 1; }

key=$(cat ops/circuits.sh ops/circuits/* ops/js/package-lock.json | sha256sum | cut -c1-16)
out=${FORNAX_CACHE_DIR:-$root/.fornax-cache}/circuits/$key
if [ -f "$out/.done" ]; then echo "$out"; exit 0; fi
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
log="$out.tmp/build.log"
snarkjs() { "$bin/snarkjs" "$@" >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }; }

echo "building circuit fixtures in $out (powers of tau 2^12: about a minute)" >&2
snarkjs powersoftau new bn128 12 "$out.tmp/pot_0.ptau"
snarkjs powersoftau contribute "$out.tmp/pot_0.ptau" "$out.tmp/pot_1.ptau" --name=fornax-tests -e=fornax-test-entropy
snarkjs powersoftau prepare phase2 "$out.tmp/pot_1.ptau" "$out.tmp/pot.ptau"
for src in ops/circuits/*.circom; do
  name=$(basename "$src" .circom)
  dir="$out.tmp/$name"
  mkdir -p "$dir"
  "$bin/circom2" "$src" --r1cs --wasm -o "$dir" -l ops/js/node_modules >>"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  snarkjs groth16 setup "$dir/$name.r1cs" "$out.tmp/pot.ptau" "$dir/${name}_0.zkey"
  # One contribution, so that delta differs from gamma (snarkjs refuses keys where they match).
  snarkjs zkey contribute "$dir/${name}_0.zkey" "$dir/$name.zkey" --name=fornax-tests -e=fornax-zkey-entropy
  rm "$dir/${name}_0.zkey"
  snarkjs zkey export verificationkey "$dir/$name.zkey" "$dir/verification_key.json"
  snarkjs wtns calculate "$dir/${name}_js/$name.wasm" "ops/circuits/$name.input.json" "$dir/$name.wtns"
  cp "ops/circuits/$name.input.json" "$dir/input.json"
done
rm -f "$out.tmp"/pot_*.ptau
touch "$out.tmp/.done"
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out"
