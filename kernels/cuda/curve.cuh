// Short Weierstrass points y² = x³ + b (a = 0) over F (fq_t for G1, fq2_t for G2).
//
// Affine points are (x, y) in Montgomery form; (0, 0), which is on neither curve, stands
// for the point at infinity (arkworks' zero is written that way by the host).
// Sums are kept in XYZZ coordinates (x = X/ZZ, y = Y/ZZZ, ZZ³ = ZZZ²), whose additions need
// no inversion and whose mixed addition is cheap; ZZ = 0 is the point at infinity, and the
// all-zero pattern is infinity too, so zeroed device memory is a buffer of identities.
// Formulas: add-2008-s, madd-2008-s, dbl-2008-s-1 (Sutherland, EFD), with the cases they
// leave out (an operand at infinity, P = Q, P = -Q) handled explicitly.
//
// The group operations are not inlined: each is a few thousand instructions, and inlining
// them into every kernel made the program ~1M lines of PTX and minutes of compilation.

template <class F>
struct Affine {
    // 32-bit words one point occupies in device memory.
    static constexpr int WORDS = 2 * F::WORDS;
    F x, y;

    __device__ __forceinline__ bool is_inf() const { return x.is_zero() && y.is_zero(); }
    __device__ __forceinline__ static Affine load(const u32* p) { Affine r; r.x = F::load(p); r.y = F::load(p + F::WORDS); return r; }
};

template <class F>
struct Xyzz {
    static constexpr int WORDS = 4 * F::WORDS;
    F x, y, zz, zzz;

    __device__ __forceinline__ static Xyzz inf() { Xyzz r; r.x = F::zero(); r.y = F::zero(); r.zz = F::zero(); r.zzz = F::zero(); return r; }
    __device__ __forceinline__ bool is_inf() const { return zz.is_zero(); }

    __device__ __forceinline__ static Xyzz load(const u32* p) {
        Xyzz r;
        r.x = F::load(p);
        r.y = F::load(p + F::WORDS);
        r.zz = F::load(p + 2 * F::WORDS);
        r.zzz = F::load(p + 3 * F::WORDS);
        return r;
    }

    __device__ __forceinline__ void store(u32* p) const {
        x.store(p);
        y.store(p + F::WORDS);
        zz.store(p + 2 * F::WORDS);
        zzz.store(p + 3 * F::WORDS);
    }

    __device__ __forceinline__ static Xyzz from_affine(const Affine<F>& a) {
        if (a.is_inf()) return inf();
        Xyzz r; r.x = a.x; r.y = a.y; r.zz = F::one(); r.zzz = F::one();
        return r;
    }

    // this = 2·this (dbl-2008-s-1). A point with y = 0 would double to infinity, and does:
    // ZZ3 = V·ZZ1 = 0. (BN254's groups have odd order, so there is none.)
    __device__ __noinline__ void dbl() {
        if (is_inf()) return;
        F u = y + y;
        F v = sqr(u);
        F w = u * v;
        F s = x * v;
        F x2 = sqr(x);
        F m = x2 + x2 + x2;
        F x3 = sqr(m) - (s + s);
        F y3 = m * (s - x3) - w * y;
        zz = v * zz;
        zzz = w * zzz;
        x = x3;
        y = y3;
    }

    // this = 2·a for affine a (mdbl-2008-s-1).
    __device__ __noinline__ void set_double_affine(const Affine<F>& a) {
        F u = a.y + a.y;
        F v = sqr(u);
        F w = u * v;
        F s = a.x * v;
        F x2 = sqr(a.x);
        F m = x2 + x2 + x2;
        x = sqr(m) - (s + s);
        y = m * (s - x) - w * a.y;
        zz = v;
        zzz = w;
    }

    // this += a for affine a (madd-2008-s).
    __device__ __noinline__ void add_affine(const Affine<F>& a) {
        if (a.is_inf()) return;
        if (is_inf()) { *this = from_affine(a); return; }
        F u2 = a.x * zz;
        F s2 = a.y * zzz;
        F p = u2 - x;
        F r = s2 - y;
        if (p.is_zero()) {
            if (r.is_zero()) set_double_affine(a);
            else *this = inf();
            return;
        }
        F pp = sqr(p);
        F ppp = p * pp;
        F q = x * pp;
        F x3 = sqr(r) - (ppp + q + q);
        y = r * (q - x3) - y * ppp;
        x = x3;
        zz = zz * pp;
        zzz = zzz * ppp;
    }

    // this += o (add-2008-s).
    __device__ __noinline__ void add(const Xyzz& o) {
        if (o.is_inf()) return;
        if (is_inf()) { *this = o; return; }
        F u1 = x * o.zz;
        F u2 = o.x * zz;
        F s1 = y * o.zzz;
        F s2 = o.y * zzz;
        F p = u2 - u1;
        F r = s2 - s1;
        if (p.is_zero()) {
            if (r.is_zero()) dbl();
            else *this = inf();
            return;
        }
        F pp = sqr(p);
        F ppp = p * pp;
        F q = u1 * pp;
        F x3 = sqr(r) - (ppp + q + q);
        y = r * (q - x3) - s1 * ppp;
        x = x3;
        zz = zz * o.zz * pp;
        zzz = zzz * o.zzz * ppp;
    }

    // this = k·this for a small k (double-and-add from the top bit).
    __device__ __forceinline__ void mul_small(u32 k) {
        Xyzz base = *this;
        *this = inf();
        for (int bit = 31; bit >= 0; bit--) {
            dbl();
            if ((k >> bit) & 1) add(base);
        }
    }
};

typedef Affine<fq_t> g1_affine_t;
typedef Xyzz<fq_t> g1_xyzz_t;
typedef Affine<fq2_t> g2_affine_t;
typedef Xyzz<fq2_t> g2_xyzz_t;
