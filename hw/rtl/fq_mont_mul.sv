// BN254 base-field Montgomery multiplier, fully pipelined: one product accepted per cycle,
// LATENCY cycles from `in_valid` to the matching `out_valid`.
//
//   r = a·b·2^-256 mod p        (a, b < p, in Montgomery form with R = 2^256)
//
// The same representation as arkworks' `Fq` (four 64-bit limbs, R = 2^256), so the
// co-simulation compares limbs with the CPU directly. Stages (each ends in a register):
//   1. a, b in
//   2. T = a·b                              (full 512-bit product)
//   3. m = (T mod 2^256)·p' mod 2^256       (p' = -p^-1 mod 2^256; low-half product)
//   4. t = (T + m·p) / 2^256                (exact; t < 2p)
//   5. r = t - p if t ≥ p, else t
module fq_mont_mul #(
    parameter logic [255:0] P      = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47,
    parameter logic [255:0] PPRIME = 256'hf57a22b791888c6bd8afcbd01833da809ede7d651eca6ac987d20782e4866389,
    parameter int           LIMB   = 16,
    // Test hook: flips this bit of every result (-1: none). The co-simulation builds one
    // faulty model to show that its checks catch a single wrong bit.
    parameter int           FAULT_BIT = -1
) (
    input  logic         clk,
    input  logic         in_valid,
    input  logic [255:0] a,
    input  logic [255:0] b,
    output logic         out_valid,
    output logic [255:0] r
);
  // One C++ class for every instance in the co-simulation (a comment to other tools).
  /* verilator no_inline_module */
  // LATENCY = 5: out_valid rises five clock edges after in_valid.
  localparam logic [255:0] FAULT = FAULT_BIT >= 0 ? 256'd1 << FAULT_BIT : 256'd0;

  // Stage 1.
  logic [255:0] a1, b1;
  logic v1;
  always_ff @(posedge clk) begin
    a1 <= a;
    b1 <= b;
    v1 <= in_valid;
  end

  // Stage 2: T = a·b.
  logic [511:0] t_full;
  wide_mul #(.W(256), .LIMB(LIMB), .OUTW(512)) mul_ab (.a(a1), .b(b1), .p(t_full));
  logic [511:0] t2;
  logic v2;
  always_ff @(posedge clk) begin
    t2 <= t_full;
    v2 <= v1;
  end

  // Stage 3: m = T·p' mod 2^256.
  logic [255:0] m_low;
  wide_mul #(.W(256), .LIMB(LIMB), .OUTW(256)) mul_m (.a(t2[255:0]), .b(PPRIME), .p(m_low));
  logic [511:0] t3;
  logic [255:0] m3;
  logic v3;
  always_ff @(posedge clk) begin
    t3 <= t2;
    m3 <= m_low;
    v3 <= v2;
  end

  // Stage 4: t = (T + m·p) / 2^256. The low half of the sum is zero by the choice of m.
  logic [511:0] mp;
  wide_mul #(.W(256), .LIMB(LIMB), .OUTW(512)) mul_mp (.a(m3), .b(P), .p(mp));
  logic [512:0] u;
  assign u = {1'b0, t3} + {1'b0, mp};
  logic [256:0] t4;
  logic v4;
  always_ff @(posedge clk) begin
    t4 <= u[512:256];
    v4 <= v3;
  end

  // Stage 5: one conditional subtraction.
  logic [256:0] reduced;
  assign reduced = t4 - {1'b0, P};
  always_ff @(posedge clk) begin
    r <= ((t4 >= {1'b0, P}) ? reduced[255:0] : t4[255:0]) ^ FAULT;
    out_valid <= v4;
  end
endmodule
