// Kernels that expose the field and curve arithmetic element by element, so that the
// conformance tests can check them against arkworks on random values.

// For each i: a+b, a-b, a·b, a², -a, canonical(a) (6 outputs of 8 words).
template <class F>
__device__ __forceinline__ void field_selftest(const u32* a, const u32* b, u32* out, u32 n) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    F x = F::load(a + 8 * (u64)i), y = F::load(b + 8 * (u64)i);
    u32* o = out + 48 * (u64)i;
    (x + y).store(o);
    (x - y).store(o + 8);
    (x * y).store(o + 16);
    F::sqr(x).store(o + 24);
    (-x).store(o + 32);
    F::from_montgomery(x).store(o + 40);
}

extern "C" __global__ void selftest_fr(const u32* a, const u32* b, u32* out, u32 n) { field_selftest<fr_t>(a, b, out, n); }
extern "C" __global__ void selftest_fq(const u32* a, const u32* b, u32* out, u32 n) { field_selftest<fq_t>(a, b, out, n); }

// For each i: a+b, a-b, a·b, a² in Fq2 (4 outputs of 16 words).
extern "C" __global__ void selftest_fq2(const u32* a, const u32* b, u32* out, u32 n) {
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    fq2_t x = fq2_t::load(a + 16 * (u64)i), y = fq2_t::load(b + 16 * (u64)i);
    u32* o = out + 64 * (u64)i;
    (x + y).store(o);
    (x - y).store(o + 16);
    (x * y).store(o + 32);
    fq2_t::sqr(x).store(o + 48);
}

// For each pair of affine points p, q: p + q (mixed), 2p, (p + q) + 2p computed with the full
// addition, as XYZZ (3 outputs).
template <class F>
__device__ __forceinline__ void curve_selftest(const u32* p, const u32* q, u32* out, u32 n) {
    typedef Xyzz<F> P;
    u32 i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    Affine<F> a = Affine<F>::load(p + (u64)i * Affine<F>::WORDS);
    Affine<F> b = Affine<F>::load(q + (u64)i * Affine<F>::WORDS);
    u32* o = out + 3 * (u64)i * P::WORDS;
    P sum = P::from_affine(a);
    sum.add_affine(b);
    sum.store(o);
    P twice = P::from_affine(a);
    twice.dbl();
    twice.store(o + P::WORDS);
    sum.add(twice);
    sum.store(o + 2 * P::WORDS);
}

extern "C" __global__ void selftest_g1(const u32* p, const u32* q, u32* out, u32 n) { curve_selftest<fq_t>(p, q, out, n); }
extern "C" __global__ void selftest_g2(const u32* p, const u32* q, u32* out, u32 n) { curve_selftest<fq2_t>(p, q, out, n); }
