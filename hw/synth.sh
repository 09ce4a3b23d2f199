#!/usr/bin/env bash
# Synthesises the RTL's blocks with yosys for AMD/Xilinx UltraScale+ (synth_xilinx -family
# xcup, the family of the Alveo U55C and U250) and writes each block's LUT, FF, DSP and
# BRAM counts to hw/reports/<block>.txt (checked in).
#
#   hw/synth.sh            every block at full size (minutes)
#   hw/synth.sh --quick    the leaf blocks synthesised at reduced width, the blocks built of
#                          them elaborated (parsed, parameters resolved, processes lowered,
#                          checked): that the RTL still goes through yosys, in about half a
#                          minute (what CI runs); reports go to a temporary folder
#   hw/synth.sh BLOCK…     only these blocks, at full size
#
# yosys maps to the part's primitives but does not place or route: the counts are the
# logic's, before the vendor's optimisation, and no clock is claimed from them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rtl=$here/rtl
quick=0
[ "${1:-}" = "--quick" ] && { quick=1; shift; }
only=" $* "
command -v yosys >/dev/null || { echo "yosys missing: run ops/setup.sh" >&2; exit 1; }
if [ $quick = 1 ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
else
  out=$here/reports
  mkdir -p "$out"
fi

# block: top module, sources, parameters at full size, parameters for --quick, and what
# --quick does with it (synth: synthesise; check: elaborate only)
blocks=(
  "wide_mul_256|wide_mul|wide_mul.sv|-set W 256 -set LIMB 16|-set W 64 -set LIMB 16|synth"
  "fq_mont_mul|fq_mont_mul|fq_mont_mul.sv wide_mul.sv||-set LIMB 64|synth"
  "g1_add_mixed|g1_add_mixed|g1_add_mixed.sv fq_arith.sv fq_mont_mul.sv wide_mul.sv||-set LIMB 64|check"
  "msm_bucket_engine|msm_bucket_engine|msm_bucket_engine.sv g1_add_mixed.sv fq_arith.sv fq_mont_mul.sv wide_mul.sv|-set C 8|-set LIMB 64 -set C 4|check"
  "ntt_engine|ntt_engine|ntt_engine.sv tdp_ram.sv fq_arith.sv fq_mont_mul.sv wide_mul.sv|-set LOGN_MAX 12|-set LIMB 64 -set LOGN_MAX 6|check"
)

for b in "${blocks[@]}"; do
  IFS='|' read -r name top sources full small quick_mode <<<"$b"
  [ "$only" = "  " ] || [[ "$only" == *" $name "* ]] || continue
  params=$full
  [ $quick = 1 ] && params=$small
  files=""
  for s in $sources; do files="$files $rtl/$s"; done
  t=$SECONDS
  log=$out/$name.log
  chparam=""
  [ -n "$params" ] && chparam="chparam $params $top;"
  if [ $quick = 1 ] && [ "$quick_mode" = check ]; then
    yosys -q -l "$log" -p "read_verilog -sv $files; $chparam hierarchy -check -top $top; proc; check -assert" \
      >/dev/null 2>&1 || { echo "elaboration of $name failed: see $log" >&2; tail -20 "$log" >&2; exit 1; }
    echo "block: $name (top $top, $params): elaborated and checked in $((SECONDS - t)) s"
    continue
  fi
  yosys -q -l "$log" -p "read_verilog -sv $files; $chparam synth_xilinx -family xcup -top $top; stat" \
    >/dev/null 2>&1 || { echo "synthesis of $name failed: see $log" >&2; tail -20 "$log" >&2; exit 1; }
  # The cell counts of the final `stat`.
  stat=$(awk '/Printing statistics/{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$log")
  count() { printf '%s' "$stat" | awk -v pat="$1" '$0 ~ pat {s += $2} END {print s + 0}'; }
  luts=$(count '^ +LUT[1-6] ')
  ffs=$(count '^ +FD[CPRS]E? ')
  dsps=$(count '^ +DSP48E2 ')
  brams=$(count '^ +RAMB(18|36)E2 ')
  carry=$(count '^ +CARRY[48] ')
  {
    echo "block: $name (top $top${params:+, $params})"
    echo "tool: $(yosys -V | head -1); synth_xilinx -family xcup (UltraScale+), not placed or routed"
    echo "LUT: $luts"
    echo "FF: $ffs"
    echo "DSP48E2: $dsps"
    echo "RAMB18/36: $brams"
    echo "CARRY4/8: $carry"
    echo "synthesis seconds: $((SECONDS - t))"
  } >"$out/$name.txt"
  cat "$out/$name.txt"
done
