//! Raw 256-bit integers → Fr, with the policy for values ≥ r stated once.
//!
//! The MSM and NTT traits take [`Fr`], which by construction is below the modulus r. Raw
//! integers from files or the network pass through here first. **Policy: a value ≥ r is
//! rejected** ([`KernelError::ScalarOutOfRange`] with its index), never silently reduced: in
//! snarkjs's formats such a value only appears in a corrupt or forged file. Callers that want
//! reduction say so explicitly with [`fr_from_le_bytes_reduced`].

use ark_bn254::Fr;
use ark_ff::{BigInteger256, PrimeField};

use crate::KernelError;

/// Bytes of one little-endian Fr integer.
pub const FR_BYTES: usize = 32;

/// The 256-bit integer whose little-endian bytes these are (no range check).
pub fn bigint_from_le_bytes(bytes: &[u8; FR_BYTES]) -> BigInteger256 {
    BigInteger256::new(std::array::from_fn(|i| {
        u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"))
    }))
}

/// The field element with this little-endian value, or `None` if the value is ≥ r.
pub fn fr_from_le_bytes(bytes: &[u8; FR_BYTES]) -> Option<Fr> {
    Fr::from_bigint(bigint_from_le_bytes(bytes))
}

/// The field element `value mod r` for any 256-bit little-endian value.
pub fn fr_from_le_bytes_reduced(bytes: &[u8; FR_BYTES]) -> Fr {
    Fr::from_le_bytes_mod_order(bytes)
}

/// Parses consecutive 32-byte little-endian integers, rejecting any value ≥ r with its index.
///
/// `data.len()` must be a multiple of 32; a trailing partial value is reported as out of
/// range at its index.
pub fn frs_from_le_bytes(data: &[u8]) -> Result<Vec<Fr>, KernelError> {
    let chunks = data.chunks(FR_BYTES);
    let mut out = Vec::with_capacity(chunks.len());
    for (index, chunk) in chunks.enumerate() {
        let bytes: &[u8; FR_BYTES] = chunk
            .try_into()
            .map_err(|_| KernelError::ScalarOutOfRange { index })?;
        out.push(fr_from_le_bytes(bytes).ok_or(KernelError::ScalarOutOfRange { index })?);
    }
    Ok(out)
}

/// The little-endian bytes of a field element's canonical value.
pub fn fr_to_le_bytes(value: &Fr) -> [u8; FR_BYTES] {
    let mut out = [0u8; FR_BYTES];
    for (i, limb) in value.into_bigint().0.iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&limb.to_le_bytes());
    }
    out
}
