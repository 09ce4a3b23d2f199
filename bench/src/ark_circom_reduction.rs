//! Glue that lets ark-groth16 prove with a snarkjs-layout key, so both provers can be
//! measured on the same circuit and the same key.
//!
//! snarkjs computes the H polynomial on the odd coset of the 2n-th roots of unity and its
//! keys hold the matching H points; arkworks' default (libsnark) reduction uses another coset
//! and other H points. [`CircomReduction`] is the snarkjs variant of ark-groth16's
//! `R1CSToQAP`, written here from the formulas (ark-circom carries the same idea).

use ark_bn254::{Bn254, Fr};
use ark_ff::PrimeField;
use ark_groth16::r1cs_to_qap::{evaluate_constraint, LibsnarkReduction, R1CSToQAP};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystemRef, Matrix, Result as R1CSResult, SynthesisError};
use fornax_prover::r1cs::R1cs;
use fornax_prover::ProvingKey;

/// snarkjs's R1CS-to-QAP reduction for ark-groth16.
pub struct CircomReduction;

impl R1CSToQAP for CircomReduction {
    /// The QAP instance does not depend on the coset choice, so libsnark's map is reused.
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> R1CSResult<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize)> {
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &[Matrix<F>],
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> R1CSResult<Vec<F>> {
        let domain =
            D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let n = domain.size();
        let mut a = vec![F::zero(); n];
        let mut b = vec![F::zero(); n];
        for (i, (at, bt)) in matrices[0].iter().zip(&matrices[1]).enumerate() {
            a[i] = evaluate_constraint(at, full_assignment);
            b[i] = evaluate_constraint(bt, full_assignment);
        }
        a[num_constraints..num_constraints + num_inputs]
            .clone_from_slice(&full_assignment[..num_inputs]);
        let mut c: Vec<F> = a.iter().zip(&b).map(|(x, y)| *x * y).collect();
        let shift =
            F::get_root_of_unity(2 * n as u64).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        for v in [&mut a, &mut b, &mut c] {
            domain.ifft_in_place(v);
            D::distribute_powers_and_mul_by_const(v, shift, F::one());
            domain.fft_in_place(v);
        }
        Ok(a.iter()
            .zip(&b)
            .zip(&c)
            .map(|((x, y), z)| *x * y - z)
            .collect())
    }

    /// `L_{2i+1}(t)/δ` over the domain of size 2n, for `i < n` with `n = max_power + 1`
    /// rounded up to a power of two.
    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        _zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        let n = (max_power + 1).next_power_of_two();
        let big = 2 * n;
        let omega =
            F::get_root_of_unity(big as u64).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let z = t.pow([big as u64]) - F::one();
        let big_inv = F::from(big as u64)
            .inverse()
            .ok_or(SynthesisError::Unsatisfiable)?;
        (0..n)
            .map(|i| {
                let x = omega.pow([(2 * i + 1) as u64]);
                let d = (t - x).inverse().ok_or(SynthesisError::Unsatisfiable)?;
                Ok(x * z * big_inv * d * delta_inverse)
            })
            .collect()
    }
}

/// The same key in ark-groth16's types.
pub fn to_ark_key(pk: &ProvingKey) -> ark_groth16::ProvingKey<Bn254> {
    ark_groth16::ProvingKey {
        vk: ark_groth16::VerifyingKey {
            alpha_g1: pk.alpha1,
            beta_g2: pk.beta2,
            gamma_g2: pk.gamma2,
            delta_g2: pk.delta2,
            gamma_abc_g1: pk.ic.clone(),
        },
        beta_g1: pk.beta1,
        delta_g1: pk.delta1,
        a_query: pk.a.clone(),
        b_g1_query: pk.b1.clone(),
        b_g2_query: pk.b2.clone(),
        h_query: pk.h.clone(),
        l_query: pk.c.clone(),
    }
}

/// The A, B and C matrices of an R1CS in ark-relations' layout.
pub fn ark_matrices(r1cs: &R1cs) -> Vec<Matrix<Fr>> {
    let lc = |terms: &Vec<(u32, Fr)>| {
        terms
            .iter()
            .map(|(w, c)| (*c, *w as usize))
            .collect::<Vec<_>>()
    };
    let mut m = vec![Vec::new(), Vec::new(), Vec::new()];
    for (a, b, c) in &r1cs.constraints {
        m[0].push(lc(a));
        m[1].push(lc(b));
        m[2].push(lc(c));
    }
    m
}

/// The A and B matrices of a snarkjs zkey in ark-relations' layout (C is not needed by the
/// circom reduction), and the circuit's number of constraints. snarkjs appends one row of
/// A per public signal and the constant (`a[n + i] = signal i`), which the reduction adds
/// itself: they are left out.
pub fn zkey_matrices(pk: &ProvingKey) -> (Vec<Matrix<Fr>>, usize) {
    let a_rows = pk
        .coefs
        .iter()
        .filter(|c| c.matrix == 0)
        .map(|c| c.row as usize + 1)
        .max()
        .unwrap_or(0);
    let constraints = a_rows.saturating_sub(pk.n_public + 1);
    let mut m = vec![vec![Vec::new(); constraints], vec![Vec::new(); constraints]];
    for c in &pk.coefs {
        if (c.row as usize) < constraints {
            m[c.matrix as usize][c.row as usize].push((c.value, c.signal as usize));
        }
    }
    m.push(Vec::new());
    (m, constraints)
}

/// A Groth16 proof of `witness` with ark-groth16 and the circom reduction, from the zkey
/// alone (what `fornax bench ark-prove` runs as a process of its own).
pub fn ark_prove(
    pk: &ProvingKey,
    witness: &[Fr],
    rng: &mut impl rand::RngCore,
) -> Result<fornax_prover::Proof, SynthesisError> {
    use ark_ff::UniformRand;
    let (matrices, constraints) = zkey_matrices(pk);
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let proof =
        ark_groth16::Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
            &to_ark_key(pk),
            r,
            s,
            &matrices,
            pk.n_public + 1,
            constraints,
            witness,
        )?;
    Ok(fornax_prover::Proof {
        a: proof.a,
        b: proof.b,
        c: proof.c,
    })
}
