#!/usr/bin/env bash
# Fornax's Foundry project (chain-adapter/contracts), offline, with npm's forge and solc.
#
#   ops/contracts.sh build      compiles, and refreshes chain-adapter/artifacts/ (the ABI and
#                               bytecode the Rust bindings are generated from)
#   ops/contracts.sh check      fails if the committed artifacts differ from a fresh build
#   ops/contracts.sh test [ARGS]
#                               writes fresh fixtures (fornax proofs of random inputs, fornax's
#                               and snarkjs's verifiers for the same keys), then `forge test`
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/chain-adapter/contracts"
forge=$root/ops/js/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
[ -x "$forge" ] || { echo "forge missing: run ops/setup.sh" >&2; exit 1; }
artifacts=$root/chain-adapter/artifacts
contracts=(TaskMarket WorkerRegistry Groth16VerifierRuntime)

# The ABI and bytecode of one compiled contract, in the shape alloy's sol! reads.
export_artifact() {
  node -e '
const fs = require("fs");
const a = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
// Source maps are left out: their file indices depend on what else was compiled.
const out = { abi: a.abi, bytecode: { object: a.bytecode.object }, deployedBytecode: { object: a.deployedBytecode.object } };
process.stdout.write(JSON.stringify(out, null, 1) + "\n");
' "out/$1.sol/$1.json"
}

build() {
  # Only src/: the tests need generated fixtures and are compiled by `test`.
  "$forge" build --offline --use ./solc --skip test --quiet
}

case "${1:-build}" in
  build)
    build
    mkdir -p "$artifacts"
    for c in "${contracts[@]}"; do export_artifact "$c" >"$artifacts/$c.json"; done
    echo "artifacts written to chain-adapter/artifacts" >&2
    ;;
  check)
    build
    for c in "${contracts[@]}"; do
      if ! export_artifact "$c" | cmp -s - "$artifacts/$c.json"; then
        echo "chain-adapter/artifacts/$c.json is stale: run ops/contracts.sh build and commit" >&2
        exit 1
      fi
    done
    echo "artifacts match the contracts' sources" >&2
    ;;
  test)
    shift
    fixtures=$("$root/ops/circuits.sh" | tail -1)
    # The workspace's one build (a no-op after the test command's; its profile is `ci`):
    # another package selection would resolve other features and recompile the dependencies.
    "$root/ops/build.sh" --quiet
    mkdir -p test/generated
    "${CARGO_TARGET_DIR:-$root/target}/ci/examples/contract_fixtures" "$fixtures" test/generated
    for name in merkle_inclusion poseidon_preimage; do
      "$root/ops/js/node_modules/.bin/snarkjs" zkey export solidityverifier \
        "$fixtures/$name/$name.zkey" "test/generated/snarkjs_$name.sol" >/dev/null
    done
    "$forge" test --offline --use ./solc "$@"
    ;;
  *) echo "usage: ops/contracts.sh build|check|test" >&2; exit 2 ;;
esac
