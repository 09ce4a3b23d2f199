//! Fornax's benchmarks, always side by side with a peer in the same run.
//!
//! The functions here are shared by the criterion benches (`cargo bench -p fornax-bench`)
//! and by `fornax bench`, which prints a table and writes JSON with device, commit and
//! command. Each measurement runs a device's kernels (the CPU backend by default) beside a
//! [`Peer`] (arkworks, or Fornax's own CPU backend when an accelerator is measured),
//! interleaved repetition by repetition, and reports medians, so machine noise hits both
//! sides alike. A size the device cannot run, or two sides that disagree, is a
//! [`BenchError`], not a panic.

pub mod ark_circom_reduction;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::VariableBaseMSM;
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use fornax_kernels::conformance::{random_points, random_scalars, PointShape, ScalarShape};
use fornax_kernels::{
    Backend, Bases, CpuBackend, DeviceRegistry, KernelError, NttBackend, NttKind, G1, G2,
};
use fornax_prover::{setup, synthetic, LocalExecutor, PreparedKey, ProverError, ProvingKey};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

pub use ark_circom_reduction::{
    ark_matrices, ark_prove, to_ark_key, zkey_matrices, CircomReduction,
};

/// What Fornax's kernels are compared with, in the same run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// arkworks itself: `VariableBaseMSM::msm`, `Radix2EvaluationDomain::fft_in_place`, and
    /// ark-groth16 with the circom reduction.
    Arkworks,
    /// Fornax's own CPU backend: what an accelerator buys over the CPU.
    FornaxCpu,
}

impl Peer {
    /// The peer's short name, as `--peer` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Arkworks => "arkworks",
            Peer::FornaxCpu => "cpu",
        }
    }
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A kernel (on the device measured, or on the CPU peer) refused or failed the work,
    /// e.g. a size the device cannot run.
    #[error("{bench} 2^{log_size} on {device}: {source}")]
    Kernel {
        /// What was measured.
        bench: &'static str,
        /// log2 of its size.
        log_size: u32,
        /// The device that failed.
        device: String,
        /// Its error.
        #[source]
        source: KernelError,
    },
    /// The prover failed.
    #[error("{bench} 2^{log_size} on {device}: {source}")]
    Prover {
        /// What was measured.
        bench: &'static str,
        /// log2 of its size.
        log_size: u32,
        /// The device the prover ran on.
        device: String,
        /// Its error.
        #[source]
        source: ProverError,
    },
    /// A size that has no such computation (an NTT beyond BN254's 2^28 roots of unity).
    #[error("{bench} 2^{log_size}: {why}")]
    Size {
        /// What was asked for.
        bench: &'static str,
        /// log2 of its size.
        log_size: u32,
        /// Why it cannot be measured.
        why: String,
    },
    /// The two sides computed different results (or a proof that does not verify): a bug
    /// in one of them.
    #[error("{bench} 2^{log_size}: Fornax and {peer} disagree")]
    Disagree {
        /// What was measured.
        bench: &'static str,
        /// log2 of its size.
        log_size: u32,
        /// The peer.
        peer: String,
    },
}

/// One comparison: the same work done by Fornax and by the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What was measured (`msm-g1`, `msm-g2`, `ntt`, `groth16`).
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

fn time<T>(f: impl FnOnce() -> Result<T, BenchError>) -> Result<(T, Duration), BenchError> {
    let t = Instant::now();
    let out = f()?;
    Ok((out, t.elapsed()))
}

/// What one comparison measures, for its row and its errors.
#[derive(Clone, Copy)]
struct Subject<'a> {
    bench: &'static str,
    log_size: u32,
    /// The device whose cycle count the row reports, where the work is one kernel the
    /// device runs itself (not a whole proof, nor a kernel it composes onto the CPU, which
    /// would leave its last count of other work in place).
    counted: Option<&'a dyn Backend>,
}

impl Subject<'_> {
    /// Wraps an error of a kernel of `on` (the device, or the CPU peer).
    fn kernel(self, on: &dyn Backend) -> impl Fn(KernelError) -> BenchError {
        let (bench, log_size, device) = (self.bench, self.log_size, on.info().id.to_string());
        move |source| BenchError::Kernel {
            bench,
            log_size,
            device: device.clone(),
            source,
        }
    }

    /// Wraps an error of the prover on `on`.
    fn prover(self, on: &dyn Backend) -> impl Fn(ProverError) -> BenchError {
        let (bench, log_size, device) = (self.bench, self.log_size, on.info().id.to_string());
        move |source| BenchError::Prover {
            bench,
            log_size,
            device: device.clone(),
            source,
        }
    }

    /// Runs `fornax` and `base` alternately `reps` times, checking that each pair agrees,
    /// and reports the medians (with the device's cycle count, where it keeps one).
    fn compare<T: PartialEq>(
        self,
        baseline: &str,
        reps: usize,
        mut fornax: impl FnMut() -> Result<T, BenchError>,
        mut base: impl FnMut() -> Result<T, BenchError>,
    ) -> Result<Row, BenchError> {
        let (mut f, mut b) = (Vec::new(), Vec::new());
        for _ in 0..reps.max(1) {
            let (x, tf) = time(&mut fornax)?;
            let cycles = self.counted.and_then(|d| d.last_run_cycles());
            let (y, tb) = time(&mut base)?;
            if x != y {
                return Err(BenchError::Disagree {
                    bench: self.bench,
                    log_size: self.log_size,
                    peer: baseline.into(),
                });
            }
            f.push((tf, cycles));
            b.push(tb);
        }
        let device_cycles = f.last().and_then(|&(_, c)| c);
        let (fornax_s, baseline_s) = (median(f.into_iter().map(|(t, _)| t).collect()), median(b));
        Ok(Row {
            bench: self.bench.into(),
            log_size: self.log_size,
            fornax_s,
            baseline: baseline.into(),
            baseline_s,
            speedup: baseline_s / fornax_s,
            reps: reps.max(1),
            device_cycles,
        })
    }
}

/// The peer's name in a row when it is Fornax's CPU backend.
const FORNAX_CPU: &str = "fornax cpu:0";

/// `2^log` random distinct points and uniform scalars (G1 or G2).
fn msm_terms<C: SWCurveConfig>(log: u32, seed: u64) -> (Vec<Affine<C>>, Vec<Fr>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 1usize << log;
    (
        random_points(&mut rng, n, PointShape::Distinct),
        random_scalars(&mut rng, n, ScalarShape::Uniform),
    )
}

/// Inputs for an MSM of `2^log` uniform terms.
pub fn msm_inputs(log: u32, seed: u64) -> (Vec<G1Affine>, Vec<Fr>) {
    msm_terms(log, seed)
}

/// Inputs for a G2 MSM of `2^log` uniform terms.
pub fn msm_g2_inputs(log: u32, seed: u64) -> (Vec<G2Affine>, Vec<Fr>) {
    msm_terms(log, seed)
}

/// The kernels' calls for one group's MSM, so that one function benches G1 and G2.
trait MsmGroup: SWCurveConfig<ScalarField = Fr> {
    /// The bench's name for the group's MSM.
    const BENCH: &'static str;
    /// Whether a device's cycle count describes this MSM: the FPGA engines (the devices
    /// that count cycles) run G1 MSMs and compose G2 onto the CPU.
    const COUNTED: bool;
    /// Uploads `bases` to `device`.
    fn upload_bases(
        device: &dyn Backend,
        bases: &[Affine<Self>],
    ) -> Result<Bases<Self>, KernelError>;
    /// The MSM of `scalars` over resident `bases` on `device`.
    fn run_msm(
        device: &dyn Backend,
        bases: &Bases<Self>,
        scalars: &[Fr],
    ) -> Result<Projective<Self>, KernelError>;
}

impl MsmGroup for G1 {
    const BENCH: &'static str = "msm-g1";
    const COUNTED: bool = true;
    fn upload_bases(device: &dyn Backend, bases: &[G1Affine]) -> Result<Bases<G1>, KernelError> {
        device.upload_g1(bases)
    }
    fn run_msm(
        device: &dyn Backend,
        bases: &Bases<G1>,
        scalars: &[Fr],
    ) -> Result<G1Projective, KernelError> {
        device.msm_g1(bases, scalars)
    }
}

impl MsmGroup for G2 {
    const BENCH: &'static str = "msm-g2";
    const COUNTED: bool = false;
    fn upload_bases(device: &dyn Backend, bases: &[G2Affine]) -> Result<Bases<G2>, KernelError> {
        device.upload_g2(bases)
    }
    fn run_msm(
        device: &dyn Backend,
        bases: &Bases<G2>,
        scalars: &[Fr],
    ) -> Result<G2Projective, KernelError> {
        device.msm_g2(bases, scalars)
    }
}

/// An MSM of `2^log` uniform terms in `C` on `device` (bases resident) against `peer`:
/// arkworks' `VariableBaseMSM::msm`, or Fornax's CPU backend (bases resident too).
fn msm<C: MsmGroup>(
    device: &dyn Backend,
    peer: Peer,
    log: u32,
    reps: usize,
    seed: u64,
) -> Result<Row, BenchError> {
    let s = Subject {
        bench: C::BENCH,
        log_size: log,
        counted: C::COUNTED.then_some(device),
    };
    let (bases, scalars) = msm_terms::<C>(log, seed);
    let on_device = C::upload_bases(device, &bases).map_err(s.kernel(device))?;
    let fornax = || C::run_msm(device, &on_device, &scalars).map_err(s.kernel(device));
    match peer {
        Peer::Arkworks => s.compare("arkworks VariableBaseMSM", reps, fornax, || {
            Ok(Projective::<C>::msm(&bases, &scalars).expect("equal lengths"))
        }),
        Peer::FornaxCpu => {
            let cpu = CpuBackend::new();
            let on_cpu = C::upload_bases(&cpu, &bases).map_err(s.kernel(&cpu))?;
            s.compare(FORNAX_CPU, reps, fornax, || {
                C::run_msm(&cpu, &on_cpu, &scalars).map_err(s.kernel(&cpu))
            })
        }
    }
}

/// G1 MSM of `2^log` uniform terms on `device` (bases resident) against `peer`: arkworks'
/// `VariableBaseMSM::msm`, or Fornax's CPU backend (bases resident too).
pub fn msm_g1(
    device: &dyn Backend,
    peer: Peer,
    log: u32,
    reps: usize,
    seed: u64,
) -> Result<Row, BenchError> {
    msm::<G1>(device, peer, log, reps, seed)
}

/// G2 MSM of `2^log` uniform terms on `device` (bases resident) against `peer` (the Groth16
/// prover's B query is one).
pub fn msm_g2(
    device: &dyn Backend,
    peer: Peer,
    log: u32,
    reps: usize,
    seed: u64,
) -> Result<Row, BenchError> {
    msm::<G2>(device, peer, log, reps, seed)
}

/// Forward NTT of `2^log` elements on `device` (twiddles resident; on an accelerator the
/// time includes moving the values there and back) against `peer`: arkworks'
/// `Radix2EvaluationDomain::fft_in_place`, or Fornax's CPU backend.
pub fn ntt(
    device: &dyn Backend,
    peer: Peer,
    log: u32,
    reps: usize,
    seed: u64,
) -> Result<Row, BenchError> {
    let s = Subject {
        bench: "ntt",
        log_size: log,
        counted: Some(device),
    };
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let input: Vec<Fr> = (0..1usize << log).map(|_| Fr::rand(&mut rng)).collect();
    let domain = device.ntt_domain(log).map_err(s.kernel(device))?;
    let (mut a, mut b) = (input.clone(), input);
    let probe = a.len() / 3;
    let fornax = || {
        device
            .ntt(&domain, &mut a, NttKind::Forward)
            .map_err(s.kernel(device))?;
        Ok(a[probe])
    };
    match peer {
        Peer::Arkworks => {
            let ark = Radix2EvaluationDomain::<Fr>::new(1 << log).ok_or(BenchError::Size {
                bench: s.bench,
                log_size: log,
                why: "BN254's scalar field has roots of unity up to 2^28".into(),
            })?;
            s.compare("arkworks Radix2EvaluationDomain", reps, fornax, || {
                ark.fft_in_place(&mut b);
                Ok(b[probe])
            })
        }
        Peer::FornaxCpu => {
            let cpu = CpuBackend::new();
            let on_cpu = cpu.ntt_domain(log).map_err(s.kernel(&cpu))?;
            s.compare(FORNAX_CPU, reps, fornax, || {
                cpu.ntt(&on_cpu, &mut b, NttKind::Forward)
                    .map_err(s.kernel(&cpu))?;
                Ok(b[probe])
            })
        }
    }
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

/// Groth16 proving of a `2^log`-constraint circuit with its key prepared (resident) on
/// `device`, against `peer` with the same key: ark-groth16 with the circom reduction
/// (matrices prepared once), or Fornax's prover on its CPU backend. Every proof is
/// verified; the comparison checks validity, not equality (proofs are random).
pub fn groth16(
    device: Arc<dyn Backend>,
    peer: Peer,
    log: u32,
    reps: usize,
    seed: u64,
) -> Result<Row, BenchError> {
    let fx = groth16_fixture(log, seed);
    let vk = fx.key.verifying_key();
    let n_inputs = fx.r1cs.n_public() + 1;
    let public = fx.witness[1..n_inputs].to_vec();
    let on = |b: Arc<dyn Backend>| LocalExecutor::new(DeviceRegistry::with_backends(vec![b]));
    let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
    let s = Subject {
        bench: "groth16",
        log_size: log,
        counted: None,
    };
    let verified = |proof: &fornax_prover::Proof, on: &dyn Backend| {
        fornax_prover::verify(&vk, &public, proof).map_err(s.prover(on))
    };
    let prove =
        |exec: &LocalExecutor, key: &PreparedKey, on: &dyn Backend, rng: &mut ChaCha20Rng| {
            let (proof, _, _) = exec
                .prove(key, fx.witness.clone(), rng)
                .map_err(s.prover(on))?;
            verified(&proof, on)
        };
    let dev_exec = on(Arc::clone(&device));
    let dev_key = dev_exec
        .prepare("bench.zkey", fx.key.clone())
        .map_err(s.prover(device.as_ref()))?;
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 1);
    let mut rng2 = ChaCha20Rng::seed_from_u64(seed ^ 2);
    let fornax = || prove(&dev_exec, &dev_key, device.as_ref(), &mut rng);
    match peer {
        Peer::Arkworks => {
            let ark_pk = to_ark_key(&fx.key);
            let matrices = ark_matrices(&fx.r1cs);
            let n_constraints = fx.r1cs.constraints.len();
            s.compare("ark-groth16 (circom reduction)", reps, fornax, || {
                let (r, t) = (Fr::rand(&mut rng2), Fr::rand(&mut rng2));
                let proof = ark_groth16::Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                    &ark_pk,
                    r,
                    t,
                    &matrices,
                    n_inputs,
                    n_constraints,
                    &fx.witness,
                )
                .expect("a satisfied synthetic circuit proves");
                verified(
                    &fornax_prover::Proof {
                        a: proof.a,
                        b: proof.b,
                        c: proof.c,
                    },
                    cpu.as_ref(),
                )
            })
        }
        Peer::FornaxCpu => {
            let cpu_exec = on(Arc::clone(&cpu));
            let cpu_key = cpu_exec
                .prepare("bench.zkey", fx.key.clone())
                .map_err(s.prover(cpu.as_ref()))?;
            s.compare(FORNAX_CPU, reps, fornax, || {
                prove(&cpu_exec, &cpu_key, cpu.as_ref(), &mut rng2)
            })
        }
    }
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

/// Runs a plan on `device` against `peer` ([`msm_g1`], [`msm_g2`], [`ntt`], [`groth16`]),
/// calling `report` after each row; stops at the first comparison that cannot be made.
pub fn run(
    plan: &Plan,
    device: Arc<dyn Backend>,
    peer: Peer,
    mut report: impl FnMut(&Row),
) -> Result<Vec<Row>, BenchError> {
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        report(&row);
        rows.push(row);
    };
    let (d, reps, seed) = (device.as_ref(), plan.reps, plan.seed);
    for &log in &plan.msm {
        push(msm_g1(d, peer, log, reps, seed)?);
    }
    for &log in &plan.msm_g2 {
        push(msm_g2(d, peer, log, reps, seed)?);
    }
    for &log in &plan.ntt {
        push(ntt(d, peer, log, reps, seed)?);
    }
    for &log in &plan.groth16 {
        push(groth16(Arc::clone(&device), peer, log, reps, seed)?);
    }
    Ok(rows)
}
