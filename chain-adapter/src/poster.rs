//! The poster: settles a proved task on chain exactly once, locking it first.
//!
//! For each task it reads the task's on-chain state first, so a task already settled by
//! this account (e.g. before a crash) is confirmed, not posted again; it simulates
//! `submitResult`, so a proof the contract rejects fails with the decoded revert reason
//! without spending gas or risking collateral. An open task is then locked (`lockTask`
//! with its collateral) before the result is sent, so that only this account can settle
//! it: a copy of the proof seen in the mempool settles nothing for the copier (security
//! finding 22.3). The proof exists before the lock, so no collateral is put up for a task
//! the node cannot prove. For each transaction it takes the account's next nonce (under the
//! account's send lock, [`client::account_lock`], shared with every other sender of the
//! account in the process), estimates gas and
//! EIP-1559 fees, and records the nonce and each transaction hash in the caller's
//! [`PostJournal`] *before* broadcasting, so a restarted node resumes the same nonce instead
//! of sending a second transaction. A transaction not mined in time is replaced with bumped
//! fees (same nonce). A receipt counts after `confirmations` blocks; if it disappears in a
//! reorg, the task is posted again. A transaction mined and reverted is final: the task
//! fails, and nothing is sent again (a verifier or callback that passes simulation and
//! reverts on chain would otherwise drain the account's gas, finding 22.7). RPC failures
//! are retried with backoff, for as long as the task can still settle.

use std::time::{Duration, Instant};

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use serde::{Deserialize, Serialize};

use crate::bindings::TaskMarket;
use crate::client::{self, signer, ChainConfig, ChainError, Settlement};

/// Timings of the poster.
#[derive(Clone, Debug)]
pub struct PosterConfig {
    /// Blocks a settlement must be buried under (≥ 1; 1 = mined).
    pub confirmations: u64,
    /// How often to poll for receipts and blocks.
    pub poll: Duration,
    /// A transaction not mined after this long is replaced with higher fees.
    pub bump_after: Duration,
    /// The longest wait between retries of a failing RPC endpoint.
    pub max_backoff: Duration,
}

impl Default for PosterConfig {
    fn default() -> Self {
        PosterConfig {
            confirmations: 2,
            poll: Duration::from_millis(250),
            bump_after: Duration::from_secs(30),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A result to post: `submitResult(task, proof, signals)`.
#[derive(Clone, Debug)]
pub struct PostRequest {
    /// The on-chain task id.
    pub task: U256,
    /// The proof in the verifier's words ([`crate::verifier::proof_words`]).
    pub proof: [U256; 8],
    /// The public signals (outputs, then public inputs).
    pub signals: Vec<U256>,
}

/// What the poster has broadcast for one task, kept durably by the caller between the
/// poster's calls to `save`, so a restart resumes instead of posting twice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostJournal {
    /// The nonce the task's transaction uses, once chosen.
    pub nonce: Option<u64>,
    /// Every transaction broadcast with that nonce (replacements included).
    pub txs: Vec<B256>,
    /// What those transactions do.
    #[serde(default)]
    pub action: Action,
}

/// A poster's transaction: lock the task, or settle it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `submitResult` (journals written before locking existed are all settlements).
    #[default]
    Settle,
    /// `lockTask` with the task's collateral.
    Lock,
}

/// Gas a fee bump multiplies by: +25 % (nodes require at least +10 % to replace).
const BUMP_NUM: u128 = 5;
const BUMP_DEN: u128 = 4;

/// Posts results for one account.
pub struct Poster {
    provider: DynProvider,
    market: Address,
    from: Address,
    chain_id: u64,
    cfg: PosterConfig,
}

enum Step {
    Done(Settlement),
    Again,
}

impl Poster {
    /// A poster signing with `chain.key` for `chain.market`.
    pub fn new(chain: &ChainConfig, cfg: PosterConfig) -> Result<Poster, ChainError> {
        let signer = signer(&chain.key)?;
        let from = signer.address();
        let url = client::url(&chain.rpc_url)?;
        // No fillers but the wallet: nonces, gas and fees are the poster's own.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url)
            .erased();
        let cfg = PosterConfig {
            confirmations: chain.confirmations.max(1),
            ..cfg
        };
        Ok(Poster {
            provider,
            market: chain.market,
            from,
            chain_id: chain.chain_id,
            cfg,
        })
    }

    /// The account that signs and is paid.
    pub fn address(&self) -> Address {
        self.from
    }

    /// Transactions of this account broadcast and not mined yet: its pending transaction
    /// count less its mined one. 0 when all are mined; it grows while the chain leaves the
    /// poster's transactions in the pool (fees too low, a nonce gap).
    pub async fn nonce_lag(&self) -> Result<u64, ChainError> {
        let (mined, pending) = self.transaction_counts().await?;
        Ok(pending.saturating_sub(mined))
    }

    /// The account's transaction count in the latest block, and counting its pool.
    async fn transaction_counts(&self) -> Result<(u64, u64), ChainError> {
        let mined = self
            .provider
            .get_transaction_count(self.from)
            .latest()
            .await?;
        let pending = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await?;
        Ok((mined, pending))
    }

    /// Settles `req` and returns the confirmed settlement. Errors are final (the contract
    /// will not accept the result: its reason); RPC failures are retried inside.
    pub async fn post(
        &self,
        req: &PostRequest,
        journal: &mut PostJournal,
        save: &(dyn Fn(&PostJournal) + Sync),
    ) -> Result<Settlement, ChainError> {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self.step(req, journal, save).await {
                Ok(Step::Done(s)) => return Ok(s),
                Ok(Step::Again) => backoff = Duration::from_millis(200),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(
                        task = %req.task,
                        error = %e,
                        backoff = ?backoff,
                        "posting failed; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn step(
        &self,
        req: &PostRequest,
        journal: &mut PostJournal,
        save: &(dyn Fn(&PostJournal) + Sync),
    ) -> Result<Step, ChainError> {
        // 1. What the chain says now.
        let t = client::task(&self.provider, self.market, req.task).await?;
        match t.status {
            3 => {
                return match client::settlement(&self.provider, self.market, req.task).await? {
                    Some(s) if s.prover == self.from => Ok(match self.confirm(s.tx).await? {
                        Some(_) => Step::Done(s),
                        None => Step::Again,
                    }),
                    Some(s) => Err(ChainError::Reverted(format!(
                        "settled by another prover, {}",
                        s.prover
                    ))),
                    None => Ok(Step::Again),
                };
            }
            4 => {
                return Err(ChainError::Reverted(
                    "expired on chain before the result was posted".into(),
                ))
            }
            0 => {
                return Err(ChainError::Reverted(format!(
                    "no task {} on chain",
                    req.task
                )))
            }
            2 if t.prover != self.from => {
                return Err(ChainError::Reverted(format!(
                    "locked by another prover, {}",
                    t.prover
                )))
            }
            _ => {}
        }
        // Open: lock it first. Locked by us: settle.
        let action = if t.status == 1 {
            Action::Lock
        } else {
            Action::Settle
        };
        if journal.nonce.is_some() && journal.action != action {
            // The journal's lock was mined (now settle), or its settlement's task is open
            // again (the lock was reorged out): either way that transaction is behind us.
            self.forget(journal, save);
        }

        // 2. A transaction from before (this call or a previous process)?
        if let Some(n) = journal.nonce {
            let (mined, pending) = self.transaction_counts().await?;
            if mined > n {
                // Nonce n is spent. If it was our settlement, step 1 sees it next time
                // (or it was reorged out / reverted): either way, start afresh.
                if let Some(r) = self.any_receipt(&journal.txs).await? {
                    if !r.status() {
                        return self.reverted(req, journal, save, r.transaction_hash).await;
                    }
                    return Ok(match self.confirm(r.transaction_hash).await? {
                        Some(_) => Step::Again, // step 1 now finds it locked or settled by us
                        None => {
                            self.forget(journal, save);
                            Step::Again
                        }
                    });
                }
                self.forget(journal, save);
                return Ok(Step::Again);
            }
            if pending > n && !journal.txs.is_empty() {
                return self.wait(req, journal, save, None).await;
            }
            // Dropped (or never broadcast): send again with the same nonce.
        }

        // 3. Would the contract accept it? (No gas spent, no collateral locked, for a result
        // it rejects.)
        let market = TaskMarket::new(self.market, &self.provider);
        let call = market.submitResult(req.task, req.proof, req.signals.clone());
        if let Err(e) = call.clone().from(self.from).call().await {
            let e = ChainError::from_call(e);
            if let ChainError::Reverted(_) = e {
                // Settled (by us?) in the meantime: step 1 tells.
                let t = client::task(&self.provider, self.market, req.task).await?;
                if t.status == 3 {
                    return Ok(Step::Again);
                }
            }
            return Err(e);
        }
        let tx = match action {
            Action::Settle => call.into_transaction_request(),
            Action::Lock => {
                let lock = market.lockTask(req.task).value(t.required_collateral);
                lock.clone()
                    .from(self.from)
                    .call()
                    .await
                    .map_err(ChainError::from_call)?;
                lock.into_transaction_request()
            }
        };

        // 4. Nonce, gas, fees; journal before broadcast. The account's send lock is held
        // from reading its next nonce until the transaction is in the pool.
        let _sending = client::account_lock(self.from).lock_owned().await;
        let nonce = match journal.nonce {
            Some(n) => n,
            None => {
                self.provider
                    .get_transaction_count(self.from)
                    .pending()
                    .await?
            }
        };
        if journal.nonce != Some(nonce) || journal.action != action {
            journal.nonce = Some(nonce);
            journal.action = action;
            journal.txs.clear();
            save(journal);
        }
        let tx = tx.from(self.from);
        let gas = self.provider.estimate_gas(tx.clone()).await?;
        let fees = self.provider.estimate_eip1559_fees().await?;
        let tx = tx
            .nonce(nonce)
            .gas_limit(gas + gas / 4)
            .max_fee_per_gas(fees.max_fee_per_gas)
            .max_priority_fee_per_gas(fees.max_priority_fee_per_gas)
            .with_chain_id(self.chain_id);
        self.broadcast(tx.clone(), journal, save).await?;
        drop(_sending);
        self.wait(req, journal, save, Some(tx)).await
    }

    /// Signs and sends `tx`, journaling its hash.
    async fn broadcast(
        &self,
        tx: TransactionRequest,
        journal: &mut PostJournal,
        save: &(dyn Fn(&PostJournal) + Sync),
    ) -> Result<(), ChainError> {
        let pending = self.provider.send_transaction(tx).await?;
        journal.txs.push(*pending.tx_hash());
        save(journal);
        Ok(())
    }

    /// Waits for one of the journal's transactions to be mined, replacing it with higher
    /// fees when it takes too long (when `tx` is known), then confirms it.
    async fn wait(
        &self,
        req: &PostRequest,
        journal: &mut PostJournal,
        save: &(dyn Fn(&PostJournal) + Sync),
        mut tx: Option<TransactionRequest>,
    ) -> Result<Step, ChainError> {
        let mut sent = Instant::now();
        loop {
            if let Some(r) = self.any_receipt(&journal.txs).await? {
                if !r.status() {
                    return self.reverted(req, journal, save, r.transaction_hash).await;
                }
                return Ok(match self.confirm(r.transaction_hash).await? {
                    Some(_) => Step::Again, // step 1 finds it settled by us and returns it
                    None => {
                        tracing::warn!(
                            task = %req.task,
                            "receipt gone in a reorg; posting again"
                        );
                        self.forget(journal, save);
                        Step::Again
                    }
                });
            }
            let n = journal.nonce.unwrap_or_default();
            if self
                .provider
                .get_transaction_count(self.from)
                .latest()
                .await?
                > n
            {
                // Spent by a transaction whose receipt we cannot see (yet): re-check.
                tokio::time::sleep(self.cfg.poll).await;
                if self.any_receipt(&journal.txs).await?.is_none() {
                    self.forget(journal, save);
                    return Ok(Step::Again);
                }
                continue;
            }
            if sent.elapsed() >= self.cfg.bump_after {
                if journal.action == Action::Settle {
                    // A settlement waits on its lock: if a reorg took the lock away, the
                    // settlement's nonce may never become minable; lock again.
                    let t = client::task(&self.provider, self.market, req.task).await?;
                    if t.status == 1 {
                        self.forget(journal, save);
                        return Ok(Step::Again);
                    }
                }
                if let Some(t) = tx.take() {
                    let max_fee = t.max_fee_per_gas.unwrap_or_default() * BUMP_NUM / BUMP_DEN + 1;
                    let prio =
                        t.max_priority_fee_per_gas.unwrap_or_default() * BUMP_NUM / BUMP_DEN + 1;
                    let bumped = t.max_fee_per_gas(max_fee).max_priority_fee_per_gas(prio);
                    tracing::info!(
                        task = %req.task,
                        after = ?self.cfg.bump_after,
                        max_fee = %max_fee,
                        "not mined; bumping fees"
                    );
                    if let Err(e) = self.broadcast(bumped.clone(), journal, save).await {
                        tracing::warn!(
                            task = %req.task,
                            error = %e,
                            "replacement transaction not accepted"
                        );
                    }
                    tx = Some(bumped);
                }
                sent = Instant::now();
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    /// Waits until `tx`'s block is `confirmations` deep; `None` if the receipt disappears
    /// or moves (a reorg) meanwhile.
    async fn confirm(&self, tx: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        let Some(first) = self.provider.get_transaction_receipt(tx).await? else {
            return Ok(None);
        };
        loop {
            let head = self.provider.get_block_number().await?;
            let now = self.provider.get_transaction_receipt(tx).await?;
            match now {
                Some(r) if r.block_hash == first.block_hash => {
                    let block = r.block_number.unwrap_or(u64::MAX);
                    if head + 1 >= block.saturating_add(self.cfg.confirmations) {
                        // The block must still be the canonical one at that height.
                        let canonical = self
                            .provider
                            .get_block_by_number(block.into())
                            .await?
                            .map(|b| b.header.hash);
                        return Ok((canonical == r.block_hash).then_some(r));
                    }
                }
                _ => return Ok(None),
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    async fn any_receipt(&self, txs: &[B256]) -> Result<Option<TransactionReceipt>, ChainError> {
        for tx in txs.iter().rev() {
            if let Some(r) = self.provider.get_transaction_receipt(*tx).await? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// A journaled transaction was mined and reverted. Its nonce is spent. Unless the task
    /// is nevertheless ours (settled by us, or locked by us when that was the lock), the
    /// revert is final: nothing is sent again.
    async fn reverted(
        &self,
        req: &PostRequest,
        journal: &mut PostJournal,
        save: &(dyn Fn(&PostJournal) + Sync),
        tx: B256,
    ) -> Result<Step, ChainError> {
        let action = journal.action;
        self.forget(journal, save);
        let t = client::task(&self.provider, self.market, req.task).await?;
        let ours =
            t.status == 3 || (action == Action::Lock && t.status == 2 && t.prover == self.from);
        if ours {
            return Ok(Step::Again);
        }
        Err(ChainError::Reverted(format!(
            "{} transaction {tx} was mined and reverted (the task is {}); a mined revert is final, nothing is sent again",
            match action {
                Action::Lock => "the lock",
                Action::Settle => "the settlement",
            },
            t.status_name()
        )))
    }

    /// Drops a spent or reorged nonce from the journal (the next transaction reads the
    /// account's nonce from the chain again).
    fn forget(&self, journal: &mut PostJournal, save: &(dyn Fn(&PostJournal) + Sync)) {
        *journal = PostJournal::default();
        save(journal);
    }
}
