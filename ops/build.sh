#!/usr/bin/env bash
# The one build of the workspace that the test command, the contracts' fixtures and the
# benches' compile check share: every target of every member (tests, examples, benches), in
# the `ci` profile (Cargo.toml: optimised, no LTO, little debug information; a cold build in
# about half the time of `release`), with one feature set. Any other cargo invocation with another profile, package
# selection or feature set would recompile the dependency tree, so scripts that need a binary
# of the workspace run this and take it from the target folder ($CARGO_TARGET_DIR or target/).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --profile ci --locked --all-targets --no-run "$@"
# `--all-targets` builds the examples as test harnesses; the default selection builds them as
# the programs they are (contract_fixtures, gpu_check), linked from the same compiled crates.
exec cargo test --workspace --profile ci --locked --no-run "$@"
