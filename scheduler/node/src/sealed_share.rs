//! Key shares sealed to their key holders, so that the dealer's output holds no share in the
//! clear.
//!
//! Each key holder makes its own identity (`fornax fhe holder-key`) and hands the dealer only
//! the public key. The dealer seals share i to holder i's key: an ephemeral X25519 exchange
//! with the key's Montgomery form, HKDF-SHA256 over the shared point (bound to both public
//! keys), and ChaCha20-Poly1305 under the derived key. Only the holder's private key opens it,
//! and a changed byte fails to open. The holder's one Ed25519 key thus signs its answers,
//! proves it in TLS ([`crate::pinned_tls`]) and opens its share; using one key pair for
//! Ed25519 and X25519 in this way is shown jointly secure by Thormarker (2021, "On using the
//! same key pair for Ed25519 and an X25519 based KEM").
//!
//! Layout: [`MAGIC`], the ephemeral public key (32 bytes), then the sealed share with its
//! 16-byte tag.

use curve25519_dalek::montgomery::MontgomeryPoint;
use ed25519_dalek::{SigningKey, VerifyingKey};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use zeroize::Zeroizing;

/// The first bytes of a sealed share.
pub const MAGIC: &[u8] = b"fornax-sealed-share/v1\n";
const INFO: &[u8] = b"fornax/sealed-share/v1";

/// Whether `bytes` is a sealed share (rather than a share in the clear, as dealers wrote
/// before).
pub fn is_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn aead_key(shared: &MontgomeryPoint, ephemeral: &[u8; 32], holder: &VerifyingKey) -> LessSafeKey {
    let mut info = INFO.to_vec();
    info.extend_from_slice(ephemeral);
    info.extend_from_slice(holder.as_bytes());
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<sha2::Sha256>::new(None, shared.as_bytes())
        .expand(&info, okm.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 length");
    LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, okm.as_ref()).expect("a 32-byte key"))
}

/// Seals `share` (a serialized key share) to the key holder whose public key is `holder`.
pub fn seal(
    share: &[u8],
    holder: &VerifyingKey,
    rng: &mut (impl rand::RngCore + rand::CryptoRng),
) -> Result<Vec<u8>, String> {
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(secret.as_mut());
    let ephemeral = MontgomeryPoint::mul_base_clamped(*secret).to_bytes();
    let shared = holder.to_montgomery().mul_clamped(*secret);
    if shared.as_bytes() == &[0u8; 32] {
        return Err("the key holder's public key is of small order".into());
    }
    let key = aead_key(&shared, &ephemeral, holder);
    let mut sealed = MAGIC.to_vec();
    sealed.extend_from_slice(&ephemeral);
    let mut body = share.to_vec();
    // The key is used once (fresh ephemeral), so a fixed nonce is safe.
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::from(MAGIC),
        &mut body,
    )
    .map_err(|_| "sealing failed".to_string())?;
    sealed.extend_from_slice(&body);
    Ok(sealed)
}

/// Opens a share sealed to `identity`; the share is wiped from memory when dropped.
pub fn open(sealed: &[u8], identity: &SigningKey) -> Result<Zeroizing<Vec<u8>>, String> {
    let rest = sealed.strip_prefix(MAGIC).ok_or("not a sealed key share")?;
    if rest.len() < 32 + CHACHA20_POLY1305.tag_len() {
        return Err("the sealed key share is truncated".into());
    }
    let ephemeral: [u8; 32] = rest[..32].try_into().expect("32 bytes");
    let scalar = Zeroizing::new(identity.to_scalar_bytes());
    let shared = MontgomeryPoint(ephemeral).mul_clamped(*scalar);
    let key = aead_key(&shared, &ephemeral, &identity.verifying_key());
    let mut body = Zeroizing::new(rest[32..].to_vec());
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::from(MAGIC),
            &mut body,
        )
        .map_err(|_| {
            "the key share was not sealed to this identity, or it was altered".to_string()
        })?
        .len();
    body.truncate(plain_len);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyholders::generate_key;

    #[test]
    fn only_its_holder_opens_a_sealed_share_and_no_byte_can_change() {
        let mut rng = rand::rngs::OsRng;
        let holder = generate_key();
        let share: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let sealed = seal(&share, &holder.verifying_key(), &mut rng).unwrap();
        assert!(is_sealed(&sealed));
        // The share's bytes do not appear in the sealed file.
        assert!(!sealed.windows(16).any(|w| w == &share[100..116]));
        assert_eq!(open(&sealed, &holder).unwrap().as_slice(), share.as_slice());
        // Sealing twice gives different files (fresh ephemeral keys).
        assert_ne!(
            seal(&share, &holder.verifying_key(), &mut rng).unwrap(),
            sealed
        );
        // Another identity cannot open it.
        assert!(open(&sealed, &generate_key()).is_err());
        // Any changed byte after the magic fails.
        for i in MAGIC.len()..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(open(&bad, &holder).is_err(), "byte {i} changed");
        }
        assert!(open(&sealed[..sealed.len() - 1], &holder).is_err());
        assert!(open(&share, &holder).is_err());
    }
}
