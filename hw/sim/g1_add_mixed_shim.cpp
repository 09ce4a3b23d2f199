// C ABI over the Verilated `g1_add_mixed` (the pipelined mixed point adder). One call is one
// clock cycle: the inputs are applied, the clock rises and falls, the outputs are read.
// Coordinates are eight 32-bit words each, least significant first.
#include "shim.h"

namespace {
void put(VlWide<8>& port, const uint32_t* w) {
    for (int k = 0; k < 8; ++k) port[k] = w[k];
}

void get(uint32_t* w, const VlWide<8>& port) {
    for (int k = 0; k < 8; ++k) w[k] = port[k];
}
}  // namespace

extern "C" {

void* SHIM_FN(new)() {
    Sim* s = new Sim;
    s->top.clk = 0;
    s->top.in_valid = 0;
    s->top.eval();
    return s;
}

// p1: x1, y1, z1 (24 words); p2: x2, y2 (16 words); out: x3, y3, z3 (24 words).
void SHIM_FN(cycle)(void* sim, int in_valid, uint32_t tag, const uint32_t* p1, const uint32_t* p2,
                    int inf2, int* out_valid, uint32_t* out_tag, uint32_t* out) {
    Sim* s = static_cast<Sim*>(sim);
    s->top.in_valid = in_valid ? 1 : 0;
    s->top.in_tag = tag;
    put(s->top.x1, p1);
    put(s->top.y1, p1 + 8);
    put(s->top.z1, p1 + 16);
    put(s->top.x2, p2);
    put(s->top.y2, p2 + 8);
    s->top.inf2 = inf2 ? 1 : 0;
    tick(s);
    *out_valid = s->top.out_valid;
    *out_tag = s->top.out_tag;
    get(out, s->top.x3);
    get(out + 8, s->top.y3);
    get(out + 16, s->top.z3);
}

}  // extern "C"
