//! The simulated TEE for machines without one: attestation reports in AMD SEV-SNP's real
//! format (version 2, 1184 bytes, ECDSA P-384 over the first 0x2A0 bytes), signed by a
//! development CA derived from a seed. Everything about them says `SIMULATED`: the
//! evidence's kind, the family id inside the report, the chip id, the chain record. The
//! production verifier rejects every one of them.

use p384::ecdsa::signature::{Signer, Verifier};
use p384::ecdsa::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha384};

/// The length of an SEV-SNP attestation report.
pub const REPORT_LEN: usize = 1184;
/// Where the signature starts; the bytes before it are signed.
pub const SIGNED_LEN: usize = 0x2A0;
/// The family id written into every simulated report (16 bytes).
pub const SIMULATED_FAMILY_ID: &[u8; 16] = b"FORNAX-SIMULATED";

/// The measurement every simulated report carries: SHA-384 of a fixed label.
pub fn simulated_measurement() -> [u8; 48] {
    Sha384::digest(b"fornax simulated TEE: no measurement, no isolation").into()
}

/// The development CA: a P-384 key derived from a seed. Anyone with the seed can forge
/// its reports, which is the point: it proves nothing, it only exercises the real paths.
pub struct DevCa {
    key: SigningKey,
}

impl DevCa {
    /// The CA of `seed`.
    pub fn from_seed(seed: &[u8]) -> DevCa {
        for counter in 0u32.. {
            let digest = Sha384::new()
                .chain_update(b"fornax.dev-ca.v1")
                .chain_update(counter.to_be_bytes())
                .chain_update(seed)
                .finalize();
            if let Ok(key) = SigningKey::from_bytes(&digest) {
                return DevCa { key };
            }
        }
        unreachable!("a valid scalar is found within a few tries")
    }

    /// The CA's public key (what a verifier that accepts simulated reports pins).
    pub fn public(&self) -> DevCaPublic {
        DevCaPublic(*self.key.verifying_key())
    }

    /// A signed report carrying `report_data`.
    pub fn report(&self, report_data: &[u8; 64]) -> [u8; REPORT_LEN] {
        let mut r = [0u8; REPORT_LEN];
        r[0x00..0x04].copy_from_slice(&2u32.to_le_bytes()); // version
        r[0x08..0x10].copy_from_slice(&0x3_0000u64.to_le_bytes()); // policy: SMT allowed, no debug
        r[0x10..0x20].copy_from_slice(SIMULATED_FAMILY_ID);
        r[0x34..0x38].copy_from_slice(&1u32.to_le_bytes()); // signature algorithm: ECDSA P-384
        let tcb = [0u8, 0, 0, 0, 0, 0, 0, 0];
        r[0x38..0x40].copy_from_slice(&tcb); // current TCB
        r[0x50..0x90].copy_from_slice(report_data);
        r[0x90..0xC0].copy_from_slice(&simulated_measurement());
        r[0x180..0x188].copy_from_slice(&tcb); // reported TCB
        let label = b"SIMULATED-TEE-FORNAX-DEV-CA-";
        for (i, byte) in r[0x1A0..0x1E0].iter_mut().enumerate() {
            *byte = label[i % label.len()]; // chip id
        }
        r[0x1E0..0x1E8].copy_from_slice(&tcb); // committed TCB
        r[0x1F0..0x1F8].copy_from_slice(&tcb); // launch TCB
        let signature: Signature = self.key.sign(&r[..SIGNED_LEN]);
        let (sig_r, sig_s) = signature.split_bytes();
        // r and s little-endian, each in a 72-byte field.
        for (field, value) in [(0x2A0, sig_r), (0x2E8, sig_s)] {
            for (i, byte) in value.iter().rev().enumerate() {
                r[field + i] = *byte;
            }
        }
        r
    }
}

/// The development CA's public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DevCaPublic(VerifyingKey);

impl DevCaPublic {
    /// Whether the CA signed `report` (its first [`SIGNED_LEN`] bytes, as they are).
    pub fn signed(&self, report: &[u8]) -> bool {
        if report.len() != REPORT_LEN {
            return false;
        }
        let mut r = [0u8; 48];
        let mut s = [0u8; 48];
        for i in 0..48 {
            r[47 - i] = report[0x2A0 + i];
            s[47 - i] = report[0x2E8 + i];
        }
        let Ok(signature) = Signature::from_scalars(r, s) else {
            return false;
        };
        self.0.verify(&report[..SIGNED_LEN], &signature).is_ok()
    }
}
