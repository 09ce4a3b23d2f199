// BN254 prime fields on the GPU: Fr and Fq in Montgomery form, eight 32-bit limbs, least
// significant first (the same bytes as arkworks' four 64-bit limbs), and Fq2 = Fq[u]/(u²+1).
//
// The moduli, -p⁻¹ mod 2³² and R mod p come from the prelude that the host generates from
// arkworks (FrConfig, FqConfig), so no constant is typed twice.
//
// Multiplication is schoolbook (8×8 limbs) followed by Montgomery reduction, both as PTX
// carry chains (mad.lo.cc / madc.hi.cc). PTX instructions without `.cc` never touch the
// carry flag, so the compiler may interleave address arithmetic between the chain links.

namespace ptx {

__device__ __forceinline__ void add_cc(u32& x, u32 y) { asm volatile("add.cc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
__device__ __forceinline__ void addc_cc(u32& x, u32 y) { asm volatile("addc.cc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
__device__ __forceinline__ void addc(u32& x, u32 y) { asm volatile("addc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
__device__ __forceinline__ void sub_cc(u32& x, u32 y) { asm volatile("sub.cc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
__device__ __forceinline__ void subc_cc(u32& x, u32 y) { asm volatile("subc.cc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
__device__ __forceinline__ void subc(u32& x, u32 y) { asm volatile("subc.u32 %0, %0, %1;" : "+r"(x) : "r"(y)); }
// All ones if the last subtraction of a chain borrowed, else zero.
__device__ __forceinline__ u32 borrow_mask() { u32 r; asm volatile("subc.u32 %0, %1, %1;" : "=r"(r) : "r"(0u)); return r; }
__device__ __forceinline__ void mad_lo_cc(u32& acc, u32 a, u32 b) { asm volatile("mad.lo.cc.u32 %0, %1, %2, %0;" : "+r"(acc) : "r"(a), "r"(b)); }
__device__ __forceinline__ void madc_lo_cc(u32& acc, u32 a, u32 b) { asm volatile("madc.lo.cc.u32 %0, %1, %2, %0;" : "+r"(acc) : "r"(a), "r"(b)); }
__device__ __forceinline__ void mad_hi_cc(u32& acc, u32 a, u32 b) { asm volatile("mad.hi.cc.u32 %0, %1, %2, %0;" : "+r"(acc) : "r"(a), "r"(b)); }
__device__ __forceinline__ void madc_hi_cc(u32& acc, u32 a, u32 b) { asm volatile("madc.hi.cc.u32 %0, %1, %2, %0;" : "+r"(acc) : "r"(a), "r"(b)); }
__device__ __forceinline__ void madc_hi(u32& acc, u32 a, u32 b) { asm volatile("madc.hi.u32 %0, %1, %2, %0;" : "+r"(acc) : "r"(a), "r"(b)); }

}  // namespace ptx

// An element of the prime field described by C, in Montgomery form (value·R mod p).
template <class C>
struct Fp {
    static constexpr int LIMBS = 8;
    // 32-bit words one element occupies in device memory.
    static constexpr int WORDS = 8;
    u32 v[LIMBS];

    __device__ __forceinline__ static Fp zero() {
        Fp r;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) r.v[i] = 0;
        return r;
    }

    // One, i.e. R mod p in Montgomery form.
    __device__ __forceinline__ static Fp one() {
        Fp r;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) r.v[i] = C::one(i);
        return r;
    }

    __device__ __forceinline__ static Fp load(const u32* p) {
        Fp r;
        const uint4* q = reinterpret_cast<const uint4*>(p);
        uint4 a = q[0], b = q[1];
        r.v[0] = a.x; r.v[1] = a.y; r.v[2] = a.z; r.v[3] = a.w;
        r.v[4] = b.x; r.v[5] = b.y; r.v[6] = b.z; r.v[7] = b.w;
        return r;
    }

    __device__ __forceinline__ void store(u32* p) const {
        uint4* q = reinterpret_cast<uint4*>(p);
        q[0] = make_uint4(v[0], v[1], v[2], v[3]);
        q[1] = make_uint4(v[4], v[5], v[6], v[7]);
    }

    __device__ __forceinline__ bool is_zero() const {
        u32 x = 0;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) x |= v[i];
        return x == 0;
    }

    __device__ __forceinline__ bool operator==(const Fp& o) const {
        u32 x = 0;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) x |= v[i] ^ o.v[i];
        return x == 0;
    }

    // x - p if x ≥ p, else x; for x < 2p.
    __device__ __forceinline__ static Fp reduce_once(const Fp& x) {
        Fp s = x;
        ptx::sub_cc(s.v[0], C::modulus(0));
#pragma unroll
        for (int i = 1; i < LIMBS; i++) ptx::subc_cc(s.v[i], C::modulus(i));
        u32 borrow = ptx::borrow_mask();
        Fp r;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) r.v[i] = borrow ? x.v[i] : s.v[i];
        return r;
    }

    __device__ __forceinline__ static Fp add(const Fp& a, const Fp& b) {
        // a + b < 2p < 2^256: no carry out of the top limb.
        Fp s = a;
        ptx::add_cc(s.v[0], b.v[0]);
#pragma unroll
        for (int i = 1; i < LIMBS - 1; i++) ptx::addc_cc(s.v[i], b.v[i]);
        ptx::addc(s.v[LIMBS - 1], b.v[LIMBS - 1]);
        return reduce_once(s);
    }

    __device__ __forceinline__ static Fp sub(const Fp& a, const Fp& b) {
        Fp d = a;
        ptx::sub_cc(d.v[0], b.v[0]);
#pragma unroll
        for (int i = 1; i < LIMBS; i++) ptx::subc_cc(d.v[i], b.v[i]);
        u32 mask = ptx::borrow_mask();
        // Add p back where the subtraction went below zero.
        ptx::add_cc(d.v[0], C::modulus(0) & mask);
#pragma unroll
        for (int i = 1; i < LIMBS - 1; i++) ptx::addc_cc(d.v[i], C::modulus(i) & mask);
        ptx::addc(d.v[LIMBS - 1], C::modulus(LIMBS - 1) & mask);
        return d;
    }

    __device__ __forceinline__ static Fp neg(const Fp& a) { return sub(zero(), a); }

    // a·b·R⁻¹ mod p.
    __device__ __forceinline__ static Fp mul(const Fp& a, const Fp& b) {
        u32 t[2 * LIMBS];
#pragma unroll
        for (int k = 0; k < 2 * LIMBS; k++) t[k] = 0;

        // t = a·b. Row i adds a·b[i] at limb i: the low halves into t[i..i+7] (carry into
        // t[i+8], still zero here), then the high halves into t[i+1..i+8]. After row i the
        // sum is below 2^(32(i+9)), so the last link of the high chain carries nothing out.
#pragma unroll
        for (int i = 0; i < LIMBS; i++) {
            ptx::mad_lo_cc(t[i], a.v[0], b.v[i]);
#pragma unroll
            for (int j = 1; j < LIMBS; j++) ptx::madc_lo_cc(t[i + j], a.v[j], b.v[i]);
            ptx::addc(t[i + LIMBS], 0u);
            ptx::mad_hi_cc(t[i + 1], a.v[0], b.v[i]);
#pragma unroll
            for (int j = 1; j < LIMBS - 1; j++) ptx::madc_hi_cc(t[i + 1 + j], a.v[j], b.v[i]);
            ptx::madc_hi(t[i + LIMBS], a.v[LIMBS - 1], b.v[i]);
        }

        // Montgomery reduction: step i adds m·p at limb i so that t[i] becomes zero, the
        // carries rippling to the top. Every partial sum stays below a·b + p·R < 2^511.
#pragma unroll
        for (int i = 0; i < LIMBS; i++) {
            u32 m = t[i] * C::INV;
            ptx::mad_lo_cc(t[i], m, C::modulus(0));
#pragma unroll
            for (int j = 1; j < LIMBS; j++) ptx::madc_lo_cc(t[i + j], m, C::modulus(j));
#pragma unroll
            for (int k = i + LIMBS; k < 2 * LIMBS - 1; k++) ptx::addc_cc(t[k], 0u);
            ptx::addc(t[2 * LIMBS - 1], 0u);

            ptx::mad_hi_cc(t[i + 1], m, C::modulus(0));
#pragma unroll
            for (int j = 1; j < LIMBS; j++) ptx::madc_hi_cc(t[i + 1 + j], m, C::modulus(j));
            if (i + LIMBS + 1 <= 2 * LIMBS - 1) {
#pragma unroll
                for (int k = i + LIMBS + 1; k < 2 * LIMBS - 1; k++) ptx::addc_cc(t[k], 0u);
                ptx::addc(t[2 * LIMBS - 1], 0u);
            }
        }

        Fp r;
#pragma unroll
        for (int i = 0; i < LIMBS; i++) r.v[i] = t[LIMBS + i];
        return reduce_once(r);
    }

    __device__ __forceinline__ static Fp sqr(const Fp& a) { return mul(a, a); }

    // Leaves Montgomery form: the canonical value a·R⁻¹ (a Montgomery product with 1).
    __device__ __forceinline__ static Fp from_montgomery(const Fp& a) {
        Fp one_raw = zero();
        one_raw.v[0] = 1;
        return mul(a, one_raw);
    }

    __device__ __forceinline__ Fp operator+(const Fp& o) const { return add(*this, o); }
    __device__ __forceinline__ Fp operator-(const Fp& o) const { return sub(*this, o); }
    __device__ __forceinline__ Fp operator*(const Fp& o) const { return mul(*this, o); }
    __device__ __forceinline__ Fp operator-() const { return neg(*this); }
};

typedef Fp<FrConfig> fr_t;
typedef Fp<FqConfig> fq_t;

// Fq2 = Fq[u]/(u² + 1), the field of G2's coordinates: c0 + c1·u.
struct fq2_t {
    static constexpr int WORDS = 16;
    fq_t c0, c1;

    __device__ __forceinline__ static fq2_t make(const fq_t& a, const fq_t& b) { fq2_t r; r.c0 = a; r.c1 = b; return r; }
    __device__ __forceinline__ static fq2_t zero() { return make(fq_t::zero(), fq_t::zero()); }
    __device__ __forceinline__ static fq2_t one() { return make(fq_t::one(), fq_t::zero()); }
    __device__ __forceinline__ static fq2_t load(const u32* p) { return make(fq_t::load(p), fq_t::load(p + 8)); }
    __device__ __forceinline__ void store(u32* p) const { c0.store(p); c1.store(p + 8); }
    __device__ __forceinline__ bool is_zero() const { return c0.is_zero() && c1.is_zero(); }
    __device__ __forceinline__ bool operator==(const fq2_t& o) const { return c0 == o.c0 && c1 == o.c1; }
    __device__ __forceinline__ fq2_t operator+(const fq2_t& o) const { return make(c0 + o.c0, c1 + o.c1); }
    __device__ __forceinline__ fq2_t operator-(const fq2_t& o) const { return make(c0 - o.c0, c1 - o.c1); }
    __device__ __forceinline__ fq2_t operator-() const { return make(-c0, -c1); }

    // Karatsuba: (a0 + a1u)(b0 + b1u) = (a0b0 - a1b1) + ((a0 + a1)(b0 + b1) - a0b0 - a1b1)u.
    __device__ __forceinline__ fq2_t operator*(const fq2_t& o) const {
        fq_t v0 = c0 * o.c0;
        fq_t v1 = c1 * o.c1;
        fq_t cross = (c0 + c1) * (o.c0 + o.c1);
        return make(v0 - v1, cross - v0 - v1);
    }

    __device__ __forceinline__ static fq2_t sqr(const fq2_t& a) {
        // (a0 + a1u)² = (a0 + a1)(a0 - a1) + 2a0a1·u
        fq_t m = a.c0 * a.c1;
        return make((a.c0 + a.c1) * (a.c0 - a.c1), m + m);
    }
};

__device__ __forceinline__ fr_t sqr(const fr_t& a) { return fr_t::sqr(a); }
__device__ __forceinline__ fq_t sqr(const fq_t& a) { return fq_t::sqr(a); }
__device__ __forceinline__ fq2_t sqr(const fq2_t& a) { return fq2_t::sqr(a); }
