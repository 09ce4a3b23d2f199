//! Pseudo-random secret sharing (PRSS) of the flooding noise, as in Cramer–Damgård–Ishai
//! and the threshold decryption of Zama's KMS.
//!
//! For every set A of n − t parties (t = k − 1) the dealer gives its members a key K_A. The
//! degree-t polynomial f_A with f_A(0) = 1 that vanishes at the t points outside A is public.
//! For a context x (here: a digest of the ciphertext block), party i's share of the noise is
//! Σ_{A ∋ i} r_A · f_A(α_i), with r_A = PRF(K_A, x) uniform in [−B, B). These are Shamir
//! shares, of degree t, of E = Σ_A r_A, so they interpolate like the key shares they are
//! added to, and the reconstruction's higher ring coefficients stay zero.
//!
//! Any t corrupt parties miss the key of the set of the n − t others, so at least one term
//! of E is pseudo-random and unknown to them: E floods the ciphertext's noise. |E| is at most
//! C(n, t) · B, which the parameter check keeps below the decoding margin.

use crate::ring::{GaloisRing, Gr};
use crate::shamir::Shamir;
use crate::Error;
use serde::{Deserialize, Serialize};

/// A PRSS key of one set A, as its members hold it. Its `Debug` shows the members only,
/// and the key is overwritten with zeros when the value is dropped.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetKey {
    /// The members of A, bit i − 1 for party i.
    pub members: u64,
    /// K_A.
    pub key: [u8; 32],
}

impl std::fmt::Debug for SetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetKey")
            .field("members", &format_args!("{:#b}", self.members))
            .field("key", &"<secret>")
            .finish()
    }
}

impl Drop for SetKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// All sets A of `size` parties among `parties`, as member masks in increasing order.
pub fn sets(parties: usize, size: usize) -> Vec<u64> {
    (0u64..1 << parties)
        .filter(|m| m.count_ones() as usize == size)
        .collect()
}

/// f_A(α_i) for the set `members` and its member `party`: Π_{j ∉ A} (α_j − α_i) / α_j.
pub fn set_coefficient(
    ring: &GaloisRing,
    shamir: &Shamir,
    members: u64,
    party: usize,
) -> Result<Gr, Error> {
    let ai = ring.point(party);
    let mut acc = Gr::constant(1);
    for j in (1..=shamir.parties()).filter(|j| members & (1 << (j - 1)) == 0) {
        let aj = ring.point(j);
        let inv = ring
            .inv(&aj)
            .ok_or_else(|| Error::Parameters(format!("point of party {j} is not a unit")))?;
        acc = ring.mul(&acc, &ring.mul(&ring.sub(&aj, &ai), &inv));
    }
    Ok(acc)
}

/// r_A = PRF(K_A, context): uniform in [−2^bits, 2^bits), as a two's-complement u128.
pub fn noise(key: &[u8; 32], context: &[u8; 32], bits: u32) -> u128 {
    debug_assert!(bits < 127);
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(b"fornax/prss-noise/v1");
    hasher.update(context);
    let mut out = [0u8; 16];
    hasher.finalize_xof().fill(&mut out);
    let raw = u128::from_le_bytes(out) & ((1u128 << (bits + 1)) - 1);
    raw.wrapping_sub(1u128 << bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_key_never_prints_its_secret() {
        let key = SetKey {
            members: 0b1011,
            key: [0xab; 32],
        };
        let shown = format!("{key:?} {key:#?}");
        assert!(
            !shown.contains("171") && !shown.to_lowercase().contains("ab, "),
            "{shown}"
        );
        assert!(
            shown.contains("0b1011") && shown.contains("<secret>"),
            "{shown}"
        );
    }
    use rand::{Rng, SeedableRng};

    #[test]
    fn noise_shares_interpolate_to_the_sum_of_the_set_noises() {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        for (n, k) in [(3, 2), (5, 3), (6, 2), (4, 4)] {
            let shamir = Shamir::new(n, k).unwrap();
            let ring = *shamir.ring();
            let t = k - 1;
            let all = sets(n, n - t);
            let keys: Vec<[u8; 32]> = all.iter().map(|_| rng.gen()).collect();
            let context: [u8; 32] = rng.gen();
            let bits = 100;
            let expected = all.iter().zip(&keys).fold(0u128, |acc, (_, key)| {
                acc.wrapping_add(noise(key, &context, bits))
            });
            let shares: Vec<(usize, Vec<Gr>)> = (1..=n)
                .map(|i| {
                    let mut acc = Gr::ZERO;
                    for (members, key) in all.iter().zip(&keys) {
                        if members & (1 << (i - 1)) != 0 {
                            let c = set_coefficient(&ring, &shamir, *members, i).unwrap();
                            acc = ring.add(&acc, &ring.scale(&c, noise(key, &context, bits)));
                        }
                    }
                    (i, vec![acc])
                })
                .collect();
            let r = shamir.reconstruct(&shares, 0).unwrap();
            assert_eq!(r.values, vec![expected], "n={n} k={k}");
            let e = expected as i128;
            assert!(e.unsigned_abs() <= (all.len() as u128) << bits);
        }
    }

    #[test]
    fn noise_is_in_range_and_depends_on_key_and_context() {
        let key = [7u8; 32];
        let mut seen_negative = false;
        for i in 0..200u8 {
            let v = noise(&key, &[i; 32], 20) as i128;
            assert!((-(1 << 20)..(1 << 20)).contains(&v));
            seen_negative |= v < 0;
        }
        assert!(seen_negative);
        assert_eq!(noise(&key, &[1; 32], 90), noise(&key, &[1; 32], 90));
        assert_ne!(noise(&key, &[1; 32], 90), noise(&key, &[2; 32], 90));
        assert_ne!(noise(&[8; 32], &[1; 32], 90), noise(&key, &[1; 32], 90));
    }
}
