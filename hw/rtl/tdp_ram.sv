// A true dual-port RAM: two ports, each a read or a write on every cycle, reads registered
// (read-first), the template synthesis maps onto block RAM (or UltraRAM). Two writes to one
// address on one cycle are the caller's to avoid.
module tdp_ram #(
    parameter int W = 256,
    parameter int AW = 12
) (
    input  logic          clk,
    input  logic          we_a,
    input  logic [AW-1:0] addr_a,
    input  logic [W-1:0]  din_a,
    output logic [W-1:0]  dout_a,
    input  logic          we_b,
    input  logic [AW-1:0] addr_b,
    input  logic [W-1:0]  din_b,
    output logic [W-1:0]  dout_b
);
  logic [W-1:0] mem[1 << AW];
  always_ff @(posedge clk) begin
    if (we_a) mem[addr_a] <= din_a;
    dout_a <= mem[addr_a];
  end
  always_ff @(posedge clk) begin
    if (we_b) mem[addr_b] <= din_b;
    dout_b <= mem[addr_b];
  end
endmodule
