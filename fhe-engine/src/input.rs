//! The inputs a tenant submits: each an encrypted integer with tfhe-rs's zero-knowledge proof
//! that its maker knows the plaintext (compact public-key encryption with proofs,
//! `ProvenCompactCiphertextList`), bound by the proof's metadata to the key set and to the
//! tenant that submits it. The node verifies the proof before it accepts a task, so a
//! ciphertext copied from another tenant, or an output of anyone's task, cannot be
//! submitted: the copier cannot prove knowledge of its plaintext under their own name, and
//! the threshold decryption does not become an oracle for other tenants' data.
//!
//! An input is one `bits`-bit integer (8, 16, 32 or 64) in a list of its own, encrypted
//! under the key set's dedicated encryption key and cast (key-switched) to the computation
//! key when a worker expands it ([`expand`], a few bootstraps).

use tfhe::core_crypto::prelude::LweCiphertextCount;
use tfhe::integer::ciphertext::IntegerProvenCompactCiphertextListConformanceParams;
use tfhe::integer::RadixCiphertext;
use tfhe::prelude::CiphertextList;
use tfhe::safe_serialization::{safe_serialize, DeserializationConfig};
use tfhe::zk::{
    CompactPkeCrs, CompactPkeCrsConformanceParams, ZkComputeLoad, ZkVerificationOutcome,
};
use tfhe::{FheTypes, ProvenCompactCiphertextList};

use crate::params::ParamSet;
use crate::threshold::{KeyId, PublicKeySet};
use crate::Error;

/// The most bits one proven input holds: one 64-bit integer. The key set's CRS is made for
/// this many.
pub const MAX_INPUT_BITS: usize = 64;

/// The most bytes a serialized input may take (a 64-bit input with its proof is well under).
pub const MAX_INPUT_BYTES: u64 = 1 << 20;

/// What an input's proof is bound to: the key set and the tenant that submits it.
pub fn metadata(key_id: &KeyId, tenant: &str) -> Vec<u8> {
    let mut m = b"fornax/fhe-input/v1\0".to_vec();
    m.extend_from_slice(key_id);
    m.extend_from_slice(tenant.as_bytes());
    m
}

/// The CRS of a key set made for `set`: public parameters for proofs of up to
/// [`MAX_INPUT_BITS`] bits (made at Setup, published with the key set).
pub fn crs_for(set: ParamSet) -> Result<CompactPkeCrs, Error> {
    CompactPkeCrs::from_config(crate::threshold::config(set), MAX_INPUT_BITS)
        .map_err(|e| Error::Tfhe(e.to_string()))
}

/// What a key set's CRS must look like for `set` (checked when a key set is read).
pub fn crs_conformance(set: ParamSet) -> Result<CompactPkeCrsConformanceParams, Error> {
    let p = set.encryption();
    let per_block = (p.message_modulus.0 * p.carry_modulus.0).ilog2() as usize;
    tfhe::zk::new_compact_pke_crs_conformance_params(
        p,
        LweCiphertextCount(MAX_INPUT_BITS.div_ceil(per_block)),
    )
    .map_err(|e| Error::Tfhe(e.to_string()))
}

/// Encrypt(pk, d) as a tenant submits it: `value` as a `bits`-bit integer with a proof of
/// knowledge of its plaintext bound to the key set and `tenant`; serialized.
pub fn encrypt(
    public: &PublicKeySet,
    value: u64,
    bits: u32,
    tenant: &str,
) -> Result<Vec<u8>, Error> {
    check_value(value, bits)?;
    let list = ProvenCompactCiphertextList::builder(&public.public_key)
        .push_with_num_bits(value, bits as usize)
        .map_err(|e| Error::Program(e.to_string()))?
        .build_with_proof_packed(
            &public.crs,
            &metadata(&public.key_id, tenant),
            ZkComputeLoad::Proof,
        )
        .map_err(|e| Error::Tfhe(e.to_string()))?;
    let mut out = Vec::new();
    safe_serialize(&list, &mut out, MAX_INPUT_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    Ok(out)
}

/// Checks an input `tenant` submitted for a program of `bits`-bit integers: tfhe-rs's safe
/// deserialization (size-limited, conformant with the key set's encryption parameters and
/// CRS), one integer of that width, and a proof that verifies under the key set's CRS and
/// public key for this key set and this tenant. Returns the list for [`expand`].
pub fn verify(
    public: &PublicKeySet,
    bytes: &[u8],
    bits: u32,
    tenant: &str,
) -> Result<ProvenCompactCiphertextList, Error> {
    let list = read(public, bytes)?;
    let expected = kind_of(bits)?;
    if list.len() != 1 || list.get_kind_of(0) != Some(expected) {
        return Err(Error::Ciphertext(format!(
            "an input must be one {bits}-bit integer ({expected:?}); this list holds {} value(s), the first {:?}",
            list.len(),
            list.get_kind_of(0)
        )));
    }
    match list.verify(
        &public.crs,
        &public.public_key,
        &metadata(&public.key_id, tenant),
    ) {
        ZkVerificationOutcome::Valid => Ok(list),
        ZkVerificationOutcome::Invalid => Err(Error::Proof(format!(
            "the input's proof of knowledge does not verify for key set {} and tenant {tenant:?}",
            hex::encode(public.key_id)
        ))),
    }
}

/// Reads a serialized input (without verifying its proof).
pub fn read(public: &PublicKeySet, bytes: &[u8]) -> Result<ProvenCompactCiphertextList, Error> {
    let conformance = IntegerProvenCompactCiphertextListConformanceParams::from_crs_and_parameters(
        public.params.pbs.encryption(),
        &public.crs,
    );
    DeserializationConfig::new(MAX_INPUT_BYTES)
        .deserialize_from(bytes, &conformance)
        .map_err(|e| Error::Ciphertext(format!("not a proven input of this key set: {e}")))
}

/// Expands a verified input into the engine's form: cast from the encryption key to the
/// computation key and unpacked. Needs the key set's server key set in this thread (the
/// evaluators call it so).
pub(crate) fn expand(
    list: &ProvenCompactCiphertextList,
    bits: u32,
) -> Result<RadixCiphertext, Error> {
    let expanded = list
        .expand_without_verification()
        .map_err(|e| Error::Tfhe(e.to_string()))?;
    first_of(&expanded, bits)
}

/// The first integer of an expanded list, as a `bits`-bit radix ciphertext.
pub(crate) fn first_of(
    expanded: &tfhe::CompactCiphertextListExpander,
    bits: u32,
) -> Result<RadixCiphertext, Error> {
    crate::io::by_width!(bits, Id => {
        let ct: tfhe::FheUint<Id> = expanded
            .get(0)
            .map_err(|e| Error::Tfhe(e.to_string()))?
            .ok_or_else(|| Error::Ciphertext("the input list is empty".into()))?;
        Ok(ct.into_raw_parts().0)
    })
}

/// Checks that `value` is a `bits`-bit integer of a width programs take (8, 16, 32, 64).
pub(crate) fn check_value(value: u64, bits: u32) -> Result<(), Error> {
    kind_of(bits)?;
    if bits < 64 && value >> bits != 0 {
        return Err(Error::Program(format!(
            "{value} does not fit in {bits} bits"
        )));
    }
    Ok(())
}

/// The tfhe-rs type of a `bits`-bit input.
fn kind_of(bits: u32) -> Result<FheTypes, Error> {
    match bits {
        8 => Ok(FheTypes::Uint8),
        16 => Ok(FheTypes::Uint16),
        32 => Ok(FheTypes::Uint32),
        64 => Ok(FheTypes::Uint64),
        other => Err(Error::Program(format!(
            "bits must be 8, 16, 32 or 64, not {other}"
        ))),
    }
}
