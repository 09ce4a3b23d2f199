//! Job queues between the scheduler and its workers.
//!
//! The scheduler turns a task into a [`JobSpec`] and [`submit`](Queue::submit)s it; a
//! worker [`take`](Queue::take)s a job that fits its devices and memory, keeps its lease
//! alive with [`progress`](Delivery::progress) while it runs, [`report`](Queue::report)s
//! an [`Outcome`], and then acknowledges the delivery. The scheduler reads outcomes with
//! [`next_outcome`](Queue::next_outcome) and applies them first-write-wins: a task's
//! transition to `proved` or `failed` happens once, so a second delivery of the same job,
//! or a late result from a worker presumed dead, changes nothing.
//!
//! Two implementations:
//! - [`MemQueue`]: in one process (the embedded default's semantics, for tests and for
//!   the in-process side of `fornax bench queue`);
//! - [`jetstream::JetStreamQueue`]: NATS JetStream, for workers on other machines.
//!
//! Delivery is at-least-once. Three budgets keep a job from looping:
//! - **failures** (the node's `--attempts`): counted by the scheduler from the failure
//!   outcomes workers report; a worker that dies reports nothing, so dying spends none;
//! - **deliveries** ([`QueueSettings::max_deliveries`]): the queue's own backstop against a
//!   job that kills every worker that takes it; the queue then reports a `max_deliveries`
//!   failure itself;
//! - **the lease** ([`QueueSettings::ack_wait`]): a delivery not kept alive by progress
//!   within it goes back to the queue for another worker.

pub mod jetstream;
mod mem;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use mem::MemQueue;

use crate::store::StoredProof;

/// Jobs in a queue by job kind.
pub type Depths = std::collections::BTreeMap<String, u64>;
use crate::task::{Failure, InputKind, Task, TaskKind};

/// A boxed future, so that [`Queue`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

/// A future that is ready with `v`.
pub(crate) fn done<'a, T: Send + 'a>(v: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(Ok::<T, QueueError>(v)))
}

/// Why a queue operation failed. Every variant is worth retrying: the queue is a server
/// that restarts, not the caller's mistake.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue server could not be reached or answered with an error.
    #[error("queue: {0}")]
    Transport(String),
    /// An artifact was not found in the artifact store.
    #[error("artifact {0} is not in the artifact store")]
    MissingArtifact(String),
    /// A message on the queue could not be decoded.
    #[error("queue: undecodable message: {0}")]
    Decode(String),
}

impl QueueError {
    /// Whether trying again later may help (always, except for a missing artifact, which
    /// only its uploader can fix).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, QueueError::MissingArtifact(_))
    }

    pub(crate) fn transport(e: impl std::fmt::Display) -> Self {
        QueueError::Transport(e.to_string())
    }
}

/// How deliveries are kept, bounded and deduplicated; one set per cluster (the scheduler
/// publishes its settings and workers read them when they join).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueSettings {
    /// A delivery not acknowledged, or kept alive by progress, within this goes back to
    /// the queue.
    #[serde(with = "millis")]
    pub ack_wait: Duration,
    /// Deliveries of one job before the queue gives up on it.
    pub max_deliveries: u32,
    /// Submissions of the same job id within this are dropped as duplicates.
    #[serde(with = "millis")]
    pub duplicate_window: Duration,
    /// Delay before the first redelivery of a job that failed with a retryable error; it
    /// doubles with each delivery, up to [`QueueSettings::max_backoff`].
    #[serde(with = "millis")]
    pub backoff: Duration,
    /// See `backoff`.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// A worker that has not heartbeaten for this long is declared dead.
    #[serde(with = "millis")]
    pub dead_after: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            ack_wait: Duration::from_secs(30),
            max_deliveries: 10,
            duplicate_window: Duration::from_secs(30 * 60),
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            dead_after: Duration::from_secs(10),
        }
    }
}

impl QueueSettings {
    /// The delay before redelivering a job delivered `delivered` times.
    pub fn backoff_for(&self, delivered: u32) -> Duration {
        let doublings = delivered.saturating_sub(1).min(16);
        self.backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }

    /// How often a running job reports progress (a third of the lease).
    pub fn progress_every(&self) -> Duration {
        self.ack_wait / 3
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

/// The memory tiers jobs are routed by: a job needing `m` bytes goes to the smallest
/// tier `t` with `2^t ≥ m`, and a worker listens only to tiers `t` with `2^t` no more than
/// its memory, so it never takes a job that does not fit.
pub const MEMORY_TIERS: [u32; 9] = [24, 26, 28, 30, 32, 34, 36, 38, 40];

/// The tier of a job that needs `bytes`, or `None` above the largest tier.
pub fn memory_tier(bytes: u64) -> Option<u32> {
    MEMORY_TIERS.into_iter().find(|t| bytes <= 1u64 << t)
}

/// The tiers a worker with `bytes` of memory can take, largest first.
pub fn tiers_within(bytes: u64) -> Vec<u32> {
    MEMORY_TIERS
        .into_iter()
        .rev()
        .filter(|t| 1u64 << t <= bytes)
        .collect()
}

/// Where a job's input is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobInput {
    /// In the job message (small inputs), base64.
    Inline(String),
    /// In the artifact store under this content-addressed name.
    Artifact(String),
}

/// What an FHE job carries besides the common fields of [`JobSpec`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FheJob {
    /// The program, as its canonical JSON (its id is `JobSpec::circuit`).
    pub program: String,
    /// The key set's artifact (`fhekeys-<sha256>`): fetched once per worker, its
    /// evaluation keys kept.
    pub keys: String,
}

/// A job on the queue: one task's Groth16 proof (kind `groth16`), or one FHE task's
/// bootstraps (kind `pbs`), run by one worker on its devices.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Deterministic id: `<task>/<kind>`. Submitting it twice within the duplicate window
    /// queues it once.
    pub id: String,
    /// The task.
    pub task: String,
    /// The kind of job (`groth16`, `pbs`); part of the routing subject.
    pub kind: String,
    /// The device class it must run on (`any`, `cpu`, `cuda`, `wgpu`); part of the subject.
    pub class: String,
    /// Working memory it needs at once, bytes (the largest wave of its job graph).
    pub memory_bytes: u64,
    /// The circuit (content hash of its zkey and witness generator); its artifacts are
    /// `<circuit>.zkey` and, with `has_wasm`, `<circuit>.wasm`. For an FHE job, the
    /// program's id.
    pub circuit: String,
    /// Whether the circuit has a witness generator.
    pub has_wasm: bool,
    /// What the input is.
    pub input_kind: InputKind,
    /// The input.
    pub input: JobInput,
    /// Times the scheduler put it back because the worker that had it was declared dead.
    #[serde(default)]
    pub requeues: u32,
    /// How long a worker may run it, milliseconds (the node's `--job-timeout-s`): past it
    /// the worker reports a retryable `timeout` failure and takes no other job on that
    /// slot until the stuck attempt returns. `None`: no limit.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Set for an FHE job (kind `pbs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fhe: Option<FheJob>,
    /// For a proof split into parts: the part this job computes (`witness`, or an MSM's
    /// role: `msm-a`, `msm-b1`, `msm-b2`, `msm-c`, `msm-h`). `None`: the whole proof.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// For a part of a proof given JSON input: the witness a worker computed for it, as an
    /// artifact (`wtns-<sha256>`), fetched once per worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<String>,
}

/// The job kind of a task of kind `kind`.
pub fn job_kind(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::Groth16 => "groth16",
        TaskKind::Fhe => "pbs",
    }
}

impl JobSpec {
    /// The job id of a task's work: `<task>/<kind>` for the whole of it, `<task>/<role>`
    /// for a part of a split proof.
    pub fn id_for(task: &Task, part: Option<&str>) -> String {
        format!("{}/{}", task.id, part.unwrap_or(job_kind(task.kind)))
    }
}

/// What a worker, or the queue itself, reports about a job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The job.
    pub job: String,
    /// Its task.
    pub task: String,
    /// The worker that ran it (`queue` for the queue's own verdicts).
    pub worker: String,
    /// Which delivery of the job this was (1 for the first).
    pub delivered: u32,
    /// The job's position in the queue, so the scheduler can remove it for good.
    pub queue_seq: u64,
    /// What happened.
    pub result: OutcomeResult,
}

/// A job's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
// One variant is a proof, the other an error: boxing the proof would save nothing.
#[allow(clippy::large_enum_variant)]
pub enum OutcomeResult {
    /// The proof, verified by the worker.
    Proved {
        /// The proof and public signals.
        proof: StoredProof,
        /// The device it was proved on.
        device: String,
        /// The proof's parts (witness, NTTs, MSMs) as they ran, in order of completion.
        #[serde(default)]
        parts: Vec<PartTime>,
    },
    /// One part of a split proof: its MSM's point.
    Part {
        /// The part's role (`msm-a`, …).
        role: String,
        /// The point, compressed (arkworks), hex.
        point: String,
        /// The device it ran on.
        device: String,
        /// The part's jobs as they ran.
        #[serde(default)]
        parts: Vec<PartTime>,
    },
    /// The witness of a split proof given JSON input, computed by the worker.
    Witness {
        /// The artifact holding it (`wtns-<sha256>`, a `.wtns` file).
        witness: String,
        /// Its public signals, decimal.
        public: Vec<String>,
    },
    /// An FHE task's outputs, computed by the worker.
    Evaluated {
        /// The artifact holding the output ciphertexts (`fheout-<sha256>`: bincode of the
        /// list of tfhe-rs's safe serializations).
        outputs: String,
        /// The outputs' digest (hex), as the engine computes it.
        digest: String,
        /// The device it ran on.
        device: String,
        /// The batches, jobs and estimated KS-PBS of the plan it ran.
        plan: fornax_fhe::device::PlanSummary,
        /// Evaluation time, milliseconds.
        eval_ms: u64,
    },
    /// The job failed. `retryable`: it may succeed on another try (the queue redelivers it
    /// while the task's failure budget lasts); otherwise its task fails now.
    Failed {
        /// Why.
        failure: Failure,
        /// Whether another try may succeed.
        retryable: bool,
    },
}

/// One part of a proof's job graph as a worker ran it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartTime {
    /// Its role in the graph (`witness`, `intt-a`, `msm-h`, …).
    pub role: String,
    /// The device it ran on.
    pub device: String,
    /// How long it took, milliseconds.
    pub ms: f64,
}

/// What a worker can take: job kinds, device classes and memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    /// Job kinds it runs (`groth16`, and `pbs` for a worker with FHE capability).
    pub kinds: Vec<String>,
    /// Device classes it has (`any` is always added).
    pub classes: Vec<String>,
    /// Memory free for a new job, bytes.
    pub memory_bytes: u64,
}

impl Admission {
    /// Whether a job is one this worker can take.
    pub fn admits(&self, job: &JobSpec) -> bool {
        self.kinds.contains(&job.kind)
            && (job.class == "any" || self.classes.contains(&job.class))
            && job.memory_bytes <= self.memory_bytes
    }
}

/// A worker's entry in the cluster's registry, refreshed by its heartbeats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Unique per process: `<host>-<pid>-<random>`.
    pub id: String,
    /// Host name.
    pub host: String,
    /// Its devices: `id`, name, kind and memory.
    pub devices: Vec<DeviceEntry>,
    /// Memory it admits jobs against, bytes.
    pub memory_bytes: u64,
    /// Jobs it runs at once.
    pub slots: u32,
    /// Jobs running now.
    pub busy: u32,
    /// Jobs finished since it started.
    pub done: u64,
    /// The jobs it is running, so that the scheduler can requeue them if it dies.
    #[serde(default)]
    pub running: Vec<RunningJob>,
    /// Set once it was asked to stop: it finishes its jobs and takes no more.
    pub draining: bool,
    /// Attempts that ran past their job's timeout and have not returned yet (each holds a
    /// slot).
    #[serde(default)]
    pub stalled: u32,
    /// Fornax's version.
    pub version: String,
    /// Time of this heartbeat, Unix milliseconds.
    pub heartbeat_ms: u64,
}

/// A job a worker is running.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningJob {
    /// The job.
    pub job: String,
    /// Its task.
    pub task: String,
    /// Its position in the queue.
    pub queue_seq: u64,
    /// Its requeue count.
    pub requeues: u32,
    /// The part of a split proof it computes, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

/// One device of a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceEntry {
    /// Backend id, e.g. `cpu`, `cuda:0`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Kind: `cpu`, `cuda`, …
    pub kind: String,
    /// Device memory, bytes.
    pub memory_bytes: u64,
    /// Circuits whose proving keys are prepared (resident) on it now; the planner's cost
    /// model counts a key's loading for devices without it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resident: Vec<String>,
}

/// A job handed to a worker, until it acknowledges it.
pub trait Delivery: Send + Sync {
    /// The job.
    fn job(&self) -> &JobSpec;
    /// Which delivery this is (1 for the first).
    fn delivered(&self) -> u32;
    /// The job's position in the queue.
    fn queue_seq(&self) -> u64;
    /// Keeps the lease alive while the job runs.
    fn progress(&self) -> BoxFuture<'_, ()>;
    /// Done: the job leaves the queue.
    fn ack(&self) -> BoxFuture<'_, ()>;
    /// Give it back to be delivered again after `delay`.
    fn nak(&self, delay: Duration) -> BoxFuture<'_, ()>;
    /// Never deliver it again (bad input: its task fails).
    fn term(&self) -> BoxFuture<'_, ()>;
}

/// An outcome handed to the scheduler, until it acknowledges it (after applying it).
pub trait OutcomeDelivery: Send + Sync {
    /// The outcome.
    fn outcome(&self) -> &Outcome;
    /// Applied: never deliver it again.
    fn ack(&self) -> BoxFuture<'_, ()>;
}

/// The queue between the scheduler and its workers, with the artifact store and the
/// worker registry that go with it.
pub trait Queue: Send + Sync {
    /// The settings this queue runs with.
    fn settings(&self) -> &QueueSettings;
    /// Queues a job (dropped if a job with its id was submitted within the duplicate
    /// window).
    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, ()>;
    /// Waits up to `wait` for a job that `admit` admits.
    fn take<'a>(
        &'a self,
        admit: &'a Admission,
        wait: Duration,
    ) -> BoxFuture<'a, Option<Box<dyn Delivery>>>;
    /// Publishes an outcome for the scheduler.
    fn report<'a>(&'a self, outcome: &'a Outcome) -> BoxFuture<'a, ()>;
    /// Waits up to `wait` for the next outcome (at least once: acknowledge it once applied).
    fn next_outcome(&self, wait: Duration) -> BoxFuture<'_, Option<Box<dyn OutcomeDelivery>>>;
    /// Removes the job at `queue_seq` for good (its task ended without it).
    fn remove(&self, queue_seq: u64) -> BoxFuture<'_, ()>;
    /// Jobs waiting or running, by job kind ([`JobSpec::kind`]).
    fn depth(&self) -> BoxFuture<'_, Depths>;
    /// Stores an artifact under `name` unless one is there (names are content-addressed).
    fn put_artifact<'a>(&'a self, name: &'a str, path: &'a std::path::Path) -> BoxFuture<'a, ()>;
    /// Copies artifact `name` to `dest`.
    fn get_artifact<'a>(&'a self, name: &'a str, dest: &'a std::path::Path) -> BoxFuture<'a, ()>;
    /// Records a worker's heartbeat.
    fn heartbeat<'a>(&'a self, worker: &'a WorkerInfo) -> BoxFuture<'a, ()>;
    /// Removes a worker from the registry (it left, or was declared dead).
    fn forget_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// The registered workers with their last heartbeat.
    fn workers(&self) -> BoxFuture<'_, Vec<WorkerInfo>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_lands_in_a_tier_that_every_listening_worker_can_hold() {
        for bytes in [0u64, 1, 1 << 20, (1 << 24) + 1, 3 << 30, 1 << 40] {
            let t = memory_tier(bytes).expect("a tier");
            assert!(bytes <= 1 << t);
            // A worker with exactly 2^t bytes listens to tier t; one with less does not.
            assert!(tiers_within(1 << t).contains(&t));
            assert!(!tiers_within((1 << t) - 1).contains(&t));
        }
        assert_eq!(memory_tier((1 << 40) + 1), None);
        assert_eq!(tiers_within(24 << 30), vec![34, 32, 30, 28, 26, 24]);
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = QueueSettings {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..Default::default()
        };
        let got: Vec<u128> = (1..=6).map(|d| s.backoff_for(d).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 700, 700, 700]);
    }

    #[test]
    fn admission_checks_kind_class_and_memory() {
        let job = JobSpec {
            id: "t/groth16".into(),
            task: "t".into(),
            kind: "groth16".into(),
            class: "any".into(),
            memory_bytes: 1000,
            circuit: "c".into(),
            has_wasm: false,
            input_kind: InputKind::Wtns,
            input: JobInput::Inline(String::new()),
            requeues: 0,
            timeout_ms: None,
            fhe: None,
            part: None,
            witness: None,
        };
        let admit = Admission {
            kinds: vec!["groth16".into()],
            classes: vec!["cpu".into()],
            memory_bytes: 1000,
        };
        assert!(admit.admits(&job));
        assert!(!Admission {
            memory_bytes: 999,
            ..admit.clone()
        }
        .admits(&job));
        assert!(!admit.admits(&JobSpec {
            class: "cuda".into(),
            ..job.clone()
        }));
        assert!(admit.admits(&JobSpec {
            class: "cpu".into(),
            ..job.clone()
        }));
        assert!(!admit.admits(&JobSpec {
            kind: "pbs".into(),
            ..job
        }));
    }
}
