//! Admission of tasks from chain: the node takes a task only when it pays for its gas, its
//! verifier is one the node trusts, and its options and collateral are ones the node
//! accepts. Anyone can create tasks, so every check here is a way a requester could
//! otherwise make the node spend gas or collateral for nothing (security finding 22.7).
//!
//! The gas a task costs the node is bounded from the market's own limits: `lockTask`
//! (plus a reservation per commitment) and `submitResult` (calldata, the verifier's gas
//! cap, the commitments, the callback's gas), priced at the current EIP-1559 maximum fee.

use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::providers::{DynProvider, Provider};

use crate::bindings::TaskMarket;
use crate::client::{self, ChainError};

/// Gas `lockTask` costs without commitments (status and prover written, an event).
pub const LOCK_GAS: u64 = 60_000;
/// Gas of `submitResult` beyond its calldata, verifier, commitments and callback: the
/// transaction, the task's reads and writes, the event and the payment.
pub const SETTLE_GAS: u64 = 21_000 + 60_000;
/// Gas per commitment, at lock (reservation) and at settlement (its state change).
pub const COMMITMENT_GAS: u64 = 25_000;
/// `TaskMarket.CALLBACK_GAS`, and what a settlement must keep for it.
pub const CALLBACK_GAS: u64 = 500_000 + 500_000 / 63 + 10_000;
/// `TaskMarket.VERIFY_GAS_BASE`.
pub const VERIFY_GAS_BASE: u64 = 400_000;
/// `TaskMarket.VERIFY_GAS_PER_SIGNAL`.
pub const VERIFY_GAS_PER_SIGNAL: u64 = 10_000;

/// Which tasks the node takes. Every field is a node flag.
#[derive(Clone, Debug)]
pub struct TakePolicy {
    /// The fee must cover the gas bound times `1 + fee_margin` (0.25: a quarter more).
    pub fee_margin: f64,
    /// Verifier code hashes trusted besides Fornax's runtime verifier for the circuit's own
    /// key (e.g. a snarkjs-exported verifier the operator compiled and checked).
    pub trusted_verifiers: Vec<B256>,
    /// Take tasks that call a callback on settlement (its gas is counted either way).
    pub accept_callbacks: bool,
    /// Take tasks that consume or add state commitments.
    pub accept_commitments: bool,
    /// The most collateral a task may ask, as a multiple of its fee.
    pub max_collateral_ratio: f64,
}

impl Default for TakePolicy {
    fn default() -> Self {
        TakePolicy {
            fee_margin: 0.25,
            trusted_verifiers: Vec::new(),
            accept_callbacks: true,
            accept_commitments: true,
            max_collateral_ratio: 1.0,
        }
    }
}

/// Why the node does not take a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Declined {
    /// The task is not open (taken, settled or expired already).
    #[error("the task is {0}, not open")]
    NotOpen(&'static str),
    /// The fee does not cover the gas bound and the margin.
    #[error(
        "its fee {fee} wei does not cover {gas} gas at {price} wei with the margin ({needed} wei)"
    )]
    Fee {
        /// The task's fee.
        fee: U256,
        /// The gas bound of locking and settling it.
        gas: u64,
        /// The gas price it was valued at.
        price: u128,
        /// The fee it would need.
        needed: U256,
    },
    /// The verifier's code is not one the node trusts.
    #[error("its verifier {verifier} has code {code_hash}, which this node does not trust for the circuit")]
    Verifier {
        /// The verifier contract.
        verifier: Address,
        /// keccak256 of its code.
        code_hash: B256,
    },
    /// A callback, which the node's policy refuses.
    #[error("it calls back {0}, and this node takes no tasks with callbacks")]
    Callback(Address),
    /// Commitments, which the node's policy refuses.
    #[error("it has state commitments, and this node takes no tasks with commitments")]
    Commitments,
    /// More collateral than the policy allows.
    #[error("it asks {collateral} wei of collateral for a fee of {fee} wei")]
    Collateral {
        /// The collateral asked.
        collateral: U256,
        /// The fee.
        fee: U256,
    },
}

/// The most gas locking and settling a task can cost the node.
pub fn gas_bound(n_public: u32, commitments: usize, callback: bool) -> u64 {
    let n = n_public as u64;
    // submitResult(uint256, uint256[8], uint256[]): selector, id, proof, offset, length,
    // signals; 16 gas a byte is the most calldata costs.
    let calldata = 16 * (4 + 32 * (1 + 8 + 2 + n));
    let commitments = commitments as u64 * 2 * COMMITMENT_GAS;
    LOCK_GAS
        + SETTLE_GAS
        + calldata
        + VERIFY_GAS_BASE
        + VERIFY_GAS_PER_SIGNAL * n
        + commitments
        + if callback { CALLBACK_GAS } else { 0 }
}

/// Whether `task` may be taken under `policy`, `vk_code_hash` being the code hash of
/// Fornax's runtime verifier for the circuit's key
/// ([`crate::verifier::runtime_code_hash`]). Reads the task, its options, its verifier's
/// code and the gas price.
pub async fn assess(
    provider: &DynProvider,
    market: Address,
    task: U256,
    vk_code_hash: B256,
    policy: &TakePolicy,
) -> Result<Result<(), Declined>, ChainError> {
    let t = client::task(provider, market, task).await?;
    if t.status != 1 {
        return Ok(Err(Declined::NotOpen(t.status_name())));
    }
    let code_hash = keccak256(provider.get_code_at(t.verifier).await?);
    if code_hash != vk_code_hash && !policy.trusted_verifiers.contains(&code_hash) {
        return Ok(Err(Declined::Verifier {
            verifier: t.verifier,
            code_hash,
        }));
    }
    let (mut commitments, mut callback) = (0, false);
    if t.has_options {
        let o = TaskMarket::new(market, provider)
            .taskOptions(task)
            .call()
            .await
            .map_err(ChainError::from_call)?;
        commitments = o.inCommitments.len() + o.outCommitments.len();
        callback = o.callback != Address::ZERO;
        if callback && !policy.accept_callbacks {
            return Ok(Err(Declined::Callback(o.callback)));
        }
        if commitments > 0 && !policy.accept_commitments {
            return Ok(Err(Declined::Commitments));
        }
    }
    let ratio = (policy.max_collateral_ratio.max(0.0) * 1000.0).round() as u64;
    if t.required_collateral * U256::from(1000) > t.fee * U256::from(ratio) {
        return Ok(Err(Declined::Collateral {
            collateral: t.required_collateral,
            fee: t.fee,
        }));
    }
    let price = provider.estimate_eip1559_fees().await?.max_fee_per_gas;
    let gas = gas_bound(t.n_public, commitments, callback);
    let cost = U256::from(gas) * U256::from(price);
    // cost × (1 + margin), the margin in thousandths.
    let permille = (policy.fee_margin.max(0.0) * 1000.0).round() as u64;
    let needed = cost * U256::from(1000 + permille) / U256::from(1000);
    if t.fee < needed {
        return Ok(Err(Declined::Fee {
            fee: t.fee,
            gas,
            price,
            needed,
        }));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gas_bound_counts_what_a_requester_chooses() {
        let plain = gas_bound(2, 0, false);
        assert!(plain > VERIFY_GAS_BASE + LOCK_GAS + SETTLE_GAS);
        assert_eq!(
            gas_bound(3, 0, false) - plain,
            VERIFY_GAS_PER_SIGNAL + 16 * 32
        );
        assert_eq!(gas_bound(2, 4, false) - plain, 8 * COMMITMENT_GAS);
        assert_eq!(gas_bound(2, 0, true) - plain, CALLBACK_GAS);
    }
}
