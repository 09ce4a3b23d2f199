//! Encrypted computation in the node, on the one path every task takes.
//!
//! - **Programs** (content-addressed) are stored in the node's store; a program whose
//!   estimated bootstrap cost is over the node's cap is refused.
//! - **Tasks** (a program and its input ciphertexts, checked against the key set's
//!   parameters) are created by [`Scheduler::submit`] like proofs: the same store, states,
//!   events, webhooks, idempotency keys, per-owner fairness and metrics. Their work goes to
//!   the queue as a `pbs` job; a worker with FHE capability (the node's own, or `fornax
//!   worker --fhe` on another machine) fetches the key set from the artifact store by its
//!   content hash once, evaluates, and reports the outputs, which the node checks and
//!   stores. The node itself evaluates nothing.
//! - **Decryption** stays on the node (it alone talks to key holders): every key holder is
//!   asked for its partial decryption at once and the answers combined; k honest answers
//!   suffice, wrong ones are named and left out.
//!
//! The key holder's side (`fornax keyholder --share FILE`) is served by
//! `fornax_api::keyholder`.
//!
//! Policy: a task's outputs are decrypted only for the API key that submitted it. Key holders
//! trust the node to enforce that (whoever holds their token may ask them to decrypt any
//! ciphertext under the key); see the note in `fhe-engine/src/threshold.rs` on what a
//! decryption reveals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bincode::Options as _;
use fornax_fhe::{io as fio, Program, PublicKeySet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scheduler::{Scheduler, Submission};
use crate::store::{fhe_program_id, StoreError};
use crate::task::{FheLink, InputKind, State, Task, TaskKind};

/// Errors of the FHE service; each has a stable code and an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum FheError {
    /// The request is malformed (400).
    #[error("{message}")]
    Invalid {
        /// Stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// Something named does not exist, or is not the caller's (404).
    #[error("{message}")]
    NotFound {
        /// Stable code.
        code: &'static str,
        /// What is missing.
        message: String,
    },
    /// The task is not in a state that allows this (409).
    #[error("{0}")]
    Conflict(String),
    /// Too few key holders answered correctly (503, retryable).
    #[error("{0}")]
    KeyholdersUnavailable(String),
    /// Input over a size limit (413).
    #[error("{0}")]
    TooLarge(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// Keys or files could not be loaded.
    #[error("{0}")]
    Setup(String),
}

impl FheError {
    /// The stable code the API answers with.
    pub fn code(&self) -> &'static str {
        match self {
            FheError::Invalid { code, .. } | FheError::NotFound { code, .. } => code,
            FheError::Conflict(_) => "invalid_state",
            FheError::KeyholdersUnavailable(_) => "keyholders_unavailable",
            FheError::TooLarge(_) => "payload_too_large",
            FheError::Store(_) | FheError::Setup(_) => "internal",
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FheError::KeyholdersUnavailable(_) | FheError::Store(_)
        )
    }

    /// A malformed request with its stable code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        FheError::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// The node's FHE settings.
#[derive(Clone, Debug)]
pub struct FheConfig {
    /// The public key set (written by `fornax fhe keygen`).
    pub keys_dir: PathBuf,
    /// Key holders' base URLs, each pinned to its party index: `N=URL` names party N,
    /// a bare URL is the party of its position (1-based). An answer is attributed to the
    /// party its URL is pinned to, whatever party it claims.
    pub keyholders: Vec<String>,
    /// How many key holders may be corrupt (t): a decryption is output only when t + k
    /// answers agree. `None`: k − 1, the scheme's promise.
    pub max_corrupt: Option<usize>,
    /// The bearer token key holders expect.
    pub keyholder_token: Option<String>,
    /// The node's signing key (`node.key` of `fornax fhe keygen`): every request to a key
    /// holder is signed with it. Required when there are key holders.
    pub node_key: Option<PathBuf>,
    /// How long to wait for a key holder.
    pub keyholder_timeout: Duration,
    /// The most estimated KS-PBS one program may cost; a costlier one is refused at
    /// registration, so that no tenant holds the workers with one task.
    pub max_pbs: u64,
}

/// The state of an FHE task, as the FHE API names the states of the one machine
/// ([`State`]).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FheState {
    /// Stored, waiting for a worker (`submitted`, `scheduled`).
    Queued,
    /// Being evaluated (`proving`).
    Running,
    /// Outputs ready (`proved`).
    Done,
    /// Failed; see `error`.
    Failed,
    /// Cancelled by its owner.
    Cancelled,
    /// Its deadline passed.
    Expired,
}

impl From<State> for FheState {
    fn from(state: State) -> Self {
        match state {
            State::Submitted | State::Scheduled => FheState::Queued,
            State::Proving | State::Posting => FheState::Running,
            State::Proved | State::Settled => FheState::Done,
            State::Failed => FheState::Failed,
            State::Cancelled => FheState::Cancelled,
            State::Expired => FheState::Expired,
        }
    }
}

/// An FHE task as the FHE API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct FheTask {
    /// Its id (the same in `/v1/tasks/{id}` and the event stream).
    pub id: String,
    /// The API key name that submitted it.
    pub owner: String,
    /// The program id.
    pub program: String,
    /// The state.
    pub state: FheState,
    /// Creation time, Unix ms.
    pub created_ms: u64,
    /// Last change, Unix ms.
    pub updated_ms: u64,
    /// Why it failed: `{code, message}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
    /// Digest of the outputs (hex): equal digests, bit-identical results (between workers
    /// on the same kind of device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The device it ran on (`cpu`, `cuda`), and the batches, jobs and estimated KS-PBS of
    /// its plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// Evaluation time in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_ms: Option<u64>,
    /// The worker and device that evaluated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

impl FheTask {
    /// The FHE view of a task of kind [`TaskKind::Fhe`].
    pub fn of(task: &Task) -> FheTask {
        let result = task.fhe.as_ref().and_then(|l| l.result.as_ref());
        FheTask {
            id: task.id.clone(),
            owner: task.owner.clone(),
            program: task.circuit.clone(),
            state: task.state.into(),
            created_ms: task.created_ms,
            updated_ms: task.updated_ms,
            error: task
                .failure
                .as_ref()
                .map(|f| serde_json::json!({ "code": f.code, "message": f.message })),
            digest: result.map(|r| r.digest.clone()),
            plan: result.map(|r| r.plan.clone()),
            eval_ms: result.map(|r| r.eval_ms),
            worker: task.worker.clone(),
        }
    }
}

/// One decrypted output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct DecryptedOutput {
    /// The output's index.
    pub output: usize,
    /// The plaintext, in decimal (a string: it may exceed 2^53).
    pub value: String,
    /// Key holders whose answers were wrong.
    pub bad_parties: Vec<usize>,
}

/// Encrypted computation in the node: programs, task submission, decryption. Evaluation is
/// the workers'.
pub struct FheService {
    scheduler: Arc<Scheduler>,
    public: PublicKeySet,
    /// Each key holder, pinned to its party, over mutual TLS.
    holders: Vec<crate::keyholders::HolderClient>,
    /// The node's signing key (present whenever there are key holders).
    signing: Option<ed25519_dalek::SigningKey>,
    /// Each key holder's answer time, by party (label `party`), failures included.
    keyholder_latency: crate::metrics::Durations,
    /// Outputs decrypted per tenant.
    decryptions: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
    /// The corruption bound t decryption assumes.
    max_corrupt: usize,
    /// The key set's artifact, `fhekeys-<sha256>`.
    keys: String,
    config: FheConfig,
}

impl FheService {
    /// Loads the key set and puts it in the artifact store (once: the name is its content
    /// hash), where workers fetch it.
    pub fn open(scheduler: Arc<Scheduler>, config: FheConfig) -> Result<Arc<Self>, FheError> {
        let public = fio::load_public(&config.keys_dir).map_err(|e| {
            FheError::Setup(format!("FHE keys in {}: {e}", config.keys_dir.display()))
        })?;
        let (n, k) = (public.params.parties, public.params.threshold);
        let holders = pin_holders(&config.keyholders, n)?;
        let max_corrupt = config.max_corrupt.unwrap_or(k - 1);
        if max_corrupt >= k {
            return Err(FheError::Setup(format!(
                "--keyholders-max-corrupt {max_corrupt}: at most k − 1 = {} corrupt key holders are tolerated",
                k - 1
            )));
        }
        if holders.len() < k + max_corrupt {
            tracing::warn!(
                holders = holders.len(),
                needed = k + max_corrupt,
                k,
                max_corrupt,
                "too few key holders: decryption needs k plus max_corrupt agreeing answers"
            );
        }
        let keys_auth = match (&config.node_key, holders.is_empty()) {
            (Some(path), _) => Some(
                crate::keyholders::NodeKeys::load(path, &config.keys_dir)
                    .map_err(|e| FheError::Setup(format!("--fhe-node-key: {e}")))?,
            ),
            (None, true) => None,
            (None, false) => {
                return Err(FheError::Setup(
                    "key holders answer only requests the node signs: add --fhe-node-key (node.key of fornax fhe keygen)".into(),
                ))
            }
        };
        let blob = fio::write_keyset(&public).map_err(|e| FheError::Setup(e.to_string()))?;
        let keys = format!("fhekeys-{}", hex::encode(Sha256::digest(&blob)));
        scheduler.store().put_artifact(&keys, &blob)?;
        let mut clients = Vec::new();
        if let Some(auth) = &keys_auth {
            for (party, url) in &holders {
                let key = auth.holders.get(party).ok_or_else(|| {
                    FheError::Setup(format!(
                        "{}: holders.json has no public key for party {party}",
                        config.keys_dir.display()
                    ))
                })?;
                clients.push(
                    crate::keyholders::HolderClient::new(
                        *party,
                        url,
                        *key,
                        &auth.signing,
                        config.keyholder_timeout,
                        config.keyholder_token.clone(),
                    )
                    .map_err(|e| FheError::Setup(format!("--keyholder: {e}")))?,
                );
            }
        }
        Ok(Arc::new(FheService {
            scheduler,
            public,
            holders: clients,
            signing: keys_auth.map(|auth| auth.signing),
            keyholder_latency: crate::metrics::durations(),
            decryptions: Default::default(),
            max_corrupt,
            keys,
            config,
        }))
    }

    /// The key set's id, hex.
    pub fn key_id(&self) -> String {
        hex::encode(self.public.key_id)
    }

    /// The threshold (n, k).
    pub fn threshold(&self) -> (usize, usize) {
        (self.public.params.parties, self.public.params.threshold)
    }

    /// The key set's threshold parameters (its flooding, hence its decryption budget).
    pub fn params(&self) -> fornax_fhe::params::ThresholdParams {
        self.public.params
    }

    /// Registers a program (JSON); its id is the digest of its canonical form. Returns the id
    /// and whether it is new. A program over the cost cap is refused.
    pub fn register_program(&self, body: &[u8]) -> Result<(String, bool), FheError> {
        let program = Program::from_json(body)
            .map_err(|e| FheError::invalid("invalid_program", e.to_string()))?;
        let cost = fornax_fhe::plan::plan(&program, "cost", 1).estimated_pbs();
        if cost > self.config.max_pbs {
            return Err(FheError::invalid(
                "program_too_costly",
                format!(
                    "the program costs about {cost} bootstraps; this node takes at most {}",
                    self.config.max_pbs
                ),
            ));
        }
        let canonical = serde_json::to_vec(&program).expect("a program serializes");
        let id = fhe_program_id(&canonical);
        let created = self.scheduler.store().put_fhe_program(&id, &canonical)?;
        Ok((id, created))
    }

    /// A registered program.
    pub fn program(&self, id: &str) -> Result<Option<Program>, FheError> {
        match self.scheduler.store().fhe_program(id)? {
            Some(bytes) => Program::from_json(&bytes)
                .map(Some)
                .map_err(|e| FheError::Setup(format!("stored program {id}: {e}"))),
            None => Ok(None),
        }
    }

    /// Checks a task's inputs and creates it through [`Scheduler::submit`]; with an
    /// idempotency key this owner used for an FHE task before, returns that task instead
    /// (`false`).
    pub fn submit(
        &self,
        owner: &str,
        program_id: &str,
        inputs: Vec<Vec<u8>>,
        idempotency_key: Option<&str>,
        webhook: Option<String>,
    ) -> Result<(FheTask, bool), FheError> {
        let program = self
            .program(program_id)?
            .ok_or_else(|| FheError::NotFound {
                code: "unknown_program",
                message: format!("no program {program_id}"),
            })?;
        if inputs.len() != program.inputs {
            return Err(FheError::invalid(
                "invalid_inputs",
                format!(
                    "the program takes {} inputs, {} given",
                    program.inputs,
                    inputs.len()
                ),
            ));
        }
        // Each input must prove knowledge of its plaintext under this owner's name: a
        // ciphertext copied from another tenant (or a task's output) is refused here, so
        // decryption is no oracle for other tenants' data.
        for (i, bytes) in inputs.iter().enumerate() {
            fornax_fhe::input::verify(&self.public, bytes, program.bits, owner).map_err(
                |e| match e {
                    fornax_fhe::Error::Proof(_) => {
                        FheError::invalid("invalid_proof", format!("input {i}: {e}"))
                    }
                    e => FheError::invalid("invalid_ciphertext", format!("input {i}: {e}")),
                },
            )?;
        }
        let (task, created) = self.scheduler.submit(Submission {
            kind: TaskKind::Fhe,
            circuit: program_id.into(),
            owner: owner.into(),
            input_kind: InputKind::Wtns,
            input: bincode::serialize(&inputs).expect("a list of byte strings serializes"),
            deadline_ms: None,
            // Their own namespace: a key used for a proof does not name an FHE task.
            idempotency_key: idempotency_key.map(|k| format!("fhe:{k}")),
            webhook,
            chain: None,
            fhe: Some(FheLink {
                keys: self.keys.clone(),
                result: None,
            }),
        })?;
        Ok((FheTask::of(&task), created))
    }

    /// An FHE task of `owner` (others' tasks, and proofs, are reported missing).
    pub fn owned_task(&self, owner: &str, id: &str) -> Result<FheTask, FheError> {
        match self.scheduler.store().task(id)? {
            Some(t) if t.owner == owner && t.kind == TaskKind::Fhe => Ok(FheTask::of(&t)),
            _ => Err(FheError::NotFound {
                code: "task_not_found",
                message: format!("no FHE task {id}"),
            }),
        }
    }

    /// A finished task's output ciphertexts (tfhe-rs's `SquashedNoiseFheUint`, safe
    /// serialization).
    pub fn outputs(&self, id: &str) -> Result<Option<Vec<Vec<u8>>>, FheError> {
        match self.scheduler.store().fhe_outputs(id)? {
            Some(bytes) => bincode::DefaultOptions::new()
                .with_fixint_encoding()
                .with_limit(bytes.len() as u64)
                .deserialize(&bytes)
                .map(Some)
                .map_err(|e| FheError::Setup(format!("stored outputs of {id}: {e}"))),
            None => Ok(None),
        }
    }

    /// Decrypts outputs of a finished task: every key holder is asked at once; the answers
    /// that arrive within the timeout are combined (wrong ones corrected and named).
    pub async fn decrypt(
        &self,
        task: &FheTask,
        which: Option<Vec<usize>>,
    ) -> Result<Vec<DecryptedOutput>, FheError> {
        if task.state != FheState::Done {
            return Err(FheError::Conflict(format!(
                "task {} is {:?}; only a done task decrypts",
                task.id, task.state
            )));
        }
        let outputs = self
            .outputs(&task.id)?
            .ok_or_else(|| FheError::Setup("outputs missing".into()))?;
        let which = which.unwrap_or_else(|| (0..outputs.len()).collect());
        if let Some(bad) = which.iter().find(|&&i| i >= outputs.len()) {
            return Err(FheError::invalid(
                "invalid_output",
                format!("output {bad}: the task has {}", outputs.len()),
            ));
        }
        // All outputs at once: their requests to the key holders go out together, not one
        // output after another.
        let decrypted = futures_util::future::try_join_all(
            which
                .into_iter()
                .map(|i| self.decrypt_output(task, i, outputs[i].clone())),
        )
        .await?;
        *self
            .decryptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(task.owner.clone())
            .or_default() += decrypted.len() as u64;
        Ok(decrypted)
    }

    /// Each key holder's answer time, by party (for `/metrics`).
    pub fn keyholder_latency(&self) -> &crate::metrics::Durations {
        &self.keyholder_latency
    }

    /// Outputs decrypted so far, per tenant (for `/metrics`).
    pub fn decryptions(&self) -> Vec<(String, u64)> {
        self.decryptions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(t, n)| (t.clone(), *n))
            .collect()
    }

    /// Decrypts one stored output: asks every key holder (a request signed for this task
    /// output), combines the answers that arrive signed by their key holders.
    async fn decrypt_output(
        &self,
        task: &FheTask,
        i: usize,
        bytes: Vec<u8>,
    ) -> Result<DecryptedOutput, FheError> {
        let ct = fio::read_squashed(&bytes)
            .map_err(|e| FheError::Setup(format!("stored output {i}: {e}")))?;
        let digest = hex::encode(fornax_fhe::threshold::ciphertext_digest(&ct));
        let signing = self.signing.as_ref().ok_or_else(|| {
            FheError::KeyholdersUnavailable("this node has no key holders configured".into())
        })?;
        let answers = futures_util::future::join_all(self.holders.iter().map(|holder| {
            let request = crate::keyholders::PartDecRequest {
                key_id: hex::encode(self.public.key_id),
                party: holder.party(),
                ciphertext: digest.clone(),
                task: task.id.clone(),
                output: i,
                tenant: task.owner.clone(),
                issued_ms: crate::task::now_ms(),
            };
            let signed = crate::keyholders::sign_request(signing, &request);
            let ciphertext = bytes.clone();
            async move {
                let asked = std::time::Instant::now();
                let answer = holder.partdec(ciphertext, signed).await;
                let party = vec![("party".to_string(), holder.party().to_string())];
                self.keyholder_latency
                    .get_or_create(&party)
                    .observe(asked.elapsed().as_secs_f64());
                answer
            }
        }))
        .await;
        let mut partials = Vec::new();
        let mut failures = Vec::new();
        for (holder, answer) in self.holders.iter().zip(answers) {
            match answer {
                Ok(p) => partials.push(p),
                Err(e) => failures.push(format!("{}: {e}", holder.url())),
            }
        }
        let public = self.public.clone();
        let max_corrupt = self.max_corrupt;
        let combined = tokio::task::spawn_blocking(move || {
            fornax_fhe::combine_bounded(&public, &ct, &partials, max_corrupt)
        })
        .await
        .map_err(|e| FheError::Setup(e.to_string()))?;
        match combined {
            Ok(d) => Ok(DecryptedOutput {
                output: i,
                value: d.value.to_string(),
                bad_parties: d.bad_parties,
            }),
            Err(e) => Err(FheError::KeyholdersUnavailable(format!(
                "output {i}: {e}; key holders that did not answer: {failures:?}"
            ))),
        }
    }

    /// The corruption bound decryption assumes.
    pub fn max_corrupt(&self) -> usize {
        self.max_corrupt
    }
}

/// Pins each key holder's URL to its party: `N=URL`, or a bare URL for the party of its
/// position. Parties must be distinct and in 1..=n.
fn pin_holders(specs: &[String], n: usize) -> Result<Vec<(usize, String)>, FheError> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let (party, url) = match spec.split_once('=') {
            Some((p, url)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                (p.parse::<usize>().unwrap_or(0), url.to_string())
            }
            _ => (i + 1, spec.clone()),
        };
        if party == 0 || party > n {
            return Err(FheError::Setup(format!(
                "--keyholder {spec}: party {party} is not in 1..={n}"
            )));
        }
        if out.iter().any(|(p, _)| *p == party) {
            return Err(FheError::Setup(format!(
                "--keyholder {spec}: party {party} is given twice"
            )));
        }
        out.push((party, url));
    }
    Ok(out)
}
