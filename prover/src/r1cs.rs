//! circom's `.r1cs` constraint systems: header (section 1), constraints (2), wire labels (3).

use ark_bn254::Fr;
use ark_ff::PrimeField;
use fornax_kernels::scalar::{bigint_from_le_bytes, fr_from_le_bytes};

use crate::binfile::{self, BinFile, Reader};
use crate::ProverError;

/// A linear combination: (wire, coefficient) terms.
pub type Lc = Vec<(u32, Fr)>;

/// An R1CS: constraints `⟨A,w⟩·⟨B,w⟩ = ⟨C,w⟩` over wires `w` with `w[0] = 1`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct R1cs {
    /// Number of wires including the constant.
    pub n_wires: usize,
    /// Public outputs (wires 1..=n_pub_out).
    pub n_pub_out: usize,
    /// Public inputs (after the outputs).
    pub n_pub_in: usize,
    /// Private inputs.
    pub n_prv_in: usize,
    /// The constraints (A, B, C).
    pub constraints: Vec<(Lc, Lc, Lc)>,
}

impl R1cs {
    /// Public signals (outputs and public inputs), snarkjs's `nPublic`.
    pub fn n_public(&self) -> usize {
        self.n_pub_out + self.n_pub_in
    }

    /// Reads an `.r1cs` file.
    pub fn read(path: &std::path::Path) -> Result<Self, ProverError> {
        let bytes = binfile::read_file(path)?;
        Self::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Parses an `.r1cs` held in memory; `file` names it in errors.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, ProverError> {
        let bin = BinFile::parse(file, bytes, b"r1cs", 1)?;
        let s1 = bin.section(1, "header")?;
        let mut r = Reader::new(file, "1 (header)", &s1);
        let fs = r.u32()? as usize;
        if fs != 32 {
            return Err(r.error(format!("field elements of {fs} bytes; BN254 needs 32")));
        }
        let prime = bigint_from_le_bytes(r.take(32)?.try_into().expect("32 bytes"));
        if prime != Fr::MODULUS {
            return Err(r.error("the circuit is over another field than BN254's scalar field (compile with -p bn128)"));
        }
        let n_wires = r.u32()? as usize;
        let n_pub_out = r.u32()? as usize;
        let n_pub_in = r.u32()? as usize;
        let n_prv_in = r.u32()? as usize;
        let _labels = r.u64()?;
        let n_constraints = r.u32()? as usize;
        if 1 + n_pub_out + n_pub_in + n_prv_in > n_wires {
            return Err(r.error("more inputs and outputs than wires"));
        }
        let s2 = bin.section(2, "constraints")?;
        let mut r = Reader::new(file, "2 (constraints)", &s2);
        let mut constraints = Vec::with_capacity(n_constraints);
        for k in 0..n_constraints {
            let mut lc = || -> Result<Lc, ProverError> {
                let terms = r.u32()? as usize;
                if terms > r.remaining() / 36 {
                    return Err(r.error(format!(
                        "constraint #{k} declares {terms} terms past the end"
                    )));
                }
                (0..terms)
                    .map(|_| {
                        let wire = r.u32()?;
                        if wire as usize >= n_wires {
                            return Err(
                                r.error(format!("constraint #{k} names wire {wire} of {n_wires}"))
                            );
                        }
                        let c: &[u8; 32] = r.take(32)?.try_into().expect("32 bytes");
                        let c = fr_from_le_bytes(c)
                            .ok_or_else(|| r.error(format!("constraint #{k}: coefficient ≥ r")))?;
                        Ok((wire, c))
                    })
                    .collect()
            };
            let a = lc()?;
            let b = lc()?;
            let c = lc()?;
            constraints.push((a, b, c));
        }
        Ok(R1cs {
            n_wires,
            n_pub_out,
            n_pub_in,
            n_prv_in,
            constraints,
        })
    }

    /// Whether `witness` satisfies every constraint; the first failing constraint otherwise.
    pub fn check(&self, witness: &[Fr]) -> Result<(), usize> {
        let eval = |lc: &Lc| lc.iter().map(|(w, c)| witness[*w as usize] * c).sum::<Fr>();
        match self
            .constraints
            .iter()
            .position(|(a, b, c)| eval(a) * eval(b) != eval(c))
        {
            Some(k) => Err(k),
            None => Ok(()),
        }
    }
}
