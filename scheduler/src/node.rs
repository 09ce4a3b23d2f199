//! The node's scheduler and device worker: fair dispatch of stored tasks, proving through
//! the prover's job graph, retries, deadlines and recovery after a crash.
//!
//! Tasks wait in one queue per owner (API key); the dispatcher takes them round-robin
//! across owners, so one client's burst does not starve another's. The worker runs a
//! task's job graph (`<task id>/<role>` job ids) on this machine's registered backends
//! through [`LocalExecutor`], which places each job on a device. Proving keys are
//! prepared once per circuit and stay resident.
//!
//! With a queue ([`Scheduler::use_remote`], `fornax node --queue`), the same fair queue
//! decides the order, but a task's proof goes out as one job to a worker elsewhere and its
//! outcome comes back through [`crate::dispatch`]; this node's devices stay idle.
//!
//! Recovery: at start every task that is not final goes back to `scheduled` (a task
//! interrupted mid-proof is simply proved again: proving is deterministic in its inputs
//! and a proof is stored in the same atomic write as `proved`, so no task is proved
//! twice), and is queued again in creation order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ark_bn254::Fr;
use fornax_kernels::DeviceRegistry;
use fornax_prover::json::{public_to_json, ProofJson};
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{wtns, JobGraph, LocalExecutor, PreparedKey, ProverError, ProvingKey};

use crate::dispatch::Remote;
use crate::store::{NewTask, Store, StoreError, StoredProof};
use crate::task::{new_task_id, now_ms, ChainLink, Failure, InputKind, State, Task};

/// A proving task to create, as [`Scheduler::submit`] takes it: the caller has checked the
/// circuit and the input; the scheduler gives it its id, times and state.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The circuit's id.
    pub circuit: String,
    /// Who owns the task (an API key's name, or `chain`).
    pub owner: String,
    /// What the input bytes are.
    pub input_kind: InputKind,
    /// The input: circuit inputs as JSON, or a `.wtns` file.
    pub input: Vec<u8>,
    /// When the task expires, milliseconds since the epoch.
    pub deadline_ms: Option<u64>,
    /// The owner's idempotency key.
    pub idempotency_key: Option<String>,
    /// Where to POST the task's events.
    pub webhook: Option<String>,
    /// The on-chain task it answers.
    pub chain: Option<ChainLink>,
}

/// What `GET /v1/events` streams: task state changes and job progress.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Most events are task changes: boxing the big variant would add an allocation to each.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// A task changed state (the record after the change).
    Task {
        /// The task.
        task: Task,
    },
    /// A job of a task finished on a device.
    Job {
        /// The task.
        task: String,
        /// Its owner (events are shown to the owner only).
        owner: String,
        /// The job's id, `<task>/<role>`.
        job: String,
        /// The device it ran on.
        device: String,
        /// How long it took, milliseconds.
        ms: f64,
        /// Jobs of the task finished so far, and in all.
        done: usize,
        /// See `done`.
        total: usize,
    },
}

impl Event {
    /// The owner of the task the event is about.
    pub fn owner(&self) -> &str {
        match self {
            Event::Task { task } => &task.owner,
            Event::Job { owner, .. } => owner,
        }
    }

    /// The task the event is about.
    pub fn task_id(&self) -> &str {
        match self {
            Event::Task { task } => &task.id,
            Event::Job { task, .. } => task,
        }
    }
}

/// Node settings that the scheduler uses.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Proving attempts per task before a retryable error fails it for good.
    pub attempts: u32,
    /// How often deadlines are checked.
    pub deadline_check: Duration,
    /// Working memory the device worker may give one task's jobs at once, bytes (the
    /// jobs of a wave run together); `None`: the device's memory.
    pub memory_budget: Option<u64>,
    /// A proving attempt running longer than this is given up: the task is retried (or
    /// fails with `timeout` once its attempts are spent) and the node reports itself not
    /// ready until the stuck attempt returns (a hung device is for the operator to see).
    pub job_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            attempts: 3,
            deadline_check: Duration::from_millis(100),
            memory_budget: None,
            job_timeout: Duration::from_secs(3600),
        }
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    /// Tasks accepted.
    pub submitted: AtomicU64,
    /// Tasks per final state, indexed like [`State::ALL`].
    pub finished: [AtomicU64; State::ALL.len()],
    /// Proofs made, and their total proving time in microseconds.
    pub proofs: AtomicU64,
    /// See `proofs`.
    pub prove_us: AtomicU64,
    /// Per job role and device: (count, total microseconds).
    pub jobs: Mutex<HashMap<(String, String), (u64, u64)>>,
}

/// The fair queue: one FIFO per owner, served round-robin.
#[derive(Default)]
struct FairQueue {
    per_owner: HashMap<String, VecDeque<String>>,
    rotation: VecDeque<String>,
    len: usize,
}

impl FairQueue {
    fn push(&mut self, owner: &str, id: String) {
        let q = self.per_owner.entry(owner.to_string()).or_default();
        if q.is_empty() {
            self.rotation.push_back(owner.to_string());
        }
        q.push_back(id);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<String> {
        let owner = self.rotation.pop_front()?;
        let q = self
            .per_owner
            .get_mut(&owner)
            .expect("rotating owners have queues");
        let id = q.pop_front().expect("rotating owners have work");
        if q.is_empty() {
            self.per_owner.remove(&owner);
        } else {
            self.rotation.push_back(owner);
        }
        self.len -= 1;
        Some(id)
    }
}

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
    ) -> Result<Self, LoadError> {
        let pk = ProvingKey::from_bytes(&format!("{id}.zkey"), zkey)?;
        let key = exec.prepare(id, pk)?;
        let calculator = match wasm {
            Some(wasm) => Some(Mutex::new(WitnessCalculator::from_bytes(
                &format!("{id}.wasm"),
                wasm,
            )?)),
            None => None,
        };
        Ok(LoadedCircuit { key, calculator })
    }
}

/// A prover error as a task failure: an unsatisfied witness is the client's, the rest
/// is retried if the error says so.
pub(crate) fn prover_failure(e: ProverError) -> AttemptError {
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
/// circuit's witness generator; checked against the circuit's wire count.
pub(crate) fn compute_witness(
    task: &str,
    kind: InputKind,
    circuit: &LoadedCircuit,
    input: &[u8],
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
                .calculate(&name, &inputs)
                .map_err(|e| AttemptError::fatal("witness_generation_failed", e.to_string()))?
        }
    };
    if w.len() != circuit.key.shape().n_vars {
        return Err(AttemptError::fatal(
            "invalid_witness",
            format!(
                "the witness has {} values; the circuit has {} wires",
                w.len(),
                circuit.key.shape().n_vars
            ),
        ));
    }
    Ok(w)
}

/// The scheduler and its worker.
pub struct Scheduler {
    store: Arc<Store>,
    config: SchedulerConfig,
    exec: LocalExecutor,
    /// Memory of the device the worker proves on (0 if unknown).
    device_memory: u64,
    circuits: Mutex<HashMap<String, Arc<LoadedCircuit>>>,
    queue: Mutex<FairQueue>,
    wake: Condvar,
    ready: AtomicBool,
    stop: AtomicBool,
    /// Queued tasks with a deadline, by deadline.
    deadlines: Mutex<std::collections::BTreeSet<(u64, String)>>,
    /// The attempt the worker is running: task id and start.
    current: Mutex<Option<(String, Instant)>>,
    /// Set while an attempt that timed out has not returned.
    stalled: AtomicBool,
    events: tokio::sync::broadcast::Sender<Event>,
    /// Where proved chain tasks go to be posted (set by the chain service).
    poster: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// Where stored proofs go to be signed by the attested worker (set by the TEE service).
    signer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Set when jobs go to workers through a queue instead of this node's devices.
    remote: std::sync::OnceLock<Arc<Remote>>,
}

/// Why a proving attempt failed.
pub(crate) struct AttemptError {
    /// The failure, as the task records it.
    pub(crate) failure: Failure,
    /// Whether another attempt may succeed.
    pub(crate) retryable: bool,
}

impl AttemptError {
    pub(crate) fn fatal(code: &str, message: impl Into<String>) -> Self {
        AttemptError {
            failure: Failure {
                code: code.into(),
                message: message.into(),
            },
            retryable: false,
        }
    }
}

impl From<StoreError> for AttemptError {
    fn from(e: StoreError) -> Self {
        AttemptError {
            failure: Failure {
                code: "store_error".into(),
                message: e.to_string(),
            },
            retryable: true,
        }
    }
}

impl Scheduler {
    /// A scheduler over `store` with this machine's devices.
    pub fn new(store: Arc<Store>, config: SchedulerConfig) -> Arc<Self> {
        let registry = DeviceRegistry::discover();
        let device_memory = registry.preferred().info().memory_bytes;
        Arc::new(Scheduler {
            store,
            config,
            exec: LocalExecutor::new(registry),
            device_memory,
            circuits: Mutex::new(HashMap::new()),
            queue: Mutex::new(FairQueue::default()),
            wake: Condvar::new(),
            ready: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            deadlines: Mutex::new(Default::default()),
            current: Mutex::new(None),
            stalled: AtomicBool::new(false),
            events: tokio::sync::broadcast::channel(4096).0,
            poster: Mutex::new(None),
            signer: Mutex::new(None),
            metrics: Metrics::default(),
            remote: std::sync::OnceLock::new(),
        })
    }

    /// Requeues every unfinished task, then starts the worker and the deadline checker.
    pub fn start(self: &Arc<Self>) -> Result<(), StoreError> {
        for task in self.store.unfinished()? {
            if task.state == State::Posting {
                // Proved already: the chain service posts it when it starts.
                continue;
            }
            let task = match task.state {
                State::Proving => {
                    self.transition(&task.id, State::Scheduled, None, None, None, |_| {})?
                }
                _ => task,
            };
            self.enqueue(&task);
        }
        self.ready.store(true, Ordering::SeqCst);
        let worker = Arc::clone(self);
        std::thread::Builder::new()
            .name("fornax-worker-cpu".into())
            .spawn(move || worker.work())
            .expect("spawn the worker");
        let checker = Arc::clone(self);
        std::thread::Builder::new()
            .name("fornax-deadlines".into())
            .spawn(move || checker.check_deadlines())
            .expect("spawn the deadline checker");
        Ok(())
    }

    /// Working memory a task's jobs may use at once on the device worker.
    pub fn memory_budget(&self) -> u64 {
        self.config.memory_budget.unwrap_or_else(|| {
            if self.device_memory == 0 {
                u64::MAX
            } else {
                self.device_memory
            }
        })
    }

    /// Proving attempts per task before a retryable error fails it.
    pub fn attempts(&self) -> u32 {
        self.config.attempts
    }

    /// Whether recovery is done and tasks are being served.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && !self.stalled.load(Ordering::SeqCst)
    }

    /// Tasks waiting for a device.
    pub fn queue_depth(&self) -> usize {
        self.queue.lock().expect("queue lock").len
    }

    /// Stops the worker after its current task (for tests and shutdown).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Connects the chain service: proved chain tasks are sent to `poster` from now on.
    pub fn set_poster(&self, poster: tokio::sync::mpsc::UnboundedSender<String>) {
        *self.poster.lock().expect("poster lock") = Some(poster);
    }

    /// Hands a task in state `posting` to the chain service (or leaves it, with a warning,
    /// until a node with a chain configured starts).
    pub fn post(&self, id: &str) {
        match &*self.poster.lock().expect("poster lock") {
            Some(tx) if tx.send(id.to_string()).is_ok() => {}
            _ => eprintln!("fornax node: task {id} waits to be posted, but no chain is configured"),
        }
    }

    /// Connects the attested worker: every proof stored from now on is sent to `signer`
    /// to be signed and recorded.
    pub fn set_signer(&self, signer: tokio::sync::mpsc::UnboundedSender<String>) {
        *self.signer.lock().expect("signer lock") = Some(signer);
    }

    /// Hands a stored proof to the attested worker, if there is one.
    fn sign(&self, id: &str) {
        if let Some(tx) = &*self.signer.lock().expect("signer lock") {
            let _ = tx.send(id.to_string());
        }
    }

    /// Subscribes to task and job events (a slow subscriber misses the oldest ones).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Creates a proving task: the only way one is made (the HTTP API and the chain listener
    /// both call this). It is stored with its input in one synced write; only a new task is
    /// then counted, announced and queued. Returns the task and whether it is new: an
    /// idempotency key the owner used before names the earlier task, which is returned
    /// unchanged.
    pub fn submit(&self, new: Submission) -> Result<(Task, bool), StoreError> {
        let now = now_ms();
        let task = Task {
            id: new_task_id(now),
            circuit: new.circuit,
            owner: new.owner,
            state: State::Submitted,
            failure: None,
            input: new.input_kind,
            created_ms: now,
            updated_ms: now,
            deadline_ms: new.deadline_ms,
            failed_attempts: 0,
            transitions: 0,
            idempotency_key: new.idempotency_key,
            webhook: new.webhook,
            chain: new.chain,
            signed: None,
            worker: None,
            counted_delivery: 0,
        };
        let (task, created) = self.store.create_task(NewTask {
            task,
            input: new.input,
        })?;
        if created {
            self.metrics.submitted.fetch_add(1, Ordering::Relaxed);
            self.publish(&task);
            self.enqueue(&task);
        }
        Ok((task, created))
    }

    /// Tells subscribers about a task's new state.
    pub fn publish(&self, task: &Task) {
        let _ = self.events.send(Event::Task { task: task.clone() });
    }

    /// [`Store::transition`], then tells subscribers.
    pub fn transition(
        &self,
        id: &str,
        to: State,
        allowed_from: Option<&[State]>,
        failure: Option<Failure>,
        proof: Option<&StoredProof>,
        update: impl FnOnce(&mut Task),
    ) -> Result<Task, StoreError> {
        let task = self
            .store
            .transition(id, to, allowed_from, failure, proof, update)?;
        self.publish(&task);
        Ok(task)
    }

    /// Queues a stored task for proving.
    pub fn enqueue(&self, task: &Task) {
        self.queue
            .lock()
            .expect("queue lock")
            .push(&task.owner, task.id.clone());
        self.wake.notify_one();
        if let Some(d) = task.deadline_ms {
            self.deadlines
                .lock()
                .expect("deadlines lock")
                .insert((d, task.id.clone()));
        }
    }

    /// The circuit, loaded (key prepared on the device, witness generator instantiated)
    /// on first use.
    pub fn circuit(&self, id: &str) -> Result<Arc<LoadedCircuit>, LoadError> {
        if let Some(c) = self.circuits.lock().expect("circuits lock").get(id) {
            return Ok(Arc::clone(c));
        }
        let meta = self
            .store
            .circuit(id)?
            .ok_or_else(|| LoadError(format!("unknown circuit {id}")))?;
        let zkey = self.store.artifact(&format!("{id}.zkey"))?;
        let wasm = match meta.has_wasm {
            true => Some(self.store.artifact(&format!("{id}.wasm"))?),
            false => None,
        };
        let loaded = Arc::new(LoadedCircuit::load(&self.exec, id, &zkey, wasm.as_deref())?);
        self.circuits
            .lock()
            .expect("circuits lock")
            .insert(id.to_string(), Arc::clone(&loaded));
        Ok(loaded)
    }

    fn next(&self) -> Option<String> {
        let mut q = self.queue.lock().expect("queue lock");
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return None;
            }
            if let Some(id) = q.pop() {
                return Some(id);
            }
            q = self
                .wake
                .wait_timeout(q, Duration::from_millis(500))
                .expect("queue lock")
                .0;
        }
    }

    /// Sends jobs to workers through `remote` instead of proving on this node's devices.
    /// Call before [`start`](Self::start).
    pub fn use_remote(&self, remote: Arc<Remote>) {
        if self.remote.set(remote).is_err() {
            panic!("the scheduler's queue is set once, before it starts");
        }
    }

    /// The queue to remote workers, if jobs go through one.
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.get()
    }

    fn work(&self) {
        loop {
            // With remote workers, keep at most a window of tasks in the queue so that the
            // fair queue here still decides the order.
            if let Some(remote) = self.remote.get() {
                while !remote.has_room() && !self.stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let Some(id) = self.next() else { break };
            *self.current.lock().expect("current lock") = Some((id.clone(), Instant::now()));
            if let Err(e) = self.run(&id) {
                eprintln!("fornax node: task {id}: {e}");
            }
            *self.current.lock().expect("current lock") = None;
            self.stalled.store(false, Ordering::SeqCst);
        }
    }

    /// Counts a task that reached final `state`.
    pub fn finish(&self, state: State) {
        let i = State::ALL
            .iter()
            .position(|s| *s == state)
            .expect("a state");
        self.metrics.finished[i].fetch_add(1, Ordering::Relaxed);
    }

    /// One proving attempt for task `id`.
    fn run(&self, id: &str) -> Result<(), StoreError> {
        let Some(task) = self.store.task(id)? else {
            return Ok(());
        };
        if task.state.is_final() {
            return Ok(());
        }
        if task.deadline_ms.is_some_and(|d| now_ms() > d) {
            self.expire(id)?;
            return Ok(());
        }
        let from = [State::Submitted, State::Scheduled];
        if let Err(e) = self.transition(id, State::Scheduled, Some(&from[..]), None, None, |_| {}) {
            return ignore_forbidden(e);
        }
        if let Err(e) = self.transition(
            id,
            State::Proving,
            Some(&[State::Scheduled][..]),
            None,
            None,
            |_| {},
        ) {
            return ignore_forbidden(e);
        }
        if let Some(remote) = self.remote.get() {
            // Proved by a worker elsewhere: the outcome comes back through the queue.
            return remote.dispatch(self, &task);
        }
        match self.attempt(&task) {
            Ok(proof) => self.proof_done(&task, &proof, |_| {}).map(|_| ()),
            Err(e) if e.retryable && task.failed_attempts + 1 < self.config.attempts => {
                eprintln!(
                    "fornax node: task {id}: retrying after {}: {}",
                    e.failure.code, e.failure.message
                );
                let t = self.transition(
                    id,
                    State::Scheduled,
                    Some(&[State::Proving][..]),
                    None,
                    None,
                    |t| t.failed_attempts += 1,
                );
                match t {
                    Ok(t) => {
                        self.enqueue(&t);
                        Ok(())
                    }
                    Err(e) => ignore_forbidden(e),
                }
            }
            Err(e) => {
                match self.transition(id, State::Failed, None, Some(e.failure), None, |t| {
                    t.failed_attempts += 1
                }) {
                    Ok(_) => {
                        self.finish(State::Failed);
                        Ok(())
                    }
                    Err(e) => ignore_forbidden(e),
                }
            }
        }
    }

    /// Stores a task's proof (`proving` → `proved`, or `posting` for a chain task), then
    /// signs, posts and counts it. Returns whether the proof was stored: a task that was
    /// cancelled or expired meanwhile, or proved already, keeps its state
    /// (first write wins).
    pub(crate) fn proof_done(
        &self,
        task: &Task,
        proof: &StoredProof,
        update: impl FnOnce(&mut Task),
    ) -> Result<bool, StoreError> {
        // A chain task goes on to be posted; the others are done.
        let next = if task.chain.is_some() {
            State::Posting
        } else {
            State::Proved
        };
        match self.transition(
            &task.id,
            next,
            Some(&[State::Proving][..]),
            None,
            Some(proof),
            update,
        ) {
            Ok(_) => {
                self.sign(&task.id);
                self.metrics.proofs.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .prove_us
                    .fetch_add((proof.prove_ms * 1e3) as u64, Ordering::Relaxed);
                if next == State::Posting {
                    self.post(&task.id);
                } else {
                    self.finish(State::Proved);
                }
                Ok(true)
            }
            // Cancelled or expired while proving: the proof is dropped.
            Err(e) => ignore_forbidden(e).map(|_| false),
        }
    }

    fn attempt(&self, task: &Task) -> Result<StoredProof, AttemptError> {
        let circuit = self.circuit(&task.circuit).map_err(|e| AttemptError {
            failure: Failure {
                code: "circuit_unavailable".into(),
                message: e.0,
            },
            retryable: true,
        })?;
        let input = self.store.input(&task.id)?.ok_or_else(|| {
            AttemptError::fatal("internal", "the task's input is missing from the store")
        })?;
        let witness = compute_witness(&task.id, task.input, &circuit, &input)?;
        let graph = JobGraph::groth16(&task.id, circuit.key.shape());
        // Admission: the jobs of a wave run together, so the largest wave must fit in the
        // worker's budget; on this node it never will if it does not now (one task runs at
        // a time), so the task fails rather than waits.
        let peak: u64 = graph
            .waves()
            .iter()
            .map(|w| w.iter().map(|j| j.memory_bytes).sum::<u64>())
            .max()
            .unwrap_or(0);
        let budget = self.memory_budget();
        if peak > budget {
            return Err(AttemptError::fatal(
                "insufficient_memory",
                format!(
                    "the proof's jobs need {} MiB at once; this node's device worker has {} MiB",
                    peak >> 20,
                    budget >> 20
                ),
            ));
        }
        let started = Instant::now();
        let total = graph.jobs.len();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let on_job = |job: &fornax_prover::Job, device: &str, d: Duration| {
            let done = done.fetch_add(1, Ordering::Relaxed) + 1;
            let _ = self.events.send(Event::Job {
                task: task.id.clone(),
                owner: task.owner.clone(),
                job: job.id.to_string(),
                device: device.to_string(),
                ms: d.as_secs_f64() * 1e3,
                done,
                total,
            });
        };
        let (proof, public, timings) = self
            .exec
            .run_observed(
                &graph,
                &circuit.key,
                witness,
                &mut rand::rngs::OsRng,
                &on_job,
            )
            .map_err(prover_failure)?;
        let mut jobs = self.metrics.jobs.lock().expect("metrics lock");
        for (role, device, d) in &timings.jobs {
            let entry = jobs.entry((role.clone(), device.clone())).or_default();
            entry.0 += 1;
            entry.1 += d.as_micros() as u64;
        }
        Ok(StoredProof {
            proof: serde_json::to_value(ProofJson::from_proof(&proof)).expect("serialisable"),
            public: serde_json::to_value(public_to_json(&public)).expect("serialisable"),
            prove_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    fn expire(&self, id: &str) -> Result<(), StoreError> {
        // A task being posted is the chain's to settle or reject: its transaction may
        // still land before the on-chain deadline.
        let before = [State::Submitted, State::Scheduled, State::Proving];
        match self.transition(id, State::Expired, Some(&before[..]), None, None, |_| {}) {
            Ok(_) => {
                self.finish(State::Expired);
                Ok(())
            }
            Err(e) => ignore_forbidden(e),
        }
    }

    /// Expires queued tasks whose deadline passed (a task being proved is expired when
    /// its proof would be stored too late: its `proved` transition is refused).
    fn check_deadlines(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            std::thread::sleep(self.config.deadline_check);
            let now = now_ms();
            let due: Vec<String> = {
                let mut deadlines = self.deadlines.lock().expect("deadlines lock");
                let mut due = Vec::new();
                while deadlines.first().is_some_and(|(d, _)| *d < now) {
                    due.push(deadlines.pop_first().expect("non-empty").1);
                }
                due
            };
            for id in due {
                if let Err(e) = self.expire(&id) {
                    eprintln!("fornax node: expiring {id}: {e}");
                }
            }
            self.check_timeout();
        }
    }

    /// Gives up an attempt that has run longer than the job timeout.
    fn check_timeout(&self) {
        let running = self.current.lock().expect("current lock").clone();
        let Some((id, started)) = running else { return };
        if started.elapsed() < self.config.job_timeout || self.stalled.load(Ordering::SeqCst) {
            return;
        }
        self.stalled.store(true, Ordering::SeqCst);
        eprintln!(
            "fornax node: task {id}: attempt still running after {:?}; giving it up",
            self.config.job_timeout
        );
        let Ok(Some(task)) = self.store.task(&id) else {
            return;
        };
        let result = if task.failed_attempts + 1 < self.config.attempts {
            self.transition(
                &id,
                State::Scheduled,
                Some(&[State::Proving][..]),
                None,
                None,
                |t| t.failed_attempts += 1,
            )
            .map(|t| self.enqueue(&t))
        } else {
            let failure = Failure {
                code: "timeout".into(),
                message: format!("proving took longer than {:?}", self.config.job_timeout),
            };
            self.transition(
                &id,
                State::Failed,
                Some(&[State::Proving][..]),
                Some(failure),
                None,
                |t| t.failed_attempts += 1,
            )
            .map(|_| self.finish(State::Failed))
        };
        if let Err(e) = result.or_else(ignore_forbidden) {
            eprintln!("fornax node: task {id}: {e}");
        }
    }

    /// The store this scheduler works from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// A circuit that could not be loaded for proving.
#[derive(Debug)]
pub struct LoadError(pub String);

impl From<StoreError> for LoadError {
    fn from(e: StoreError) -> Self {
        LoadError(e.to_string())
    }
}

impl From<ProverError> for LoadError {
    fn from(e: ProverError) -> Self {
        LoadError(e.to_string())
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn ignore_forbidden(e: StoreError) -> Result<(), StoreError> {
    match e {
        StoreError::Forbidden { .. } => Ok(()),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_fair_across_owners() {
        let mut q = FairQueue::default();
        for i in 0..100 {
            q.push("burst", format!("b{i}"));
        }
        q.push("other", "o0".into());
        q.push("other", "o1".into());
        let first: Vec<String> = (0..4).filter_map(|_| q.pop()).collect();
        assert_eq!(first, ["b0", "o0", "b1", "o1"]);
        assert_eq!(q.len, 98);
        let rest: Vec<String> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(rest.len(), 98);
        assert!(rest.iter().all(|id| id.starts_with('b')));
    }
}
