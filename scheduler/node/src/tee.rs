//! Attested workers on chain: a worker's identity key is generated in its TEE (or, with
//! `--insecure-simulated-tee`, under the development CA), bound into a quote over a recent
//! block hash, verified by this node under its [`Policy`], and registered in the
//! WorkerRegistry with the worker's signature and the node's (the registry's quote
//! verifier). After that every result is signed in sequence, checked by the node's
//! [`Ledger`] and recorded on chain.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{keccak256, Address, Bytes};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use fornax_chain_adapter::registry::Attestation;
use fornax_chain_adapter::{Chain, ChainError};

use crate::scheduler::Scheduler;
use crate::task::SignedRecord;
use fornax_enclave::tsm::ConfigFs;
use fornax_enclave::{
    AttestError, Attester, BindingContext, Domain, Evidence, Expected, IdentityKey, Ledger,
    ResultRejected, ResultSigner, SignedResult, Verified, Verifier, VerifyError,
};

/// Why a worker was not registered or a result not recorded.
#[derive(Debug, thiserror::Error)]
pub enum TeeError {
    /// The worker could not produce evidence.
    #[error("attestation: {0}")]
    Attest(#[from] AttestError),
    /// The node's verifier rejected the quote: nothing is posted.
    #[error("quote rejected: {0}")]
    QuoteRejected(#[from] VerifyError),
    /// The node's ledger refused a result.
    #[error("result rejected: {0}")]
    ResultRejected(#[from] ResultRejected),
    /// The chain refused or failed.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// A worker registered on chain, signing its results.
#[derive(Debug)]
pub struct AttestedWorker {
    /// Signs results in sequence.
    pub signer: ResultSigner,
    /// What the node verified.
    pub verified: Verified,
    /// The evidence it registered with (labelled SIMULATED when it is).
    pub evidence: Evidence,
    /// When its attestation expires (seconds): re-attest before then.
    pub expires_at: u64,
}

impl AttestedWorker {
    /// The worker's address.
    pub fn address(&self) -> Address {
        self.signer.key().address()
    }

    /// Whether it should re-attest now: less than a quarter of `validity` left.
    pub fn needs_reattestation(&self, now: u64, validity: Duration) -> bool {
        now + validity.as_secs() / 4 >= self.expires_at
    }
}

/// The node's side of attestation: its verifier and the key it signs verdicts with (the
/// registry's quote verifier).
pub struct Registrar {
    /// The chain (the operator's account).
    pub chain: Chain,
    /// The chain id.
    pub chain_id: u64,
    /// The WorkerRegistry.
    pub registry: Address,
    /// The quote verifier under the node's policy.
    pub verifier: Verifier,
    /// The key whose signature the registry takes as "this quote passed".
    pub verifier_key: PrivateKeySigner,
    /// How long an attestation stays valid.
    pub validity: Duration,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Registrar {
    /// The domain results are signed for.
    pub fn domain(&self) -> Domain {
        Domain {
            chain_id: self.chain_id,
            registry: self.registry,
        }
    }

    /// Attests a fresh identity key through `attester`, verifies the quote and registers
    /// the worker. A quote that fails verification is never posted.
    pub async fn attest_new_worker<F: ConfigFs>(
        &self,
        attester: &Attester<F>,
    ) -> Result<AttestedWorker, TeeError> {
        let key = IdentityKey::generate();
        let (evidence, verified, expires_at) = self.attest(attester, &key).await?;
        Ok(AttestedWorker {
            signer: ResultSigner::new(key, self.domain(), 0),
            verified,
            evidence,
            expires_at,
        })
    }

    /// Re-attests `worker` (same key, fresh quote); its sequence continues.
    pub async fn reattest<F: ConfigFs>(
        &self,
        attester: &Attester<F>,
        worker: &mut AttestedWorker,
    ) -> Result<(), TeeError> {
        let (evidence, verified, expires_at) = self.attest(attester, worker.signer.key()).await?;
        worker.evidence = evidence;
        worker.verified = verified;
        worker.expires_at = expires_at;
        Ok(())
    }

    async fn attest<F: ConfigFs>(
        &self,
        attester: &Attester<F>,
        key: &IdentityKey,
    ) -> Result<(Evidence, Verified, u64), TeeError> {
        let block = self.chain.nonce_block().await?;
        let ctx = BindingContext {
            chain_id: self.chain_id,
            registry: self.registry,
            nonce: block.hash,
        };
        let evidence = attester.evidence(key, &ctx)?;
        let expected = Expected {
            ctx,
            public_key: key.public_key(),
            nonce_time: block.timestamp,
        };
        let verified = self
            .verifier
            .verify(&evidence, &expected, now().max(block.timestamp))?;
        let expires_at = now().max(block.timestamp) + self.validity.as_secs();
        let attestation = Attestation {
            quoteHash: verified.quote_hash,
            measurement: verified.measurement.digest(),
            publicKey: Bytes::copy_from_slice(&key.public_key()),
            nonce: block.hash,
            nonceBlock: block.number,
            simulated: verified.simulated,
            expiresAt: expires_at,
        };
        self.post(key, attestation).await?;
        Ok((evidence, verified, expires_at))
    }

    /// Signs the verdict and the worker's registration and posts them.
    async fn post(&self, key: &IdentityKey, attestation: Attestation) -> Result<(), TeeError> {
        let worker = key.address();
        let verdict = self
            .chain
            .verification_hash(self.registry, worker, &attestation)
            .await?;
        let verifier_signature = self
            .verifier_key
            .sign_hash_sync(&verdict)
            .map_err(|e| ChainError::Config(format!("signing the verdict: {e}")))?
            .as_bytes();
        let registration = self
            .chain
            .registration_hash(self.registry, worker, &attestation)
            .await?;
        let worker_signature = key.sign_digest(registration);
        self.chain
            .register_worker(
                self.registry,
                worker,
                attestation,
                &worker_signature,
                &verifier_signature,
            )
            .await?;
        Ok(())
    }

    /// Checks `result` against `ledger` and records it on chain.
    pub async fn record(&self, ledger: &mut Ledger, result: &SignedResult) -> Result<(), TeeError> {
        ledger.accept(result)?;
        self.chain
            .record_result(
                self.registry,
                result.worker,
                result.sequence,
                result.task_id,
                result.result_digest,
                &result.signature,
            )
            .await?;
        Ok(())
    }
}

/// Signs every proof the node stores with its attested worker, and records it on chain.
pub struct TeeService;

impl TeeService {
    /// Attests and registers a fresh worker through `attester` (the quote verified by
    /// `registrar`'s verifier first), then signs each proof the scheduler stores from now
    /// on, in sequence, re-attesting before the attestation expires. Returns the worker's
    /// address and its TEE label (`SIMULATED` for the development CA).
    pub async fn start<F: ConfigFs + Send + Sync + 'static>(
        sched: Arc<Scheduler>,
        registrar: Registrar,
        attester: Attester<F>,
    ) -> Result<(Address, &'static str), TeeError> {
        let mut worker = registrar.attest_new_worker(&attester).await?;
        let address = worker.address();
        let label = worker.evidence.label();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        sched.set_signer(tx);
        tokio::spawn(async move {
            let mut ledger = Ledger::new(registrar.domain());
            ledger.register(address);
            while let Some(id) = rx.recv().await {
                if worker.needs_reattestation(now(), registrar.validity) {
                    match registrar.reattest(&attester, &mut worker).await {
                        Ok(()) => tracing::info!(worker = %address, label, "worker re-attested"),
                        Err(e) => {
                            tracing::warn!(worker = %address, error = %e, "re-attestation failed")
                        }
                    }
                }
                if let Err(e) = sign_one(&sched, &registrar, &mut ledger, &mut worker, &id).await {
                    tracing::error!(task = %id, error = %e, "result not signed");
                }
            }
        });
        Ok((address, label))
    }
}

/// Signs task `id`'s stored proof, checks it with the ledger, records it on chain and
/// stores the signed record in the task. On a failure after signing, the signer and the
/// ledger resume from the registry's sequence, so one lost result does not block the rest.
async fn sign_one(
    sched: &Scheduler,
    registrar: &Registrar,
    ledger: &mut Ledger,
    worker: &mut AttestedWorker,
    id: &str,
) -> Result<(), TeeError> {
    let store = sched.store();
    let store_error =
        |e: crate::store::StoreError| TeeError::Chain(ChainError::Config(format!("store: {e}")));
    let (Some(task), Some(proof)) = (
        store.task(id).map_err(store_error)?,
        store.proof(id).map_err(store_error)?,
    ) else {
        return Ok(());
    };
    if task.signed.is_some() {
        return Ok(()); // signed before (delivery is at least once)
    }
    let digest = keccak256(
        serde_json::to_vec(&serde_json::json!([proof.proof, proof.public])).expect("JSON"),
    );
    let result = worker.signer.sign(keccak256(id.as_bytes()), digest);
    if let Err(e) = registrar.record(ledger, &result).await {
        let address = worker.address();
        if let Ok(record) = registrar.chain.worker(registrar.registry, address).await {
            worker.signer.resume(record.sequence);
            ledger.resume(address, record.sequence);
        }
        return Err(e);
    }
    let tee = worker.evidence.label().to_string();
    let task = store
        .update(id, |t| t.signed = Some(SignedRecord { tee, result }))
        .map_err(store_error)?;
    sched.publish(&task);
    Ok(())
}
