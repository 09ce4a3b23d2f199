//! Groth16 proofs, verifying keys and the pairing check.

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::Zero;

use crate::ProverError;

/// A Groth16 proof (A, B, C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proof {
    /// A in G1.
    pub a: G1Affine,
    /// B in G2.
    pub b: G2Affine,
    /// C in G1.
    pub c: G1Affine,
}

/// A Groth16 verifying key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyingKey {
    /// [α]₁.
    pub alpha1: G1Affine,
    /// [β]₂.
    pub beta2: G2Affine,
    /// [γ]₂.
    pub gamma2: G2Affine,
    /// [δ]₂.
    pub delta2: G2Affine,
    /// One point per public input plus one for the constant.
    pub ic: Vec<G1Affine>,
}

impl VerifyingKey {
    /// Number of public inputs the key expects.
    pub fn n_public(&self) -> usize {
        self.ic.len().saturating_sub(1)
    }
}

/// Checks `e(A,B) = e(α,β)·e(Σ xᵢ·ICᵢ, γ)·e(C,δ)`. An error means the inputs do not fit
/// the key; `Ok(false)` means the proof is wrong.
pub fn verify(vk: &VerifyingKey, public: &[Fr], proof: &Proof) -> Result<bool, ProverError> {
    if public.len() != vk.n_public() {
        return Err(ProverError::Mismatch(format!(
            "{} public inputs given, the verification key expects {}",
            public.len(),
            vk.n_public()
        )));
    }
    let mut acc: G1Projective = vk.ic[0].into_group();
    for (x, p) in public.iter().zip(&vk.ic[1..]) {
        acc += *p * x;
    }
    let lhs = Bn254::multi_pairing(
        [
            (-proof.a.into_group()).into_affine(),
            vk.alpha1,
            acc.into_affine(),
            proof.c,
        ],
        [proof.b, vk.beta2, vk.gamma2, vk.delta2],
    );
    Ok(lhs.is_zero())
}
