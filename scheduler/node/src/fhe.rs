//! Encrypted computation in the node.
//!
//! - **Node side** ([`FheService`]): FHE programs (content-addressed) and tasks (a program
//!   and its input ciphertexts) are stored in their own RocksDB under the data dir before
//!   the 2xx, run by the engine ([`fornax_fhe::Evaluator`], jobs of a batch in parallel; or,
//!   with [`FheDevice::Cuda`], tfhe-rs's CUDA backend through
//!   [`fornax_fhe::device::DeviceEvaluator`]), and recovered after a crash (a task that was
//!   running is run again; evaluation is deterministic, so the result is the same).
//!   Decryption asks every configured key holder for its partial decryption at once and
//!   combines the answers; k honest answers suffice, wrong ones are named and left out.
//!
//! The key holder's side (`fornax keyholder --share FILE`) is served by
//! `fornax_api::keyholder`.
//!
//! Policy: a task's outputs are decrypted only for the API key that submitted it. Key holders
//! trust the node to enforce that (whoever holds their token may ask them to decrypt any
//! ciphertext under the key); see the note in `fhe-engine/src/threshold.rs` on what a
//! decryption reveals.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[cfg(feature = "fhe-gpu")]
use fornax_fhe::device::DeviceEvaluator;
use fornax_fhe::threshold::PartialDecryption;
use fornax_fhe::{io as fio, Evaluator, Program, PublicKeySet};
use rocksdb::{ColumnFamilyDescriptor, Options, WriteBatch, WriteOptions, DB};
use serde::{Deserialize, Serialize};

use crate::task::{new_task_id, now_ms};

const PROGRAMS: &str = "programs";
const TASKS: &str = "tasks";
const INPUTS: &str = "inputs";
const OUTPUTS: &str = "outputs";
const IDEMPOTENCY: &str = "idempotency";

/// The largest answer read from a key holder.
const MAX_ANSWER_BYTES: usize = 1 << 20;

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
    Store(#[from] rocksdb::Error),
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
    /// Key holders' base URLs.
    pub keyholders: Vec<String>,
    /// The bearer token key holders expect.
    pub keyholder_token: Option<String>,
    /// Parallel jobs per batch.
    pub workers: usize,
    /// How long to wait for a key holder.
    pub keyholder_timeout: Duration,
    /// Where programs are evaluated.
    pub device: FheDevice,
}

/// Where the node evaluates FHE programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FheDevice {
    /// The engine on the CPU: the plan's batches one after another, the jobs of a batch in
    /// parallel.
    #[default]
    Cpu,
    /// tfhe-rs's CUDA backend on the first GPU: each operation's blocks as one batch of
    /// KS-PBS there. Results decrypt the same as the CPU's but are not bit-identical to them,
    /// so digests compare only between workers on GPUs. Needs a `fornax` built with the
    /// `fhe-gpu` feature.
    Cuda,
}

impl FheDevice {
    /// Every device, by its name.
    pub const NAMES: [&'static str; 2] = ["cpu", "cuda"];
}

impl std::str::FromStr for FheDevice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(FheDevice::Cpu),
            "cuda" => Ok(FheDevice::Cuda),
            other => Err(format!(
                "unknown FHE device {other} (devices: {})",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// The evaluation keys, on the configured device.
enum Engine {
    Cpu(Evaluator),
    #[cfg(feature = "fhe-gpu")]
    Device(DeviceEvaluator),
}

impl Engine {
    /// Checks that the device can be used before anything slow is loaded: a `fornax` built
    /// without CUDA, or a machine without a (new enough) CUDA driver, fails at once.
    fn check(device: FheDevice) -> Result<(), FheError> {
        match device {
            FheDevice::Cpu => Ok(()),
            #[cfg(feature = "fhe-gpu")]
            FheDevice::Cuda => fornax_fhe::device::check_cuda_driver()
                .map_err(|e| FheError::Setup(format!("--fhe-device cuda: {e}"))),
            #[cfg(not(feature = "fhe-gpu"))]
            FheDevice::Cuda => Err(Self::without_cuda()),
        }
    }

    /// Why `--fhe-device cuda` cannot work in this build.
    #[cfg(not(feature = "fhe-gpu"))]
    fn without_cuda() -> FheError {
        FheError::Setup(
            "--fhe-device cuda: this fornax was built without tfhe-rs's CUDA backend; \
             build one with `ops/fhe-gpu-build.sh -p fornax-scheduler --features fhe-gpu`"
                .into(),
        )
    }

    /// Decompresses the evaluation keys onto the device (checked by [`Engine::check`]).
    fn load(device: FheDevice, public: &PublicKeySet) -> Result<Engine, FheError> {
        match device {
            FheDevice::Cpu => Ok(Engine::Cpu(Evaluator::new(public))),
            #[cfg(feature = "fhe-gpu")]
            FheDevice::Cuda => DeviceEvaluator::cuda(public)
                .map(Engine::Device)
                .map_err(|e| FheError::Setup(format!("--fhe-device cuda: {e}"))),
            #[cfg(not(feature = "fhe-gpu"))]
            FheDevice::Cuda => Err(Self::without_cuda()),
        }
    }
}

/// The state of an FHE task.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FheState {
    /// Stored, waiting for the engine.
    Queued,
    /// Being evaluated.
    Running,
    /// Outputs ready.
    Done,
    /// Failed; see `error`.
    Failed,
}

/// A stored FHE task.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FheTask {
    /// Its id.
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
    /// Digest of the outputs (hex): equal digests, bit-identical results (between nodes on
    /// the same kind of device).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The device it ran on (`cpu`, `cuda`), and the batches, jobs and estimated KS-PBS of
    /// its plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<serde_json::Value>,
    /// Evaluation time in ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eval_ms: Option<u64>,
}

/// One decrypted output.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecryptedOutput {
    /// The output's index.
    pub output: usize,
    /// The plaintext, in decimal (a string: it may exceed 2^53).
    pub value: String,
    /// Key holders whose answers were wrong.
    pub bad_parties: Vec<usize>,
}

/// Encrypted computation in the node: store, engine, decryption.
pub struct FheService {
    db: DB,
    public: PublicKeySet,
    engine: Engine,
    config: FheConfig,
    queue: Mutex<VecDeque<String>>,
    wake: Condvar,
    http: reqwest::Client,
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

impl FheService {
    /// Loads the key set, opens the FHE store under `data_dir`, and queues the tasks a crash
    /// left unfinished. Decompressing the evaluation keys takes seconds and about a GiB.
    pub fn open(data_dir: &Path, config: FheConfig) -> Result<Arc<Self>, FheError> {
        Engine::check(config.device)?;
        let public = fio::load_public(&config.keys_dir).map_err(|e| {
            FheError::Setup(format!("FHE keys in {}: {e}", config.keys_dir.display()))
        })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let families = [PROGRAMS, TASKS, INPUTS, OUTPUTS, IDEMPOTENCY]
            .into_iter()
            .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, data_dir.join("fhe-db"), families)?;
        let engine = Engine::load(config.device, &public)?;
        let http = reqwest::Client::builder()
            .timeout(config.keyholder_timeout)
            .build()
            .map_err(|e| FheError::Setup(e.to_string()))?;
        let service = Arc::new(FheService {
            db,
            public,
            engine,
            config,
            queue: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            http,
        });
        for id in service.unfinished()? {
            service.enqueue(id);
        }
        Ok(service)
    }

    /// The key set's id, hex.
    pub fn key_id(&self) -> String {
        hex::encode(self.public.key_id)
    }

    /// The threshold (n, k).
    pub fn threshold(&self) -> (usize, usize) {
        (self.public.params.parties, self.public.params.threshold)
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    /// Starts the engine thread: tasks one after another, each batch's jobs in parallel.
    pub fn start(self: &Arc<Self>) {
        let service = Arc::clone(self);
        std::thread::Builder::new()
            .name("fhe-engine".into())
            .spawn(move || loop {
                let id = {
                    let mut queue = service.queue.lock().unwrap_or_else(|p| p.into_inner());
                    loop {
                        if let Some(id) = queue.pop_front() {
                            break id;
                        }
                        queue = service.wake.wait(queue).unwrap_or_else(|p| p.into_inner());
                    }
                };
                // A panic inside an evaluation fails that task, not the engine thread.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.run(&id))) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("fhe task {id}: {e}"),
                    Err(_) => {
                        eprintln!("fhe task {id}: the evaluation panicked");
                        if let Err(e) = service.fail(&id, "internal", "the evaluation panicked") {
                            eprintln!("fhe task {id}: {e}");
                        }
                    }
                }
            })
            .expect("spawning the FHE engine thread");
    }

    fn enqueue(&self, id: String) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(id);
        self.wake.notify_one();
    }

    /// Registers a program (JSON); its id is the digest of its canonical form. Returns the id
    /// and whether it is new.
    pub fn register_program(&self, body: &[u8]) -> Result<(String, bool), FheError> {
        let program = Program::from_json(body)
            .map_err(|e| FheError::invalid("invalid_program", e.to_string()))?;
        let canonical = serde_json::to_vec(&program).expect("a program serializes");
        let id = format!("p{}", &blake3::hash(&canonical).to_hex()[..32]);
        if self.db.get_cf(self.cf(PROGRAMS), &id)?.is_some() {
            return Ok((id, false));
        }
        self.db
            .put_cf_opt(self.cf(PROGRAMS), &id, &canonical, &synced())?;
        Ok((id, true))
    }

    /// A registered program.
    pub fn program(&self, id: &str) -> Result<Option<Program>, FheError> {
        Ok(match self.db.get_cf(self.cf(PROGRAMS), id)? {
            Some(bytes) => {
                Some(serde_json::from_slice(&bytes).map_err(|e| FheError::Setup(e.to_string()))?)
            }
            None => None,
        })
    }

    /// Stores a task (synced) and queues it; with an idempotency key already used by this
    /// owner, returns the task it created instead (`false`).
    pub fn submit(
        &self,
        owner: &str,
        program_id: &str,
        inputs: Vec<Vec<u8>>,
        idempotency_key: Option<&str>,
    ) -> Result<(FheTask, bool), FheError> {
        let idem = idempotency_key.map(|k| format!("{owner}\n{k}"));
        if let Some(key) = &idem {
            if let Some(id) = self.db.get_cf(self.cf(IDEMPOTENCY), key)? {
                let id = String::from_utf8_lossy(&id).into_owned();
                if let Some(task) = self.task(&id)? {
                    return Ok((task, false));
                }
            }
        }
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
        for (i, bytes) in inputs.iter().enumerate() {
            fio::read_radix(bytes, program.bits, self.public.params.pbs).map_err(|e| match e {
                fornax_fhe::Error::TooLarge { .. } => FheError::TooLarge(format!("input {i}: {e}")),
                e => FheError::invalid("invalid_ciphertext", format!("input {i}: {e}")),
            })?;
        }
        let now = now_ms();
        let task = FheTask {
            id: new_task_id(now),
            owner: owner.into(),
            program: program_id.into(),
            state: FheState::Queued,
            created_ms: now,
            updated_ms: now,
            error: None,
            digest: None,
            plan: None,
            eval_ms: None,
        };
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(TASKS),
            &task.id,
            serde_json::to_vec(&task).expect("serializes"),
        );
        batch.put_cf(
            self.cf(INPUTS),
            &task.id,
            bincode::serialize(&inputs).expect("serializes"),
        );
        if let Some(key) = &idem {
            batch.put_cf(self.cf(IDEMPOTENCY), key, &task.id);
        }
        self.db.write_opt(batch, &synced())?;
        self.enqueue(task.id.clone());
        Ok((task, true))
    }

    /// A task.
    pub fn task(&self, id: &str) -> Result<Option<FheTask>, FheError> {
        Ok(match self.db.get_cf(self.cf(TASKS), id)? {
            Some(bytes) => {
                Some(serde_json::from_slice(&bytes).map_err(|e| FheError::Setup(e.to_string()))?)
            }
            None => None,
        })
    }

    /// The ids of the tasks not finished yet, oldest first: a task keeps its inputs exactly
    /// until it is done or failed, so these are the keys of the inputs column (ids sort by
    /// creation time), and a restart reads none of the finished tasks.
    fn unfinished(&self) -> Result<Vec<String>, FheError> {
        self.db
            .iterator_cf(self.cf(INPUTS), rocksdb::IteratorMode::Start)
            .map(|item| Ok(String::from_utf8_lossy(&item?.0).into_owned()))
            .collect()
    }

    /// A task of `owner` (others' tasks are reported missing).
    pub fn owned_task(&self, owner: &str, id: &str) -> Result<FheTask, FheError> {
        match self.task(id)? {
            Some(t) if t.owner == owner => Ok(t),
            _ => Err(FheError::NotFound {
                code: "task_not_found",
                message: format!("no FHE task {id}"),
            }),
        }
    }

    /// A finished task's output ciphertexts (tfhe-rs's `SquashedNoiseFheUint`, safe
    /// serialization).
    pub fn outputs(&self, id: &str) -> Result<Option<Vec<Vec<u8>>>, FheError> {
        Ok(match self.db.get_cf(self.cf(OUTPUTS), id)? {
            Some(bytes) => {
                Some(bincode::deserialize(&bytes).map_err(|e| FheError::Setup(e.to_string()))?)
            }
            None => None,
        })
    }

    fn put_task(&self, task: &FheTask, batch: Option<WriteBatch>) -> Result<(), FheError> {
        let mut batch = batch.unwrap_or_default();
        batch.put_cf(
            self.cf(TASKS),
            &task.id,
            serde_json::to_vec(task).expect("serializes"),
        );
        self.db.write_opt(batch, &synced())?;
        Ok(())
    }

    fn fail(&self, id: &str, code: &str, message: &str) -> Result<(), FheError> {
        let Some(mut task) = self.task(id)? else {
            return Ok(());
        };
        task.state = FheState::Failed;
        task.updated_ms = now_ms();
        task.error = Some(serde_json::json!({ "code": code, "message": message }));
        let mut batch = WriteBatch::default();
        batch.delete_cf(self.cf(INPUTS), id);
        self.put_task(&task, Some(batch))
    }

    /// Evaluates one task and stores its outputs (or its failure).
    fn run(&self, id: &str) -> Result<(), FheError> {
        let Some(mut task) = self.task(id)? else {
            return Ok(());
        };
        if !matches!(task.state, FheState::Queued | FheState::Running) {
            return Ok(());
        }
        task.state = FheState::Running;
        task.updated_ms = now_ms();
        self.put_task(&task, None)?;
        let result = self.evaluate(&task);
        task.updated_ms = now_ms();
        let mut batch = WriteBatch::default();
        match result {
            Ok((outputs, digest, plan, elapsed)) => {
                task.state = FheState::Done;
                task.digest = Some(hex::encode(digest));
                task.plan = Some(plan);
                task.eval_ms = Some(elapsed.as_millis() as u64);
                batch.put_cf(
                    self.cf(OUTPUTS),
                    id,
                    bincode::serialize(&outputs).expect("serializes"),
                );
            }
            Err((code, message)) => {
                task.state = FheState::Failed;
                task.error = Some(serde_json::json!({ "code": code, "message": message }));
            }
        }
        batch.delete_cf(self.cf(INPUTS), id);
        self.put_task(&task, Some(batch))
    }

    #[allow(clippy::type_complexity)]
    fn evaluate(
        &self,
        task: &FheTask,
    ) -> Result<(Vec<Vec<u8>>, [u8; 32], serde_json::Value, Duration), (&'static str, String)> {
        let internal = |e: String| ("internal", e);
        let program = self
            .program(&task.program)
            .map_err(|e| internal(e.to_string()))?
            .ok_or_else(|| {
                (
                    "unknown_program",
                    format!("program {} is gone", task.program),
                )
            })?;
        let inputs: Vec<Vec<u8>> = match self.db.get_cf(self.cf(INPUTS), &task.id) {
            Ok(Some(bytes)) => bincode::deserialize(&bytes).map_err(|e| internal(e.to_string()))?,
            Ok(None) => return Err(("internal", "inputs missing".into())),
            Err(e) => return Err(internal(e.to_string())),
        };
        let inputs = inputs
            .iter()
            .map(|b| fio::read_radix(b, program.bits, self.public.params.pbs))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ("invalid_ciphertext", e.to_string()))?;
        let failed = |e: fornax_fhe::Error| ("evaluation_failed", e.to_string());
        let started = Instant::now();
        let (outputs, digest, plan, device) = match &self.engine {
            Engine::Cpu(evaluator) => {
                let out = evaluator
                    .evaluate(&program, inputs, &task.id, self.config.workers)
                    .map_err(failed)?;
                (out.outputs, out.digest, out.plan, "cpu")
            }
            #[cfg(feature = "fhe-gpu")]
            Engine::Device(evaluator) => {
                let out = evaluator.evaluate(&program, inputs).map_err(failed)?;
                // One job per batch: the device takes each operation's blocks at once.
                let plan = fornax_fhe::plan::plan(&program, &task.id, 1);
                (out.outputs, out.digest, plan, evaluator.device())
            }
        };
        let elapsed = started.elapsed();
        let outputs = outputs
            .iter()
            .map(fio::write_squashed)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| internal(e.to_string()))?;
        let plan = serde_json::json!({
            "device": device,
            "batches": plan.batches.len(),
            "jobs": plan.jobs().count(),
            "estimated_pbs": plan.estimated_pbs(),
        });
        Ok((outputs, digest, plan, elapsed))
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
        futures_util::future::try_join_all(
            which
                .into_iter()
                .map(|i| self.decrypt_output(i, outputs[i].clone())),
        )
        .await
    }

    /// Decrypts one stored output: asks every key holder, combines what arrives.
    async fn decrypt_output(&self, i: usize, bytes: Vec<u8>) -> Result<DecryptedOutput, FheError> {
        let ct = fio::read_squashed(&bytes)
            .map_err(|e| FheError::Setup(format!("stored output {i}: {e}")))?;
        let answers = futures_util::future::join_all(
            self.config
                .keyholders
                .iter()
                .map(|url| self.ask_keyholder(url, bytes.clone())),
        )
        .await;
        let mut partials = Vec::new();
        let mut failures = Vec::new();
        for (url, answer) in self.config.keyholders.iter().zip(answers) {
            match answer {
                Ok(p) => partials.push(p),
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        let public = self.public.clone();
        let combined =
            tokio::task::spawn_blocking(move || fornax_fhe::combine(&public, &ct, &partials))
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

    async fn ask_keyholder(
        &self,
        url: &str,
        ciphertext: Vec<u8>,
    ) -> Result<PartialDecryption, String> {
        let mut request = self
            .http
            .post(format!("{}/v1/partdec", url.trim_end_matches('/')))
            .header("content-type", "application/octet-stream")
            .body(ciphertext);
        if let Some(token) = &self.config.keyholder_token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        // A key holder's answer is a few hundred bytes a block: read at most 1 MiB of it, so
        // a faulty or hostile one cannot make the node buffer without bound.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!("answer over {MAX_ANSWER_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}
