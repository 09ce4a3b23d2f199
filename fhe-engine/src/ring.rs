//! The Galois ring GR(2^128, d) = Z_{2^128}[X]/F(X) that the threshold key is shared over.
//!
//! Shamir sharing needs evaluation points whose pairwise differences are invertible. In
//! Z_{2^128} only odd numbers are units, so two points at most (0 and 1) qualify and plain
//! Shamir over Z_{2^k} is unsound. In GR(2^128, d), with F monic of degree d and irreducible
//! modulo 2, an element is a unit exactly when its reduction modulo 2 is non-zero, and the
//! 2^d elements whose coefficients are all 0 or 1 have pairwise differences that are units
//! (their difference is non-zero modulo 2). They are the *exceptional set*: the secret sits
//! at 0 and party i at the element whose coefficients are the bits of i, so n parties need
//! 2^d > n.

use crate::Error;

/// The largest extension degree supported (n ≤ 255 parties).
pub const MAX_DEGREE: usize = 8;

/// The lower coefficients f_0 … f_{d−1} of the monic F(X) = X^d + Σ f_i X^i used for each
/// degree d, as a bit mask (bit i = f_i). Each is irreducible over F_2 (checked in a test).
const MODULI: [u32; MAX_DEGREE + 1] = [
    0,
    0,
    0b11,        // d = 2: X^2 + X + 1
    0b1011,      // d = 3: X^3 + X + 1
    0b10011,     // d = 4: X^4 + X + 1
    0b100101,    // d = 5: X^5 + X^2 + 1
    0b1000011,   // d = 6: X^6 + X + 1
    0b10000011,  // d = 7: X^7 + X + 1
    0b100011011, // d = 8: X^8 + X^4 + X^3 + X + 1
];

/// An element of GR(2^128, d): coefficients of 1, X, …, X^{d−1} (higher ones are zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Gr(pub [u128; MAX_DEGREE]);

impl Gr {
    /// The zero element.
    pub const ZERO: Gr = Gr([0; MAX_DEGREE]);

    /// The element with constant coefficient `c` (the embedding of Z_{2^128}).
    pub fn constant(c: u128) -> Gr {
        let mut x = Gr::ZERO;
        x.0[0] = c;
        x
    }

    /// The constant coefficient.
    pub fn constant_term(&self) -> u128 {
        self.0[0]
    }

    /// Whether every coefficient above the constant one is zero, i.e. the element lies in
    /// Z_{2^128}.
    pub fn is_constant(&self) -> bool {
        self.0[1..].iter().all(|&c| c == 0)
    }
}

/// The ring GR(2^128, d) for one degree d: its arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaloisRing {
    degree: usize,
    /// f_0 … f_{d−1}, the lower coefficients of F.
    low: [u128; MAX_DEGREE],
}

impl GaloisRing {
    /// The ring of extension degree `degree` (2 ≤ degree ≤ 8).
    pub fn new(degree: usize) -> Result<Self, Error> {
        if !(2..=MAX_DEGREE).contains(&degree) {
            return Err(Error::Parameters(format!(
                "Galois ring degree {degree} is outside 2..={MAX_DEGREE}"
            )));
        }
        let mask = MODULI[degree];
        let mut low = [0u128; MAX_DEGREE];
        for (i, c) in low.iter_mut().enumerate().take(degree) {
            *c = u128::from((mask >> i) & 1);
        }
        Ok(GaloisRing { degree, low })
    }

    /// The smallest ring (degree ≥ 2) whose exceptional set holds 0 and `parties` points.
    pub fn for_parties(parties: usize) -> Result<Self, Error> {
        let degree = (2..=MAX_DEGREE)
            .find(|&d| (1usize << d) > parties)
            .ok_or_else(|| {
                Error::Parameters(format!(
                    "{parties} parties need a Galois ring of degree above {MAX_DEGREE}"
                ))
            })?;
        GaloisRing::new(degree)
    }

    /// The extension degree d.
    pub fn degree(&self) -> usize {
        self.degree
    }

    /// The exceptional point of party `i` (1-based): the element whose coefficients are the
    /// bits of `i`.
    pub fn point(&self, i: usize) -> Gr {
        debug_assert!(i < (1 << self.degree));
        let mut x = Gr::ZERO;
        for (b, c) in x.0.iter_mut().enumerate().take(self.degree) {
            *c = ((i >> b) & 1) as u128;
        }
        x
    }

    /// a + b.
    pub fn add(&self, a: &Gr, b: &Gr) -> Gr {
        let mut r = *a;
        for (x, y) in r.0.iter_mut().zip(b.0.iter()) {
            *x = x.wrapping_add(*y);
        }
        r
    }

    /// a − b.
    pub fn sub(&self, a: &Gr, b: &Gr) -> Gr {
        let mut r = *a;
        for (x, y) in r.0.iter_mut().zip(b.0.iter()) {
            *x = x.wrapping_sub(*y);
        }
        r
    }

    /// c · a for c in Z_{2^128}.
    pub fn scale(&self, a: &Gr, c: u128) -> Gr {
        let mut r = *a;
        for x in r.0.iter_mut().take(self.degree) {
            *x = x.wrapping_mul(c);
        }
        r
    }

    /// a · b, reduced modulo F.
    pub fn mul(&self, a: &Gr, b: &Gr) -> Gr {
        let d = self.degree;
        let mut wide = [0u128; 2 * MAX_DEGREE];
        for i in 0..d {
            if a.0[i] == 0 {
                continue;
            }
            for j in 0..d {
                wide[i + j] = wide[i + j].wrapping_add(a.0[i].wrapping_mul(b.0[j]));
            }
        }
        // X^d ≡ −Σ f_i X^i: fold the high coefficients down, from the top.
        for m in (d..2 * d - 1).rev() {
            let c = wide[m];
            if c == 0 {
                continue;
            }
            wide[m] = 0;
            for i in 0..d {
                if self.low[i] != 0 {
                    wide[m - d + i] = wide[m - d + i].wrapping_sub(c.wrapping_mul(self.low[i]));
                }
            }
        }
        let mut r = Gr::ZERO;
        r.0[..d].copy_from_slice(&wide[..d]);
        r
    }

    /// Whether `a` is a unit: its reduction modulo 2 is non-zero.
    pub fn is_unit(&self, a: &Gr) -> bool {
        a.0[..self.degree].iter().any(|c| c & 1 == 1)
    }

    /// a⁻¹, or `None` when `a` is not a unit. The inverse modulo 2 (in F_{2^d}) is found by
    /// search, then lifted to 2^128 by Newton's iteration x ← x(2 − ax), which doubles the
    /// number of correct bits each step.
    pub fn inv(&self, a: &Gr) -> Option<Gr> {
        if !self.is_unit(a) {
            return None;
        }
        let reduced = self.reduce_mod2(a);
        let mut x = (1..1usize << self.degree)
            .map(|i| self.point(i))
            .find(|cand| self.reduce_mod2(&self.mul(&reduced, cand)) == Gr::constant(1))?;
        let two = Gr::constant(2);
        for _ in 0..7 {
            x = self.mul(&x, &self.sub(&two, &self.mul(a, &x)));
        }
        debug_assert_eq!(self.mul(a, &x), Gr::constant(1));
        Some(x)
    }

    fn reduce_mod2(&self, a: &Gr) -> Gr {
        let mut r = *a;
        for c in r.0.iter_mut() {
            *c &= 1;
        }
        r
    }

    /// Random element, coefficients uniform in Z_{2^128}.
    pub fn random(&self, rng: &mut impl rand::RngCore) -> Gr {
        let mut x = Gr::ZERO;
        for c in x.0.iter_mut().take(self.degree) {
            *c = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Polynomial remainder over F_2 of `a` by `b` (bit masks).
    fn rem_f2(mut a: u32, b: u32) -> u32 {
        let db = 31 - b.leading_zeros();
        while a != 0 && 31 - a.leading_zeros() >= db {
            a ^= b << (31 - a.leading_zeros() - db);
        }
        a
    }

    #[test]
    fn every_modulus_is_irreducible_over_f2() {
        for (d, low) in MODULI.iter().enumerate().skip(2) {
            let f = low | (1 << d);
            for g in 2u32..(1 << (d / 2 + 1)) {
                assert_ne!(rem_f2(f, g), 0, "degree {d}: {f:b} divisible by {g:b}");
            }
        }
    }

    #[test]
    fn exceptional_points_differ_by_units_and_invert() {
        for d in 2..=MAX_DEGREE {
            let ring = GaloisRing::new(d).unwrap();
            let points: Vec<Gr> = (0..1usize << d).map(|i| ring.point(i)).collect();
            for (i, a) in points.iter().enumerate() {
                for b in &points[i + 1..] {
                    let diff = ring.sub(a, b);
                    let inv = ring
                        .inv(&diff)
                        .expect("difference of exceptional points is a unit");
                    assert_eq!(ring.mul(&diff, &inv), Gr::constant(1));
                }
            }
            // 2 is never a unit: the reason plain Z_{2^k} Shamir fails.
            assert!(ring.inv(&Gr::constant(2)).is_none());
        }
    }

    #[test]
    fn ring_axioms_on_random_elements() {
        let seed: u64 = rand::random();
        println!("seed {seed}");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        for d in 2..=MAX_DEGREE {
            let ring = GaloisRing::new(d).unwrap();
            for _ in 0..50 {
                let (a, b, c) = (
                    ring.random(&mut rng),
                    ring.random(&mut rng),
                    ring.random(&mut rng),
                );
                assert_eq!(ring.mul(&a, &b), ring.mul(&b, &a));
                assert_eq!(
                    ring.mul(&ring.mul(&a, &b), &c),
                    ring.mul(&a, &ring.mul(&b, &c))
                );
                assert_eq!(
                    ring.mul(&a, &ring.add(&b, &c)),
                    ring.add(&ring.mul(&a, &b), &ring.mul(&a, &c))
                );
                assert_eq!(ring.scale(&a, 7), ring.mul(&a, &Gr::constant(7)));
                if let Some(ai) = ring.inv(&a) {
                    assert_eq!(ring.mul(&a, &ai), Gr::constant(1));
                }
            }
        }
    }

    #[test]
    fn degree_follows_the_number_of_parties() {
        assert_eq!(GaloisRing::for_parties(3).unwrap().degree(), 2);
        assert_eq!(GaloisRing::for_parties(4).unwrap().degree(), 3);
        assert_eq!(GaloisRing::for_parties(5).unwrap().degree(), 3);
        assert_eq!(GaloisRing::for_parties(255).unwrap().degree(), 8);
        assert!(GaloisRing::for_parties(256).is_err());
    }
}
