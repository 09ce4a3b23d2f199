//! Synthetic circuits of any size, for tests and benchmarks.

use ark_bn254::Fr;
use ark_ff::{Field, UniformRand};
use rand::Rng;

use crate::r1cs::R1cs;

/// A circuit of exactly `n_constraints` constraints (at least 2) with one public output and
/// one public input, and a satisfying witness.
///
/// Wires: 0 = 1, 1 = output `y`, 2 = input `x₀`, 3.. = `x₁ … x_{m}`. Constraint `i < m`
/// is `x_i · (x_i + k_i) = x_{i+1}` with random constants `k_i`; the last one is
/// `x_m · 1 = y`. Rows mix several terms so that coefficient handling is exercised.
pub fn chain(n_constraints: usize, rng: &mut impl Rng) -> (R1cs, Vec<Fr>) {
    assert!(n_constraints >= 2, "a chain needs at least two constraints");
    let m = n_constraints - 1;
    let wire = |i: usize| if i == 0 { 2u32 } else { (2 + i) as u32 };
    let mut witness = vec![Fr::ONE, Fr::ONE, Fr::rand(rng)];
    let mut constraints = Vec::with_capacity(n_constraints);
    for i in 0..m {
        let k = Fr::rand(rng);
        let x = witness[wire(i) as usize];
        witness.push(x * (x + k));
        constraints.push((
            vec![(wire(i), Fr::ONE)],
            vec![(0, k), (wire(i), Fr::ONE)],
            vec![(wire(i + 1), Fr::ONE)],
        ));
    }
    witness[1] = witness[wire(m) as usize];
    constraints.push((
        vec![(wire(m), Fr::ONE)],
        vec![(0, Fr::ONE)],
        vec![(1, Fr::ONE)],
    ));
    let r1cs = R1cs {
        n_wires: witness.len(),
        n_pub_out: 1,
        n_pub_in: 1,
        n_prv_in: 0,
        constraints,
    };
    (r1cs, witness)
}
