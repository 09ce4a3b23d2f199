//! Fornax's node: proving tasks and their state machine ([`task`]), the durable store in
//! RocksDB ([`store`]), the fair scheduler ([`node`]) and the HTTP API
//! ([`api`]), webhooks ([`webhooks`]), and the chain service ([`chain`]: tasks from the
//! market's events, results posted and settled on chain), and attested workers ([`tee`]:
//! quotes verified, workers registered on chain, results signed in sequence). The `fornax` binary (`src/main.rs`) runs the node (`fornax node`) and the
//! command-line tools (`prove`, `witness`, `verify`, `bench`, …).
//!
//! Every proof goes as a job through a queue ([`queue`]: in-process, or NATS JetStream
//! with `fornax node --queue nats://…`) to workers ([`worker`]: inside the node by
//! default, [`embedded`], or `fornax worker --join` on other machines); [`dispatch`] is
//! the scheduler's side of it. The node itself proves nothing.
//!
//! Encrypted computation ([`fhe`]): FHE programs and tasks stored, run by the engine, and
//! decrypted by k of n key holders (`fornax keyholder`).

pub mod api;
pub mod chain;
pub mod dispatch;
pub mod embedded;
pub mod fhe;
pub mod node;
mod outcomes;
pub mod queue;
pub mod store;
pub mod task;
pub mod tee;
pub mod webhooks;
pub mod worker;
