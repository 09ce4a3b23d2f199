//! Reading and writing keys and ciphertexts. Everything tfhe-rs defines goes through its safe
//! serialization (versioned, with a header, size-limited, and checked for conformance with
//! the engine's parameters where tfhe-rs offers a check): tenants' inputs travel as proven
//! compact lists ([`crate::input`]), results as `SquashedNoiseFheUint`, expanded integers as
//! `FheUint8` … `FheUint64`, keys as `CompressedServerKey`, `CompactPublicKey` and the CRS. Key shares are bincode with a size limit and a check against their
//! parameters. Malformed or oversized input is an [`Error`], never a panic or an unbounded
//! allocation.

use crate::params::{squashed_lwe_dimension, ParamSet, ThresholdParams};
use crate::threshold::{config, KeyHolder, KeyShare, PublicKeySet};
use crate::Error;
use bincode::Options;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tfhe::integer::ciphertext::SquashedNoiseRadixCiphertext;
use tfhe::integer::RadixCiphertext;
use tfhe::safe_serialization::{safe_deserialize, safe_serialize, DeserializationConfig};
use tfhe::{
    CompactPublicKey, CompressedServerKey, ReRandomizationMetadata, SquashedNoiseFheUint, Tag,
};

/// The most bytes any single key file may hold (a compressed server key of the GPU
/// multi-bit set is over 1 GiB).
pub const MAX_KEY_BYTES: u64 = 4 << 30;

/// The most blocks an input ciphertext may have (64-bit integers).
pub const MAX_BLOCKS: usize = 32;

/// Runs `$body` with `$id` the tfhe-rs type id of `$bits`-bit unsigned integers.
macro_rules! by_width {
    ($bits:expr, $id:ident => $body:expr) => {
        match $bits {
            8 => {
                type $id = tfhe::FheUint8Id;
                $body
            }
            16 => {
                type $id = tfhe::FheUint16Id;
                $body
            }
            32 => {
                type $id = tfhe::FheUint32Id;
                $body
            }
            64 => {
                type $id = tfhe::FheUint64Id;
                $body
            }
            other => Err(crate::Error::Program(format!(
                "bits must be 8, 16, 32 or 64, not {other}"
            ))),
        }
    };
}
pub(crate) use by_width;

/// The serialized size bound of a `blocks`-block input ciphertext: each block is an LWE
/// ciphertext of the big key's dimension (the largest of the parameter sets), 8 bytes a
/// word, plus headers.
pub fn radix_size_limit(blocks: usize) -> u64 {
    let lwe = ParamSet::ALL
        .iter()
        .map(|set| {
            let c = set.compute();
            c.glwe_dimension().0 * c.polynomial_size().0 + 1
        })
        .max()
        .expect("at least one parameter set");
    (blocks * (lwe * 8 + 512) + 4096) as u64
}

/// The serialized size bound of a squashed result of `blocks` original blocks.
pub fn squashed_size_limit(blocks: usize) -> u64 {
    ((blocks.div_ceil(2)) * ((squashed_lwe_dimension() + 1) * 16 + 512) + 4096) as u64
}

fn ser_err(e: impl std::fmt::Display) -> Error {
    Error::Serialization(e.to_string())
}

/// Serializes an encrypted `bits`-bit integer as tfhe-rs's `FheUint<bits>`.
pub fn write_radix(ct: &RadixCiphertext, bits: u32) -> Result<Vec<u8>, Error> {
    by_width!(bits, Id => {
        let value = tfhe::FheUint::<Id>::from_raw_parts(ct.clone(), Id::default(), Tag::default(), ReRandomizationMetadata::default());
        let mut out = Vec::new();
        safe_serialize(&value, &mut out, radix_size_limit(MAX_BLOCKS)).map_err(ser_err)?;
        Ok(out)
    })
}

/// Reads an encrypted `bits`-bit integer for a key set of parameter set `set`: refused
/// unless well-formed, within size, and conformant with those parameters (dimension, moduli,
/// block count, degree, noise level).
pub fn read_radix(bytes: &[u8], bits: u32, set: ParamSet) -> Result<RadixCiphertext, Error> {
    by_width!(bits, Id => {
        let blocks = (bits / crate::params::BLOCK_BITS) as usize;
        let limit = radix_size_limit(blocks);
        if bytes.len() as u64 > limit {
            return Err(Error::TooLarge { limit, got: bytes.len() as u64 });
        }
        let conformance: <tfhe::FheUint<Id> as tfhe::prelude::ParameterSetConformant>::ParameterSet =
            set.compute().into();
        let value: tfhe::FheUint<Id> = DeserializationConfig::new(limit)
            .deserialize_from(bytes, &conformance)
            .map_err(|e| Error::Ciphertext(format!("not a {bits}-bit ciphertext for this key set: {e}")))?;
        Ok(value.into_raw_parts().0)
    })
}

/// Serializes a squashed result.
pub fn write_squashed(ct: &SquashedNoiseFheUint) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    safe_serialize(ct, &mut out, squashed_size_limit(MAX_BLOCKS)).map_err(ser_err)?;
    Ok(out)
}

/// Reads a squashed result of at most [`MAX_BLOCKS`] blocks, checked for shape.
pub fn read_squashed(bytes: &[u8]) -> Result<SquashedNoiseRadixCiphertext, Error> {
    let limit = squashed_size_limit(MAX_BLOCKS);
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            limit,
            got: bytes.len() as u64,
        });
    }
    let ct: SquashedNoiseFheUint = safe_deserialize(bytes, limit)
        .map_err(|e| Error::Ciphertext(format!("not a squashed ciphertext: {e}")))?;
    let ct = ct.underlying_squashed_noise_ciphertext().clone();
    crate::threshold::check_squashed(&ct)?;
    Ok(ct)
}

#[derive(Serialize, Deserialize)]
struct KeySetManifest {
    format: String,
    key_id: String,
    params: ThresholdParams,
}

/// v2: the encryption key is the dedicated one of proofs of knowledge, and the CRS is part
/// of the set. A v1 set (made before inputs carried proofs) is refused: make a new one.
const KEYSET_FORMAT: &str = "fornax-fhe-keyset/v2";

/// Writes the public key set into `dir`: `keyset.json`, `public_key.bin`, `crs.bin`,
/// `server_key.bin`.
pub fn save_public(public: &PublicKeySet, dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Io(format!("{}: {e}", dir.display())))?;
    let manifest = KeySetManifest {
        format: KEYSET_FORMAT.into(),
        key_id: hex::encode(public.key_id),
        params: public.params,
    };
    write_file(
        &dir.join("keyset.json"),
        &serde_json::to_vec_pretty(&manifest).map_err(|e| Error::Serialization(e.to_string()))?,
    )?;
    let mut buf = Vec::new();
    safe_serialize(&public.public_key, &mut buf, MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    write_file(&dir.join("public_key.bin"), &buf)?;
    buf.clear();
    safe_serialize(&public.crs, &mut buf, MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    write_file(&dir.join("crs.bin"), &buf)?;
    buf.clear();
    safe_serialize(&public.server_key, &mut buf, MAX_KEY_BYTES)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    write_file(&dir.join("server_key.bin"), &buf)
}

/// Reads a public key set written by [`save_public`], checking each key's conformance with the
/// engine's parameters.
pub fn load_public(dir: &Path) -> Result<PublicKeySet, Error> {
    parse_public(
        &read_file(&dir.join("keyset.json"), 1 << 16)?,
        &read_file(&dir.join("public_key.bin"), MAX_KEY_BYTES)?,
        &read_file(&dir.join("crs.bin"), MAX_KEY_BYTES)?,
        &read_file(&dir.join("server_key.bin"), MAX_KEY_BYTES)?,
    )
}

/// The public key set as one blob (its four files in one bincode record), for the
/// artifact store: workers fetch it by content hash, once.
pub fn write_keyset(public: &PublicKeySet) -> Result<Vec<u8>, Error> {
    let manifest = KeySetManifest {
        format: KEYSET_FORMAT.into(),
        key_id: hex::encode(public.key_id),
        params: public.params,
    };
    let manifest = serde_json::to_vec(&manifest).map_err(ser_err)?;
    let mut public_key = Vec::new();
    safe_serialize(&public.public_key, &mut public_key, MAX_KEY_BYTES).map_err(ser_err)?;
    let mut crs = Vec::new();
    safe_serialize(&public.crs, &mut crs, MAX_KEY_BYTES).map_err(ser_err)?;
    let mut server_key = Vec::new();
    safe_serialize(&public.server_key, &mut server_key, MAX_KEY_BYTES).map_err(ser_err)?;
    bincode::serialize(&(manifest, public_key, crs, server_key)).map_err(ser_err)
}

/// Reads a key set written by [`write_keyset`], with the checks of [`load_public`].
pub fn read_keyset(bytes: &[u8]) -> Result<PublicKeySet, Error> {
    let (manifest, public_key, crs, server_key): (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) =
        bincode::DefaultOptions::new()
            .with_fixint_encoding()
            .with_limit(3 * MAX_KEY_BYTES + (1 << 16))
            .deserialize(bytes)
            .map_err(|e| Error::KeyShare(format!("key set blob: {e}")))?;
    parse_public(&manifest, &public_key, &crs, &server_key)
}

fn parse_public(
    manifest: &[u8],
    public_key: &[u8],
    crs: &[u8],
    server_key: &[u8],
) -> Result<PublicKeySet, Error> {
    let manifest: KeySetManifest = serde_json::from_slice(manifest)
        .map_err(|e| Error::KeyShare(format!("keyset.json: {e}")))?;
    if manifest.format != KEYSET_FORMAT {
        return Err(Error::KeyShare(format!(
            "key set format {:?}, expected {KEYSET_FORMAT}",
            manifest.format
        )));
    }
    manifest.params.check()?;
    let key_id = parse_key_id(&manifest.key_id)?;
    let set = manifest.params.pbs;
    let public_key: CompactPublicKey = DeserializationConfig::new(MAX_KEY_BYTES)
        .deserialize_from(public_key, &set.encryption())
        .map_err(|e| Error::KeyShare(format!("public_key.bin: {e}")))?;
    let crs: tfhe::zk::CompactPkeCrs = DeserializationConfig::new(MAX_KEY_BYTES)
        .deserialize_from(crs, &crate::input::crs_conformance(set)?)
        .map_err(|e| Error::KeyShare(format!("crs.bin: {e}")))?;
    let server_key: CompressedServerKey = DeserializationConfig::new(MAX_KEY_BYTES)
        .deserialize_from(server_key, &config(manifest.params.pbs).into())
        .map_err(|e| Error::KeyShare(format!("server_key.bin: {e}")))?;
    Ok(PublicKeySet {
        params: manifest.params,
        key_id,
        public_key,
        crs,
        server_key,
    })
}

/// Parses a key id from hex.
pub fn parse_key_id(s: &str) -> Result<[u8; 32], Error> {
    hex::decode(s)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| Error::KeyShare(format!("key id {s:?} is not 32 bytes of hex")))
}

fn share_options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(max_share_bytes())
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// The largest serialized key share [`read_share`] accepts.
pub fn max_share_bytes() -> u64 {
    (squashed_lwe_dimension() * crate::ring::MAX_DEGREE * 16 + (1 << 20)) as u64
}

/// Serializes a key share.
pub fn write_share(share: &KeyShare) -> Result<Vec<u8>, Error> {
    let mut out = b"FORNAX-KEYSHARE-1\n".to_vec();
    share_options()
        .serialize_into(&mut out, share)
        .map_err(|e| Error::Serialization(e.to_string()))?;
    Ok(out)
}

/// Reads and checks a key share, ready to serve.
pub fn read_share(bytes: &[u8]) -> Result<KeyHolder, Error> {
    let body = bytes
        .strip_prefix(b"FORNAX-KEYSHARE-1\n".as_slice())
        .ok_or_else(|| Error::KeyShare("not a Fornax key share (bad header)".into()))?;
    let share: KeyShare = share_options()
        .deserialize(body)
        .map_err(|e| Error::KeyShare(e.to_string()))?;
    KeyHolder::new(share)
}

/// Reads a key share file.
pub fn load_share(path: &Path) -> Result<KeyHolder, Error> {
    read_share(&read_file(path, max_share_bytes() + 64)?)
        .map_err(|e| Error::KeyShare(format!("{}: {e}", path.display())))
}

/// Writes a file atomically (temporary file, then rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_with_mode(path, bytes, 0o644)
}

/// Writes a secret (a key share) atomically, readable by its owner only.
///
/// The file is created new (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 from the start): an
/// existing file, or a symlink planted at `path`, is refused rather than overwritten or
/// followed.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", path.display()));
    let mut file = create_new(path, 0o600).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Io(format!(
            "{}: exists already; a secret file is never overwritten",
            path.display()
        )),
        _ => io(e),
    })?;
    use std::io::Write;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Opens `path` as a new file with `mode`, never following a symlink there.
fn create_new(path: &Path, mode: u32) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NOFOLLOW (Linux: 0o400000): with O_EXCL a symlink already fails, this says so.
        options.mode(mode).custom_flags(0o400000);
    }
    #[cfg(not(unix))]
    let _ = mode;
    options.open(path)
}

/// Writes through a new temporary file (random name, created as [`create_new`] does) that
/// is then renamed over `path`: a crash leaves the old file or the new one, and a symlink at
/// either name is replaced, never followed.
fn write_with_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", rand::random::<u64>()));
    let io = |e: std::io::Error| Error::Io(format!("{}: {e}", tmp.display()));
    let mut file = create_new(&tmp, mode).map_err(io)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

/// Reads a file of at most `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let meta =
        std::fs::metadata(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    if meta.len() > limit {
        return Err(Error::TooLarge {
            limit,
            got: meta.len(),
        });
    }
    std::fs::read(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn secret_files_are_new_private_and_never_follow_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("share-1.key");
        write_secret_file(&path, b"secret").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Never overwritten.
        let e = write_secret_file(&path, b"other").unwrap_err().to_string();
        assert!(e.contains("never overwritten"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"secret");
        // A symlink planted where a share goes is refused; its target is untouched.
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, b"victim").unwrap();
        let link = dir.path().join("share-2.key");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(write_secret_file(&link, b"secret").is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"victim");
        // Public files replace a symlink at their name instead of following it.
        let public = dir.path().join("keyset.json");
        std::os::unix::fs::symlink(&target, &public).unwrap();
        write_file(&public, b"{}").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"victim");
        assert!(!std::fs::symlink_metadata(&public)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&public).unwrap(), b"{}");
    }
}
