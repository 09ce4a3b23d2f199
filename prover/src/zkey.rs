//! snarkjs's Groth16 `.zkey`: reading (with every field checked) and writing.
//!
//! Layout (all little endian): sections 1 (protocol = 1), 2 (header: q, r, nVars, nPublic,
//! domainSize, α₁, β₁, β₂, γ₂, δ₁, δ₂), 3 (IC), 4 (A and B coefficients), 5 (A), 6 (B in G1),
//! 7 (B in G2), 8 (C, private wires), 9 (H), 10 (contributions). Base-field coordinates are
//! stored in Montgomery form, G2 as `x.c0 x.c1 y.c0 y.c1`, the point at infinity as zeros;
//! coefficients are stored as `v·R² mod r`.

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger256, PrimeField, Zero};
use rayon::prelude::*;

use fornax_kernels::scalar::bigint_from_le_bytes;

use crate::binfile::{self, BinFile, Reader};
use crate::verify::VerifyingKey;
use crate::ProverError;

/// Bytes of a G1 point.
pub const G1_BYTES: usize = 64;
/// Bytes of a G2 point.
pub const G2_BYTES: usize = 128;
/// Bytes of one coefficient entry in section 4.
pub const COEF_BYTES: usize = 12 + 32;

/// One non-zero entry of the A or B matrix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coef {
    /// 0 for A, 1 for B.
    pub matrix: u8,
    /// The constraint (row).
    pub row: u32,
    /// The wire (column).
    pub signal: u32,
    /// The coefficient.
    pub value: Fr,
}

/// A Groth16 proving key in snarkjs's layout.
#[derive(Clone, Debug, PartialEq)]
pub struct ProvingKey {
    /// Number of wires, including the constant 1 at index 0.
    pub n_vars: usize,
    /// Number of public signals (outputs and public inputs), excluding the constant.
    pub n_public: usize,
    /// Size of the evaluation domain (a power of two).
    pub domain_size: usize,
    /// [α]₁.
    pub alpha1: G1Affine,
    /// [β]₁.
    pub beta1: G1Affine,
    /// [β]₂.
    pub beta2: G2Affine,
    /// [γ]₂.
    pub gamma2: G2Affine,
    /// [δ]₁.
    pub delta1: G1Affine,
    /// [δ]₂.
    pub delta2: G2Affine,
    /// The public inputs' points, `n_public + 1` of them.
    pub ic: Vec<G1Affine>,
    /// A and B matrix entries, including snarkjs's rows for the public inputs.
    pub coefs: Vec<Coef>,
    /// [A_i(τ)]₁ for every wire.
    pub a: Vec<G1Affine>,
    /// [B_i(τ)]₁ for every wire.
    pub b1: Vec<G1Affine>,
    /// [B_i(τ)]₂ for every wire.
    pub b2: Vec<G2Affine>,
    /// The private wires' points, `n_vars - n_public - 1` of them.
    pub c: Vec<G1Affine>,
    /// The H points, `domain_size` of them.
    pub h: Vec<G1Affine>,
}

/// The 256-bit little-endian integer in the first 32 bytes of `b`.
fn limbs(b: &[u8]) -> BigInteger256 {
    bigint_from_le_bytes(b[..32].try_into().expect("32 bytes"))
}

/// An Fq stored in Montgomery form; `None` if the representation is not below q.
fn fq_mont(b: &[u8]) -> Option<Fq> {
    let l = limbs(b);
    (l < Fq::MODULUS).then(|| Fq::new_unchecked(l))
}

fn g1_from(b: &[u8]) -> Result<G1Affine, &'static str> {
    let x = fq_mont(&b[..32]).ok_or("x coordinate is not below q")?;
    let y = fq_mont(&b[32..64]).ok_or("y coordinate is not below q")?;
    if x.is_zero() && y.is_zero() {
        return Ok(G1Affine::identity());
    }
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err("point is not on the curve");
    }
    Ok(p)
}

fn g2_from(b: &[u8]) -> Result<G2Affine, &'static str> {
    let f = |o: usize| fq_mont(&b[o..o + 32]).ok_or("coordinate is not below q");
    let x = Fq2::new(f(0)?, f(32)?);
    let y = Fq2::new(f(64)?, f(96)?);
    if x.is_zero() && y.is_zero() {
        return Ok(G2Affine::identity());
    }
    let p = G2Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err("point is not on the curve");
    }
    Ok(p)
}

fn put_fq(out: &mut Vec<u8>, v: &Fq) {
    for l in v.0 .0 {
        out.extend_from_slice(&l.to_le_bytes());
    }
}

fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    match p.xy() {
        Some((x, y)) => {
            put_fq(out, &x);
            put_fq(out, &y);
        }
        None => out.extend_from_slice(&[0u8; G1_BYTES]),
    }
}

fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    match p.xy() {
        Some((x, y)) => {
            for c in [x.c0, x.c1, y.c0, y.c1] {
                put_fq(out, &c);
            }
        }
        None => out.extend_from_slice(&[0u8; G2_BYTES]),
    }
}

fn put_big(out: &mut Vec<u8>, l: &BigInteger256) {
    for x in l.0 {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Items parsed per piece of a section: pieces of a few MiB are read (from a file) and
/// parsed in parallel one after another, so a section is never held whole.
const CHUNK_ITEMS: usize = 1 << 16;

/// One entry of section 4, checked against the key's shape.
fn coef_from(b: &[u8], domain_size: usize, n_vars: usize) -> Result<Coef, String> {
    let word = |k: usize| u32::from_le_bytes(b[4 * k..4 * k + 4].try_into().expect("4 bytes"));
    let (matrix, row, signal) = (word(0), word(1), word(2));
    if matrix > 1 {
        return Err(format!("matrix {matrix} is neither A (0) nor B (1)"));
    }
    if row as usize >= domain_size {
        return Err(format!(
            "constraint {row} is outside the domain of {domain_size}"
        ));
    }
    if signal as usize >= n_vars {
        return Err(format!("signal {signal} is not among the {n_vars} wires"));
    }
    let stored = limbs(&b[12..44]);
    if stored >= Fr::MODULUS {
        return Err("value is not below r".into());
    }
    // Stored as v·R²: read as a Montgomery representation it is v·R, whose canonical value
    // read as a Montgomery representation again is v.
    let value = Fr::new_unchecked(Fr::new_unchecked(stored).into_bigint());
    Ok(Coef {
        matrix: matrix as u8,
        row,
        signal,
        value,
    })
}

/// Parses a whole section of `count` points of `size` bytes, piece by piece.
fn points<P: Send + Default>(
    bin: &BinFile<'_>,
    id: u32,
    name: &str,
    count: usize,
    size: usize,
    parse: impl Fn(&[u8]) -> Result<P, &'static str> + Sync,
) -> Result<Vec<P>, ProverError> {
    let len = bin.section_len(id, name)?;
    if len != count * size {
        return Err(ProverError::format(
            bin.file(),
            format!(
                "section {id} ({name}) holds {len} bytes, expected {} for {count} points",
                count * size
            ),
        ));
    }
    items(bin, (id, name), 0, count, size, "point", |b| {
        parse(b).map_err(String::from)
    })
}

/// Parses `count` items of `size` bytes of section `id` (named `name`) from byte `from`
/// on, [`CHUNK_ITEMS`] at a time, each piece in parallel; an error names the first bad
/// `item` of its piece by its index.
///
/// The items are written straight into the result, in place (an item that fails holds a
/// default until the piece's error is returned): a key's sections are tens of MiB, and
/// collecting each piece into a vector of its own and copying it over cost a page fault
/// per page twice more, most of the time of loading a key.
fn items<T: Send + Default>(
    bin: &BinFile<'_>,
    (id, name): (u32, &str),
    from: usize,
    count: usize,
    size: usize,
    item: &str,
    parse: impl Fn(&[u8]) -> Result<T, String> + Sync,
) -> Result<Vec<T>, ProverError> {
    let file = bin.file();
    let mut out = Vec::with_capacity(count);
    let first_error = std::sync::Mutex::new(None::<(usize, String)>);
    bin.for_each_chunk(id, name, from, size * CHUNK_ITEMS, |first, data| {
        let base = (first - from) / size;
        out.par_extend(data.par_chunks(size).enumerate().map(|(i, b)| {
            parse(b).unwrap_or_else(|e| {
                let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                if slot.as_ref().is_none_or(|(j, _)| base + i < *j) {
                    *slot = Some((base + i, e));
                }
                T::default()
            })
        }));
        match first_error.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some((index, e)) => Err(ProverError::format(
                file,
                format!("section {id} ({name}), {item} #{index}: {e}"),
            )),
            None => Ok(()),
        }
    })?;
    Ok(out)
}

impl ProvingKey {
    /// Reads a `.zkey` file, section by section: the file is never held whole in memory
    /// (its point sections are parsed in chunks of a few MiB).
    pub fn read(path: &std::path::Path) -> Result<Self, ProverError> {
        let name = path.display().to_string();
        let handle = std::fs::File::open(path).map_err(|source| ProverError::Io {
            file: name.clone(),
            source,
        })?;
        Self::from_file(&name, &handle)
    }

    /// Parses an open `.zkey` file section by section; `file` names it in errors.
    pub fn from_file(file: &str, handle: &std::fs::File) -> Result<Self, ProverError> {
        Self::parse(&BinFile::open(file, handle, b"zkey", 2)?)
    }

    /// Parses a `.zkey` held in memory; `file` names it in errors.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, ProverError> {
        Self::parse(&BinFile::parse(file, bytes, b"zkey", 2)?)
    }

    fn parse(bin: &BinFile<'_>) -> Result<Self, ProverError> {
        let file = bin.file();
        let s1 = bin.section(1, "protocol")?;
        let mut r = Reader::new(file, "1 (protocol)", &s1);
        let protocol = r.u32()?;
        if protocol != 1 {
            return Err(ProverError::format(
                file,
                format!("protocol {protocol} is not Groth16 (1)"),
            ));
        }

        let s2 = bin.section(2, "Groth16 header")?;
        let mut r = Reader::new(file, "2 (Groth16 header)", &s2);
        let n8q = r.u32()? as usize;
        if n8q != 32 || limbs(r.take(32)?) != Fq::MODULUS {
            return Err(r.error("base field is not BN254's (bn128)"));
        }
        let n8r = r.u32()? as usize;
        if n8r != 32 || limbs(r.take(32)?) != Fr::MODULUS {
            return Err(r.error("scalar field is not BN254's (bn128)"));
        }
        let n_vars = r.u32()? as usize;
        let n_public = r.u32()? as usize;
        let domain_size = r.u32()? as usize;
        if n_public + 1 > n_vars {
            return Err(r.error(format!("{n_public} public signals but only {n_vars} wires")));
        }
        if !domain_size.is_power_of_two() || domain_size > 1 << 28 {
            return Err(r.error(format!(
                "domain size {domain_size} is not a power of two up to 2^28"
            )));
        }
        let g1 = |r: &mut Reader<'_>, what: &str| {
            let b = r.take(G1_BYTES)?;
            g1_from(b).map_err(|e| r.error(format!("{what}: {e}")))
        };
        let g2 = |r: &mut Reader<'_>, what: &str| {
            let b = r.take(G2_BYTES)?;
            g2_from(b).map_err(|e| r.error(format!("{what}: {e}")))
        };
        let alpha1 = g1(&mut r, "alpha_1")?;
        let beta1 = g1(&mut r, "beta_1")?;
        let beta2 = g2(&mut r, "beta_2")?;
        let gamma2 = g2(&mut r, "gamma_2")?;
        let delta1 = g1(&mut r, "delta_1")?;
        let delta2 = g2(&mut r, "delta_2")?;

        let ic = points(bin, 3, "IC", n_public + 1, G1_BYTES, g1_from)?;

        let s4 = bin.section_range(
            4,
            "coefficients",
            0,
            4.min(bin.section_len(4, "coefficients")?),
        )?;
        let mut r = Reader::new(file, "4 (coefficients)", &s4);
        let n_coefs = r.u32()? as usize;
        let stored = bin.section_len(4, "coefficients")? - 4;
        if stored != n_coefs * COEF_BYTES {
            return Err(r.error(format!(
                "declares {n_coefs} coefficients ({} bytes) but holds {stored} bytes",
                n_coefs * COEF_BYTES,
            )));
        }
        let coefs = items(
            bin,
            (4, "coefficients"),
            4,
            n_coefs,
            COEF_BYTES,
            "entry",
            |b| coef_from(b, domain_size, n_vars),
        )?;

        let a = points(bin, 5, "A", n_vars, G1_BYTES, g1_from)?;
        let b1 = points(bin, 6, "B1", n_vars, G1_BYTES, g1_from)?;
        let b2 = points(bin, 7, "B2", n_vars, G2_BYTES, g2_from)?;
        let c = points(bin, 8, "C", n_vars - n_public - 1, G1_BYTES, g1_from)?;
        let h = points(bin, 9, "H", domain_size, G1_BYTES, g1_from)?;
        Ok(ProvingKey {
            n_vars,
            n_public,
            domain_size,
            alpha1,
            beta1,
            beta2,
            gamma2,
            delta1,
            delta2,
            ic,
            coefs,
            a,
            b1,
            b2,
            c,
            h,
        })
    }

    /// The `.zkey` bytes (sections in order 1..10; an empty contribution list).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut s2 = Vec::new();
        s2.extend_from_slice(&32u32.to_le_bytes());
        put_big(&mut s2, &Fq::MODULUS);
        s2.extend_from_slice(&32u32.to_le_bytes());
        put_big(&mut s2, &Fr::MODULUS);
        for v in [self.n_vars, self.n_public, self.domain_size] {
            s2.extend_from_slice(&(v as u32).to_le_bytes());
        }
        put_g1(&mut s2, &self.alpha1);
        put_g1(&mut s2, &self.beta1);
        put_g2(&mut s2, &self.beta2);
        put_g2(&mut s2, &self.gamma2);
        put_g1(&mut s2, &self.delta1);
        put_g2(&mut s2, &self.delta2);
        let g1s = |ps: &[G1Affine]| {
            let mut out = Vec::with_capacity(ps.len() * G1_BYTES);
            ps.iter().for_each(|p| put_g1(&mut out, p));
            out
        };
        let mut s4 = Vec::with_capacity(4 + self.coefs.len() * COEF_BYTES);
        s4.extend_from_slice(&(self.coefs.len() as u32).to_le_bytes());
        for c in &self.coefs {
            s4.extend_from_slice(&(c.matrix as u32).to_le_bytes());
            s4.extend_from_slice(&c.row.to_le_bytes());
            s4.extend_from_slice(&c.signal.to_le_bytes());
            // v·R² is the Montgomery representation of the element v·R.
            let v_r = Fr::from_bigint(c.value.0).expect("a Montgomery representation is below r");
            put_big(&mut s4, &v_r.0);
        }
        let mut s7 = Vec::with_capacity(self.b2.len() * G2_BYTES);
        self.b2.iter().for_each(|p| put_g2(&mut s7, p));
        let mut s10 = vec![0u8; 64];
        s10.extend_from_slice(&0u32.to_le_bytes());
        binfile::write(
            b"zkey",
            1,
            &[
                (1, 1u32.to_le_bytes().to_vec()),
                (2, s2),
                (3, g1s(&self.ic)),
                (4, s4),
                (5, g1s(&self.a)),
                (6, g1s(&self.b1)),
                (7, s7),
                (8, g1s(&self.c)),
                (9, g1s(&self.h)),
                (10, s10),
            ],
        )
    }

    /// The verifying key contained in this proving key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            alpha1: self.alpha1,
            beta2: self.beta2,
            gamma2: self.gamma2,
            delta2: self.delta2,
            ic: self.ic.clone(),
        }
    }

    /// log2 of the domain size.
    pub fn log_domain(&self) -> u32 {
        self.domain_size.trailing_zeros()
    }

    /// Bytes the key occupies in memory, roughly.
    pub fn memory_bytes(&self) -> u64 {
        let g1 = std::mem::size_of::<G1Affine>() as u64;
        let g2 = std::mem::size_of::<G2Affine>() as u64;
        (self.a.len() + self.b1.len() + self.c.len() + self.h.len() + self.ic.len()) as u64 * g1
            + self.b2.len() as u64 * g2
            + self.coefs.len() as u64 * std::mem::size_of::<Coef>() as u64
    }
}
