//! Fornax's benchmarks, always side by side with arkworks in the same run.
//!
//! The functions here are shared by the criterion benches (`cargo bench -p fornax-bench`)
//! and by `fornax bench`, which prints a table and writes JSON with device, commit and
//! command. Each measurement interleaves Fornax and the arkworks baseline repetition by
//! repetition and reports medians, so machine noise hits both sides alike.

pub mod ark_circom_reduction;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::VariableBaseMSM;
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use fornax_kernels::conformance::{random_points, random_scalars, PointShape, ScalarShape};
use fornax_kernels::{Backend, CpuBackend, DeviceRegistry, MsmBackend, NttBackend, NttKind};
use fornax_prover::{setup, synthetic, LocalExecutor, ProvingKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

pub use ark_circom_reduction::{
    ark_matrices, ark_prove, to_ark_key, zkey_matrices, CircomReduction,
};

/// One comparison: the same work done by Fornax and by the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What was measured (`msm-g1`, `ntt`, `groth16`).
    pub bench: String,
    /// log2 of the size (points, elements or constraints).
    pub log_size: u32,
    /// Median seconds for Fornax.
    pub fornax_s: f64,
    /// What Fornax was compared with.
    pub baseline: String,
    /// Median seconds for the baseline.
    pub baseline_s: f64,
    /// `baseline_s / fornax_s`: how many times faster Fornax is.
    pub speedup: f64,
    /// Repetitions behind each median.
    pub reps: usize,
    /// Clock cycles of the device's last run, where it counts them (the FPGA
    /// co-simulation, whose wall time says nothing of a card's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_cycles: Option<u64>,
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64()
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}

/// Runs `fornax` and `baseline` alternately `reps` times, checking that each pair agrees.
fn compare<T: PartialEq + std::fmt::Debug>(
    bench: &str,
    log_size: u32,
    baseline: &str,
    reps: usize,
    mut fornax: impl FnMut() -> T,
    mut base: impl FnMut() -> T,
) -> Row {
    let (mut f, mut b) = (Vec::new(), Vec::new());
    for _ in 0..reps.max(1) {
        let (x, tf) = time(&mut fornax);
        let (y, tb) = time(&mut base);
        assert_eq!(x, y, "{bench} 2^{log_size}: Fornax and {baseline} disagree");
        f.push(tf);
        b.push(tb);
    }
    let (fornax_s, baseline_s) = (median(f), median(b));
    Row {
        bench: bench.into(),
        log_size,
        fornax_s,
        baseline: baseline.into(),
        baseline_s,
        speedup: baseline_s / fornax_s,
        reps: reps.max(1),
        device_cycles: None,
    }
}

/// `row` with the cycles of `device`'s last run, where it counts them.
fn with_cycles(mut row: Row, device: &dyn Backend) -> Row {
    row.device_cycles = device.last_run_cycles();
    row
}

/// Inputs for an MSM of `2^log` uniform terms.
pub fn msm_inputs(log: u32, seed: u64) -> (Vec<G1Affine>, Vec<Fr>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 1usize << log;
    (
        random_points(&mut rng, n, PointShape::Distinct),
        random_scalars(&mut rng, n, ScalarShape::Uniform),
    )
}

/// G1 MSM of `2^log` uniform terms: Fornax's CPU backend (bases resident) against
/// arkworks' `VariableBaseMSM::msm`.
pub fn msm_g1(log: u32, reps: usize, seed: u64) -> Row {
    let (bases, scalars) = msm_inputs(log, seed);
    let cpu = CpuBackend::new();
    let handle = cpu.upload_g1(&bases).expect("CPU upload");
    compare(
        "msm-g1",
        log,
        "arkworks VariableBaseMSM",
        reps,
        || cpu.msm_g1(&handle, &scalars).expect("CPU MSM"),
        || G1Projective::msm(&bases, &scalars).expect("equal lengths"),
    )
}

/// G2 MSM of `2^log` uniform terms: Fornax's CPU backend (bases resident) against
/// arkworks' `VariableBaseMSM::msm` (the Groth16 prover's B query is one).
pub fn msm_g2(log: u32, reps: usize, seed: u64) -> Row {
    let (bases, scalars) = msm_g2_inputs(log, seed);
    let cpu = CpuBackend::new();
    let handle = cpu.upload_g2(&bases).expect("CPU upload");
    compare(
        "msm-g2",
        log,
        "arkworks VariableBaseMSM",
        reps,
        || cpu.msm_g2(&handle, &scalars).expect("CPU MSM"),
        || G2Projective::msm(&bases, &scalars).expect("equal lengths"),
    )
}

/// Inputs for a G2 MSM of `2^log` uniform terms.
pub fn msm_g2_inputs(log: u32, seed: u64) -> (Vec<G2Affine>, Vec<Fr>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 1usize << log;
    (
        random_points(&mut rng, n, PointShape::Distinct),
        random_scalars(&mut rng, n, ScalarShape::Uniform),
    )
}

/// Forward NTT of `2^log` elements: Fornax's CPU backend (twiddles resident) against
/// arkworks' `Radix2EvaluationDomain::fft_in_place`.
pub fn ntt(log: u32, reps: usize, seed: u64) -> Row {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let input: Vec<Fr> = (0..1usize << log).map(|_| Fr::rand(&mut rng)).collect();
    let cpu = CpuBackend::new();
    let domain = cpu.ntt_domain(log).expect("domain");
    let ark = Radix2EvaluationDomain::<Fr>::new(1 << log).expect("domain");
    let mut a = input.clone();
    let mut b = input;
    compare(
        "ntt",
        log,
        "arkworks Radix2EvaluationDomain",
        reps,
        || {
            cpu.ntt(&domain, &mut a, NttKind::Forward).expect("CPU NTT");
            a[0]
        },
        || {
            ark.fft_in_place(&mut b);
            b[0]
        },
    )
}

/// A Groth16 circuit of `2^log` constraints with its key and witness.
pub struct Groth16Fixture {
    /// The constraint system.
    pub r1cs: fornax_prover::r1cs::R1cs,
    /// A satisfying witness.
    pub witness: Vec<Fr>,
    /// The (insecure, benchmark-only) proving key.
    pub key: ProvingKey,
}

/// Builds a synthetic circuit of `2^log - 1 - 2` constraints, so that with its public rows
/// the domain is exactly `2^log`.
pub fn groth16_fixture(log: u32, seed: u64) -> Groth16Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n_constraints = (1usize << log) - 3;
    let (r1cs, witness) = synthetic::chain(n_constraints, &mut rng);
    let key = setup::insecure_setup(&r1cs, &mut rng);
    debug_assert_eq!(key.domain_size, 1 << log);
    Groth16Fixture { r1cs, witness, key }
}

/// Groth16 proving of a `2^log`-constraint circuit with the same key: Fornax (key prepared
/// once) against ark-groth16 with the circom reduction (matrices prepared once). Both
/// proofs are verified; the comparison checks validity, not equality (proofs are random).
pub fn groth16(log: u32, reps: usize, seed: u64) -> Row {
    let fx = groth16_fixture(log, seed);
    let vk = fx.key.verifying_key();
    let ark_pk = to_ark_key(&fx.key);
    let matrices = ark_matrices(&fx.r1cs);
    let n_inputs = fx.r1cs.n_public() + 1;
    let n_constraints = fx.r1cs.constraints.len();
    let exec = LocalExecutor::new(fornax_kernels::DeviceRegistry::discover());
    let key = exec.prepare("bench.zkey", fx.key).expect("prepare");
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 1);
    let mut rng2 = ChaCha20Rng::seed_from_u64(seed ^ 2);
    let public = fx.witness[1..n_inputs].to_vec();
    compare(
        "groth16",
        log,
        "ark-groth16 (circom reduction)",
        reps,
        || {
            let (proof, _, _) = exec
                .prove(&key, fx.witness.clone(), &mut rng)
                .expect("fornax proof");
            fornax_prover::verify(&vk, &public, &proof).expect("shapes match")
        },
        || {
            let (r, s) = (Fr::rand(&mut rng2), Fr::rand(&mut rng2));
            let proof = ark_groth16::Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                &ark_pk,
                r,
                s,
                &matrices,
                n_inputs,
                n_constraints,
                &fx.witness,
            )
            .expect("ark proof");
            let p = fornax_prover::Proof {
                a: proof.a,
                b: proof.b,
                c: proof.c,
            };
            fornax_prover::verify(&vk, &public, &p).expect("shapes match")
        },
    )
}

/// G1 MSM of `2^log` uniform terms on `device` (bases resident) against Fornax's CPU
/// backend in the same run: how much the accelerator buys over the CPU.
pub fn msm_g1_on(device: &dyn Backend, log: u32, reps: usize, seed: u64) -> Row {
    let (bases, scalars) = msm_inputs(log, seed);
    let cpu = CpuBackend::new();
    let on_device = device.upload_g1(&bases).expect("device upload");
    let on_cpu = cpu.upload_g1(&bases).expect("CPU upload");
    let row = compare(
        "msm-g1",
        log,
        "fornax cpu:0",
        reps,
        || device.msm_g1(&on_device, &scalars).expect("device MSM"),
        || cpu.msm_g1(&on_cpu, &scalars).expect("CPU MSM"),
    );
    with_cycles(row, device)
}

/// G2 MSM of `2^log` uniform terms on `device` (bases resident) against Fornax's CPU backend.
pub fn msm_g2_on(device: &dyn Backend, log: u32, reps: usize, seed: u64) -> Row {
    let (bases, scalars) = msm_g2_inputs(log, seed);
    let cpu = CpuBackend::new();
    let on_device = device.upload_g2(&bases).expect("device upload");
    let on_cpu = cpu.upload_g2(&bases).expect("CPU upload");
    compare(
        "msm-g2",
        log,
        "fornax cpu:0",
        reps,
        || device.msm_g2(&on_device, &scalars).expect("device MSM"),
        || cpu.msm_g2(&on_cpu, &scalars).expect("CPU MSM"),
    )
}

/// Forward NTT of `2^log` elements on `device` (twiddles resident; the time includes moving
/// the values to the device and back) against Fornax's CPU backend.
pub fn ntt_on(device: &dyn Backend, log: u32, reps: usize, seed: u64) -> Row {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let input: Vec<Fr> = (0..1usize << log).map(|_| Fr::rand(&mut rng)).collect();
    let cpu = CpuBackend::new();
    let (dd, cd) = (
        device.ntt_domain(log).expect("device domain"),
        cpu.ntt_domain(log).expect("CPU domain"),
    );
    let (mut a, mut b) = (input.clone(), input);
    let row = compare(
        "ntt",
        log,
        "fornax cpu:0",
        reps,
        || {
            device
                .ntt(&dd, &mut a, NttKind::Forward)
                .expect("device NTT");
            a[a.len() / 3]
        },
        || {
            cpu.ntt(&cd, &mut b, NttKind::Forward).expect("CPU NTT");
            b[b.len() / 3]
        },
    );
    with_cycles(row, device)
}

/// Groth16 proving of a `2^log`-constraint circuit with its key prepared (resident) on
/// `device`, against the same prover on Fornax's CPU backend. Both proofs are verified.
pub fn groth16_on(device: Arc<dyn Backend>, log: u32, reps: usize, seed: u64) -> Row {
    let fx = groth16_fixture(log, seed);
    let vk = fx.key.verifying_key();
    let public = fx.witness[1..fx.r1cs.n_public() + 1].to_vec();
    let on = |b: Arc<dyn Backend>| LocalExecutor::new(DeviceRegistry::with_backends(vec![b]));
    let (dev_exec, cpu_exec) = (on(device), on(Arc::new(CpuBackend::new())));
    let dev_key = dev_exec
        .prepare("bench.zkey", fx.key.clone())
        .expect("prepare");
    let cpu_key = cpu_exec.prepare("bench.zkey", fx.key).expect("prepare");
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 1);
    let mut rng2 = ChaCha20Rng::seed_from_u64(seed ^ 2);
    let prove = |exec: &LocalExecutor, key, rng: &mut ChaCha20Rng| {
        let (proof, _, _) = exec.prove(key, fx.witness.clone(), rng).expect("proof");
        fornax_prover::verify(&vk, &public, &proof).expect("shapes match")
    };
    compare(
        "groth16",
        log,
        "fornax cpu:0",
        reps,
        || prove(&dev_exec, &dev_key, &mut rng),
        || prove(&cpu_exec, &cpu_key, &mut rng2),
    )
}

/// The benchmark plan of `fornax bench`.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// log2 sizes for G1 MSM.
    pub msm: Vec<u32>,
    /// log2 sizes for G2 MSM.
    pub msm_g2: Vec<u32>,
    /// log2 sizes for the NTT.
    pub ntt: Vec<u32>,
    /// log2 constraint counts for Groth16.
    pub groth16: Vec<u32>,
    /// Repetitions per size.
    pub reps: usize,
    /// Seed of the inputs.
    pub seed: u64,
}

/// Runs a plan on `device` against the CPU backend ([`msm_g1_on`], [`msm_g2_on`], [`ntt_on`],
/// [`groth16_on`]), calling `report` after each row.
pub fn run_on(plan: &Plan, device: Arc<dyn Backend>, mut report: impl FnMut(&Row)) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        report(&row);
        rows.push(row);
    };
    for &log in &plan.msm {
        push(msm_g1_on(device.as_ref(), log, plan.reps, plan.seed));
    }
    for &log in &plan.msm_g2 {
        push(msm_g2_on(device.as_ref(), log, plan.reps, plan.seed));
    }
    for &log in &plan.ntt {
        push(ntt_on(device.as_ref(), log, plan.reps, plan.seed));
    }
    for &log in &plan.groth16 {
        push(groth16_on(Arc::clone(&device), log, plan.reps, plan.seed));
    }
    rows
}

/// Runs a plan on the CPU backend against arkworks, calling `report` after each row.
pub fn run(plan: &Plan, mut report: impl FnMut(&Row)) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        report(&row);
        rows.push(row);
    };
    for &log in &plan.msm {
        push(msm_g1(log, plan.reps, plan.seed));
    }
    for &log in &plan.msm_g2 {
        push(msm_g2(log, plan.reps, plan.seed));
    }
    for &log in &plan.ntt {
        push(ntt(log, plan.reps, plan.seed));
    }
    for &log in &plan.groth16 {
        push(groth16(log, plan.reps, plan.seed));
    }
    rows
}
