//! The node's durable state in RocksDB, and its content-addressed artifact files.
//!
//! Column families:
//!
//! | family | key | value |
//! |---|---|---|
//! | `circuits` | circuit id | [`CircuitMeta`] (JSON) |
//! | `tasks` | task id | [`Task`] (JSON) |
//! | `inputs` | task id | the input (JSON or `.wtns` bytes) |
//! | `proofs` | task id | [`StoredProof`] (JSON) |
//! | `idempotency` | owner `\0` key | task id |
//! | `transitions` | task id `\0` sequence (u32, big endian) | [`Transition`] (JSON) |
//!
//! Every write that changes a task is one atomic batch, synced to disk before the call
//! returns: a task's record, its transition log entry and (for `proved`) its proof land
//! together or not at all. Zkeys and witness generators are files named by their content
//! hash under `artifacts/`, written to a temporary name, synced and renamed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rocksdb::{
    ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB,
};
use serde::{Deserialize, Serialize};

use crate::task::{now_ms, Failure, PartDone, State, Task, Transition};

/// A circuit's id: SHA-256 over a domain tag, the SHA-256 of its zkey, and whether it has a
/// witness generator and that generator's SHA-256. Each part is hashed on its own, so no
/// other split of the same bytes between zkey and wasm has the same id.
pub fn circuit_id(zkey: &[u8], wasm: Option<&[u8]>) -> String {
    use sha2::{Digest, Sha256};
    circuit_id_of_digests(
        Sha256::digest(zkey).into(),
        wasm.map(|w| Sha256::digest(w).into()),
    )
}

/// [`circuit_id`] from the parts' SHA-256 digests (of files hashed as they arrived).
pub fn circuit_id_of_digests(zkey: [u8; 32], wasm: Option<[u8; 32]>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"fornax circuit v1\0");
    h.update(zkey);
    match wasm {
        Some(w) => {
            h.update([1]);
            h.update(w);
        }
        None => h.update([0]),
    }
    hex::encode(h.finalize())
}

/// A file being uploaded into the artifact folder, hashed as it is written
/// ([`Store::upload`]). Dropped before [`Store::put_upload`], its temporary file is removed.
pub struct Upload {
    path: PathBuf,
    file: Option<std::fs::File>,
    hasher: sha2::Sha256,
}

impl Upload {
    /// Appends `chunk`.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        use sha2::Digest;
        use std::io::Write;
        let file = self
            .file
            .as_mut()
            .expect("an upload's file until it is stored");
        file.write_all(chunk).map_err(|source| StoreError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.hasher.update(chunk);
        Ok(())
    }

    /// The SHA-256 of what was written.
    pub fn sha256(&self) -> [u8; 32] {
        use sha2::Digest;
        self.hasher.clone().finalize().into()
    }

    /// Where the bytes are until stored.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file, for reading it back by position (as the zkey parser does).
    pub fn file(&self) -> &std::fs::File {
        self.file
            .as_ref()
            .expect("an upload's file until it is stored")
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The id circuits had before [`circuit_id`] (SHA-256 of zkey and wasm run together): still
/// accepted when a worker checks the artifacts of a circuit registered then.
pub fn legacy_circuit_id(zkey: &[u8], wasm: Option<&[u8]>) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(zkey);
    if let Some(w) = wasm {
        h.update(w);
    }
    hex::encode(h.finalize())
}

const CIRCUITS: &str = "circuits";
const TASKS: &str = "tasks";
const INPUTS: &str = "inputs";
const PROOFS: &str = "proofs";
const IDEMPOTENCY: &str = "idempotency";
const TRANSITIONS: &str = "transitions";
const FHE_PROGRAMS: &str = "fhe_programs";
const FHE_OUTPUTS: &str = "fhe_outputs";
const PARTS: &str = "parts";

/// Lock stripes.
const STRIPES: usize = 64;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB failed.
    #[error("store: {0}")]
    Db(#[from] rocksdb::Error),
    /// A file of the store could not be read or written.
    #[error("store file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A stored record does not decode (corruption or a bug).
    #[error("store: corrupt record {0}")]
    Corrupt(String),
    /// No task with this id.
    #[error("no task {0}")]
    NoTask(String),
    /// The state machine forbids the transition.
    #[error("task {id} is {from}; it cannot become {to}")]
    Forbidden {
        /// The task.
        id: String,
        /// Its state.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
    },
}

/// An FHE program's id: `p` and the first 128 bits of the BLAKE3 hash of its canonical JSON,
/// in hex.
pub fn fhe_program_id(canonical: &[u8]) -> String {
    format!("p{}", &blake3::hash(canonical).to_hex()[..32])
}

/// A registered circuit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CircuitMeta {
    /// Content hash (SHA-256 of the zkey, then of the witness generator if any), hex.
    pub id: String,
    /// Public signals (outputs and public inputs).
    pub n_public: usize,
    /// Wires, i.e. witness values.
    pub n_wires: usize,
    /// Constraints (the zkey's domain is the next power of two above them and the inputs).
    pub domain_size: usize,
    /// Whether a witness generator (`circuit.wasm`) was registered with the key.
    pub has_wasm: bool,
    /// Registration time, Unix milliseconds.
    pub created_ms: u64,
}

impl CircuitMeta {
    /// The sizes that shape its proofs' job graphs.
    pub fn shape(&self) -> fornax_prover::graph::Shape {
        fornax_prover::graph::Shape {
            n_vars: self.n_wires,
            n_public: self.n_public,
            domain_size: self.domain_size,
        }
    }
}

/// A proof as stored and served: snarkjs's `proof.json` and `public.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredProof {
    /// snarkjs `proof.json`.
    pub proof: serde_json::Value,
    /// snarkjs `public.json`.
    pub public: serde_json::Value,
    /// Proving time on the device, milliseconds.
    pub prove_ms: f64,
}

/// A task's result, stored in the same atomic write as the transition that records it.
#[derive(Clone, Copy, Debug)]
pub enum TaskOutput<'a> {
    /// A proof.
    Proof(&'a StoredProof),
    /// An FHE task's output ciphertexts (bincode of the list of tfhe-rs's safe
    /// serializations).
    Fhe(&'a [u8]),
}

/// What a new task comes with.
pub struct NewTask {
    /// The task record (state `submitted`).
    pub task: Task,
    /// Its input bytes.
    pub input: Vec<u8>,
}

/// The node's store.
pub struct Store {
    db: DB,
    artifacts: PathBuf,
    /// Striped locks that serialise read-modify-writes of one task record (or one
    /// idempotency key, or one circuit); writes to different keys go on concurrently, so
    /// RocksDB can commit their synced writes as a group.
    stripes: Vec<Mutex<()>>,
}

impl Store {
    /// Opens (creating if needed) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let artifacts = dir.join("artifacts");
        std::fs::create_dir_all(&artifacts).map_err(|source| StoreError::Io {
            path: artifacts.clone(),
            source,
        })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let families = [
            CIRCUITS,
            TASKS,
            INPUTS,
            PROOFS,
            IDEMPOTENCY,
            TRANSITIONS,
            FHE_PROGRAMS,
            FHE_OUTPUTS,
            PARTS,
        ]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir.join("db"), families)?;
        Ok(Store {
            db,
            artifacts,
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
        })
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }

    fn synced() -> WriteOptions {
        let mut w = WriteOptions::default();
        w.set_sync(true);
        w
    }

    /// Adds `task`'s record to `batch`, under its id.
    fn put_task(&self, batch: &mut WriteBatch, task: &Task) {
        batch.put_cf(
            self.cf(TASKS),
            &task.id,
            serde_json::to_vec(task).expect("serialisable"),
        );
    }

    fn lock(&self, key: &[u8]) -> std::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let stripe = &self.stripes[h.finish() as usize % STRIPES];
        stripe
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The path of artifact `name` (a content hash plus extension).
    pub fn artifact_path(&self, name: &str) -> PathBuf {
        self.artifacts.join(name)
    }

    /// Writes an artifact durably (temporary file, fsync, rename), unless it exists.
    pub fn put_artifact(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        if self.artifact_path(name).exists() {
            return Ok(());
        }
        let mut upload = self.upload()?;
        upload.write(bytes)?;
        self.put_upload(name, upload)
    }

    /// A new upload into the artifact folder: written in chunks and hashed as it goes, so
    /// a large file (a circuit's key) is never held whole in memory.
    pub fn upload(&self) -> Result<Upload, StoreError> {
        let path = self
            .artifacts
            .join(format!(".upload.{:016x}.tmp", rand::random::<u64>()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Upload {
            path,
            file: Some(file),
            hasher: Default::default(),
        })
    }

    /// Stores `upload` durably as artifact `name` (fsync, rename), unless it exists.
    pub fn put_upload(&self, name: &str, mut upload: Upload) -> Result<(), StoreError> {
        let path = self.artifact_path(name);
        let file = upload.file.take().expect("an upload is stored once");
        let tmp = upload.path.clone();
        if path.exists() {
            drop(file);
            let _ = std::fs::remove_file(&tmp);
            return Ok(());
        }
        let io = |path: &PathBuf| {
            let path = path.clone();
            move |source| StoreError::Io { path, source }
        };
        let stored = file
            .sync_all()
            .map_err(io(&tmp))
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(io(&path)));
        drop(file);
        if stored.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        stored?;
        if let Ok(dir) = std::fs::File::open(&self.artifacts) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Reads an artifact.
    pub fn artifact(&self, name: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.artifact_path(name);
        std::fs::read(&path).map_err(|source| StoreError::Io { path, source })
    }

    /// Records a circuit; returns `false` if it was registered already.
    pub fn put_circuit(&self, meta: &CircuitMeta) -> Result<bool, StoreError> {
        let _guard = self.lock(meta.id.as_bytes());
        if self.db.get_cf(self.cf(CIRCUITS), &meta.id)?.is_some() {
            return Ok(false);
        }
        let value = serde_json::to_vec(meta).expect("serialisable");
        self.db
            .put_cf_opt(self.cf(CIRCUITS), &meta.id, value, &Self::synced())?;
        Ok(true)
    }

    /// A circuit by id.
    pub fn circuit(&self, id: &str) -> Result<Option<CircuitMeta>, StoreError> {
        self.db
            .get_cf(self.cf(CIRCUITS), id)?
            .map(|v| decode(&v, "circuit"))
            .transpose()
    }

    /// Every registered circuit.
    pub fn circuits(&self) -> Result<Vec<CircuitMeta>, StoreError> {
        self.db
            .iterator_cf(self.cf(CIRCUITS), IteratorMode::Start)
            .map(|item| decode(&item?.1, "circuit"))
            .collect()
    }

    /// Stores a new task (state `submitted`) with its input, durably. With an idempotency
    /// key that its owner used before, stores nothing and returns the earlier task and
    /// `false`.
    pub fn create_task(&self, new: NewTask) -> Result<(Task, bool), StoreError> {
        let task = new.task;
        let idem_key = task
            .idempotency_key
            .as_ref()
            .map(|k| idempotency_key(&task.owner, k));
        // A fresh id needs no lock; an idempotency key must not be claimed twice.
        let _guard = idem_key.as_ref().map(|k| self.lock(k));
        if let Some(key) = &idem_key {
            if let Some(id) = self.db.get_cf(self.cf(IDEMPOTENCY), key)? {
                let id = String::from_utf8_lossy(&id).into_owned();
                let earlier = self
                    .task(&id)?
                    .ok_or_else(|| StoreError::Corrupt(format!("idempotency entry for {id}")))?;
                return Ok((earlier, false));
            }
        }
        let mut task = task;
        task.transitions = 1;
        let mut batch = WriteBatch::default();
        self.put_task(&mut batch, &task);
        batch.put_cf(self.cf(INPUTS), &task.id, &new.input);
        if let Some(key) = &idem_key {
            batch.put_cf(self.cf(IDEMPOTENCY), key, &task.id);
        }
        let log = Transition {
            from: None,
            to: task.state,
            at_ms: task.created_ms,
        };
        batch.put_cf(
            self.cf(TRANSITIONS),
            log_key(&task.id, 0),
            serde_json::to_vec(&log).expect("serialisable"),
        );
        self.db.write_opt(batch, &Self::synced())?;
        Ok((task, true))
    }

    /// A task by id.
    pub fn task(&self, id: &str) -> Result<Option<Task>, StoreError> {
        self.db
            .get_cf(self.cf(TASKS), id)?
            .map(|v| decode(&v, "task"))
            .transpose()
    }

    /// A task's input bytes.
    pub fn input(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(INPUTS), id)?)
    }

    /// A task's proof, once it is proved.
    pub fn proof(&self, id: &str) -> Result<Option<StoredProof>, StoreError> {
        self.db
            .get_cf(self.cf(PROOFS), id)?
            .map(|v| decode(&v, "proof"))
            .transpose()
    }

    /// Moves a task to `to`, durably, if the state machine allows it and `allowed_from`
    /// (when given) contains its current state; `update` may change other fields; a result
    /// (proof or FHE outputs) is stored in the same atomic write.
    pub fn transition(
        &self,
        id: &str,
        to: State,
        allowed_from: Option<&[State]>,
        failure: Option<Failure>,
        output: Option<TaskOutput<'_>>,
        update: impl FnOnce(&mut Task),
    ) -> Result<Task, StoreError> {
        let _guard = self.lock(id.as_bytes());
        let mut task = self
            .task(id)?
            .ok_or_else(|| StoreError::NoTask(id.to_string()))?;
        let from = task.state;
        if !from.can_become(to) || allowed_from.is_some_and(|allowed| !allowed.contains(&from)) {
            return Err(StoreError::Forbidden {
                id: id.to_string(),
                from: from.as_str(),
                to: to.as_str(),
            });
        }
        let now = now_ms();
        update(&mut task);
        task.state = to;
        task.failure = failure;
        task.updated_ms = now;
        let seq = task.transitions;
        task.transitions += 1;
        let mut batch = WriteBatch::default();
        self.put_task(&mut batch, &task);
        let log = Transition {
            from: Some(from),
            to,
            at_ms: now,
        };
        batch.put_cf(
            self.cf(TRANSITIONS),
            log_key(id, seq),
            serde_json::to_vec(&log).expect("serialisable"),
        );
        match output {
            Some(TaskOutput::Proof(p)) => batch.put_cf(
                self.cf(PROOFS),
                id,
                serde_json::to_vec(p).expect("serialisable"),
            ),
            Some(TaskOutput::Fhe(bytes)) => batch.put_cf(self.cf(FHE_OUTPUTS), id, bytes),
            None => {}
        }
        if to.is_final() {
            // The input is not needed any more once nothing can run the task again.
            batch.delete_cf(self.cf(INPUTS), id);
            if let Some(split) = &task.split {
                for part in &split.done {
                    batch.delete_cf(self.cf(PARTS), part_key(id, &part.role));
                }
            }
        }
        self.db.write_opt(batch, &Self::synced())?;
        Ok(task)
    }

    /// Changes a task's record without changing its state (e.g. the chain poster's journal),
    /// durably. Returns the updated task.
    pub fn update(&self, id: &str, update: impl FnOnce(&mut Task)) -> Result<Task, StoreError> {
        let _guard = self.lock(id.as_bytes());
        let mut task = self
            .task(id)?
            .ok_or_else(|| StoreError::NoTask(id.to_string()))?;
        update(&mut task);
        let mut batch = WriteBatch::default();
        self.put_task(&mut batch, &task);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(task)
    }

    /// A task's transition log, oldest first.
    pub fn transitions(&self, id: &str) -> Result<Vec<Transition>, StoreError> {
        let prefix = format!("{id}\0");
        let mut out = Vec::new();
        for item in self.db.iterator_cf(
            self.cf(TRANSITIONS),
            IteratorMode::From(prefix.as_bytes(), Direction::Forward),
        ) {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push(decode(&v, "transition")?);
        }
        Ok(out)
    }

    /// Up to `limit` tasks with ids after `after` (creation order), filtered.
    pub fn tasks(
        &self,
        after: Option<&str>,
        limit: usize,
        filter: impl Fn(&Task) -> bool,
    ) -> Result<Vec<Task>, StoreError> {
        let mode = match after {
            Some(a) => IteratorMode::From(a.as_bytes(), Direction::Forward),
            None => IteratorMode::Start,
        };
        let mut out = Vec::new();
        for item in self.db.iterator_cf(self.cf(TASKS), mode) {
            let (k, v) = item?;
            if after.is_some_and(|a| k.as_ref() == a.as_bytes()) {
                continue;
            }
            let task: Task = decode(&v, "task")?;
            if filter(&task) {
                out.push(task);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Stores a part of a split proof (its point, and who computed it in the task's record)
    /// in one write, unless that part is stored already (first write wins). Returns the
    /// task as it is after, and whether the part is new.
    pub fn put_part(
        &self,
        id: &str,
        point: &[u8],
        part: PartDone,
    ) -> Result<(Task, bool), StoreError> {
        let _guard = self.lock(id.as_bytes());
        let mut task = self
            .task(id)?
            .ok_or_else(|| StoreError::NoTask(id.to_string()))?;
        let split = task.split.get_or_insert_with(Default::default);
        if split.done.iter().any(|p| p.role == part.role) {
            return Ok((task, false));
        }
        let key = part_key(id, &part.role);
        split.done.push(part);
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(PARTS), key, point);
        self.put_task(&mut batch, &task);
        self.db.write_opt(batch, &Self::synced())?;
        Ok((task, true))
    }

    /// A stored part's point.
    pub fn part(&self, id: &str, role: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(PARTS), part_key(id, role))?)
    }

    /// Forgets a split proof's stored parts (they assembled into a proof that did not
    /// verify: every part runs again), in one write with the task's record.
    pub fn clear_parts(
        &self,
        id: &str,
        update: impl FnOnce(&mut Task),
    ) -> Result<Task, StoreError> {
        let _guard = self.lock(id.as_bytes());
        let mut task = self
            .task(id)?
            .ok_or_else(|| StoreError::NoTask(id.to_string()))?;
        let mut batch = WriteBatch::default();
        if let Some(split) = task.split.as_mut() {
            for part in split.done.drain(..) {
                batch.delete_cf(self.cf(PARTS), part_key(id, &part.role));
            }
        }
        update(&mut task);
        self.put_task(&mut batch, &task);
        self.db.write_opt(batch, &Self::synced())?;
        Ok(task)
    }

    /// Registers an FHE program under `id` (its canonical JSON's digest); returns whether
    /// it is new.
    pub fn put_fhe_program(&self, id: &str, canonical: &[u8]) -> Result<bool, StoreError> {
        let _guard = self.lock(id.as_bytes());
        if self.db.get_cf(self.cf(FHE_PROGRAMS), id)?.is_some() {
            return Ok(false);
        }
        self.db
            .put_cf_opt(self.cf(FHE_PROGRAMS), id, canonical, &Self::synced())?;
        Ok(true)
    }

    /// A registered FHE program's canonical JSON.
    pub fn fhe_program(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(FHE_PROGRAMS), id)?)
    }

    /// An FHE task's output ciphertexts, once computed (as [`TaskOutput::Fhe`] stored them).
    pub fn fhe_outputs(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(FHE_OUTPUTS), id)?)
    }

    /// Every task not in a final state, oldest first (for recovery after a restart).
    pub fn unfinished(&self) -> Result<Vec<Task>, StoreError> {
        self.tasks(None, usize::MAX, |t| !t.state.is_final())
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn idempotency_key(owner: &str, key: &str) -> Vec<u8> {
    let mut k = owner.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

fn part_key(id: &str, role: &str) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(role.as_bytes());
    k
}

fn log_key(id: &str, seq: u32) -> Vec<u8> {
    let mut k = id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_ids_do_not_depend_on_where_the_bytes_are_split() {
        let (zkey, wasm) = (b"zkey bytes".as_slice(), b"wasm bytes".as_slice());
        let id = circuit_id(zkey, Some(wasm));
        // Under the legacy id, moving bytes between zkey and wasm kept the id.
        assert_eq!(
            legacy_circuit_id(zkey, Some(wasm)),
            legacy_circuit_id(b"zkey byteswasm", Some(b" bytes"))
        );
        assert_ne!(id, circuit_id(b"zkey byteswasm", Some(b" bytes")));
        assert_ne!(id, circuit_id(b"zkey byteswasm bytes", None));
        assert_ne!(circuit_id(zkey, None), circuit_id(zkey, Some(b"")));
        assert_eq!(id, circuit_id(zkey, Some(wasm)));
        assert_eq!(id.len(), 64);
    }
}
