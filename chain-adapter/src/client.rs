//! A connection to an EVM chain with Fornax's contracts: deployment, circuit registration,
//! tasks, and the checks a node makes before it trusts a configuration.

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use fornax_prover::VerifyingKey;

use crate::bindings::{TaskMarket, WorkerRegistry};
use crate::verifier;

/// What can go wrong talking to a chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The endpoint did not answer, or answered with an error: worth retrying.
    #[error("RPC: {0}")]
    Rpc(String),
    /// The contract rejected the call; the reason is its custom error, decoded.
    #[error("reverted: {0}")]
    Reverted(String),
    /// The configuration does not describe this chain (wrong chain id, missing contracts).
    #[error("{0}")]
    Config(String),
}

impl ChainError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ChainError::Rpc(_))
    }

    /// Maps a contract call's error: a decoded revert of `TaskMarket`, or an RPC error.
    pub fn from_call(e: alloy::contract::Error) -> ChainError {
        if let Some(err) = e.as_decoded_interface_error::<TaskMarket::TaskMarketErrors>() {
            return ChainError::Reverted(revert_reason(&format!("{err:?}")));
        }
        if let Some(err) = e.as_decoded_interface_error::<WorkerRegistry::WorkerRegistryErrors>() {
            return ChainError::Reverted(revert_reason(&format!("{err:?}")));
        }
        if let Some(data) = e.as_revert_data() {
            return ChainError::Reverted(format!("unknown revert 0x{}", hex::encode(data)));
        }
        ChainError::Rpc(e.to_string())
    }
}

/// `InvalidProof(InvalidProof { taskId: 1 })` → `InvalidProof { taskId: 1 }`.
fn revert_reason(debug: &str) -> String {
    match (debug.find('('), debug.rfind(')')) {
        (Some(a), Some(b)) if b > a => debug[a + 1..b].to_string(),
        _ => debug.to_string(),
    }
}

impl From<alloy::transports::TransportError> for ChainError {
    /// The transport's message, with every URL in it redacted ([`redact_urls`]): an RPC
    /// endpoint's URL often carries its credentials.
    fn from(e: alloy::transports::TransportError) -> Self {
        ChainError::Rpc(redact_urls(&e.to_string()))
    }
}

/// An endpoint's URL as it may be shown in logs and errors: scheme, host and port only. A
/// URL's user, password, path and query often hold an RPC provider's credentials (as in
/// `https://mainnet.example/v3/<key>`); they are replaced by `…`.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = url.parse::<alloy::transports::http::reqwest::Url>() else {
        return "<the RPC URL, which does not parse>".into();
    };
    let mut shown = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""));
    if let Some(port) = parsed.port() {
        shown.push_str(&format!(":{port}"));
    }
    let hidden = !parsed.username().is_empty()
        || parsed.password().is_some()
        || parsed.path().len() > 1
        || parsed.query().is_some()
        || parsed.fragment().is_some();
    if hidden {
        shown.push_str("/…");
    }
    shown
}

/// `text` with every `http://` or `https://` URL in it redacted ([`redact_url`]).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..at]);
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ','))
            .map_or(rest.len(), |n| at + n);
        out.push_str(&redact_url(&rest[at..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where Fornax's contracts live on a chain, and the key that signs for this node. `Debug`
/// shows neither the key nor the endpoint's credentials.
#[derive(Clone)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (http or https).
    pub rpc_url: String,
    /// The chain id the endpoint must report.
    pub chain_id: u64,
    /// TaskMarket's address.
    pub market: Address,
    /// WorkerRegistry's address.
    pub registry: Address,
    /// The signing key (hex), whose account pays gas and receives fees.
    pub key: String,
    /// Blocks a transaction or an event must be buried under before it counts (≥ 1).
    pub confirmations: u64,
}

/// The contracts of one deployment.
#[derive(Clone, Copy, Debug)]
pub struct Deployment {
    /// TaskMarket.
    pub market: Address,
    /// WorkerRegistry.
    pub registry: Address,
}

/// A task as the market stores it.
#[derive(Clone, Debug)]
pub struct OnChainTask {
    /// Who created it.
    pub requester: Address,
    /// The escrowed fee (wei).
    pub fee: U256,
    /// The prover who locked it (zero if none; who settled it is in `TaskSettled`).
    pub prover: Address,
    /// Its deadline (Unix seconds).
    pub deadline: u64,
    /// `TaskMarket.Status`: 0 none, 1 open, 2 locked, 3 settled, 4 expired.
    pub status: u8,
    /// The collateral a prover posts to lock it (wei).
    pub required_collateral: U256,
    /// Whether it was created with options (commitments, callback): see `taskOptions`.
    pub has_options: bool,
    /// The circuit's verifier contract.
    pub verifier: Address,
    /// The circuit's number of public signals.
    pub n_public: u32,
}

impl OnChainTask {
    /// Status names, as in `TaskMarket.Status`.
    pub fn status_name(&self) -> &'static str {
        ["none", "open", "locked", "settled", "expired"]
            .get(self.status as usize)
            .copied()
            .unwrap_or("unknown")
    }
}

/// A settled task's result, read from its `TaskSettled` event.
#[derive(Clone, Debug)]
pub struct Settlement {
    /// The settling transaction.
    pub tx: B256,
    /// Its block.
    pub block: u64,
    /// Who was paid.
    pub prover: Address,
    /// Wei paid (fee and returned collateral).
    pub paid: U256,
    /// The circuit's outputs: the result.
    pub outputs: Vec<U256>,
}

impl std::fmt::Debug for ChainConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainConfig")
            .field("rpc_url", &redact_url(&self.rpc_url))
            .field("chain_id", &self.chain_id)
            .field("market", &self.market)
            .field("registry", &self.registry)
            .field("key", &"…")
            .field("confirmations", &self.confirmations)
            .finish()
    }
}

/// A connection with a signing account.
#[derive(Clone)]
pub struct Chain {
    /// Provider with the recommended fillers (nonce, gas, chain id) and the wallet.
    pub provider: DynProvider,
    /// The signing account.
    pub from: Address,
}

/// The send lock of `account` in this process. Every sender of one account (the poster,
/// the TEE registrar, the CLI's tools) reads the account's next nonce and broadcasts under
/// it, so two transactions of the node never take the same nonce.
pub fn account_lock(account: Address) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static LOCKS: OnceLock<Mutex<HashMap<Address, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    Arc::clone(locks.entry(account).or_default())
}

/// Parses an endpoint's URL.
pub fn url(rpc_url: &str) -> Result<alloy::transports::http::reqwest::Url, ChainError> {
    rpc_url
        .parse()
        .map_err(|_| ChainError::Config("the RPC endpoint is not a URL".into()))
}

/// A provider that only reads (no account).
pub fn reader(rpc_url: &str) -> Result<DynProvider, ChainError> {
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_http(url(rpc_url)?)
        .erased())
}

/// Parses a hex private key.
pub fn signer(key: &str) -> Result<PrivateKeySigner, ChainError> {
    key.trim()
        .parse()
        .map_err(|_| ChainError::Config("the chain key is not a 32-byte hex private key".into()))
}

impl Chain {
    /// Connects to `rpc_url` signing with `key` (hex).
    pub fn connect(rpc_url: &str, key: &str) -> Result<Chain, ChainError> {
        let signer = signer(key)?;
        let from = signer.address();
        // Nonces are read from the chain for each transaction (no cache that another
        // sender of the account could make stale), under the account's lock.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(url(rpc_url)?)
            .erased();
        Ok(Chain { provider, from })
    }

    /// Holds this account's send lock ([`account_lock`]) while a transaction takes its
    /// nonce and is broadcast.
    pub async fn sending(&self) -> tokio::sync::OwnedMutexGuard<()> {
        account_lock(self.from).lock_owned().await
    }

    /// Deploys TaskMarket and WorkerRegistry. This account owns the registry and is its
    /// quote verifier; `accepts_simulated` lets SIMULATED attestations register (dev
    /// chains only: it cannot be changed after deployment).
    pub async fn deploy(&self, accepts_simulated: bool) -> Result<Deployment, ChainError> {
        let _sending = self.sending().await;
        let market = TaskMarket::deploy(&self.provider)
            .await
            .map_err(ChainError::from_call)?;
        let registry = WorkerRegistry::deploy(&self.provider, self.from, accepts_simulated)
            .await
            .map_err(ChainError::from_call)?;
        Ok(Deployment {
            market: *market.address(),
            registry: *registry.address(),
        })
    }

    /// Deploys a verifier for `vk` (the runtime with the key appended; no compiler needed).
    pub async fn deploy_verifier(&self, vk: &VerifyingKey) -> Result<Address, ChainError> {
        let tx = TransactionRequest::default()
            .from(self.from)
            .with_deploy_code(verifier::creation_code(vk));
        let pending = {
            let _sending = self.sending().await;
            self.provider.send_transaction(tx).await?
        };
        let receipt = mined(pending).await?;
        receipt
            .contract_address
            .ok_or_else(|| ChainError::Reverted("verifier deployment failed".into()))
    }

    /// Deploys a verifier for `vk` and registers the circuit in the market; returns the
    /// circuit's on-chain id. `n_outputs`: how many public signals are outputs.
    pub async fn register_circuit(
        &self,
        market: Address,
        vk: &VerifyingKey,
        n_outputs: u32,
    ) -> Result<B256, ChainError> {
        let verifier = self.deploy_verifier(vk).await?;
        let m = TaskMarket::new(market, &self.provider);
        let n = vk.n_public() as u32;
        let call = m.registerCircuit(verifier, verifier::key_hash(vk), n, n_outputs);
        let id = call.call().await.map_err(ChainError::from_call)?;
        let pending = {
            let _sending = self.sending().await;
            call.send().await.map_err(ChainError::from_call)?
        };
        mined(pending).await?;
        Ok(id)
    }

    /// Creates a task with `fee` wei in escrow; returns its id.
    pub async fn create_task(
        &self,
        market: Address,
        circuit: B256,
        public_inputs: Vec<U256>,
        input: Vec<u8>,
        deadline: u64,
        fee: U256,
    ) -> Result<U256, ChainError> {
        let m = TaskMarket::new(market, &self.provider);
        let call = m
            .createTask(circuit, public_inputs, Bytes::from(input), deadline)
            .value(fee);
        let id = call.call().await.map_err(ChainError::from_call)?;
        let pending = {
            let _sending = self.sending().await;
            call.send().await.map_err(ChainError::from_call)?
        };
        let receipt = mined(pending).await?;
        if !receipt.status() {
            return Err(ChainError::Reverted("createTask reverted".into()));
        }
        // The id the simulation returned may have been taken by a concurrent creator:
        // read it from the receipt's event.
        let created = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| l.log_decode::<TaskMarket::TaskCreated>().ok())
            .map(|l| l.inner.data.taskId);
        Ok(created.unwrap_or(id))
    }

    /// Ends an expired task (refunds the requester).
    pub async fn expire(&self, market: Address, task: U256) -> Result<(), ChainError> {
        let m = TaskMarket::new(market, &self.provider);
        let call = m.expire(task);
        call.call().await.map_err(ChainError::from_call)?;
        let pending = {
            let _sending = self.sending().await;
            call.send().await.map_err(ChainError::from_call)?
        };
        mined(pending).await?;
        Ok(())
    }
}

/// Waits for a sent transaction's receipt.
pub(crate) async fn mined(
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> Result<alloy::rpc::types::TransactionReceipt, ChainError> {
    pending
        .get_receipt()
        .await
        .map_err(|e| ChainError::Rpc(e.to_string()))
}

/// Checks that the endpoint is the configured chain and that both contracts are there
/// (the market answers as a TaskMarket), with an error that says what is wrong.
pub async fn check(provider: &DynProvider, cfg: &ChainConfig) -> Result<(), ChainError> {
    let id = provider.get_chain_id().await?;
    if id != cfg.chain_id {
        return Err(ChainError::Config(format!(
            "{} is chain {id}, but the configuration says chain {}",
            redact_url(&cfg.rpc_url),
            cfg.chain_id
        )));
    }
    for (name, addr) in [("TaskMarket", cfg.market), ("WorkerRegistry", cfg.registry)] {
        if provider.get_code_at(addr).await?.is_empty() {
            return Err(ChainError::Config(format!(
                "no {name} contract at {addr} on chain {id}: deploy the contracts (`fornax chain deploy`) \
                 or correct the address in the configuration"
            )));
        }
    }
    TaskMarket::new(cfg.market, &provider)
        .taskCount()
        .call()
        .await
        .map_err(|_| {
            ChainError::Config(format!(
                "the contract at {} on chain {id} does not answer as a TaskMarket",
                cfg.market
            ))
        })?;
    Ok(())
}

/// Reads task `id` from the market.
pub async fn task(
    provider: &DynProvider,
    market: Address,
    id: U256,
) -> Result<OnChainTask, ChainError> {
    let t = TaskMarket::new(market, provider)
        .tasks(id)
        .call()
        .await
        .map_err(ChainError::from_call)?;
    Ok(OnChainTask {
        requester: t.requester,
        fee: U256::from(t.fee),
        prover: t.prover,
        deadline: t.deadline,
        status: t.status,
        required_collateral: U256::from(t.requiredCollateral),
        has_options: t.hasOptions,
        verifier: t.circuit.verifier,
        n_public: t.circuit.nPublic,
    })
}

/// The filter for task `id`'s `TaskSettled` events.
fn settled_filter(market: Address, id: U256) -> Filter {
    Filter::new()
        .address(market)
        .event_signature(TaskMarket::TaskSettled::SIGNATURE_HASH)
        .topic1(B256::from(id))
        .from_block(0)
}

/// The `TaskSettled` event of task `id` on the canonical chain, if there is one.
pub async fn settlement(
    provider: &DynProvider,
    market: Address,
    id: U256,
) -> Result<Option<Settlement>, ChainError> {
    let logs = provider.get_logs(&settled_filter(market, id)).await?;
    Ok(logs.last().and_then(|l| {
        let e = l.log_decode::<TaskMarket::TaskSettled>().ok()?;
        Some(Settlement {
            tx: l.transaction_hash?,
            block: l.block_number?,
            prover: e.inner.data.prover,
            paid: e.inner.data.paid,
            outputs: e.inner.data.outputs.clone(),
        })
    }))
}

/// How many `TaskSettled` events task `id` has on the canonical chain (tests: exactly once).
pub async fn settlement_count(
    provider: &DynProvider,
    market: Address,
    id: U256,
) -> Result<usize, ChainError> {
    Ok(provider.get_logs(&settled_filter(market, id)).await?.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_urls_are_shown_without_their_credentials() {
        assert_eq!(
            redact_url("https://mainnet.example.io/v3/0123abcd"),
            "https://mainnet.example.io/…"
        );
        assert_eq!(
            redact_url("http://user:pass@10.0.0.1:8545"),
            "http://10.0.0.1:8545/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
        assert_eq!(
            redact_url("https://rpc.example/?apikey=s3cret"),
            "https://rpc.example/…"
        );
        assert!(!redact_url("not a url s3cret").contains("s3cret"));
        let message =
            "error sending request for url (https://u:s3cret@rpc.example/k/s3cret): refused";
        let shown = redact_urls(message);
        assert_eq!(
            shown,
            "error sending request for url (https://rpc.example/…): refused"
        );
        let cfg = ChainConfig {
            rpc_url: "https://rpc.example/v3/s3cret".into(),
            chain_id: 1,
            market: Address::ZERO,
            registry: Address::ZERO,
            key: "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".into(),
            confirmations: 2,
        };
        let debug = format!("{cfg:?}");
        assert!(
            !debug.contains("s3cret") && !debug.contains("ac0974"),
            "{debug}"
        );
    }
}
