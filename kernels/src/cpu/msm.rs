//! Pippenger MSM with signed windows and batch-affine bucket accumulation.
//!
//! For each window of `c` bits every scalar contributes a signed digit in
//! `[-2^(c-1), 2^(c-1)]`, so a window needs only `2^(c-1)` buckets. The points of a window
//! are counting-sorted by bucket, and each bucket is summed as a binary tree whose levels are
//! computed in affine coordinates: all additions of a level are independent, so a chunk of
//! them shares one field inversion (Montgomery's trick). An affine addition then costs about
//! 5 multiplications and a squaring, against 7M + 4S for the mixed Jacobian addition of the
//! textbook bucket method. Buckets are combined by running sums over segments of buckets
//! side by side (again batches of affine additions), windows by Horner's rule, and windows
//! run in parallel on rayon.
//!
//! On CPUs with AVX-512 IFMA ([`msm_ifma`]) the additions, bucket trees and running sums
//! alike, run eight at a time. The resident bases are packed one G1 point to a cache line
//! and backed by transparent huge pages where the kernel allows: the bucket sort reads
//! them in random order, so each read is a cache miss, and with 4 KiB pages a TLB miss too.
//!
//! Scalars above (r-1)/2 are replaced by `r - s` with the point negated, so every scalar
//! has at most 253 bits and small negative values (common in witnesses) stay small; the
//! number of windows follows the largest scalar actually present.

use ark_bn254::Fr;

#[cfg(target_arch = "x86_64")]
use super::ifma;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::AffineRepr;
use ark_ff::{AdditiveGroup, BigInteger, BigInteger256, Field, PrimeField, Zero};
use rayon::prelude::*;

/// Sign bit of an encoded digit; the low bits hold `|digit|` (0 means "no contribution").
const SIGN: u32 = 1 << 31;

/// Multiplications per bucket of the running sums in the window-size model
/// ([`window_bits`]): arkworks' affine additions on the scalar path, IFMA's on the other.
const BUCKET_COST: u64 = 27;
#[cfg(target_arch = "x86_64")]
const IFMA_BUCKET_COST: u64 = 20;

/// Below this many terms a plain sum of scalar multiplications is faster.
pub(crate) const NAIVE_THRESHOLD: usize = 16;

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

    let Some((c, digits)) = digits_of(scalars, BUCKET_COST) else {
        return Projective::zero();
    };
    combine_windows(&digits, n, c, |window_digits| {
        window_sum(bases, window_digits, c)
    })
}

/// Window size (for a bucket reduction of `bucket_cost`, see [`window_bits`]) and signed
/// digits (window-major) of `scalars`, or `None` if all are zero.
fn digits_of(scalars: &[Fr], bucket_cost: u64) -> Option<(usize, Vec<u32>)> {
    let signed = signed_scalars(scalars);
    let max_bits = signed
        .par_iter()
        .map(|(s, _)| s.num_bits())
        .max()
        .unwrap_or(0) as usize;
    if max_bits == 0 {
        return None;
    }
    let c = window_bits(scalars.len(), max_bits, bucket_cost);
    if std::env::var_os("SHOWC").is_some() {
        println!("c = {c}");
    }
    let windows = (max_bits + 1).div_ceil(c);
    Some((c, signed_digits(&signed, c, windows)))
}

/// Sums every window (in parallel) with `window_sum` and combines them by Horner's rule.
fn combine_windows<C: SWCurveConfig>(
    digits: &[u32],
    n: usize,
    c: usize,
    window_sum: impl Fn(&[u32]) -> Projective<C> + Sync + Send,
) -> Projective<C> {
    let sums: Vec<Projective<C>> = digits.par_chunks(n).map(window_sum).collect();

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
    let mut signed = Vec::with_capacity(scalars.len());
    advise_huge_pages(&signed);
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
        .collect_into_vec(&mut signed);
    signed
}

/// The window size minimising a simple cost model: per window, one affine addition
/// (≈ 6 multiplications) per point plus the running sums' `bucket_cost` multiplications
/// per bucket.
pub fn window_bits(n: usize, max_bits: usize, bucket_cost: u64) -> usize {
    (2..=20usize)
        .min_by_key(|&c| {
            let windows = (max_bits + 1).div_ceil(c) as u64;
            windows * (6 * n as u64 + bucket_cost * (1u64 << (c - 1)))
        })
        .expect("non-empty range")
}

/// `c` bits of `v` starting at bit `start`.
#[inline]
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
    // Zeroed by the allocator lazily: advised before the first write, it faults in 2 MiB
    // pages instead of 4 KiB ones.
    let mut digits = vec![0u32; n * windows];
    advise_huge_pages(&digits);
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
            let scalars = &signed[first..first + outs[0].len()];
            // Window by window, so that each inner loop writes one row in order and reads
            // its bits from a fixed place; the carries wait in between.
            let mut carry = vec![0u32; scalars.len()];
            for (w, out) in outs.iter_mut().enumerate() {
                window_digits(scalars, w * c, c, out, &mut carry);
            }
            debug_assert!(
                carry.iter().all(|&c| c == 0),
                "the top window absorbs the carry"
            );
        });
    digits
}

/// One window's encoded digits of `scalars`: their `c` bits from bit `start` plus the carry
/// out of the window below, which `carry` holds and receives the carry out of this one.
fn window_digits(
    scalars: &[(BigInteger256, bool)],
    start: usize,
    c: usize,
    out: &mut [u32],
    carry: &mut [u32],
) {
    let half = 1u64 << (c - 1);
    for ((out, (scalar, negate)), carry) in out.iter_mut().zip(scalars).zip(carry.iter_mut()) {
        let d = bits_at(scalar, start, c) + *carry as u64;
        *carry = (d > half) as u32;
        // The digit is d, or d - 2^c (negative) when it carries.
        let magnitude = if *carry != 0 { (1u64 << c) - d } else { d } as u32;
        let sign = if (*carry != 0) != *negate { SIGN } else { 0 };
        *out = if magnitude == 0 { 0 } else { magnitude | sign };
    }
}

/// `Σ_b (b+1)·bucket_b` for one window.
fn window_sum<C: SWCurveConfig>(bases: &[Affine<C>], digits: &[u32], c: usize) -> Projective<C> {
    let buckets = 1usize << (c - 1);
    let (start, sorted) = sort_by_bucket(digits, buckets);
    let mut sums = vec![Affine::<C>::identity(); buckets];
    let mut group = GroupSums::<C>::new();
    for_each_group(&start, GROUP_POINTS, |b0, b1| {
        group.sum(bases, &sorted, &start[b0..=b1], &mut sums[b0..b1])
    });
    drop(sorted);
    weighted_sum(&sums, &mut group.scratch)
}

/// The MSM on the AVX-512 IFMA path (G1 or G2): `packed` are `bases` packed
/// ([`ifma_bases`]); `bases` needs only the points that MSMs below [`NAIVE_THRESHOLD`]
/// read. Same algorithm as [`msm`], eight additions per instruction.
#[cfg(target_arch = "x86_64")]
pub fn msm_ifma<C: ifma::IfmaCurve<ScalarField = Fr>>(
    bases: &[Affine<C>],
    packed: &[C::Packed],
    scalars: &[Fr],
) -> Projective<C> {
    let n = scalars.len();
    if n < NAIVE_THRESHOLD || !ifma::available() {
        return msm(bases, scalars);
    }
    let Some((c, digits)) = digits_of(scalars, IFMA_BUCKET_COST) else {
        return Projective::zero();
    };
    let packed = &packed[..n];
    combine_windows(&digits, n, c, |window_digits| {
        let buckets = 1usize << (c - 1);
        let (start, sorted) = sort_by_bucket(window_digits, buckets);
        let mut sums = vec![C::IDENTITY; buckets];
        let mut empty = vec![true; buckets];
        let mut group = IfmaGroupSums::<C>::default();
        let group_points = IFMA_GROUP_BYTES / std::mem::size_of::<C::Point>();
        for_each_group(&start, group_points, |b0, b1| {
            group.sum(
                packed,
                &sorted,
                &start[b0..=b1],
                &mut sums[b0..b1],
                &mut empty[b0..b1],
            )
        });
        weighted_sum_ifma(&sums, &empty, &mut group.scratch)
    })
}

/// Bases packed for [`msm_ifma`].
#[cfg(target_arch = "x86_64")]
pub fn ifma_bases<C: ifma::IfmaCurve>(bases: &[Affine<C>]) -> Vec<C::Packed> {
    let mut packed = Vec::with_capacity(bases.len());
    advise_huge_pages(&packed);
    bases
        .par_iter()
        .map(ifma::pack)
        .collect_into_vec(&mut packed);
    packed
}

/// Asks the kernel to back `v`'s allocation (not yet touched) with transparent huge pages:
/// the MSM reads its bases in random order, and with 4 KiB pages nearly every read of a
/// large key also misses the TLB. Only a hint; where the kernel declines nothing changes.
fn advise_huge_pages<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + v.capacity() * std::mem::size_of::<T>();
        let (first, last) = (start.next_multiple_of(HUGE), end / HUGE * HUGE);
        if last > first {
            // SAFETY: the range lies within `v`'s allocation; madvise changes no contents.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// [`GroupSums`] on the IFMA path: points in [`ifma`]'s form with identity flags.
#[cfg(target_arch = "x86_64")]
struct IfmaGroupSums<C: ifma::IfmaCurve> {
    points: Vec<C::Point>,
    identity: Vec<bool>,
    pairs: Vec<(u32, u32)>,
    moves: Vec<(u32, u32)>,
    len: Vec<u32>,
    scratch: ifma::Scratch<C>,
}

#[cfg(target_arch = "x86_64")]
impl<C: ifma::IfmaCurve> Default for IfmaGroupSums<C> {
    fn default() -> Self {
        IfmaGroupSums {
            points: Vec::new(),
            identity: Vec::new(),
            pairs: Vec::new(),
            moves: Vec::new(),
            len: Vec::new(),
            scratch: ifma::Scratch::default(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl<C: ifma::IfmaCurve> IfmaGroupSums<C> {
    /// As [`GroupSums::sum`]. Bases that are the identity are left out as they are
    /// gathered (a circom key has many: every wire absent from a matrix), so they cost
    /// neither an addition nor the scalar path's special handling.
    fn sum(
        &mut self,
        bases: &[C::Packed],
        sorted: &[u32],
        start: &[u32],
        out: &mut [C::Point],
        out_identity: &mut [bool],
    ) {
        let (first, last) = (start[0] as usize, start[out.len()] as usize);
        let entries = &sorted[first..last];
        self.points.clear();
        self.points.resize(entries.len(), C::IDENTITY);
        self.identity.clear();
        self.identity.resize(entries.len(), true);
        self.len.clear();
        for b in 0..out.len() {
            let (from, to) = (
                (start[b] - start[0]) as usize,
                (start[b + 1] - start[0]) as usize,
            );
            let mut live = 0;
            for k in from..to {
                if let Some(&ahead) = entries.get(k + PREFETCH_DISTANCE) {
                    prefetch(&bases[(ahead & !SIGN) as usize]);
                }
                let e = entries[k];
                let Some(p) = ifma::unpack::<C>(&bases[(e & !SIGN) as usize], e & SIGN != 0) else {
                    continue;
                };
                self.points[from + live] = p;
                self.identity[from + live] = false;
                live += 1;
            }
            self.len.push(live as u32);
        }
        while plan_level(start, &mut self.len, &mut self.pairs, &mut self.moves) {
            ifma::batch_add(
                &mut self.points,
                &mut self.identity,
                &self.pairs,
                &mut self.scratch,
            );
            for &(src, dst) in &self.moves {
                self.points[dst as usize] = self.points[src as usize];
                self.identity[dst as usize] = self.identity[src as usize];
            }
        }
        for (b, (o, identity)) in out.iter_mut().zip(out_identity).enumerate() {
            let k = (start[b] - start[0]) as usize;
            if self.len[b] > 0 && !self.identity[k] {
                *o = self.points[k];
                *identity = false;
            }
        }
    }
}

/// Counting sort of a window's contributing points by bucket: bucket `b`'s entries
/// (`index | SIGN` if negated) are `sorted[start[b]..start[b + 1]]`.
fn sort_by_bucket(digits: &[u32], buckets: usize) -> (Vec<u32>, Vec<u32>) {
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
    (start, sorted)
}

/// Calls `f(b0, b1)` for consecutive ranges of buckets holding at most `group_points`
/// points together (or one bucket), so that a group's points stay in cache while its
/// buckets are reduced level by level.
fn for_each_group(start: &[u32], group_points: usize, mut f: impl FnMut(usize, usize)) {
    let buckets = start.len() - 1;
    let mut b0 = 0;
    while b0 < buckets {
        let mut b1 = b0 + 1;
        while b1 < buckets && (start[b1 + 1] - start[b0]) as usize <= group_points {
            b1 += 1;
        }
        f(b0, b1);
        b0 = b1;
    }
}

/// Plans one level of a group's bucket trees: for every bucket (delimited by `start`,
/// relative to `start[0]`) with two or more live partial sums, the pairs to add
/// (`(src, dst)`: `dst = src + src + 1`) and the move of an odd one out (done after the
/// additions, which write only below it). Returns whether there is anything to add.
fn plan_level(
    start: &[u32],
    len: &mut [u32],
    pairs: &mut Vec<(u32, u32)>,
    moves: &mut Vec<(u32, u32)>,
) -> bool {
    pairs.clear();
    moves.clear();
    for (b, len) in len.iter_mut().enumerate() {
        let l = *len;
        if l < 2 {
            continue;
        }
        let off = start[b] - start[0];
        pairs.extend((0..l / 2).map(|k| (off + 2 * k, off + k)));
        if l % 2 == 1 {
            moves.push((off + l - 1, off + l / 2));
        }
        *len = l.div_ceil(2);
    }
    !pairs.is_empty()
}

/// Running sums per segment of buckets in [`weighted_sum`]; each step of the reduction adds
/// this many independent affine pairs under one inversion.
const SEGMENTS: usize = 256;

/// `Σ_b (b+1)·sums[b]`.
///
/// The textbook running sum is sequential. Here the buckets are cut into [`SEGMENTS`]
/// segments of `L` that run their running sums side by side, so every step is a batch of
/// independent affine additions: segment `j` yields `T_j = Σ (b - jL + 1)·S_b` and
/// `R_j = Σ S_b`, and the result is `Σ_j T_j + L·Σ_j j·R_j`.
fn weighted_sum<C: SWCurveConfig>(
    sums: &[Affine<C>],
    scratch: &mut Vec<C::BaseField>,
) -> Projective<C> {
    let segments = SEGMENTS.min(sums.len());
    let l = sums.len().div_ceil(segments);
    let segments = sums.len().div_ceil(l);
    let mut running = vec![Affine::<C>::identity(); segments];
    let mut total = vec![Affine::<C>::identity(); segments];
    let mut terms = vec![Affine::<C>::identity(); segments];
    for step in (0..l).rev() {
        for (j, t) in terms.iter_mut().enumerate() {
            *t = sums
                .get(j * l + step)
                .copied()
                .unwrap_or_else(Affine::identity);
        }
        batch_accumulate(&mut running, &terms, scratch);
        batch_accumulate(&mut total, &running, scratch);
    }
    // Σ_j j·R_j by a running sum over the segments, then times L.
    let mut acc = Projective::<C>::zero();
    let mut weighted = Projective::<C>::zero();
    for r in running.iter().skip(1).rev() {
        acc += r;
        weighted += &acc;
    }
    let mut result = weighted * C::ScalarField::from(l as u64);
    for t in &total {
        result += t;
    }
    result
}

/// [`weighted_sum`] on the IFMA path: the bucket sums in [`ifma`]'s form, `identity`
/// flagging the empty ones. Each step's additions go through [`ifma::batch_add`], laid out
/// as pairs `(acc_j, term_j)`.
#[cfg(target_arch = "x86_64")]
fn weighted_sum_ifma<C: ifma::IfmaCurve>(
    sums: &[C::Point],
    identity: &[bool],
    scratch: &mut ifma::Scratch<C>,
) -> Projective<C> {
    let segments = SEGMENTS.min(sums.len());
    let l = sums.len().div_ceil(segments);
    let segments = sums.len().div_ceil(l);
    // running[2j] accumulates segment j's sums, total[2j] its running sums; the odd slots
    // hold the term added next.
    let mut running = vec![C::IDENTITY; 2 * segments];
    let mut running_identity = vec![true; 2 * segments];
    let mut total = running.clone();
    let mut total_identity = running_identity.clone();
    let pairs: Vec<(u32, u32)> = (0..segments as u32).map(|j| (2 * j, 2 * j)).collect();
    for step in (0..l).rev() {
        for j in 0..segments {
            let b = j * l + step;
            let live = b < sums.len() && !identity[b];
            if live {
                running[2 * j + 1] = sums[b];
            }
            running_identity[2 * j + 1] = !live;
        }
        ifma::batch_add(&mut running, &mut running_identity, &pairs, scratch);
        for j in 0..segments {
            total[2 * j + 1] = running[2 * j];
            total_identity[2 * j + 1] = running_identity[2 * j];
        }
        ifma::batch_add(&mut total, &mut total_identity, &pairs, scratch);
    }
    let affine = |points: &[C::Point], identity: &[bool], j: usize| {
        if identity[2 * j] {
            Affine::<C>::identity()
        } else {
            ifma::point_from_limbs::<C>(&points[2 * j])
        }
    };
    // Σ_j j·R_j by a running sum over the segments, then times L.
    let mut acc = Projective::<C>::zero();
    let mut weighted = Projective::<C>::zero();
    for j in (1..segments).rev() {
        acc += affine(&running, &running_identity, j);
        weighted += &acc;
    }
    let mut result = weighted * C::ScalarField::from(l as u64);
    for j in 0..segments {
        result += affine(&total, &total_identity, j);
    }
    result
}

/// Points of one group of buckets at most on the scalar path (the group's points and
/// scratch stay in L2).
const GROUP_POINTS: usize = 8192;

/// Bytes of one group's points at most on the IFMA path. Each level of a group shares one
/// inversion, which costs as much as a few hundred IFMA additions: measured at 2^20 terms,
/// groups larger than L2 (2.5 MiB, 32768 G1 points) beat L2-sized ones by 5–10%.
#[cfg(target_arch = "x86_64")]
const IFMA_GROUP_BYTES: usize = 32768 * 80;

/// Sums a group of buckets: each bucket's points are added as a binary tree whose levels
/// are computed in affine coordinates, all additions of a level (across the group's
/// buckets) sharing one field inversion.
struct GroupSums<C: SWCurveConfig> {
    /// The group's points, bucket after bucket; bucket `b`'s partial sums are kept at the
    /// front of its segment.
    points: Vec<Affine<C>>,
    /// A level's additions: `points[dst] = points[src] + points[src + 1]`, as `(src, dst)`.
    pairs: Vec<(u32, u32)>,
    /// A level's moves of an odd bucket's last point, as `(src, dst)`.
    moves: Vec<(u32, u32)>,
    /// Live partial sums per bucket.
    len: Vec<u32>,
    /// Batch-inversion scratch: prefix products, then each pair's inverse denominator.
    scratch: Vec<C::BaseField>,
}

impl<C: SWCurveConfig> GroupSums<C> {
    fn new() -> Self {
        GroupSums {
            points: Vec::new(),
            pairs: Vec::new(),
            moves: Vec::new(),
            len: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// `out[b] = Σ` of bucket `b`'s points, for the buckets whose entries in `sorted` are
    /// delimited by `start` (one more element than `out`).
    fn sum(&mut self, bases: &[Affine<C>], sorted: &[u32], start: &[u32], out: &mut [Affine<C>]) {
        let (first, last) = (start[0] as usize, start[out.len()] as usize);
        let entries = &sorted[first..last];
        self.points.clear();
        for (k, &e) in entries.iter().enumerate() {
            // The points are read in bucket order, i.e. at random: fetch ahead.
            if let Some(&ahead) = entries.get(k + PREFETCH_DISTANCE) {
                prefetch(&bases[(ahead & !SIGN) as usize]);
            }
            let p = bases[(e & !SIGN) as usize];
            self.points.push(if e & SIGN != 0 { -p } else { p });
        }
        self.len.clear();
        self.len
            .extend((0..out.len()).map(|b| start[b + 1] - start[b]));
        while plan_level(start, &mut self.len, &mut self.pairs, &mut self.moves) {
            batch_add(&mut self.points, &self.pairs, &mut self.scratch);
            for &(src, dst) in &self.moves {
                self.points[dst as usize] = self.points[src as usize];
            }
        }
        for (b, o) in out.iter_mut().enumerate() {
            if start[b + 1] > start[b] {
                *o = self.points[(start[b] - start[0]) as usize];
            }
        }
    }
}
/// How an affine pair is added.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PairKind {
    /// Distinct x: the chord; the denominator is `x_q - x_p`.
    Add,
    /// The same point: the tangent; the denominator is `2·y`.
    Double,
    /// One side is the identity, or `q = -p`: no inversion needed.
    Trivial,
}

/// The kind of `p + q` and the denominator it contributes to the shared inversion.
#[inline(always)]
fn classify<C: SWCurveConfig>(p: &Affine<C>, q: &Affine<C>) -> (PairKind, C::BaseField) {
    if p.is_zero() || q.is_zero() {
        (PairKind::Trivial, C::BaseField::ONE)
    } else if p.x != q.x {
        (PairKind::Add, q.x - p.x)
    } else if p.y == q.y && !p.y.is_zero() {
        (PairKind::Double, p.y.double())
    } else {
        (PairKind::Trivial, C::BaseField::ONE)
    }
}

/// `points[dst] = points[src] + points[src + 1]` for every pair, in affine coordinates
/// with one shared inversion (Montgomery's trick). Every `dst ≤ src`, and the pairs are in
/// increasing order, so computing them in order never overwrites an unread input.
fn batch_add<C: SWCurveConfig>(
    points: &mut [Affine<C>],
    pairs: &[(u32, u32)],
    scratch: &mut Vec<C::BaseField>,
) {
    scratch.clear();
    let mut acc = C::BaseField::ONE;
    for &(src, _) in pairs {
        let src = src as usize;
        let (_, den) = classify(&points[src], &points[src + 1]);
        scratch.push(acc);
        acc *= den;
    }
    let mut inv = acc.inverse().expect("every denominator is non-zero");
    for (j, &(src, _)) in pairs.iter().enumerate().rev() {
        let src = src as usize;
        let (_, den) = classify(&points[src], &points[src + 1]);
        scratch[j] *= inv;
        inv *= den;
    }
    for (&(src, dst), inv) in pairs.iter().zip(scratch.iter()) {
        points[dst as usize] =
            add_with_inverse(&points[src as usize], &points[src as usize + 1], inv);
    }
}

/// `acc[j] += terms[j]` for every `j`, in affine coordinates with one shared inversion.
fn batch_accumulate<C: SWCurveConfig>(
    acc: &mut [Affine<C>],
    terms: &[Affine<C>],
    scratch: &mut Vec<C::BaseField>,
) {
    scratch.clear();
    let mut prod = C::BaseField::ONE;
    for (p, q) in acc.iter().zip(terms) {
        scratch.push(prod);
        prod *= classify(p, q).1;
    }
    let mut inv = prod.inverse().expect("every denominator is non-zero");
    for (j, (p, q)) in acc.iter().zip(terms).enumerate().rev() {
        scratch[j] *= inv;
        inv *= classify(p, q).1;
    }
    for ((p, q), inv) in acc.iter_mut().zip(terms).zip(scratch.iter()) {
        *p = add_with_inverse(p, q, inv);
    }
}

/// `p + q`, given the inverse of the denominator [`classify`] gave for them.
#[inline(always)]
fn add_with_inverse<C: SWCurveConfig>(
    p: &Affine<C>,
    q: &Affine<C>,
    inv: &C::BaseField,
) -> Affine<C> {
    match classify(p, q).0 {
        PairKind::Add => {
            let lambda = (q.y - p.y) * inv;
            let x3 = lambda.square() - p.x - q.x;
            let y3 = lambda * (p.x - x3) - p.y;
            Affine::new_unchecked(x3, y3)
        }
        PairKind::Double => {
            let xx = p.x.square();
            let lambda = (xx.double() + xx + C::COEFF_A) * inv;
            let x3 = lambda.square() - p.x.double();
            let y3 = lambda * (p.x - x3) - p.y;
            Affine::new_unchecked(x3, y3)
        }
        PairKind::Trivial if p.is_zero() => *q,
        PairKind::Trivial if q.is_zero() => *p,
        PairKind::Trivial => Affine::identity(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, VariableBaseMSM};
    use ark_ff::UniformRand;
    use rand::{Rng, SeedableRng};

    /// Both paths (scalar, and IFMA where the CPU has it) against arkworks, in one process:
    /// repeated points, opposite points and identities among the bases, small and negative
    /// scalars among random ones.
    #[cfg(target_arch = "x86_64")]
    fn paths_agree_with_arkworks<C: ifma::IfmaCurve<ScalarField = Fr>>(curve: &str) {
        let seed = rand::random::<u64>();
        println!("{curve}: seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        for n in [17, 100, 1000, 5000] {
            let mut bases: Vec<Affine<C>> = (0..n)
                .map(|_| Projective::<C>::rand(&mut rng).into_affine())
                .collect();
            for k in 0..n / 10 {
                let i = rng.gen_range(0..n);
                bases[i] = match k % 3 {
                    0 => Affine::identity(),
                    1 => bases[rng.gen_range(0..n)],
                    _ => -bases[rng.gen_range(0..n)],
                };
            }
            let scalars: Vec<Fr> = (0..n)
                .map(|i| match i % 4 {
                    0 => Fr::from(rng.gen_range(0..4u64)),
                    1 => -Fr::from(rng.gen_range(1..4u64)),
                    _ => Fr::rand(&mut rng),
                })
                .collect();
            let expected = Projective::<C>::msm(&bases, &scalars).expect("equal lengths");
            assert_eq!(
                msm(&bases, &scalars),
                expected,
                "{curve} scalar path, n = {n}"
            );
            if ifma::available() {
                let packed = ifma_bases(&bases);
                assert_eq!(
                    msm_ifma(&bases, &packed, &scalars),
                    expected,
                    "{curve} IFMA path, n = {n}"
                );
            } else {
                eprintln!("this CPU has no AVX-512 IFMA: only the scalar path was checked");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn g1_scalar_and_ifma_paths_agree_with_arkworks() {
        paths_agree_with_arkworks::<ark_bn254::g1::Config>("G1");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn g2_scalar_and_ifma_paths_agree_with_arkworks() {
        paths_agree_with_arkworks::<ark_bn254::g2::Config>("G2");
    }
}
