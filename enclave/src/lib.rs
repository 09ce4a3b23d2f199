//! Worker identity inside a TEE, and how anyone checks it.
//!
//! * [`IdentityKey`]: a secp256k1 key generated inside the worker, never exported.
//! * [`binding::report_data`]: the 64 bytes a quote carries, binding the key to a chain, a
//!   registry and a recent block hash (the nonce).
//! * [`tsm`]: our own client of Linux configfs-tsm, which asks TDX or SEV-SNP for a quote.
//! * [`Verifier`]: Intel DCAP (SGX v3, TDX v4/v5) and AMD SEV-SNP verification against
//!   pinned roots, under a [`Policy`] (TCB status, advisories, measurements, quote age).
//! * [`simulated`]: reports in SEV-SNP's format signed by a development CA, for machines
//!   without a TEE, labelled `SIMULATED` everywhere and rejected by the production
//!   verifier.
//! * [`results`]: results signed with the identity key in sequence, and the [`Ledger`] that
//!   refuses unregistered, replayed and reordered ones.
//!
//! What a TEE does not protect is written down in `enclave/README.md`.

pub mod binding;
pub mod evidence;
pub mod identity;
pub mod results;
pub mod simulated;
pub mod tsm;
pub mod verify;

pub use binding::{report_data, BindingContext};
pub use evidence::{AttestError, Attester, Evidence};
pub use identity::{address_of, recover_signer, IdentityKey};
pub use results::{Domain, Ledger, ResultRejected, ResultSigner, SignedResult};
pub use simulated::{DevCa, DevCaPublic};
pub use verify::{Expected, Measurement, Policy, Verified, Verifier, VerifyError};
