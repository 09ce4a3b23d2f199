//! Device memory planning for the CUDA MSM: the window size, the accumulation segment, and
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
