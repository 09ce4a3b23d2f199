//! The worker runtime (`fornax worker --join nats://host:4222`): takes jobs that fit its
//! devices and memory from a [`Queue`], proves them (or, with FHE capability, evaluates FHE
//! tasks' `pbs` jobs), reports their outcomes.
//!
//! - **Devices.** Each of its devices is a lane with slots of its own: a worker with two
//!   GPUs (or a CPU split into lanes, `cpu:0,cpu:1`) runs two jobs at once, e.g. two parts
//!   of one proof, each on its own device. A circuit's key is prepared on a device the first
//!   time a job of that circuit runs there, and stays resident; heartbeats say which keys
//!   each device holds, for the planner's cost model.
//! - **Admission.** A slot asks only for jobs whose declared memory fits what its device's
//!   running jobs leave free (see [`crate::queue::MEMORY_TIERS`]).
//! - **Leases.** While a job runs, its delivery is kept alive with progress at a third of
//!   the lease; a worker that stops (killed, frozen) lets it lapse and another worker gets
//!   the job.
//! - **Outcomes before acknowledgements.** The outcome is published first and the job
//!   acknowledged after, so a worker that dies in between costs a second run, never a
//!   lost result. Bad input is terminated (its task fails); a retryable failure is
//!   given back with backoff.
//! - **Artifacts** (proving keys, witness generators, large inputs) come from the
//!   artifact store once, are checked against their content hash, kept in `cache_dir`,
//!   and the prepared key stays resident on the device for every later job of the circuit.
//! - **Heartbeats** into the worker registry carry its devices, load and running jobs.
//! - **Draining** ([`Worker::drain`], on SIGTERM): it finishes its jobs, takes no more,
//!   leaves the registry and returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use base64::Engine as _;
use fornax_kernels::DeviceRegistry;
use fornax_prover::graph::Query;
use fornax_prover::json::{public_to_json, ProofJson};
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{wtns, JobGraph, LocalExecutor, PreparedKey, ProverError, ProvingKey};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::queue::{
    Admission, Delivery, DeviceEntry, FheJob, JobInput, JobSpec, Outcome, OutcomeResult, PartTime,
    Queue, QueueError, RunningJob, WorkerInfo,
};
use crate::store::{self, StoredProof};
use crate::task::{now_ms, Failure, InputKind};

/// A circuit loaded for proving: its resident key and its witness generator.
pub struct LoadedCircuit {
    /// The prepared (resident) proving key.
    pub key: PreparedKey,
    /// The witness generator, if the circuit has one.
    pub calculator: Option<Mutex<WitnessCalculator>>,
}

impl LoadedCircuit {
    /// Parses a circuit's key and witness generator and prepares the key on `exec`'s
    /// preferred device.
    pub fn load(
        exec: &LocalExecutor,
        id: &str,
        zkey: &[u8],
        wasm: Option<&[u8]>,
        limits: witness::Limits,
    ) -> Result<Self, ProverError> {
        let pk = ProvingKey::from_bytes(&format!("{id}.zkey"), zkey)?;
        let key = exec.prepare(id, pk)?;
        let calculator = match wasm {
            Some(wasm) => Some(Mutex::new(WitnessCalculator::from_bytes_with(
                &format!("{id}.wasm"),
                wasm,
                limits,
            )?)),
            None => None,
        };
        Ok(LoadedCircuit { key, calculator })
    }
}

/// Why a proving attempt failed.
pub(crate) struct AttemptError {
    /// The failure, as the task records it.
    pub(crate) failure: Failure,
    /// Whether another attempt may succeed.
    pub(crate) retryable: bool,
}

impl AttemptError {
    fn fatal(code: &str, message: impl Into<String>) -> Self {
        AttemptError {
            failure: Failure {
                code: code.into(),
                message: message.into(),
            },
            retryable: false,
        }
    }
}

/// A prover error as a task failure: an unsatisfied witness is the client's, the rest
/// is retried if the error says so.
fn prover_failure(e: ProverError) -> AttemptError {
    match e {
        ProverError::UnsatisfiedWitness { .. } => AttemptError::fatal(
            "unsatisfied_witness",
            "the witness does not satisfy the circuit: the proof fails verification",
        ),
        e => AttemptError {
            retryable: e.is_retryable(),
            failure: Failure {
                code: "prover_error".into(),
                message: e.to_string(),
            },
        },
    }
}

/// The witness of a task from its input: a `.wtns` file as is, or JSON inputs through the
/// circuit's witness generator, stopped at `deadline` (the job's timeout) as a retryable
/// `timeout`; checked against the circuit's wire count.
fn compute_witness(
    task: &str,
    kind: InputKind,
    circuit: &LoadedCircuit,
    input: &[u8],
    deadline: Option<Instant>,
) -> Result<Vec<Fr>, AttemptError> {
    let name = format!("task {task} input");
    let w = match kind {
        InputKind::Wtns => wtns::from_bytes(&name, input)
            .map_err(|e| AttemptError::fatal("invalid_witness", e.to_string()))?,
        InputKind::Json => {
            let calculator = circuit.calculator.as_ref().ok_or_else(|| {
                AttemptError::fatal("invalid_input", "the circuit has no witness generator")
            })?;
            let json: serde_json::Value = serde_json::from_slice(input)
                .map_err(|e| AttemptError::fatal("invalid_input", e.to_string()))?;
            let inputs = witness::parse_inputs(&name, &json)
                .map_err(|e| AttemptError::fatal("invalid_input", e.to_string()))?;
            calculator
                .lock()
                .expect("calculator lock")
                .calculate_until(&name, &inputs, deadline)
                .map_err(|e| match e {
                    ProverError::Deadline { .. } => retryable("timeout", e.to_string()),
                    e => AttemptError::fatal("witness_generation_failed", e.to_string()),
                })?
        }
    };
    check_wire_count(w, circuit)
}

/// `w` if it has one value per wire of `circuit`, else the `invalid_witness` failure.
fn check_wire_count(w: Vec<Fr>, circuit: &LoadedCircuit) -> Result<Vec<Fr>, AttemptError> {
    let wires = circuit.key.shape().n_vars;
    if w.len() != wires {
        return Err(AttemptError::fatal(
            "invalid_witness",
            format!(
                "the witness has {} values; the circuit has {wires} wires",
                w.len()
            ),
        ));
    }
    Ok(w)
}

/// A worker's FHE capability: it takes `pbs` jobs and evaluates them on `device`.
#[derive(Clone, Copy, Debug)]
pub struct FheCapability {
    /// Where programs run.
    pub device: fornax_fhe::device::Device,
    /// Threads for the jobs of a batch (on the CPU).
    pub threads: usize,
}

/// A key set loaded for evaluation: its parameters and its evaluation keys on the device.
struct FheKeys {
    public: fornax_fhe::PublicKeySet,
    evaluator: Box<dyn fornax_fhe::device::Evaluate>,
}

/// How a worker runs.
pub struct WorkerConfig {
    /// Its id in the registry [default: `<host>-<pid>-<random>`].
    pub id: Option<String>,
    /// The devices it proves on, each running jobs of its own.
    pub registry: DeviceRegistry,
    /// Memory each device admits jobs against [default: the device's own].
    pub memory_bytes: Option<u64>,
    /// Jobs at once on each device.
    pub slots: u32,
    /// Where downloaded artifacts are kept.
    pub cache_dir: PathBuf,
    /// With FHE capability: it also takes FHE tasks' `pbs` jobs.
    pub fhe: Option<FheCapability>,
    /// What a circuit's witness generator may spend (instructions, memory).
    pub witness_limits: witness::Limits,
}

/// Counters a worker keeps (also in its heartbeats).
#[derive(Default)]
pub struct WorkerStats {
    /// Jobs finished, whatever their outcome.
    pub done: AtomicU64,
    /// Jobs proved.
    pub proved: AtomicU64,
    /// Artifacts downloaded from the artifact store.
    pub downloads: AtomicU64,
    /// Circuits prepared on the device.
    pub prepared: AtomicU64,
}

/// One device of a worker and what runs on it: its slots take jobs for it alone.
struct Lane {
    /// What the registry heartbeats say of it (without its resident keys).
    entry: DeviceEntry,
    /// Runs proofs on this device only.
    exec: Arc<LocalExecutor>,
    /// Memory its jobs are admitted against.
    memory_bytes: u64,
    /// Memory promised to its running jobs.
    reserved: Mutex<u64>,
    /// Circuits prepared on this device (their keys resident), once each.
    circuits: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<LoadedCircuit>>>>>,
}

impl Lane {
    /// Circuits whose keys are resident on this device now.
    fn resident(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .circuits
            .lock()
            .expect("circuits lock")
            .iter()
            .filter(|(_, cell)| cell.initialized())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }
}

/// A worker.
pub struct Worker {
    queue: Arc<dyn Queue>,
    id: String,
    host: String,
    /// Its devices, each with slots of its own.
    lanes: Vec<Lane>,
    classes: Vec<String>,
    slots: u32,
    cache_dir: PathBuf,
    witness_limits: witness::Limits,
    fhe: Option<FheCapability>,
    /// Key sets by artifact name, their evaluation keys loaded once.
    fhe_keys: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Arc<FheKeys>>>>>,
    kinds: Vec<String>,
    /// One slot asks the queue at a time, so two do not both count the same free memory.
    taking: tokio::sync::Mutex<()>,
    running: Mutex<HashMap<u64, RunningJob>>,
    /// Attempts past their timeout that have not returned.
    stalled: AtomicU32,
    draining: AtomicBool,
    /// Counters.
    pub stats: WorkerStats,
}

impl Worker {
    /// A worker on `queue`.
    pub fn new(queue: Arc<dyn Queue>, config: WorkerConfig) -> std::io::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.cache_dir)?;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let id = config.id.unwrap_or_else(|| {
            format!(
                "{host}-{}-{:06x}",
                std::process::id(),
                rand::random::<u32>() & 0xffffff
            )
        });
        if config.registry.backends().is_empty() {
            return Err(std::io::Error::other("a worker needs at least one device"));
        }
        let lanes: Vec<Lane> = config
            .registry
            .backends()
            .iter()
            .map(|b| {
                let info = b.info();
                Lane {
                    entry: DeviceEntry {
                        id: info.id.to_string(),
                        name: info.name.clone(),
                        kind: info.kind.to_string(),
                        memory_bytes: info.memory_bytes,
                        resident: Vec::new(),
                    },
                    exec: Arc::new(LocalExecutor::new(DeviceRegistry::with_backends(vec![
                        Arc::clone(b),
                    ]))),
                    memory_bytes: config.memory_bytes.unwrap_or(info.memory_bytes),
                    reserved: Mutex::new(0),
                    circuits: Mutex::new(HashMap::new()),
                }
            })
            .collect();
        let mut classes: Vec<String> = lanes.iter().map(|l| l.entry.kind.clone()).collect();
        classes.sort();
        classes.dedup();
        Ok(Arc::new(Worker {
            queue,
            id,
            host,
            lanes,
            classes,
            slots: config.slots.max(1),
            cache_dir: config.cache_dir,
            witness_limits: config.witness_limits,
            fhe: config.fhe,
            fhe_keys: Mutex::new(HashMap::new()),
            kinds: std::iter::once("groth16")
                .chain(config.fhe.map(|_| "pbs"))
                .map(String::from)
                .collect(),
            taking: tokio::sync::Mutex::new(()),
            running: Mutex::new(HashMap::new()),
            stalled: AtomicU32::new(0),
            draining: AtomicBool::new(false),
            stats: WorkerStats::default(),
        }))
    }

    /// Its id in the registry.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its devices, each with the circuits resident on it now.
    pub fn devices(&self) -> Vec<DeviceEntry> {
        self.lanes
            .iter()
            .map(|l| DeviceEntry {
                resident: l.resident(),
                ..l.entry.clone()
            })
            .collect()
    }

    /// The most memory one job may declare here: the largest device's.
    pub fn memory_bytes(&self) -> u64 {
        self.lanes.iter().map(|l| l.memory_bytes).max().unwrap_or(0)
    }

    /// Jobs it runs at once: its slots on each device.
    pub fn slots(&self) -> u32 {
        self.slots * self.lanes.len() as u32
    }

    /// Finish the running jobs, take no more; [`run`](Self::run) then returns.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether it was asked to drain.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    fn info(&self) -> WorkerInfo {
        let running: Vec<RunningJob> = self
            .running
            .lock()
            .expect("running lock")
            .values()
            .cloned()
            .collect();
        WorkerInfo {
            id: self.id.clone(),
            host: self.host.clone(),
            devices: self.devices(),
            memory_bytes: self.memory_bytes(),
            slots: self.slots(),
            busy: running.len() as u32,
            done: self.stats.done.load(Ordering::Relaxed),
            running,
            draining: self.is_draining(),
            stalled: self.stalled.load(Ordering::SeqCst),
            version: env!("CARGO_PKG_VERSION").into(),
            heartbeat_ms: now_ms(),
        }
    }

    /// Runs until drained.
    pub async fn run(self: Arc<Self>) {
        let beat = {
            let me = Arc::clone(&self);
            tokio::spawn(async move { me.heartbeats().await })
        };
        let slots: Vec<_> = (0..self.lanes.len())
            .flat_map(|lane| std::iter::repeat_n(lane, self.slots as usize))
            .map(|lane| {
                let me = Arc::clone(&self);
                tokio::spawn(async move { me.slot(lane).await })
            })
            .collect();
        for s in slots {
            let _ = s.await;
        }
        beat.abort();
        // Leave the registry (the scheduler would declare us dead anyway), but do not
        // hang on a queue that is gone.
        match tokio::time::timeout(Duration::from_secs(5), self.queue.forget_worker(&self.id)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "leaving the registry failed"),
            Err(_) => tracing::warn!("leaving the registry failed: the queue did not answer"),
        }
    }

    async fn heartbeats(&self) {
        let every = (self.queue.settings().dead_after / 4).max(Duration::from_millis(100));
        let mut failing = false;
        loop {
            match self.queue.heartbeat(&self.info()).await {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    tracing::warn!(error = %e, "heartbeat failed; trying again");
                    failing = true;
                }
                Err(_) => {}
            }
            tokio::time::sleep(every).await;
        }
    }

    /// One slot of device `lane`: takes jobs that fit what the device's running jobs leave
    /// free and runs them there, until drained.
    async fn slot(self: Arc<Self>, lane: usize) {
        let reserved = &self.lanes[lane].reserved;
        while !self.is_draining() {
            let delivery = {
                let _turn = self.taking.lock().await;
                let free = self.lanes[lane].memory_bytes - *reserved.lock().expect("reserved lock");
                let admit = Admission {
                    kinds: self.kinds.clone(),
                    classes: self.classes.clone(),
                    memory_bytes: free,
                };
                match self.queue.take(&admit, Duration::from_millis(500)).await {
                    Ok(Some(d)) => {
                        *reserved.lock().expect("reserved lock") += d.job().memory_bytes;
                        d
                    }
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "taking a job failed; trying again");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        continue;
                    }
                }
            };
            let job = delivery.job();
            let memory = job.memory_bytes;
            let span = tracing::info_span!(
                "job",
                job = %job.id,
                task = %job.task,
                worker = %self.id
            );
            crate::traces::join_task(&span, &job.task);
            self.run_job(lane, Arc::from(delivery))
                .instrument(span)
                .await;
            *reserved.lock().expect("reserved lock") -= memory;
        }
    }

    /// Runs one delivery: keeps its lease alive, reports its outcome, then settles it. An
    /// attempt past the job's timeout is reported as a retryable `timeout` failure and
    /// given back; its slot (and memory) stays taken until the attempt returns.
    async fn run_job(self: &Arc<Self>, lane: usize, d: Arc<dyn Delivery>) {
        let job = d.job().clone();
        self.running.lock().expect("running lock").insert(
            d.queue_seq(),
            RunningJob {
                job: job.id.clone(),
                task: job.task.clone(),
                queue_seq: d.queue_seq(),
                requeues: job.requeues,
                part: job.part.clone(),
            },
        );
        let keepalive = {
            let d = Arc::clone(&d);
            let every = self.queue.settings().progress_every();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let _ = d.progress().await;
                }
            })
        };
        let started = Instant::now();
        let limit = job.timeout_ms.map(Duration::from_millis);
        // What can stop at the deadline does (the witness generator); a device kernel cannot.
        let deadline = limit.map(|limit| started + limit);
        let mut attempt = {
            let (me, job) = (Arc::clone(self), job.clone());
            // In the job's span, as the rest of this job's handling.
            let run = async move { me.execute(lane, &job, deadline).await };
            tokio::spawn(run.in_current_span())
        };
        let finished = match limit {
            Some(limit) => tokio::time::timeout(limit, &mut attempt).await.ok(),
            None => Some((&mut attempt).await),
        };
        let (result, stuck) = match finished {
            Some(Ok(result)) => (result, None),
            Some(Err(e)) => (
                OutcomeResult::Failed {
                    failure: Failure {
                        code: "worker_error".into(),
                        message: format!("the proving task failed: {e}"),
                    },
                    retryable: true,
                },
                None,
            ),
            None => {
                let limit = limit.expect("only a limited attempt times out");
                (
                    OutcomeResult::Failed {
                        failure: Failure {
                            code: "timeout".into(),
                            message: format!("proving took longer than {limit:?}"),
                        },
                        retryable: true,
                    },
                    Some(attempt),
                )
            }
        };
        let outcome = Outcome {
            job: job.id.clone(),
            task: job.task.clone(),
            worker: self.id.clone(),
            delivered: d.delivered(),
            queue_seq: d.queue_seq(),
            result,
        };
        let mut backoff = Duration::from_millis(100);
        while let Err(e) = self.queue.report(&outcome).await {
            tracing::warn!(error = %e, "reporting an outcome failed; trying again");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        keepalive.abort();
        let settled = match &outcome.result {
            OutcomeResult::Part { role, .. } => {
                tracing::info!(
                    delivery = d.delivered(),
                    role = %role,
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "part computed"
                );
                d.ack().await
            }
            OutcomeResult::Witness { .. } => d.ack().await,
            OutcomeResult::Evaluated { .. } => {
                tracing::info!(
                    delivery = d.delivered(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "job evaluated"
                );
                d.ack().await
            }
            OutcomeResult::Proved { .. } => {
                self.stats.proved.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    delivery = d.delivered(),
                    ms = started.elapsed().as_secs_f64() * 1e3,
                    "job proved"
                );
                d.ack().await
            }
            OutcomeResult::Failed { failure, retryable } => {
                tracing::warn!(
                    delivery = d.delivered(),
                    code = %failure.code,
                    error = %failure.message,
                    "job failed"
                );
                if *retryable {
                    d.nak(self.queue.settings().backoff_for(d.delivered()))
                        .await
                } else {
                    d.term().await
                }
            }
        };
        if let Err(e) = settled {
            // The lease lapses and the job comes back; its outcome is already reported.
            tracing::warn!(error = %e, "settling a delivery failed");
        }
        self.running
            .lock()
            .expect("running lock")
            .remove(&d.queue_seq());
        if let Some(stuck) = stuck {
            // A device cannot be interrupted mid-kernel: wait for it, showing the stall in
            // heartbeats, before this slot takes another job.
            self.stalled.fetch_add(1, Ordering::SeqCst);
            let _ = stuck.await;
            self.stalled.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(
                ms = started.elapsed().as_secs_f64() * 1e3,
                "job returned past its timeout"
            );
        }
        self.stats.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Runs a job (a proof or a part of one on device `lane`, or an FHE evaluation), its
    /// witness computation stopped at `deadline`; every error becomes a failed outcome.
    async fn execute(
        &self,
        lane: usize,
        job: &JobSpec,
        deadline: Option<Instant>,
    ) -> OutcomeResult {
        let failed = |e: AttemptError| OutcomeResult::Failed {
            failure: e.failure,
            retryable: e.retryable,
        };
        if let Some(fhe) = &job.fhe {
            return self.evaluate(job, fhe).await.unwrap_or_else(failed);
        }
        if let Some(part) = &job.part {
            return self
                .part(lane, job, part, deadline)
                .await
                .unwrap_or_else(failed);
        }
        let circuit = match self.circuit(lane, job).await {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let input = match self.input(job).await {
            Ok(i) => i,
            Err(e) => return failed(e),
        };
        let exec = Arc::clone(&self.lanes[lane].exec);
        let (task, kind) = (job.task.clone(), job.input_kind);
        let proved = tokio::task::spawn_blocking(move || {
            let witness = compute_witness(&task, kind, &circuit, &input, deadline)?;
            let graph = JobGraph::groth16(&task, circuit.key.shape());
            let started = Instant::now();
            let (proof, public, timings) = exec
                .run(&graph, &circuit.key, witness, &mut rand::rngs::OsRng)
                .map_err(prover_failure)?;
            let proof = StoredProof {
                proof: serde_json::to_value(ProofJson::from_proof(&proof)).expect("serialisable"),
                public: serde_json::to_value(public_to_json(&public)).expect("serialisable"),
                prove_ms: started.elapsed().as_secs_f64() * 1e3,
            };
            let parts = timings
                .jobs
                .into_iter()
                .map(|(role, device, d)| PartTime {
                    role,
                    device,
                    ms: d.as_secs_f64() * 1e3,
                })
                .collect();
            Ok::<_, AttemptError>((proof, parts))
        })
        .await;
        match proved {
            Ok(Ok((proof, parts))) => OutcomeResult::Proved {
                proof,
                device: self.lanes[lane].entry.id.clone(),
                parts,
            },
            Ok(Err(e)) => failed(e),
            Err(e) => failed(retryable(
                "worker_error",
                format!("the proving thread failed: {e}"),
            )),
        }
    }

    /// Runs one part of a split proof: the witness (from JSON input, uploaded as an
    /// artifact for the other parts; stopped at `deadline`), or one MSM (the H one with the
    /// NTTs under it).
    async fn part(
        &self,
        lane: usize,
        job: &JobSpec,
        role: &str,
        deadline: Option<Instant>,
    ) -> Result<OutcomeResult, AttemptError> {
        let circuit = self.circuit(lane, job).await?;
        if role == "witness" {
            let input = self.input(job).await?;
            let (task, kind, c) = (job.task.clone(), job.input_kind, Arc::clone(&circuit));
            let witness = tokio::task::spawn_blocking(move || {
                compute_witness(&task, kind, &c, &input, deadline)
            })
            .await
            .map_err(|e| retryable("worker_error", e.to_string()))??;
            let bytes = wtns::to_bytes(&witness);
            let name = format!("wtns-{}", hex::encode(Sha256::digest(&bytes)));
            let tmp = self
                .cache_dir
                .join(format!(".{name}.{:08x}.part", rand::random::<u32>()));
            std::fs::write(&tmp, &bytes).map_err(|e| retryable("worker_error", e.to_string()))?;
            let put = self.queue.put_artifact(&name, &tmp).await;
            let _ = std::fs::remove_file(&tmp);
            put.map_err(|e| retryable("queue_error", e.to_string()))?;
            let n_public = circuit.key.shape().n_public;
            let public = public_to_json(&witness[1..=n_public]);
            return Ok(OutcomeResult::Witness {
                witness: name,
                public,
            });
        }
        let query = Query::from_role(role).ok_or_else(|| {
            AttemptError::fatal("invalid_job", format!("{role:?} is no part of a proof"))
        })?;
        let witness = match &job.witness {
            Some(name) => self.witness_artifact(name, &circuit).await?,
            None => {
                let input = self.input(job).await?;
                let (task, kind, c) = (job.task.clone(), job.input_kind, Arc::clone(&circuit));
                tokio::task::spawn_blocking(move || {
                    compute_witness(&task, kind, &c, &input, deadline)
                })
                .await
                .map_err(|e| retryable("worker_error", e.to_string()))??
            }
        };
        let (exec, task) = (Arc::clone(&self.lanes[lane].exec), job.task.clone());
        let (point, timings) = tokio::task::spawn_blocking(move || {
            exec.run_part(&task, &circuit.key, witness, query)
                .map_err(prover_failure)
        })
        .await
        .map_err(|e| retryable("worker_error", e.to_string()))??;
        Ok(OutcomeResult::Part {
            role: role.to_string(),
            point: hex::encode(point.to_bytes()),
            device: self.lanes[lane].entry.id.clone(),
            parts: timings
                .jobs
                .into_iter()
                .map(|(role, device, d)| PartTime {
                    role,
                    device,
                    ms: d.as_secs_f64() * 1e3,
                })
                .collect(),
        })
    }

    /// A witness another worker computed, from the artifact store (kept in the cache, so
    /// the parts of one proof that run here fetch it once), checked against its name's
    /// content hash and the circuit's wire count.
    async fn witness_artifact(
        &self,
        name: &str,
        circuit: &LoadedCircuit,
    ) -> Result<Vec<Fr>, AttemptError> {
        let (path, _) = self.fetch(name).await?;
        let bytes =
            std::fs::read(&path).map_err(|e| retryable("artifact_unavailable", e.to_string()))?;
        if name.strip_prefix("wtns-") != Some(hex::encode(Sha256::digest(&bytes)).as_str()) {
            let _ = std::fs::remove_file(&path);
            return Err(retryable(
                "artifact_corrupt",
                format!("{name} does not match its content hash"),
            ));
        }
        let w = wtns::from_bytes(name, &bytes)
            .map_err(|e| AttemptError::fatal("invalid_witness", e.to_string()))?;
        check_wire_count(w, circuit)
    }

    /// Evaluates an FHE job: the key set's evaluation keys (loaded once), the program
    /// (checked against its id), the input ciphertexts; the outputs go to the artifact
    /// store under their content hash.
    async fn evaluate(&self, job: &JobSpec, fhe: &FheJob) -> Result<OutcomeResult, AttemptError> {
        let keys = self.fhe_keys(&fhe.keys).await?;
        let input = self.input(job).await?;
        let (program, task, id) = (fhe.program.clone(), job.task.clone(), job.circuit.clone());
        let evaluated = tokio::task::spawn_blocking(move || {
            if store::fhe_program_id(program.as_bytes()) != id {
                return Err(AttemptError::fatal(
                    "invalid_program",
                    format!("the job's program is not program {id}"),
                ));
            }
            let program = fornax_fhe::Program::from_json(program.as_bytes())
                .map_err(|e| AttemptError::fatal("invalid_program", e.to_string()))?;
            let inputs: Vec<Vec<u8>> = bincode::deserialize(&input)
                .map_err(|e| AttemptError::fatal("invalid_input", e.to_string()))?;
            // The node verified each input's proof of knowledge before it took the task;
            // here they are only read and expanded (cast to the computation key).
            let inputs = inputs
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    fornax_fhe::input::read(&keys.public, b)
                        .and_then(|list| keys.evaluator.expand(&list, program.bits))
                        .map_err(|e| {
                            AttemptError::fatal("invalid_ciphertext", format!("input {i}: {e}"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let started = Instant::now();
            let out = keys
                .evaluator
                .evaluate(&program, inputs, &task)
                .map_err(|e| AttemptError::fatal("evaluation_failed", e.to_string()))?;
            let eval_ms = started.elapsed().as_millis() as u64;
            let outputs = out
                .outputs
                .iter()
                .map(fornax_fhe::io::write_squashed)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| retryable("worker_error", e.to_string()))?;
            let bytes = bincode::serialize(&outputs).expect("a list of byte strings serializes");
            Ok((bytes, out, eval_ms))
        })
        .await
        .map_err(|e| retryable("worker_error", format!("the evaluation thread failed: {e}")))??;
        let (bytes, out, eval_ms) = evaluated;
        let name = format!("fheout-{}", hex::encode(Sha256::digest(&bytes)));
        let tmp = self
            .cache_dir
            .join(format!(".{name}.{:08x}.part", rand::random::<u32>()));
        std::fs::write(&tmp, &bytes).map_err(|e| retryable("worker_error", e.to_string()))?;
        let put = self.queue.put_artifact(&name, &tmp).await;
        let _ = std::fs::remove_file(&tmp);
        put.map_err(|e| retryable("queue_error", e.to_string()))?;
        Ok(OutcomeResult::Evaluated {
            outputs: name,
            digest: hex::encode(out.digest),
            device: out.device.into(),
            plan: out.plan,
            eval_ms,
        })
    }

    /// A key set's evaluation keys, fetched (and checked against its name's content hash)
    /// and loaded onto the device once per worker.
    async fn fhe_keys(&self, name: &str) -> Result<Arc<FheKeys>, AttemptError> {
        let Some(capability) = self.fhe else {
            return Err(retryable(
                "worker_error",
                "an FHE job reached a worker without FHE capability",
            ));
        };
        let cell = Arc::clone(
            self.fhe_keys
                .lock()
                .expect("fhe keys lock")
                .entry(name.to_string())
                .or_default(),
        );
        cell.get_or_try_init(|| async {
            let (path, downloaded) = self.fetch(name).await?;
            let name = name.to_string();
            let loaded = tokio::task::spawn_blocking(move || {
                let bytes = std::fs::read(&path)
                    .map_err(|e| retryable("artifact_unavailable", e.to_string()))?;
                let hash = hex::encode(Sha256::digest(&bytes));
                if name.strip_prefix("fhekeys-") != Some(hash.as_str()) {
                    if downloaded {
                        let _ = std::fs::remove_file(&path);
                    }
                    return Err(retryable(
                        "artifact_corrupt",
                        format!("{name} does not match its content hash"),
                    ));
                }
                let public = fornax_fhe::io::read_keyset(&bytes)
                    .map_err(|e| AttemptError::fatal("invalid_keys", e.to_string()))?;
                let evaluator =
                    fornax_fhe::device::open(capability.device, &public, capability.threads)
                        .map_err(|e| retryable("fhe_unavailable", e.to_string()))?;
                Ok(FheKeys { public, evaluator })
            })
            .await
            .map_err(|e| retryable("worker_error", e.to_string()))??;
            Ok(Arc::new(loaded))
        })
        .await
        .cloned()
    }

    /// The circuit, prepared on device `lane` once (its files fetched once per worker).
    async fn circuit(
        &self,
        lane: usize,
        job: &JobSpec,
    ) -> Result<Arc<LoadedCircuit>, AttemptError> {
        let cell = Arc::clone(
            self.lanes[lane]
                .circuits
                .lock()
                .expect("circuits lock")
                .entry(job.circuit.clone())
                .or_default(),
        );
        cell.get_or_try_init(|| async {
            let zkey = self.fetch(&format!("{}.zkey", job.circuit)).await?;
            let (wasm, wasm_downloaded) = match job.has_wasm {
                true => {
                    let (path, downloaded) = self.fetch(&format!("{}.wasm", job.circuit)).await?;
                    (Some(path), downloaded)
                }
                false => (None, false),
            };
            let exec = Arc::clone(&self.lanes[lane].exec);
            let id = job.circuit.clone();
            let limits = self.witness_limits;
            let loaded = tokio::task::spawn_blocking(move || {
                load_verified(
                    &exec,
                    &id,
                    (&zkey.0, zkey.1),
                    (wasm.as_deref(), wasm_downloaded),
                    limits,
                )
            })
            .await
            .map_err(|e| retryable("worker_error", e.to_string()))??;
            self.stats.prepared.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::new(loaded))
        })
        .await
        .cloned()
    }

    async fn input(&self, job: &JobSpec) -> Result<Vec<u8>, AttemptError> {
        match &job.input {
            JobInput::Inline(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| AttemptError::fatal("invalid_input", format!("the job's input: {e}"))),
            JobInput::Artifact(name) => {
                let (path, downloaded) = self.fetch(name).await?;
                let bytes = std::fs::read(&path)
                    .map_err(|e| retryable("artifact_unavailable", e.to_string()))?;
                // An input is used once: drop the copy this job downloaded. One that was
                // there already may be the artifact store itself (a worker inside the node
                // caches in the store's own folder), and is left alone.
                if downloaded {
                    let _ = std::fs::remove_file(&path);
                }
                let digest = hex::encode(Sha256::digest(&bytes));
                if name.strip_prefix("input-") != Some(digest.as_str()) {
                    return Err(retryable(
                        "artifact_corrupt",
                        format!("{name} does not match its content hash"),
                    ));
                }
                Ok(bytes)
            }
        }
    }

    /// An artifact in the local cache, downloaded if it is not there yet; and whether this
    /// call downloaded it.
    async fn fetch(&self, name: &str) -> Result<(PathBuf, bool), AttemptError> {
        let path = self.cache_dir.join(name);
        if path.exists() {
            return Ok((path, false));
        }
        let tmp = self
            .cache_dir
            .join(format!(".{name}.{:08x}.part", rand::random::<u32>()));
        let got = self.queue.get_artifact(name, &tmp).await;
        if let Err(e) = got {
            let _ = std::fs::remove_file(&tmp);
            return Err(match e {
                QueueError::MissingArtifact(_) => retryable("artifact_unavailable", e.to_string()),
                e => retryable("queue_error", e.to_string()),
            });
        }
        std::fs::rename(&tmp, &path).map_err(|e| retryable("worker_error", e.to_string()))?;
        self.stats.downloads.fetch_add(1, Ordering::Relaxed);
        Ok((path, true))
    }
}

fn retryable(code: &str, message: impl Into<String>) -> AttemptError {
    AttemptError {
        failure: Failure {
            code: code.into(),
            message: message.into(),
        },
        retryable: true,
    }
}

/// Loads a circuit from cached files after checking them against its id
/// ([`store::circuit_id`], or the legacy id of a circuit registered before it); downloaded
/// files that do not match are deleted, so the next try downloads them again.
fn load_verified(
    exec: &LocalExecutor,
    id: &str,
    (zkey, zkey_downloaded): (&Path, bool),
    (wasm, wasm_downloaded): (Option<&Path>, bool),
    limits: witness::Limits,
) -> Result<LoadedCircuit, AttemptError> {
    let read =
        |p: &Path| std::fs::read(p).map_err(|e| retryable("artifact_unavailable", e.to_string()));
    let zkey_bytes = read(zkey)?;
    let wasm_bytes = wasm.map(read).transpose()?;
    let matches =
        |f: fn(&[u8], Option<&[u8]>) -> String| f(&zkey_bytes, wasm_bytes.as_deref()) == id;
    if !matches(store::circuit_id) && !matches(store::legacy_circuit_id) {
        // Downloaded copies are deleted so that the next try fetches them again; files that
        // were here already may be the artifact store itself, and are left alone.
        for (path, downloaded) in [(Some(zkey), zkey_downloaded), (wasm, wasm_downloaded)] {
            if let (Some(path), true) = (path, downloaded) {
                let _ = std::fs::remove_file(path);
            }
        }
        return Err(retryable(
            "artifact_corrupt",
            format!("the artifacts of circuit {id} do not match its content hash"),
        ));
    }
    LoadedCircuit::load(exec, id, &zkey_bytes, wasm_bytes.as_deref(), limits)
        .map_err(|e| retryable("circuit_unavailable", e.to_string()))
}
