//! Fornax's link to EVM chains: the Foundry contracts (verifier, TaskMarket, WorkerRegistry),
//! alloy bindings, the result poster and the task listener.
//!
//! * `contracts/`: the Foundry project. `TaskMarket` escrows a task's fee, verifies its
//!   proof through the circuit's Groth16 verifier and pays the prover in one transaction;
//!   `WorkerRegistry` holds attested worker keys and checks their signed results.
//! * [`bindings`]: the contracts' ABI and bytecode for alloy.
//! * [`verifier`]: verifiers deployed without a compiler, and proofs in the verifier's words.
//! * [`client`]: a connection with a signing account: checks, deployment, circuits, tasks.
//! * [`admission`]: whether a task on chain is worth taking (fee against gas, verifier,
//!   options, collateral).
//! * [`poster`]: settles proved tasks exactly once, locking each before its result is sent
//!   (nonces, fees, confirmations, reorgs).
//! * [`listener`]: `TaskCreated` events as tasks for the node.
//! * [`registry`]: WorkerRegistry: nonce blocks, worker registration, signed results.
//! * [`anvil`]: a local dev chain.

pub mod admission;
pub mod anvil;
pub mod bindings;
pub mod client;
pub mod listener;
pub mod poster;
pub mod registry;
pub mod verifier;

pub use admission::{Declined, TakePolicy};
pub use client::{Chain, ChainConfig, ChainError, Deployment, Settlement};
pub use listener::{CreatedTask, Listener};
pub use poster::{Action, PostJournal, PostRequest, Poster, PosterConfig};
