// A W×W-bit unsigned product built from LIMB×LIMB tiles (16×16 fits one DSP48E2, whose
// multiplier is 27×18 signed), summed by column. OUTW < 2W keeps only the low OUTW bits and
// drops the tiles that cannot reach them (a low-half product costs about half the tiles).
//
// Combinational: the instantiating pipeline registers around it. The column sums are one
// adder tree per output; a timing-driven design would cut that tree with registers (the
// latency grows, the throughput stays one product per cycle).
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

  // The tiles, one DSP each.
  logic [2*LIMB-1:0] tile[N][N];

  for (genvar i = 0; i < N; i++) begin : g_row
    for (genvar j = 0; j < N; j++) begin : g_col
      if ((i + j) * LIMB < OUTW) begin : g_used
        assign tile[i][j] = (2*LIMB)'(a[i*LIMB+:LIMB]) * (2*LIMB)'(b[j*LIMB+:LIMB]);
      end else begin : g_dropped
        assign tile[i][j] = '0;
      end
    end
  end

  always_comb begin
    p = '0;
    for (int i = 0; i < N; i++) begin
      for (int j = 0; j < N; j++) begin
        if ((i + j) * LIMB < OUTW) begin
          p = p + (OUTW'(tile[i][j]) << ((i + j) * LIMB));
        end
      end
    end
  end
endmodule
