// BN254's quadratic extension Fq2 = Fq[u]/(u² + 1), for G2: c0 + c1·u, each an Fq element
// in Montgomery form, 16 words in memory (c0 first). Same function set as field.wgsl.

struct Fq2 {
    c0: Big,
    c1: Big,
}

fn fq2_zero() -> Fq2 {
    return Fq2(Big(), Big());
}

fn fq2_one() -> Fq2 {
    return Fq2(fq_one(), Big());
}

fn fq2_is_zero(a: Fq2) -> bool {
    return fq_is_zero(a.c0) && fq_is_zero(a.c1);
}

fn fq2_add(a: Fq2, b: Fq2) -> Fq2 {
    return Fq2(fq_add(a.c0, b.c0), fq_add(a.c1, b.c1));
}

fn fq2_sub(a: Fq2, b: Fq2) -> Fq2 {
    return Fq2(fq_sub(a.c0, b.c0), fq_sub(a.c1, b.c1));
}

fn fq2_neg(a: Fq2) -> Fq2 {
    return Fq2(fq_neg(a.c0), fq_neg(a.c1));
}

// Karatsuba: three Fq products.
fn fq2_mul(a: Fq2, b: Fq2) -> Fq2 {
    let v0 = fq_mul(a.c0, b.c0);
    let v1 = fq_mul(a.c1, b.c1);
    let s = fq_mul(fq_add(a.c0, a.c1), fq_add(b.c0, b.c1));
    return Fq2(fq_sub(v0, v1), fq_sub(fq_sub(s, v0), v1));
}

// (c0 + c1)(c0 - c1) + 2·c0·c1·u: two Fq products.
fn fq2_sqr(a: Fq2) -> Fq2 {
    let m = fq_mul(a.c0, a.c1);
    return Fq2(fq_mul(fq_add(a.c0, a.c1), fq_sub(a.c0, a.c1)), fq_add(m, m));
}
