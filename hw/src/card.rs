//! The bucket engine's host interface: the buffers and the run that the co-simulation and
//! a card share, so that one host driver ([`crate::msm`]) drives either (the pattern of
//! Zama's HPU: a bit-accurate simulator and the real device behind one API).
//!
//! Buffers are little-endian 32-bit words, as the card's memory holds them:
//! - points: `n × 16` words, `x` then `y` in Montgomery form (R = 2^256, as arkworks' `Fq`);
//!   bit 31 of word 7 (bit 255 of `x`, never set in a value below p) marks the identity;
//! - scalars: `n × 8` words, each scalar as an integer below r;
//! - buckets: [`EngineShape::buckets`] `× 24` words, `X, Y, Z` of each bucket's sum in the
//!   adder's projective coordinates ([`crate::sim::Projective`]), bucket `(w, d)` at index
//!   `w·2^C + d`; an empty bucket reads (0, 1, 0).

use ark_bn254::G1Affine;
use ark_ec::AffineRepr;

use crate::sim::words;
use crate::HwError;

/// Words per point in the points buffer.
pub const POINT_WORDS: usize = 16;
/// Words per scalar in the scalars buffer.
pub const SCALAR_WORDS: usize = 8;
/// Words per bucket in the buckets buffer.
pub const BUCKET_WORDS: usize = 24;

/// Bits of a BN254 scalar (r < 2^254).
pub const SCALAR_BITS: u32 = 254;

/// The engine's windows: `C`-bit unsigned digits, `ceil(254 / C)` windows, `2^C` buckets a
/// window (digit 0's always empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineShape {
    /// `C`: bits per digit.
    pub window_bits: u32,
}

impl EngineShape {
    /// Windows per scalar.
    pub fn windows(&self) -> u32 {
        SCALAR_BITS.div_ceil(self.window_bits)
    }

    /// Buckets in all, `windows · 2^C`: the length of the buckets buffer in buckets.
    pub fn buckets(&self) -> usize {
        (self.windows() as usize) << self.window_bits
    }
}

/// What one run measured, in clock cycles (the layout the C shim writes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// From start to done (bucket read-out included).
    pub cycles: u64,
    /// The cycle that issued the first addition.
    pub first_issue: u64,
    /// The cycle that issued the last addition.
    pub last_issue: u64,
    /// Additions issued (one per nonzero digit of a point that is not the identity).
    pub issues: u64,
    /// Cycles on which the point in the engine could not move on to its next window: an
    /// addition whose bucket was busy, with the FIFO of parked additions full.
    pub stalls: u64,
    /// Cycles spent streaming the buckets out.
    pub drain_cycles: u64,
}

impl EngineStats {
    /// Cycles per addition from the first issue to the last: 1.0 is a full pipeline; the
    /// pipeline's fill and the bucket read-out are not counted.
    pub fn cycles_per_addition(&self) -> f64 {
        if self.issues == 0 {
            return 0.0;
        }
        (self.last_issue - self.first_issue + 1) as f64 / self.issues as f64
    }
}

/// A device that runs the bucket engine: the co-simulation ([`crate::sim::EngineSim`]) or a
/// card (the XRT driver).
pub trait EngineCard: Send {
    /// The engine's windows.
    fn shape(&self) -> EngineShape;

    /// What the device is, for messages and `fornax devices`.
    fn describe(&self) -> String;

    /// One bucket accumulation: `points` and `scalars` (the same count of each) in,
    /// `buckets` (exactly [`EngineShape::buckets`] of them) out.
    fn accumulate(
        &mut self,
        points: &[u32],
        scalars: &[u32],
        buckets: &mut [u32],
    ) -> Result<EngineStats, HwError>;
}

/// A device with both engines: the co-simulation's two models ([`crate::sim::SimCard`]) or
/// one Alveo card's two kernels (the XRT driver).
pub trait Card: EngineCard + crate::ntt::NttCard {}

impl<T: EngineCard + crate::ntt::NttCard> Card for T {}

/// Checks the buffers of one run against each other and the shape; returns the point count.
pub fn check_buffers(
    shape: EngineShape,
    points: &[u32],
    scalars: &[u32],
    buckets: &[u32],
) -> Result<usize, HwError> {
    let n = points.len() / POINT_WORDS;
    if !points.len().is_multiple_of(POINT_WORDS) || scalars.len() != n * SCALAR_WORDS {
        return Err(HwError::Buffers(format!(
            "{} point words and {} scalar words are not n × {POINT_WORDS} and n × {SCALAR_WORDS}",
            points.len(),
            scalars.len()
        )));
    }
    if buckets.len() != shape.buckets() * BUCKET_WORDS {
        return Err(HwError::Buffers(format!(
            "the bucket buffer holds {} words, the engine writes {} buckets of {BUCKET_WORDS}",
            buckets.len(),
            shape.buckets()
        )));
    }
    Ok(n)
}

/// The points buffer of `bases`.
pub fn pack_points(bases: &[G1Affine]) -> Vec<u32> {
    let mut out = Vec::with_capacity(bases.len() * POINT_WORDS);
    for p in bases {
        match p.xy() {
            Some((x, y)) => {
                out.extend_from_slice(&words(&x));
                out.extend_from_slice(&words(&y));
            }
            None => {
                let mut w = [0u32; POINT_WORDS];
                w[7] = 1 << 31;
                out.extend_from_slice(&w);
            }
        }
    }
    out
}
