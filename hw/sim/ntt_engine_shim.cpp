// The co-simulated NTT card: the Verilated `ntt_engine` behind the same buffers and passes
// as the real card's kernel (see src/ntt.rs). `run` plays the kernel's data movers and
// sequencer: it writes the twiddles, the factors and the data into the engine's memories
// through its host port, runs the passes one after another, and reads the data back.
//
// Buffers, little-endian 32-bit words, 8 per element (Montgomery form):
//   data      2^log_n elements, in and out
//   twiddles  2^(log_n - 1) elements: ω^t, t < N/2 (the root of the transform's direction)
//   factors   2^log_n elements, or none: what a scale pass multiplies by
// Passes: one word each, bit 8 set for a scale pass, else butterflies with log_m in bits 0-4.
#include "shim.h"

namespace {
void write(Sim* s, int sel, uint32_t addr, const uint32_t* w) {
    s->top.mem_we = 1;
    s->top.mem_sel = sel;
    s->top.mem_addr = addr;
    for (int k = 0; k < 8; ++k) s->top.mem_wdata[k] = w[k];
    tick(s);
    s->top.mem_we = 0;
}
}  // namespace

extern "C" {

// What a run measured, in clock cycles (the Rust side has the same layout).
struct NttStats {
    uint64_t pass_cycles;  // cycles of the passes, start to done
    uint64_t issues;       // butterflies and products issued
    uint64_t io_cycles;    // cycles loading the memories and reading the data back
};

void* SHIM_FN(new)() {
    Sim* s = new Sim;
    s->top.clk = 0;
    s->top.start = 0;
    s->top.mem_we = 0;
    s->top.eval();
    return s;
}

uint32_t SHIM_FN(max_log_n)() { return NTT_LOGN_MAX; }

// Returns 0, or 1 if a pass did not finish within `max_cycles` cycles.
int SHIM_FN(run)(void* sim, uint32_t log_n, uint32_t* data, const uint32_t* twiddles,
                 const uint32_t* factors, const uint32_t* passes, uint64_t pass_count,
                 uint64_t max_cycles, NttStats* stats) {
    Sim* s = static_cast<Sim*>(sim);
    *stats = NttStats{};
    const uint32_t n = 1u << log_n;
    for (uint32_t t = 0; t < n / 2; ++t) write(s, 1, t, twiddles + 8 * t);
    if (factors)
        for (uint32_t i = 0; i < n; ++i) write(s, 2, i, factors + 8 * i);
    for (uint32_t i = 0; i < n; ++i) write(s, 0, i, data + 8 * i);
    stats->io_cycles += (factors ? 2 : 1) * n + n / 2;
    for (uint64_t q = 0; q < pass_count; ++q) {
        s->top.start = 1;
        s->top.op = (passes[q] >> 8) & 1;
        s->top.log_n = log_n;
        s->top.log_m = passes[q] & 31;
        tick(s);
        s->top.start = 0;
        uint64_t cycles = 1;
        while (!s->top.done) {
            if (cycles >= max_cycles) return 1;
            s->top.eval();
            if (s->top.issued) stats->issues++;
            tick(s);
            cycles++;
        }
        stats->pass_cycles += cycles;
    }
    for (uint32_t i = 0; i < n; ++i) {
        s->top.mem_addr = i;
        tick(s);
        for (int k = 0; k < 8; ++k) data[8 * i + k] = s->top.mem_rdata[k];
    }
    stats->io_cycles += n;
    return 0;
}

}  // extern "C"
