//! An **insecure** single-party Groth16 setup that writes keys in snarkjs's layout.
//!
//! The toxic waste (τ, α, β, γ, δ) is drawn from the given RNG and dropped, but whoever
//! controls that RNG can forge proofs: this exists for tests and benchmarks of circuits too
//! large for a quick powers-of-tau ceremony, never for production keys. Real keys come from
//! `snarkjs groth16 setup` plus contributions.
//!
//! The H points are those snarkjs derives from the powers of tau: the odd-indexed Lagrange
//! basis of the domain of size 2n at τ, divided by δ.

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ec::scalar_mul::ScalarMul;
use ark_ec::PrimeGroup;
use ark_ff::{batch_inversion, FftField, Field, UniformRand, Zero};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::r1cs::R1cs;
use crate::zkey::{Coef, ProvingKey};

/// snarkjs's domain size: the smallest power of two above `constraints + public`.
pub fn domain_size(n_constraints: usize, n_public: usize) -> usize {
    (n_constraints + n_public + 1).next_power_of_two()
}

/// `L_i(τ)` for the Lagrange basis of the subgroup of size `n`, for the indices `idx`.
fn lagrange_at(tau: Fr, n: usize, idx: impl IntoParallelIterator<Item = usize>) -> Vec<Fr> {
    let omega = Fr::get_root_of_unity(n as u64).expect("n within the 2-adicity");
    let z = tau.pow([n as u64]) - Fr::ONE;
    let n_inv = Fr::from(n as u64).inverse().expect("n < r");
    let points: Vec<Fr> = idx.into_par_iter().map(|i| omega.pow([i as u64])).collect();
    let mut den: Vec<Fr> = points.par_iter().map(|x| tau - x).collect();
    batch_inversion(&mut den);
    points
        .par_iter()
        .zip(den)
        .map(|(x, d)| *x * z * n_inv * d)
        .collect()
}

/// Generates a proving key for `r1cs` with toxic waste from `rng`. **Insecure**: see the
/// module documentation.
pub fn insecure_setup<R: RngCore + CryptoRng>(r1cs: &R1cs, rng: &mut R) -> ProvingKey {
    let n_public = r1cs.n_public();
    let n_vars = r1cs.n_wires;
    let n_constraints = r1cs.constraints.len();
    let n = domain_size(n_constraints, n_public);
    let (tau, alpha, beta, gamma, delta) = (
        Fr::rand(rng),
        Fr::rand(rng),
        Fr::rand(rng),
        Fr::rand(rng),
        Fr::rand(rng),
    );

    let mut coefs = Vec::new();
    for (row, (a, b, _)) in r1cs.constraints.iter().enumerate() {
        for (matrix, lc) in [(0u8, a), (1u8, b)] {
            for &(signal, value) in lc {
                coefs.push(Coef {
                    matrix,
                    row: row as u32,
                    signal,
                    value,
                });
            }
        }
    }
    for s in 0..=n_public {
        coefs.push(Coef {
            matrix: 0,
            row: (n_constraints + s) as u32,
            signal: s as u32,
            value: Fr::ONE,
        });
    }

    let lagrange = lagrange_at(tau, n, 0..n);
    let (mut u, mut v, mut w) = (
        vec![Fr::zero(); n_vars],
        vec![Fr::zero(); n_vars],
        vec![Fr::zero(); n_vars],
    );
    for c in &coefs {
        let target = if c.matrix == 0 { &mut u } else { &mut v };
        target[c.signal as usize] += c.value * lagrange[c.row as usize];
    }
    for (row, (_, _, lc)) in r1cs.constraints.iter().enumerate() {
        for &(signal, value) in lc {
            w[signal as usize] += value * lagrange[row];
        }
    }
    let gamma_inv = gamma.inverse().expect("random γ is non-zero");
    let delta_inv = delta.inverse().expect("random δ is non-zero");
    let combined = |j: usize| beta * u[j] + alpha * v[j] + w[j];
    let ic_scalars: Vec<Fr> = (0..=n_public).map(|j| combined(j) * gamma_inv).collect();
    let c_scalars: Vec<Fr> = (n_public + 1..n_vars)
        .into_par_iter()
        .map(|j| combined(j) * delta_inv)
        .collect();
    let h_scalars: Vec<Fr> = lagrange_at(tau, 2 * n, (0..n).into_par_iter().map(|k| 2 * k + 1))
        .into_par_iter()
        .map(|l| l * delta_inv)
        .collect();

    let g1 = G1Projective::generator();
    let g2 = G2Projective::generator();
    ProvingKey {
        n_vars,
        n_public,
        domain_size: n,
        alpha1: g1.batch_mul(&[alpha])[0],
        beta1: g1.batch_mul(&[beta])[0],
        beta2: g2.batch_mul(&[beta])[0],
        gamma2: g2.batch_mul(&[gamma])[0],
        delta1: g1.batch_mul(&[delta])[0],
        delta2: g2.batch_mul(&[delta])[0],
        ic: g1.batch_mul(&ic_scalars),
        a: g1.batch_mul(&u),
        b1: g1.batch_mul(&v),
        b2: g2.batch_mul(&v),
        c: g1.batch_mul(&c_scalars),
        h: g1.batch_mul(&h_scalars),
        coefs,
    }
}
