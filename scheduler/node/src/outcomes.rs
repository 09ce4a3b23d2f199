//! What the scheduler does with what comes back from its workers
//! ([`crate::dispatch::Outcomes`]): proofs stored first-write-wins, failures counted
//! against the task's attempts (once per delivery), and the jobs of dead workers put back.
//!
//! - A proof is checked before anything else: it must verify under the circuit's key and,
//!   for a task whose input is a witness, carry that witness's public signals. A worker's
//!   word is not trusted (anyone who reaches the queue can report an outcome): a proof that
//!   fails is refused, counted against the task's attempts, and the job is sent again.
//! - An FHE task's outputs are fetched from the artifact store and checked (content hash,
//!   one well-formed ciphertext per program output, the digest reported) and stored with
//!   one transition the same way; one that fails is refused like a bad proof.
//! - A proof is stored with one transition (`proving` → `proved`/`posting`), with the time
//!   of its parts counted and announced; a task that ended meanwhile, or was proved
//!   already, keeps its state, and the outcome is counted as ignored.
//! - A bad-input failure fails the task at once. A retryable one counts against the task's
//!   attempts (once per delivery) and the queue redelivers the job with backoff until they
//!   run out.
//! - A job whose worker died is put back under a new id without spending an attempt; one
//!   requeued `max_deliveries` times fails its task.

use std::sync::atomic::Ordering;

use crate::dispatch::Outcomes;
use crate::queue::{JobSpec, Outcome, OutcomeResult, PartTime, RunningJob};
use crate::scheduler::{Event, Scheduler};
use crate::store::{StoreError, StoredProof};
use crate::task::{Failure, FheResult, InputKind, PartDone, State, Task, TaskKind};
use bincode::Options as _;
use fornax_prover::graph::Query;
use fornax_prover::{JobKind, PartPoint, Parts};
use sha2::{Digest, Sha256};

impl Outcomes for Scheduler {
    fn apply(&self, o: &Outcome) -> Result<(), StoreError> {
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        let stats = &dispatcher.stats;
        let Some(task) = self.store().task(&o.task)? else {
            return Ok(());
        };
        if task.state.is_final() || task.state == State::Posting {
            self.ignore(o, task.state);
            return Ok(());
        }
        match &o.result {
            OutcomeResult::Proved {
                proof,
                device,
                parts,
            } => {
                let Some(task) = self.to_proving(o, task)? else {
                    return Ok(());
                };
                if let Err(reason) = self.check_proof(&task, proof) {
                    return self.refuse(o, &task, &reason);
                }
                let who = format!("{}/{device}", o.worker);
                if self.proof_done(&task, proof, |t| t.worker = Some(who))? {
                    stats.applied.fetch_add(1, Ordering::Relaxed);
                    if let Some(at) = dispatcher.landed(&task.id) {
                        stats.latency.observe(at.elapsed().as_secs_f64());
                    }
                    self.count_parts(&task, device, proof.prove_ms, parts);
                } else {
                    self.ignore(o, task.state);
                }
            }
            OutcomeResult::Evaluated {
                outputs,
                digest,
                device,
                plan,
                eval_ms,
            } => {
                let Some(task) = self.to_proving(o, task)? else {
                    return Ok(());
                };
                let bytes = match self.fetch_fhe_outputs(&task, outputs, digest) {
                    Ok(bytes) => bytes,
                    Err(reason) => return self.refuse(o, &task, &reason),
                };
                let result = FheResult {
                    digest: digest.clone(),
                    plan: serde_json::json!({
                        "device": label(device),
                        "batches": plan.batches,
                        "jobs": plan.jobs,
                        "estimated_pbs": plan.estimated_pbs,
                    }),
                    eval_ms: *eval_ms,
                };
                let who = format!("{}/{}", o.worker, label(device));
                if self.fhe_done(&task, &bytes, result, who)? {
                    stats.applied.fetch_add(1, Ordering::Relaxed);
                    if let Some(at) = dispatcher.landed(&task.id) {
                        stats.latency.observe(at.elapsed().as_secs_f64());
                    }
                } else {
                    self.ignore(o, task.state);
                }
            }
            OutcomeResult::Part {
                role,
                point,
                device,
                parts,
            } => self.part_done(o, task, (role, point, device, parts))?,
            OutcomeResult::Witness { witness, public } => {
                self.witness_done(o, task, (witness, public))?
            }
            OutcomeResult::Failed {
                failure,
                retryable: false,
            } => {
                stats.applied.fetch_add(1, Ordering::Relaxed);
                self.fail(&task.id, failure.clone(), Some(o.queue_seq))?;
            }
            OutcomeResult::Failed {
                failure,
                retryable: true,
            } => {
                if o.delivered <= task.counted_delivery {
                    self.ignore(o, task.state);
                    return Ok(());
                }
                stats.retried.fetch_add(1, Ordering::Relaxed);
                stats.applied.fetch_add(1, Ordering::Relaxed);
                if task.failed_attempts + 1 >= self.attempts() {
                    let failure = Failure {
                        code: failure.code.clone(),
                        message: format!(
                            "{} (failed {} times, on the last try at worker {})",
                            failure.message,
                            task.failed_attempts + 1,
                            o.worker
                        ),
                    };
                    self.fail(&task.id, failure, Some(o.queue_seq))?;
                    // `fail` counted this attempt.
                    self.store()
                        .update(&task.id, |t| t.counted_delivery = o.delivered)?;
                } else {
                    tracing::warn!(
                        task = %task.id,
                        worker = %o.worker,
                        code = %failure.code,
                        error = %failure.message,
                        "worker failed; the queue delivers the job again"
                    );
                    let t = self.store().update(&task.id, |t| {
                        t.failed_attempts += 1;
                        t.counted_delivery = o.delivered;
                    })?;
                    self.publish(&t);
                }
            }
        }
        Ok(())
    }

    fn requeue(&self, job: &RunningJob) -> Result<(), StoreError> {
        let dispatcher = self.dispatcher().expect("requeues come after start");
        let Some(task) = self.store().task(&job.task)? else {
            return Ok(());
        };
        if task.state != State::Proving {
            return Ok(());
        }
        // A part the dead worker finished before its last heartbeat said so is stored: only
        // what it was still running goes back.
        let stored = |role: &str| {
            task.split
                .as_ref()
                .is_some_and(|s| s.done.iter().any(|p| p.role == role))
        };
        if job.part.as_deref().is_some_and(stored) {
            return Ok(());
        }
        if job.requeues + 1 >= dispatcher.queue().settings().max_deliveries {
            let failure = Failure {
                code: "max_deliveries".into(),
                message: format!("the worker running the job died {} times", job.requeues + 1),
            };
            return self.fail(&task.id, failure, Some(job.queue_seq));
        }
        let id = format!(
            "{}~{}",
            JobSpec::id_for(&task, job.part.as_deref()),
            job.queue_seq
        );
        match dispatcher.requeue(self.store(), &task, job, id) {
            Ok(()) => Ok(()),
            Err(failure) => self.fail(&task.id, failure, None),
        }
    }

    fn ended(&self, task: &str) -> bool {
        match self.store().task(task) {
            Ok(Some(t)) => t.state.is_final() || t.state == State::Posting,
            Ok(None) => true,
            Err(_) => false,
        }
    }
}

/// The most parts a proof's job graph has (witness, evaluations, seven NTTs, five MSMs,
/// assembly, with room to grow).
const MAX_PARTS: usize = 64;

/// The part of a split proof a job id names (`<task>/<role>`, maybe `~…` after it), if it
/// names one.
fn part_of(job: &str) -> Option<&str> {
    let role = job.split_once('/')?.1;
    let role = role.split('~').next().unwrap_or(role);
    (role == "witness" || Query::from_role(role).is_some()).then_some(role)
}

/// `s` if it can be a metric label as is (1 to 64 of `[A-Za-z0-9:_.-]`), else `unknown`.
fn label(s: &str) -> String {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":_.-".contains(&b));
    if ok { s } else { "unknown" }.to_string()
}

impl Scheduler {
    /// Checks a reported proof: it verifies under the circuit's key, and a task given a
    /// witness gets that witness's public signals. (A task given JSON inputs gets whatever
    /// public signals the circuit's witness generator computes; the proof shows they are
    /// consistent with some witness, which is what the circuit promises.)
    fn check_proof(&self, task: &Task, proof: &StoredProof) -> Result<(), String> {
        let vk = self.verifying_key(&task.circuit)?;
        let parsed: fornax_prover::ProofJson =
            serde_json::from_value(proof.proof.clone()).map_err(|e| format!("proof: {e}"))?;
        let parsed = parsed.to_proof("proof").map_err(|e| e.to_string())?;
        let public: Vec<serde_json::Value> =
            serde_json::from_value(proof.public.clone()).map_err(|e| format!("public: {e}"))?;
        let public =
            fornax_prover::json::public_from_json("public", &public).map_err(|e| e.to_string())?;
        if task.input == InputKind::Wtns {
            let input = self
                .store()
                .input(&task.id)
                .map_err(|e| e.to_string())?
                .ok_or("the task's input is missing")?;
            let witness =
                fornax_prover::wtns::from_bytes("input", &input).map_err(|e| e.to_string())?;
            if witness.get(1..=public.len()) != Some(&public[..]) {
                return Err("its public signals are not the task's".into());
            }
        }
        match fornax_prover::verify(&vk, &public, &parsed) {
            Ok(true) => Ok(()),
            Ok(false) => Err("it does not verify".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Refuses a reported result that failed its check: counted against the task's attempts
    /// (the last one fails the task with `invalid_proof`, or `invalid_result` for an FHE
    /// task), and the job sent again.
    fn refuse(&self, o: &Outcome, task: &Task, reason: &str) -> Result<(), StoreError> {
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        dispatcher.stats.refused.fetch_add(1, Ordering::Relaxed);
        let (what, code) = match task.kind {
            TaskKind::Groth16 => ("proof", "invalid_proof"),
            TaskKind::Fhe => ("result", "invalid_result"),
        };
        tracing::warn!(
            task = %task.id,
            worker = %o.worker,
            what,
            reason = %reason,
            "worker's result refused"
        );
        if task.failed_attempts + 1 >= self.attempts() {
            let failure = Failure {
                code: code.into(),
                message: format!(
                    "the last {what} a worker returned was refused ({reason}); attempts spent"
                ),
            };
            return self.fail(&task.id, failure, None);
        }
        let t = self.store().update(&task.id, |t| {
            t.failed_attempts += 1;
            t.counted_delivery = 0;
        })?;
        self.publish(&t);
        // The refused job again: a part of a split proof alone, or the whole proof.
        let sent = match part_of(&o.job) {
            Some(part) if t.split.is_some() => {
                let id = format!("{}~r{}", JobSpec::id_for(&t, Some(part)), t.failed_attempts);
                dispatcher.requeue_part(self.store(), &t, id, part)
            }
            _ => {
                let id = format!("{}~r{}", JobSpec::id_for(&t, None), t.failed_attempts);
                dispatcher.resend(self.store(), &t, id)
            }
        };
        match sent {
            Ok(()) => Ok(()),
            Err(failure) => self.fail(&task.id, failure, None),
        }
    }

    /// Stores a reported part of a split proof (first write wins per part), and assembles
    /// the proof once all five are in.
    fn part_done(
        &self,
        o: &Outcome,
        task: Task,
        (role, point, device, parts): (&str, &str, &str, &[PartTime]),
    ) -> Result<(), StoreError> {
        let Some(task) = self.to_proving(o, task)? else {
            return Ok(());
        };
        let checked = Query::from_role(role)
            .ok_or_else(|| format!("{role:?} is no part of a proof"))
            .and_then(|q| {
                let bytes = hex::decode(point).map_err(|e| format!("point: {e}"))?;
                PartPoint::from_bytes(q, &bytes).map_err(|e| e.to_string())?;
                Ok(bytes)
            });
        let bytes = match checked {
            Ok(bytes) => bytes,
            Err(reason) => return self.refuse(o, &task, &reason),
        };
        let ms: f64 = parts.iter().map(|p| p.ms).sum();
        let done = PartDone {
            role: role.to_string(),
            worker: format!("{}/{}", o.worker, label(device)),
            ms: ms as u64,
        };
        let (task, new) = self.store().put_part(&task.id, &bytes, done)?;
        if !new {
            self.ignore(o, task.state);
            return Ok(());
        }
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        dispatcher.stats.applied.fetch_add(1, Ordering::Relaxed);
        self.count_parts(&task, device, ms, parts);
        self.publish(&task);
        let stored = task.split.as_ref().map_or(0, |s| s.done.len());
        if stored == Query::ALL.len() {
            self.assemble(o, &task)?;
        }
        Ok(())
    }

    /// Assembles a split proof from its five stored parts with fresh blinding, verifies it
    /// and stores it; a proof that does not verify (a wrong part, or a witness that does
    /// not satisfy the circuit) costs an attempt, and every part runs again.
    fn assemble(&self, o: &Outcome, task: &Task) -> Result<(), StoreError> {
        let assembled = (|| -> Result<(StoredProof, u64), String> {
            let point = |q: Query| -> Result<PartPoint, String> {
                let role = JobKind::Msm(q).role();
                let bytes = self
                    .store()
                    .part(&task.id, &role)
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| format!("part {role} is missing"))?;
                PartPoint::from_bytes(q, &bytes).map_err(|e| e.to_string())
            };
            let g1 = |q: Query| match point(q)? {
                PartPoint::G1(p) => Ok(p),
                PartPoint::G2(_) => Err(format!("part {q:?} is in G2")),
            };
            let parts = Parts {
                a: g1(Query::A)?,
                b1: g1(Query::B1)?,
                b2: match point(Query::B2)? {
                    PartPoint::G2(p) => p,
                    PartPoint::G1(_) => return Err("part B2 is in G1".into()),
                },
                c: g1(Query::C)?,
                h: g1(Query::H)?,
            };
            let assembler = self.assembler(&task.circuit)?;
            let public = self.public_signals(task)?;
            let started = std::time::Instant::now();
            let proof = assembler
                .assemble(
                    &parts,
                    fornax_prover::Assembler::blinding(&mut rand::rngs::OsRng),
                    &public,
                )
                .map_err(|e| e.to_string())?;
            let ms: u64 = task
                .split
                .as_ref()
                .map_or(0, |s| s.done.iter().map(|p| p.ms).max().unwrap_or(0));
            let stored = StoredProof {
                proof: serde_json::to_value(fornax_prover::ProofJson::from_proof(&proof))
                    .expect("serialisable"),
                public: serde_json::to_value(fornax_prover::json::public_to_json(&public))
                    .expect("serialisable"),
                prove_ms: ms as f64 + started.elapsed().as_secs_f64() * 1e3,
            };
            Ok((stored, ms))
        })();
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        match assembled {
            Ok((proof, _)) => {
                let mut workers: Vec<String> = task
                    .split
                    .iter()
                    .flat_map(|s| s.done.iter().map(|p| p.worker.clone()))
                    .collect();
                workers.sort();
                workers.dedup();
                let who = workers.join(",");
                if self.proof_done(task, &proof, |t| t.worker = Some(who))? {
                    if let Some(at) = dispatcher.landed(&task.id) {
                        let stats = &dispatcher.stats;
                        stats.latency.observe(at.elapsed().as_secs_f64());
                    }
                }
                Ok(())
            }
            Err(reason) => {
                dispatcher.stats.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    task = %task.id,
                    reason = %reason,
                    "proof assembled from its parts refused"
                );
                if task.failed_attempts + 1 >= self.attempts() {
                    let failure = Failure {
                        code: "invalid_proof".into(),
                        message: format!(
                            "the proof assembled from its parts was refused ({reason}): the witness does not satisfy the circuit, or a worker returned a wrong part; attempts spent"
                        ),
                    };
                    return self.fail(&task.id, failure, Some(o.queue_seq));
                }
                let t = self.store().clear_parts(&task.id, |t| {
                    t.failed_attempts += 1;
                    t.counted_delivery = 0;
                })?;
                self.publish(&t);
                match dispatcher.dispatch_parts(self.store(), &t, Some(t.failed_attempts)) {
                    Ok(()) => Ok(()),
                    Err(failure) => self.fail(&task.id, failure, None),
                }
            }
        }
    }

    /// A worker computed the witness of a split proof given JSON input: recorded (first
    /// write wins), and the five parts sent.
    fn witness_done(
        &self,
        o: &Outcome,
        task: Task,
        (witness, public): (&str, &[String]),
    ) -> Result<(), StoreError> {
        let Some(task) = self.to_proving(o, task)? else {
            return Ok(());
        };
        if task.split.as_ref().is_some_and(|s| s.witness.is_some()) {
            self.ignore(o, task.state);
            return Ok(());
        }
        let checked = (|| -> Result<(), String> {
            let hash = witness
                .strip_prefix("wtns-")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
            if hash.is_none() {
                return Err(format!("{witness:?} is not a witness artifact"));
            }
            let meta = self
                .store()
                .circuit(&task.circuit)
                .map_err(|e| e.to_string())?
                .ok_or("the circuit is gone")?;
            if public.len() != meta.n_public {
                return Err(format!(
                    "{} public signals; the circuit has {}",
                    public.len(),
                    meta.n_public
                ));
            }
            let values: Vec<serde_json::Value> =
                public.iter().map(|p| serde_json::json!(p)).collect();
            fornax_prover::json::public_from_json("public", &values).map_err(|e| e.to_string())?;
            Ok(())
        })();
        if let Err(reason) = checked {
            return self.refuse(o, &task, &reason);
        }
        let t = self.store().update(&task.id, |t| {
            let split = t.split.get_or_insert_with(Default::default);
            split.witness = Some(witness.to_string());
            split.public = public.to_vec();
        })?;
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        dispatcher.stats.applied.fetch_add(1, Ordering::Relaxed);
        self.publish(&t);
        match dispatcher.dispatch_parts(self.store(), &t, None) {
            Ok(()) => Ok(()),
            Err(failure) => self.fail(&task.id, failure, None),
        }
    }

    /// The public signals a split proof is assembled against: its witness's (a task given
    /// a witness), or those the witness job reported.
    fn public_signals(&self, task: &Task) -> Result<Vec<ark_bn254::Fr>, String> {
        match task.input {
            InputKind::Wtns => {
                let n_public = self
                    .store()
                    .circuit(&task.circuit)
                    .map_err(|e| e.to_string())?
                    .ok_or("the circuit is gone")?
                    .n_public;
                let input = self
                    .store()
                    .input(&task.id)
                    .map_err(|e| e.to_string())?
                    .ok_or("the task's input is missing")?;
                let w =
                    fornax_prover::wtns::from_bytes("input", &input).map_err(|e| e.to_string())?;
                w.get(1..=n_public)
                    .map(<[_]>::to_vec)
                    .ok_or_else(|| "the witness is shorter than its public signals".into())
            }
            InputKind::Json => {
                let values: Vec<serde_json::Value> = task
                    .split
                    .iter()
                    .flat_map(|s| s.public.iter().map(|p| serde_json::json!(p)))
                    .collect();
                fornax_prover::json::public_from_json("public", &values).map_err(|e| e.to_string())
            }
        }
    }

    /// Brings a task with a result to `proving`: after a restart it may be back in
    /// `scheduled`, waiting to be sent again (and the dispatcher may move it on
    /// meanwhile); the result is just as good. `None`: the task moved elsewhere and the
    /// outcome is ignored.
    fn to_proving(&self, o: &Outcome, mut task: Task) -> Result<Option<Task>, StoreError> {
        while task.state != State::Proving {
            let step = match task.state {
                State::Submitted => State::Scheduled,
                State::Scheduled => State::Proving,
                state => {
                    self.ignore(o, state);
                    return Ok(None);
                }
            };
            let from = [task.state];
            match self.transition(&task.id, step, Some(&from[..]), None, None, |_| {}) {
                Ok(t) => task = t,
                // Moved by someone else: look again.
                Err(StoreError::Forbidden { .. }) => {
                    let Some(t) = self.store().task(&o.task)? else {
                        return Ok(None);
                    };
                    task = t;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(task))
    }

    /// Fetches and checks an FHE task's outputs as a worker reported them: the artifact
    /// matches its content hash, holds one well-formed squashed ciphertext per program
    /// output, and they have the digest the worker reported. (Whether they are the
    /// program's result only a decryption shows: a worker is trusted for that, see
    /// SECURITY.md.)
    fn fetch_fhe_outputs(&self, task: &Task, name: &str, digest: &str) -> Result<Vec<u8>, String> {
        let hash = name
            .strip_prefix("fheout-")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| format!("{name:?} is not an output artifact"))?;
        let dispatcher = self.dispatcher().expect("outcomes come after start");
        let tmp = self
            .store()
            .artifact_path(&format!(".{name}.{:08x}.part", rand::random::<u32>()));
        let fetched = dispatcher
            .fetch_artifact(name, &tmp)
            .and_then(|()| std::fs::read(&tmp).map_err(|e| e.to_string()));
        let _ = std::fs::remove_file(&tmp);
        let bytes = fetched?;
        if hex::encode(Sha256::digest(&bytes)) != hash {
            return Err(format!("{name} does not match its content hash"));
        }
        let outputs: Vec<Vec<u8>> = bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_limit(bytes.len() as u64)
            .deserialize(&bytes)
            .map_err(|e| format!("outputs: {e}"))?;
        let program = self
            .store()
            .fhe_program(&task.circuit)
            .map_err(|e| e.to_string())?
            .ok_or("the task's program is gone")?;
        let program =
            fornax_fhe::Program::from_json(&program).map_err(|e| format!("program: {e}"))?;
        if outputs.len() != program.outputs.len() {
            return Err(format!(
                "{} outputs; the program has {}",
                outputs.len(),
                program.outputs.len()
            ));
        }
        let parsed = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| fornax_fhe::io::read_squashed(o).map_err(|e| format!("output {i}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if hex::encode(fornax_fhe::engine::squashed_digest(&parsed)) != digest {
            return Err("the outputs do not have the digest reported".into());
        }
        Ok(bytes)
    }

    /// Counts a stored proof's parts per role and device, and announces each. A worker that
    /// reports no parts, more than a proof has, or names that are no metric label counts as
    /// one `groth16` part on its device (workers' strings become Prometheus labels).
    fn count_parts(&self, task: &Task, device: &str, ms: f64, parts: &[PartTime]) {
        let whole = [PartTime {
            role: "groth16".into(),
            device: label(device),
            ms,
        }];
        let plausible = !parts.is_empty()
            && parts.len() <= MAX_PARTS
            && parts
                .iter()
                .all(|p| label(&p.role) == p.role && label(&p.device) == p.device);
        let parts = if plausible { parts } else { &whole[..] };
        // What the cost model learns: how fast each kind of job ran.
        if let (true, Some(dispatcher), Ok(Some(meta))) = (
            plausible,
            self.dispatcher(),
            self.store().circuit(&task.circuit),
        ) {
            for p in parts {
                dispatcher.record_speed(&p.role, &p.device, meta.shape(), p.ms);
            }
        }
        for p in parts {
            let labels = vec![
                ("job".to_string(), p.role.clone()),
                ("device".to_string(), p.device.clone()),
            ];
            self.metrics.jobs.get_or_create(&labels).observe(p.ms / 1e3);
        }
        for (i, p) in parts.iter().enumerate() {
            self.publish_event(Event::Job {
                task: task.id.clone(),
                owner: task.owner.clone(),
                job: format!("{}/{}", task.id, p.role),
                device: p.device.clone(),
                ms: p.ms,
                done: i + 1,
                total: parts.len(),
            });
        }
    }

    /// Counts an outcome that changed nothing (the task had ended: a duplicate or a late
    /// result) and frees the task's place in flight.
    fn ignore(&self, o: &Outcome, state: State) {
        if let Some(dispatcher) = self.dispatcher() {
            dispatcher.stats.ignored.fetch_add(1, Ordering::Relaxed);
            dispatcher.landed(&o.task);
        }
        tracing::warn!(
            job = %o.job,
            worker = %o.worker,
            delivery = o.delivered,
            state = state.as_str(),
            "outcome ignored: the task has ended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn workers_strings_become_labels_only_when_safe() {
        for ok in ["msm-h", "cpu:0", "cuda:1", "intt_a.2"] {
            assert_eq!(label(ok), ok);
        }
        for bad in ["", "a\"} 1\nfornax_proofs_total 99", "x y", &"a".repeat(65)] {
            assert_eq!(label(bad), "unknown", "{bad:?}");
        }
    }
}
