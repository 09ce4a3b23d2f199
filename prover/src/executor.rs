//! Runs Groth16 job graphs on this machine's backends.
//!
//! A [`PreparedKey`] holds a proving key with its bases resident on the chosen backend and
//! its coefficients arranged by row, so that many proofs reuse one upload. The
//! [`LocalExecutor`] runs a task's graph wave by wave; the jobs of a wave run concurrently.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{UniformRand, Zero};
use fornax_kernels::{Backend, Bases, DeviceRegistry, NttDomain, NttKind, G1, G2};
use rand::{CryptoRng, RngCore};
use rayon::prelude::*;

use crate::graph::{Job, JobGraph, JobKind, Poly, Query, Shape};
use crate::verify::{verify, Proof, VerifyingKey};
use crate::zkey::ProvingKey;
use crate::ProverError;

/// One matrix's entries grouped by row.
struct Rows {
    starts: Vec<usize>,
    entries: Vec<(u32, Fr)>,
}

impl Rows {
    fn new(key: &ProvingKey, matrix: u8) -> Self {
        let mut counts = vec![0usize; key.domain_size + 1];
        for c in key.coefs.iter().filter(|c| c.matrix == matrix) {
            counts[c.row as usize + 1] += 1;
        }
        for i in 0..key.domain_size {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut entries = vec![(0u32, Fr::zero()); counts[key.domain_size]];
        for c in key.coefs.iter().filter(|c| c.matrix == matrix) {
            entries[next[c.row as usize]] = (c.signal, c.value);
            next[c.row as usize] += 1;
        }
        Rows {
            starts: counts,
            entries,
        }
    }

    /// `out[row] = Σ value·w[signal]` over the row's entries.
    fn evaluate(&self, w: &[Fr], out: &mut [Fr]) {
        out.par_iter_mut()
            .enumerate()
            .with_min_len(1 << 10)
            .for_each(|(row, o)| {
                *o = self.entries[self.starts[row]..self.starts[row + 1]]
                    .iter()
                    .map(|(s, v)| w[*s as usize] * v)
                    .sum();
            });
    }
}

/// Runs `f` on `backend`'s own threads if it has them, else here.
fn on_threads_of<T: Send>(backend: &Arc<dyn Backend>, f: impl FnOnce() -> T + Send) -> T {
    match backend.thread_pool() {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// About how many threads one job keeps busy (an MSM has a window per 13 to 16 bits of its
/// scalars); see [`LocalExecutor::execute`].
const JOB_PARALLELISM: usize = 16;

/// A proving key prepared for proving: bases resident on a backend, rows indexed.
pub struct PreparedKey {
    name: String,
    shape: Shape,
    assembler: Assembler,
    rows_a: Rows,
    rows_b: Rows,
    backend: Arc<dyn Backend>,
    domain: NttDomain,
    a: Bases<G1>,
    b1: Bases<G1>,
    b2: Bases<G2>,
    c: Bases<G1>,
    h: Bases<G1>,
}

impl PreparedKey {
    /// Uploads the key's bases and twiddles to `backend`. `name` identifies the key in errors.
    /// The key's point vectors are released as they are uploaded.
    pub fn new(
        name: &str,
        key: ProvingKey,
        backend: Arc<dyn Backend>,
    ) -> Result<Self, ProverError> {
        let shape = Shape {
            n_vars: key.n_vars,
            n_public: key.n_public,
            domain_size: key.domain_size,
        };
        let rows_a = Rows::new(&key, 0);
        let rows_b = Rows::new(&key, 1);
        let domain = backend.ntt_domain(key.log_domain())?;
        let ProvingKey {
            alpha1,
            beta1,
            beta2,
            gamma2,
            delta1,
            delta2,
            ic,
            a,
            b1,
            b2,
            c,
            h,
            coefs,
            ..
        } = key;
        // The rows hold what proving needs of the coefficients.
        drop(coefs);
        let vk = VerifyingKey {
            alpha1,
            beta2,
            gamma2,
            delta2,
            ic,
        };
        // Each vector moves into its upload: a backend in host memory keeps it, no copy,
        // and a device's host copy is freed as soon as it is up.
        let a = backend.upload_g1_owned(a)?;
        let b1 = backend.upload_g1_owned(b1)?;
        let b2 = backend.upload_g2_owned(b2)?;
        let c = backend.upload_g1_owned(c)?;
        let h = backend.upload_g1_owned(h)?;
        Ok(PreparedKey {
            name: name.to_string(),
            shape,
            assembler: Assembler {
                name: name.to_string(),
                vk,
                alpha1,
                beta1,
                delta1,
                beta2,
                delta2,
            },
            rows_a,
            rows_b,
            backend,
            domain,
            a,
            b1,
            b2,
            c,
            h,
        })
    }

    /// The key's verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.assembler.vk
    }

    /// What assembles this key's proofs from their parts.
    pub fn assembler(&self) -> &Assembler {
        &self.assembler
    }

    /// The sizes of the circuit.
    pub fn shape(&self) -> Shape {
        self.shape
    }
}

/// The points of a proof's five MSMs: what its parts compute, wherever they ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parts {
    /// Σ wᵢ·Aᵢ in G1.
    pub a: G1Projective,
    /// Σ wᵢ·Bᵢ in G1.
    pub b1: G1Projective,
    /// Σ wᵢ·Bᵢ in G2.
    pub b2: G2Projective,
    /// Σ wᵢ·Cᵢ over the private wires.
    pub c: G1Projective,
    /// Σ hᵢ·Hᵢ over the H evaluations.
    pub h: G1Projective,
}

/// The point one part of a proof computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartPoint {
    /// A G1 MSM's result.
    G1(G1Projective),
    /// The G2 MSM's result.
    G2(G2Projective),
}

impl PartPoint {
    /// Its compressed encoding (arkworks), as it travels between workers and the node.
    pub fn to_bytes(&self) -> Vec<u8> {
        use ark_serialize::CanonicalSerialize;
        let mut out = Vec::new();
        let written = match self {
            PartPoint::G1(p) => p.into_affine().serialize_compressed(&mut out),
            PartPoint::G2(p) => p.into_affine().serialize_compressed(&mut out),
        };
        written.expect("writing to a Vec cannot fail");
        out
    }

    /// Reads the point of part `query` (G2 for `B2`, else G1): on the curve, in the
    /// subgroup, no trailing bytes.
    pub fn from_bytes(query: Query, bytes: &[u8]) -> Result<PartPoint, ProverError> {
        use ark_serialize::CanonicalDeserialize;
        let bad = |e: ark_serialize::SerializationError| {
            ProverError::Graph(format!("part {query:?}: not a point: {e}"))
        };
        let mut reader = bytes;
        let point = match query {
            Query::B2 => PartPoint::G2(
                G2Affine::deserialize_compressed(&mut reader)
                    .map_err(bad)?
                    .into_group(),
            ),
            _ => PartPoint::G1(
                G1Affine::deserialize_compressed(&mut reader)
                    .map_err(bad)?
                    .into_group(),
            ),
        };
        if !reader.is_empty() {
            return Err(ProverError::Graph(format!(
                "part {query:?}: {} bytes after the point",
                reader.len()
            )));
        }
        Ok(point)
    }
}

/// What turns a proof's parts into the proof: the key's fixed points and its verifying key.
/// The worker that proves a whole graph uses it, and so does the node for a proof whose
/// parts ran on different workers.
#[derive(Clone, Debug)]
pub struct Assembler {
    name: String,
    vk: VerifyingKey,
    alpha1: G1Affine,
    beta1: G1Affine,
    delta1: G1Affine,
    beta2: G2Affine,
    delta2: G2Affine,
}

impl Assembler {
    /// The assembler of a proving key (`name` identifies it in errors).
    pub fn new(name: &str, key: &ProvingKey) -> Self {
        Assembler {
            name: name.to_string(),
            vk: VerifyingKey {
                alpha1: key.alpha1,
                beta2: key.beta2,
                gamma2: key.gamma2,
                delta2: key.delta2,
                ic: key.ic.clone(),
            },
            alpha1: key.alpha1,
            beta1: key.beta1,
            delta1: key.delta1,
            beta2: key.beta2,
            delta2: key.delta2,
        }
    }

    /// The key's verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.vk
    }

    /// The proof from its parts with blinding `(r, s)`, verified against `public`: a
    /// witness that does not satisfy the circuit (or a wrong part) is an error.
    pub fn assemble(
        &self,
        parts: &Parts,
        (r, s): (Fr, Fr),
        public: &[Fr],
    ) -> Result<Proof, ProverError> {
        let delta1 = self.delta1.into_group();
        let a = self.alpha1 + parts.a + delta1 * r;
        let b = self.beta2 + parts.b2 + self.delta2 * s;
        let b1 = self.beta1 + parts.b1 + delta1 * s;
        let c = parts.c + parts.h + a * s + b1 * r - delta1 * (r * s);
        let proof = Proof {
            a: a.into_affine(),
            b: b.into_affine(),
            c: c.into_affine(),
        };
        if !verify(&self.vk, public, &proof)? {
            return Err(ProverError::UnsatisfiedWitness {
                zkey: self.name.clone(),
            });
        }
        Ok(proof)
    }

    /// Fresh blinding for [`assemble`](Self::assemble).
    pub fn blinding<R: RngCore + CryptoRng>(rng: &mut R) -> (Fr, Fr) {
        (Fr::rand(rng), Fr::rand(rng))
    }
}

/// How long each job took, and on which device.
#[derive(Clone, Debug, Default)]
pub struct ProveTimings {
    /// (job role, device id, duration) in completion order.
    pub jobs: Vec<(String, String, Duration)>,
    /// Wall time of the whole graph.
    pub total: Duration,
}

/// A value passed between jobs.
enum Value {
    Witness(Arc<Vec<Fr>>),
    Scalars(Vec<Fr>),
    /// A, B and C on the domain; each is taken by its own inverse-NTT job.
    Polys([Option<Vec<Fr>>; 3]),
    G1(G1Projective),
    G2(G2Projective),
    Proof(Proof),
}

/// Runs job graphs on this machine's devices.
pub struct LocalExecutor {
    registry: DeviceRegistry,
}

impl LocalExecutor {
    /// An executor over the given registry.
    pub fn new(registry: DeviceRegistry) -> Self {
        LocalExecutor { registry }
    }

    /// Prepares a key on the registry's preferred backend (on its threads, where it has
    /// its own: [`Backend::thread_pool`]).
    pub fn prepare(&self, name: &str, key: ProvingKey) -> Result<PreparedKey, ProverError> {
        let backend = self.registry.preferred();
        on_threads_of(&backend, || {
            PreparedKey::new(name, key, Arc::clone(&backend))
        })
    }

    /// Proves one witness: returns the proof and the public signals. The proof is verified
    /// before it is returned, so a witness that does not satisfy the circuit is an error.
    pub fn prove<R: RngCore + CryptoRng>(
        &self,
        key: &PreparedKey,
        witness: Vec<Fr>,
        rng: &mut R,
    ) -> Result<(Proof, Vec<Fr>, ProveTimings), ProverError> {
        let graph = JobGraph::groth16("local", key.shape);
        self.run(&graph, key, witness, rng)
    }

    /// Runs a Groth16 graph built by [`JobGraph::groth16`] for this key.
    pub fn run<R: RngCore + CryptoRng>(
        &self,
        graph: &JobGraph,
        key: &PreparedKey,
        witness: Vec<Fr>,
        rng: &mut R,
    ) -> Result<(Proof, Vec<Fr>, ProveTimings), ProverError> {
        self.run_observed(graph, key, witness, rng, &|_, _, _| {})
    }

    /// [`run`](Self::run), calling `on_job(job, device, duration)` as each job finishes
    /// (from the thread that ran it), e.g. to report progress.
    pub fn run_observed<R: RngCore + CryptoRng>(
        &self,
        graph: &JobGraph,
        key: &PreparedKey,
        witness: Vec<Fr>,
        rng: &mut R,
        on_job: &(dyn Fn(&Job, &str, Duration) + Sync),
    ) -> Result<(Proof, Vec<Fr>, ProveTimings), ProverError> {
        let blinding = Assembler::blinding(rng);
        let (mut store, timings) = on_threads_of(&key.backend, || {
            self.execute(graph, key, witness, blinding, on_job)
        })?;
        let proof = match store.remove(&JobKind::Assemble) {
            Some(Value::Proof(p)) => p,
            _ => return Err(ProverError::Graph("the graph has no assemble job".into())),
        };
        let public = match store.remove(&JobKind::Witness) {
            Some(Value::Witness(w)) => w[1..=key.shape.n_public].to_vec(),
            _ => return Err(ProverError::Graph("the witness went missing".into())),
        };
        Ok((proof, public, timings))
    }

    /// Computes one part of a proof on its own (the MSM over `part`'s query, and for `H`
    /// the evaluations and NTTs under it), for a proof whose parts run on different
    /// workers; the node assembles them ([`Assembler::assemble`]).
    pub fn run_part(
        &self,
        task: &str,
        key: &PreparedKey,
        witness: Vec<Fr>,
        part: Query,
    ) -> Result<(PartPoint, ProveTimings), ProverError> {
        let graph = JobGraph::groth16(task, key.shape).upto(JobKind::Msm(part));
        let no_blinding = (Fr::zero(), Fr::zero());
        let (mut store, timings) = on_threads_of(&key.backend, || {
            self.execute(&graph, key, witness, no_blinding, &|_, _, _| {})
        })?;
        let point = match store.remove(&JobKind::Msm(part)) {
            Some(Value::G1(p)) => PartPoint::G1(p),
            Some(Value::G2(p)) => PartPoint::G2(p),
            _ => {
                return Err(ProverError::Graph(format!(
                    "part {part:?} computed nothing"
                )))
            }
        };
        Ok((point, timings))
    }

    /// Runs `graph` wave by wave (the jobs of a wave side by side on a large pool, one after
    /// another on a small one); returns every job's value. Callers run it on the device's
    /// threads where it has its own ([`on_threads_of`]): all of a proof's work, the kernels
    /// and the prover's own loops, so that lanes of one CPU do not share threads.
    fn execute(
        &self,
        graph: &JobGraph,
        key: &PreparedKey,
        witness: Vec<Fr>,
        blinding: (Fr, Fr),
        on_job: &(dyn Fn(&Job, &str, Duration) + Sync),
    ) -> Result<(HashMap<JobKind, Value>, ProveTimings), ProverError> {
        graph.validate().map_err(ProverError::Graph)?;
        let start = Instant::now();
        let store: Mutex<HashMap<JobKind, Value>> = Mutex::new(HashMap::new());
        store
            .lock()
            .expect("fresh lock")
            .insert(JobKind::Witness, Value::Witness(Arc::new(witness)));
        let timings = Mutex::new(Vec::new());
        let run = |job: &&Job| {
            let t = Instant::now();
            let value = self.run_job(job, key, &store, blinding)?;
            store
                .lock()
                .expect("no job panics while holding the lock")
                .insert(job.kind, value);
            let device = key.backend.info().id.to_string();
            let elapsed = t.elapsed();
            on_job(job, &device, elapsed);
            timings
                .lock()
                .expect("no job panics while holding the lock")
                .push((job.kind.role(), device, elapsed));
            Ok::<_, ProverError>(())
        };
        // Every job is parallel inside (an MSM over its windows, an NTT over its
        // butterflies). Jobs of a wave run side by side only where the pool has more threads
        // than one job fills; on fewer, one after another they take the same time and hold
        // one job's working memory (an MSM's digits and buckets) instead of a wave's.
        let side_by_side = rayon::current_num_threads() > JOB_PARALLELISM;
        for wave in graph.waves() {
            if side_by_side {
                wave.par_iter().try_for_each(run)?;
            } else {
                wave.iter().try_for_each(run)?;
            }
        }
        let store = store
            .into_inner()
            .expect("no job panics while holding the lock");
        let timings = ProveTimings {
            jobs: timings.into_inner().expect("unpoisoned"),
            total: start.elapsed(),
        };
        Ok((store, timings))
    }

    fn run_job(
        &self,
        job: &Job,
        key: &PreparedKey,
        store: &Mutex<HashMap<JobKind, Value>>,
        (r, s): (Fr, Fr),
    ) -> Result<Value, ProverError> {
        let be = &key.backend;
        let shape = key.shape;
        let witness = || match store.lock().expect("unpoisoned").get(&JobKind::Witness) {
            Some(Value::Witness(w)) => Ok(Arc::clone(w)),
            _ => Err(ProverError::Graph(format!("{}: no witness", job.id))),
        };
        let take = |kind: JobKind| match store.lock().expect("unpoisoned").remove(&kind) {
            Some(Value::Scalars(v)) => Ok(v),
            _ => Err(ProverError::Graph(format!(
                "{}: input {} missing",
                job.id,
                kind.role()
            ))),
        };
        let g1 = |kind: JobKind| match store.lock().expect("unpoisoned").get(&kind) {
            Some(Value::G1(p)) => Ok(*p),
            _ => Err(ProverError::Graph(format!(
                "{}: input {} missing",
                job.id,
                kind.role()
            ))),
        };
        let take_poly = |p: Poly| {
            let index = match p {
                Poly::A => 0,
                Poly::B => 1,
                Poly::C => 2,
            };
            match store
                .lock()
                .expect("unpoisoned")
                .get_mut(&JobKind::Evaluations)
            {
                Some(Value::Polys(polys)) => polys[index].take(),
                _ => None,
            }
            .ok_or_else(|| ProverError::Graph(format!("{}: evaluations missing", job.id)))
        };
        Ok(match job.kind {
            JobKind::Witness => {
                let w = witness()?;
                if w.len() != shape.n_vars {
                    return Err(ProverError::Mismatch(format!(
                        "the witness has {} values but {} expects {} (a witness for another circuit?)",
                        w.len(),
                        key.name,
                        shape.n_vars
                    )));
                }
                Value::Witness(w)
            }
            JobKind::Evaluations => {
                let w = witness()?;
                let n = shape.domain_size;
                let (mut a, mut b) = (vec![Fr::zero(); n], vec![Fr::zero(); n]);
                rayon::join(
                    || key.rows_a.evaluate(&w, &mut a),
                    || key.rows_b.evaluate(&w, &mut b),
                );
                let c: Vec<Fr> = a.par_iter().zip(&b).map(|(x, y)| *x * y).collect();
                Value::Polys([Some(a), Some(b), Some(c)])
            }
            JobKind::Intt(p) => {
                let mut v = take_poly(p)?;
                be.ntt(&key.domain, &mut v, NttKind::Inverse)?;
                Value::Scalars(v)
            }
            JobKind::CosetNtt(p) => {
                let mut v = take(JobKind::Intt(p))?;
                be.ntt(
                    &key.domain,
                    &mut v,
                    NttKind::CosetForward(key.domain.groth16_coset_shift()),
                )?;
                Value::Scalars(v)
            }
            JobKind::HEvals => {
                let a = take(JobKind::CosetNtt(Poly::A))?;
                let b = take(JobKind::CosetNtt(Poly::B))?;
                let c = take(JobKind::CosetNtt(Poly::C))?;
                Value::Scalars(
                    a.par_iter()
                        .zip(&b)
                        .zip(&c)
                        .map(|((a, b), c)| *a * b - c)
                        .collect(),
                )
            }
            JobKind::Msm(q) => match q {
                Query::A => Value::G1(be.msm_g1(&key.a, &witness()?)?),
                Query::B1 => Value::G1(be.msm_g1(&key.b1, &witness()?)?),
                Query::B2 => Value::G2(be.msm_g2(&key.b2, &witness()?)?),
                Query::C => Value::G1(be.msm_g1(&key.c, &witness()?[shape.n_public + 1..])?),
                Query::H => Value::G1(be.msm_g1(&key.h, &take(JobKind::HEvals)?)?),
            },
            JobKind::Assemble => {
                let b2 = match store
                    .lock()
                    .expect("unpoisoned")
                    .get(&JobKind::Msm(Query::B2))
                {
                    Some(Value::G2(p)) => *p,
                    _ => {
                        return Err(ProverError::Graph(format!(
                            "{}: input msm-b2 missing",
                            job.id
                        )))
                    }
                };
                let parts = Parts {
                    a: g1(JobKind::Msm(Query::A))?,
                    b1: g1(JobKind::Msm(Query::B1))?,
                    b2,
                    c: g1(JobKind::Msm(Query::C))?,
                    h: g1(JobKind::Msm(Query::H))?,
                };
                let w = witness()?;
                let proof = key
                    .assembler
                    .assemble(&parts, (r, s), &w[1..=shape.n_public])?;
                Value::Proof(proof)
            }
        })
    }
}
