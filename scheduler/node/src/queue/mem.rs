//! The in-process queue: the same semantics as the JetStream queue (leases, progress,
//! redelivery with backoff, a delivery budget, duplicate submissions dropped), in memory.
//! Nothing survives the process, which is what one process needs: the node's store holds
//! the tasks, and a restarted node queues them again.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{
    done, Admission, BoxFuture, Delivery, Depths, JobSpec, Outcome, OutcomeDelivery, OutcomeResult,
    Queue, QueueError, QueueSettings, WorkerInfo,
};
use crate::task::Failure;

struct Entry {
    job: JobSpec,
    delivered: u32,
    /// Not deliverable before this (a nak's delay).
    visible_at: Instant,
    /// Leased to a worker until this.
    leased_until: Option<Instant>,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    jobs: BTreeMap<u64, Entry>,
    /// Job ids submitted, with when (for the duplicate window).
    submitted: HashMap<String, Instant>,
    outcomes: VecDeque<Outcome>,
    workers: BTreeMap<String, WorkerInfo>,
}

struct Shared {
    settings: QueueSettings,
    state: Mutex<State>,
    changed: tokio::sync::Notify,
    artifacts: PathBuf,
}

/// The in-process queue. Cloning shares it.
#[derive(Clone)]
pub struct MemQueue(Arc<Shared>);

impl MemQueue {
    /// A queue with these settings whose artifacts live under `artifacts`.
    pub fn new(settings: QueueSettings, artifacts: &Path) -> Self {
        MemQueue(Arc::new(Shared {
            settings,
            state: Mutex::new(State::default()),
            changed: tokio::sync::Notify::new(),
            artifacts: artifacts.to_path_buf(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.state.lock().expect("queue lock")
    }

    /// Takes the first deliverable job `admit` admits; gives up jobs out of deliveries.
    fn try_take(&self, admit: &Admission) -> Option<MemDelivery> {
        let now = Instant::now();
        let mut state = self.lock();
        let max = self.0.settings.max_deliveries;
        let mut exhausted = Vec::new();
        let mut found = None;
        for (&seq, entry) in state.jobs.iter_mut() {
            let free = entry.leased_until.is_none_or(|t| t <= now);
            if !free || entry.visible_at > now || !admit.admits(&entry.job) {
                continue;
            }
            if entry.delivered >= max {
                exhausted.push(seq);
                continue;
            }
            entry.delivered += 1;
            entry.leased_until = Some(now + self.0.settings.ack_wait);
            found = Some(MemDelivery {
                queue: self.clone(),
                job: entry.job.clone(),
                seq,
                delivered: entry.delivered,
            });
            break;
        }
        for seq in exhausted {
            let entry = state.jobs.remove(&seq).expect("just seen");
            state
                .outcomes
                .push_back(max_deliveries(&entry.job, seq, entry.delivered));
        }
        found
    }
}

/// The queue's own verdict on a job out of deliveries.
pub(crate) fn max_deliveries(job: &JobSpec, seq: u64, delivered: u32) -> Outcome {
    Outcome {
        job: job.id.clone(),
        task: job.task.clone(),
        worker: "queue".into(),
        delivered,
        queue_seq: seq,
        result: OutcomeResult::Failed {
            failure: Failure {
                code: "max_deliveries".into(),
                message: format!(
                    "the job was delivered {delivered} times without a result (its workers died or timed out each time)"
                ),
            },
            retryable: false,
        },
    }
}

struct MemDelivery {
    queue: MemQueue,
    job: JobSpec,
    seq: u64,
    delivered: u32,
}

impl MemDelivery {
    /// Applies `f` to the job's entry if this delivery still holds its lease.
    fn with_entry(&self, f: impl FnOnce(&mut State, u64)) {
        let mut state = self.queue.lock();
        let current = state
            .jobs
            .get(&self.seq)
            .is_some_and(|e| e.delivered == self.delivered);
        if current {
            f(&mut state, self.seq);
        }
        drop(state);
        self.queue.0.changed.notify_waiters();
    }
}

impl Delivery for MemDelivery {
    fn job(&self) -> &JobSpec {
        &self.job
    }

    fn delivered(&self) -> u32 {
        self.delivered
    }

    fn queue_seq(&self) -> u64 {
        self.seq
    }

    fn progress(&self) -> BoxFuture<'_, ()> {
        let wait = self.queue.0.settings.ack_wait;
        self.with_entry(|s, seq| {
            if let Some(e) = s.jobs.get_mut(&seq) {
                e.leased_until = Some(Instant::now() + wait);
            }
        });
        done(())
    }

    fn ack(&self) -> BoxFuture<'_, ()> {
        // An ack removes the job whichever delivery sends it, as JetStream does.
        self.queue.lock().jobs.remove(&self.seq);
        self.queue.0.changed.notify_waiters();
        done(())
    }

    fn nak(&self, delay: Duration) -> BoxFuture<'_, ()> {
        self.with_entry(|s, seq| {
            if let Some(e) = s.jobs.get_mut(&seq) {
                e.leased_until = None;
                e.visible_at = Instant::now() + delay;
            }
        });
        done(())
    }

    fn term(&self) -> BoxFuture<'_, ()> {
        self.ack()
    }
}

struct MemOutcome(Outcome);

impl OutcomeDelivery for MemOutcome {
    fn outcome(&self) -> &Outcome {
        &self.0
    }

    fn ack(&self) -> BoxFuture<'_, ()> {
        done(())
    }
}

impl Queue for MemQueue {
    fn settings(&self) -> &QueueSettings {
        &self.0.settings
    }

    fn submit<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, ()> {
        let mut state = self.lock();
        let now = Instant::now();
        let window = self.0.settings.duplicate_window;
        state
            .submitted
            .retain(|_, at| now.duration_since(*at) < window);
        if !state.submitted.contains_key(&job.id) {
            state.submitted.insert(job.id.clone(), now);
            state.next_seq += 1;
            let seq = state.next_seq;
            state.jobs.insert(
                seq,
                Entry {
                    job: job.clone(),
                    delivered: 0,
                    visible_at: now,
                    leased_until: None,
                },
            );
        }
        drop(state);
        self.0.changed.notify_waiters();
        done(())
    }

    fn take<'a>(
        &'a self,
        admit: &'a Admission,
        wait: Duration,
    ) -> BoxFuture<'a, Option<Box<dyn Delivery>>> {
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                let changed = self.0.changed.notified();
                if let Some(d) = self.try_take(admit) {
                    return Ok(Some(Box::new(d) as Box<dyn Delivery>));
                }
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                // Leases and nak delays expire without a notification: look again soon.
                let nap = (deadline - now).min(Duration::from_millis(20));
                let _ = tokio::time::timeout(nap, changed).await;
            }
        })
    }

    fn report<'a>(&'a self, outcome: &'a Outcome) -> BoxFuture<'a, ()> {
        self.lock().outcomes.push_back(outcome.clone());
        self.0.changed.notify_waiters();
        done(())
    }

    fn next_outcome(&self, wait: Duration) -> BoxFuture<'_, Option<Box<dyn OutcomeDelivery>>> {
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                let changed = self.0.changed.notified();
                if let Some(o) = self.lock().outcomes.pop_front() {
                    return Ok(Some(Box::new(MemOutcome(o)) as Box<dyn OutcomeDelivery>));
                }
                // Exhausted jobs are noticed when a worker looks; look here too.
                let now = Instant::now();
                {
                    let mut state = self.lock();
                    let max = self.0.settings.max_deliveries;
                    let gone: Vec<u64> = state
                        .jobs
                        .iter()
                        .filter(|(_, e)| {
                            e.delivered >= max && e.leased_until.is_none_or(|t| t <= now)
                        })
                        .map(|(s, _)| *s)
                        .collect();
                    for seq in gone {
                        let e = state.jobs.remove(&seq).expect("just seen");
                        state
                            .outcomes
                            .push_back(max_deliveries(&e.job, seq, e.delivered));
                    }
                }
                if now >= deadline {
                    return Ok(None);
                }
                let nap = (deadline - now).min(Duration::from_millis(20));
                let _ = tokio::time::timeout(nap, changed).await;
            }
        })
    }

    fn remove(&self, queue_seq: u64) -> BoxFuture<'_, ()> {
        self.lock().jobs.remove(&queue_seq);
        done(())
    }

    fn depth(&self) -> BoxFuture<'_, Depths> {
        let mut depths = Depths::new();
        for entry in self.lock().jobs.values() {
            *depths.entry(entry.job.kind.clone()).or_default() += 1;
        }
        done(depths)
    }

    fn put_artifact<'a>(&'a self, name: &'a str, path: &'a Path) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let dest = self.0.artifacts.join(name);
            if dest == path || dest.exists() {
                return Ok(());
            }
            std::fs::create_dir_all(&self.0.artifacts).map_err(QueueError::transport)?;
            // Copied then renamed: a crash mid-copy leaves no partial artifact under its
            // name (the name says it is there, so it would never be written again).
            let tmp = self
                .0
                .artifacts
                .join(format!(".{name}.{:08x}.part", rand::random::<u32>()));
            let copied = std::fs::copy(path, &tmp).and_then(|_| std::fs::rename(&tmp, &dest));
            if copied.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            copied.map_err(QueueError::transport)
        })
    }

    fn get_artifact<'a>(&'a self, name: &'a str, dest: &'a Path) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let src = self.0.artifacts.join(name);
            if !src.exists() {
                return Err(QueueError::MissingArtifact(name.to_string()));
            }
            std::fs::copy(&src, dest).map_err(QueueError::transport)?;
            Ok(())
        })
    }

    fn heartbeat<'a>(&'a self, worker: &'a WorkerInfo) -> BoxFuture<'a, ()> {
        self.lock()
            .workers
            .insert(worker.id.clone(), worker.clone());
        done(())
    }

    fn forget_worker<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        self.lock().workers.remove(id);
        done(())
    }

    fn workers(&self) -> BoxFuture<'_, Vec<WorkerInfo>> {
        let list = self.lock().workers.values().cloned().collect();
        done(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::JobInput;
    use crate::task::InputKind;

    fn job(id: &str, memory: u64) -> JobSpec {
        JobSpec {
            id: format!("{id}/groth16"),
            task: id.into(),
            kind: "groth16".into(),
            class: "any".into(),
            memory_bytes: memory,
            circuit: "c".into(),
            has_wasm: false,
            input_kind: InputKind::Wtns,
            input: JobInput::Inline(String::new()),
            requeues: 0,
            timeout_ms: None,
            fhe: None,
            part: None,
            witness: None,
        }
    }

    fn admit(memory: u64) -> Admission {
        Admission {
            kinds: vec!["groth16".into()],
            classes: vec![],
            memory_bytes: memory,
        }
    }

    fn settings() -> QueueSettings {
        QueueSettings {
            ack_wait: Duration::from_millis(100),
            max_deliveries: 3,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn depth_counts_jobs_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let q = MemQueue::new(settings(), dir.path());
        q.submit(&job("a", 10)).await.unwrap();
        q.submit(&job("b", 10)).await.unwrap();
        let mut pbs = job("c", 10);
        pbs.kind = "pbs".into();
        q.submit(&pbs).await.unwrap();
        let depths = q.depth().await.unwrap();
        assert_eq!(
            depths,
            Depths::from([("groth16".into(), 2), ("pbs".into(), 1)])
        );
    }

    #[tokio::test]
    async fn duplicates_are_dropped_leases_expire_and_deliveries_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let q = MemQueue::new(settings(), dir.path());
        q.submit(&job("a", 10)).await.unwrap();
        q.submit(&job("a", 10)).await.unwrap();
        assert_eq!(
            q.depth().await.unwrap().values().sum::<u64>(),
            1,
            "a duplicate submission is dropped"
        );

        // Too big for this worker: not taken.
        let none = q.take(&admit(9), Duration::from_millis(30)).await.unwrap();
        assert!(none.is_none());

        // Taken, then the worker "dies": the lease expires and it is delivered again.
        let d1 = q.take(&admit(10), Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(d1.delivered(), 1);
        assert!(
            q.take(&admit(10), Duration::ZERO).await.unwrap().is_none(),
            "leased"
        );
        let d2 = q
            .take(&admit(10), Duration::from_millis(500))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d2.delivered(), 2);
        // The dead worker's late progress does not steal the lease back.
        d1.progress().await.unwrap();
        d2.nak(Duration::ZERO).await.unwrap();
        let d3 = q
            .take(&admit(10), Duration::from_millis(50))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d3.delivered(), 3);
        d3.nak(Duration::ZERO).await.unwrap();
        // Out of deliveries: the queue reports it and drops it.
        assert!(q
            .take(&admit(10), Duration::from_millis(50))
            .await
            .unwrap()
            .is_none());
        let o = q.next_outcome(Duration::ZERO).await.unwrap().unwrap();
        assert_eq!(o.outcome().task, "a");
        assert!(matches!(
            &o.outcome().result,
            OutcomeResult::Failed { failure, retryable: false } if failure.code == "max_deliveries"
        ));
        assert_eq!(q.depth().await.unwrap().values().sum::<u64>(), 0);
    }

    #[tokio::test]
    async fn an_ack_removes_the_job_and_a_nak_delays_it() {
        let dir = tempfile::tempdir().unwrap();
        let q = MemQueue::new(settings(), dir.path());
        q.submit(&job("a", 1)).await.unwrap();
        let d = q.take(&admit(1), Duration::ZERO).await.unwrap().unwrap();
        d.nak(Duration::from_millis(200)).await.unwrap();
        assert!(q
            .take(&admit(1), Duration::from_millis(50))
            .await
            .unwrap()
            .is_none());
        let d = q
            .take(&admit(1), Duration::from_millis(500))
            .await
            .unwrap()
            .unwrap();
        d.ack().await.unwrap();
        assert_eq!(q.depth().await.unwrap().values().sum::<u64>(), 0);
    }
}
