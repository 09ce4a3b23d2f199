// Short Weierstrass points y² = x³ + b (a = 0) over the field `$K` (type `$T`), instantiated
// by the host as `g1_*` over Fq and `g2_*` over Fq2 (`$C` is the prefix).
//
// Affine points are (x, y) in Montgomery form; (0, 0), which is on neither curve, stands for
// the point at infinity. Sums are kept in XYZZ coordinates (x = X/ZZ, y = Y/ZZZ,
// ZZ³ = ZZZ²), whose additions need no inversion and whose mixed addition is cheap; ZZ = 0 is
// the point at infinity, so a zeroed buffer is a buffer of identities. Formulas:
// add-2008-s, madd-2008-s, dbl-2008-s-1 and mdbl-2008-s-1 (Sutherland, EFD), with the cases
// they leave out (an operand at infinity, P = Q, P = -Q) handled explicitly.

struct $C_affine {
    x: $T,
    y: $T,
}

struct $C_xyzz {
    x: $T,
    y: $T,
    zz: $T,
    zzz: $T,
}

fn $C_inf() -> $C_xyzz {
    return $C_xyzz($K_zero(), $K_zero(), $K_zero(), $K_zero());
}

fn $C_is_inf(p: $C_xyzz) -> bool {
    return $K_is_zero(p.zz);
}

fn $C_affine_is_inf(a: $C_affine) -> bool {
    return $K_is_zero(a.x) && $K_is_zero(a.y);
}

fn $C_from_affine(a: $C_affine) -> $C_xyzz {
    var out = $C_xyzz(a.x, a.y, $K_one(), $K_one());
    if ($C_affine_is_inf(a)) {
        out = $C_inf();
    }
    return out;
}

// 2·p (dbl-2008-s-1). BN254's groups have odd order: no point has y = 0.
fn $C_dbl(p: $C_xyzz) -> $C_xyzz {
    var out = p;
    if ($C_is_inf(p)) {
        return out;
    }
    let u = $K_add(p.y, p.y);
    let v = $K_sqr(u);
    let w = $K_mul(u, v);
    let s = $K_mul(p.x, v);
    let x2 = $K_sqr(p.x);
    let m = $K_add($K_add(x2, x2), x2);
    let x3 = $K_sub($K_sqr(m), $K_add(s, s));
    let y3 = $K_sub($K_mul(m, $K_sub(s, x3)), $K_mul(w, p.y));
    return $C_xyzz(x3, y3, $K_mul(v, p.zz), $K_mul(w, p.zzz));
}

// 2·a for affine a (mdbl-2008-s-1).
fn $C_dbl_affine(a: $C_affine) -> $C_xyzz {
    let u = $K_add(a.y, a.y);
    let v = $K_sqr(u);
    let w = $K_mul(u, v);
    let s = $K_mul(a.x, v);
    let x2 = $K_sqr(a.x);
    let m = $K_add($K_add(x2, x2), x2);
    let x3 = $K_sub($K_sqr(m), $K_add(s, s));
    let y3 = $K_sub($K_mul(m, $K_sub(s, x3)), $K_mul(w, a.y));
    return $C_xyzz(x3, y3, v, w);
}

// p + a for affine a (madd-2008-s), with a single exit.
fn $C_add_affine(p: $C_xyzz, a: $C_affine) -> $C_xyzz {
    var out = p;
    if ($C_affine_is_inf(a)) {
        out = p;
    } else if ($C_is_inf(p)) {
        out = $C_from_affine(a);
    } else {
        let u2 = $K_mul(a.x, p.zz);
        let s2 = $K_mul(a.y, p.zzz);
        let pp_ = $K_sub(u2, p.x);
        let r = $K_sub(s2, p.y);
        if ($K_is_zero(pp_)) {
            if ($K_is_zero(r)) {
                out = $C_dbl_affine(a);
            } else {
                out = $C_inf();
            }
        } else {
            let pp = $K_sqr(pp_);
            let ppp = $K_mul(pp_, pp);
            let q = $K_mul(p.x, pp);
            let x3 = $K_sub($K_sqr(r), $K_add($K_add(ppp, q), q));
            let y3 = $K_sub($K_mul(r, $K_sub(q, x3)), $K_mul(p.y, ppp));
            out = $C_xyzz(x3, y3, $K_mul(p.zz, pp), $K_mul(p.zzz, ppp));
        }
    }
    return out;
}

// p + o (add-2008-s), with a single exit.
fn $C_add(p: $C_xyzz, o: $C_xyzz) -> $C_xyzz {
    var out = p;
    if ($C_is_inf(o)) {
        out = p;
    } else if ($C_is_inf(p)) {
        out = o;
    } else {
        let u1 = $K_mul(p.x, o.zz);
        let u2 = $K_mul(o.x, p.zz);
        let s1 = $K_mul(p.y, o.zzz);
        let s2 = $K_mul(o.y, p.zzz);
        let pp_ = $K_sub(u2, u1);
        let r = $K_sub(s2, s1);
        if ($K_is_zero(pp_)) {
            if ($K_is_zero(r)) {
                out = $C_dbl(p);
            } else {
                out = $C_inf();
            }
        } else {
            let pp = $K_sqr(pp_);
            let ppp = $K_mul(pp_, pp);
            let q = $K_mul(u1, pp);
            let x3 = $K_sub($K_sqr(r), $K_add($K_add(ppp, q), q));
            let y3 = $K_sub($K_mul(r, $K_sub(q, x3)), $K_mul(s1, ppp));
            out = $C_xyzz(x3, y3, $K_mul($K_mul(p.zz, o.zz), pp),
                          $K_mul($K_mul(p.zzz, o.zzz), ppp));
        }
    }
    return out;
}

// k·p for a small k (double-and-add from the top set bit).
fn $C_mul_small(p: $C_xyzz, k: u32) -> $C_xyzz {
    var acc = $C_inf();
    if (k == 0u) {
        return acc;
    }
    let top = 31u - countLeadingZeros(k);
    for (var bit = i32(top); bit >= 0; bit--) {
        acc = $C_dbl(acc);
        if (((k >> u32(bit)) & 1u) != 0u) {
            acc = $C_add(acc, p);
        }
    }
    return acc;
}
