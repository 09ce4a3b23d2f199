#!/usr/bin/env bash
# README's test command: set-up, one build of every target of the workspace (ops/build.sh:
# tests, examples, benches; one profile, `ci`, and one feature set, so nothing is compiled
# twice), every test of the workspace (optimised: the crypto is unusable unoptimised; the CUDA
# kernels compiled for sm_90 with nvcc, ptxas and NVRTC from PyPI; the wgpu kernels on
# lavapipe), a check that the
# committed contract artifacts match their sources, and the contracts' Foundry tests
# (offline, on fresh fornax proofs).
#
# It ends with a table of where the time went (set-up, build, each test binary, the contract
# suites), the total, and one summary line "tests: N passed, M failed" (forge's tests counted
# in). A JUnit XML file of every test goes to $FORNAX_JUNIT (default: the target folder's
# fornax-tests.xml).
#
# Builds go where cargo puts them: the checkout's target/, or CARGO_TARGET_DIR. A warm run (a
# target folder that a previous run of this script completed, with the same Cargo.lock and
# toolchain) must finish within FORNAX_TEST_BUDGET_S (default 1800 s, 30 minutes on a 2-core
# machine) or the command fails, so that a change that blows CI's budget is caught where it is
# made. A run after a change of dependencies or toolchain recompiles the dependencies it
# touches once (tfhe-rs alone is many minutes on 2 cores): it is reported as such and is not
# held to the budget; the next run is.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
started=$(date +%s)
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target"
warm_stamp="$target/.fornax-test-complete"
# What a warm target folder was built against: the lock file and the toolchain (recomputed at
# the end, since set-up may install the toolchain).
build_inputs() { { sha256sum Cargo.lock; rustc -V; cargo -V; } 2>/dev/null | sha256sum | cut -d' ' -f1 || true; }
warm=0   # 0 cold, 1 warm, 2 warm but the dependencies or toolchain changed since
if [ -f "$warm_stamp" ]; then
  if [ "$(cat "$warm_stamp")" = "$(build_inputs)" ]; then warm=1; else warm=2; fi
fi
budget=${FORNAX_TEST_BUDGET_S:-1800}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log="$work/cargo.log"
phases="$work/phases"   # lines "name<TAB>seconds<TAB>passed<TAB>failed"
: >"$phases"

# Runs "$@" as the phase $1, recording its seconds; returns its status.
phase() {
  local name=$1 t=$SECONDS rc=0
  shift
  "$@" || rc=$?
  printf '%s\t%s\t-\t-\n' "$name" $((SECONDS - t)) >>"$phases"
  return "$rc"
}

setup() {
  ops/setup.sh
  ops/circuits.sh >/dev/null
  # The CUDA kernels are compiled for sm_90 (nvcc + ptxas, and NVRTC as at run time) even
  # without a GPU; the GPU conformance tests skip loudly here (FORNAX_REQUIRE_GPU=1 fails them).
  cuda_tools=$(ops/cuda-tools.sh)
  FORNAX_NATS_SERVER=$(ops/nats.sh)
}
phase set-up setup
export FORNAX_CUDA_TOOLS="$cuda_tools" FORNAX_REQUIRE_CUDA_TOOLS=1
export LD_LIBRARY_PATH="$cuda_tools/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The wgpu conformance kit runs on lavapipe (installed by the set-up); its absence fails.
# Mesa keeps the compiled shaders in the cache folder, which CI keeps between runs: lavapipe
# compiling the curve kernels is most of that kit's time (139 s cold, 60 s warm here).
export FORNAX_REQUIRE_WGPU=1
# The FPGA RTL's co-simulation (Verilator, installed by the set-up) must run, not skip.
export FORNAX_REQUIRE_VERILATOR=1
# The Alveo driver's prototypes were checked against XRT's headers (libxrt-dev, the set-up).
export FORNAX_REQUIRE_XRT=1
export MESA_SHADER_CACHE_DIR=${MESA_SHADER_CACHE_DIR:-${FORNAX_CACHE_DIR:-$root/.fornax-cache}/mesa-shaders}
# Vulkan's loader wants a private runtime folder; without one it prints an error per device.
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -d "$XDG_RUNTIME_DIR" ]; then
  export XDG_RUNTIME_DIR="$work/xdg"
  mkdir -m 700 -p "$XDG_RUNTIME_DIR"
fi
# The scale-out scenarios start their own nats-server on loopback.
export FORNAX_NATS_SERVER

status=0
# One build: every target of every member, with the test run's profile and features. The
# test run, the contracts' fixture program and the benches' compile check reuse it.
phase build ops/build.sh || status=1
if [ "$status" -eq 0 ]; then
  set +e
  t=$SECONDS
  cargo test --workspace --profile ci --locked --no-fail-fast 2>&1 | tee "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # One row per test binary: libtest's own "finished in" for each.
  awk -F'\t' -v OFS='\t' '
    /^ *Running / { n = $0; sub(/^ *Running /, "", n); sub(/ \(.*$/, "", n); sub(/^unittests /, "", n)
                    b = $0; sub(/^.*deps\//, "", b); sub(/-[0-9a-f]+\)$/, "", b)
                    name = b " (" n ")"; next }
    /^ *Doc-tests / { name = $0; sub(/^ *Doc-tests /, "", name); name = name " (doc-tests)"; next }
    /^test result:/ { s = $0; sub(/^.*finished in /, "", s); sub(/s$/, "", s)
                      split($0, w, " "); print name, s, w[4], w[6] }' "$log" >>"$phases"
  printf '%s\t%s\t-\t-\n' "(cargo test outside the binaries)" \
    $((SECONDS - t - $(awk -F'\t' '$3 != "-" { s += $2 } END { printf "%d", s }' "$phases"))) >>"$phases"
  set -e
fi
phase "contracts: artifacts check" ops/contracts.sh check || status=1
# The RTL still synthesises for UltraScale+ (yosys, at reduced width: a quick run).
phase "hw: synthesis check" hw/synth.sh --quick || status=1
forge_test() {
  # forge prints "Ran N test suites …: P tests passed, F failed": counted like a test binary.
  ops/contracts.sh test 2>&1 | tee "$work/forge.log" | grep -vE '^\s*$'
  return "${PIPESTATUS[0]}"
}
t=$SECONDS
forge_test || status=1
awk -v OFS='\t' -v s=$((SECONDS - t)) '
  /^Ran [0-9]+ test suites? in/ && match($0, /[0-9]+ tests? passed, [0-9]+ failed/) {
    split(substr($0, RSTART, RLENGTH), w, " "); print "contracts: forge test", s, w[1], w[4]; found = 1 }
  END { if (!found) print "contracts: forge test (no summary)", s, 0, 1 }' "$work/forge.log" >>"$phases"

total=$(($(date +%s) - started))
[ "$status" -ne 0 ] || build_inputs >"$warm_stamp"

# JUnit XML: one testsuite per test binary, one testcase per test, from libtest's lines.
junit=${FORNAX_JUNIT:-$target/fornax-tests.xml}
awk '
  function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }
  /^ *(Running|Doc-tests) / { if (open) print "  </testsuite>"; n = $0; sub(/^ *(Running|Doc-tests) /, "", n)
                              printf "  <testsuite name=\"%s\">\n", esc(n); open = 1; next }
  /^test .* \.\.\. (ok|FAILED|ignored)$/ { t = $0; sub(/^test /, "", t); r = t; sub(/ \.\.\. .*$/, "", t); sub(/^.* \.\.\. /, "", r)
      printf "    <testcase name=\"%s\">", esc(t)
      if (r == "FAILED") printf "<failure/>"; else if (r == "ignored") printf "<skipped/>"
      print "</testcase>" }
  BEGIN { print "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"; print "<testsuites name=\"fornax\">" }
  END { if (open) print "  </testsuite>"; print "</testsuites>" }' "$log" >"$junit" 2>/dev/null || true

echo
kind=("cold run" "warm run" "warm run after a change of dependencies or toolchain: not held to the budget")
echo "where the time went (${kind[$warm]}; target $target):"
awk -F'\t' '{ printf "  %7.1f s  %-60s %s\n", $2, $1, ($3 == "-" ? "" : $3 " passed, " $4 " failed") }' "$phases"
printf '  %7d s  %s\n' "$total" "total"
echo "JUnit XML: $junit"
awk -F'\t' '$3 != "-" { p += $3; f += $4 } END { printf "tests: %d passed, %d failed\n", p, f }' "$phases"
if [ "$warm" -eq 1 ] && [ "$total" -gt "$budget" ]; then
  echo "test.sh: this warm run took $total s, over the budget of $budget s (FORNAX_TEST_BUDGET_S)" >&2
  status=1
fi
exit "$status"
