// BN254 G1 mixed point adder, fully pipelined: one addition accepted per cycle, LATENCY
// cycles from `in_valid` to the matching `out_valid`.
//
//   (X3 : Y3 : Z3) = (X1 : Y1 : Z1) + (x2, y2)
//
// P1 is projective (homogeneous: x = X/Z, y = Y/Z; the identity is (0 : Y : 0), Y ≠ 0), P2
// is affine, or the identity when `inf2` is set (the adder then passes P1 through). The
// formula is the complete mixed addition of Renes, Costello and Batina (2016, algorithm 8,
// curves y² = x³ + b, here b = 3 and b3 = 3b = 9): it is correct for every pair of points
// of a prime-order curve, including P1 = P2 (a doubling), P1 = -P2 and P1 = identity, with
// no branch, which is what lets one pipeline take any addition on any cycle. Cost: 11
// multiplications (two levels of 5 and 6 parallel multipliers), multiplications by 3 and 9
// as shifts and adds, and additions.
//
// Coordinates are in Montgomery form with R = 2^256, as arkworks' Fq (and fq_mont_mul).
// `tag` travels with the addition unchanged (the bucket engine puts the bucket's address
// there).
//
// Clock edges, counting the one that takes the inputs as 1:
//   1      inputs registered
//   2..6   level 1: x2+y2, X1+Y1, 9·Z1 feed five multipliers (X1·x2, Y1·y2,
//          (x2+y2)·(X1+Y1), y2·Z1, x2·Z1), results after edge 6
//   7      additions of level 1's products registered
//   8..12  level 2: two subtractions and 9·(x2·Z1 + X1) feed six multipliers
//   13     X3, Y3, Z3 = sums and differences of level 2's products, registered
module g1_add_mixed #(
    parameter logic [255:0] P = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47,
    parameter int           TAG_W = 16,
    // The multipliers' tile width (16: one DSP48E2 a tile; wider for quick synthesis checks).
    parameter int           LIMB = 16,
    // Test hook: flips this bit of every X3 (-1: none), so the tests can show that the
    // co-simulation's checks see one wrong bit.
    parameter int           FAULT_BIT = -1
) (
    input  logic             clk,
    input  logic             in_valid,
    input  logic [TAG_W-1:0] in_tag,
    input  logic [255:0]     x1,
    input  logic [255:0]     y1,
    input  logic [255:0]     z1,
    input  logic [255:0]     x2,
    input  logic [255:0]     y2,
    input  logic             inf2,
    output logic             out_valid,
    output logic [TAG_W-1:0] out_tag,
    output logic [255:0]     x3,
    output logic [255:0]     y3,
    output logic [255:0]     z3
);
  localparam int LATENCY = 13;
  localparam logic [255:0] FAULT = FAULT_BIT >= 0 ? 256'd1 << FAULT_BIT : 256'd0;
  // What travels beside the multipliers: valid, tag, inf2 and P1 (for the pass-through and
  // the additions of level 1).
  localparam int SIDE_W = 1 + TAG_W + 1 + 3 * 256;

  // Edge 1: the inputs.
  logic             v0, inf0;
  logic [TAG_W-1:0] tag0;
  logic [255:0] X1, Y1, Z1, X2, Y2;
  always_ff @(posedge clk) begin
    v0 <= in_valid;
    tag0 <= in_tag;
    inf0 <= inf2;
    X1 <= x1;
    Y1 <= y1;
    Z1 <= z1;
    X2 <= x2;
    Y2 <= y2;
  end

  // Level 1.
  logic [255:0] sum2, sum1, b3z1;
  fq_add #(.P(P)) add_s2 (.a(X2), .b(Y2), .r(sum2));
  fq_add #(.P(P)) add_s1 (.a(X1), .b(Y1), .r(sum1));
  fq_mul_small #(.P(P), .K(9)) b3_z1 (.a(Z1), .r(b3z1));

  logic [255:0] t0, t1, t3, t4m, y3m;
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t0 (.clk(clk), .in_valid(v0), .a(X1), .b(X2), .out_valid(), .r(t0));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t1 (.clk(clk), .in_valid(v0), .a(Y1), .b(Y2), .out_valid(), .r(t1));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t3 (.clk(clk), .in_valid(v0), .a(sum2), .b(sum1), .out_valid(), .r(t3));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t4 (.clk(clk), .in_valid(v0), .a(Y2), .b(Z1), .out_valid(), .r(t4m));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_y3 (.clk(clk), .in_valid(v0), .a(X2), .b(Z1), .out_valid(), .r(y3m));

  logic [SIDE_W-1:0] side1;
  logic [255:0]      b3z1_d;
  delay #(.W(SIDE_W), .N(5)) d_side1 (.clk(clk), .d({v0, tag0, inf0, X1, Y1, Z1}), .q(side1));
  delay #(.W(256), .N(5)) d_b3z1 (.clk(clk), .d(b3z1), .q(b3z1_d));
  logic [255:0] X1d, Y1d;
  assign X1d = side1[767:512];
  assign Y1d = side1[511:256];

  // Edge 7: the additions of level 1's products.
  logic [255:0] t4s_c, t4_c, y3a_c, t0x3_c, z3a_c, t1s_c;
  fq_add #(.P(P)) add_t4s (.a(t0), .b(t1), .r(t4s_c));
  fq_add #(.P(P)) add_t4 (.a(t4m), .b(Y1d), .r(t4_c));
  fq_add #(.P(P)) add_y3a (.a(y3m), .b(X1d), .r(y3a_c));
  fq_mul_small #(.P(P), .K(3)) x3_t0 (.a(t0), .r(t0x3_c));
  fq_add #(.P(P)) add_z3a (.a(t1), .b(b3z1_d), .r(z3a_c));
  fq_sub #(.P(P)) sub_t1s (.a(t1), .b(b3z1_d), .r(t1s_c));

  logic [SIDE_W-1:0] side2;
  logic [255:0] t3_2, t4s_2, t4_2, y3a_2, t0x3_2, z3a_2, t1s_2;
  always_ff @(posedge clk) begin
    side2 <= side1;
    t3_2 <= t3;
    t4s_2 <= t4s_c;
    t4_2 <= t4_c;
    y3a_2 <= y3a_c;
    t0x3_2 <= t0x3_c;
    z3a_2 <= z3a_c;
    t1s_2 <= t1s_c;
  end
  logic v2;
  assign v2 = side2[SIDE_W-1];

  // Level 2.
  logic [255:0] t3s, y3b;
  fq_sub #(.P(P)) sub_t3s (.a(t3_2), .b(t4s_2), .r(t3s));
  fq_mul_small #(.P(P), .K(9)) b3_y3 (.a(y3a_2), .r(y3b));

  logic [255:0] x3m, t2, y3m2, t1m, t0m, z3m;
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_x3 (.clk(clk), .in_valid(v2), .a(t4_2), .b(y3b), .out_valid(), .r(x3m));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t2 (.clk(clk), .in_valid(v2), .a(t3s), .b(t1s_2), .out_valid(), .r(t2));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_y3b (.clk(clk), .in_valid(v2), .a(y3b), .b(t0x3_2), .out_valid(), .r(y3m2));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t1m (.clk(clk), .in_valid(v2), .a(t1s_2), .b(z3a_2), .out_valid(), .r(t1m));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_t0m (.clk(clk), .in_valid(v2), .a(t0x3_2), .b(t3s), .out_valid(), .r(t0m));
  fq_mont_mul #(.P(P), .LIMB(LIMB)) m_z3m (.clk(clk), .in_valid(v2), .a(z3a_2), .b(t4_2), .out_valid(), .r(z3m));

  logic [SIDE_W-1:0] side3;
  delay #(.W(SIDE_W), .N(5)) d_side3 (.clk(clk), .d(side2), .q(side3));

  // Edge 13: the sums, or P1 where P2 is the identity.
  logic [255:0] x3_c, y3_c, z3_c;
  fq_sub #(.P(P)) sub_x3 (.a(t2), .b(x3m), .r(x3_c));
  fq_add #(.P(P)) add_y3 (.a(t1m), .b(y3m2), .r(y3_c));
  fq_add #(.P(P)) add_z3 (.a(z3m), .b(t0m), .r(z3_c));
  logic pass;
  assign pass = side3[3*256];
  always_ff @(posedge clk) begin
    out_valid <= side3[SIDE_W-1];
    out_tag <= side3[SIDE_W-2-:TAG_W];
    x3 <= (pass ? side3[767:512] : x3_c) ^ FAULT;
    y3 <= pass ? side3[511:256] : y3_c;
    z3 <= pass ? side3[255:0] : z3_c;
  end
endmodule
