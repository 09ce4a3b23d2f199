//! Fornax's node: proving tasks and their state machine ([`task`]), the durable store in
//! RocksDB ([`store`]), the fair scheduler and device worker ([`node`]) and the HTTP API
//! ([`api`]), and webhooks ([`webhooks`]). The `fornax` binary (`src/main.rs`) runs the node (`fornax node`) and the
//! command-line tools (`prove`, `witness`, `verify`, `bench`, …).
//!
//! Queues across machines (NATS JetStream) arrive with the scale-out issue; today the
//! queue is in-process.

pub mod api;
pub mod node;
pub mod store;
pub mod task;
pub mod webhooks;
