//! The NTT's butterflies with AVX-512 IFMA: eight Fr products per instruction sequence.
//!
//! The values stay where they are, in arkworks' Montgomery form (`x·2^256 mod r`, four
//! 64-bit limbs). Eight consecutive elements are loaded as five vectors of 52-bit limbs
//! (a transpose and a re-split, no multiplication), and stored back the same way. The
//! twiddles are kept in the lane form of [`super::ifma`] (`w·2^260`, R = 2^260), so that a
//! lane product `x·2^256 · w·2^260 · 2^-260` is again `x·w` in arkworks' form: the data is
//! never converted. Sums and differences do not depend on the form.
//!
//! The stages of half-size 1, 2 and 4 mix elements within one vector: they run on the
//! scalar path, once per group of eight, before a block is loaded. Every later stage runs
//! eight butterflies at a time: the first ones block by block in a buffer that stays in L2,
//! the rest two at a time (radix 4) over the whole vector, as in [`super::ntt`].

use std::arch::x86_64::*;

use ark_bn254::Fr;
use ark_ff::{Field, PrimeField};
use rayon::prelude::*;

use super::ifma::{add_in, from_lanes, mul_in, splat, split52, sub_in, FrModulus, F8, MASK};

/// log2 of the block that the first vector stages work on (2^12 × 40 B = 160 KiB).
const BLOCK_LOG: u32 = 12;
/// Vector chunks (of eight elements) per parallel task in the large stages.
const PAR_CHUNKS: usize = 1 << 7;

/// Eight elements' twiddles in lane form.
type Tw8 = F8;

/// A domain's stage twiddles in lane form: chunk `c` holds elements `8c..8c + 8` of the
/// scalar stage table (`tw[h + j] = ω_{2h}^j`), so stage `h ≥ 8` reads chunks
/// `h/8..h/4`. The first chunk (stages 1, 2, 4) is kept as scalars.
pub struct IfmaTwiddles {
    small: [Fr; 8],
    chunks: Vec<Tw8>,
}

// SAFETY: the chunks are plain integers in vector registers' layout; nothing is shared
// mutably.
unsafe impl Send for IfmaTwiddles {}
unsafe impl Sync for IfmaTwiddles {}

impl IfmaTwiddles {
    /// The lane form of the scalar stage table `tw` (length a power of two ≥ 16).
    pub fn new(tw: &[Fr]) -> Self {
        debug_assert!(tw.len() >= 16 && tw.len().is_power_of_two());
        let to_lanes = Fr::from(2u64).pow([260u64]);
        let chunks = tw
            .par_chunks_exact(8)
            .map(|eight| {
                let limbs: [[u64; 5]; 8] =
                    std::array::from_fn(|l| split52((eight[l] * to_lanes).into_bigint().0));
                // SAFETY: only called when IFMA is available (see `available`).
                unsafe { from_lanes(&limbs) }
            })
            .collect();
        IfmaTwiddles {
            small: tw[..8].try_into().expect("eight"),
            chunks,
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.chunks.len() * std::mem::size_of::<Tw8>() + std::mem::size_of::<[Fr; 8]>()
    }
}

/// Index vectors of the 8×4 transpose.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn transpose_indices() -> [__m512i; 4] {
    [
        _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13),
        _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15),
        _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11),
        _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15),
    ]
}

/// Loads eight consecutive elements as 52-bit limb vectors (their form unchanged).
///
/// # Safety
/// `p` points at eight readable elements; IFMA is available.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn load8(p: *const Fr) -> F8 {
    let p = p as *const u64;
    let [i0, i1, j0, j1] = transpose_indices();
    // SAFETY: 256 readable bytes at p (the caller's promise).
    let (v0, v1, v2, v3) = unsafe {
        (
            _mm512_loadu_si512(p as *const _),
            _mm512_loadu_si512(p.add(8) as *const _),
            _mm512_loadu_si512(p.add(16) as *const _),
            _mm512_loadu_si512(p.add(24) as *const _),
        )
    };
    // Elements 0-3 and 4-7: limbs 0, 1 and limbs 2, 3.
    let a = _mm512_permutex2var_epi64(v0, i0, v1);
    let b = _mm512_permutex2var_epi64(v0, i1, v1);
    let c = _mm512_permutex2var_epi64(v2, i0, v3);
    let d = _mm512_permutex2var_epi64(v2, i1, v3);
    let l0 = _mm512_permutex2var_epi64(a, j0, c);
    let l1 = _mm512_permutex2var_epi64(a, j1, c);
    let l2 = _mm512_permutex2var_epi64(b, j0, d);
    let l3 = _mm512_permutex2var_epi64(b, j1, d);
    let mask = splat(MASK);
    let or = |x: __m512i, y: __m512i| _mm512_or_si512(x, y);
    F8([
        _mm512_and_si512(l0, mask),
        _mm512_and_si512(
            or(_mm512_srli_epi64::<52>(l0), _mm512_slli_epi64::<12>(l1)),
            mask,
        ),
        _mm512_and_si512(
            or(_mm512_srli_epi64::<40>(l1), _mm512_slli_epi64::<24>(l2)),
            mask,
        ),
        _mm512_and_si512(
            or(_mm512_srli_epi64::<28>(l2), _mm512_slli_epi64::<36>(l3)),
            mask,
        ),
        _mm512_srli_epi64::<16>(l3),
    ])
}

/// Stores eight elements loaded by [`load8`].
///
/// # Safety
/// `p` points at eight writable elements; IFMA is available.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
unsafe fn store8(p: *mut Fr, v: &F8) {
    let x = &v.0;
    let or = |x: __m512i, y: __m512i| _mm512_or_si512(x, y);
    let l0 = or(x[0], _mm512_slli_epi64::<52>(x[1]));
    let l1 = or(_mm512_srli_epi64::<12>(x[1]), _mm512_slli_epi64::<40>(x[2]));
    let l2 = or(_mm512_srli_epi64::<24>(x[2]), _mm512_slli_epi64::<28>(x[3]));
    let l3 = or(_mm512_srli_epi64::<36>(x[3]), _mm512_slli_epi64::<16>(x[4]));
    let [i0, i1, j0, j1] = transpose_indices();
    let a = _mm512_permutex2var_epi64(l0, j0, l1);
    let c = _mm512_permutex2var_epi64(l0, j1, l1);
    let b = _mm512_permutex2var_epi64(l2, j0, l3);
    let d = _mm512_permutex2var_epi64(l2, j1, l3);
    let p = p as *mut u64;
    // SAFETY: 256 writable bytes at p (the caller's promise).
    unsafe {
        _mm512_storeu_si512(p as *mut _, _mm512_permutex2var_epi64(a, i0, b));
        _mm512_storeu_si512(p.add(8) as *mut _, _mm512_permutex2var_epi64(a, i1, b));
        _mm512_storeu_si512(p.add(16) as *mut _, _mm512_permutex2var_epi64(c, i0, d));
        _mm512_storeu_si512(p.add(24) as *mut _, _mm512_permutex2var_epi64(c, i1, d));
    }
}

/// `(a + b·w, a − b·w)`.
#[inline]
#[target_feature(enable = "avx512f,avx512ifma")]
fn butterfly(a: &F8, b: &F8, w: &Tw8) -> (F8, F8) {
    let t = mul_in::<FrModulus>(b, w);
    (add_in::<FrModulus>(a, &t), sub_in::<FrModulus>(a, &t))
}

/// The stages of half-size 1, 2 and 4 on one group of eight (scalar).
fn first_three(group: &mut [Fr], w: &[Fr; 8]) {
    for s in 0..3 {
        let h = 1 << s;
        for pair in group.chunks_exact_mut(2 * h) {
            let (lo, hi) = pair.split_at_mut(h);
            for j in 0..h {
                let t = hi[j] * w[h + j];
                hi[j] = lo[j] - t;
                lo[j] += t;
            }
        }
    }
}

/// A raw pointer that rayon tasks may share; every use touches disjoint elements.
#[derive(Clone, Copy)]
struct SharedPtr(*mut Fr);
// SAFETY: the pointer is only dereferenced at indices that no other task touches.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}
impl SharedPtr {
    fn at(self, i: usize) -> *mut Fr {
        // SAFETY: callers stay inside the slice the pointer came from.
        unsafe { self.0.add(i) }
    }
}

/// Every stage of a decimation-in-time transform of `values` (already bit-reversed, at
/// least 16 elements), with the stage twiddles `tw`.
pub fn stages(values: &mut [Fr], tw: &IfmaTwiddles, log_size: u32) {
    debug_assert!(super::ifma::available() && log_size >= 4);
    let block_log = log_size.min(BLOCK_LOG);
    values.par_chunks_mut(1 << block_log).for_each(|block| {
        for group in block.chunks_exact_mut(8) {
            first_three(group, &tw.small);
        }
        // SAFETY: IFMA is available (checked by the caller).
        unsafe { block_stages(block, tw, block_log) };
    });
    let mut s = block_log;
    while s < log_size {
        let h = 1usize << s;
        // SAFETY: as above.
        if s + 1 < log_size {
            unsafe { radix4_pass(values, h, tw) };
            s += 2;
        } else {
            unsafe { radix2_pass(values, h, tw) };
            s += 1;
        }
    }
}

/// The stages of half-size 8 up to the block's half, on the block loaded as vectors.
#[target_feature(enable = "avx512f,avx512ifma")]
fn block_stages(block: &mut [Fr], tw: &IfmaTwiddles, block_log: u32) {
    let chunks = block.len() / 8;
    let mut v: Vec<F8> = (0..chunks)
        // SAFETY: chunk c's eight elements are in the block.
        .map(|c| unsafe { load8(block.as_ptr().add(8 * c)) })
        .collect();
    for s in 3..block_log {
        let hc = 1usize << (s - 3);
        let w = &tw.chunks[hc..2 * hc];
        for group in v.chunks_exact_mut(2 * hc) {
            let (lo, hi) = group.split_at_mut(hc);
            for ((a, b), w) in lo.iter_mut().zip(hi.iter_mut()).zip(w) {
                (*a, *b) = butterfly(a, b, w);
            }
        }
    }
    for (c, x) in v.iter().enumerate() {
        // SAFETY: as for the loads.
        unsafe { store8(block.as_mut_ptr().add(8 * c), x) };
    }
}

/// One radix-2 stage of half-size `h` (≥ 8) over the whole vector.
#[target_feature(enable = "avx512f,avx512ifma")]
fn radix2_pass(values: &mut [Fr], h: usize, tw: &IfmaTwiddles) {
    let hc = h / 8;
    let w = &tw.chunks[hc..2 * hc];
    let n = values.len();
    let ptr = SharedPtr(values.as_mut_ptr());
    (0..n / 2 / 8)
        .into_par_iter()
        .with_min_len(PAR_CHUNKS)
        .for_each(|k| {
            // Butterfly chunk k: group k / hc, chunk j = k % hc within it.
            let (g, j) = (k / hc, k % hc);
            let lo = g * 2 * h + 8 * j;
            // SAFETY: chunks lo and lo + h belong to butterfly chunk k only; IFMA is
            // available (the caller's promise).
            unsafe {
                let (a, b) = (load8(ptr.at(lo)), load8(ptr.at(lo + h)));
                let (a, b) = butterfly(&a, &b, &w[j]);
                store8(ptr.at(lo), &a);
                store8(ptr.at(lo + h), &b);
            }
        });
}

/// Stages of half-size `h` and `2h` fused (`h` ≥ 8): each group of `4h` elements is read
/// once.
#[target_feature(enable = "avx512f,avx512ifma")]
fn radix4_pass(values: &mut [Fr], h: usize, tw: &IfmaTwiddles) {
    let hc = h / 8;
    let w1 = &tw.chunks[hc..2 * hc];
    let (w2a, w2b) = tw.chunks[2 * hc..4 * hc].split_at(hc);
    let n = values.len();
    let ptr = SharedPtr(values.as_mut_ptr());
    (0..n / 4 / 8)
        .into_par_iter()
        .with_min_len(PAR_CHUNKS)
        .for_each(|k| {
            let (g, j) = (k / hc, k % hc);
            let q0 = g * 4 * h + 8 * j;
            // SAFETY: the four chunks belong to butterfly chunk k only; IFMA is available.
            unsafe {
                let a = load8(ptr.at(q0));
                let b = load8(ptr.at(q0 + h));
                let c = load8(ptr.at(q0 + 2 * h));
                let d = load8(ptr.at(q0 + 3 * h));
                let (a, b) = butterfly(&a, &b, &w1[j]);
                let (c, d) = butterfly(&c, &d, &w1[j]);
                let (a, c) = butterfly(&a, &c, &w2a[j]);
                let (b, d) = butterfly(&b, &d, &w2b[j]);
                store8(ptr.at(q0), &a);
                store8(ptr.at(q0 + h), &b);
                store8(ptr.at(q0 + 2 * h), &c);
                store8(ptr.at(q0 + 3 * h), &d);
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::UniformRand;
    use rand::SeedableRng;

    /// Loading and storing eight elements gives them back unchanged.
    #[test]
    fn load_and_store_round_trip() {
        if !super::super::ifma::available() {
            eprintln!("no AVX-512 IFMA here: nothing to test");
            return;
        }
        let seed = rand::random::<u64>();
        eprintln!("seed {seed}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let x: Vec<Fr> = (0..8).map(|_| Fr::rand(&mut rng)).collect();
        let mut y = vec![Fr::from(0u64); 8];
        // SAFETY: eight elements each; IFMA checked above.
        unsafe { store8(y.as_mut_ptr(), &load8(x.as_ptr())) };
        assert_eq!(x, y);
    }
}
