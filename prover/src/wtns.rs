//! circom's `.wtns` witness files: magic `wtns`, version 2, section 1 (n8, prime, count) and
//! section 2 (the values, little endian, canonical form).

use ark_bn254::Fr;
use ark_ff::PrimeField;
use fornax_kernels::scalar::{bigint_from_le_bytes, fr_to_le_bytes, frs_from_le_bytes};
use fornax_kernels::KernelError;

use crate::binfile::{self, BinFile, Reader};
use crate::ProverError;

/// Reads a witness file.
pub fn read(path: &std::path::Path) -> Result<Vec<Fr>, ProverError> {
    let bytes = binfile::read_file(path)?;
    from_bytes(&path.display().to_string(), &bytes)
}

/// Parses a witness held in memory; `file` names it in errors.
pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Vec<Fr>, ProverError> {
    let bin = BinFile::parse(file, bytes, b"wtns", 2)?;
    let s1 = bin.section(1, "header")?;
    let mut r = Reader::new(file, "1 (header)", &s1);
    let n8 = r.u32()? as usize;
    if n8 != 32 {
        return Err(r.error(format!("field elements of {n8} bytes; BN254 needs 32")));
    }
    let prime = bigint_from_le_bytes(r.take(32)?.try_into().expect("32 bytes"));
    if prime != Fr::MODULUS {
        return Err(r.error("the witness is over another field than BN254's scalar field"));
    }
    let count = r.u32()? as usize;
    let data = bin.section(2, "witness values")?;
    if data.len() != count * 32 {
        return Err(ProverError::format(
            file,
            format!(
                "section 2 holds {} bytes, expected {} for {count} values",
                data.len(),
                count * 32
            ),
        ));
    }
    let values = frs_from_le_bytes(&data).map_err(|e| match e {
        KernelError::ScalarOutOfRange { index } => ProverError::format(
            file,
            format!("witness value #{index} is not below the field modulus"),
        ),
        other => ProverError::Kernel(other),
    })?;
    if values.first() != Some(&Fr::from(1u64)) {
        return Err(ProverError::format(
            file,
            "witness value #0 must be 1 (the constant wire)",
        ));
    }
    Ok(values)
}

/// The `.wtns` bytes of a witness.
pub fn to_bytes(values: &[Fr]) -> Vec<u8> {
    let mut header = Vec::with_capacity(40);
    header.extend_from_slice(&32u32.to_le_bytes());
    for l in Fr::MODULUS.0 {
        header.extend_from_slice(&l.to_le_bytes());
    }
    header.extend_from_slice(&(values.len() as u32).to_le_bytes());
    let mut data = Vec::with_capacity(values.len() * 32);
    for v in values {
        data.extend_from_slice(&fr_to_le_bytes(v));
    }
    binfile::write(b"wtns", 2, &[(1, header), (2, data)])
}
