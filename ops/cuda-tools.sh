#!/usr/bin/env bash
# Installs the CUDA 13.0 compilers from PyPI (nvcc, ptxas, NVRTC; no driver, no GPU needed)
# into the cache folder's cuda-venv ($FORNAX_CACHE_DIR, default .fornax-cache), idempotently, and prints the folder holding bin/ and lib/.
# The test command uses them to compile the CUDA kernels for sm_90 on machines without a
# GPU; the GPU machine has its own CUDA. 13.0 matches the GPU machine's driver.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${FORNAX_CACHE_DIR:-$root/.fornax-cache}/cuda-venv"
stamp="$venv/.fornax-cuda-13.0"
pins=("nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-crt==13.0.*"
      "nvidia-nvvm==13.0.*" "nvidia-cuda-runtime==13.0.*")
if [ ! -f "$stamp" ]; then
  echo "cuda-tools: installing nvcc, ptxas and NVRTC 13.0 (pip)" >&2
  "$root/ops/venv.sh" "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}" >&2
  touch "$stamp"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tools="$site/nvidia/cu13"
[ -x "$tools/bin/nvcc" ] && [ -e "$tools/lib/libnvrtc.so.13" ] || {
  echo "cuda-tools: nvcc or libnvrtc missing under $tools" >&2
  exit 1
}
echo "$tools"
