//! Shamir sharing over the Galois ring, and robust reconstruction (Reed–Solomon decoding by
//! Berlekamp–Welch over the ring) that outputs only what the corruption bound makes certain.
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

    #[cfg(test)]
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
    /// per block.
    ///
    /// Decoding is Berlekamp–Welch over the Galois ring ([`berlekamp_welch`]), block by
    /// block, with the error radius e = min(m − t − k, ⌊(m − k)/2⌋): polynomial in m, and
    /// within the radius where the polynomial it finds is the only one. The parties named
    /// are those wrong in any block, at most e of them. With exactly k parties the result is
    /// checked only for lying in Z_{2^128} (a wrong share makes a higher ring coefficient
    /// non-zero except with probability 2^-128).
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
        let refused = || {
            Error::Reconstruction(format!(
                "the {m} answers do not agree: no value is supported by {needed} of them (k = {k} plus the {max_corrupt} that may be corrupt), so none is output and nobody is named"
            ))
        };
        // A polynomial supported by `needed` shares is the honest one: at most m − needed
        // shares may disagree with it, and Berlekamp–Welch finds it when they are at most
        // ⌊(m − k)/2⌋.
        let radius = (m - needed).min((m - k) / 2);
        let points: Vec<Gr> = shares.iter().map(|(p, _)| self.ring.point(*p)).collect();
        let mut wrong = vec![false; m];
        let mut values = Vec::with_capacity(blocks);
        for b in 0..blocks {
            let ys: Vec<Gr> = shares.iter().map(|(_, v)| v[b]).collect();
            let p = berlekamp_welch(&self.ring, &points, &ys, k, radius).ok_or_else(refused)?;
            if !p[0].is_constant() {
                return Err(refused());
            }
            for (j, (x, y)) in points.iter().zip(&ys).enumerate() {
                wrong[j] |= self.evaluate(&p, x) != *y;
            }
            values.push(p[0].constant_term());
        }
        let mut bad: Vec<usize> = (0..m).filter(|&j| wrong[j]).map(|j| shares[j].0).collect();
        if bad.len() > radius {
            return Err(refused());
        }
        bad.sort_unstable();
        Ok(Reconstruction {
            values,
            bad_parties: bad,
        })
    }
}

/// Berlekamp–Welch decoding over the Galois ring: the coefficients (lowest first, `k` of
/// them) of the polynomial P of degree < `k` with P(x_j) = y_j for all but at most
/// `errors` of the points, or `None` when there is none. The points must be distinct
/// elements of the exceptional set and 2·`errors` + `k` ≤ m; then P is unique.
///
/// It solves Q(x_j) = y_j · E(x_j) for Q of degree < e + k and E monic of degree e, a
/// linear system over the ring ([`solve`]), and divides. Any solution gives P: with E* the
/// error locator (padded to degree e) and Q* = E*·P, Q·E* − Q*·E has degree < m and
/// vanishes on m exceptional points, so it is zero; E* is monic, hence no zero divisor, so
/// Q = E·P and the division by the monic E is exact.
pub fn berlekamp_welch(
    ring: &GaloisRing,
    xs: &[Gr],
    ys: &[Gr],
    k: usize,
    errors: usize,
) -> Option<Vec<Gr>> {
    let e = errors;
    debug_assert!(2 * e + k <= xs.len() && ys.len() == xs.len());
    // Unknowns: E_0 … E_{e−1}, then Q_0 … Q_{e+k−1}. Row j:
    // Σ Q_i x_j^i − y_j Σ_{i<e} E_i x_j^i = y_j x_j^e.
    let mut rows = Vec::with_capacity(xs.len());
    let mut rhs = Vec::with_capacity(xs.len());
    for (x, y) in xs.iter().zip(ys) {
        let powers: Vec<Gr> =
            std::iter::successors(Some(Gr::constant(1)), |p| Some(ring.mul(p, x)))
                .take(e + k)
                .collect();
        let mut row: Vec<Gr> = powers[..e]
            .iter()
            .map(|p| ring.sub(&Gr::ZERO, &ring.mul(y, p)))
            .collect();
        row.extend_from_slice(&powers);
        rows.push(row);
        rhs.push(ring.mul(y, &powers[e]));
    }
    let solution = solve(ring, rows, rhs)?;
    let mut locator = solution[..e].to_vec();
    locator.push(Gr::constant(1));
    let (quotient, remainder) = divide_by_monic(ring, &solution[e..], &locator);
    remainder.iter().all(|r| *r == Gr::ZERO).then_some(quotient)
}

/// Divides `numerator` by the monic `divisor` (coefficients lowest first): (quotient,
/// remainder), the remainder of degree below the divisor's.
fn divide_by_monic(ring: &GaloisRing, numerator: &[Gr], divisor: &[Gr]) -> (Vec<Gr>, Vec<Gr>) {
    let d = divisor.len() - 1;
    let mut rem = numerator.to_vec();
    if rem.len() <= d {
        return (Vec::new(), rem);
    }
    let mut quotient = vec![Gr::ZERO; rem.len() - d];
    for i in (0..quotient.len()).rev() {
        let c = rem[i + d];
        quotient[i] = c;
        for (j, dj) in divisor.iter().enumerate() {
            rem[i + j] = ring.sub(&rem[i + j], &ring.mul(&c, dj));
        }
    }
    rem.truncate(d);
    (quotient, rem)
}

/// The 2-adic valuation of an element: the largest v with 2^v dividing every coefficient
/// (128 for zero). GR(2^128, d) is a chain ring: every element is 2^v times a unit, and its
/// ideals are the 2^v·GR.
fn valuation(a: &Gr) -> u32 {
    a.0.iter().map(|c| c.trailing_zeros()).min().unwrap_or(128)
}

/// a / 2^v for an `a` that 2^v divides: the quotient whose top v bits are zero (the
/// quotients differ by multiples of 2^(128 − v)).
fn halve(a: &Gr, v: u32) -> Gr {
    let mut r = *a;
    for c in r.0.iter_mut() {
        *c = c.checked_shr(v).unwrap_or(0);
    }
    r
}

/// One solution of A·x = b over the Galois ring, or `None` when there is none.
///
/// Gaussian elimination over a chain ring: each step pivots on an entry of least valuation
/// v in what is left (its row and column swapped in), so every entry below and right of it
/// is a multiple of 2^v and the eliminations divide exactly. A solution then exists exactly
/// when the rows past the rank have a zero right side and each pivot row's right side is a
/// multiple of its 2^v (the whole row is); back substitution finds one, free unknowns zero.
pub fn solve(ring: &GaloisRing, mut a: Vec<Vec<Gr>>, mut b: Vec<Gr>) -> Option<Vec<Gr>> {
    let rows = a.len();
    let cols = a.first().map_or(0, Vec::len);
    debug_assert!(b.len() == rows && a.iter().all(|r| r.len() == cols));
    // order[s]: the unknown in column s after the swaps.
    let mut order: Vec<usize> = (0..cols).collect();
    let mut pivots: Vec<(Gr, u32)> = Vec::new();
    for s in 0..rows.min(cols) {
        let (mut least, mut at) = (128, (s, s));
        for (i, row) in a.iter().enumerate().skip(s) {
            for (j, x) in row.iter().enumerate().skip(s) {
                let v = valuation(x);
                if v < least {
                    (least, at) = (v, (i, j));
                }
            }
        }
        if least == 128 {
            break;
        }
        a.swap(s, at.0);
        b.swap(s, at.0);
        if at.1 != s {
            for row in a.iter_mut() {
                row.swap(s, at.1);
            }
            order.swap(s, at.1);
        }
        let unit_inv = ring.inv(&halve(&a[s][s], least))?;
        for i in s + 1..rows {
            if a[i][s] == Gr::ZERO {
                continue;
            }
            let f = ring.mul(&halve(&a[i][s], least), &unit_inv);
            let (top, bottom) = a.split_at_mut(i);
            for (x, p) in bottom[0][s..].iter_mut().zip(&top[s][s..]) {
                *x = ring.sub(x, &ring.mul(&f, p));
            }
            b[i] = ring.sub(&b[i], &ring.mul(&f, &b[s]));
        }
        pivots.push((unit_inv, least));
    }
    let rank = pivots.len();
    if b[rank..].iter().any(|r| *r != Gr::ZERO) {
        return None;
    }
    let mut y = vec![Gr::ZERO; cols];
    for s in (0..rank).rev() {
        let (unit_inv, v) = pivots[s];
        let mut r = b[s];
        for j in s + 1..cols {
            r = ring.sub(&r, &ring.mul(&a[s][j], &y[j]));
        }
        if valuation(&r) < v {
            return None;
        }
        y[s] = ring.mul(&halve(&r, v), &unit_inv);
    }
    let mut x = vec![Gr::ZERO; cols];
    for (s, &j) in order.iter().enumerate() {
        x[j] = y[s];
    }
    Some(x)
}

#[cfg(test)]
/// The k-subsets of 0..m in lexicographic order, the first k first (the tests' exhaustive
/// decoder).
struct Combinations {
    m: usize,
    current: Option<Vec<usize>>,
}

#[cfg(test)]
impl Combinations {
    fn new(m: usize, k: usize) -> Self {
        Combinations {
            m,
            current: (k <= m).then(|| (0..k).collect()),
        }
    }
}

#[cfg(test)]
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

    /// A ring element 2^v times a random one: the non-units a chain ring's solver must
    /// handle.
    fn random_scaled(ring: &GaloisRing, rng: &mut impl Rng) -> Gr {
        let x = ring.random(rng);
        match rng.gen_range(0..4) {
            0 => Gr::ZERO,
            1 => x,
            _ => ring.scale(&x, 1u128 << rng.gen_range(1..128)),
        }
    }

    #[test]
    fn the_ring_solver_finds_a_solution_whenever_there_is_one() {
        let mut rng = rng();
        let ring = GaloisRing::new(3).unwrap();
        let apply = |a: &[Vec<Gr>], x: &[Gr]| -> Vec<Gr> {
            a.iter()
                .map(|row| {
                    row.iter()
                        .zip(x)
                        .fold(Gr::ZERO, |acc, (r, v)| ring.add(&acc, &ring.mul(r, v)))
                })
                .collect()
        };
        for _ in 0..300 {
            let (rows, cols) = (rng.gen_range(1..8), rng.gen_range(1..8));
            let a: Vec<Vec<Gr>> = (0..rows)
                .map(|_| (0..cols).map(|_| random_scaled(&ring, &mut rng)).collect())
                .collect();
            let x: Vec<Gr> = (0..cols).map(|_| random_scaled(&ring, &mut rng)).collect();
            let b = apply(&a, &x);
            let found = solve(&ring, a.clone(), b.clone()).expect("A·x = b has a solution");
            assert_eq!(apply(&a, &found), b, "a = {a:?}");
        }
        // 2·x = 1 and 4·x = 2 have none; x = 1, x = 2 neither; 2·x = 2 does.
        let c = Gr::constant;
        assert_eq!(solve(&ring, vec![vec![c(2)]], vec![c(1)]), None);
        assert_eq!(solve(&ring, vec![vec![c(4)]], vec![c(2)]), None);
        assert_eq!(
            solve(&ring, vec![vec![c(1)], vec![c(1)]], vec![c(1), c(2)]),
            None
        );
        let x = solve(&ring, vec![vec![c(2)]], vec![c(2)]).unwrap();
        assert_eq!(ring.mul(&x[0], &c(2)), c(2));
    }

    /// The decoding rule by exhaustion: the value interpolated from some k shares that at
    /// most `radius` shares disagree with (in any block), with its constant term in
    /// Z_{2^128}; within the unique-decoding radius there is at most one.
    fn exhaustive(
        s: &Shamir,
        shares: &[(usize, Vec<Gr>)],
        radius: usize,
    ) -> Option<Reconstruction> {
        let k = s.threshold();
        for subset in Combinations::new(shares.len(), k) {
            let xs: Vec<usize> = subset.iter().map(|&i| shares[i].0).collect();
            let vectors: Vec<&[Gr]> = subset.iter().map(|&i| shares[i].1.as_slice()).collect();
            let at = |point: &Gr| s.combine(&s.lagrange(&xs, point).unwrap(), &vectors);
            let secret = at(&Gr::ZERO);
            let mut bad: Vec<usize> = shares
                .iter()
                .filter(|(p, v)| at(&s.ring().point(*p)) != *v)
                .map(|(p, _)| *p)
                .collect();
            bad.sort_unstable();
            if bad.len() <= radius && secret.iter().all(Gr::is_constant) {
                return Some(Reconstruction {
                    values: secret.iter().map(Gr::constant_term).collect(),
                    bad_parties: bad,
                });
            }
        }
        None
    }

    /// Berlekamp–Welch over the ring against the exhaustive decoder, on errors a liar would
    /// choose: random ones, ones divisible by a high power of 2 (invisible to decoding
    /// modulo 2, the ring's trap), ones in a single ring coefficient, and shares moved onto
    /// another polynomial of degree < k.
    #[test]
    fn berlekamp_welch_decodes_as_the_exhaustive_search_on_adversarial_errors() {
        let mut rng = rng();
        let mut decoded = 0;
        for round in 0..400 {
            let n = rng.gen_range(3..=9);
            let k = rng.gen_range(1..=n);
            let s = Shamir::new(n, k).unwrap();
            let ring = *s.ring();
            let blocks = rng.gen_range(1..=3);
            let secrets: Vec<u128> = (0..blocks).map(|_| rng.gen()).collect();
            let mut shares = shared(&s, &secrets, &mut rng);
            // m of the n parties answer, in a random order.
            let m = rng.gen_range(k..=n);
            for i in (1..n).rev() {
                shares.swap(i, rng.gen_range(0..=i));
            }
            shares.truncate(m);
            let t = rng.gen_range(0..k.min(m - k + 1));
            let other: Vec<Gr> = (0..k).map(|_| ring.random(&mut rng)).collect();
            let liars = rng.gen_range(0..=m.min(3));
            for j in 0..liars {
                let (party, values) = &mut shares[j];
                let b = rng.gen_range(0..blocks);
                values[b] = match rng.gen_range(0..4) {
                    0 => ring.add(&values[b], &ring.random(&mut rng)),
                    1 => ring.add(
                        &values[b],
                        &ring.scale(&Gr::constant(1), 1u128 << rng.gen_range(64..128)),
                    ),
                    2 => {
                        let mut e = Gr::ZERO;
                        e.0[rng.gen_range(0..ring.degree())] = 1u128 << rng.gen_range(0..128);
                        ring.add(&values[b], &e)
                    }
                    _ => s.evaluate(&other, &ring.point(*party)),
                };
            }
            let radius = (m - k - t).min((m - k) / 2);
            let got = s.reconstruct(&shares, t).ok();
            let want = exhaustive(&s, &shares, radius);
            assert_eq!(
                got, want,
                "round {round}: n={n} k={k} m={m} t={t} liars={liars}"
            );
            decoded += usize::from(got.is_some());
            if liars <= radius {
                // Within the radius the honest value comes out and exactly the liars are
                // named.
                let r = got.expect("within the radius");
                assert_eq!(r.values, secrets, "round {round}");
                let mut named: Vec<usize> = shares[..liars].iter().map(|(p, _)| *p).collect();
                named.sort_unstable();
                assert_eq!(r.bad_parties, named, "round {round}");
            }
        }
        assert!(decoded > 100, "only {decoded} of 400 decoded");
    }

    /// 63 key holders with k = 21 and 20 liars (t = 20): the exhaustive search would try up
    /// to C(63, 21) ≈ 10^16 subsets; Berlekamp–Welch solves one 63 × 62 system per block.
    #[test]
    fn twenty_liars_among_sixty_three_are_corrected_in_polynomial_time() {
        let mut rng = rng();
        let (n, k, t) = (63, 21, 20);
        let s = Shamir::new(n, k).unwrap();
        let ring = *s.ring();
        let secrets: Vec<u128> = (0..2).map(|_| rng.gen()).collect();
        let mut shares = shared(&s, &secrets, &mut rng);
        let mut liars: Vec<usize> = (1..=n).collect();
        for i in (1..n).rev() {
            liars.swap(i, rng.gen_range(0..=i));
        }
        liars.truncate(t);
        liars.sort_unstable();
        let lie = |values: &mut Vec<Gr>, rng: &mut rand_chacha::ChaCha20Rng| {
            let b = rng.gen_range(0..values.len());
            let high = ring.scale(&ring.random(rng), 1u128 << rng.gen_range(1..128));
            values[b] = ring.add(&values[b], &high);
        };
        for &p in &liars {
            lie(&mut shares[p - 1].1, &mut rng);
        }
        let r = s.reconstruct(&shares, t).unwrap();
        assert_eq!(r.values, secrets);
        assert_eq!(r.bad_parties, liars);
        // 22 liars: 41 = t + k shares still agree, but that is more errors than
        // Berlekamp–Welch's radius ⌊(63 − 21)/2⌋ = 21 holds unique: refused, nobody named.
        let honest: Vec<usize> = (1..=n).filter(|p| !liars.contains(p)).collect();
        for &p in &honest[..2] {
            lie(&mut shares[p - 1].1, &mut rng);
        }
        match s.reconstruct(&shares, t) {
            Err(Error::Reconstruction(m)) => assert!(m.contains("nobody is named"), "{m}"),
            other => panic!("22 liars: {other:?}"),
        }
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
