//! The listener: turns the market's `TaskCreated` events into tasks for the node, so the
//! chain is a task source beside HTTP.
//!
//! It reads logs up to the head minus `confirmations - 1` blocks, from a cursor the caller
//! persists. Delivery is at least once (a crash between handling an event and saving the
//! cursor replays it), so the node makes each chain task idempotent by its on-chain id.

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;

use crate::bindings::TaskMarket;
use crate::client::ChainError;

/// The most blocks one `eth_getLogs` asks for (endpoints cap ranges).
const MAX_RANGE: u64 = 5_000;

/// A task created on chain.
#[derive(Clone, Debug)]
pub struct CreatedTask {
    /// The market's task id.
    pub task: U256,
    /// The circuit's on-chain id.
    pub circuit: B256,
    /// Who created it.
    pub requester: Address,
    /// The fee in escrow (wei).
    pub fee: U256,
    /// The deadline, Unix seconds.
    pub deadline: u64,
    /// The public inputs the proof must carry.
    pub public_inputs: Vec<U256>,
    /// The circuit's input (circom input JSON).
    pub input: Bytes,
    /// The block of the event.
    pub block: u64,
}

/// Follows one market's `TaskCreated` events.
pub struct Listener {
    provider: DynProvider,
    market: Address,
    confirmations: u64,
    next_block: u64,
}

impl Listener {
    /// A listener from block `from_block` (the saved cursor, or where to start).
    pub fn new(
        provider: DynProvider,
        market: Address,
        confirmations: u64,
        from_block: u64,
    ) -> Listener {
        Listener {
            provider,
            market,
            confirmations: confirmations.max(1),
            next_block: from_block,
        }
    }

    /// The first block not read yet: save it, and start from it after a restart.
    pub fn cursor(&self) -> u64 {
        self.next_block
    }

    /// Tasks created in the blocks that became confirmed since the last call.
    pub async fn poll(&mut self) -> Result<Vec<CreatedTask>, ChainError> {
        let head = self.provider.get_block_number().await?;
        let safe = (head + 1).saturating_sub(self.confirmations);
        let mut out = Vec::new();
        while self.next_block <= safe {
            let to = safe.min(self.next_block + MAX_RANGE - 1);
            let filter = Filter::new()
                .address(self.market)
                .event_signature(TaskMarket::TaskCreated::SIGNATURE_HASH)
                .from_block(self.next_block)
                .to_block(to);
            for log in self.provider.get_logs(&filter).await? {
                let Ok(e) = log.log_decode::<TaskMarket::TaskCreated>() else {
                    continue;
                };
                let d = &e.inner.data;
                out.push(CreatedTask {
                    task: d.taskId,
                    circuit: d.circuitId,
                    requester: d.requester,
                    fee: d.fee,
                    deadline: d.deadline,
                    public_inputs: d.publicInputs.clone(),
                    input: d.input.clone(),
                    block: log.block_number.unwrap_or(to),
                });
            }
            self.next_block = to + 1;
        }
        Ok(out)
    }
}
