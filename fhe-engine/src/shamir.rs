//! Shamir sharing over the Galois ring, and robust reconstruction (Reed–Solomon decoding by
//! search over k-subsets) that outputs only what the corruption bound makes certain.
//!
//! **The decoding rule.** With at most t wrong shares (the corruption bound), a polynomial
//! of degree k − 1 that agrees with at least t + k shares agrees with at least k honest
//! ones, so it *is* the honest polynomial: its secret is right, and every share that
//! disagrees with it is certainly wrong. Reconstruction outputs a value only then, and names
//! only those parties. With fewer consistent shares it refuses: k − 1 colluders can make
//! their shares agree with a polynomial of their choice through k − 1 + … honest ones (with
//! exactly k shares, one liar shifts the secret undetectably), so a weaker rule would let
//! them choose the value and blame an honest party. Correction c and detection d always
//! satisfy c + d ≤ m − k; a guaranteed output against t silent or lying parties needs
//! n ≥ 2t + k (n ≥ 3t + 1 for t = k − 1).
//!
//! A secret is the constant term of a random polynomial of degree t = k − 1 over
//! GR(2^128, d); party i holds its value at the exceptional point α_i. Any k shares determine
//! the polynomial (Lagrange interpolation needs the differences α_i − α_j to be units, which
//! holds in the exceptional set), fewer are uniformly distributed whatever the secret.
//!
//! Each party's contribution here is a *vector* of ring elements (one per ciphertext block):
//! all blocks share one polynomial degree and one set of wrong parties, so they are decoded
//! together as one Reed–Solomon code over GR^B.

use crate::ring::{GaloisRing, Gr};
use crate::Error;

/// The most k-subsets robust reconstruction tries before it gives up.
pub const MAX_DECODING_SUBSETS: usize = 200_000;

/// The (n, k) Shamir scheme over one Galois ring.
#[derive(Clone, Copy, Debug)]
pub struct Shamir {
    ring: GaloisRing,
    parties: usize,
    threshold: usize,
}

/// The outcome of a robust reconstruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconstruction {
    /// The reconstructed secrets, one per block (each in Z_{2^128}).
    pub values: Vec<u128>,
    /// Parties whose shares disagreed with the decoded polynomial, in ascending order.
    pub bad_parties: Vec<usize>,
}

impl Shamir {
    /// An (n = `parties`, k = `threshold`) scheme: any k of n shares reconstruct.
    pub fn new(parties: usize, threshold: usize) -> Result<Self, Error> {
        if threshold == 0 || threshold > parties {
            return Err(Error::Parameters(format!(
                "threshold k = {threshold} must be in 1..={parties} (n)"
            )));
        }
        Ok(Shamir {
            ring: GaloisRing::for_parties(parties)?,
            parties,
            threshold,
        })
    }

    /// The ring the shares live in.
    pub fn ring(&self) -> &GaloisRing {
        &self.ring
    }

    /// n, the number of parties.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// k, the number of shares that reconstruct.
    pub fn threshold(&self) -> usize {
        self.threshold
    }

    /// Shares `secret`: element i − 1 of the result is party i's share.
    pub fn share(&self, secret: Gr, rng: &mut impl rand::RngCore) -> Vec<Gr> {
        let coefficients: Vec<Gr> = std::iter::once(secret)
            .chain((1..self.threshold).map(|_| self.ring.random(rng)))
            .collect();
        (1..=self.parties)
            .map(|i| self.evaluate(&coefficients, &self.ring.point(i)))
            .collect()
    }

    fn evaluate(&self, coefficients: &[Gr], at: &Gr) -> Gr {
        coefficients.iter().rev().fold(Gr::ZERO, |acc, c| {
            self.ring.add(&self.ring.mul(&acc, at), c)
        })
    }

    /// The Lagrange coefficients λ_i(at) for the parties in `xs` (distinct, 1-based):
    /// p(at) = Σ λ_i(at) p(α_i) for every p of degree < |xs|.
    pub fn lagrange(&self, xs: &[usize], at: &Gr) -> Result<Vec<Gr>, Error> {
        let ring = &self.ring;
        xs.iter()
            .map(|&i| {
                let ai = ring.point(i);
                let mut num = Gr::constant(1);
                let mut den = Gr::constant(1);
                for &j in xs.iter().filter(|&&j| j != i) {
                    let aj = ring.point(j);
                    num = ring.mul(&num, &ring.sub(at, &aj));
                    den = ring.mul(&den, &ring.sub(&ai, &aj));
                }
                let inv = ring.inv(&den).ok_or_else(|| {
                    Error::Reconstruction(format!("parties {xs:?} are not distinct"))
                })?;
                Ok(ring.mul(&num, &inv))
            })
            .collect()
    }

    fn combine(&self, coefficients: &[Gr], vectors: &[&[Gr]]) -> Vec<Gr> {
        let blocks = vectors[0].len();
        (0..blocks)
            .map(|b| {
                coefficients
                    .iter()
                    .zip(vectors)
                    .fold(Gr::ZERO, |acc, (l, v)| {
                        self.ring.add(&acc, &self.ring.mul(l, &v[b]))
                    })
            })
            .collect()
    }

    /// Reconstructs the secrets from `(party, shares)` pairs under the corruption bound
    /// `max_corrupt` (t: at most t of the shares are wrong; t = k − 1 is what the scheme
    /// promises, t = 0 trusts every share). See the module's decoding rule: a value is
    /// output only when at least t + k shares agree on it, and only shares that disagree
    /// with it are named; otherwise an error, naming nobody. Every party gives one share
    /// per block. With exactly k parties the result is checked only for lying in Z_{2^128}
    /// (a wrong share makes a higher ring coefficient non-zero except with probability
    /// 2^-128); with m > k parties it corrects up to ⌊(m − k)/2⌋ wrong parties and detects up
    /// to m − k.
    pub fn reconstruct(
        &self,
        shares: &[(usize, Vec<Gr>)],
        max_corrupt: usize,
    ) -> Result<Reconstruction, Error> {
        let k = self.threshold;
        let m = shares.len();
        let needed = k + max_corrupt;
        if m < needed {
            return Err(Error::NotEnoughShares { needed, got: m });
        }
        let mut parties: Vec<usize> = shares.iter().map(|(p, _)| *p).collect();
        parties.sort_unstable();
        parties.dedup();
        if parties.len() != m || parties.iter().any(|&p| p == 0 || p > self.parties) {
            return Err(Error::Reconstruction(format!(
                "shares must come from distinct parties in 1..={}",
                self.parties
            )));
        }
        let blocks = shares[0].1.len();
        if shares.iter().any(|(_, v)| v.len() != blocks) {
            return Err(Error::Reconstruction(
                "parties gave different numbers of blocks".into(),
            ));
        }
        // A polynomial supported by `needed` shares is the honest one: at most m − needed
        // shares may disagree with it.
        let max_errors = m - needed;
        let mut tried = 0usize;
        for subset in Combinations::new(m, k) {
            tried += 1;
            if tried > MAX_DECODING_SUBSETS {
                return Err(Error::Reconstruction(format!(
                    "gave up after {MAX_DECODING_SUBSETS} subsets of {m} shares"
                )));
            }
            let xs: Vec<usize> = subset.iter().map(|&s| shares[s].0).collect();
            let vectors: Vec<&[Gr]> = subset.iter().map(|&s| shares[s].1.as_slice()).collect();
            let at_zero = self.combine(&self.lagrange(&xs, &Gr::ZERO)?, &vectors);
            if !at_zero.iter().all(Gr::is_constant) {
                continue;
            }
            let mut bad = Vec::new();
            for (j, (party, values)) in shares.iter().enumerate() {
                if subset.contains(&j) {
                    continue;
                }
                let predicted =
                    self.combine(&self.lagrange(&xs, &self.ring.point(*party))?, &vectors);
                if predicted != *values {
                    bad.push(*party);
                    if bad.len() > max_errors {
                        break;
                    }
                }
            }
            if bad.len() <= max_errors {
                bad.sort_unstable();
                return Ok(Reconstruction {
                    values: at_zero.iter().map(Gr::constant_term).collect(),
                    bad_parties: bad,
                });
            }
        }
        Err(Error::Reconstruction(format!(
            "the {m} answers do not agree: no value is supported by {needed} of them (k = {k} plus the {max_corrupt} that may be corrupt), so none is output and nobody is named"
        )))
    }
}

/// The k-subsets of 0..m in lexicographic order, the first k first.
struct Combinations {
    m: usize,
    current: Option<Vec<usize>>,
}

impl Combinations {
    fn new(m: usize, k: usize) -> Self {
        Combinations {
            m,
            current: (k <= m).then(|| (0..k).collect()),
        }
    }
}

impl Iterator for Combinations {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let out = self.current.clone()?;
        let k = out.len();
        let mut next = out.clone();
        let mut i = k;
        loop {
            if i == 0 {
                self.current = None;
                break;
            }
            i -= 1;
            if next[i] < self.m - k + i {
                next[i] += 1;
                for j in i + 1..k {
                    next[j] = next[j - 1] + 1;
                }
                self.current = Some(next);
                break;
            }
        }
        Some(out)
    }
}

/// C(n, r), saturating at `u64::MAX`.
pub fn binomial(n: u64, r: u64) -> u64 {
    if r > n {
        return 0;
    }
    let r = r.min(n - r);
    let mut acc: u128 = 1;
    for i in 0..r {
        acc = acc * u128::from(n - i) / u128::from(i + 1);
        if acc > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    acc as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The value at `at` of the degree-2 polynomial through (0, `secret`), (α1, `y[0]`) and
    /// (α2, `y[1]`) (Lagrange over those three points).
    fn through_secret_and_two(ring: &GaloisRing, secret: Gr, y: [Gr; 2], at: &Gr) -> Gr {
        let pts = [Gr::ZERO, ring.point(1), ring.point(2)];
        let vals = [secret, y[0], y[1]];
        let mut acc = Gr::ZERO;
        for i in 0..3 {
            let mut l = Gr::constant(1);
            for j in 0..3 {
                if i != j {
                    let inv = ring.inv(&ring.sub(&pts[i], &pts[j])).unwrap();
                    l = ring.mul(&l, &ring.mul(&ring.sub(at, &pts[j]), &inv));
                }
            }
            acc = ring.add(&acc, &ring.mul(&l, &vals[i]));
        }
        acc
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    fn shared(s: &Shamir, secrets: &[u128], rng: &mut impl rand::RngCore) -> Vec<(usize, Vec<Gr>)> {
        let per_block: Vec<Vec<Gr>> = secrets
            .iter()
            .map(|&v| s.share(Gr::constant(v), rng))
            .collect();
        (1..=s.parties())
            .map(|p| (p, per_block.iter().map(|b| b[p - 1]).collect()))
            .collect()
    }

    #[test]
    fn combinations_enumerate_every_subset_once() {
        let all: Vec<Vec<usize>> = Combinations::new(6, 3).collect();
        assert_eq!(all.len() as u64, binomial(6, 3));
        assert_eq!(all[0], vec![0, 1, 2]);
        assert_eq!(all.last().unwrap(), &vec![3, 4, 5]);
        let mut sorted = all.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
        assert_eq!(binomial(5, 3), 10);
        assert_eq!(binomial(16, 8), 12870);
    }

    #[test]
    fn any_k_shares_reconstruct_and_k_minus_1_cannot() {
        let mut rng = rng();
        for (n, k) in [(1, 1), (3, 2), (5, 3), (7, 4), (9, 9)] {
            let s = Shamir::new(n, k).unwrap();
            let secrets: Vec<u128> = (0..3).map(|_| rng.gen()).collect();
            let shares = shared(&s, &secrets, &mut rng);
            for subset in Combinations::new(n, k) {
                let pick: Vec<_> = subset.iter().map(|&i| shares[i].clone()).collect();
                // Trusting every share (t = 0), any k reconstruct.
                let r = s.reconstruct(&pick, 0).unwrap();
                assert_eq!(r.values, secrets, "n={n} k={k} subset {subset:?}");
                assert!(r.bad_parties.is_empty());
            }
            if k > 1 {
                let pick: Vec<_> = shares[..k - 1].to_vec();
                assert!(matches!(
                    s.reconstruct(&pick, 0),
                    Err(Error::NotEnoughShares { .. })
                ));
                // Under the scheme's bound (t = k − 1) exactly k shares are not enough: one
                // of them may shift the secret undetectably.
                let pick: Vec<_> = shares[..k].to_vec();
                assert!(matches!(
                    s.reconstruct(&pick, k - 1),
                    Err(Error::NotEnoughShares { needed, .. }) if needed == 2 * k - 1
                ));
            }
        }
    }

    #[test]
    fn k_minus_1_shares_are_consistent_with_every_secret() {
        // Privacy, concretely: for k − 1 shares of one secret and any other candidate secret,
        // there is a degree-(k − 1) polynomial through those shares and the candidate.
        let mut rng = rng();
        let s = Shamir::new(5, 3).unwrap();
        let secret: u128 = rng.gen();
        let shares = s.share(Gr::constant(secret), &mut rng);
        let candidate: u128 = rng.gen();
        // Interpolate through (0, candidate), party 1 and party 2: the polynomial exists and
        // reproduces the two shares.
        let ring = s.ring();
        let xs = [1usize, 2];
        let at = |p: &Gr| -> Gr {
            through_secret_and_two(ring, Gr::constant(candidate), [shares[0], shares[1]], p)
        };
        for &x in &xs {
            assert_eq!(at(&ring.point(x)), shares[x - 1]);
        }
        assert_eq!(at(&Gr::ZERO), Gr::constant(candidate));
    }

    #[test]
    fn a_wrong_share_is_detected_with_k_and_corrected_with_more() {
        let mut rng = rng();
        let (n, k) = (5, 3);
        let s = Shamir::new(n, k).unwrap();
        let secrets: Vec<u128> = (0..4).map(|_| rng.gen()).collect();
        let mut shares = shared(&s, &secrets, &mut rng);
        let liar = rng.gen_range(0..n);
        let block = rng.gen_range(0..secrets.len());
        let delta: u128 = rng.gen::<u128>() | 1;
        shares[liar].1[block].0[0] = shares[liar].1[block].0[0].wrapping_add(delta);
        let liar_party = shares[liar].0;
        let honest: Vec<_> = shares
            .iter()
            .filter(|(p, _)| *p != liar_party)
            .cloned()
            .collect();
        // k + 1 shares including the liar, at most one corrupt: detected (no polynomial fits
        // k + 1 of them).
        let mut pick: Vec<_> = honest[..k].to_vec();
        pick.push(shares[liar].clone());
        assert!(matches!(
            s.reconstruct(&pick, 1),
            Err(Error::Reconstruction(_))
        ));
        // Exactly k shares including the liar: the error moves the result by λ·δ, which
        // leaves Z_{2^128} whenever λ (the liar's Lagrange coefficient) does.
        let mut pick: Vec<_> = honest[..k - 1].to_vec();
        pick.push(shares[liar].clone());
        let xs: Vec<usize> = pick.iter().map(|(p, _)| *p).collect();
        let lambda = s.lagrange(&xs, &Gr::ZERO).unwrap()[k - 1];
        match s.reconstruct(&pick, 0) {
            Err(Error::Reconstruction(_)) => assert!(!lambda.is_constant()),
            Ok(r) => {
                assert!(
                    lambda.is_constant(),
                    "a wrong share passed with λ = {lambda:?}"
                );
                assert_ne!(r.values, secrets);
            }
            Err(e) => panic!("unexpected error {e}"),
        }
        // All five (k + 2), at most one corrupt: the liar is found and dropped.
        let r = s.reconstruct(&shares, 1).unwrap();
        assert_eq!(r.values, secrets);
        assert_eq!(r.bad_parties, vec![shares[liar].0]);
        // Under the scheme's bound (two may be corrupt) the same five are refused: four
        // agreeing shares could be two honest ones and two colluders.
        assert!(matches!(
            s.reconstruct(&shares, 2),
            Err(Error::Reconstruction(_))
        ));
        // Two liars among five: an error, never a wrong value.
        let other = (liar + 1) % n;
        shares[other].1[0].0[0] = shares[other].1[0].0[0].wrapping_add(1);
        for t in [1, 2] {
            match s.reconstruct(&shares, t) {
                Err(Error::Reconstruction(_)) => {}
                Ok(r) => panic!("two liars decoded to {:?}", r.values),
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }

    /// The attack of the review: k − 1 = 2 colluders make their shares lie on a polynomial
    /// through two honest shares and a secret of their choice. The old rule (agreement with
    /// all but ⌊(m − k)/2⌋) decoded their secret and named an honest party; under the
    /// corruption bound nothing is output and nobody is named with five parties, and with
    /// seven the honest value is output and exactly the liars are named.
    #[test]
    fn colluding_liars_cannot_choose_the_value_or_blame_the_honest() {
        let mut rng = rng();
        for n in [5usize, 7] {
            let k = 3;
            let s = Shamir::new(n, k).unwrap();
            let ring = *s.ring();
            let secret: u128 = rng.gen();
            let chosen: u128 = rng.gen();
            let honest = s.share(Gr::constant(secret), &mut rng);
            // The colluders (parties 4 and 5) know their own shares and see parties 1 and 2's
            // (or guess them: the attack needs only two honest points); they answer with
            // the values of the polynomial through (0, chosen), (α1, y1), (α2, y2).
            let forged = |party: usize| -> Gr {
                through_secret_and_two(
                    &ring,
                    Gr::constant(chosen),
                    [honest[0], honest[1]],
                    &ring.point(party),
                )
            };
            let shares: Vec<(usize, Vec<Gr>)> = (1..=n)
                .map(|p| {
                    let v = if p == 4 || p == 5 {
                        forged(p)
                    } else {
                        honest[p - 1]
                    };
                    (p, vec![v])
                })
                .collect();
            match s.reconstruct(&shares, k - 1) {
                Err(Error::Reconstruction(m)) if n == 5 => {
                    assert!(m.contains("nobody is named"), "{m}")
                }
                Ok(r) if n == 7 => {
                    assert_eq!(r.values, vec![secret], "seven parties: the honest value");
                    assert_eq!(r.bad_parties, vec![4, 5], "only the liars are named");
                }
                other => panic!("n = {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_share_sets_are_errors() {
        let s = Shamir::new(3, 2).unwrap();
        let one = vec![Gr::constant(1)];
        assert!(s
            .reconstruct(&[(1, one.clone()), (1, one.clone())], 0)
            .is_err());
        assert!(s
            .reconstruct(&[(1, one.clone()), (4, one.clone())], 0)
            .is_err());
        assert!(s.reconstruct(&[(1, one.clone()), (2, vec![])], 0).is_err());
        assert!(Shamir::new(3, 4).is_err());
        assert!(Shamir::new(3, 0).is_err());
    }
}
