//! Fornax's node, without its HTTP face or its command line: proving tasks and their state
//! machine ([`task`]), the durable store in RocksDB ([`store`]), the fair scheduler and the
//! one entry for new work ([`scheduler`]), webhooks ([`webhooks`]), the chain service
//! ([`chain`]: tasks from the market's events, results posted and settled on chain), and
//! attested workers ([`tee`]: quotes verified, workers registered on chain, results signed
//! in sequence).
//!
//! Every proof goes as a job through a queue ([`queue`]: in-process, or NATS JetStream)
//! to workers ([`worker`]: inside the node by default, [`embedded`], or `fornax worker
//! --join` on other machines); [`dispatch`] is the scheduler's side of it. The node itself
//! proves nothing.
//!
//! Encrypted computation ([`fhe`]): FHE programs and tasks stored, run by the engine, and
//! decrypted by k of n key holders.
//!
//! The HTTP API is `fornax-api`, the `fornax` binary `fornax-scheduler`; dependencies point
//! one way: binary → API → this crate → prover, fhe-engine, kernels, chain-adapter, enclave.

pub mod chain;
pub mod dispatch;
pub mod embedded;
pub mod fhe;
pub mod keyholders;
pub mod metrics;
mod outcomes;
pub mod pinned_tls;
pub mod queue;
pub mod scheduler;
pub mod sealed_share;
pub mod store;
pub mod task;
pub mod tee;
pub mod traces;
pub mod webhooks;
pub mod worker;
