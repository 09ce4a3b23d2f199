#!/usr/bin/env bash
# The CUDA proving check on the GPU machine (issue 24), sized for its lease: one slim program
# (bench/examples/gpu_check.rs) that opens the GPU once per stage group and writes its JSON
# after every stage, with the kernels compiled ahead for sm_90.
#
#   ops/gpu-check.sh stage   # here (Rust, nvcc from PyPI, no GPU): build gpu_check, strip and
#                            # xz it, compile the kernels' cubin for sm_90 with nvcc, print
#                            # ptxas's registers and spills, check the carry against 62 MiB
#   ops/gpu-check.sh run     # there (driver, no Rust): the stages below, JSON and log to $OUT
#   ops/gpu-check.sh wgpu    # there: the wgpu stages (Vulkan; the loader from .gl when carried)
#   ops/gpu-check.sh profile [budget_s]  # there: ncu (clocks untouched) over one 2^20 MSM and
#                            # one 2^22 NTT, the report to $OUT/ncu.txt
#
# With the device tool: stage here, then run with `carry: ["target/gpu-check"]` and the
# command `ops/gpu-check.sh run`. The results land in $OUT/gpu-check.json.
#
# Time of `run` (estimates for an H200 with 16 cores; each stage group has a `timeout`):
#   env selftest             ~10 s   (budget  45 s)  cubin load, field/curve self-tests
#   msm-g1 msm-g2            ~30 s   (budget  75 s)  ~330 MSM cases up to 2^20 against arkworks
#   msm-g1-large             ~45 s   (budget  75 s)  2^22+7 and 2^24 points made and summed twice
#   ntt                      ~35 s   (budget  60 s)  5 kinds + round trip, 2^0 … 2^24
#   bench-msm bench-ntt      ~60 s   (budget  90 s)  2^20, 2^24 MSM, 2^24 NTT, 7 reps + CPU's 5
#   bench-groth16            ~50 s   (budget  75 s)  2^20-constraint key made, 7 + 5 proofs
#   total                   ~230 s   (budget 420 s = 7 min), leaving a rerun inside 15 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
stage=target/gpu-check
limit=$((62 * 1024 * 1024))

# Bytes that travel to the device machine: the working tree (tracked and untracked files
# git does not ignore) plus the carried folders given as arguments.
carry_bytes() {
  local tree
  tree=$(git ls-files -z -co --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -n1 | cut -f1)
  echo $((tree + $(du -cb "$@" 2>/dev/null | tail -n1 | cut -f1)))
}

case "${1:-}" in
stage)
  tools=$(ops/cuda-tools.sh)
  cargo build --release --locked -p fornax-bench --example gpu_check
  rm -rf "$stage" && mkdir -p "$stage/cubin"
  strip -o "$stage/gpu_check" target/release/examples/gpu_check
  name=$("$stage/gpu_check" source "$stage/src")
  # The options NVRTC gets at run time (cuda::compile_program), for the H100/H200's sm_90.
  "$tools/bin/nvcc" -arch=sm_90 -cubin --std=c++17 -Xptxas -v \
    -o "$stage/cubin/$name" "$stage/src/fornax.cu" 2>"$stage/ptxas.txt"
  grep -E "Compiling entry|registers|spill" "$stage/ptxas.txt" |
    sed -E "s/ptxas info *: //; s/Compiling entry function '([^']+)'.*/\1:/"
  if grep -E "[1-9][0-9]* bytes spill (stores|loads)" "$stage/ptxas.txt"; then
    echo "gpu-check: a kernel spills registers (above)" >&2
    exit 1
  fi
  xz -T0 -6 "$stage/gpu_check"
  rm -rf "$stage/src"
  git rev-parse HEAD >"$stage/commit"
  git diff --quiet HEAD -- . || echo "dirty" >>"$stage/commit"
  ls -l "$stage" "$stage/cubin"
  bytes=$(carry_bytes "$stage" "$@")
  echo "gpu-check: working tree + $stage${2:+ + ${*:2}}: $bytes bytes (limit $limit)"
  [ "$bytes" -le "$limit" ] || { echo "gpu-check: over the 62 MiB limit" >&2; exit 1; }
  ;;
run | wgpu | profile)
  [ -f "$stage/gpu_check.xz" ] || { echo "gpu-check: run 'ops/gpu-check.sh stage' here first and carry $stage" >&2; exit 1; }
  out=${OUT:-bench/results}
  mkdir -p "$out"
  bin=/tmp/fornax-gpu-check/gpu_check
  mkdir -p "$(dirname "$bin")"
  python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as f, open(sys.argv[2], "wb") as g: shutil.copyfileobj(f, g)' \
    "$stage/gpu_check.xz" "$bin"
  chmod +x "$bin"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
    --format=csv,noheader 2>/dev/null || true
  # NVRTC is only the fallback (the cubin is loaded when it matches): the device machine's
  # own CUDA, in its usual places, never a disk-wide search.
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
    if [ -e "$d/libnvrtc.so.13" ] || [ -e "$d/libnvrtc.so" ]; then
      export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      echo "gpu-check: NVRTC fallback from $d"
      break
    fi
  done
  export FORNAX_CUDA_CUBIN_DIR="$root/$stage/cubin"
  seed=${FORNAX_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
  json="$out/gpu-check.json"
  status=0
  group() { # budget_s stage…   (capped by FORNAX_DEADLINE, epoch seconds, when set)
    local budget=$1
    shift
    if [ -n "${FORNAX_DEADLINE:-}" ]; then
      local left=$((FORNAX_DEADLINE - $(date +%s)))
      if [ "$left" -lt 15 ]; then
        echo "gpu-check: stages '$*' skipped: the call's deadline is ${left} s away"
        status=1
        return
      fi
      [ "$budget" -le "$left" ] || budget=$left
    fi
    timeout -k 5 "$budget" "$bin" --json "$json" --seed "$seed" "$@" || {
      local rc=$?
      echo "gpu-check: stages '$*' ended with status $rc$([ $rc -ge 124 ] && echo " (over the ${budget} s budget)")"
      status=1
    }
  }
  if [ "$1" = profile ]; then
    # One 2^20 G1 MSM and one 2^22 NTT under Nsight Compute, clocks left as they are.
    ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n1 || true)
    [ -n "$ncu" ] || { echo "gpu-check: no ncu on this machine"; exit 1; }
    timeout -k 5 "${2:-90}" "$ncu" --clock-control none --section SpeedOfLight --section Occupancy \
      --section LaunchStats -k 'regex:msm_|ntt_' --launch-count 24 \
      "$bin" --seed "$seed" profile-once >"$out/ncu.txt" 2>&1 || status=1
    grep -E "^  [a-z_]+|Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per|Achieved Occupancy" \
      "$out/ncu.txt" | head -n 120
    exit "$status"
  elif [ "$1" = run ]; then
    group 45 env selftest
    group 75 msm-g1 msm-g2
    group 75 msm-g1-large
    group 60 ntt
    group 90 bench-msm bench-ntt
    group 75 bench-groth16
  else
    # Debian's Vulkan loader, carried in .gl (the device README's recipe), unpacked first.
    if [ -d .gl ] && ! ldconfig -p | grep -q libvulkan.so.1; then
      for f in .gl/*.deb; do dpkg -x "$f" /; done
      ldconfig
    fi
    export VK_DRIVER_FILES=${VK_DRIVER_FILES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}
    [ -e "$VK_DRIVER_FILES" ] || unset VK_DRIVER_FILES
    group 30 wgpu-env
    group 90 wgpu-conformance   # G1 and G2 (the Fq2 kernels compile here first)
    group 60 wgpu-bench
  fi
  echo "gpu-check: seed $seed, commit $(head -n1 "$stage/commit"), results in $json"
  exit "$status"
  ;;
*)
  echo "usage: ops/gpu-check.sh stage [more carried paths…] | run | wgpu | profile [budget_s]" >&2
  exit 2
  ;;
esac
