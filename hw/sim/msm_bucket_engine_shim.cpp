// The co-simulated card: the Verilated `msm_bucket_engine` behind the same buffers and
// registers as the real card's kernel (see src/card.rs). `run` plays the part of the
// kernel's data movers: it streams the point and scalar buffers into the engine, one clock at
// a time, and writes the buckets it streams out into the bucket buffer.
//
// Buffers, little-endian 32-bit words:
//   points   n × 16 words: x (8), y (8), Montgomery form; bit 31 of word 7 marks the identity
//   scalars  n × 8 words: the scalar as an integer below r
//   buckets  (NW << C) × 24 words: X, Y, Z (projective; the identity is (0, 1, 0))
#include "shim.h"

extern "C" {

// What a run measured, in clock cycles (the Rust side has the same layout).
struct EngineStats {
    uint64_t cycles;        // start to done
    uint64_t first_issue;   // cycle of the first addition issued
    uint64_t last_issue;    // cycle of the last
    uint64_t issues;        // additions issued
    uint64_t stalls;        // cycles the current point could not move on (FIFO full)
    uint64_t drain_cycles;  // cycles streaming the buckets out
};

void* SHIM_FN(new)() {
    Sim* s = new Sim;
    s->top.clk = 0;
    s->top.start = 0;
    s->top.in_valid = 0;
    s->top.flush = 0;
    s->top.eval();
    return s;
}

uint32_t SHIM_FN(window_bits)() { return ENGINE_C; }

// One accumulation. Returns 0, or 1 if the engine did not finish within `max_cycles`.
int SHIM_FN(run)(void* sim, const uint32_t* points, const uint32_t* scalars, uint64_t n,
                 uint32_t* buckets, uint64_t bucket_count, uint64_t max_cycles,
                 EngineStats* stats) {
    Sim* s = static_cast<Sim*>(sim);
    *stats = EngineStats{};
    s->top.start = 1;
    tick(s);
    s->top.start = 0;
    uint64_t next = 0, cycle = 0;
    bool any_issue = false;
    while (!s->top.done) {
        if (cycle >= max_cycles) return 1;
        const bool offer = next < n;
        s->top.in_valid = offer;
        s->top.flush = !offer;
        if (offer) {
            const uint32_t* p = points + 16 * next;
            for (int k = 0; k < 8; ++k) {
                s->top.in_x[k] = k == 7 ? p[k] & 0x7fffffffu : p[k];
                s->top.in_y[k] = p[8 + k];
                s->top.in_scalar[k] = scalars[8 * next + k];
            }
            s->top.in_inf = p[7] >> 31;
        }
        // Settle the combinational outputs for this cycle's inputs and state.
        s->top.eval();
        const bool taken = offer && s->top.in_ready;
        if (s->top.stalled) stats->stalls++;
        if (s->top.issued) {
            if (!any_issue) stats->first_issue = cycle;
            any_issue = true;
            stats->last_issue = cycle;
            stats->issues++;
        }
        tick(s);
        cycle++;
        if (taken) next++;
        if (s->top.out_valid) {
            stats->drain_cycles++;
            const uint64_t addr = s->top.out_addr;
            if (addr < bucket_count) {
                uint32_t* b = buckets + 24 * addr;
                for (int k = 0; k < 8; ++k) {
                    b[k] = s->top.out_empty ? 0 : s->top.out_x[k];
                    b[8 + k] = s->top.out_empty ? (k == 0) : s->top.out_y[k];
                    b[16 + k] = s->top.out_empty ? 0 : s->top.out_z[k];
                }
            }
        }
    }
    s->top.flush = 0;
    stats->cycles = cycle;
    return 0;
}

}  // extern "C"
