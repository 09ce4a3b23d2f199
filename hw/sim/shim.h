// What every model's C shim shares: the Verilated model in a context of its own, one clock
// cycle, and the destructor of the C ABI. Each shim defines MODEL, MODEL_HEADER and SHIM_FN
// through the build (build.rs) and includes this first.
#pragma once

#include <cstdint>

#include "verilated.h"
#include MODEL_HEADER

namespace {
struct Sim {
    VerilatedContext context;
    MODEL top{&context, "top"};
};

// One clock cycle: the rising edge, then the falling one.
inline void tick(Sim* s) {
    s->top.clk = 1;
    s->top.eval();
    s->top.clk = 0;
    s->top.eval();
}
}  // namespace

extern "C" void SHIM_FN(free)(void* sim) {
    Sim* s = static_cast<Sim*>(sim);
    s->top.final();
    delete s;
}
