//! Device memory planning for the GPU MSMs (CUDA and wgpu): the window size, the accumulation segment, and
//! how many scalars one pass can take so that its working memory fits what the device has
//! free. An MSM that does not fit in one pass runs in chunks whose results are added.
//! Pure arithmetic, tested without a GPU.

use std::ops::Range;

/// Entries one accumulation thread sums per level (see `msm.cu`).
pub const SEGMENT: u32 = 32;
/// Bytes kept back from the free memory the driver reports (scan temporaries, the module,
/// other allocations racing ours).
pub const RESERVE_BYTES: u64 = 64 << 20;
/// The largest window, in bits: 2^15 buckets a window, keys below 2^20.
pub const MAX_WINDOW_BITS: u32 = 16;

/// Window `c`-bit slice `bits` of a scalar plus the `carry` of the window below, as a signed
/// digit in (-2^(c-1), 2^(c-1)] and the carry into the window above. Both GPU backends
/// compute digits this way (`msm_digit` in `msm.cu` and `msm.wgsl`); Σ dᵢ·2^(c·i) is the
/// scalar, and the top window of a 254-bit scalar never carries out (255 bits are covered).
/// Note the edge `bits = 2^c - 1` with a carry: the digit is 0 with a carry, not a bucket.
pub fn signed_digit(bits: u32, carry: u32, c: u32) -> (i64, u32) {
    let raw = bits + carry;
    let half = 1u32 << (c - 1);
    if raw > half {
        (raw as i64 - (1i64 << c), 1)
    } else {
        (raw as i64, 0)
    }
}

/// The layout of an MSM on the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsmPlan {
    /// Bits c of a signed window digit.
    pub window_bits: u32,
    /// Windows of a 254-bit scalar with signed digits: ⌈255 / c⌉.
    pub windows: u32,
    /// Buckets a window: 2^(c-1) (digit magnitudes 1 ..= 2^(c-1)).
    pub buckets: u32,
    /// Entries per accumulation thread.
    pub segment: u32,
    /// Slices each window's buckets are split into for the reduction.
    pub slices: u32,
    /// Scalars per pass; equal to the MSM's length when it fits in one.
    pub chunk: usize,
    /// Bytes of device memory one pass of `chunk` scalars needs at most.
    pub pass_bytes: u64,
}

/// The window size for `n` terms: log2(n) - 4, between 4 and [`MAX_WINDOW_BITS`]. It
/// balances the n·⌈255/c⌉ bucket additions against the 2·2^(c-1)·⌈255/c⌉ of the reduction.
pub fn window_bits(n: usize) -> u32 {
    let log = usize::BITS - n.max(1).leading_zeros() - 1;
    log.saturating_sub(4).clamp(4, MAX_WINDOW_BITS)
}

impl MsmPlan {
    /// Plans an MSM of `n` terms whose XYZZ points take `point_bytes`, within `budget` bytes
    /// of free device memory. `Err(needed)` if not even a pass of 1024 scalars fits.
    pub fn new(n: usize, point_bytes: u64, budget: u64) -> Result<MsmPlan, u64> {
        let c = window_bits(n);
        let buckets = 1u32 << (c - 1);
        let mut plan = MsmPlan {
            window_bits: c,
            windows: 255u32.div_ceil(c),
            buckets,
            segment: SEGMENT,
            slices: buckets.min(256),
            chunk: n.max(1),
            pass_bytes: 0,
        };
        let budget = budget.saturating_sub(RESERVE_BYTES);
        loop {
            plan.pass_bytes = plan.bytes_for(plan.chunk, point_bytes);
            if plan.pass_bytes <= budget {
                return Ok(plan);
            }
            if plan.chunk <= 1024 {
                return Err(plan.pass_bytes + RESERVE_BYTES);
            }
            plan.chunk = plan.chunk.div_ceil(2);
        }
    }

    /// The most device memory a pass of `m` scalars uses (an upper bound: every digit
    /// non-zero, every segment cut at both ends).
    pub fn bytes_for(&self, m: usize, point_bytes: u64) -> u64 {
        let m = m as u64;
        let w = self.windows as u64;
        let buckets = w * self.buckets as u64;
        let entries = m * w;
        let seg = self.segment as u64;
        // The list of one level and the next are alive together; level 0 is keys + values.
        let mut lists = 8 * entries;
        let mut len = entries;
        let mut widest = 0u64;
        while len > 0 {
            let threads = len.div_ceil(seg);
            let next = (2 * threads).min(len.saturating_sub(1));
            let level = 4 * threads + next * (4 + point_bytes);
            widest = widest.max(level);
            lists += next * (4 + point_bytes);
            len = next;
        }
        32 * m                                   // scalars
            + 2 * 4 * buckets                    // counts and cursors
            + buckets * point_bytes              // buckets
            + w * (self.slices as u64 + 1) * point_bytes // reduction
            + lists
            + widest
    }

    /// Plans an MSM as [`MsmPlan::new`] does, and also keeps every single buffer of a pass
    /// within `max_binding` bytes (the most one shader binding may see, for wgpu), the bases
    /// of a pass (`affine_bytes` a point) included. Passes then start at multiples of 1024
    /// scalars, so their offsets into the bases meet any binding alignment.
    pub fn with_binding_limit(
        n: usize,
        point_bytes: u64,
        affine_bytes: u64,
        budget: u64,
        max_binding: u64,
    ) -> Result<MsmPlan, u64> {
        let mut plan = MsmPlan::new(n, point_bytes, budget)?;
        loop {
            let largest = plan.largest_buffer(plan.chunk, point_bytes, affine_bytes);
            if largest <= max_binding {
                if plan.chunk < n {
                    plan.chunk = (plan.chunk / 1024 * 1024).max(1024);
                }
                return Ok(plan);
            }
            if plan.chunk <= 1024 {
                return Err(largest);
            }
            // Half the chunk, with the window that suits the smaller pass.
            let chunk = (plan.chunk / 2).div_ceil(1024) * 1024;
            plan = MsmPlan::new(chunk, point_bytes, budget)?;
        }
    }

    /// The largest single buffer a pass of `m` scalars uses: the scalars, the bases, the
    /// sorted keys, the buckets or the first list of partial sums.
    pub fn largest_buffer(&self, m: usize, point_bytes: u64, affine_bytes: u64) -> u64 {
        let m = m as u64;
        let entries = m * self.windows as u64;
        let first_partials = (2 * entries.div_ceil(self.segment as u64)).min(entries);
        [
            32 * m,
            affine_bytes * m,
            4 * entries,
            self.windows as u64 * self.buckets as u64 * point_bytes,
            first_partials * point_bytes,
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }

    /// The scalar ranges of the passes over `n` terms.
    pub fn passes(&self, n: usize) -> impl Iterator<Item = Range<usize>> {
        let chunk = self.chunk.max(1);
        (0..n.div_ceil(chunk)).map(move |k| k * chunk..((k + 1) * chunk).min(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1_XYZZ: u64 = 128;
    const G2_XYZZ: u64 = 256;

    // The digits of random scalars (and of the edge patterns: all-ones windows, r - 1) put
    // back together give the scalar, and each lies in (-2^(c-1), 2^(c-1)].
    #[test]
    fn signed_digits_reconstruct_the_scalar() {
        use ark_bn254::Fr;
        use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField, UniformRand};
        use rand::SeedableRng;
        let seed = crate::conformance::seed_from_env("signed_digits");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut scalars: Vec<Fr> = (0..200).map(|_| Fr::rand(&mut rng)).collect();
        scalars.extend([
            Fr::ZERO,
            Fr::ONE,
            -Fr::ONE,
            Fr::from(u64::MAX),
            Fr::from(0xffffu64),
        ]);
        for c in [4u32, 5, 8, 11, 13, 16] {
            for s in &scalars {
                let bits = s.into_bigint();
                let mut carry = 0;
                let mut total = Fr::ZERO;
                for w in 0..255u32.div_ceil(c) {
                    let slice = (0..c)
                        .filter(|b| w * c + b < 256 && bits.get_bit((w * c + b) as usize))
                        .fold(0u32, |acc, b| acc | 1 << b);
                    let (d, next) = signed_digit(slice, carry, c);
                    assert!(
                        d > -(1i64 << (c - 1)) && d <= 1i64 << (c - 1),
                        "c={c} digit {d}"
                    );
                    total += Fr::from(d) * Fr::from(2u64).pow([(w * c) as u64]);
                    carry = next;
                }
                assert_eq!(carry, 0, "c={c}: the top window carried out");
                assert_eq!(total, *s, "c={c}, seed {seed}");
            }
        }
        // The edge case of the kernels: an all-ones window with a carry is digit 0.
        assert_eq!(signed_digit(15, 1, 4), (0, 1));
        assert_eq!(signed_digit(8, 0, 4), (8, 0));
        assert_eq!(signed_digit(8, 1, 4), (-7, 1));
    }

    #[test]
    fn windows_cover_a_signed_254_bit_scalar() {
        for log in 0..=28 {
            let plan = MsmPlan::new(1 << log, G1_XYZZ, u64::MAX).unwrap();
            let c = plan.window_bits;
            assert!((4..=MAX_WINDOW_BITS).contains(&c));
            // Signed digits need one bit of headroom above the scalar's 254.
            assert!(plan.windows * c >= 255 && (plan.windows - 1) * c < 255);
            assert_eq!(plan.buckets, 1 << (c - 1));
            // Keys w·B + |d| - 1 and entry indices fit their 32-bit words.
            assert!((plan.windows as u64) * (plan.buckets as u64) < 1 << 31);
            assert_eq!(plan.buckets % plan.slices, 0);
        }
        assert_eq!(window_bits(1 << 20), 16);
        assert_eq!(window_bits(1 << 12), 8);
    }

    #[test]
    fn a_large_device_takes_2_pow_24_in_one_pass() {
        let h100_free = 79u64 << 30;
        for point in [G1_XYZZ, G2_XYZZ] {
            let plan = MsmPlan::new(1 << 24, point, h100_free).unwrap();
            assert_eq!(plan.chunk, 1 << 24);
            assert_eq!(plan.passes(1 << 24).count(), 1);
            assert!(plan.pass_bytes <= h100_free);
        }
    }

    #[test]
    fn a_short_device_gets_chunks_that_fit_and_cover_everything() {
        let n = (1 << 22) + 12345;
        for budget in [512u64 << 20, 1 << 30, 2 << 30] {
            let plan = MsmPlan::new(n, G2_XYZZ, budget).unwrap();
            assert!(plan.chunk < n, "budget {budget}: expected chunks");
            assert!(plan.bytes_for(plan.chunk, G2_XYZZ) + RESERVE_BYTES <= budget);
            // Twice the chunk would not have fitted: the plan does not waste passes.
            assert!(plan.bytes_for(2 * plan.chunk, G2_XYZZ) + RESERVE_BYTES > budget);
            let ranges: Vec<_> = plan.passes(n).collect();
            assert_eq!(ranges.first().unwrap().start, 0);
            assert_eq!(ranges.last().unwrap().end, n);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
            assert!(ranges
                .iter()
                .all(|r| !r.is_empty() && r.len() <= plan.chunk));
        }
    }

    #[test]
    fn a_binding_limit_shrinks_passes_until_each_buffer_fits() {
        let n = (1 << 20) + 5;
        let limit = 128u64 << 20; // lavapipe's, and WebGPU's default
        for (point, affine) in [(G1_XYZZ, 64), (G2_XYZZ, 128)] {
            let plan = MsmPlan::with_binding_limit(n, point, affine, u64::MAX, limit).unwrap();
            assert!(plan.largest_buffer(plan.chunk, point, affine) <= limit);
            assert!(plan.chunk < n && plan.chunk.is_multiple_of(1024));
            let ranges: Vec<_> = plan.passes(n).collect();
            assert_eq!(ranges.last().unwrap().end, n);
            assert!(ranges.iter().all(|r| r.start % 1024 == 0));
        }
        let whole = MsmPlan::with_binding_limit(1000, G1_XYZZ, 64, u64::MAX, limit).unwrap();
        assert_eq!(whole.chunk, 1000);
    }

    #[test]
    fn too_little_memory_is_an_error_with_the_need() {
        let needed = MsmPlan::new(1 << 20, G1_XYZZ, 16 << 20).unwrap_err();
        assert!(needed > 16 << 20);
        assert!(MsmPlan::new(1 << 20, G1_XYZZ, needed).is_ok());
    }

    #[test]
    fn memory_grows_with_the_chunk() {
        let plan = MsmPlan::new(1 << 20, G1_XYZZ, u64::MAX).unwrap();
        let mut last = 0;
        for m in [1usize, 100, 1 << 10, 1 << 15, 1 << 20] {
            let b = plan.bytes_for(m, G1_XYZZ);
            assert!(b > last);
            last = b;
        }
        // Level 0 of 2^20 scalars alone is 8 bytes an entry.
        assert!(last >= 8 * (1 << 20) * plan.windows as u64);
    }
}
