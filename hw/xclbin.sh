#!/usr/bin/env bash
# Builds the Alveo bitstream (fornax.xclbin) that src/xrt.rs drives: the MSM and NTT engines
# as two RTL kernels, packaged by Vivado, linked by Vitis into the card's shell.
#
#   hw/xclbin.sh u55c|u250 [OUT_DIR]
#
# It CANNOT run on this project's machines: it needs AMD Vitis 2023.2 or later (v++,
# vivado, package_xo; a licence-free install, but not in any package registry) and the
# card's platform (xilinx_u55c_gen3x16_xdma_3_202210_1 or xilinx_u250_gen3x16_xdma_4_1_202210_1,
# from AMD's download page). Where they are missing it stops and says which. The steps:
#
#   1. Kernel wrappers. Each engine gets an RTL top (hw/rtl/kernel/fornax_msm.sv,
#      fornax_ntt.sv; to be written with the bitstream work) that Vitis's RTL-kernel
#      interface wants: an AXI4-Lite slave for the control registers (ap_start, ap_done and
#      the scalar arguments at the offsets kernel.xml gives), one AXI4 master per buffer
#      argument, and the data movers that do on the card what sim/*_shim.cpp does in
#      co-simulation: stream the points and scalars (or the data, twiddles, factors and
#      passes) from the buffers into the engine, write the buckets (or the data) and the
#      cycle counters back. The argument order is the driver's:
#        fornax_msm(points, scalars, buckets, n, stats)
#        fornax_ntt(data, twiddles, factors, passes, log_n, pass_count, stats)
#   2. package_xo (in Vivado's batch mode) turns each wrapper and hw/rtl/*.sv into a .xo
#      with its kernel.xml (the arguments above, their address offsets and AXI ports).
#   3. v++ --link against the platform, with a connectivity file that puts each buffer
#      argument on its own HBM pseudo-channel (U55C) or DDR bank (U250), the clock at the
#      target the performance model states (--kernel_frequency 250), and the engine's
#      parameters (C = 13, LOGN_MAX = 24 with the data off chip) set in the wrappers.
#   4. Timing: the report's worst negative slack must be >= 0; if not, the adder trees are
#      cut by registers (the write-back delay grows with them; the co-simulation models
#      that) and the link is rerun.
#   5. The card: xbutil validate, then FORNAX_XCLBIN=OUT_DIR/fornax.xclbin makes
#      `fornax devices` list fpga:0 and `fornax bench --device fpga:0` run on it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
part=${1:-}
out=${2:-$here/build/xclbin}
case "$part" in
  u55c) platform=xilinx_u55c_gen3x16_xdma_3_202210_1 ;;
  u250) platform=xilinx_u250_gen3x16_xdma_4_1_202210_1 ;;
  *) echo "usage: hw/xclbin.sh u55c|u250 [OUT_DIR]" >&2; exit 2 ;;
esac
missing=()
for tool in v++ vivado; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ -d "/opt/xilinx/platforms/$platform" ] || missing+=("platform $platform (/opt/xilinx/platforms)")
for k in fornax_msm fornax_ntt; do
  [ -f "$here/rtl/kernel/$k.sv" ] || missing+=("the kernel wrapper rtl/kernel/$k.sv (step 1)")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "xclbin: cannot build the bitstream here; missing:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "(Vitis and the platform come from AMD, not from a package registry; see the steps at the top of this script)" >&2
  exit 1
fi
mkdir -p "$out"
rtl=("$here"/rtl/*.sv)
for k in fornax_msm fornax_ntt; do
  vivado -mode batch -source "$here/kernel/package_$k.tcl" \
    -tclargs "$out/$k.xo" "$here/rtl/kernel/$k.sv" "${rtl[@]}"
done
v++ --link --target hw --platform "$platform" --kernel_frequency 250 \
  --config "$here/kernel/$part.cfg" -o "$out/fornax.xclbin" "$out/fornax_msm.xo" "$out/fornax_ntt.xo"
echo "xclbin: $out/fornax.xclbin (FORNAX_XCLBIN=$out/fornax.xclbin)"
