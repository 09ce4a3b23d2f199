//! WorkerRegistry calls: the nonce block a worker binds into its quote, registration with
//! the worker's and the quote verifier's signatures, signed results, and worker records.

use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;

use crate::bindings::WorkerRegistry;
use crate::client::{mined, Chain, ChainError};

pub use crate::bindings::WorkerRegistry::Attestation;

/// A recent block: its hash is the nonce a quote binds.
#[derive(Clone, Copy, Debug)]
pub struct NonceBlock {
    /// Its number.
    pub number: u64,
    /// Its hash (the nonce).
    pub hash: B256,
    /// Its timestamp (seconds): how old a quote over it is.
    pub timestamp: u64,
}

/// A worker's record on chain.
#[derive(Clone, Debug)]
pub struct WorkerRecord {
    /// Who operates it (zero: not registered).
    pub operator: Address,
    /// Its last accepted sequence number.
    pub sequence: u64,
    /// Revoked for good.
    pub revoked: bool,
    /// The attestation it registered with.
    pub attestation: Attestation,
}

impl Chain {
    /// A recent block (the head's parent), as a nonce.
    pub async fn nonce_block(&self) -> Result<NonceBlock, ChainError> {
        let block = self
            .provider
            // The latest block's parent: `blockhash` of the current block is zero, and a
            // call simulated at the head runs in it.
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Number(
                self.provider.get_block_number().await?.saturating_sub(1),
            ))
            .await?
            .ok_or_else(|| ChainError::Rpc("no latest block".into()))?;
        Ok(NonceBlock {
            number: block.header.number,
            hash: block.header.hash,
            timestamp: block.header.timestamp,
        })
    }

    /// `verificationHash(worker, attestation)`: what the quote verifier signs.
    pub async fn verification_hash(
        &self,
        registry: Address,
        worker: Address,
        attestation: &Attestation,
    ) -> Result<B256, ChainError> {
        WorkerRegistry::new(registry, &self.provider)
            .verificationHash(worker, attestation.clone())
            .call()
            .await
            .map_err(ChainError::from_call)
    }

    /// `registrationHash(worker, operator, attestation)`: what the worker signs, for this
    /// account as the operator.
    pub async fn registration_hash(
        &self,
        registry: Address,
        worker: Address,
        attestation: &Attestation,
    ) -> Result<B256, ChainError> {
        WorkerRegistry::new(registry, &self.provider)
            .registrationHash(worker, self.from, attestation.clone())
            .call()
            .await
            .map_err(ChainError::from_call)
    }

    /// Registers (or re-attests) `worker`, operated by this account.
    pub async fn register_worker(
        &self,
        registry: Address,
        worker: Address,
        attestation: Attestation,
        worker_signature: &[u8],
        verifier_signature: &[u8],
    ) -> Result<(), ChainError> {
        let r = WorkerRegistry::new(registry, &self.provider);
        let call = r.register(
            worker,
            attestation,
            Bytes::copy_from_slice(worker_signature),
            Bytes::copy_from_slice(verifier_signature),
        );
        call.call().await.map_err(ChainError::from_call)?;
        let pending = {
            let _sending = self.sending().await;
            call.send().await.map_err(ChainError::from_call)?
        };
        let receipt = mined(pending).await?;
        if !receipt.status() {
            return Err(ChainError::Reverted("register reverted".into()));
        }
        Ok(())
    }

    /// Records a worker's signed result (anyone may submit it).
    pub async fn record_result(
        &self,
        registry: Address,
        worker: Address,
        sequence: u64,
        task_id: B256,
        result_digest: B256,
        signature: &[u8],
    ) -> Result<(), ChainError> {
        let r = WorkerRegistry::new(registry, &self.provider);
        let call = r.recordResult(
            worker,
            sequence,
            task_id,
            result_digest,
            Bytes::copy_from_slice(signature),
        );
        call.call().await.map_err(ChainError::from_call)?;
        let pending = {
            let _sending = self.sending().await;
            call.send().await.map_err(ChainError::from_call)?
        };
        let receipt = mined(pending).await?;
        if !receipt.status() {
            return Err(ChainError::Reverted("recordResult reverted".into()));
        }
        Ok(())
    }

    /// `worker`'s record.
    pub async fn worker(
        &self,
        registry: Address,
        worker: Address,
    ) -> Result<WorkerRecord, ChainError> {
        let w = WorkerRegistry::new(registry, &self.provider)
            .workers(worker)
            .call()
            .await
            .map_err(ChainError::from_call)?;
        Ok(WorkerRecord {
            operator: w.operator,
            sequence: w.sequence,
            revoked: w.revoked,
            attestation: w.attestation,
        })
    }

    /// `reportData(publicKey, nonce)` as the registry computes it.
    pub async fn report_data(
        &self,
        registry: Address,
        public_key: &[u8],
        nonce: B256,
    ) -> Result<Vec<u8>, ChainError> {
        let data = WorkerRegistry::new(registry, &self.provider)
            .reportData(Bytes::copy_from_slice(public_key), nonce)
            .call()
            .await
            .map_err(ChainError::from_call)?;
        Ok(data.to_vec())
    }
}
