// C ABI over the Verilated `fq_mont_mul` (built twice: as is, and with one output bit
// flipped, so the tests can show that the check sees a wrong result). One call is one
// clock cycle: the inputs are applied, the clock rises and falls, the outputs are read.
#include "shim.h"

extern "C" {

void* SHIM_FN(new)() {
    Sim* s = new Sim;
    s->top.clk = 0;
    s->top.in_valid = 0;
    s->top.eval();
    return s;
}

void SHIM_FN(cycle)(void* sim, int in_valid, const uint32_t* a, const uint32_t* b,
                    int* out_valid, uint32_t* r) {
    Sim* s = static_cast<Sim*>(sim);
    s->top.in_valid = in_valid ? 1 : 0;
    for (int k = 0; k < 8; ++k) {
        s->top.a[k] = a[k];
        s->top.b[k] = b[k];
    }
    tick(s);
    *out_valid = s->top.out_valid;
    for (int k = 0; k < 8; ++k) r[k] = s->top.r[k];
}

}  // extern "C"
