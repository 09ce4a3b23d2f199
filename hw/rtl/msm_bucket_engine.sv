// MSM bucket accumulation over BN254 G1: points with their scalars streamed in, windowed
// digits taken from the scalars here, buckets held on chip, one mixed addition issued per
// cycle to the pipelined adder (g1_add_mixed), and the bucket sums streamed out at the end.
// The host combines them (Σ_d d·B[w][d] per window, then the windows): that is
// O(NW·2^C) additions against the engine's O(NW·n).
//
// Windows: the 254-bit scalar is cut into NW = ceil(254 / C) unsigned digits of C bits. Each
// point stays in the engine for NW cycles and goes, on each, to bucket (w, digit_w); a zero
// digit is skipped. All windows' buckets live in one memory of NW·2^C entries, so the
// windows share the pipeline and a point is read from the stream once. The identity (in_inf)
// is taken and dropped in one cycle.
//
// Hazards. An addition into bucket b takes LATENCY cycles to come back; a second addition
// into b issued before then would read a stale sum. Each bucket has a busy bit, set when an
// addition into it is issued and cleared when its sum is written back. An addition whose
// bucket is busy is not stalled but parked in a small FIFO and retried (the head of the FIFO,
// when its bucket is free, goes first); only a full FIFO stops the input. With random digits
// a conflict is rare and costs nothing (the FIFO absorbs it): one addition per cycle. With
// every scalar equal, every addition of a window hits one bucket: each bucket takes one
// addition per LATENCY cycles and the NW windows overlap, so about LATENCY / NW cycles an
// addition (about 2 in the co-simulation's models): correct, slower, and the host could
// split such inputs.
//
// Protocol (one clock domain; the C++ shim and the card's kernel wrapper drive the same):
//   start      one cycle, when idle: every bucket empty, counters cleared
//   in_*       a point (affine, Montgomery form; in_inf: the identity) and its scalar (the
//              integer, below r), taken on a cycle where in_valid and in_ready are both set
//   flush      held after the last point: once everything in flight has landed, the engine
//              streams out every bucket, one per cycle (out_valid, out_addr = {w, digit},
//              out_empty: never added to), then raises done until the next start
//   issued     set on each cycle that issues an addition (for the cycle counts)
//   stalled    set on each cycle the current point cannot move on (the FIFO full)
module msm_bucket_engine #(
    parameter logic [255:0] P = 256'h30644e72e131a029b85045b68181585d97816a916871ca8d3c208c16d87cfd47,
    parameter int C = 8,
    parameter int FIFO_DEPTH = 32,
    // Extra register stages between the adder and the write-back. A timing-closed adder has
    // its trees cut by registers and a latency of tens of cycles; the co-simulation models
    // that (and the hazards it brings, once the latency exceeds the NW cycles a point
    // occupies) with this delay.
    parameter int WRITEBACK_DELAY = 0,
    // Passed to the adder: a broken engine for the tests, and the multipliers' tile width.
    parameter int FAULT_BIT = -1,
    parameter int LIMB = 16,
    // Derived: windows, bits of a window's index, bits of a bucket's address {w, digit}.
    localparam int NW = (254 + C - 1) / C,
    localparam int WW = NW > 64 ? 7 : NW > 32 ? 6 : NW > 16 ? 5 : NW > 8 ? 4 : NW > 4 ? 3 : NW > 2 ? 2 : 1,
    localparam int WA = WW + C
) (
    input  logic           clk,
    input  logic           start,
    input  logic           in_valid,
    output logic           in_ready,
    input  logic [255:0]   in_x,
    input  logic [255:0]   in_y,
    input  logic           in_inf,
    input  logic [255:0]   in_scalar,
    input  logic           flush,
    output logic           out_valid,
    output logic [WA-1:0]  out_addr,
    output logic           out_empty,
    output logic [255:0]   out_x,
    output logic [255:0]   out_y,
    output logic [255:0]   out_z,
    output logic           done,
    output logic           issued,
    output logic           stalled
);
  localparam int NB = NW << C;
  localparam int FW = $clog2(FIFO_DEPTH);

  // The buckets: projective sums, whether each holds one, whether one is in flight.
  logic [255:0] mem_x[NB];
  logic [255:0] mem_y[NB];
  logic [255:0] mem_z[NB];
  logic [NB-1:0] filled;
  logic [NB-1:0] busy;

  // The point being cut into digits.
  logic          cur_valid;
  logic [255:0]  cur_x, cur_y, cur_scalar;
  logic [WW-1:0] cur_w;

  // Parked additions.
  logic [255:0]  fifo_x[FIFO_DEPTH];
  logic [255:0]  fifo_y[FIFO_DEPTH];
  logic [WA-1:0] fifo_a[FIFO_DEPTH];
  logic [FW-1:0] fifo_rd, fifo_wr;
  logic [FW:0]   fifo_count;

  // Additions issued and not yet written back.
  logic [WA:0] inflight;

  // Draining.
  logic          draining;
  logic [WA:0]   drain_k;

  // This cycle's decision.
  logic [C-1:0]  digit;
  logic [WA-1:0] cur_addr, head_addr;
  logic          head_go, cur_go, cur_park, cur_skip, cur_step, take;
  always_comb begin
    digit = C'(cur_scalar >> (32'(cur_w) * C));
    cur_addr = {cur_w, digit};
    head_addr = fifo_a[fifo_rd];
    head_go = fifo_count != 0 && !busy[head_addr];
    cur_skip = cur_valid && digit == 0;
    cur_go = cur_valid && !cur_skip && !head_go && !busy[cur_addr];
    cur_park = cur_valid && !cur_skip && !cur_go && 32'(fifo_count) < FIFO_DEPTH;
    cur_step = cur_skip || cur_go || cur_park;
    in_ready = !draining && !done && (!cur_valid || (cur_step && 32'(cur_w) == NW - 1));
    take = in_valid && in_ready;
    issued = head_go || cur_go;
    stalled = cur_valid && !cur_step;
  end

  // Issue: the addend and the bucket's address registered with the bucket's sum (a
  // synchronous read, as a block RAM gives).
  logic          iss_valid, iss_empty;
  logic [WA-1:0] iss_addr;
  logic [255:0]  iss_x, iss_y, acc_x, acc_y, acc_z;
  logic [WA-1:0] rd_addr;
  assign rd_addr = draining ? drain_k[WA-1:0] : (head_go ? head_addr : cur_addr);

  // The adder, and its write-back.
  logic          add_valid, sum_valid;
  logic [WA-1:0] add_addr, sum_addr;
  logic [255:0]  add_x, add_y, add_z, sum_x, sum_y, sum_z;
  g1_add_mixed #(.P(P), .TAG_W(WA), .LIMB(LIMB), .FAULT_BIT(FAULT_BIT)) adder (
      .clk(clk),
      .in_valid(iss_valid),
      .in_tag(iss_addr),
      .x1(iss_empty ? 256'd0 : acc_x),
      .y1(iss_empty ? 256'd1 : acc_y),
      .z1(iss_empty ? 256'd0 : acc_z),
      .x2(iss_x),
      .y2(iss_y),
      .inf2(1'b0),
      .out_valid(add_valid),
      .out_tag(add_addr),
      .x3(add_x),
      .y3(add_y),
      .z3(add_z)
  );
  if (WRITEBACK_DELAY > 0) begin : g_slack
    delay #(.W(1 + WA + 768), .N(WRITEBACK_DELAY)) d_wb (
        .clk(clk),
        .d({add_valid && !start, add_addr, add_x, add_y, add_z}),
        .q({sum_valid, sum_addr, sum_x, sum_y, sum_z})
    );
  end else begin : g_direct
    assign {sum_valid, sum_addr, sum_x, sum_y, sum_z} = {add_valid, add_addr, add_x, add_y, add_z};
  end

  always_ff @(posedge clk) begin
    // The bucket memory: one read, one write per cycle.
    acc_x <= mem_x[rd_addr];
    acc_y <= mem_y[rd_addr];
    acc_z <= mem_z[rd_addr];
    iss_empty <= !filled[rd_addr];
    if (sum_valid) begin
      mem_x[sum_addr] <= sum_x;
      mem_y[sum_addr] <= sum_y;
      mem_z[sum_addr] <= sum_z;
    end

    if (start) begin
      filled <= '0;
      busy <= '0;
      cur_valid <= 1'b0;
      fifo_rd <= '0;
      fifo_wr <= '0;
      fifo_count <= '0;
      inflight <= '0;
      draining <= 1'b0;
      drain_k <= '0;
      done <= 1'b0;
      iss_valid <= 1'b0;
      out_valid <= 1'b0;
    end else begin
      // Issue.
      iss_valid <= head_go || cur_go;
      iss_addr <= head_go ? head_addr : cur_addr;
      iss_x <= head_go ? fifo_x[fifo_rd] : cur_x;
      iss_y <= head_go ? fifo_y[fifo_rd] : cur_y;
      if (sum_valid) begin
        filled[sum_addr] <= 1'b1;
        busy[sum_addr] <= 1'b0;
      end
      if (head_go) busy[head_addr] <= 1'b1;
      if (cur_go) busy[cur_addr] <= 1'b1;
      inflight <= inflight + (WA + 1)'(head_go || cur_go) - (WA + 1)'(sum_valid);

      // The FIFO.
      if (head_go) fifo_rd <= fifo_rd + 1'b1;
      if (cur_park) begin
        fifo_x[fifo_wr] <= cur_x;
        fifo_y[fifo_wr] <= cur_y;
        fifo_a[fifo_wr] <= cur_addr;
        fifo_wr <= fifo_wr + 1'b1;
      end
      fifo_count <= fifo_count + (FW + 1)'(cur_park) - (FW + 1)'(head_go);

      // The current point: next window, or the next point.
      if (take) begin
        // The identity adds nothing: taken and dropped.
        cur_valid <= !in_inf;
        cur_x <= in_x;
        cur_y <= in_y;
        cur_scalar <= in_scalar;
        cur_w <= '0;
      end else if (cur_step) begin
        cur_w <= cur_w + 1'b1;
        if (32'(cur_w) == NW - 1) cur_valid <= 1'b0;
      end

      // Drain: once everything has landed, every bucket out, one per cycle.
      if (!draining && !done && flush && !cur_valid && !in_valid && fifo_count == 0
          && inflight == 0 && !iss_valid && !sum_valid) begin
        draining <= 1'b1;
        drain_k <= '0;
      end
      out_valid <= draining;
      out_addr <= drain_k[WA-1:0];
      if (draining) begin
        drain_k <= drain_k + 1'b1;
        if (32'(drain_k) == NB - 1) begin
          draining <= 1'b0;
          done <= 1'b1;
        end
      end
    end
  end
  // The drained bucket read above (registered), with its address one cycle behind.
  assign out_empty = iss_empty;
  assign out_x = acc_x;
  assign out_y = acc_y;
  assign out_z = acc_z;
endmodule
