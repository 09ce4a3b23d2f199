//! Fornax's link to EVM chains: the Foundry contracts (verifier, TaskMarket, WorkerRegistry), alloy bindings, the result poster and the task listener.
//!
//! Nothing lives here yet: the contracts and the alloy poster and listener arrive with
//! the chain-adapter issue.
