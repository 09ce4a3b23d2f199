// BN254 base-field additive arithmetic on Montgomery representations (any representation
// works: these are additions and small-constant multiples, which commute with the
// Montgomery factor). Combinational; the instantiating pipeline registers around them.
// Operands are below p; so are the results.

// r = a + b mod p.
module fq_add #(
    parameter logic [255:0] P = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47
) (
    input  logic [255:0] a,
    input  logic [255:0] b,
    output logic [255:0] r
);
  logic [256:0] s, d;
  assign s = {1'b0, a} + {1'b0, b};
  assign d = s - {1'b0, P};
  // s < 2p < 2^255: d is negative (its top bit set) exactly when s < p.
  assign r = d[256] ? s[255:0] : d[255:0];
endmodule

// r = a - b mod p.
module fq_sub #(
    parameter logic [255:0] P = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47
) (
    input  logic [255:0] a,
    input  logic [255:0] b,
    output logic [255:0] r
);
  logic [256:0] d;
  assign d = {1'b0, a} - {1'b0, b};
  assign r = d[256] ? d[255:0] + P : d[255:0];
endmodule

// r = K·a mod p for a small constant K (2 ≤ K < 16): shifts and adds, then the multiples
// 8p, 4p, 2p, p subtracted where they fit (K·a < 16p). No multiplier.
module fq_mul_small #(
    parameter logic [255:0] P = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47,
    parameter int K = 9
) (
    input  logic [255:0] a,
    output logic [255:0] r
);
  logic [259:0] s;
  always_comb begin
    s = '0;
    for (int j = 0; j < 4; j++) begin
      if (K[j]) s = s + ({4'b0, a} << j);
    end
    for (int j = 3; j >= 0; j--) begin
      if (s >= ({4'b0, P} << j)) s = s - ({4'b0, P} << j);
    end
    r = s[255:0];
  end
endmodule

// A W-bit value delayed by N clock cycles (N ≥ 1): a shift register.
module delay #(
    parameter int W = 1,
    parameter int N = 1
) (
    input  logic         clk,
    input  logic [W-1:0] d,
    output logic [W-1:0] q
);
  logic [W-1:0] stage[N];
  always_ff @(posedge clk) begin
    stage[0] <= d;
    for (int k = 1; k < N; k++) stage[k] <= stage[k-1];
  end
  assign q = stage[N-1];
endmodule
