//! The worker's identity key: a secp256k1 key generated inside the worker, which signs
//! registrations and results and can be checked on chain with `ecrecover`.

use alloy_primitives::{keccak256, Address, B256};
use k256::ecdsa::SigningKey;

/// A signing key generated inside this process. There is deliberately no way to build one
/// from bytes, to read its secret out, to clone it or to serialize it: a quote can only ever
/// bind a key that was born where the quote was made, never one an operator handed in.
///
/// ```compile_fail
/// // No constructor takes secret bytes.
/// let key = fornax_enclave::IdentityKey::from_bytes(&[1u8; 32]);
/// ```
///
/// ```compile_fail
/// // Not Clone: the key cannot be duplicated and smuggled out.
/// let key = fornax_enclave::IdentityKey::generate();
/// let copy = key.clone();
/// ```
pub struct IdentityKey {
    key: SigningKey,
}

impl IdentityKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> IdentityKey {
        IdentityKey {
            key: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// The uncompressed public key without its `0x04` prefix: `x ‖ y`, 64 bytes.
    pub fn public_key(&self) -> [u8; 64] {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut out = [0u8; 64];
        out.copy_from_slice(&point.as_bytes()[1..]);
        out
    }

    /// The Ethereum address of the key (what `ecrecover` returns on chain).
    pub fn address(&self) -> Address {
        address_of(&self.public_key())
    }

    /// Signs a 32-byte digest: `r ‖ s ‖ v` with low `s` and `v` ∈ {27, 28}, the form
    /// Solidity's `ecrecover` and the registry's `_recover` take.
    pub fn sign_digest(&self, digest: B256) -> [u8; 65] {
        let (signature, recovery) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .expect("a 32-byte prehash always signs");
        // k256 returns low-s signatures already; normalise anyway, flipping the parity.
        let (signature, recovery) = match signature.normalize_s() {
            Some(low) => (
                low,
                k256::ecdsa::RecoveryId::from_byte(recovery.to_byte() ^ 1).unwrap(),
            ),
            None => (signature, recovery),
        };
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&signature.to_bytes());
        out[64] = 27 + recovery.to_byte();
        out
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// The Ethereum address of a 64-byte public key `x ‖ y`.
pub fn address_of(public_key: &[u8; 64]) -> Address {
    Address::from_slice(&keccak256(public_key)[12..])
}

/// The address that signed `digest`, from a 65-byte `r ‖ s ‖ v` signature; `None` when the
/// signature is malformed, has a high `s`, or recovers nothing.
pub fn recover_signer(digest: B256, signature: &[u8]) -> Option<Address> {
    if signature.len() != 65 {
        return None;
    }
    let sig = alloy_primitives::Signature::try_from(signature).ok()?;
    if sig.normalize_s().is_some() {
        return None; // high s: the contract rejects it too
    }
    sig.recover_address_from_prehash(&digest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_recover_to_the_address_and_nothing_else() {
        let key = IdentityKey::generate();
        let other = IdentityKey::generate();
        assert_ne!(key.address(), other.address(), "two fresh keys differ");
        let digest = keccak256(b"a result");
        let sig = key.sign_digest(digest);
        assert!(sig[64] == 27 || sig[64] == 28);
        assert_eq!(recover_signer(digest, &sig), Some(key.address()));
        assert_ne!(
            recover_signer(keccak256(b"another"), &sig),
            Some(key.address())
        );
        let mut bad = sig;
        bad[10] ^= 1;
        assert_ne!(recover_signer(digest, &bad), Some(key.address()));
        assert_eq!(recover_signer(digest, &sig[..64]), None, "short signature");
        assert!(
            !format!("{key:?}").contains("key:"),
            "Debug shows no secret"
        );
    }
}
