//! Pippenger MSM with signed windows and batch-affine bucket accumulation.
//!
//! For each window of `c` bits every scalar contributes a signed digit in
//! `[-2^(c-1), 2^(c-1)]`, so a window needs only `2^(c-1)` buckets. The points of a window
//! are counting-sorted by bucket, and each bucket is summed as a binary tree whose levels are
//! computed in affine coordinates: all additions of a level are independent, so a chunk of
//! them shares one field inversion (Montgomery's trick). An affine addition then costs about
//! 5 multiplications and a squaring, against 7M + 4S for the mixed Jacobian addition of the
//! textbook bucket method. Buckets are combined with the usual running sum, windows with
//! Horner's rule, and windows run in parallel on rayon.
//!
//! Scalars above (r-1)/2 are replaced by `r - s` with the point negated, so every scalar
//! has at most 253 bits and small negative values (common in witnesses) stay small; the
//! number of windows follows the largest scalar actually present.

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::AffineRepr;
use ark_ff::{AdditiveGroup, BigInteger, BigInteger256, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Sign bit of an encoded digit; the low bits hold `|digit|` (0 means "no contribution").
const SIGN: u32 = 1 << 31;

/// Below this many terms a plain sum of scalar multiplications is faster.
const NAIVE_THRESHOLD: usize = 16;

/// Additions that share one inversion.
const BATCH: usize = 2048;

/// How many sorted entries ahead level 0 prefetches bases.
const PREFETCH_DISTANCE: usize = 24;

/// Scalars processed per parallel task while computing digits.
const DIGIT_CHUNK: usize = 1 << 14;

/// `Σ scalars[i]·bases[i]`; `bases` may be longer than `scalars`.
pub fn msm<C: SWCurveConfig<ScalarField = Fr>>(
    bases: &[Affine<C>],
    scalars: &[Fr],
) -> Projective<C> {
    let n = scalars.len();
    let bases = &bases[..n];
    if n < NAIVE_THRESHOLD {
        return bases
            .iter()
            .zip(scalars)
            .map(|(p, s)| p.mul_bigint(s.into_bigint()))
            .fold(Projective::zero(), |acc, x| acc + x);
    }

    let signed = signed_scalars(scalars);
    let max_bits = signed
        .par_iter()
        .map(|(s, _)| s.num_bits())
        .max()
        .unwrap_or(0) as usize;
    if max_bits == 0 {
        return Projective::zero();
    }
    let c = window_bits(n, max_bits);
    let windows = (max_bits + 1).div_ceil(c);
    let digits = signed_digits(&signed, c, windows);
    drop(signed);

    let sums: Vec<Projective<C>> = digits
        .par_chunks(n)
        .map(|window_digits| window_sum(bases, window_digits, c))
        .collect();

    let mut acc = Projective::<C>::zero();
    for sum in sums.iter().rev() {
        for _ in 0..c {
            acc.double_in_place();
        }
        acc += sum;
    }
    acc
}

/// Each scalar as `(magnitude, negate)` with magnitude ≤ (r-1)/2.
fn signed_scalars(scalars: &[Fr]) -> Vec<(BigInteger256, bool)> {
    let half = Fr::MODULUS_MINUS_ONE_DIV_TWO;
    scalars
        .par_iter()
        .map(|s| {
            let v = s.into_bigint();
            if v > half {
                let mut m = Fr::MODULUS;
                m.sub_with_borrow(&v);
                (m, true)
            } else {
                (v, false)
            }
        })
        .collect()
}

/// The window size minimising a simple cost model: per window, one affine addition
/// (≈ 6 multiplications) per point plus a running sum (≈ 27 multiplications) per bucket.
pub fn window_bits(n: usize, max_bits: usize) -> usize {
    (2..=20usize)
        .min_by_key(|&c| {
            let windows = (max_bits + 1).div_ceil(c) as u64;
            windows * (6 * n as u64 + 27 * (1u64 << (c - 1)))
        })
        .expect("non-empty range")
}

/// `c` bits of `v` starting at bit `start`.
fn bits_at(v: &BigInteger256, start: usize, c: usize) -> u64 {
    let limb = start / 64;
    if limb >= 4 {
        return 0;
    }
    let offset = start % 64;
    let mut x = v.0[limb] >> offset;
    if offset + c > 64 && limb + 1 < 4 {
        x |= v.0[limb + 1] << (64 - offset);
    }
    x & ((1u64 << c) - 1)
}

/// Encoded signed digits, window-major: `digits[w * n + i]` is scalar `i`'s digit in window `w`.
fn signed_digits(signed: &[(BigInteger256, bool)], c: usize, windows: usize) -> Vec<u32> {
    let n = signed.len();
    let mut digits = vec![0u32; n * windows];
    let half = 1i64 << (c - 1);
    let full = 1i64 << c;
    let chunks = n.div_ceil(DIGIT_CHUNK);
    let mut rows: Vec<_> = digits
        .chunks_mut(n)
        .map(|row| row.chunks_mut(DIGIT_CHUNK))
        .collect();
    let tasks: Vec<Vec<&mut [u32]>> = (0..chunks)
        .map(|_| {
            rows.iter_mut()
                .map(|r| r.next().expect("chunk per row"))
                .collect()
        })
        .collect();
    tasks
        .into_par_iter()
        .enumerate()
        .for_each(|(chunk, mut outs)| {
            let first = chunk * DIGIT_CHUNK;
            let len = outs[0].len();
            for (k, (scalar, negate)) in signed[first..first + len].iter().enumerate() {
                let mut carry = 0i64;
                for (w, out) in outs.iter_mut().enumerate() {
                    let mut d = bits_at(scalar, w * c, c) as i64 + carry;
                    carry = 0;
                    if d > half {
                        d -= full;
                        carry = 1;
                    }
                    out[k] = match d {
                        0 => 0,
                        d if (d < 0) != *negate => d.unsigned_abs() as u32 | SIGN,
                        d => d.unsigned_abs() as u32,
                    };
                }
                debug_assert_eq!(carry, 0, "the top window absorbs the carry");
            }
        });
    digits
}

/// `Σ_b (b+1)·bucket_b` for one window.
fn window_sum<C: SWCurveConfig>(bases: &[Affine<C>], digits: &[u32], c: usize) -> Projective<C> {
    let buckets = 1usize << (c - 1);

    // Counting sort of the contributing points by bucket.
    let mut start = vec![0u32; buckets + 1];
    for &d in digits {
        if d != 0 {
            start[(d & !SIGN) as usize] += 1;
        }
    }
    for b in 0..buckets {
        start[b + 1] += start[b];
    }
    let mut next = start.clone();
    let mut sorted = vec![0u32; start[buckets] as usize];
    for (i, &d) in digits.iter().enumerate() {
        if d != 0 {
            let b = (d & !SIGN) as usize - 1;
            sorted[next[b] as usize] = i as u32 | (d & SIGN);
            next[b] += 1;
        }
    }
    drop(next);

    // Level 0 adds pairs of input points; bucket b keeps its partial sums in
    // `buf[half[b] .. half[b] + len[b]]`.
    let mut half = Vec::with_capacity(buckets + 1);
    let mut len = Vec::with_capacity(buckets);
    half.push(0u32);
    for b in 0..buckets {
        let l = (start[b + 1] - start[b]).div_ceil(2);
        len.push(l);
        half.push(half[b] + l);
    }
    let mut buf = vec![Affine::<C>::identity(); half[buckets] as usize];
    let point = |e: u32| {
        let p = bases[(e & !SIGN) as usize];
        if e & SIGN != 0 {
            -p
        } else {
            p
        }
    };
    let mut batch = PairBatch::<C>::new();
    for b in 0..buckets {
        let (s, e) = (start[b] as usize, start[b + 1] as usize);
        let dst = half[b] as usize;
        let mut j = s;
        while j + 1 < e {
            // The points are read in bucket order, i.e. at random: fetch ahead.
            if let Some(&ahead) = sorted.get(j + PREFETCH_DISTANCE) {
                prefetch(&bases[(ahead & !SIGN) as usize]);
            }
            if let Some(&ahead) = sorted.get(j + PREFETCH_DISTANCE + 1) {
                prefetch(&bases[(ahead & !SIGN) as usize]);
            }
            batch.push(
                point(sorted[j]),
                point(sorted[j + 1]),
                dst + (j - s) / 2,
                &mut buf,
            );
            j += 2;
        }
        if j < e {
            buf[dst + (e - s) / 2] = point(sorted[j]);
        }
    }
    batch.flush(&mut buf);
    drop(sorted);

    // Further levels halve every bucket with two or more partial sums.
    loop {
        let mut more = false;
        for b in 0..buckets {
            let l = len[b] as usize;
            if l < 2 {
                continue;
            }
            let s = half[b] as usize;
            for k in 0..l / 2 {
                let (p, q) = (buf[s + 2 * k], buf[s + 2 * k + 1]);
                batch.push(p, q, s + k, &mut buf);
            }
            if l % 2 == 1 {
                buf[s + l / 2] = buf[s + l - 1];
            }
            len[b] = l.div_ceil(2) as u32;
            more |= len[b] > 1;
        }
        batch.flush(&mut buf);
        if !more {
            break;
        }
    }

    // Running sum: Σ_b (b+1)·B_b.
    let mut running = Projective::<C>::zero();
    let mut total = Projective::<C>::zero();
    for b in (0..buckets).rev() {
        if len[b] > 0 {
            running += &buf[half[b] as usize];
        }
        total += &running;
    }
    total
}

/// What one queued pair needs.
#[derive(Clone, Copy)]
enum PairKind {
    Add,
    Double,
    TakeFirst,
    TakeSecond,
    Infinity,
}

/// Queued independent affine additions that share one inversion.
struct PairBatch<C: SWCurveConfig> {
    first: Vec<Affine<C>>,
    second: Vec<Affine<C>>,
    dst: Vec<usize>,
    kind: Vec<PairKind>,
    den: Vec<C::BaseField>,
    prefix: Vec<C::BaseField>,
}

impl<C: SWCurveConfig> PairBatch<C> {
    fn new() -> Self {
        PairBatch {
            first: Vec::with_capacity(BATCH),
            second: Vec::with_capacity(BATCH),
            dst: Vec::with_capacity(BATCH),
            kind: Vec::with_capacity(BATCH),
            den: Vec::with_capacity(BATCH),
            prefix: Vec::with_capacity(BATCH),
        }
    }

    /// Queues `out[dst] = p + q`; flushes into `out` when the batch is full.
    #[inline]
    fn push(&mut self, p: Affine<C>, q: Affine<C>, dst: usize, out: &mut [Affine<C>]) {
        self.first.push(p);
        self.second.push(q);
        self.dst.push(dst);
        if self.first.len() == BATCH {
            self.flush(out);
        }
    }

    /// Computes every queued sum and writes it to its destination.
    fn flush(&mut self, out: &mut [Affine<C>]) {
        let n = self.first.len();
        if n == 0 {
            return;
        }
        self.kind.clear();
        self.den.clear();
        self.prefix.clear();
        let mut acc = C::BaseField::ONE;
        for (p, q) in self.first.iter().zip(&self.second) {
            let (kind, den) = if p.is_zero() {
                (PairKind::TakeSecond, C::BaseField::ONE)
            } else if q.is_zero() {
                (PairKind::TakeFirst, C::BaseField::ONE)
            } else if p.x != q.x {
                (PairKind::Add, q.x - p.x)
            } else if p.y == q.y && !p.y.is_zero() {
                (PairKind::Double, p.y.double())
            } else {
                (PairKind::Infinity, C::BaseField::ONE)
            };
            self.kind.push(kind);
            self.prefix.push(acc);
            acc *= den;
            self.den.push(den);
        }
        let mut inv = acc.inverse().expect("every denominator is non-zero");
        for j in (0..n).rev() {
            let inv_j = inv * self.prefix[j];
            inv *= self.den[j];
            let (p, q) = (&self.first[j], &self.second[j]);
            out[self.dst[j]] = match self.kind[j] {
                PairKind::Add => {
                    let lambda = (q.y - p.y) * inv_j;
                    let x3 = lambda.square() - p.x - q.x;
                    let y3 = lambda * (p.x - x3) - p.y;
                    Affine::new_unchecked(x3, y3)
                }
                PairKind::Double => {
                    let xx = p.x.square();
                    let lambda = (xx.double() + xx + C::COEFF_A) * inv_j;
                    let x3 = lambda.square() - p.x.double();
                    let y3 = lambda * (p.x - x3) - p.y;
                    Affine::new_unchecked(x3, y3)
                }
                PairKind::TakeFirst => *p,
                PairKind::TakeSecond => *q,
                PairKind::Infinity => Affine::identity(),
            };
        }
        self.first.clear();
        self.second.clear();
        self.dst.clear();
    }
}

/// Asks the CPU to bring `value` (all of its cache lines) into cache.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = value as *const T as *const i8;
        let mut offset = 0;
        while offset < std::mem::size_of::<T>() {
            // SAFETY: prefetching is a hint and never faults; the address lies within `value`.
            #[allow(unused_unsafe)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p.add(offset))
            };
            offset += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
