//! Fornax's node: task and job types, the planner, the store (RocksDB), queues (in-process,
//! NATS JetStream), the worker runtime and the HTTP API, plus the `fornax` binary.
//!
//! Today this crate holds the command-line front end (`src/main.rs`): `fornax prove`,
//! `fornax verify`, `fornax bench` and the development helpers. The node arrives with the
//! scheduler issue.
