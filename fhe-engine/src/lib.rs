//! Encrypted computation for Fornax: TFHE programs over ciphertexts (tfhe-rs), programmable
//! bootstraps batched into jobs, and k-of-n threshold key setup and decryption (Setup,
//! Encrypt, Eval, PartDec, FinDec).
//!
//! - [`program`]: programs, DAGs of integer operations (8 … 64 bits), and their plaintext
//!   meaning; [`plan`]: batches of jobs; [`engine`]: Eval with tfhe-rs, bit-exact.
//! - [`threshold`]: Setup(n, k) by a trusted dealer, PartDec, FinDec with error correction;
//!   [`params`]: the parameters and the bounds checked in code; [`ring`], [`shamir`],
//!   [`prss`]: the arithmetic under it.
//! - [`device`]: Eval on a chosen device (the CPU, or a CUDA GPU with the `gpu` feature)
//!   through tfhe-rs's high-level API, bit-identical to [`engine`] on the CPU.
//! - [`io`]: size-limited, versioned reading and writing of keys and ciphertexts.
//!
//! - [`input`]: Encrypt(pk, d) as tenants submit it, each input with a zero-knowledge proof
//!   of knowledge of its plaintext bound to the tenant, verified before a task is accepted.
//!
//! The client key never exists outside Setup.

#![warn(missing_docs)]

pub mod device;
pub mod engine;
pub mod input;
pub mod io;
pub mod params;
pub mod plan;
pub mod program;
pub mod prss;
pub mod ring;
pub mod shamir;
pub mod threshold;

pub use engine::{pbs_count, reset_pbs_count, EvalOutput, Evaluator};
pub use program::{Op, Program};
pub use threshold::{
    combine, combine_bounded, setup, Decryption, KeyHolder, KeyShare, PartialDecryption,
    PublicKeySet,
};

/// Errors of the FHE engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Parameters out of their checked bounds (parties, threshold, noise budget).
    #[error("parameters: {0}")]
    Parameters(String),
    /// Fewer shares than the threshold.
    #[error("not enough shares: need {needed}, got {got}")]
    NotEnoughShares {
        /// k.
        needed: usize,
        /// Shares given.
        got: usize,
    },
    /// The shares do not reconstruct (wrong or inconsistent shares).
    #[error("reconstruction failed: {0}")]
    Reconstruction(String),
    /// A program that is malformed or does not fit its inputs.
    #[error("program: {0}")]
    Program(String),
    /// A ciphertext that is malformed or not for these parameters.
    #[error("ciphertext: {0}")]
    Ciphertext(String),
    /// Input over its size limit.
    #[error("too large: {got} bytes, the limit is {limit}")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// The size given.
        got: u64,
    },
    /// A key share or key set that is malformed or inconsistent.
    #[error("key: {0}")]
    KeyShare(String),
    /// Serialization failed.
    #[error("serialization: {0}")]
    Serialization(String),
    /// A file could not be read or written.
    #[error("io: {0}")]
    Io(String),
    /// tfhe-rs refused an operation.
    #[error("tfhe-rs: {0}")]
    Tfhe(String),
    /// An input whose proof of knowledge does not verify (for this key set and tenant).
    #[error("proof of knowledge: {0}")]
    Proof(String),
}

impl Error {
    /// Whether retrying the same request may succeed (I/O only); the others are the
    /// caller's mistake or a fault of the key material.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Io(_))
    }
}
