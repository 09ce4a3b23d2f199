// A prime field of at most 256 bits in Montgomery form (x·R mod p, R = 2^256), instantiated
// by the host as `fr_*` (BN254's scalar field) and `fq_*` (its base field): `$F` is the
// prefix, and the constants $F_P (the modulus), $F_INV (-p⁻¹ mod 2³²) and $F_R (R mod p,
// the Montgomery form of one) are generated from arkworks, so no constant is typed twice.
// Inputs are below p and so are results. BN254's moduli are below 2^254, so sums of two
// elements never carry out of 256 bits.
//
// The loops over the eight words have constant bounds, so compilers unroll them and keep the
// words in registers. (Bounding them by a parameter instead, which would compile faster on a
// software Vulkan, is miscompiled by Mesa 22's lavapipe: chains of more than ~16 curve
// additions in one invocation came out wrong.)

fn $F_zero() -> Big {
    return Big();
}

fn $F_one() -> Big {
    return $F_R;
}

fn $F_is_zero(a: Big) -> bool {
    var x = a;
    var acc = 0u;
    for (var i = 0u; i < 8u; i++) {
        acc |= x[i];
    }
    return acc == 0u;
}

// s - p if s ≥ p (s < 2p), else s.
fn $F_reduce(s_in: Big) -> Big {
    var s = s_in;
    var p = $F_P;
    var d: Big;
    var borrow = 0u;
    for (var i = 0u; i < 8u; i++) {
        let x = s[i] - p[i];
        d[i] = x - borrow;
        borrow = select(0u, 1u, s[i] < p[i]) + select(0u, 1u, x < borrow);
    }
    if (borrow == 0u) {
        return d;
    }
    return s;
}

fn $F_add(a_in: Big, b_in: Big) -> Big {
    var a = a_in;
    var b = b_in;
    var s: Big;
    var carry = 0u;
    for (var i = 0u; i < 8u; i++) {
        let x = a[i] + b[i];
        let y = x + carry;
        carry = select(0u, 1u, x < a[i]) + select(0u, 1u, y < x);
        s[i] = y;
    }
    return $F_reduce(s);
}

fn $F_sub(a_in: Big, b_in: Big) -> Big {
    var a = a_in;
    var b = b_in;
    var d: Big;
    var borrow = 0u;
    for (var i = 0u; i < 8u; i++) {
        let x = a[i] - b[i];
        d[i] = x - borrow;
        borrow = select(0u, 1u, a[i] < b[i]) + select(0u, 1u, x < borrow);
    }
    if (borrow == 0u) {
        return d;
    }
    // d + p, dropping the carry out (it cancels the borrow).
    var p = $F_P;
    var carry = 0u;
    for (var i = 0u; i < 8u; i++) {
        let x = d[i] + p[i];
        let y = x + carry;
        carry = select(0u, 1u, x < d[i]) + select(0u, 1u, y < x);
        d[i] = y;
    }
    return d;
}

fn $F_neg(a: Big) -> Big {
    return $F_sub(Big(), a);
}

// a·b·R⁻¹ mod p: coarsely integrated operand scanning (CIOS), one word of b a round.
fn $F_mul(a_in: Big, b_in: Big) -> Big {
    var a = a_in;
    var b = b_in;
    var p = $F_P;
    var t: array<u32, 10>;
    for (var i = 0u; i < 8u; i++) {
        // t += a·b[i]
        var c = 0u;
        for (var j = 0u; j < 8u; j++) {
            let r = mac(t[j], a[j], b[i], c);
            t[j] = r.x;
            c = r.y;
        }
        let s = t[8] + c;
        t[9] = select(0u, 1u, s < c);
        t[8] = s;
        // t = (t + m·p) / 2^32 with m chosen so the low word vanishes.
        let m = t[0] * $F_INV;
        var r = mac(t[0], m, p[0], 0u);
        c = r.y;
        for (var j = 1u; j < 8u; j++) {
            r = mac(t[j], m, p[j], c);
            t[j - 1u] = r.x;
            c = r.y;
        }
        let s2 = t[8] + c;
        t[7] = s2;
        t[8] = t[9] + select(0u, 1u, s2 < c);
    }
    // t < 2p < 2^256, so t[8] is zero here.
    var out: Big;
    for (var j = 0u; j < 8u; j++) {
        out[j] = t[j];
    }
    return $F_reduce(out);
}

fn $F_sqr(a: Big) -> Big {
    return $F_mul(a, a);
}

// The canonical integer of a Montgomery-form element (a·R⁻¹).
fn $F_from_montgomery(a: Big) -> Big {
    var one = Big();
    one[0] = 1u;
    return $F_mul(a, one);
}
