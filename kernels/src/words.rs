//! Field elements and points as the device kernels (CUDA and WGSL alike) see them: 32-bit
//! words, least significant first, in Montgomery form — the very bytes of arkworks' 64-bit
//! limbs, so moving data is a copy. Affine infinity is written (0, 0); XYZZ results come
//! back as Jacobian points.

use ark_bn254::{Fq, Fq2, Fr};
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, Field, Zero};
use rayon::prelude::*;

/// The 32-bit limbs (least significant first) of a 256-bit integer given as 64-bit limbs.
pub fn u32_limbs(limbs: &[u64; 4]) -> [u32; 8] {
    std::array::from_fn(|i| (limbs[i / 2] >> (32 * (i % 2))) as u32)
}

/// -p⁻¹ mod 2³² for an odd p (Newton's iteration doubles the correct bits each step).
pub fn neg_inverse_u32(p0: u32) -> u32 {
    let mut inv: u32 = 1;
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(p0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

/// `g^i` for i < len (NTT twiddles), computed in parallel chunks.
pub fn powers(g: Fr, len: usize) -> Vec<Fr> {
    const CHUNK: usize = 1 << 14;
    let mut out = vec![Fr::ONE; len];
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(k, chunk)| {
            let mut x = g.pow([(k * CHUNK) as u64]);
            for v in chunk {
                *v = x;
                x *= g;
            }
        });
    out
}

/// The four tables of the GPU kernels' `ntt_scale`: c·h^j, h^(256j), h^(65536j), h^(2^24·j) for j < 256.
pub fn scale_tables(c: Fr, h: Fr) -> Vec<Fr> {
    let mut out = Vec::with_capacity(1024);
    let mut step = h;
    for table in 0..4 {
        let mut x = if table == 0 { c } else { Fr::ONE };
        for _ in 0..256 {
            out.push(x);
            x *= step;
        }
        // step^256 for the next table.
        for _ in 0..8 {
            step.square_in_place();
        }
    }
    out
}

/// A field the kernels compute in, with its word layout.
pub trait GpuField: Field {
    /// 32-bit words an element occupies.
    const WORDS: usize;
    /// Appends the element's Montgomery words.
    fn push_words(&self, out: &mut Vec<u32>);
    /// The element with these Montgomery words (as the kernels write them, below p).
    fn from_words(words: &[u32]) -> Self;
}

fn limbs_to_words(limbs: &[u64; 4], out: &mut Vec<u32>) {
    for l in limbs {
        out.push(*l as u32);
        out.push((*l >> 32) as u32);
    }
}

fn words_to_limbs(words: &[u32]) -> [u64; 4] {
    std::array::from_fn(|i| words[2 * i] as u64 | (words[2 * i + 1] as u64) << 32)
}

impl GpuField for Fq {
    const WORDS: usize = 8;
    fn push_words(&self, out: &mut Vec<u32>) {
        limbs_to_words(&self.0 .0, out);
    }
    fn from_words(words: &[u32]) -> Self {
        Fq::new_unchecked(BigInt::new(words_to_limbs(words)))
    }
}

impl GpuField for Fr {
    const WORDS: usize = 8;
    fn push_words(&self, out: &mut Vec<u32>) {
        limbs_to_words(&self.0 .0, out);
    }
    fn from_words(words: &[u32]) -> Self {
        Fr::new_unchecked(BigInt::new(words_to_limbs(words)))
    }
}

impl GpuField for Fq2 {
    const WORDS: usize = 16;
    fn push_words(&self, out: &mut Vec<u32>) {
        self.c0.push_words(out);
        self.c1.push_words(out);
    }
    fn from_words(words: &[u32]) -> Self {
        Fq2::new(Fq::from_words(&words[..8]), Fq::from_words(&words[8..16]))
    }
}

/// Fr elements as the 64-bit limbs of their Montgomery form, for upload (in parallel: at
/// 2^24 elements this copy is half a gigabyte).
pub fn fr_limbs(values: &[Fr]) -> Vec<u64> {
    let mut out = vec![0u64; 4 * values.len()];
    out.par_chunks_mut(4 * 4096)
        .zip(values.par_chunks(4096))
        .for_each(|(out, values)| {
            for (o, v) in out.chunks_exact_mut(4).zip(values) {
                o.copy_from_slice(&v.0 .0);
            }
        });
    out
}

/// The inverse of [`fr_limbs`], into `values` (in parallel).
pub fn fr_from_limbs(limbs: &[u64], values: &mut [Fr]) {
    values
        .par_chunks_mut(4096)
        .zip(limbs.par_chunks(4 * 4096))
        .for_each(|(values, limbs)| {
            for (v, l) in values.iter_mut().zip(limbs.chunks_exact(4)) {
                *v = Fr::new_unchecked(BigInt::new([l[0], l[1], l[2], l[3]]));
            }
        });
}

/// A curve whose MSM the kernels run, named as in the kernels (`g1`, `g2`).
pub trait GpuCurve: SWCurveConfig<ScalarField = Fr>
where
    Self::BaseField: GpuField,
{
    /// The suffix of the curve's kernels.
    const NAME: &'static str;
    /// Words of an affine point.
    const AFFINE_WORDS: usize = 2 * <Self::BaseField as GpuField>::WORDS;
    /// Words of an XYZZ point.
    const XYZZ_WORDS: usize = 4 * <Self::BaseField as GpuField>::WORDS;

    /// Appends an affine point's words, (0, 0) for infinity.
    fn push_affine(p: &Affine<Self>, out: &mut Vec<u32>) {
        if p.is_zero() {
            out.extend(std::iter::repeat_n(0, Self::AFFINE_WORDS));
        } else {
            p.x.push_words(out);
            p.y.push_words(out);
        }
    }

    /// The point with these XYZZ words (x = X/ZZ, y = Y/ZZZ; ZZ = 0 is infinity), as the
    /// Jacobian (X·ZZ², Y·ZZZ², ZZZ): no inversion needed.
    fn xyzz_to_projective(words: &[u32]) -> Projective<Self> {
        let k = <Self::BaseField as GpuField>::WORDS;
        let x = Self::BaseField::from_words(&words[..k]);
        let y = Self::BaseField::from_words(&words[k..2 * k]);
        let zz = Self::BaseField::from_words(&words[2 * k..3 * k]);
        let zzz = Self::BaseField::from_words(&words[3 * k..4 * k]);
        if zz.is_zero() {
            return Projective::zero();
        }
        Projective::new_unchecked(x * zz.square(), y * zzz.square(), zzz)
    }
}

impl GpuCurve for ark_bn254::g1::Config {
    const NAME: &'static str = "g1";
}

impl GpuCurve for ark_bn254::g2::Config {
    const NAME: &'static str = "g2";
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{G1Projective, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::UniformRand;
    use rand::SeedableRng;

    // XYZZ words of a point given in affine form, scaled by a random z (ZZ = z², ZZZ = z³).
    fn xyzz_words<C: GpuCurve>(p: &Affine<C>, z: C::BaseField) -> Vec<u32>
    where
        C::BaseField: GpuField,
    {
        let (zz, zzz) = (z.square(), z.square() * z);
        let mut w = Vec::new();
        (p.x * zz).push_words(&mut w);
        (p.y * zzz).push_words(&mut w);
        zz.push_words(&mut w);
        zzz.push_words(&mut w);
        w
    }

    #[test]
    fn words_round_trip_and_xyzz_converts() {
        let seed = crate::conformance::seed_from_env("device_words");
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        for _ in 0..20 {
            let f = Fr::rand(&mut rng);
            assert_eq!(fr_from_limbs_one(&fr_limbs(&[f])), f);
            let q = Fq2::rand(&mut rng);
            let mut w = Vec::new();
            q.push_words(&mut w);
            assert_eq!(w.len(), 16);
            assert_eq!(Fq2::from_words(&w), q);

            let p1 = (G1Projective::generator() * Fr::rand(&mut rng)).into_affine();
            let w = xyzz_words(&p1, Fq::rand(&mut rng));
            assert_eq!(
                ark_bn254::g1::Config::xyzz_to_projective(&w).into_affine(),
                p1
            );
            let p2 = (G2Projective::generator() * Fr::rand(&mut rng)).into_affine();
            let w = xyzz_words(&p2, Fq2::rand(&mut rng));
            assert_eq!(
                ark_bn254::g2::Config::xyzz_to_projective(&w).into_affine(),
                p2
            );

            let mut a = Vec::new();
            ark_bn254::g1::Config::push_affine(&p1, &mut a);
            assert_eq!(a.len(), 16);
            assert_eq!(Fq::from_words(&a[..8]), p1.x);
        }
        let zero = vec![0u32; 64];
        assert!(ark_bn254::g2::Config::xyzz_to_projective(&zero).is_zero());
        let mut inf = Vec::new();
        ark_bn254::g1::Config::push_affine(&Affine::identity(), &mut inf);
        assert!(inf.iter().all(|&w| w == 0));
    }

    fn fr_from_limbs_one(l: &[u64]) -> Fr {
        let mut v = [Fr::zero()];
        fr_from_limbs(l, &mut v);
        v[0]
    }
}
