//! Worker identity inside a TEE: the identity key, attestation quotes through configfs-tsm (TDX, SEV-SNP), quote verification, and a simulated mode that is always labelled SIMULATED.
//!
//! Nothing lives here yet: identity keys, quotes and their verification arrive with the
//! enclave issue.
