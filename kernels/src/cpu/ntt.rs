//! Cache-blocked radix-2/4 NTT over BN254 Fr.
//!
//! Decimation in time after a bit-reversal permutation. The first stages run block by
//! block on `2^BLOCK_LOG` elements that fit in L2; the remaining stages are fused two at a
//! time (radix 4), so a transform of 2^20 elements makes five passes over memory instead of
//! twenty. Twiddles are precomputed per domain, contiguous per stage (`tw[h..2h]` holds
//! `ω_{2h}^j`), and kept in the domain handle across calls.
//!
//! On a CPU with AVX-512 IFMA the butterflies run eight at a time ([`super::ntt_ifma`]),
//! with the same stage structure; `FORNAX_NO_IFMA` keeps the scalar path.

use ark_bn254::Fr;
use ark_ff::{FftField, Field};
use rayon::prelude::*;

/// log2 of the block that the first stages work on (2^12 × 32 B = 128 KiB).
const BLOCK_LOG: u32 = 12;
/// Butterflies per parallel task in the large stages.
const PAR_CHUNK: usize = 1 << 10;
/// Elements per parallel task in element-wise passes.
const ELEM_CHUNK: usize = 1 << 12;

/// A domain's stage twiddles, in the form its butterflies use.
enum Twiddles {
    /// Arkworks elements, for the scalar butterflies.
    Scalar(Vec<Fr>),
    /// Lane form, for the IFMA butterflies.
    #[cfg(target_arch = "x86_64")]
    Ifma(Box<super::ntt_ifma::IfmaTwiddles>),
}

impl Twiddles {
    /// The stage table of `omega` for `n` points, in the form this CPU uses.
    fn new(omega: Fr, n: usize) -> Twiddles {
        let tw = stage_twiddles(omega, n);
        #[cfg(target_arch = "x86_64")]
        if n >= 16 && super::ifma::available() {
            return Twiddles::Ifma(Box::new(super::ntt_ifma::IfmaTwiddles::new(&tw)));
        }
        Twiddles::Scalar(tw)
    }

    fn bytes(&self) -> usize {
        match self {
            Twiddles::Scalar(tw) => tw.len() * std::mem::size_of::<Fr>(),
            #[cfg(target_arch = "x86_64")]
            Twiddles::Ifma(tw) => tw.bytes(),
        }
    }
}

/// Resident twiddles of one domain.
pub struct CpuDomain {
    log_size: u32,
    forward: Twiddles,
    inverse: Twiddles,
    size_inv: Fr,
}

impl CpuDomain {
    /// Precomputes the twiddles of the domain of size `2^log_size` (≤ 2^28).
    pub fn new(log_size: u32) -> Self {
        let n = 1usize << log_size;
        let omega = Fr::get_root_of_unity(n as u64).expect("log_size ≤ 2-adicity");
        let omega_inv = omega.inverse().expect("roots of unity are non-zero");
        CpuDomain {
            log_size,
            forward: Twiddles::new(omega, n),
            inverse: Twiddles::new(omega_inv, n),
            size_inv: Fr::from(n as u64).inverse().expect("n < r"),
        }
    }

    /// Bytes held resident.
    pub fn resident_bytes(&self) -> usize {
        self.forward.bytes() + self.inverse.bytes()
    }

    /// Coefficients → evaluations.
    pub fn forward(&self, values: &mut [Fr]) {
        dit(values, &self.forward, self.log_size);
    }

    /// Evaluations → coefficients.
    pub fn inverse(&self, values: &mut [Fr]) {
        dit(values, &self.inverse, self.log_size);
        scale_by_powers(values, Fr::ONE, self.size_inv);
    }

    /// Coefficients → evaluations on the coset `shift·{ω^i}`.
    pub fn coset_forward(&self, values: &mut [Fr], shift: Fr) {
        scale_by_powers(values, shift, Fr::ONE);
        dit(values, &self.forward, self.log_size);
    }

    /// Evaluations on the coset `shift·{ω^i}` → coefficients.
    pub fn coset_inverse(&self, values: &mut [Fr], shift: Fr) {
        dit(values, &self.inverse, self.log_size);
        let shift_inv = shift.inverse().expect("shift checked non-zero");
        scale_by_powers(values, shift_inv, self.size_inv);
    }

    /// Evaluations on `{ω^i}` → evaluations on `shift·{ω^i}`, with the scaling of the
    /// inverse transform and the coset shift fused into one pass.
    pub fn evals_to_coset(&self, values: &mut [Fr], shift: Fr) {
        dit(values, &self.inverse, self.log_size);
        scale_by_powers(values, shift, self.size_inv);
        dit(values, &self.forward, self.log_size);
    }
}

/// `tw[h + j] = ω_{2h}^j` for every stage half-size `h` (a power of two below `n`).
fn stage_twiddles(omega: Fr, n: usize) -> Vec<Fr> {
    let mut tw = vec![Fr::ONE; n.max(2)];
    if n < 2 {
        return tw;
    }
    let top = n / 2;
    tw[top..n]
        .par_chunks_mut(ELEM_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut w = omega.pow([(c * ELEM_CHUNK) as u64]);
            for t in chunk {
                *t = w;
                w *= omega;
            }
        });
    let mut h = top / 2;
    while h >= 1 {
        for j in 0..h {
            tw[h + j] = tw[2 * h + 2 * j];
        }
        h /= 2;
    }
    tw
}

/// `values[i] *= c · g^i`.
fn scale_by_powers(values: &mut [Fr], g: Fr, c: Fr) {
    values
        .par_chunks_mut(ELEM_CHUNK)
        .enumerate()
        .for_each(|(k, chunk)| {
            let mut w = c * g.pow([(k * ELEM_CHUNK) as u64]);
            for v in chunk {
                *v *= w;
                w *= g;
            }
        });
}

/// A raw pointer that rayon tasks may share; every use touches disjoint elements.
#[derive(Clone, Copy)]
struct SharedPtr(*mut Fr);
// SAFETY: the pointer is only dereferenced at indices that no other task touches.
unsafe impl Send for SharedPtr {}
unsafe impl Sync for SharedPtr {}
impl SharedPtr {
    fn get(self) -> *mut Fr {
        self.0
    }
}

fn bit_reverse(values: &mut [Fr], log_size: u32) {
    if log_size < 2 {
        return;
    }
    let n = values.len();
    let ptr = SharedPtr(values.as_mut_ptr());
    (0..n)
        .into_par_iter()
        .with_min_len(ELEM_CHUNK)
        .for_each(|i| {
            let j = i.reverse_bits() >> (usize::BITS - log_size);
            if i < j {
                // SAFETY: i < j < n, and the pair (i, j) is swapped by task i only.
                unsafe { std::ptr::swap(ptr.get().add(i), ptr.get().add(j)) }
            }
        });
}

/// In-place decimation-in-time transform with the stage twiddles `tw`.
fn dit(values: &mut [Fr], tw: &Twiddles, log_size: u32) {
    debug_assert_eq!(values.len(), 1 << log_size);
    bit_reverse(values, log_size);
    match tw {
        Twiddles::Scalar(tw) => scalar_stages(values, tw, log_size),
        #[cfg(target_arch = "x86_64")]
        Twiddles::Ifma(tw) => super::ntt_ifma::stages(values, tw, log_size),
    }
}

/// Every stage of the transform, scalar butterflies.
fn scalar_stages(values: &mut [Fr], tw: &[Fr], log_size: u32) {
    let block_log = log_size.min(BLOCK_LOG);
    values.par_chunks_mut(1 << block_log).for_each(|block| {
        for s in 0..block_log {
            let h = 1usize << s;
            let w = &tw[h..2 * h];
            for group in block.chunks_exact_mut(2 * h) {
                let (lo, hi) = group.split_at_mut(h);
                if h == 1 {
                    let t = hi[0];
                    hi[0] = lo[0] - t;
                    lo[0] += t;
                    continue;
                }
                for ((a, b), w) in lo.iter_mut().zip(hi.iter_mut()).zip(w) {
                    let t = *b * w;
                    *b = *a - t;
                    *a += t;
                }
            }
        }
    });
    let mut s = block_log;
    while s < log_size {
        let h = 1usize << s;
        if s + 1 < log_size {
            radix4_pass(values, h, tw);
            s += 2;
        } else {
            radix2_pass(values, h, tw);
            s += 1;
        }
    }
}

/// One radix-2 stage of half-size `h` over the whole vector.
fn radix2_pass(values: &mut [Fr], h: usize, tw: &[Fr]) {
    let w = &tw[h..2 * h];
    values.par_chunks_mut(2 * h).for_each(|group| {
        let (lo, hi) = group.split_at_mut(h);
        lo.par_chunks_mut(PAR_CHUNK)
            .zip(hi.par_chunks_mut(PAR_CHUNK))
            .zip(w.par_chunks(PAR_CHUNK))
            .for_each(|((lo, hi), w)| {
                for ((a, b), w) in lo.iter_mut().zip(hi.iter_mut()).zip(w) {
                    let t = *b * w;
                    *b = *a - t;
                    *a += t;
                }
            });
    });
}

/// Stages of half-size `h` and `2h` fused: each group of `4h` elements is read once.
fn radix4_pass(values: &mut [Fr], h: usize, tw: &[Fr]) {
    let w1 = &tw[h..2 * h];
    let (w2a, w2b) = tw[2 * h..4 * h].split_at(h);
    values.par_chunks_mut(4 * h).for_each(|group| {
        let (q01, q23) = group.split_at_mut(2 * h);
        let (q0, q1) = q01.split_at_mut(h);
        let (q2, q3) = q23.split_at_mut(h);
        q0.par_chunks_mut(PAR_CHUNK)
            .zip(q1.par_chunks_mut(PAR_CHUNK))
            .zip(q2.par_chunks_mut(PAR_CHUNK))
            .zip(q3.par_chunks_mut(PAR_CHUNK))
            .enumerate()
            .for_each(|(k, (((q0, q1), q2), q3))| {
                let off = k * PAR_CHUNK;
                for j in 0..q0.len() {
                    let (w1, w2a, w2b) = (w1[off + j], w2a[off + j], w2b[off + j]);
                    let (mut a, mut b, mut c, mut d) = (q0[j], q1[j], q2[j], q3[j]);
                    let t = b * w1;
                    (a, b) = (a + t, a - t);
                    let t = d * w1;
                    (c, d) = (c + t, c - t);
                    let t = c * w2a;
                    (a, c) = (a + t, a - t);
                    let t = d * w2b;
                    (b, d) = (b + t, b - t);
                    (q0[j], q1[j], q2[j], q3[j]) = (a, b, c, d);
                }
            });
    });
}
