//! Encrypted computation for Fornax: TFHE programs over ciphertexts (tfhe-rs), programmable bootstraps batched into jobs, and k-of-n threshold key setup and decryption (Setup, Encrypt, Eval, PartDec, FinDec).
//!
//! Nothing lives here yet: the FHE engine arrives with its own issue. It will depend on
//! `fornax-kernels` only to choose devices, never on a concrete backend.
