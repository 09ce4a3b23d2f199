//! Signed results: every result an attested worker produces carries its identity key's
//! signature and a per-worker sequence number, checked off chain by [`Ledger`] and on chain
//! by `WorkerRegistry.recordResult` (the same hash, the same rules).

use std::collections::HashMap;

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;
use serde::{Deserialize, Serialize};

use crate::identity::{recover_signer, IdentityKey};

/// The registry a result is signed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Domain {
    /// The chain id.
    pub chain_id: u64,
    /// The WorkerRegistry's address.
    pub registry: Address,
}

/// `WorkerRegistry.resultHash`: `keccak256(abi.encode("fornax.worker.result.v1", chain id,
/// registry, worker, sequence, task id, result digest))`.
pub fn result_hash(
    domain: &Domain,
    worker: Address,
    sequence: u64,
    task_id: B256,
    digest: B256,
) -> B256 {
    keccak256(
        (
            "fornax.worker.result.v1".to_string(),
            U256::from(domain.chain_id),
            domain.registry,
            worker,
            sequence,
            task_id,
            digest,
        )
            .abi_encode_params(),
    )
}

/// A result as a worker signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedResult {
    /// The worker's address.
    pub worker: Address,
    /// Its sequence number: one more than its previous result's.
    pub sequence: u64,
    /// The task.
    pub task_id: B256,
    /// A digest of the result.
    pub result_digest: B256,
    /// `r ‖ s ‖ v` over [`result_hash`].
    #[serde(with = "hex::serde")]
    pub signature: Vec<u8>,
}

/// Signs a worker's results in sequence.
#[derive(Debug)]
pub struct ResultSigner {
    key: IdentityKey,
    domain: Domain,
    last: u64,
}

impl ResultSigner {
    /// The signer of `key`, whose last signed sequence number was `last` (0 for none).
    pub fn new(key: IdentityKey, domain: Domain, last: u64) -> ResultSigner {
        ResultSigner { key, domain, last }
    }

    /// Continues after sequence number `last` (what the registry holds, after a result
    /// was signed but never recorded).
    pub fn resume(&mut self, last: u64) {
        self.last = last;
    }

    /// The key.
    pub fn key(&self) -> &IdentityKey {
        &self.key
    }

    /// Signs the next result.
    pub fn sign(&mut self, task_id: B256, result_digest: B256) -> SignedResult {
        self.last += 1;
        let worker = self.key.address();
        let hash = result_hash(&self.domain, worker, self.last, task_id, result_digest);
        SignedResult {
            worker,
            sequence: self.last,
            task_id,
            result_digest,
            signature: self.key.sign_digest(hash).to_vec(),
        }
    }
}

/// Why a signed result was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultRejected {
    /// The key is not registered (or its registration failed verification).
    #[error("result from unregistered worker {0}")]
    UnknownWorker(Address),
    /// A replayed or reordered result.
    #[error("worker {worker}: sequence {given}, expected {expected} (replayed or reordered)")]
    BadSequence {
        /// The worker.
        worker: Address,
        /// The sequence number due.
        expected: u64,
        /// The one given.
        given: u64,
    },
    /// The signature is not the worker's over this result.
    #[error("result signature of worker {0} does not verify")]
    BadSignature(Address),
}

/// The node's view of registered workers and their sequence numbers.
#[derive(Debug)]
pub struct Ledger {
    domain: Domain,
    last: HashMap<Address, u64>,
}

impl Ledger {
    /// An empty ledger for `domain`.
    pub fn new(domain: Domain) -> Ledger {
        Ledger {
            domain,
            last: HashMap::new(),
        }
    }

    /// Registers `worker` (after its quote verified), keeping its sequence on re-attestation.
    pub fn register(&mut self, worker: Address) {
        self.last.entry(worker).or_insert(0);
    }

    /// Sets `worker`'s last accepted sequence number (to the registry's, after a result
    /// this ledger accepted was not recorded on chain).
    pub fn resume(&mut self, worker: Address, last: u64) {
        self.last.insert(worker, last);
    }

    /// Whether `worker` is registered.
    pub fn is_registered(&self, worker: Address) -> bool {
        self.last.contains_key(&worker)
    }

    /// Accepts `result` if it comes from a registered worker, is signed by it and is the
    /// next in its sequence.
    pub fn accept(&mut self, result: &SignedResult) -> Result<(), ResultRejected> {
        let last = *self
            .last
            .get(&result.worker)
            .ok_or(ResultRejected::UnknownWorker(result.worker))?;
        if result.sequence != last + 1 {
            return Err(ResultRejected::BadSequence {
                worker: result.worker,
                expected: last + 1,
                given: result.sequence,
            });
        }
        let hash = result_hash(
            &self.domain,
            result.worker,
            result.sequence,
            result.task_id,
            result.result_digest,
        );
        if recover_signer(hash, &result.signature) != Some(result.worker) {
            return Err(ResultRejected::BadSignature(result.worker));
        }
        self.last.insert(result.worker, result.sequence);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_rejects_unregistered_replayed_reordered_and_forged_results() {
        let domain = Domain {
            chain_id: 31337,
            registry: Address::repeat_byte(1),
        };
        let mut signer = ResultSigner::new(IdentityKey::generate(), domain, 0);
        let worker = signer.key().address();
        let mut ledger = Ledger::new(domain);
        let r1 = signer.sign(B256::repeat_byte(1), keccak256(b"one"));
        let r2 = signer.sign(B256::repeat_byte(2), keccak256(b"two"));
        let r3 = signer.sign(B256::repeat_byte(3), keccak256(b"three"));
        assert_eq!(
            ledger.accept(&r1),
            Err(ResultRejected::UnknownWorker(worker))
        );
        ledger.register(worker);
        assert_eq!(ledger.accept(&r1), Ok(()));
        assert_eq!(
            ledger.accept(&r1),
            Err(ResultRejected::BadSequence {
                worker,
                expected: 2,
                given: 1
            }),
            "replay"
        );
        assert_eq!(
            ledger.accept(&r3),
            Err(ResultRejected::BadSequence {
                worker,
                expected: 2,
                given: 3
            }),
            "reorder"
        );
        let mut forged = r2.clone();
        forged.result_digest = keccak256(b"not what was signed");
        assert_eq!(
            ledger.accept(&forged),
            Err(ResultRejected::BadSignature(worker))
        );
        let other_domain = Domain {
            chain_id: 1,
            ..domain
        };
        let mut elsewhere = ResultSigner::new(IdentityKey::generate(), other_domain, 0);
        let foreign = elsewhere.sign(B256::ZERO, B256::ZERO);
        ledger.register(foreign.worker);
        assert_eq!(
            ledger.accept(&foreign),
            Err(ResultRejected::BadSignature(foreign.worker)),
            "other chain"
        );
        assert_eq!(ledger.accept(&r2), Ok(()));
        assert_eq!(ledger.accept(&r3), Ok(()));
        ledger.register(worker);
        assert_eq!(
            ledger.accept(&r3).unwrap_err(),
            ResultRejected::BadSequence {
                worker,
                expected: 4,
                given: 3
            },
            "re-attestation keeps the sequence"
        );
    }
}
