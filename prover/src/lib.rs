//! Groth16 over BN254, compatible with circom and snarkjs, expressed as a graph of jobs.
//!
//! * [`zkey`], [`wtns`], [`r1cs`]: snarkjs's and circom's binary formats, parsed with errors
//!   that name the file and the problem.
//! * [`witness`]: circom's `circuit.wasm` witness generators, run in-process.
//! * [`graph`]: a proof as jobs (witness → NTT/iNTT of the H polynomial → MSMs → assemble)
//!   with deterministic ids, so a scheduler can place them on different devices.
//! * [`executor`]: runs a graph on this machine's registered backends.
//! * [`json`]: `proof.json`, `public.json` and `verification_key.json` in snarkjs's shapes.
//! * [`verify`]: the pairing check.
//! * [`solidity`]: a Solidity verifier for a key, with snarkjs's `verifyProof` ABI.
//! * [`calldata`]: proofs and keys as EVM verifiers take them (the one encoder the API, the
//!   chain adapter and [`solidity`] share).
//! * [`synthetic`]: circuits of any size for tests and benchmarks.
//! * [`setup`]: an insecure, single-party setup for tests and benchmarks (never production).

pub mod binfile;
pub mod calldata;
pub mod error;
pub mod executor;
pub mod graph;
pub mod json;
pub mod r1cs;
pub mod setup;
pub mod solidity;
pub mod synthetic;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod verify;
pub mod witness;
pub mod wtns;
pub mod zkey;

pub use error::ProverError;
pub use executor::{Assembler, LocalExecutor, PartPoint, Parts, PreparedKey, ProveTimings};
pub use graph::{Job, JobGraph, JobId, JobKind};
pub use json::{ProofJson, VerificationKeyJson};
pub use verify::{verify, Proof, VerifyingKey};
pub use zkey::ProvingKey;
