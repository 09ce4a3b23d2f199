//! Proofs and keys as EVM Groth16 verifiers take them: the one encoder that the node's API
//! (`?format=calldata`), the chain adapter (`submitResult`, on-chain verifying keys) and the
//! Solidity verifier generator share.
//!
//! A verifier with snarkjs's ABI, `verifyProof(uint[2] a, uint[2][2] b, uint[2] c, uint[n]
//! input)`, takes G1 points as (x, y) and G2 points in the pairing precompile's order, the
//! imaginary part of each coordinate first: (x.c1, x.c0, y.c1, y.c0). The point at infinity
//! is all zeros. Every value is a 256-bit big-endian word.

use ark_bn254::{Fq, Fr, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};

use crate::Proof;

/// A G1 point's coordinates as a verifier takes them: (x, y), or zeros for infinity.
pub fn g1_coordinates(p: &G1Affine) -> [Fq; 2] {
    p.xy().map_or([Fq::zero(); 2], |(x, y)| [x, y])
}

/// A G2 point's coordinates in the precompile's order: x.c1, x.c0, y.c1, y.c0.
pub fn g2_coordinates(p: &G2Affine) -> [Fq; 4] {
    p.xy()
        .map_or([Fq::zero(); 4], |(x, y)| [x.c1, x.c0, y.c1, y.c0])
}

/// A proof's eight coordinates in `verifyProof`'s order: A (x, y), B (x.c1, x.c0, y.c1,
/// y.c0), C (x, y).
pub fn proof_coordinates(proof: &Proof) -> [Fq; 8] {
    let [ax, ay] = g1_coordinates(&proof.a);
    let [bx1, bx0, by1, by0] = g2_coordinates(&proof.b);
    let [cx, cy] = g1_coordinates(&proof.c);
    [ax, ay, bx1, bx0, by1, by0, cx, cy]
}

/// A field element (canonical, below its modulus) as a big-endian `uint256`.
pub fn word<F: PrimeField>(f: F) -> [u8; 32] {
    let bytes = f.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// A proof as `verifyProof`'s first three arguments, flattened into eight words.
pub fn proof_words(proof: &Proof) -> [[u8; 32]; 8] {
    proof_coordinates(proof).map(word)
}

/// A public signal as the verifier's `uint256`.
pub fn signal_word(signal: Fr) -> [u8; 32] {
    word(signal)
}

/// The arguments of `verifyProof` as text, exactly as `snarkjs zkey export
/// soliditycalldata public.json proof.json` prints them: each value quoted, `0x` and 64 hex
/// digits; pairs separated by ", ", the groups and the signals by ",".
pub fn solidity_calldata(proof: &Proof, public: &[Fr]) -> String {
    let hex = |w: [u8; 32]| {
        let digits: String = w.iter().map(|b| format!("{b:02x}")).collect();
        format!("\"0x{digits}\"")
    };
    let [ax, ay, bx1, bx0, by1, by0, cx, cy] = proof_words(proof).map(hex);
    let signals: Vec<String> = public.iter().map(|s| hex(signal_word(*s))).collect();
    format!(
        "[{ax}, {ay}],[[{bx1}, {bx0}],[{by1}, {by0}]],[{cx}, {cy}],[{}]",
        signals.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::UniformRand;
    use rand::SeedableRng;

    #[test]
    fn words_are_big_endian_and_g2_is_imaginary_first() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let a = (ark_bn254::G1Projective::generator() * Fr::rand(&mut rng)).into_affine();
        let b = (ark_bn254::G2Projective::generator() * Fr::rand(&mut rng)).into_affine();
        let proof = Proof {
            a,
            b,
            c: G1Affine::identity(),
        };
        let words = proof_words(&proof);
        let (bx, by) = b.xy().unwrap();
        assert_eq!(words[0], word(a.x().unwrap()));
        assert_eq!(words[2], word(bx.c1));
        assert_eq!(words[3], word(bx.c0));
        assert_eq!(words[5], word(by.c0));
        assert_eq!(words[6], [0u8; 32], "infinity is zeros");
        assert_eq!(word(Fr::from(258u64))[30..], [1, 2]);
        let text = solidity_calldata(&proof, &[Fr::from(1u64), Fr::from(255u64)]);
        assert!(text.starts_with("[\"0x"), "{text}");
        assert!(text.ends_with(&format!(
            ",[\"0x{}01\",\"0x{}ff\"]",
            "0".repeat(62),
            "0".repeat(62)
        )));
        assert_eq!(text.matches("\"0x").count(), 10);
    }
}
