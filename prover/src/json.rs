//! snarkjs's JSON: `proof.json`, `public.json` and `verification_key.json`.
//!
//! Numbers are decimal strings of canonical values; points are affine with a trailing
//! projective `"1"` (`["0","1","0"]` for infinity); G2 coordinates are `[c0, c1]`.

use ark_bn254::{Bn254, Fq, Fq2, Fr, G1Affine, G2Affine};
use ark_ec::pairing::Pairing;
use ark_ec::AffineRepr;
use ark_ff::{BigInteger256, PrimeField};
use num_bigint::BigUint;
use serde::{Deserialize, Serialize};

use crate::verify::{Proof, VerifyingKey};
use crate::ProverError;

/// `proof.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProofJson {
    /// A.
    pub pi_a: Vec<String>,
    /// B.
    pub pi_b: Vec<Vec<String>>,
    /// C.
    pub pi_c: Vec<String>,
    /// Always `groth16`.
    pub protocol: String,
    /// Always `bn128`.
    #[serde(default = "bn128")]
    pub curve: String,
}

fn bn128() -> String {
    "bn128".into()
}

/// `verification_key.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct VerificationKeyJson {
    /// Always `groth16`.
    pub protocol: String,
    /// Always `bn128`.
    pub curve: String,
    /// Number of public inputs.
    #[serde(rename = "nPublic")]
    pub n_public: usize,
    /// [α]₁.
    pub vk_alpha_1: Vec<String>,
    /// [β]₂.
    pub vk_beta_2: Vec<Vec<String>>,
    /// [γ]₂.
    pub vk_gamma_2: Vec<Vec<String>>,
    /// [δ]₂.
    pub vk_delta_2: Vec<Vec<String>>,
    /// e(α, β), informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vk_alphabeta_12: Option<serde_json::Value>,
    /// The public inputs' points.
    #[serde(rename = "IC")]
    pub ic: Vec<Vec<String>>,
}

/// Parses a decimal string as a canonical value below `modulus`.
fn parse_canonical(s: &str, modulus: &BigInteger256) -> Option<BigInteger256> {
    if s.is_empty() || s.len() > 80 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = BigUint::parse_bytes(s.as_bytes(), 10)?;
    let digits = v.to_u64_digits();
    if digits.len() > 4 {
        return None;
    }
    let mut l = [0u64; 4];
    l[..digits.len()].copy_from_slice(&digits);
    let b = BigInteger256::new(l);
    (b < *modulus).then_some(b)
}

fn fq(s: &str) -> Option<Fq> {
    Fq::from_bigint(parse_canonical(s, &Fq::MODULUS)?)
}

/// Parses a field element of Fr given as a decimal string; `None` unless `0 ≤ v < r`.
pub fn fr_from_decimal(s: &str) -> Option<Fr> {
    Fr::from_bigint(parse_canonical(s, &Fr::MODULUS)?)
}

fn g1_json(p: &G1Affine) -> Vec<String> {
    match p.xy() {
        Some((x, y)) => vec![x.to_string(), y.to_string(), "1".into()],
        None => vec!["0".into(), "1".into(), "0".into()],
    }
}

fn g2_json(p: &G2Affine) -> Vec<Vec<String>> {
    match p.xy() {
        Some((x, y)) => vec![
            vec![x.c0.to_string(), x.c1.to_string()],
            vec![y.c0.to_string(), y.c1.to_string()],
            vec!["1".into(), "0".into()],
        ],
        None => vec![
            vec!["0".into(), "0".into()],
            vec!["1".into(), "0".into()],
            vec!["0".into(), "0".into()],
        ],
    }
}

fn g1_parse(file: &str, what: &str, v: &[String]) -> Result<G1Affine, ProverError> {
    let bad = |p: &str| ProverError::format(file, format!("{what}: {p}"));
    if v.len() != 3 {
        return Err(bad("expected [x, y, z]"));
    }
    let z = fq(&v[2]).ok_or_else(|| bad("z is not a base-field element"))?;
    if z == Fq::from(0u64) {
        return Ok(G1Affine::identity());
    }
    if z != Fq::from(1u64) {
        return Err(bad("z must be 1 (affine) or 0 (infinity)"));
    }
    let x = fq(&v[0]).ok_or_else(|| bad("x is not a base-field element"))?;
    let y = fq(&v[1]).ok_or_else(|| bad("y is not a base-field element"))?;
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(bad("not a point on the curve"));
    }
    Ok(p)
}

fn g2_parse(file: &str, what: &str, v: &[Vec<String>]) -> Result<G2Affine, ProverError> {
    let bad = |p: &str| ProverError::format(file, format!("{what}: {p}"));
    if v.len() != 3 || v.iter().any(|c| c.len() != 2) {
        return Err(bad("expected [[x0, x1], [y0, y1], [z0, z1]]"));
    }
    let f2 = |c: &[String]| -> Result<Fq2, ProverError> {
        Ok(Fq2::new(
            fq(&c[0]).ok_or_else(|| bad("coordinate is not a base-field element"))?,
            fq(&c[1]).ok_or_else(|| bad("coordinate is not a base-field element"))?,
        ))
    };
    let z = f2(&v[2])?;
    if z == Fq2::from(0u64) {
        return Ok(G2Affine::identity());
    }
    if z != Fq2::from(1u64) {
        return Err(bad("z must be 1 (affine) or 0 (infinity)"));
    }
    let p = G2Affine::new_unchecked(f2(&v[0])?, f2(&v[1])?);
    if !p.is_on_curve() {
        return Err(bad("not a point on the curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(bad("not in the prime-order subgroup"));
    }
    Ok(p)
}

fn check_header(file: &str, protocol: &str, curve: &str) -> Result<(), ProverError> {
    if protocol != "groth16" {
        return Err(ProverError::format(
            file,
            format!("protocol {protocol:?} is not groth16"),
        ));
    }
    if curve != "bn128" && curve != "bn254" {
        return Err(ProverError::format(
            file,
            format!("curve {curve:?} is not bn128"),
        ));
    }
    Ok(())
}

impl ProofJson {
    /// The JSON form of a proof.
    pub fn from_proof(p: &Proof) -> Self {
        ProofJson {
            pi_a: g1_json(&p.a),
            pi_b: g2_json(&p.b),
            pi_c: g1_json(&p.c),
            protocol: "groth16".into(),
            curve: "bn128".into(),
        }
    }

    /// The proof, with every coordinate checked; `file` names the source in errors.
    pub fn to_proof(&self, file: &str) -> Result<Proof, ProverError> {
        check_header(file, &self.protocol, &self.curve)?;
        Ok(Proof {
            a: g1_parse(file, "pi_a", &self.pi_a)?,
            b: g2_parse(file, "pi_b", &self.pi_b)?,
            c: g1_parse(file, "pi_c", &self.pi_c)?,
        })
    }
}

impl VerificationKeyJson {
    /// The JSON form of a verifying key.
    pub fn from_key(vk: &VerifyingKey) -> Self {
        let gt = Bn254::pairing(vk.alpha1, vk.beta2).0;
        let fq2 = |x: &Fq2| serde_json::json!([x.c0.to_string(), x.c1.to_string()]);
        let fq6 = |x: &ark_bn254::Fq6| serde_json::json!([fq2(&x.c0), fq2(&x.c1), fq2(&x.c2)]);
        VerificationKeyJson {
            protocol: "groth16".into(),
            curve: "bn128".into(),
            n_public: vk.n_public(),
            vk_alpha_1: g1_json(&vk.alpha1),
            vk_beta_2: g2_json(&vk.beta2),
            vk_gamma_2: g2_json(&vk.gamma2),
            vk_delta_2: g2_json(&vk.delta2),
            vk_alphabeta_12: Some(serde_json::json!([fq6(&gt.c0), fq6(&gt.c1)])),
            ic: vk.ic.iter().map(g1_json).collect(),
        }
    }

    /// The verifying key, with every point checked; `file` names the source in errors.
    pub fn to_key(&self, file: &str) -> Result<VerifyingKey, ProverError> {
        check_header(file, &self.protocol, &self.curve)?;
        if self.ic.len() != self.n_public + 1 {
            return Err(ProverError::format(
                file,
                format!(
                    "nPublic is {} but IC holds {} points (expected nPublic + 1)",
                    self.n_public,
                    self.ic.len()
                ),
            ));
        }
        Ok(VerifyingKey {
            alpha1: g1_parse(file, "vk_alpha_1", &self.vk_alpha_1)?,
            beta2: g2_parse(file, "vk_beta_2", &self.vk_beta_2)?,
            gamma2: g2_parse(file, "vk_gamma_2", &self.vk_gamma_2)?,
            delta2: g2_parse(file, "vk_delta_2", &self.vk_delta_2)?,
            ic: self
                .ic
                .iter()
                .enumerate()
                .map(|(i, p)| g1_parse(file, &format!("IC[{i}]"), p))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// `public.json`: the public signals as decimal strings.
pub fn public_to_json(public: &[Fr]) -> Vec<String> {
    public.iter().map(|x| x.to_string()).collect()
}

/// Parses `public.json`'s values, rejecting anything that is not a canonical field element.
pub fn public_from_json(file: &str, values: &[serde_json::Value]) -> Result<Vec<Fr>, ProverError> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
                _ => {
                    return Err(ProverError::format(
                        file,
                        format!("public signal #{i} is not a decimal string"),
                    ))
                }
            };
            fr_from_decimal(&s).ok_or_else(|| {
                ProverError::format(
                    file,
                    format!("public signal #{i} ({s:?}) is not a field element below r"),
                )
            })
        })
        .collect()
}

/// Reads and parses a JSON file into `T`, naming the file in errors.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, ProverError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ProverError::Io {
        file: file.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ProverError::format(file, format!("not valid JSON of the expected shape: {e}"))
    })
}

/// Writes `value` as pretty JSON, naming the file in errors.
pub fn write_json<T: Serialize>(path: &std::path::Path, value: &T) -> Result<(), ProverError> {
    let text = serde_json::to_string_pretty(value).expect("serialisable");
    std::fs::write(path, text + "\n").map_err(|source| ProverError::Io {
        file: path.display().to_string(),
        source,
    })
}
