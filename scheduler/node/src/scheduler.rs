//! The node's scheduler: fair order of stored tasks, their dispatch as jobs to workers,
//! deadlines, and recovery after a crash.
//!
//! Tasks wait in one queue per owner (API key); the dispatcher takes them round-robin
//! across owners, so one client's burst does not starve another's. The node proves
//! nothing itself: every task goes out as a job through [`crate::dispatch`] to a queue and
//! its workers (in this process by default, [`crate::embedded`]; on other machines with
//! `fornax node --queue nats://…`), and its outcome comes back the same way. At most a
//! window of tasks is out at once, so the fair queue here, not the queue server, decides
//! the order.
//!
//! Recovery: at start every task that is not final goes back to `scheduled` (a task
//! interrupted mid-proof is simply proved again: proving is deterministic in its inputs
//! and a proof is stored in the same atomic write as `proved`, so no task is proved
//! twice), and is queued again in creation order.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::dispatch::Dispatcher;
use crate::store::{NewTask, Store, StoreError, StoredProof, TaskOutput};
use crate::task::{
    new_task_id, now_ms, ChainLink, Failure, FheLink, FheResult, InputKind, State, Task, TaskKind,
};

/// A task to create, as [`Scheduler::submit`] takes it: the caller has checked the circuit
/// (or FHE program) and the input; the scheduler gives it its id, times and state.
#[derive(Clone, Debug)]
pub struct Submission {
    /// What it computes.
    pub kind: TaskKind,
    /// The circuit's id (for an FHE task, the program's).
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
    /// For an FHE task: its key set.
    pub fhe: Option<FheLink>,
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
    /// A part of a task's proof (the witness, an NTT, an MSM, …) ran on a device: one
    /// event per part, sent when the proof that the worker reported is stored.
    Job {
        /// The task.
        task: String,
        /// Its owner (events are shown to the owner only).
        owner: String,
        /// The part's id, `<task>/<role>`.
        job: String,
        /// The device it ran on.
        device: String,
        /// How long it took, milliseconds.
        ms: f64,
        /// Parts of the proof counted so far, and in all.
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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            attempts: 3,
            deadline_check: Duration::from_millis(100),
        }
    }
}

/// Counters for `/metrics`.
pub struct Metrics {
    /// Tasks accepted.
    pub submitted: AtomicU64,
    /// Tasks per final state, indexed like [`State::ALL`].
    pub finished: [AtomicU64; State::ALL.len()],
    /// Proofs made, and their total proving time in microseconds.
    pub proofs: AtomicU64,
    /// See `proofs`.
    pub prove_us: AtomicU64,
    /// FHE tasks evaluated, and their total evaluation time in microseconds.
    pub fhe_tasks: AtomicU64,
    /// See `fhe_tasks`.
    pub fhe_eval_us: AtomicU64,
    /// Job durations per job role and device (labels `job`, `device`).
    pub jobs: crate::metrics::Durations,
    /// With a chain: the poster's transactions broadcast and not mined, at the last look
    /// ([`fornax_chain_adapter::poster::Poster::nonce_lag`]).
    pub chain_nonce_lag: std::sync::OnceLock<AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            submitted: Default::default(),
            finished: Default::default(),
            proofs: Default::default(),
            prove_us: Default::default(),
            fhe_tasks: Default::default(),
            fhe_eval_us: Default::default(),
            jobs: crate::metrics::durations(),
            chain_nonce_lag: Default::default(),
        }
    }
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

/// The scheduler: the fair queue of stored tasks and the thread that sends them out.
pub struct Scheduler {
    store: Arc<Store>,
    config: SchedulerConfig,
    queue: Mutex<FairQueue>,
    wake: Condvar,
    ready: AtomicBool,
    stop: AtomicBool,
    /// Queued tasks with a deadline, by deadline.
    deadlines: Mutex<std::collections::BTreeSet<(u64, String)>>,
    events: tokio::sync::broadcast::Sender<Event>,
    /// Where proved chain tasks go to be posted (set by the chain service).
    poster: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// Where stored proofs go to be signed by the attested worker (set by the TEE service).
    signer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Where jobs go (set once, by [`Scheduler::start`]).
    dispatcher: std::sync::OnceLock<Arc<Dispatcher>>,
    /// What assembles and verifies each circuit's proofs, read once from its zkey.
    assemblers: Mutex<HashMap<String, Arc<fornax_prover::Assembler>>>,
}

impl Scheduler {
    /// A scheduler over `store`.
    pub fn new(store: Arc<Store>, config: SchedulerConfig) -> Arc<Self> {
        Arc::new(Scheduler {
            store,
            config,
            queue: Mutex::new(FairQueue::default()),
            wake: Condvar::new(),
            ready: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            deadlines: Mutex::new(Default::default()),
            events: tokio::sync::broadcast::channel(4096).0,
            poster: Mutex::new(None),
            signer: Mutex::new(None),
            metrics: Metrics::default(),
            dispatcher: std::sync::OnceLock::new(),
            assemblers: Mutex::new(HashMap::new()),
        })
    }

    /// Requeues every unfinished task, then starts sending tasks to `dispatcher`'s workers,
    /// applying their outcomes, and checking deadlines. Called once.
    pub fn start(self: &Arc<Self>, dispatcher: Arc<Dispatcher>) -> Result<(), StoreError> {
        if self.dispatcher.set(Arc::clone(&dispatcher)).is_err() {
            panic!("a scheduler is started once");
        }
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
        dispatcher.start(Arc::clone(self) as Arc<dyn crate::dispatch::Outcomes>);
        self.ready.store(true, Ordering::SeqCst);
        let sender = Arc::clone(self);
        std::thread::Builder::new()
            .name("fornax-dispatch".into())
            .spawn(move || sender.work())
            .expect("spawn the dispatcher");
        let checker = Arc::clone(self);
        std::thread::Builder::new()
            .name("fornax-deadlines".into())
            .spawn(move || checker.check_deadlines())
            .expect("spawn the deadline checker");
        Ok(())
    }

    /// Proving attempts per task before a retryable error fails it.
    pub fn attempts(&self) -> u32 {
        self.config.attempts
    }

    /// Whether recovery is done and tasks are being served (and this node's own workers,
    /// if it has any, are not stuck past a job's timeout).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
            && self
                .dispatcher
                .get()
                .is_some_and(|d| !d.local_workers_stalled())
    }

    /// Tasks waiting for a device.
    pub fn queue_depth(&self) -> usize {
        self.queue.lock().expect("queue lock").len
    }

    /// Stops sending tasks out (for tests and shutdown).
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
            _ => tracing::warn!(task = %id, "task waits to be posted, but no chain is configured"),
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

    /// Creates a task: the only way one is made (the HTTP API for proofs and for FHE, and
    /// the chain listener, all call this). It is stored with its input in one synced write; only a new task is
    /// then counted, announced and queued. Returns the task and whether it is new: an
    /// idempotency key the owner used before names the earlier task, which is returned
    /// unchanged.
    pub fn submit(&self, new: Submission) -> Result<(Task, bool), StoreError> {
        let now = now_ms();
        let task = Task {
            id: new_task_id(now),
            kind: new.kind,
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
            fhe: new.fhe,
            split: None,
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
        output: Option<TaskOutput<'_>>,
        update: impl FnOnce(&mut Task),
    ) -> Result<Task, StoreError> {
        let task = self
            .store
            .transition(id, to, allowed_from, failure, output, update)?;
        self.publish(&task);
        // A chain task goes on from `proved` to posting its result.
        if to.is_final() && !(to == State::Proved && task.chain.is_some()) {
            crate::traces::record_task(&task);
        }
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

    /// The verifying key of a stored circuit, read from its zkey on first use.
    pub fn verifying_key(&self, circuit: &str) -> Result<fornax_prover::VerifyingKey, String> {
        Ok(self.assembler(circuit)?.verifying_key().clone())
    }

    /// What assembles a stored circuit's split proofs (and holds its verifying key), read
    /// from its zkey on first use.
    pub fn assembler(&self, circuit: &str) -> Result<Arc<fornax_prover::Assembler>, String> {
        if let Some(a) = self.assemblers.lock().expect("keys lock").get(circuit) {
            return Ok(Arc::clone(a));
        }
        let name = format!("{circuit}.zkey");
        let zkey = self.store.artifact(&name).map_err(|e| e.to_string())?;
        let key = fornax_prover::ProvingKey::from_bytes(&name, &zkey).map_err(|e| e.to_string())?;
        let assembler = Arc::new(fornax_prover::Assembler::new(&name, &key));
        self.assemblers
            .lock()
            .expect("keys lock")
            .insert(circuit.to_string(), Arc::clone(&assembler));
        Ok(assembler)
    }

    /// Where jobs go, once started.
    pub fn dispatcher(&self) -> Option<&Arc<Dispatcher>> {
        self.dispatcher.get()
    }

    /// Sends queued tasks out, keeping at most the dispatcher's window in the queue so
    /// that the fair queue here decides the order.
    fn work(&self) {
        let dispatcher = self.dispatcher.get().expect("started with a dispatcher");
        loop {
            while !dispatcher.has_room() && !self.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let Some(id) = self.next() else { break };
            if let Err(e) = self.send(dispatcher, &id) {
                tracing::error!(task = %id, error = %e, "cannot send a task out");
            }
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

    /// Moves task `id` to `proving` and hands it to the dispatcher (or expires it).
    fn send(&self, dispatcher: &Dispatcher, id: &str) -> Result<(), StoreError> {
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
        match self.transition(
            id,
            State::Proving,
            Some(&[State::Scheduled][..]),
            None,
            None,
            |_| {},
        ) {
            Ok(task) => match dispatcher.dispatch(&self.store, &task) {
                Ok(()) => Ok(()),
                Err(failure) => self.fail(&task.id, failure, None),
            },
            Err(e) => ignore_forbidden(e),
        }
    }

    /// Tells subscribers that a part of a task's proof finished.
    pub(crate) fn publish_event(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Fails a task (from any state but a final one) and drops its job: from the queue at
    /// `queue_seq` when known, and from the jobs in flight.
    pub(crate) fn fail(
        &self,
        id: &str,
        failure: Failure,
        queue_seq: Option<u64>,
    ) -> Result<(), StoreError> {
        tracing::warn!(task = %id, code = %failure.code, error = %failure.message, "task failed");
        match self.transition(id, State::Failed, None, Some(failure), None, |t| {
            t.failed_attempts += 1
        }) {
            Ok(_) => self.finish(State::Failed),
            Err(e) => ignore_forbidden(e)?,
        }
        if let Some(dispatcher) = self.dispatcher.get() {
            dispatcher.drop_job(id, queue_seq);
        }
        Ok(())
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
            Some(TaskOutput::Proof(proof)),
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

    /// Stores an FHE task's outputs (`proving` → `proved`, which the FHE API calls `done`)
    /// and counts them. Returns whether they were stored (first write wins, as for proofs).
    pub(crate) fn fhe_done(
        &self,
        task: &Task,
        outputs: &[u8],
        result: FheResult,
        worker: String,
    ) -> Result<bool, StoreError> {
        let eval_us = result.eval_ms * 1000;
        match self.transition(
            &task.id,
            State::Proved,
            Some(&[State::Proving][..]),
            None,
            Some(TaskOutput::Fhe(outputs)),
            |t| {
                t.worker = Some(worker);
                if let Some(link) = t.fhe.as_mut() {
                    link.result = Some(result);
                }
            },
        ) {
            Ok(_) => {
                self.metrics.fhe_tasks.fetch_add(1, Ordering::Relaxed);
                self.metrics
                    .fhe_eval_us
                    .fetch_add(eval_us, Ordering::Relaxed);
                self.finish(State::Proved);
                Ok(true)
            }
            Err(e) => ignore_forbidden(e).map(|_| false),
        }
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
                    tracing::error!(task = %id, error = %e, "cannot expire a task");
                }
            }
        }
    }

    /// The store this scheduler works from.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
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
