//! The scheduler's side of a queue ([`crate::queue`]): every task goes out as a job to
//! workers (in this process with the in-process queue, [`crate::embedded`], or on other
//! machines through NATS), and its outcome comes back and is applied first-write-wins.
//! This is the only way a task is proved.
//!
//! - **Dispatch.** A task in `proving` becomes one [`JobSpec`]: `<task>/groth16` for a
//!   proof, whose circuit's key and witness generator go to the artifact store once
//!   (content-addressed names); `<task>/pbs` for an FHE task, with its program in the
//!   message and its key set in the artifact store. The input rides in the message when
//!   small, and the node's job timeout rides along for the worker to enforce. At most `max_in_flight` jobs are out at once, so the
//!   node's fair queue, not the queue server, decides the order. A job that needs more
//!   memory than the node's own workers have, when it has only those, fails here with
//!   `insufficient_memory` instead of waiting forever.
//! - **Outcomes.** Outcomes are read from the queue and handed to the dispatcher's owner
//!   ([`Outcomes`], the scheduler: `outcomes.rs`), and acknowledged once applied;
//!   one that could not be applied comes back.
//! - **Liveness.** Workers heartbeat into the registry with the jobs they run. One silent
//!   for longer than `dead_after` is declared dead and its jobs are put back at once under
//!   a new id (the owner decides: dying spends none of the task's attempts, and a job
//!   whose workers keep dying fails after `max_deliveries` requeues).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fornax_prover::graph::{Query, Shape};
use fornax_prover::{JobGraph, JobKind};
use sha2::{Digest, Sha256};

use crate::queue::{
    job_kind, memory_tier, DeviceEntry, FheJob, JobInput, JobSpec, Outcome, Queue, RunningJob,
};
use crate::store::{Store, StoreError};
use crate::task::{now_ms, Failure, InputKind, Task, TaskKind};

/// Inputs up to this size travel in the job message; larger ones through the artifact store.
const INLINE_INPUT_LIMIT: usize = 256 << 10;

/// Working memory an FHE job needs besides its ciphertexts: the decompressed evaluation
/// keys (about a GiB for the default parameters) and their working buffers.
const FHE_KEY_MEMORY: u64 = 3 << 29;

/// What the cost model assumes until workers report: nanoseconds per point or element of
/// each job kind on one CPU thread.
fn default_ns(kind: JobKind) -> f64 {
    match kind {
        JobKind::Msm(Query::B2) => 12_000.0,
        JobKind::Msm(_) => 4_000.0,
        JobKind::Intt(_) | JobKind::CosetNtt(_) => 150.0,
        JobKind::Evaluations => 300.0,
        JobKind::HEvals => 30.0,
        JobKind::Witness | JobKind::Assemble => 0.0,
    }
}

/// The points (or elements) a job of `kind` works through.
fn points(kind: JobKind, shape: Shape) -> usize {
    match kind {
        JobKind::Msm(Query::C) => shape.n_vars.saturating_sub(shape.n_public + 1),
        JobKind::Msm(Query::H)
        | JobKind::Intt(_)
        | JobKind::CosetNtt(_)
        | JobKind::Evaluations
        | JobKind::HEvals => shape.domain_size,
        JobKind::Msm(_) | JobKind::Witness => shape.n_vars,
        JobKind::Assemble => 0,
    }
}

/// A job's estimated milliseconds on a device of `device_kind`: its measured speed there if
/// any, else the default.
fn job_ms(speeds: &Speeds, device_kind: &str, kind: JobKind, shape: Shape) -> f64 {
    let ns = speeds
        .get(&(device_kind.to_string(), kind.role()))
        .copied()
        .unwrap_or_else(|| default_ns(kind));
    ns * points(kind, shape) as f64 / 1e6
}

/// Measured nanoseconds per point (or element), by device kind and job role.
type Speeds = HashMap<(String, String), f64>;

/// A device id's kind: `cuda` of `cuda:0`.
fn device_kind(id: &str) -> &str {
    id.split(':').next().unwrap_or(id)
}

/// A device the cost model may place a proof's parts on.
#[derive(Clone, Debug, PartialEq)]
pub struct Placeable {
    /// Its kind (`cpu`, `cuda`, `wgpu`), whose measured speeds apply.
    pub kind: String,
    /// Whether the proof's key is resident there.
    pub resident: bool,
}

/// What moving a witness to another worker costs: bytes per millisecond (about 100 MB/s
/// through the artifact store).
const MOVE_BYTES_PER_MS: f64 = 100_000.0;

/// A job's own cost on the queue (publish, take, report, apply), milliseconds.
const JOB_OVERHEAD_MS: f64 = 20.0;

/// How fast a device takes on a key it does not hold: bytes of key per millisecond (about
/// 50 MB/s to fetch it, check its hash, parse it and upload its bases).
const KEY_LOAD_BYTES_PER_MS: f64 = 50_000.0;

/// What preparing a proving key of `shape` on a device costs, milliseconds: its G1 bases
/// (A, B1, C over the variables, H over the domain) and G2 bases (B2), affine.
fn key_load_ms(shape: Shape) -> f64 {
    let bytes = shape.n_vars * (3 * 64 + 128) + shape.domain_size * 64;
    bytes as f64 / KEY_LOAD_BYTES_PER_MS
}

/// The cost model's estimate for one proof.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanCost {
    /// The whole proof on one device, milliseconds: one that holds the key if any does,
    /// else one that loads it first.
    pub whole_ms: f64,
    /// Split over the devices (longest part first, each onto the device where it would
    /// finish first, a device without the key starting once it has loaded it), with the
    /// witness moved to each device used and the queue's cost per job, milliseconds.
    pub split_ms: f64,
    /// Whether splitting is worth it (at least 20% sooner).
    pub split: bool,
}

/// What a task's job needs that depends on its kind.
struct Work {
    memory_bytes: u64,
    has_wasm: bool,
    fhe: Option<FheJob>,
}

fn internal(message: String) -> Failure {
    Failure {
        code: "internal".into(),
        message,
    }
}

/// A proof's job (or one part's): the memory of its graph's largest wave; its key and
/// witness generator as artifacts.
fn groth16_work(
    store: &Store,
    task: &Task,
    part: Option<&str>,
) -> Result<(Work, Vec<String>), Failure> {
    let meta = store
        .circuit(&task.circuit)
        .map_err(|e| internal(e.to_string()))?
        .ok_or_else(|| internal(format!("circuit {} is not in the store", task.circuit)))?;
    let graph = JobGraph::groth16(&task.id, meta.shape());
    let graph = match part.and_then(Query::from_role) {
        Some(q) => graph.upto(JobKind::Msm(q)),
        None if part == Some("witness") => graph.upto(JobKind::Witness),
        None => graph,
    };
    let memory_bytes = graph
        .waves()
        .iter()
        .map(|w| w.iter().map(|j| j.memory_bytes).sum::<u64>())
        .max()
        .unwrap_or(0);
    let mut names = vec![format!("{}.zkey", meta.id)];
    if meta.has_wasm {
        names.push(format!("{}.wasm", meta.id));
    }
    let work = Work {
        memory_bytes,
        has_wasm: meta.has_wasm,
        fhe: None,
    };
    Ok((work, names))
}

/// An FHE task's job: its program in the message, its key set as an artifact; memory for
/// the evaluation keys and a hundred times its input's ciphertexts.
fn fhe_work(store: &Store, task: &Task) -> Result<(Work, Vec<String>), Failure> {
    let link = task
        .fhe
        .as_ref()
        .ok_or_else(|| internal("an FHE task without its key set".into()))?;
    let program = store
        .fhe_program(&task.circuit)
        .map_err(|e| internal(e.to_string()))?
        .ok_or_else(|| internal(format!("program {} is not in the store", task.circuit)))?;
    let program =
        String::from_utf8(program).map_err(|_| internal("a stored program is not UTF-8".into()))?;
    let input_bytes = store
        .input(&task.id)
        .map_err(|e| internal(e.to_string()))?
        .map_or(0, |i| i.len() as u64);
    let work = Work {
        memory_bytes: FHE_KEY_MEMORY + 100 * input_bytes,
        has_wasm: false,
        fhe: Some(FheJob {
            program,
            keys: link.keys.clone(),
        }),
    };
    Ok((work, vec![link.keys.clone()]))
}

/// Counters for `/metrics`.
pub struct DispatchStats {
    /// Jobs submitted to the queue (requeues included).
    pub dispatched: AtomicU64,
    /// Outcomes that changed a task.
    pub applied: AtomicU64,
    /// Outcomes that changed nothing (the task had ended: a duplicate or a late result).
    pub ignored: AtomicU64,
    /// Retryable failures reported by workers.
    pub retried: AtomicU64,
    /// Proofs refused because they did not verify (or did not match the task).
    pub refused: AtomicU64,
    /// Workers declared dead.
    pub dead_workers: AtomicU64,
    /// Jobs put back because their worker was declared dead.
    pub requeued: AtomicU64,
    /// Workers heartbeating now.
    pub live_workers: AtomicU64,
    /// Jobs running on them now.
    pub busy_slots: AtomicU64,
    /// Jobs in the queue (waiting or running) by job kind, at the last look (every kind
    /// seen since the node started; their sum is the queue's depth).
    pub queue_depth_by_kind: Mutex<crate::queue::Depths>,
    /// Time from dispatch to the applied proof, in seconds.
    pub latency: prometheus_client::metrics::histogram::Histogram,
}

impl Default for DispatchStats {
    fn default() -> Self {
        DispatchStats {
            dispatched: Default::default(),
            applied: Default::default(),
            ignored: Default::default(),
            retried: Default::default(),
            refused: Default::default(),
            dead_workers: Default::default(),
            requeued: Default::default(),
            live_workers: Default::default(),
            busy_slots: Default::default(),
            queue_depth_by_kind: Default::default(),
            latency: crate::metrics::duration_histogram(),
        }
    }
}

/// What the dispatcher hands back to its owner, the scheduler (`outcomes.rs`):
/// outcomes to apply, and jobs whose worker died. A trait, so that the dispatcher does not
/// know its caller.
pub trait Outcomes: Send + Sync + 'static {
    /// Applies one outcome, first write wins. An error leaves the outcome unacknowledged,
    /// so it comes back.
    fn apply(&self, outcome: &Outcome) -> Result<(), StoreError>;
    /// Puts back, or fails, a job whose worker was declared dead.
    fn requeue(&self, job: &RunningJob) -> Result<(), StoreError>;
    /// Whether a task no longer needs its job (it ended, or is gone).
    fn ended(&self, task: &str) -> bool;
}

/// Whether the planner splits a proof into parts that run as jobs of their own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SplitPolicy {
    /// When the cost model says the parts on the live workers' devices finish sooner than
    /// the whole proof on one, counting the witness's transfer to each device and the key's
    /// loading on devices that do not hold it.
    #[default]
    Auto,
    /// Every proof (for tests and benchmarks).
    Always,
    /// No proof.
    Never,
}

impl std::str::FromStr for SplitPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(SplitPolicy::Auto),
            "always" => Ok(SplitPolicy::Always),
            "never" => Ok(SplitPolicy::Never),
            other => Err(format!("--split {other}: expected auto, always or never")),
        }
    }
}

/// How jobs are sent out.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Jobs out at once.
    pub max_in_flight: usize,
    /// How long a worker may run one job (see [`JobSpec::timeout_ms`]); `None`: no limit.
    pub job_timeout: Option<Duration>,
    /// Whether proofs are split into parts.
    pub split: SplitPolicy,
}

impl DispatchConfig {
    /// The window for workers inside the node with `slots` slots in all: one job more than
    /// the slots, so that the next job is ready when one ends and the node's fair queue,
    /// not the queue's FIFO, orders the rest.
    pub fn local_window(slots: u32) -> usize {
        slots as usize + 1
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_in_flight: 64,
            job_timeout: Some(Duration::from_secs(3600)),
            split: SplitPolicy::Auto,
        }
    }
}

/// A worker that runs inside the node's own process: the node knows its memory and
/// reports itself not ready while it is stuck.
#[derive(Clone, Debug)]
pub struct LocalWorker {
    /// Its id in the registry.
    pub id: String,
    /// The memory it admits jobs against, bytes.
    pub memory_bytes: u64,
}

/// The scheduler's connection to its workers through a queue.
pub struct Dispatcher {
    queue: Arc<dyn Queue>,
    runtime: tokio::runtime::Handle,
    config: DispatchConfig,
    /// The node's own workers, when it has only those (set before start).
    local: std::sync::OnceLock<Vec<LocalWorker>>,
    /// Whether one of them reported an attempt stuck past its timeout, at the last look.
    local_stalled: std::sync::atomic::AtomicBool,
    /// Tasks whose job is out, with when it went.
    in_flight: Mutex<HashMap<String, Instant>>,
    /// The devices of the live workers that take jobs, at the last look at the registry:
    /// what the cost model places a proof's parts on.
    devices: Mutex<Vec<DeviceEntry>>,
    /// Artifacts known to be in the artifact store.
    uploaded: Mutex<HashSet<String>>,
    /// The cost model's measured speeds: nanoseconds per point (or element) per device
    /// kind and job role.
    speeds: Mutex<Speeds>,
    /// Counters for `/metrics`.
    pub stats: DispatchStats,
}

impl Dispatcher {
    /// Jobs go to `queue`. `runtime` runs the queue's futures (the scheduler's own
    /// threads block on them).
    pub fn new(
        queue: Arc<dyn Queue>,
        runtime: tokio::runtime::Handle,
        config: DispatchConfig,
    ) -> Arc<Self> {
        Arc::new(Dispatcher {
            queue,
            runtime,
            config: DispatchConfig {
                max_in_flight: config.max_in_flight.max(1),
                ..config
            },
            local: std::sync::OnceLock::new(),
            local_stalled: Default::default(),
            in_flight: Mutex::new(HashMap::new()),
            devices: Mutex::new(Vec::new()),
            uploaded: Mutex::new(HashSet::new()),
            speeds: Mutex::new(HashMap::new()),
            stats: DispatchStats::default(),
        })
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// Says that the node's workers are these, in its own process, and no others: a job
    /// none of them could hold fails at once, and the node is not ready while one is
    /// stuck. Call before the scheduler starts.
    pub fn set_local_workers(&self, workers: Vec<LocalWorker>) {
        if self.local.set(workers).is_err() {
            panic!("the node's own workers are set once");
        }
    }

    /// Whether one of the node's own workers had an attempt stuck past its timeout at the
    /// last look (always false for a node whose workers are elsewhere).
    pub fn local_workers_stalled(&self) -> bool {
        self.local_stalled.load(Ordering::Relaxed)
    }

    /// Whether another job may go out.
    pub fn has_room(&self) -> bool {
        self.in_flight.lock().expect("in-flight lock").len() < self.config.max_in_flight
    }

    /// Jobs out now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.lock().expect("in-flight lock").len()
    }

    /// Starts handing outcomes and dead workers' jobs to `owner`, on the runtime.
    pub fn start(self: &Arc<Self>, owner: Arc<dyn Outcomes>) {
        let (me, to) = (Arc::clone(self), Arc::clone(&owner));
        self.runtime
            .spawn(async move { me.apply_outcomes(to).await });
        let me = Arc::clone(self);
        self.runtime
            .spawn(async move { me.watch_workers(owner).await });
    }

    /// Sends a task in `proving` to the queue (blocking until the queue took it): as one
    /// job, or, for a proof the planner splits (or split before a restart), as the parts
    /// still missing. A task that cannot become a job gets the failure to fail it with.
    pub fn dispatch(&self, store: &Store, task: &Task) -> Result<(), Failure> {
        if task.kind == TaskKind::Groth16
            && (task.split.is_some() || self.should_split(store, task)?)
        {
            return self.dispatch_parts(store, task, None);
        }
        self.dispatch_as(store, task, JobSpec::id_for(task, None), 0, None)
    }

    /// Sends the parts of a split proof that are not stored yet: its witness first when it
    /// was given JSON input, then the five MSMs, costliest first (the queue hands them out
    /// in order, so the longest start first). `again`: ids for another round
    /// (`<task>/<role>~r<n>`) after the last one's proof was refused.
    pub fn dispatch_parts(
        &self,
        store: &Store,
        task: &Task,
        again: Option<u32>,
    ) -> Result<(), Failure> {
        let task = match &task.split {
            Some(_) => task.clone(),
            None => store
                .update(&task.id, |t| {
                    t.split.get_or_insert_with(Default::default);
                })
                .map_err(|e| internal(e.to_string()))?,
        };
        let split = task.split.clone().unwrap_or_default();
        let roles: Vec<String> = if task.input == InputKind::Json && split.witness.is_none() {
            vec!["witness".into()]
        } else {
            Query::ALL
                .into_iter()
                .map(|q| JobKind::Msm(q).role())
                .filter(|role| !split.done.iter().any(|p| &p.role == role))
                .collect()
        };
        for role in roles {
            let mut id = JobSpec::id_for(&task, Some(&role));
            if let Some(n) = again {
                id = format!("{id}~r{n}");
            }
            self.dispatch_as(store, &task, id, 0, Some(&role))?;
        }
        Ok(())
    }

    /// Whether the planner splits this proof: by policy, or by the cost model (see
    /// [`SplitPolicy::Auto`]).
    fn should_split(&self, store: &Store, task: &Task) -> Result<bool, Failure> {
        match self.config.split {
            SplitPolicy::Never => return Ok(false),
            SplitPolicy::Always => return Ok(true),
            SplitPolicy::Auto => {}
        }
        let devices: Vec<Placeable> = self
            .devices
            .lock()
            .expect("devices lock")
            .iter()
            .map(|d| Placeable {
                kind: d.kind.clone(),
                resident: d.resident.contains(&task.circuit),
            })
            .collect();
        if devices.len() < 2 {
            return Ok(false);
        }
        let meta = store
            .circuit(&task.circuit)
            .map_err(|e| internal(e.to_string()))?
            .ok_or_else(|| internal(format!("circuit {} is not in the store", task.circuit)))?;
        Ok(self.plan_cost(meta.shape(), &devices).split)
    }

    /// The cost model's view of a proof of `shape` over `devices` (those of every live
    /// worker: a worker with two GPUs counts two).
    pub fn plan_cost(&self, shape: Shape, devices: &[Placeable]) -> PlanCost {
        let speeds = self.speeds.lock().expect("speeds lock");
        let graph = JobGraph::groth16("cost", shape);
        // Each part's time on each device, by the device's kind: the H part and the others
        // share the evaluations' input, not their work, so each is counted on its own.
        let part_ms = |q: Query, device: &Placeable| -> f64 {
            graph
                .upto(JobKind::Msm(q))
                .jobs
                .iter()
                .filter(|j| j.kind != JobKind::Witness)
                .map(|j| job_ms(&speeds, &device.kind, j.kind, shape))
                .sum()
        };
        let load_ms = key_load_ms(shape);
        let cpu = Placeable {
            kind: "cpu".into(),
            resident: false,
        };
        let devices = match devices.is_empty() {
            true => std::slice::from_ref(&cpu),
            false => devices,
        };
        // A device without the key is free once it has loaded it.
        let starts: Vec<f64> = devices
            .iter()
            .map(|d| if d.resident { 0.0 } else { load_ms })
            .collect();
        let times: Vec<Vec<f64>> = Query::ALL
            .into_iter()
            .map(|q| devices.iter().map(|d| part_ms(q, d)).collect())
            .collect();
        // Whole: on the device that finishes it first.
        let whole_ms = (0..devices.len())
            .map(|d| starts[d] + times.iter().map(|t| t[d]).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        // Split: longest part first (as it runs on the fastest device), each onto the
        // device where it would finish first.
        let mut order: Vec<usize> = (0..times.len()).collect();
        let fastest = |p: usize| times[p].iter().copied().fold(f64::INFINITY, f64::min);
        order.sort_by(|a, b| fastest(*b).total_cmp(&fastest(*a)));
        let mut load = starts.clone();
        let mut used = vec![false; devices.len()];
        for p in order {
            let d = (0..devices.len())
                .min_by(|a, b| (load[*a] + times[p][*a]).total_cmp(&(load[*b] + times[p][*b])))
                .expect("at least one device");
            load[d] += times[p][d];
            used[d] = true;
        }
        let used = used.iter().filter(|u| **u).count();
        let makespan_ms = load.iter().copied().fold(0.0, f64::max);
        let witness_bytes = (shape.n_vars * 32) as f64;
        let transfer_ms = witness_bytes * used.saturating_sub(1) as f64 / MOVE_BYTES_PER_MS
            + JOB_OVERHEAD_MS * times.len() as f64;
        let split_ms = makespan_ms + transfer_ms;
        PlanCost {
            whole_ms,
            split_ms,
            split: used > 1 && split_ms < 0.8 * whole_ms,
        }
    }

    /// Records how fast a job role ran on a device (`cuda:0`: its kind, `cuda`, is what
    /// counts), from what a worker reported: the cost model's measured speeds (an average
    /// that follows changes).
    pub fn record_speed(&self, role: &str, device: &str, shape: Shape, ms: f64) {
        let Some(kind) = JobGraph::groth16("speed", shape)
            .jobs
            .iter()
            .map(|j| j.kind)
            .find(|k| k.role() == role)
        else {
            return;
        };
        let points = points(kind, shape) as f64;
        if points == 0.0 || !ms.is_finite() || ms < 0.0 {
            return;
        }
        let ns = ms * 1e6 / points;
        let mut speeds = self.speeds.lock().expect("speeds lock");
        let v = speeds
            .entry((device_kind(device).to_string(), role.to_string()))
            .or_insert(ns);
        *v = 0.7 * *v + 0.3 * ns;
    }

    /// Puts the job of a dead worker back under `id`, its old delivery removed.
    pub fn requeue(
        &self,
        store: &Store,
        task: &Task,
        job: &RunningJob,
        id: String,
    ) -> Result<(), Failure> {
        if let Err(e) = self.runtime.block_on(self.queue.remove(job.queue_seq)) {
            tracing::warn!(job = %job.job, error = %e, "removing a job from the queue failed");
        }
        self.stats.requeued.fetch_add(1, Ordering::Relaxed);
        self.dispatch_as(store, task, id, job.requeues + 1, job.part.as_deref())
    }

    /// Sends one part of a split proof again under `id` (its last outcome was refused).
    pub fn requeue_part(
        &self,
        store: &Store,
        task: &Task,
        id: String,
        part: &str,
    ) -> Result<(), Failure> {
        self.dispatch_as(store, task, id, 0, Some(part))
    }

    /// Sends a task's job again under `id` (its last outcome was refused).
    pub fn resend(&self, store: &Store, task: &Task, id: String) -> Result<(), Failure> {
        self.dispatch_as(store, task, id, 0, None)
    }

    /// Drops a task's job: from the queue (at `queue_seq`, when known) and from the jobs
    /// in flight.
    pub fn drop_job(&self, task: &str, queue_seq: Option<u64>) {
        if let Some(seq) = queue_seq {
            if let Err(e) = self.runtime.block_on(self.queue.remove(seq)) {
                tracing::warn!(task = %task, error = %e, "removing a job from the queue failed");
            }
        }
        self.landed(task);
    }

    /// Frees a task's place in flight; returns when its job went out, if it was out.
    pub fn landed(&self, task: &str) -> Option<Instant> {
        self.in_flight.lock().expect("in-flight lock").remove(task)
    }

    fn dispatch_as(
        &self,
        store: &Store,
        task: &Task,
        job_id: String,
        requeues: u32,
        part: Option<&str>,
    ) -> Result<(), Failure> {
        let job = self.job_for(store, task, job_id, requeues, part)?;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.runtime.block_on(self.queue.submit(&job)) {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(
                        task = %task.id,
                        error = %e,
                        "queueing a job failed; trying again"
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.stats.dispatched.fetch_add(1, Ordering::Relaxed);
        self.stats
            .queue_depth_by_kind
            .lock()
            .expect("depth lock")
            .entry(job.kind.clone())
            .or_insert(0);
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .entry(task.id.clone())
            .or_insert_with(Instant::now);
        Ok(())
    }

    /// The job of a task, its artifacts uploaded.
    fn job_for(
        &self,
        store: &Store,
        task: &Task,
        id: String,
        requeues: u32,
        part: Option<&str>,
    ) -> Result<JobSpec, Failure> {
        let (work, mut names) = match task.kind {
            TaskKind::Groth16 => groth16_work(store, task, part)?,
            TaskKind::Fhe => fhe_work(store, task)?,
        };
        let witness = match part {
            Some(role) if role != "witness" => task.split.as_ref().and_then(|s| s.witness.clone()),
            _ => None,
        };
        if let Some(name) = &witness {
            names.push(name.clone());
        }
        if memory_tier(work.memory_bytes).is_none() {
            return Err(Failure {
                code: "insufficient_memory".into(),
                message: format!(
                    "the task's jobs need {} GiB at once",
                    work.memory_bytes >> 30
                ),
            });
        }
        if let Some(local) = self.local.get() {
            let most = local.iter().map(|w| w.memory_bytes).max().unwrap_or(0);
            if work.memory_bytes > most {
                return Err(Failure {
                    code: "insufficient_memory".into(),
                    message: format!(
                        "the task's jobs need {} KiB at once; this node's workers have {} KiB",
                        work.memory_bytes.div_ceil(1024),
                        most / 1024
                    ),
                });
            }
        }
        let input = store
            .input(&task.id)
            .map_err(|e| internal(e.to_string()))?
            .ok_or_else(|| internal("the task's input is missing from the store".into()))?;
        let input = if input.len() <= INLINE_INPUT_LIMIT {
            JobInput::Inline(base64::engine::general_purpose::STANDARD.encode(&input))
        } else {
            let name = format!("input-{}", hex::encode(Sha256::digest(&input)));
            let path = store.artifact_path(&name);
            if !path.exists() {
                store
                    .put_artifact(&name, &input)
                    .map_err(|e| internal(e.to_string()))?;
            }
            names.push(name.clone());
            JobInput::Artifact(name)
        };
        for name in names {
            if self.uploaded.lock().expect("uploaded lock").contains(&name) {
                continue;
            }
            let path = store.artifact_path(&name);
            let mut backoff = Duration::from_millis(100);
            while let Err(e) = self.runtime.block_on(self.queue.put_artifact(&name, &path)) {
                tracing::warn!(
                    artifact = %name,
                    error = %e,
                    "uploading an artifact failed; trying again"
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            self.uploaded.lock().expect("uploaded lock").insert(name);
        }
        Ok(JobSpec {
            id,
            task: task.id.clone(),
            kind: job_kind(task.kind).into(),
            class: "any".into(),
            memory_bytes: work.memory_bytes,
            circuit: task.circuit.clone(),
            has_wasm: work.has_wasm,
            input_kind: task.input,
            input,
            requeues,
            timeout_ms: self.config.job_timeout.map(|d| d.as_millis() as u64),
            fhe: work.fhe,
            part: part.map(String::from),
            witness,
        })
    }

    /// Copies artifact `name` from the queue's artifact store to `dest` (blocking; the
    /// scheduler's threads call it).
    pub fn fetch_artifact(&self, name: &str, dest: &std::path::Path) -> Result<(), String> {
        self.runtime
            .block_on(self.queue.get_artifact(name, dest))
            .map_err(|e| e.to_string())
    }

    async fn apply_outcomes(self: Arc<Self>, owner: Arc<dyn Outcomes>) {
        loop {
            let delivery = match self.queue.next_outcome(Duration::from_secs(1)).await {
                Ok(Some(d)) => d,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "reading outcomes failed; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let outcome = delivery.outcome().clone();
            let to = Arc::clone(&owner);
            let applied = tokio::task::spawn_blocking(move || to.apply(&outcome)).await;
            match applied {
                // Applied (or nothing to apply): never again. If the ack is lost the
                // outcome comes back and changes nothing.
                Ok(Ok(())) => {
                    if let Err(e) = delivery.ack().await {
                        tracing::warn!(error = %e, "acknowledging an outcome failed");
                    }
                }
                // Not applied (the store failed): left unacknowledged, it comes back.
                Ok(Err(e)) => tracing::error!(error = %e, "cannot apply an outcome"),
                Err(e) => tracing::error!(error = %e, "cannot apply an outcome"),
            }
        }
    }

    /// Declares silent workers dead and puts their jobs back; keeps the gauges fresh.
    async fn watch_workers(self: Arc<Self>, owner: Arc<dyn Outcomes>) {
        let dead_after = self.queue.settings().dead_after;
        let every = (dead_after / 4).max(Duration::from_millis(100));
        loop {
            tokio::time::sleep(every).await;
            if let Ok(depths) = self.queue.depth().await {
                // A kind seen once stays, at 0 when none of its jobs is queued.
                let mut known = self.stats.queue_depth_by_kind.lock().expect("depth lock");
                known.values_mut().for_each(|n| *n = 0);
                known.extend(depths);
            }
            let workers = match self.queue.workers().await {
                Ok(w) => w,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the worker registry failed");
                    continue;
                }
            };
            let now = now_ms();
            let (mut live, mut busy, mut local_stalled) = (0, 0, false);
            let mut devices = Vec::new();
            for w in workers {
                let silent = Duration::from_millis(now.saturating_sub(w.heartbeat_ms));
                if silent <= dead_after {
                    live += 1;
                    busy += w.busy as u64;
                    if !w.draining {
                        devices.extend(w.devices.iter().cloned());
                    }
                    local_stalled |= w.stalled > 0
                        && self
                            .local
                            .get()
                            .is_some_and(|l| l.iter().any(|lw| lw.id == w.id));
                    continue;
                }
                tracing::warn!(
                    worker = %w.id,
                    ms = silent.as_secs_f64() * 1e3,
                    jobs = w.running.len(),
                    "worker declared dead (no heartbeat); requeueing its jobs"
                );
                self.stats.dead_workers.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = self.queue.forget_worker(&w.id).await {
                    tracing::warn!(worker = %w.id, error = %e, "forgetting a worker failed");
                }
                for job in w.running {
                    let to = Arc::clone(&owner);
                    let requeued = tokio::task::spawn_blocking(move || to.requeue(&job)).await;
                    if let Ok(Err(e)) = requeued {
                        tracing::error!(error = %e, "cannot requeue a job");
                    }
                }
            }
            *self.devices.lock().expect("devices lock") = devices;
            self.local_stalled.store(local_stalled, Ordering::Relaxed);
            self.stats.live_workers.store(live, Ordering::Relaxed);
            self.stats.busy_slots.store(busy, Ordering::Relaxed);
            // A task can end while its job is out (cancelled, expired, or proved by an
            // outcome that raced its dispatch after a restart): free its place.
            let out: Vec<String> = self
                .in_flight
                .lock()
                .expect("in-flight lock")
                .keys()
                .cloned()
                .collect();
            for id in out {
                if owner.ended(&id) {
                    self.in_flight.lock().expect("in-flight lock").remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::MemQueue;

    fn dispatcher() -> (Arc<Dispatcher>, tokio::runtime::Runtime, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let queue = Arc::new(MemQueue::new(Default::default(), dir.path()));
        let d = Dispatcher::new(queue, runtime.handle().clone(), Default::default());
        (d, runtime, dir)
    }

    /// CPUs, holding the key or not.
    fn cpus(resident: &[bool]) -> Vec<Placeable> {
        devices("cpu", resident)
    }

    fn devices(kind: &str, resident: &[bool]) -> Vec<Placeable> {
        resident
            .iter()
            .map(|&resident| Placeable {
                kind: kind.into(),
                resident,
            })
            .collect()
    }

    fn shape(log: u32) -> Shape {
        Shape {
            n_vars: 1 << log,
            n_public: 1,
            domain_size: 1 << log,
        }
    }

    #[test]
    fn the_cost_model_keeps_small_proofs_whole_and_spreads_large_ones() {
        let (d, _rt, _dir) = dispatcher();
        // One device: never split.
        assert!(!d.plan_cost(shape(20), &cpus(&[true; 1])).split);
        // Two devices: a tiny proof costs more in moving and queueing than it saves; a large
        // one finishes much sooner in parts (the G2 MSM on one worker, the rest on the other).
        let small = d.plan_cost(shape(8), &cpus(&[true; 2]));
        assert!(!small.split, "{small:?}");
        let large = d.plan_cost(shape(18), &cpus(&[true; 2]));
        assert!(large.split, "{large:?}");
        assert!(large.split_ms < 0.7 * large.whole_ms, "{large:?}");
        // More devices than parts help no more than five.
        assert_eq!(
            d.plan_cost(shape(18), &cpus(&[true; 5])),
            d.plan_cost(shape(18), &cpus(&[true; 50]))
        );
    }

    #[test]
    fn devices_without_the_key_start_late_and_a_key_nobody_holds_costs_the_whole_too() {
        let (d, _rt, _dir) = dispatcher();
        let s = shape(16);
        let both = d.plan_cost(s, &cpus(&[true, true]));
        let one = d.plan_cost(s, &cpus(&[true, false]));
        let none = d.plan_cost(s, &cpus(&[false, false]));
        // Whole: no loading where a device holds the key; loading once where none does.
        assert_eq!(one.whole_ms, both.whole_ms);
        assert!(
            (none.whole_ms - both.whole_ms - key_load_ms(s)).abs() < 1e-9,
            "{none:?}"
        );
        // Split: a device that must load the key first finishes later.
        assert!(one.split_ms > both.split_ms, "{one:?} {both:?}");
        // Where loading the key costs more than the parts it would take, the proof stays on
        // the device that holds it, while two devices holding it split the same proof.
        let flips = (10..=22).map(shape).find(|&s| {
            d.plan_cost(s, &cpus(&[true, true])).split
                && !d.plan_cost(s, &cpus(&[true, false])).split
        });
        assert!(flips.is_some(), "residency never changes the decision");
        // A third device helps no more without the key than with it.
        assert!(
            d.plan_cost(s, &cpus(&[true, true, false])).split_ms
                >= d.plan_cost(s, &cpus(&[true, true, true])).split_ms
        );
    }

    #[test]
    fn measured_speeds_move_the_decision_per_kind_of_device() {
        let (d, _rt, _dir) = dispatcher();
        let s = shape(14);
        let gpus = devices("cuda", &[true, true]);
        let before = d.plan_cost(s, &gpus);
        assert!(before.split, "{before:?}");
        assert_eq!(before, d.plan_cost(s, &cpus(&[true, true])));
        // GPUs report MSMs a hundred times faster than assumed: the queue's own cost now
        // dominates, and the proof stays whole.
        for _ in 0..20 {
            for q in Query::ALL {
                let role = JobKind::Msm(q).role();
                let assumed = job_ms(&HashMap::new(), "cuda", JobKind::Msm(q), s);
                d.record_speed(&role, "cuda:0", s, assumed / 100.0);
            }
            for role in ["evaluations", "intt-a", "intt-b", "intt-c"] {
                d.record_speed(role, "cuda:1", s, 0.01);
            }
            for role in ["coset-ntt-a", "coset-ntt-b", "coset-ntt-c", "h-evals"] {
                d.record_speed(role, "cuda:0", s, 0.01);
            }
        }
        let after = d.plan_cost(s, &gpus);
        assert!(
            after.whole_ms < before.whole_ms / 50.0,
            "{before:?} {after:?}"
        );
        assert!(!after.split, "{after:?}");
        // The CPUs did not get faster.
        assert_eq!(d.plan_cost(s, &cpus(&[true, true])), before);
        // A GPU beside a CPU: the whole proof on the GPU beats any split with the CPU.
        let mixed = [devices("cpu", &[true]), devices("cuda", &[true])].concat();
        let m = d.plan_cost(s, &mixed);
        assert!(!m.split, "{m:?}");
        assert_eq!(m.whole_ms, after.whole_ms);
        // Nonsense reports are ignored.
        d.record_speed("msm-a", "cuda:0", s, f64::NAN);
        d.record_speed("no-such-role", "cuda:0", s, 1.0);
        assert_eq!(d.plan_cost(s, &gpus), after);
    }

    #[test]
    fn split_policies_parse() {
        assert_eq!("auto".parse(), Ok(SplitPolicy::Auto));
        assert_eq!("always".parse(), Ok(SplitPolicy::Always));
        assert_eq!("never".parse(), Ok(SplitPolicy::Never));
        assert!("sometimes".parse::<SplitPolicy>().is_err());
    }
}
