// A W×W-bit unsigned product built from LIMB×LIMB tiles (16×16 fits one DSP48E2, whose
// multiplier is 27×18 signed). OUTW < 2W keeps only the low OUTW bits and drops the tiles
// that cannot reach them (a low-half product costs about half the tiles).
//
// The tiles are summed by column (the tiles a[i]·b[j] with i + j = k have the same weight
// 2^(k·LIMB)): each column sum is an adder tree of narrow values, below 2^(3·LIMB). Cut into
// three LIMB-bit pieces, the column sums make three vectors whose pieces do not overlap, and
// the product is their sum: two wide additions (a carry-save reduction, then the carry
// propagation).
//
// Combinational: the instantiating pipeline registers around it. A timing-driven design
// would cut the column trees and the final additions with registers (the latency grows, the
// throughput stays one product per cycle).
module wide_mul #(
    parameter int W = 256,
    parameter int LIMB = 16,
    parameter int OUTW = 2 * W
) (
    input  logic [W-1:0]    a,
    input  logic [W-1:0]    b,
    output logic [OUTW-1:0] p
);
  localparam int N = W / LIMB;
  // Columns that reach the kept bits.
  localparam int COLS = (OUTW + LIMB - 1) / LIMB < 2 * N - 1 ? (OUTW + LIMB - 1) / LIMB : 2 * N - 1;
  localparam int VW = (COLS + 2) * LIMB;

  // The tiles, one DSP each.
  logic [2*LIMB-1:0] tile[N][N];
  for (genvar i = 0; i < N; i++) begin : g_row
    for (genvar j = 0; j < N; j++) begin : g_col
      if (i + j < COLS) begin : g_used
        assign tile[i][j] = (2*LIMB)'(a[i*LIMB+:LIMB]) * (2*LIMB)'(b[j*LIMB+:LIMB]);
      end else begin : g_dropped
        assign tile[i][j] = '0;
      end
    end
  end

  // Column sums, and the three vectors of their pieces.
  logic [3*LIMB-1:0] column[COLS];
  logic [VW-1:0] v0, v1, v2, sum;
  always_comb begin
    v0 = '0;
    v1 = '0;
    v2 = '0;
    for (int k = 0; k < COLS; k++) begin
      column[k] = '0;
      for (int i = 0; i < N; i++) begin
        if (k - i >= 0 && k - i < N) column[k] = column[k] + (3*LIMB)'(tile[i][k-i]);
      end
      v0[k*LIMB+:LIMB] = column[k][0+:LIMB];
      v1[(k+1)*LIMB+:LIMB] = column[k][LIMB+:LIMB];
      v2[(k+2)*LIMB+:LIMB] = column[k][2*LIMB+:LIMB];
    end
    sum = v0 + v1 + v2;
    p = sum[OUTW-1:0];
  end
endmodule
