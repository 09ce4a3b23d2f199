// NTT engine over BN254 Fr, by passes: one pipelined radix-2 butterfly (one butterfly issued
// per cycle, one Montgomery multiplier and an adder and subtractor behind it), twiddles and
// per-element factors from on-chip memories, and two data buffers used in ping-pong (each
// pass reads one and writes the other, so that a buffer's two ports are both reads or both
// writes: one true dual-port RAM each, `tdp_ram`).
//
// The host (src/ntt.rs) turns the kernel API's transforms into passes: the input loaded in
// bit-reversed order, log2(N) butterfly passes (Cooley-Tukey, decimation in time) with the
// twiddles of ω or ω^-1, and scale passes (each element times its factor) for a coset's
// powers of g and the inverse's 1/N.
//
// Elements are in Montgomery form with R = 2^256, as arkworks' Fr.
//
// Protocol:
//   mem_we, mem_sel, mem_addr, mem_wdata   when idle, a write: sel 0 the current data
//                                           buffer, 1 the twiddles, 2 the factors
//   mem_addr → mem_rdata                    when idle, the current data buffer's element,
//                                           one cycle later
//   start, op, log_n, log_m                 one cycle, when idle: a pass over 2^log_n
//                                           elements; op 0 butterflies of half-size
//                                           m = 2^log_m (pairs i, i + m, twiddle
//                                           tw[(i mod m)·N/(2m)], the table holding ω^t for
//                                           t < N/2), op 1 x[i]·factor[i]
//   done                                    high from the end of a pass to the next start
//   issued                                  set on each cycle that issues a butterfly or
//                                           product
module ntt_engine #(
    parameter logic [255:0] P      = 256'h30644e72e131a029b85045b68181585d2833e84879b9709143e1f593f0000001,
    parameter logic [255:0] PPRIME = 256'h73f82f1d0d8341b2e39a9828990623916586864b4c6911b3c2e1f593efffffff,
    parameter int           LOGN_MAX = 12,
    // The multiplier's tile width (16: one DSP48E2 a tile; wider for quick synthesis checks).
    parameter int           LIMB = 16
) (
    input  logic                clk,
    input  logic                mem_we,
    input  logic [1:0]          mem_sel,
    input  logic [LOGN_MAX-1:0] mem_addr,
    input  logic [255:0]        mem_wdata,
    output logic [255:0]        mem_rdata,
    input  logic                start,
    input  logic                op,
    input  logic [4:0]          log_n,
    input  logic [4:0]          log_m,
    output logic                done,
    output logic                issued
);
  localparam int N_MAX = 1 << LOGN_MAX;
  localparam int MUL_LATENCY = 5;
  localparam int AW = LOGN_MAX;

  logic [255:0] tw[N_MAX/2];
  logic [255:0] fac[N_MAX];
  logic         cur;  // the buffer that holds the data

  // The pass.
  logic         running, pass_op;
  logic [4:0]   pass_log_n, pass_log_m;
  logic [AW:0]  p, count;
  logic [7:0]   drain;

  // This cycle's addresses.
  logic [AW-1:0] i_addr, j_addr, k, tw_addr;
  logic          go;
  always_comb begin
    k = AW'(p) & ((AW'(1) << pass_log_m) - 1'b1);
    i_addr = pass_op ? AW'(p) : ((AW'(p) >> pass_log_m) << (pass_log_m + 1)) | k;
    j_addr = i_addr | (AW'(1) << pass_log_m);
    tw_addr = k << (pass_log_n - 5'd1 - pass_log_m);
    go = running && p < count;
    issued = go;
  end

  // Reads (registered, as a block RAM's): x[i], x[j] from the current buffer, the twiddle
  // or the factor.
  logic [255:0] ra, rb, rw;
  logic [AW-1:0] addr_a;
  logic         rv, rop;
  logic [AW-1:0] ri, rj;
  assign addr_a = running ? i_addr : mem_addr;
  always_ff @(posedge clk) begin
    rw <= pass_op ? fac[i_addr] : tw[tw_addr[AW-2:0]];
    rv <= go;
    rop <= pass_op;
    ri <= i_addr;
    rj <= j_addr;
  end
  assign mem_rdata = ra;

  // w·x[j] (a butterfly) or factor·x[i] (a scale pass), and what travels beside it.
  logic [255:0] prod;
  fq_mont_mul #(.P(P), .PPRIME(PPRIME), .LIMB(LIMB)) mul (
      .clk(clk), .in_valid(rv), .a(rop ? ra : rb), .b(rw), .out_valid(), .r(prod)
  );
  localparam int SIDE_W = 1 + 1 + 2 * AW + 256;
  logic [SIDE_W-1:0] side;
  delay #(.W(SIDE_W), .N(MUL_LATENCY)) d_side (.clk(clk), .d({rv, rop, ri, rj, ra}), .q(side));
  logic          sv, sop;
  logic [AW-1:0] si, sj;
  logic [255:0]  sa, sum, dif;
  assign {sv, sop, si, sj, sa} = side;
  fq_add #(.P(P)) add (.a(sa), .b(prod), .r(sum));
  fq_sub #(.P(P)) sub (.a(sa), .b(prod), .r(dif));

  // The data buffers. The current one reads x[i] (or the host's address) on port A and x[j]
  // on port B, and takes the host's writes on port A; the other takes the pass's results,
  // x[i] on port A and x[j] on port B.
  logic          host_we;
  logic [255:0]  out_i;
  assign host_we = mem_we && !running && mem_sel == 2'd0;
  assign out_i = sop ? prod : sum;
  logic [255:0]  d0a, d0b, d1a, d1b;
  tdp_ram #(.W(256), .AW(AW)) buf0 (
      .clk(clk),
      .we_a(cur ? sv : host_we), .addr_a(cur ? si : addr_a), .din_a(cur ? out_i : mem_wdata),
      .dout_a(d0a),
      .we_b(cur && sv && !sop), .addr_b(cur ? sj : j_addr), .din_b(dif), .dout_b(d0b)
  );
  tdp_ram #(.W(256), .AW(AW)) buf1 (
      .clk(clk),
      .we_a(cur ? host_we : sv), .addr_a(cur ? addr_a : si), .din_a(cur ? mem_wdata : out_i),
      .dout_a(d1a),
      .we_b(!cur && sv && !sop), .addr_b(cur ? j_addr : sj), .din_b(dif), .dout_b(d1b)
  );
  assign ra = cur ? d1a : d0a;
  assign rb = cur ? d1b : d0b;

  // The twiddles and factors: the host's writes.
  always_ff @(posedge clk) begin
    if (mem_we && !running) begin
      if (mem_sel == 2'd1) tw[mem_addr[AW-2:0]] <= mem_wdata;
      if (mem_sel == 2'd2) fac[mem_addr] <= mem_wdata;
    end
  end

  // Control: issue `count` operations, let the pipeline drain, swap the buffers.
  always_ff @(posedge clk) begin
    if (start && !running) begin
      running <= 1'b1;
      done <= 1'b0;
      pass_op <= op;
      pass_log_n <= log_n;
      pass_log_m <= log_m;
      p <= '0;
      count <= op ? (AW + 1)'(1) << log_n : (AW + 1)'(1) << (log_n - 5'd1);
      drain <= '0;
    end else if (running) begin
      if (go) begin
        p <= p + 1'b1;
      end else if (32'(drain) < MUL_LATENCY + 2) begin
        drain <= drain + 1'b1;
      end else begin
        running <= 1'b0;
        done <= 1'b1;
        cur <= !cur;
      end
    end
  end

  initial begin
    cur = 1'b0;
    running = 1'b0;
    done = 1'b0;
  end
endmodule
