#!/usr/bin/env bash
# Builds with tfhe-rs's CUDA backend for the H100 (sm_90) on a machine without a GPU, into
# target/gpu: by default fornax-fhe with its `gpu` feature; with arguments, what they say
# (`-p fornax-scheduler --features fhe-gpu` is the node that runs FHE tasks on a GPU). Never
# part of the test command.
#
# tfhe-cuda-backend's CMakeLists picks the architecture by compiling and running a probe
# (check_cuda.cu, linked with libcuda): without a GPU it hard-sets sm_70. ops/fhe/nvcc-sm90
# wraps the PyPI nvcc 13.0 to answer that probe with sm_90 and to turn "native" into sm_90.
# CMake and the CUDA C++ core headers (CCCL) come from PyPI into the CUDA tools' venv.
# Usage: ops/fhe-gpu-build.sh [cargo build arguments…]   (default: -p fornax-fhe --features gpu)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools=$(ops/cuda-tools.sh)
venv="${FORNAX_CACHE_DIR:-$root/.fornax-cache}/cuda-venv"
stamp="$venv/.fornax-fhe-gpu"
if [ ! -f "$stamp" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check "cmake>=3.24,<4" "nvidia-cuda-cccl==13.0.*" >&2
  touch "$stamp"
fi
# The wheels ship libcudart.so.13 only; the linker's -lcudart wants the unversioned name.
link="${FORNAX_CACHE_DIR:-$root/.fornax-cache}/cuda-link"
mkdir -p "$link"
ln -sf "$tools/lib/libcudart.so.13" "$link/libcudart.so"
export FORNAX_REAL_NVCC="$tools/bin/nvcc"
export CUDACXX="$root/ops/fhe/nvcc-sm90" CUDA_PATH="$tools"
export PATH="$venv/bin:$tools/bin:$PATH" LIBRARY_PATH="$link:$tools/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
export CARGO_TARGET_DIR="$root/target/gpu"
[ "$#" -gt 0 ] || set -- -p fornax-fhe --features gpu
cargo build --release --locked "$@"
