//! Tasks (proofs and FHE evaluations) and their published state machine.
//!
//! An FHE task goes through the same machine: `proving` is its evaluation and `proved` its
//! outputs stored (the FHE API names them `running` and `done`).
//!
//! ```text
//! submitted ──▶ scheduled ──▶ proving ──▶ proved
//!     │             │  ▲          │
//!     │             │  └──────────┤ (retry, or recovery after a crash)
//!     │             │             └──▶ posting ──▶ settled      (tasks from the chain)
//!     └─────────────┴─────────────┴───────┴──▶ failed{code, message} | cancelled | expired
//! ```
//!
//! A task created on chain is not done when proved: its proof is posted to the market
//! (`posting`) and the task is `settled` once the contract verified it and paid, with
//! enough confirmations. `proved`, `settled`, `failed`, `cancelled` and `expired` are final. Every transition is persisted
//! (with an entry in the task's transition log) before anybody is told about it.

use serde::{Deserialize, Serialize};

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Accepted and stored; waiting for a device.
    Submitted,
    /// Taken from the fair queue; its job is about to go to the workers.
    Scheduled,
    /// Its job is out: a worker computes the witness and the proof.
    Proving,
    /// The proof is stored and can be fetched.
    Proved,
    /// The proof is stored and being posted to the chain.
    Posting,
    /// The chain verified the proof and paid; confirmed.
    Settled,
    /// Failed for good; the task carries the reason.
    Failed,
    /// Cancelled by its submitter.
    Cancelled,
    /// Its deadline passed before it was proved.
    Expired,
}

impl State {
    /// Every state, in the order of the machine.
    pub const ALL: [State; 9] = [
        State::Submitted,
        State::Scheduled,
        State::Proving,
        State::Proved,
        State::Posting,
        State::Settled,
        State::Failed,
        State::Cancelled,
        State::Expired,
    ];

    /// Whether nothing more happens to a task in this state.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            State::Proved | State::Settled | State::Failed | State::Cancelled | State::Expired
        )
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: State) -> bool {
        use State::*;
        match (self, next) {
            (from, _) if from.is_final() => false,
            (_, Failed | Cancelled | Expired) => true,
            (Submitted, Scheduled) | (Scheduled, Proving) | (Proving, Proved) => true,
            (Proving, Posting) | (Posting, Settled) => true,
            // A retry after a retryable failure, or recovery of a task a crash interrupted.
            (Proving, Scheduled) | (Scheduled, Scheduled) => true,
            _ => false,
        }
    }

    /// The state's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Scheduled => "scheduled",
            State::Proving => "proving",
            State::Proved => "proved",
            State::Posting => "posting",
            State::Settled => "settled",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
            State::Expired => "expired",
        }
    }

    /// Parses a state's API name.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// Why a task failed: a stable code and a human message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    /// Stable, machine-readable (`invalid_witness`, `unsatisfied_witness`, `prover_error`, …).
    pub code: String,
    /// What happened.
    pub message: String,
}

/// What a task carries as its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// circom input JSON, for the circuit's witness generator.
    Json,
    /// A ready `.wtns`.
    Wtns,
}

/// What a task computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A Groth16 proof of a circuit (`circuit` is the circuit's id).
    #[default]
    Groth16,
    /// An FHE program over ciphertexts (`circuit` is the program's id; see [`FheLink`]).
    Fhe,
}

impl TaskKind {
    fn is_groth16(&self) -> bool {
        *self == TaskKind::Groth16
    }
}

/// What an FHE task carries besides the common record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FheLink {
    /// The key set its inputs are encrypted under, as an artifact (`fhekeys-<sha256>`):
    /// workers fetch it once and keep its evaluation keys.
    pub keys: String,
    /// Set when it is computed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<FheResult>,
}

/// A proof split into parts that run as jobs of their own, on whichever workers take them:
/// the witness (for JSON input), then the five MSMs (the H one with the NTTs under it); the
/// node assembles the proof when all five are in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Split {
    /// The witness as an artifact (`wtns-<sha256>`), once a worker computed it from JSON
    /// input; a task given a witness uses its input.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub witness: Option<String>,
    /// The public signals of that witness (decimal).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub public: Vec<String>,
    /// The parts stored so far (their points are in the store), first write wins.
    #[serde(default)]
    pub done: Vec<PartDone>,
}

/// One stored part of a split proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PartDone {
    /// Its role (`msm-a`, `msm-b1`, `msm-b2`, `msm-c`, `msm-h`).
    pub role: String,
    /// The worker and device that computed it, `<worker>/<device>`.
    pub worker: String,
    /// How long it took there, milliseconds.
    pub ms: u64,
}

/// An FHE task's result, beside its output ciphertexts (stored apart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FheResult {
    /// Digest of the outputs (hex): equal digests, bit-identical results (between workers
    /// on the same kind of device).
    pub digest: String,
    /// The device it ran on, and the batches, jobs and estimated KS-PBS of its plan.
    pub plan: serde_json::Value,
    /// Evaluation time, milliseconds.
    pub eval_ms: u64,
}

/// A task as stored and as the API shows it: a proof, or an FHE evaluation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    /// Time-ordered unique id (`t` + creation time + random).
    pub id: String,
    /// What it computes (absent: a proof).
    #[serde(skip_serializing_if = "TaskKind::is_groth16", default)]
    pub kind: TaskKind,
    /// The circuit's content hash (for an FHE task, the program's id).
    pub circuit: String,
    /// Who submitted it (the API key's name).
    pub owner: String,
    /// Current state.
    pub state: State,
    /// Set when `state` is `failed`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<Failure>,
    /// The input's kind.
    pub input: InputKind,
    /// Creation time, Unix milliseconds.
    pub created_ms: u64,
    /// Time of the last transition, Unix milliseconds.
    pub updated_ms: u64,
    /// The task expires if not proved by then (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deadline_ms: Option<u64>,
    /// Proving attempts that failed with a retryable error.
    pub failed_attempts: u32,
    /// Transitions so far (the length of the task's transition log).
    pub transitions: u32,
    /// The submitter's `Idempotency-Key`, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub idempotency_key: Option<String>,
    /// Where to POST the task's state changes (see the node's webhooks).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub webhook: Option<String>,
    /// Set for a task created on chain: where its result goes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chain: Option<ChainLink>,
    /// Set once the attested worker signed the result (and it was recorded on chain): tee
    /// (`intel-dcap`, `amd-sev-snp`, or `SIMULATED`: no TEE behind it), worker (address),
    /// sequence, task_id (keccak256 of the task id), result_digest (keccak256 of `[proof,
    /// public]` as JSON), signature (r‖s‖v over the registry's resultHash).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<Object>)]
    pub signed: Option<SignedRecord>,
    /// The worker and device that proved it, `<worker>/<device>`, when its job went
    /// through a queue to a worker elsewhere.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub worker: Option<String>,
    /// The last delivery of its queued job whose failure was counted in
    /// `failed_attempts` (so an outcome delivered twice is counted once).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub counted_delivery: u32,
    /// Set for an FHE task.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fhe: Option<FheLink>,
    /// Set for a proof the planner split into parts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub split: Option<Split>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A result signed by the attested worker that proved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The worker's TEE: `intel-dcap`, `amd-sev-snp`, or `SIMULATED` (no TEE).
    pub tee: String,
    /// The signed result (worker, sequence, task id hash, result digest, signature).
    #[serde(flatten)]
    pub result: fornax_enclave::SignedResult,
}

/// A task's link to the market it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainLink {
    /// The market's address.
    pub market: String,
    /// The task's id in the market (decimal).
    pub task: String,
    /// The on-chain circuit id.
    pub circuit: String,
    /// The fee in escrow, wei (decimal).
    pub fee: String,
    /// What the poster broadcast (nonce, transactions), so a restart resumes it.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub journal: fornax_chain_adapter::PostJournal,
    /// The settling transaction, once confirmed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub settled_tx: Option<String>,
    /// The result the contract accepted: the circuit's outputs (decimal).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub outputs: Option<Vec<String>>,
}

/// One entry of a task's transition log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Transition {
    /// The state before.
    pub from: Option<State>,
    /// The state after.
    pub to: State,
    /// When, Unix milliseconds.
    pub at_ms: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A new time-ordered task id: creation milliseconds then 64 random bits, in hex.
pub fn new_task_id(now_ms: u64) -> String {
    format!("t{now_ms:013x}{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_go_nowhere_and_the_main_path_is_allowed() {
        for from in State::ALL {
            for to in State::ALL {
                if from.is_final() {
                    assert!(!from.can_become(to), "{from:?} -> {to:?}");
                }
            }
        }
        use State::*;
        for (a, b) in [
            (Submitted, Scheduled),
            (Scheduled, Proving),
            (Proving, Proved),
            (Proving, Scheduled),
            (Proving, Posting),
            (Posting, Settled),
            (Posting, Failed),
        ] {
            assert!(a.can_become(b), "{a:?} -> {b:?}");
        }
        for (a, b) in [
            (Submitted, Proving),
            (Submitted, Proved),
            (Scheduled, Proved),
            (Proving, Submitted),
            (Proved, Posting),
            (Posting, Proved),
            (Posting, Scheduled),
            (Settled, Posting),
        ] {
            assert!(!a.can_become(b), "{a:?} -> {b:?}");
        }
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }

    #[test]
    fn task_ids_sort_by_creation_time() {
        let a = new_task_id(1_000);
        let b = new_task_id(2_000);
        assert!(a < b);
        assert_eq!(a.len(), 30);
    }
}
