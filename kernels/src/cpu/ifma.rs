//! BN254 G1 and G2 bucket additions with AVX-512 IFMA: eight base-field elements per
//! instruction.
//!
//! The scalar Montgomery multiplication of arkworks runs 36 64-bit multiplications, one
//! per cycle. AVX-512 IFMA (`vpmadd52luq`/`vpmadd52huq`, on Ice Lake and later, and on
//! AMD Zen 4 and Zen 5) multiplies eight 52-bit pairs per instruction. Batch-affine bucket
//! accumulation is made of independent additions, so it maps onto eight lanes directly.
//!
//! Representation: an element of Fq is five 52-bit limbs holding `x·2^260 mod p`
//! (Montgomery form with R = 2^260), always fully reduced, so that equal elements have
//! equal limbs; an element of Fq2 = Fq[u]/(u² + 1) is its two coefficients, ten limbs. A
//! point is the limbs of x, then those of y: `[u64; 10]` in G1, `[u64; 20]` in G2; the
//! identity is flagged beside it. The addition is written once, over [`Lanes`] (eight
//! elements of Fq or of Fq2) and [`IfmaCurve`].
//!
//! Everything here runs only after [`available`] said yes; the MSM falls back to the
//! scalar code otherwise (and when `FORNAX_NO_IFMA` is set, so that both paths can be
//! tested and compared on one machine).

use std::arch::x86_64::*;
use std::sync::LazyLock;

use ark_bn254::{Fq, Fq2};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, Field, PrimeField};

/// Low 52 bits.
pub(crate) const MASK: u64 = (1 << 52) - 1;

/// A 256-bit little-endian integer as five 52-bit limbs.
pub(crate) const fn split52(a: [u64; 4]) -> [u64; 5] {
    [
        a[0] & MASK,
        ((a[0] >> 52) | (a[1] << 12)) & MASK,
        ((a[1] >> 40) | (a[2] << 24)) & MASK,
        ((a[2] >> 28) | (a[3] << 36)) & MASK,
        a[3] >> 16,
    ]
}

/// Five 52-bit limbs (value below 2^256) as a 256-bit little-endian integer.
pub(crate) const fn join52(l: [u64; 5]) -> [u64; 4] {
    [
        l[0] | (l[1] << 52),
        (l[1] >> 12) | (l[2] << 40),
        (l[2] >> 24) | (l[3] << 28),
        (l[3] >> 36) | (l[4] << 16),
    ]
}

/// `-p0^-1 mod 2^52`, for an odd `p0`.
const fn neg_inv52(p0: u64) -> u64 {
    let mut inv = 1u64;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(p0.wrapping_mul(inv)));
        i += 1;
    }
    inv.wrapping_neg() & MASK
}

/// A prime below 2^255 that the lane arithmetic reduces by.
pub(crate) trait Modulus {
    /// The prime, as five 52-bit limbs.
    const P: [u64; 5];
    /// `-P^-1 mod 2^52`.
    const PINV: u64 = neg_inv52(Self::P[0]);
}

/// BN254's base field Fq (curve coordinates).
pub(crate) struct FqModulus;

impl Modulus for FqModulus {
    const P: [u64; 5] = split52(<Fq as PrimeField>::MODULUS.0);
}

/// BN254's scalar field Fr (NTT values).
pub(crate) struct FrModulus;

impl Modulus for FrModulus {
    const P: [u64; 5] = split52(<ark_bn254::Fr as PrimeField>::MODULUS.0);
}

/// The modulus p of Fq.
const P: [u64; 5] = FqModulus::P;

/// `-p^-1 mod 2^52`.
#[cfg(test)]
const PINV: u64 = FqModulus::PINV;

/// Conversion factors between arkworks' form (R = 2^256) and ours.
struct Factors {
    /// 2^260 as an arkworks element.
    to_ours: Fq,
    /// 2^-260 as an arkworks element.
    from_ours: Fq,
    /// One in our form: 2^260 mod p as limbs.
    one: [u64; 5],
}

static FACTORS: LazyLock<Factors> = LazyLock::new(|| {
    let to_ours = Fq::from(2u64).pow([260u64]);
    let from_ours = to_ours.inverse().expect("2^260 is invertible");
    let one = split52(to_ours.into_bigint().0);
    Factors {
        to_ours,
        from_ours,
        one,
    }
});

/// Whether this CPU runs the IFMA path (and `FORNAX_NO_IFMA` is not set).
pub fn available() -> bool {
    static AVAILABLE: LazyLock<bool> = LazyLock::new(|| {
        std::env::var_os("FORNAX_NO_IFMA").is_none()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512ifma")
    });
    *AVAILABLE
}

/// An arkworks element in our form.
pub fn to_limbs(x: &Fq) -> [u64; 5] {
    split52((*x * FACTORS.to_ours).into_bigint().0)
}

/// An element in our form back in arkworks'.
pub fn from_limbs(l: &[u64; 5]) -> Fq {
    Fq::from_bigint(BigInt(join52(*l))).expect("reduced limbs") * FACTORS.from_ours
}

/// A point in our form; `None` for the identity.
pub fn point_to_limbs<C: IfmaCurve>(p: &Affine<C>) -> Option<C::Point> {
    let (x, y) = p.xy()?;
    let mut out = C::IDENTITY;
    let l = C::Lanes::LIMBS;
    C::Lanes::write_limbs(&x, &mut out.as_mut()[..l]);
    C::Lanes::write_limbs(&y, &mut out.as_mut()[l..]);
    Some(out)
}

/// A point in our form back in arkworks'.
pub fn point_from_limbs<C: IfmaCurve>(p: &C::Point) -> Affine<C> {
    let l = C::Lanes::LIMBS;
    let x = C::Lanes::read_limbs(&p.as_ref()[..l]);
    let y = C::Lanes::read_limbs(&p.as_ref()[l..]);
    Affine::new_unchecked(x, y)
}

/// `p := -p` in our form: each coefficient of y negated (a zero coefficient stays zero).
fn negate_in_place<C: IfmaCurve>(p: &mut C::Point) {
    let l = C::Lanes::LIMBS;
    for coefficient in p.as_mut()[l..].chunks_exact_mut(5) {
        if coefficient.iter().all(|&x| x == 0) {
            continue;
        }
        let mut borrow = 0u64;
        for k in 0..5 {
            let d = P[k].wrapping_sub(coefficient[k]).wrapping_sub(borrow);
            borrow = d >> 63;
            coefficient[k] = d & MASK;
        }
    }
}

/// A base as an MSM keeps it resident: the coefficients of x, then of y, in our form but
/// as 64-bit words (four a coefficient), aligned so that a G1 point is exactly one cache
/// line and a G2 point two. The bucket sort reads the bases in random order, so a point
/// that straddles lines (as the 80 bytes of the 52-bit form do) costs a second miss.
/// Bit 63 of word 3 (free: every coefficient is below p < 2^254) marks the identity.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct Packed<const W: usize>([u64; W]);

/// Bit of word 3 of a [`Packed`] point that marks the identity.
const PACKED_IDENTITY: u64 = 1 << 63;

impl<const W: usize> AsRef<[u64]> for Packed<W> {
    fn as_ref(&self) -> &[u64] {
        &self.0
    }
}

impl<const W: usize> AsMut<[u64]> for Packed<W> {
    fn as_mut(&mut self) -> &mut [u64] {
        &mut self.0
    }
}

/// `p` packed for residence ([`Packed`]).
pub fn pack<C: IfmaCurve>(p: &Affine<C>) -> C::Packed {
    let mut out = C::PACKED_IDENTITY;
    if let Some(limbs) = point_to_limbs(p) {
        for (words, limbs) in out
            .as_mut()
            .chunks_exact_mut(4)
            .zip(limbs.as_ref().chunks_exact(5))
        {
            words.copy_from_slice(&join52(limbs.try_into().expect("five limbs")));
        }
    }
    out
}

/// A packed base in our form, negated if `negate`; `None` for the identity.
#[inline]
pub fn unpack<C: IfmaCurve>(p: &C::Packed, negate: bool) -> Option<C::Point> {
    let words = p.as_ref();
    if words[3] & PACKED_IDENTITY != 0 {
        return None;
    }
    let mut out = C::IDENTITY;
    for (limbs, words) in out.as_mut().chunks_exact_mut(5).zip(words.chunks_exact(4)) {
        limbs.copy_from_slice(&split52(words.try_into().expect("four words")));
    }
    if negate {
        negate_in_place::<C>(&mut out);
    }
    Some(out)
}

/// Eight elements of Fq (or of Fr, in the NTT), limb-major.
#[derive(Clone, Copy)]
pub struct F8(pub(crate) [__m512i; 5]);

/// Eight elements of Fq2: their `c0` and `c1` coefficients.
#[derive(Clone, Copy)]
pub struct F8x2(F8, F8);

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn splat(c: u64) -> __m512i {
    _mm512_set1_epi64(c as i64)
}

#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn constant(limbs: &[u64; 5]) -> F8 {
    F8([
        splat(limbs[0]),
        splat(limbs[1]),
        splat(limbs[2]),
        splat(limbs[3]),
        splat(limbs[4]),
    ])
}

/// `r - p` (p of `M`) if that is not negative, else `r`; `r` must be below 2p with 52-bit
/// limbs.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn reduce_once_in<M: Modulus>(r: [__m512i; 5]) -> F8 {
    let mask = splat(MASK);
    let mut s = r;
    let mut borrow = _mm512_setzero_si512();
    for k in 0..5 {
        let d = _mm512_sub_epi64(_mm512_sub_epi64(r[k], splat(M::P[k])), borrow);
        borrow = _mm512_srli_epi64::<63>(d);
        s[k] = _mm512_and_si512(d, mask);
    }
    let negative = _mm512_test_epi64_mask(borrow, borrow);
    F8(std::array::from_fn(|k| {
        _mm512_mask_blend_epi64(negative, s[k], r[k])
    }))
}

/// `a·b` (Montgomery, R = 2^260).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn mul(a: &F8, b: &F8) -> F8 {
    mul_in::<FqModulus>(a, b)
}

/// [`mul`] modulo `M`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn mul_in<M: Modulus>(a: &F8, b: &F8) -> F8 {
    let zero = _mm512_setzero_si512();
    let mut t = [zero; 10];
    for i in 0..5 {
        for j in 0..5 {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], b.0[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], b.0[j]);
        }
    }
    redc::<M>(t)
}

/// `a²` (Montgomery, R = 2^260): the ten cross products once, doubled, then the squares
/// (30 multiply-adds against the product's 50).
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn square(a: &F8) -> F8 {
    let zero = _mm512_setzero_si512();
    let mut t = [zero; 10];
    for i in 0..5 {
        for j in i + 1..5 {
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], a.0[i], a.0[j]);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], a.0[i], a.0[j]);
        }
    }
    for x in t.iter_mut().skip(1) {
        *x = _mm512_add_epi64(*x, *x);
    }
    for i in 0..5 {
        t[2 * i] = _mm512_madd52lo_epu64(t[2 * i], a.0[i], a.0[i]);
        t[2 * i + 1] = _mm512_madd52hi_epu64(t[2 * i + 1], a.0[i], a.0[i]);
    }
    redc::<FqModulus>(t)
}

/// Montgomery reduction of a product's unnormalised 52-bit columns `t` (each below 2^57):
/// `t·2^-260 mod p`, fully reduced.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn redc<M: Modulus>(mut t: [__m512i; 10]) -> F8 {
    let zero = _mm512_setzero_si512();
    let pinv = splat(M::PINV);
    for i in 0..5 {
        // Only the low 52 bits of t[i] enter the product, which is all m depends on.
        let m = _mm512_madd52lo_epu64(zero, t[i], pinv);
        for j in 0..5 {
            let pj = splat(M::P[j]);
            t[i + j] = _mm512_madd52lo_epu64(t[i + j], m, pj);
            t[i + j + 1] = _mm512_madd52hi_epu64(t[i + j + 1], m, pj);
        }
        // t[i] is now a multiple of 2^52: move it up.
        t[i + 1] = _mm512_add_epi64(t[i + 1], _mm512_srli_epi64::<52>(t[i]));
    }
    let mask = splat(MASK);
    for k in 5..9 {
        t[k + 1] = _mm512_add_epi64(t[k + 1], _mm512_srli_epi64::<52>(t[k]));
        t[k] = _mm512_and_si512(t[k], mask);
    }
    reduce_once_in::<M>([t[5], t[6], t[7], t[8], t[9]])
}

/// `a + b`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn add(a: &F8, b: &F8) -> F8 {
    add_in::<FqModulus>(a, b)
}

/// [`add`] modulo `M`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn add_in<M: Modulus>(a: &F8, b: &F8) -> F8 {
    let mask = splat(MASK);
    let mut r = [_mm512_setzero_si512(); 5];
    let mut carry = _mm512_setzero_si512();
    for k in 0..5 {
        let x = _mm512_add_epi64(_mm512_add_epi64(a.0[k], b.0[k]), carry);
        carry = _mm512_srli_epi64::<52>(x);
        r[k] = if k < 4 { _mm512_and_si512(x, mask) } else { x };
    }
    // Below 2p < 2^255: the top limb holds the rest without overflow.
    reduce_once_in::<M>(r)
}

/// `a - b`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn sub(a: &F8, b: &F8) -> F8 {
    sub_in::<FqModulus>(a, b)
}

/// [`sub`] modulo `M`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn sub_in<M: Modulus>(a: &F8, b: &F8) -> F8 {
    let mask = splat(MASK);
    let mut d = [_mm512_setzero_si512(); 5];
    let mut borrow = _mm512_setzero_si512();
    for k in 0..5 {
        let x = _mm512_sub_epi64(_mm512_sub_epi64(a.0[k], b.0[k]), borrow);
        borrow = _mm512_srli_epi64::<63>(x);
        d[k] = _mm512_and_si512(x, mask);
    }
    // Negative lanes get p added back (the carry out of the top limb is the 2^260 wrap).
    let negative = _mm512_test_epi64_mask(borrow, borrow);
    let mut carry = _mm512_setzero_si512();
    let mut e = d;
    for k in 0..5 {
        let x = _mm512_add_epi64(_mm512_add_epi64(d[k], splat(M::P[k])), carry);
        carry = _mm512_srli_epi64::<52>(x);
        e[k] = _mm512_and_si512(x, mask);
    }
    F8(std::array::from_fn(|k| {
        _mm512_mask_blend_epi64(negative, d[k], e[k])
    }))
}

/// Lanes where `a == b`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn equal(a: &F8, b: &F8) -> __mmask8 {
    let mut m = 0xff;
    for k in 0..5 {
        m &= _mm512_cmpeq_epi64_mask(a.0[k], b.0[k]);
    }
    m
}

/// Loads limb range `at..at + 5` of eight points.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn load<Pt: AsRef<[u64]>>(points: &[Pt], index: &[usize; 8], at: usize) -> F8 {
    let mut lanes = [[0u64; 8]; 5];
    for (l, &i) in index.iter().enumerate() {
        let p = &points[i].as_ref()[at..at + 5];
        for k in 0..5 {
            lanes[k][l] = p[k];
        }
    }
    // SAFETY: each `lanes[k]` is 64 readable bytes; unaligned loads are allowed.
    F8(std::array::from_fn(|k| unsafe {
        _mm512_loadu_si512(lanes[k].as_ptr() as *const _)
    }))
}

/// Eight lanes as limb arrays.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn lanes(v: &F8) -> [[u64; 5]; 8] {
    let mut limbs = [[0u64; 8]; 5];
    for k in 0..5 {
        // SAFETY: `limbs[k]` is 64 writable bytes; unaligned stores are allowed.
        unsafe { _mm512_storeu_si512(limbs[k].as_mut_ptr() as *mut _, v.0[k]) };
    }
    std::array::from_fn(|l| std::array::from_fn(|k| limbs[k][l]))
}

/// Builds eight lanes from limb arrays.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
pub(crate) fn from_lanes(values: &[[u64; 5]; 8]) -> F8 {
    let mut limbs = [[0u64; 8]; 5];
    for (l, v) in values.iter().enumerate() {
        for k in 0..5 {
            limbs[k][l] = v[k];
        }
    }
    // SAFETY: as in `load`.
    F8(std::array::from_fn(|k| unsafe {
        _mm512_loadu_si512(limbs[k].as_ptr() as *const _)
    }))
}

/// A pair whose sum needs the scalar path (an identity, equal or opposite points), with
/// its inputs saved before the level overwrites them.
struct Special<P> {
    dst: usize,
    p: Option<P>,
    q: Option<P>,
}

/// Eight elements of a base field in the IFMA form: what the batch addition computes with.
///
/// # Safety
/// The `unsafe` methods need AVX-512F and AVX-512 IFMA ([`available`]).
pub trait Lanes: Copy {
    /// The field in arkworks.
    type Field: Field;
    /// 52-bit limbs of one element.
    const LIMBS: usize;
    /// Writes `x` in our form to `out` (`LIMBS` limbs).
    fn write_limbs(x: &Self::Field, out: &mut [u64]);
    /// An element in our form (`LIMBS` limbs) back in arkworks'.
    fn read_limbs(limbs: &[u64]) -> Self::Field;
    /// One in every lane.
    unsafe fn one() -> Self;
    /// Lane-wise product.
    unsafe fn mul(&self, b: &Self) -> Self;
    /// Lane-wise square.
    unsafe fn square(&self) -> Self;
    /// Lane-wise difference.
    unsafe fn sub(&self, b: &Self) -> Self;
    /// Lanes where `self == b`.
    unsafe fn equal(&self, b: &Self) -> __mmask8;
    /// `b` in the lanes of `mask`, `a` elsewhere.
    unsafe fn blend(mask: __mmask8, a: &Self, b: &Self) -> Self;
    /// Limbs `at..at + LIMBS` of eight points.
    unsafe fn load<Pt: AsRef<[u64]>>(points: &[Pt], index: &[usize; 8], at: usize) -> Self;
    /// Stores the lanes of `mask` to limbs `at..at + LIMBS` of their points.
    unsafe fn store<Pt: AsMut<[u64]>>(
        &self,
        points: &mut [Pt],
        index: &[usize; 8],
        at: usize,
        mask: __mmask8,
    );
    /// The lanes in arkworks' form.
    unsafe fn values(&self) -> [Self::Field; 8];
    /// Lanes from arkworks elements.
    unsafe fn from_values(values: &[Self::Field; 8]) -> Self;
}

/// Stores the lanes of `mask` of `v` to limbs `at..at + 5` of their points.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn store<Pt: AsMut<[u64]>>(
    v: &F8,
    points: &mut [Pt],
    index: &[usize; 8],
    at: usize,
    mask: __mmask8,
) {
    let values = lanes(v);
    for l in 0..8 {
        if mask & (1 << l) != 0 {
            points[index[l]].as_mut()[at..at + 5].copy_from_slice(&values[l]);
        }
    }
}

impl Lanes for F8 {
    type Field = Fq;
    const LIMBS: usize = 5;

    fn write_limbs(x: &Fq, out: &mut [u64]) {
        out.copy_from_slice(&to_limbs(x));
    }

    fn read_limbs(limbs: &[u64]) -> Fq {
        from_limbs(limbs.try_into().expect("5 limbs"))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn one() -> Self {
        constant(&FACTORS.one)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn mul(&self, b: &Self) -> Self {
        mul(self, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn square(&self) -> Self {
        square(self)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn sub(&self, b: &Self) -> Self {
        sub(self, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn equal(&self, b: &Self) -> __mmask8 {
        equal(self, b)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn blend(mask: __mmask8, a: &Self, b: &Self) -> Self {
        F8(std::array::from_fn(|k| {
            _mm512_mask_blend_epi64(mask, a.0[k], b.0[k])
        }))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn load<Pt: AsRef<[u64]>>(points: &[Pt], index: &[usize; 8], at: usize) -> Self {
        load(points, index, at)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn store<Pt: AsMut<[u64]>>(
        &self,
        points: &mut [Pt],
        index: &[usize; 8],
        at: usize,
        mask: __mmask8,
    ) {
        store(self, points, index, at, mask)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn values(&self) -> [Fq; 8] {
        lanes(self).map(|l| from_limbs(&l))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn from_values(values: &[Fq; 8]) -> Self {
        from_lanes(&values.map(|x| to_limbs(&x)))
    }
}

impl Lanes for F8x2 {
    type Field = Fq2;
    const LIMBS: usize = 10;

    fn write_limbs(x: &Fq2, out: &mut [u64]) {
        out[..5].copy_from_slice(&to_limbs(&x.c0));
        out[5..].copy_from_slice(&to_limbs(&x.c1));
    }

    fn read_limbs(limbs: &[u64]) -> Fq2 {
        Fq2::new(
            from_limbs(limbs[..5].try_into().expect("5 limbs")),
            from_limbs(limbs[5..].try_into().expect("5 limbs")),
        )
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn one() -> Self {
        F8x2(constant(&FACTORS.one), constant(&[0; 5]))
    }

    /// Karatsuba with u² = -1: three products.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn mul(&self, b: &Self) -> Self {
        let v0 = mul(&self.0, &b.0);
        let v1 = mul(&self.1, &b.1);
        let cross = mul(&add(&self.0, &self.1), &add(&b.0, &b.1));
        F8x2(sub(&v0, &v1), sub(&sub(&cross, &v0), &v1))
    }

    /// `(a + bu)² = (a + b)(a - b) + 2ab·u`: two products.
    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn square(&self) -> Self {
        let ab = mul(&self.0, &self.1);
        F8x2(
            mul(&add(&self.0, &self.1), &sub(&self.0, &self.1)),
            add(&ab, &ab),
        )
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn sub(&self, b: &Self) -> Self {
        F8x2(sub(&self.0, &b.0), sub(&self.1, &b.1))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn equal(&self, b: &Self) -> __mmask8 {
        equal(&self.0, &b.0) & equal(&self.1, &b.1)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn blend(mask: __mmask8, a: &Self, b: &Self) -> Self {
        F8x2(F8::blend(mask, &a.0, &b.0), F8::blend(mask, &a.1, &b.1))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn load<Pt: AsRef<[u64]>>(points: &[Pt], index: &[usize; 8], at: usize) -> Self {
        F8x2(load(points, index, at), load(points, index, at + 5))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn store<Pt: AsMut<[u64]>>(
        &self,
        points: &mut [Pt],
        index: &[usize; 8],
        at: usize,
        mask: __mmask8,
    ) {
        store(&self.0, points, index, at, mask);
        store(&self.1, points, index, at + 5, mask);
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn values(&self) -> [Fq2; 8] {
        let (c0, c1) = (self.0.values(), self.1.values());
        std::array::from_fn(|l| Fq2::new(c0[l], c1[l]))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512ifma")]
    unsafe fn from_values(values: &[Fq2; 8]) -> Self {
        F8x2(
            F8::from_values(&values.map(|x| x.c0)),
            F8::from_values(&values.map(|x| x.c1)),
        )
    }
}

/// A curve whose bucket additions run on the IFMA path: BN254's G1 (over Fq) and G2 (over
/// Fq2).
pub trait IfmaCurve: SWCurveConfig {
    /// Its base field, eight at a time.
    type Lanes: Lanes<Field = Self::BaseField>;
    /// A point in our form: x's limbs, then y's.
    type Point: Copy + PartialEq + Send + Sync + AsRef<[u64]> + AsMut<[u64]>;
    /// The identity's marker (no reduced limb is all ones).
    const IDENTITY: Self::Point;
    /// A base as an MSM keeps it resident ([`pack`], [`unpack`]).
    type Packed: Copy + Send + Sync + AsRef<[u64]> + AsMut<[u64]>;
    /// The identity, packed.
    const PACKED_IDENTITY: Self::Packed;
}

impl IfmaCurve for ark_bn254::g1::Config {
    type Lanes = F8;
    type Point = [u64; 10];
    const IDENTITY: [u64; 10] = [u64::MAX; 10];
    type Packed = Packed<8>;
    const PACKED_IDENTITY: Packed<8> = Packed([0, 0, 0, PACKED_IDENTITY, 0, 0, 0, 0]);
}

impl IfmaCurve for ark_bn254::g2::Config {
    type Lanes = F8x2;
    type Point = [u64; 20];
    const IDENTITY: [u64; 20] = [u64::MAX; 20];
    type Packed = Packed<16>;
    const PACKED_IDENTITY: Packed<16> = {
        let mut words = [0; 16];
        words[3] = PACKED_IDENTITY;
        Packed(words)
    };
}

/// Scratch for [`batch_add`], reused across levels and groups.
pub struct Scratch<C: IfmaCurve> {
    dens: Vec<C::Lanes>,
    prefix: Vec<C::Lanes>,
    specials: Vec<Special<C::Point>>,
}

impl<C: IfmaCurve> Default for Scratch<C> {
    fn default() -> Self {
        Scratch {
            dens: Vec::new(),
            prefix: Vec::new(),
            specials: Vec::new(),
        }
    }
}

/// `points[dst] = points[src] + points[src + 1]` for every `(src, dst)` pair, eight at a
/// time, with one shared inversion; `identity[i]` flags the identity. As in the scalar
/// version every `dst ≤ src` and the pairs are in increasing order.
pub fn batch_add<C: IfmaCurve>(
    points: &mut [C::Point],
    identity: &mut [bool],
    pairs: &[(u32, u32)],
    scratch: &mut Scratch<C>,
) {
    assert!(available(), "the IFMA path needs AVX-512 IFMA");
    // SAFETY: the CPU has the features `batch_add_ifma` is compiled for (checked above).
    unsafe { batch_add_ifma(points, identity, pairs, scratch) }
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn batch_add_ifma<C: IfmaCurve>(
    points: &mut [C::Point],
    identity: &mut [bool],
    pairs: &[(u32, u32)],
    scratch: &mut Scratch<C>,
) {
    if pairs.is_empty() {
        return;
    }
    let y = C::Lanes::LIMBS;
    // SAFETY (every `C::Lanes` call below): this function runs with AVX-512F and IFMA.
    let one = unsafe { C::Lanes::one() };
    let chunks = pairs.len().div_ceil(8);
    let Scratch {
        dens,
        prefix,
        specials,
    } = scratch;
    dens.clear();
    prefix.clear();
    specials.clear();
    // Which lanes of chunk c compute in vector form: real pairs that are not special.
    let mut active = Vec::with_capacity(chunks);

    // Pass 1: denominators x_q - x_p and their prefix products, lane by lane.
    let mut acc = one;
    for c in 0..chunks {
        let (src, _, live) = chunk_indices(pairs, c);
        let (x1, x2) = unsafe {
            (
                C::Lanes::load(points, &src, 0),
                C::Lanes::load(points, &src.map(|s| s + 1), 0),
            )
        };
        let mut special = unsafe { x1.equal(&x2) };
        for (l, &s) in src.iter().enumerate() {
            if live & (1 << l) != 0 && (identity[s] || identity[s + 1]) {
                special |= 1 << l;
            }
        }
        special &= live;
        for l in 0..8 {
            if special & (1 << l) != 0 {
                let s = src[l];
                specials.push(Special {
                    dst: pairs[c * 8 + l].1 as usize,
                    p: (!identity[s]).then_some(points[s]),
                    q: (!identity[s + 1]).then_some(points[s + 1]),
                });
            }
        }
        let compute = live & !special;
        active.push(compute);
        let den = unsafe { C::Lanes::blend(compute, &one, &x2.sub(&x1)) };
        prefix.push(acc);
        acc = unsafe { acc.mul(&den) };
        dens.push(den);
    }

    // One inversion for all lanes (scalar), then pass 2 turns prefixes into inverses.
    let mut lane_values = unsafe { acc.values() };
    ark_ff::batch_inversion(&mut lane_values);
    let mut inv = unsafe { C::Lanes::from_values(&lane_values) };
    for c in (0..chunks).rev() {
        let inv_c = unsafe { inv.mul(&prefix[c]) };
        inv = unsafe { inv.mul(&dens[c]) };
        prefix[c] = inv_c;
    }

    // Pass 3: the sums.
    for c in 0..chunks {
        let (src, dst, _) = chunk_indices(pairs, c);
        let second = src.map(|s| s + 1);
        unsafe {
            let (x1, y1) = (
                C::Lanes::load(points, &src, 0),
                C::Lanes::load(points, &src, y),
            );
            let (x2, y2) = (
                C::Lanes::load(points, &second, 0),
                C::Lanes::load(points, &second, y),
            );
            let lambda = y2.sub(&y1).mul(&prefix[c]);
            let x3 = lambda.square().sub(&x1).sub(&x2);
            let y3 = lambda.mul(&x1.sub(&x3)).sub(&y1);
            x3.store(points, &dst, 0, active[c]);
            y3.store(points, &dst, y, active[c]);
        }
        for l in 0..8 {
            if active[c] & (1 << l) != 0 {
                identity[dst[l]] = false;
            }
        }
    }

    // The special pairs: with the identity, a copy; equal or opposite points in arkworks'
    // arithmetic.
    for s in specials.iter() {
        let sum = match (&s.p, &s.q) {
            (None, None) => None,
            (Some(p), None) | (None, Some(p)) => Some(*p),
            (Some(p), Some(q)) => {
                let sum: Affine<C> = (Projective::<C>::from(point_from_limbs::<C>(p))
                    + point_from_limbs::<C>(q))
                .into();
                point_to_limbs(&sum)
            }
        };
        match sum {
            Some(limbs) => {
                points[s.dst] = limbs;
                identity[s.dst] = false;
            }
            None => identity[s.dst] = true,
        }
    }
}

/// Sources, destinations and the mask of real lanes of chunk `c`; lanes past the end
/// repeat the chunk's first pair.
fn chunk_indices(pairs: &[(u32, u32)], c: usize) -> ([usize; 8], [usize; 8], __mmask8) {
    let chunk = &pairs[c * 8..(c * 8 + 8).min(pairs.len())];
    let src = std::array::from_fn(|l| chunk.get(l).unwrap_or(&chunk[0]).0 as usize);
    let dst = std::array::from_fn(|l| chunk.get(l).unwrap_or(&chunk[0]).1 as usize);
    (src, dst, ((1u16 << chunk.len()) - 1) as __mmask8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;

    #[test]
    fn constants() {
        assert_eq!(
            P[0].wrapping_mul(PINV.wrapping_neg()) & MASK,
            1,
            "PINV is -p^-1 mod 2^52"
        );
        assert_eq!(join52(P), <Fq as PrimeField>::MODULUS.0);
    }

    #[test]
    fn field_ops_match_arkworks() {
        if !available() {
            eprintln!("SKIPPED: this CPU has no AVX-512 IFMA");
            return;
        }
        let seed = rand::random::<u64>();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for round in 0..200 {
            let mut a: [Fq; 8] = std::array::from_fn(|_| Fq::rand(&mut rng));
            let b: [Fq; 8] = std::array::from_fn(|_| Fq::rand(&mut rng));
            if round == 0 {
                a[0] = Fq::from(0u64);
                a[1] = -Fq::from(1u64);
                a[2] = b[2];
            }
            // SAFETY: `available()` said the CPU has the features.
            let (m, s) = unsafe { mul_and_sub(&a, &b) };
            for l in 0..8 {
                assert_eq!(m[l], a[l] * b[l], "mul, lane {l}");
                assert_eq!(s[l], a[l] - b[l], "sub, lane {l}");
            }
            // Squares in Fq and in Fq2 (a + bu).
            let (sq, sq2) = unsafe {
                (
                    F8::from_values(&a).square().values(),
                    F8x2::from_values(&std::array::from_fn(|l| Fq2::new(a[l], b[l])))
                        .square()
                        .values(),
                )
            };
            for l in 0..8 {
                assert_eq!(sq[l], a[l].square(), "square, lane {l}");
                assert_eq!(
                    sq2[l],
                    Fq2::new(a[l], b[l]).square(),
                    "Fq2 square, lane {l}"
                );
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul_and_sub(a: &[Fq; 8], b: &[Fq; 8]) -> ([Fq; 8], [Fq; 8]) {
        let va = from_lanes(&a.map(|x| to_limbs(&x)));
        let vb = from_lanes(&b.map(|x| to_limbs(&x)));
        let m = lanes(&mul(&va, &vb)).map(|l| from_limbs(&l));
        let s = lanes(&sub(&va, &vb)).map(|l| from_limbs(&l));
        (m, s)
    }
}
