//! Verifiers on chain without a Solidity compiler, and proofs as the verifier takes them.
//!
//! [`creation_code`] deploys `Groth16VerifierRuntime` (compiled once, in
//! [`crate::bindings`]) followed by a verifying key; the runtime reads the key from its own
//! code. So a node can put a verifier for any circuit on chain at run time, while
//! `fornax export-verifier` still writes a readable stand-alone Solidity verifier.

use alloy::primitives::{keccak256, Bytes, B256, U256};
use ark_bn254::{Fr, G1Affine, G2Affine};
use fornax_prover::calldata::{self, g1_coordinates, g2_coordinates};
use fornax_prover::{Proof, VerifyingKey};

use crate::bindings::Groth16VerifierRuntime;

/// A field element of Fr as the EVM's `uint256` ([`calldata::signal_word`]).
pub fn fr_word(f: Fr) -> U256 {
    U256::from_be_bytes(calldata::signal_word(f))
}

fn g1_words(p: &G1Affine) -> [U256; 2] {
    g1_coordinates(p).map(|c| U256::from_be_bytes(calldata::word(c)))
}

fn g2_words(p: &G2Affine) -> [U256; 4] {
    g2_coordinates(p).map(|c| U256::from_be_bytes(calldata::word(c)))
}

/// A proof as `verifyProof` takes it, flattened ([`calldata::proof_words`]).
pub fn proof_words(proof: &Proof) -> [U256; 8] {
    calldata::proof_words(proof).map(U256::from_be_bytes)
}

/// The selector of `verifyProof` for `n` public signals.
pub fn verify_selector(n: usize) -> [u8; 4] {
    let sig = format!("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[{n}])");
    keccak256(sig.as_bytes())[..4].try_into().expect("4 bytes")
}

/// The key as `Groth16VerifierRuntime` reads it from the end of its code.
pub fn key_blob(vk: &VerifyingKey) -> Vec<u8> {
    let n = vk.n_public();
    let mut words: Vec<U256> = Vec::with_capacity(18 + 2 * n);
    words.extend(g1_words(&vk.alpha1));
    words.extend(g2_words(&vk.beta2));
    words.extend(g2_words(&vk.gamma2));
    words.extend(g2_words(&vk.delta2));
    for p in &vk.ic {
        words.extend(g1_words(p));
    }
    words.push(U256::from(u32::from_be_bytes(verify_selector(n))));
    words.push(U256::from(n));
    words.iter().flat_map(|w| w.to_be_bytes::<32>()).collect()
}

/// The hash a circuit registers its key under: keccak256 of [`key_blob`].
pub fn key_hash(vk: &VerifyingKey) -> B256 {
    keccak256(key_blob(vk))
}

/// The hash of the code [`creation_code`] deploys for `vk`: a verifier whose code hashes to
/// this is Fornax's runtime checking exactly this key.
pub fn runtime_code_hash(vk: &VerifyingKey) -> B256 {
    let mut code = Groth16VerifierRuntime::DEPLOYED_BYTECODE.to_vec();
    code.extend_from_slice(&key_blob(vk));
    keccak256(code)
}

/// Creation code that deploys the verifier runtime with `vk` appended: a 12-byte prefix
/// that copies everything after it into memory and returns it as the contract's code.
pub fn creation_code(vk: &VerifyingKey) -> Bytes {
    let runtime = &Groth16VerifierRuntime::DEPLOYED_BYTECODE;
    let blob = key_blob(vk);
    let len = runtime.len() + blob.len();
    let len = u16::try_from(len).expect("a verifier's code is far below 64 KiB");
    let [hi, lo] = len.to_be_bytes();
    // PUSH2 len, DUP1, PUSH1 12, PUSH1 0, CODECOPY, PUSH1 0, RETURN
    let mut code = vec![
        0x61, hi, lo, 0x80, 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, 0x00, 0xf3,
    ];
    code.extend_from_slice(runtime);
    code.extend_from_slice(&blob);
    code.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_matches_snarkjs_abi() {
        // keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[1])")[..4],
        // the selector of snarkjs's verifier for one public signal.
        assert_eq!(hex::encode(verify_selector(1)), "43753b4d");
    }
}
