//! The host side of an MSM on the bucket engine, one code path for the co-simulation and a
//! card: pack the points and scalars into the engine's buffers, run one accumulation, then
//! combine the bucket sums, `Σ_w 2^(w·C) · Σ_d d·B[w][d]` (a running sum per window, then
//! Horner over the windows): `windows · 2^(C+1)` additions on the host against the engine's
//! `windows · n`.

use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::AdditiveGroup;
use ark_ff::{PrimeField, Zero};

use crate::card::{pack_points, EngineCard, EngineStats, BUCKET_WORDS, SCALAR_WORDS};
use crate::sim::Projective;
use crate::HwError;

/// The scalars buffer of `scalars`.
pub fn pack_scalars(scalars: &[Fr]) -> Vec<u32> {
    let mut out = Vec::with_capacity(scalars.len() * SCALAR_WORDS);
    for s in scalars {
        for limb in s.into_bigint().0 {
            out.push(limb as u32);
            out.push((limb >> 32) as u32);
        }
    }
    out
}

/// `Σ scalars[i] · bases[i]` with the bucket accumulation on `card`, and what the run
/// measured. `bases` and `scalars` have the same length.
pub fn msm_g1(
    card: &mut dyn EngineCard,
    bases: &[G1Affine],
    scalars: &[Fr],
) -> Result<(G1Projective, EngineStats), HwError> {
    msm_g1_packed(card, &pack_points(bases), scalars)
}

/// [`msm_g1`] on bases already in the points buffer's form (kept resident by a backend);
/// the first `scalars.len()` points are used.
pub fn msm_g1_packed(
    card: &mut dyn EngineCard,
    points: &[u32],
    scalars: &[Fr],
) -> Result<(G1Projective, EngineStats), HwError> {
    let points = points
        .get(..scalars.len() * crate::card::POINT_WORDS)
        .ok_or_else(|| {
            HwError::Buffers(format!(
                "{} scalars for {} points",
                scalars.len(),
                points.len() / crate::card::POINT_WORDS
            ))
        })?;
    let shape = card.shape();
    let mut buckets = vec![0u32; shape.buckets() * BUCKET_WORDS];
    let stats = card.accumulate(points, &pack_scalars(scalars), &mut buckets)?;
    Ok((combine(shape.window_bits, &buckets), stats))
}

/// The MSM from the engine's bucket sums.
fn combine(window_bits: u32, buckets: &[u32]) -> G1Projective {
    let per_window = 1usize << window_bits;
    let bucket = |i: usize| Projective::from_words(&buckets[i * BUCKET_WORDS..]).to_group();
    let windows = buckets.len() / (per_window * BUCKET_WORDS);
    let window_sums: Vec<G1Projective> = (0..windows)
        .map(|w| {
            // Σ_d d·B[d] as the sum of the running sums B[top] + (B[top] + B[top-1]) + …
            let mut running = G1Projective::zero();
            let mut sum = G1Projective::zero();
            for d in (1..per_window).rev() {
                running += bucket(w * per_window + d);
                sum += running;
            }
            sum
        })
        .collect();
    let mut total = G1Projective::zero();
    for sum in window_sums.iter().rev() {
        for _ in 0..window_bits {
            total.double_in_place();
        }
        total += sum;
    }
    total
}
