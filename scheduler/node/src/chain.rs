//! The node's chain service: the market as a task source beside HTTP, and the poster that
//! settles proved chain tasks.
//!
//! * The listener turns each confirmed `TaskCreated` event into a node task (owner `chain`,
//!   idempotency key `market:task`, so an event seen twice makes one task). The circuit is
//!   found by its verifying key's hash, and the task is taken only when the admission
//!   policy allows ([`fornax_chain_adapter::admission`]: its fee covers the gas, its
//!   verifier's code is the runtime verifier for the node's own key or one the operator
//!   trusts, its options and collateral are acceptable); others are skipped with a line
//!   saying why.
//!   The listener's cursor is a file in the data dir, saved after each batch of events.
//! * A proved chain task goes to `posting`; the poster locks it and then settles it (see
//!   [`fornax_chain_adapter::poster`]), journaling its nonce and transactions in the task's
//!   record, so a node killed at any point resumes the same transaction after a restart.
//!   A confirmed settlement makes the task `settled`; a result the contract rejects makes
//!   it `failed` with code `chain_rejected` and the decoded revert reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::providers::DynProvider;
use fornax_chain_adapter::bindings::TaskMarket;
use fornax_chain_adapter::verifier::{fr_word, key_hash, proof_words};
use fornax_chain_adapter::{
    admission, client, ChainConfig, ChainError, CreatedTask, Listener, PostRequest, Poster,
    PosterConfig, TakePolicy,
};
use fornax_prover::json::{public_from_json, ProofJson};

use crate::scheduler::{Scheduler, Submission};
use crate::task::{ChainLink, Failure, InputKind, State, TaskKind};

/// How the node follows and posts to the chain.
#[derive(Clone, Debug)]
pub struct ChainServiceConfig {
    /// The chain and the contracts.
    pub chain: ChainConfig,
    /// How often to look for new events.
    pub poll: Duration,
    /// The block to start reading events from when there is no saved cursor.
    pub from_block: Option<u64>,
    /// The poster's timings.
    pub poster: PosterConfig,
    /// Which tasks the node takes.
    pub take: TakePolicy,
}

/// The running service.
pub struct ChainService {
    sched: Arc<Scheduler>,
    cfg: ChainServiceConfig,
    /// Reads events and the market's state.
    provider: DynProvider,
    poster: Poster,
    /// On-chain circuit id → node circuit id.
    circuits: Mutex<HashMap<B256, String>>,
    /// Node circuit id → its verifying key's hash, computed once per circuit.
    key_hashes: Mutex<HashMap<String, B256>>,
    cursor_file: PathBuf,
}

impl ChainService {
    /// Checks the chain (clear errors for a wrong chain id or missing contracts), connects
    /// the poster to the scheduler, re-posts tasks that were `posting` when the node
    /// stopped, and starts the listener and the poster on the current tokio runtime.
    pub async fn start(
        sched: Arc<Scheduler>,
        cfg: ChainServiceConfig,
        data_dir: &std::path::Path,
    ) -> Result<Arc<ChainService>, ChainError> {
        let provider = client::reader(&cfg.chain.rpc_url)?;
        client::check(&provider, &cfg.chain).await?;
        let poster = Poster::new(&cfg.chain, cfg.poster.clone())?;
        let cursor_file = data_dir.join(format!("chain-cursor-{:x}", cfg.chain.market));
        let service = Arc::new(ChainService {
            sched: Arc::clone(&sched),
            cfg,
            provider,
            poster,
            circuits: Mutex::new(HashMap::new()),
            key_hashes: Mutex::new(HashMap::new()),
            cursor_file,
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        sched.set_poster(tx);
        let pending = sched
            .store()
            .unfinished()
            .map_err(|e| ChainError::Config(format!("reading the store: {e}")))?;
        for t in pending.into_iter().filter(|t| t.state == State::Posting) {
            sched.post(&t.id);
        }
        let posting = Arc::clone(&service);
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                let s = Arc::clone(&posting);
                tokio::spawn(async move { s.post_one(&id).await });
            }
        });
        let listening = Arc::clone(&service);
        tokio::spawn(async move { listening.listen().await });
        let watching = Arc::clone(&service);
        tokio::spawn(async move { watching.watch_nonce_lag().await });
        Ok(service)
    }

    /// Keeps the poster's nonce lag (`fornax_chain_nonce_lag`) fresh, every few seconds.
    async fn watch_nonce_lag(&self) {
        let lag = self
            .sched
            .metrics
            .chain_nonce_lag
            .get_or_init(Default::default);
        let every = self.cfg.poll.max(Duration::from_secs(2));
        loop {
            match self.poster.nonce_lag().await {
                Ok(n) => lag.store(n, std::sync::atomic::Ordering::Relaxed),
                Err(e) => tracing::debug!(error = %e, "reading the poster's nonces failed"),
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The account that signs results and is paid.
    pub fn prover(&self) -> alloy::primitives::Address {
        self.poster.address()
    }

    async fn post_one(&self, id: &str) {
        let store = Arc::clone(self.sched.store());
        let (task, proof) = match (store.task(id), store.proof(id)) {
            (Ok(Some(t)), Ok(Some(p))) if t.state == State::Posting => (t, p),
            _ => return,
        };
        let Some(link) = task.chain.clone() else {
            return;
        };
        let req = match post_request(&link, &proof.proof, &proof.public) {
            Ok(r) => r,
            Err(message) => return self.fail(id, "chain_rejected", message),
        };
        let mut journal = link.journal.clone();
        let save = |j: &fornax_chain_adapter::PostJournal| {
            if let Err(e) = store.update(id, |t| {
                if let Some(c) = t.chain.as_mut() {
                    c.journal = j.clone();
                }
            }) {
                tracing::error!(task = %id, error = %e, "cannot save the post journal");
            }
        };
        match self.poster.post(&req, &mut journal, &save).await {
            Ok(s) => {
                let r = self.sched.transition(
                    id,
                    State::Settled,
                    Some(&[State::Posting][..]),
                    None,
                    None,
                    |t| {
                        if let Some(c) = t.chain.as_mut() {
                            c.settled_tx = Some(s.tx.to_string());
                            c.outputs = Some(s.outputs.iter().map(|o| o.to_string()).collect());
                        }
                    },
                );
                match r {
                    Ok(_) => self.sched.finish(State::Settled),
                    Err(e) => {
                        tracing::error!(task = %id, error = %e, "cannot mark the task settled")
                    }
                }
            }
            Err(e) => self.fail(id, "chain_rejected", e.to_string()),
        }
    }

    fn fail(&self, id: &str, code: &str, message: String) {
        tracing::warn!(task = %id, code = %code, error = %message, "posting the result failed");
        let failure = Failure {
            code: code.into(),
            message,
        };
        if self
            .sched
            .transition(
                id,
                State::Failed,
                Some(&[State::Posting][..]),
                Some(failure),
                None,
                |_| {},
            )
            .is_ok()
        {
            self.sched.finish(State::Failed);
        }
    }

    async fn listen(&self) {
        let start = match std::fs::read_to_string(&self.cursor_file) {
            Ok(s) => s.trim().parse().unwrap_or(0),
            Err(_) => match self.cfg.from_block {
                Some(b) => b,
                None => {
                    use alloy::providers::Provider;
                    loop {
                        match self.provider.get_block_number().await {
                            Ok(b) => break b,
                            Err(e) => {
                                tracing::warn!(error = %e, "reading the head failed; trying again")
                            }
                        }
                        tokio::time::sleep(self.cfg.poll).await;
                    }
                }
            },
        };
        let mut listener = Listener::new(
            self.provider.clone(),
            self.cfg.chain.market,
            self.cfg.chain.confirmations,
            start,
        );
        loop {
            match listener.poll().await {
                Ok(created) => {
                    for ev in created {
                        self.accept(ev).await;
                    }
                    self.save_cursor(listener.cursor());
                }
                Err(e) => tracing::warn!(error = %e, "reading events failed; trying again"),
            }
            tokio::time::sleep(self.cfg.poll).await;
        }
    }

    fn save_cursor(&self, block: u64) {
        let tmp = self.cursor_file.with_extension("tmp");
        let write = std::fs::write(&tmp, block.to_string())
            .and_then(|_| std::fs::rename(&tmp, &self.cursor_file));
        if let Err(e) = write {
            tracing::error!(block, error = %e, "cannot save the event cursor");
        }
    }

    /// The node circuit whose verifying key the market registered under `circuit`.
    async fn resolve(&self, circuit: B256) -> Option<String> {
        if let Some(id) = self.circuits.lock().expect("circuits lock").get(&circuit) {
            return Some(id.clone());
        }
        let market = TaskMarket::new(self.cfg.chain.market, &self.provider);
        let vk_hash = market.vkHashes(circuit).call().await.ok()?;
        let metas = self.sched.store().circuits().ok()?;
        for meta in metas {
            let cached = self
                .key_hashes
                .lock()
                .expect("key hashes lock")
                .get(&meta.id)
                .copied();
            let hash = match cached {
                Some(h) => h,
                None => {
                    let Ok(vk) = self.sched.verifying_key(&meta.id) else {
                        continue;
                    };
                    let h = key_hash(&vk);
                    self.key_hashes
                        .lock()
                        .expect("key hashes lock")
                        .insert(meta.id.clone(), h);
                    h
                }
            };
            if hash == vk_hash {
                self.circuits
                    .lock()
                    .expect("circuits lock")
                    .insert(circuit, meta.id.clone());
                return Some(meta.id);
            }
        }
        None
    }

    async fn accept(&self, ev: CreatedTask) {
        let Some(circuit) = self.resolve(ev.circuit).await else {
            tracing::warn!(
                chain_task = %ev.task,
                circuit = %ev.circuit,
                "chain task skipped: this node does not hold its circuit"
            );
            return;
        };
        // Is it worth taking? (An event replayed after a restart finds its task no longer
        // open and is skipped here; its node task exists already.)
        let market = self.cfg.chain.market;
        let Ok(vk) = self.sched.verifying_key(&circuit) else {
            return;
        };
        let code_hash = fornax_chain_adapter::verifier::runtime_code_hash(&vk);
        let verdict = loop {
            match admission::assess(&self.provider, market, ev.task, code_hash, &self.cfg.take)
                .await
            {
                Ok(v) => break v,
                Err(e) => {
                    tracing::warn!(
                        chain_task = %ev.task,
                        error = %e,
                        "assessing a chain task failed; trying again"
                    );
                    tokio::time::sleep(self.cfg.poll).await;
                }
            }
        };
        if let Err(why) = verdict {
            tracing::warn!(chain_task = %ev.task, reason = %why, "chain task not taken");
            return;
        }
        let market = format!("{market:x}");
        let submission = Submission {
            kind: TaskKind::Groth16,
            circuit,
            owner: "chain".into(),
            input_kind: InputKind::Json,
            input: ev.input.to_vec(),
            deadline_ms: Some(ev.deadline.saturating_mul(1000)),
            idempotency_key: Some(format!("{market}:{}", ev.task)),
            webhook: None,
            chain: Some(ChainLink {
                market,
                task: ev.task.to_string(),
                circuit: ev.circuit.to_string(),
                fee: ev.fee.to_string(),
                journal: Default::default(),
                settled_tx: None,
                outputs: None,
            }),
            fhe: None,
        };
        match self.sched.submit(submission) {
            Ok((task, true)) => {
                tracing::info!(chain_task = %ev.task, task = %task.id, "chain task taken")
            }
            Ok((_, false)) => {} // seen before (a replayed event)
            Err(e) => {
                tracing::error!(chain_task = %ev.task, error = %e, "cannot store a chain task")
            }
        }
    }
}

/// `submitResult`'s arguments from a stored snarkjs proof.
fn post_request(
    link: &ChainLink,
    proof: &serde_json::Value,
    public: &serde_json::Value,
) -> Result<PostRequest, String> {
    let task =
        U256::from_str_radix(&link.task, 10).map_err(|e| format!("task id {}: {e}", link.task))?;
    let proof: ProofJson = serde_json::from_value(proof.clone()).map_err(|e| e.to_string())?;
    let proof = proof.to_proof("stored proof").map_err(|e| e.to_string())?;
    let values = public.as_array().cloned().unwrap_or_default();
    let public = public_from_json("stored public signals", &values).map_err(|e| e.to_string())?;
    Ok(PostRequest {
        task,
        proof: proof_words(&proof),
        signals: public.into_iter().map(fr_word).collect(),
    })
}
