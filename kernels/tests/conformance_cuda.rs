//! The conformance kit against the CUDA backend, on every CUDA device of this machine.
//!
//! Without a device these tests skip loudly (the reason is printed);
//! `FORNAX_REQUIRE_GPU=1` turns a skip into a failure. Sizes go up to 2^24 as the H100 run
//! requires; every input is fresh and random with its seed printed (`FORNAX_SEED` replays).

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine, G2Projective};
use ark_ec::short_weierstrass::Projective;
use ark_ec::{AdditiveGroup, AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{Field, PrimeField, UniformRand, Zero};
use fornax_kernels::conformance::{self, PointShape, ScalarShape};
use fornax_kernels::cuda::words::{GpuCurve, GpuField};
use fornax_kernels::{Backend, CudaBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn devices() -> Vec<CudaBackend> {
    let found = fornax_kernels::cuda::probe();
    if found.is_empty() {
        let why = fornax_kernels::cuda::unavailable_reason()
            .unwrap_or_else(|| "no CUDA device could be opened".into());
        if std::env::var("FORNAX_REQUIRE_GPU").as_deref() == Ok("1") {
            panic!("FORNAX_REQUIRE_GPU=1 but there is no CUDA backend: {why}");
        }
        eprintln!("SKIPPED (no GPU): CUDA conformance not run: {why}");
    }
    for d in &found {
        eprintln!("CUDA device {}: {}", d.info().id, d.info().name);
    }
    found
}

const SHAPES: [ScalarShape; 6] = [
    ScalarShape::Uniform,
    ScalarShape::Zeros,
    ScalarShape::Ones,
    ScalarShape::Small,
    ScalarShape::SmallNegative,
    ScalarShape::Mixed,
];
const POINTS: [PointShape; 4] = [
    PointShape::Distinct,
    PointShape::WithInfinity,
    PointShape::Repeated,
    PointShape::Negations,
];

fn words<F: GpuField>(values: &[F]) -> Vec<u32> {
    let mut out = Vec::new();
    for v in values {
        v.push_words(&mut out);
    }
    out
}

// Random field elements with the edge values 0, 1, -1 up front.
fn field_inputs<F: Field + UniformRand>(rng: &mut ChaCha20Rng, n: usize) -> Vec<F> {
    let mut v = vec![F::zero(), F::ONE, -F::ONE];
    v.extend((3..n).map(|_| F::rand(rng)));
    v
}

fn check_prime_field<F: PrimeField + GpuField>(dev: &CudaBackend, kernel: &str, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 4096;
    let a: Vec<F> = field_inputs(&mut rng, n);
    let mut b: Vec<F> = field_inputs(&mut rng, n);
    b.rotate_left(1);
    let out = dev
        .selftest(kernel, &words(&a), &words(&b), n, 48)
        .expect("selftest kernel");
    for i in 0..n {
        let o = &out[48 * i..48 * (i + 1)];
        let got = |k: usize| F::from_words(&o[8 * k..8 * (k + 1)]);
        let (x, y) = (a[i], b[i]);
        assert_eq!(got(0), x + y, "{kernel} add #{i} (seed {seed})");
        assert_eq!(got(1), x - y, "{kernel} sub #{i} (seed {seed})");
        assert_eq!(got(2), x * y, "{kernel} mul #{i} (seed {seed})");
        assert_eq!(got(3), x.square(), "{kernel} sqr #{i} (seed {seed})");
        assert_eq!(got(4), -x, "{kernel} neg #{i} (seed {seed})");
        // Leaving Montgomery form gives the canonical integer's limbs.
        let canon: Vec<u64> = x.into_bigint().as_ref().to_vec();
        let limbs: Vec<u64> = (0..4)
            .map(|k| o[40 + 2 * k] as u64 | (o[41 + 2 * k] as u64) << 32)
            .collect();
        assert_eq!(limbs, canon, "{kernel} from_montgomery #{i} (seed {seed})");
    }
}

#[test]
fn field_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("cuda_fields");
    for dev in devices() {
        check_prime_field::<Fr>(&dev, "selftest_fr", seed);
        check_prime_field::<Fq>(&dev, "selftest_fq", seed ^ 1);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 2);
        let n = 2048;
        let a: Vec<Fq2> = field_inputs(&mut rng, n);
        let b: Vec<Fq2> = field_inputs(&mut rng, n);
        let out = dev
            .selftest("selftest_fq2", &words(&a), &words(&b), n, 64)
            .expect("selftest kernel");
        for i in 0..n {
            let got = |k: usize| Fq2::from_words(&out[64 * i + 16 * k..64 * i + 16 * (k + 1)]);
            assert_eq!(got(0), a[i] + b[i], "fq2 add #{i} (seed {seed})");
            assert_eq!(got(1), a[i] - b[i], "fq2 sub #{i} (seed {seed})");
            assert_eq!(got(2), a[i] * b[i], "fq2 mul #{i} (seed {seed})");
            assert_eq!(got(3), a[i].square(), "fq2 sqr #{i} (seed {seed})");
        }
    }
}

fn check_curve<C: GpuCurve>(dev: &CudaBackend, kernel: &str, seed: u64)
where
    C::BaseField: GpuField,
    Projective<C>: PrimeGroup,
{
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 512;
    let g = Projective::<C>::generator();
    let mut p: Vec<Projective<C>> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    let mut q: Vec<Projective<C>> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    // The special cases: P = Q, P = -Q, either at infinity.
    q[0] = p[0];
    q[1] = -p[1];
    p[2] = Projective::zero();
    q[3] = Projective::zero();
    let (pa, qa) = (
        Projective::normalize_batch(&p),
        Projective::normalize_batch(&q),
    );
    let mut a = Vec::new();
    let mut b = Vec::new();
    for (x, y) in pa.iter().zip(&qa) {
        C::push_affine(x, &mut a);
        C::push_affine(y, &mut b);
    }
    let w = C::XYZZ_WORDS;
    let out = dev
        .selftest(kernel, &a, &b, n, 3 * w)
        .expect("selftest kernel");
    for i in 0..n {
        let o = &out[3 * w * i..3 * w * (i + 1)];
        let sum = p[i] + q[i];
        let twice = p[i].double();
        assert_eq!(
            C::xyzz_to_projective(&o[..w]),
            sum,
            "{kernel} P+Q #{i} (seed {seed})"
        );
        assert_eq!(
            C::xyzz_to_projective(&o[w..2 * w]),
            twice,
            "{kernel} 2P #{i} (seed {seed})"
        );
        assert_eq!(
            C::xyzz_to_projective(&o[2 * w..]),
            sum + twice,
            "{kernel} (P+Q)+2P #{i} (seed {seed})"
        );
    }
}

#[test]
fn curve_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("cuda_curves");
    for dev in devices() {
        check_curve::<ark_bn254::g1::Config>(&dev, "selftest_g1", seed);
        check_curve::<ark_bn254::g2::Config>(&dev, "selftest_g2", seed ^ 1);
    }
}

#[test]
fn msm_g1_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("cuda_msm_g1");
    for dev in devices() {
        for n in [1, 2, 3, 15, 16, 17, 100, 1024, 4099] {
            for s in SHAPES {
                for p in POINTS {
                    conformance::check_msm_g1(&dev, seed, n, s, p).unwrap();
                }
            }
        }
        for log in [16, 18, 20] {
            for s in [
                ScalarShape::Uniform,
                ScalarShape::Ones,
                ScalarShape::Small,
                ScalarShape::Mixed,
            ] {
                conformance::check_msm_g1(&dev, seed, 1 << log, s, PointShape::Distinct).unwrap();
            }
        }
    }
}

#[test]
fn msm_g1_up_to_2_pow_24() {
    let seed = conformance::seed_from_env("cuda_msm_g1_large");
    for dev in devices() {
        for n in [(1 << 22) + 7, 1 << 24] {
            conformance::check_msm_g1(&dev, seed, n, ScalarShape::Uniform, PointShape::Distinct)
                .unwrap();
        }
    }
}

#[test]
fn msm_g2_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("cuda_msm_g2");
    for dev in devices() {
        for n in [1, 2, 17, 256, 1000] {
            for s in SHAPES {
                for p in POINTS {
                    conformance::check_msm_g2(&dev, seed, n, s, p).unwrap();
                }
            }
        }
        conformance::check_msm_g2(
            &dev,
            seed,
            1 << 16,
            ScalarShape::Uniform,
            PointShape::Distinct,
        )
        .unwrap();
    }
}

#[test]
fn msm_resident_bases_and_identity() {
    let seed = conformance::seed_from_env("cuda_msm_resident");
    for dev in devices() {
        conformance::check_msm_resident_reuse(&dev, seed).unwrap();
        conformance::check_identity_results(&dev, seed).unwrap();
        // A handle of another backend is refused, not misread.
        let cpu = fornax_kernels::CpuBackend::new();
        let foreign =
            fornax_kernels::MsmBackend::upload_g1(&cpu, &[G1Affine::generator()]).unwrap();
        assert!(fornax_kernels::MsmBackend::msm_g1(&dev, &foreign, &[Fr::ONE]).is_err());
        let g2 = fornax_kernels::MsmBackend::upload_g2(&dev, &[G2Affine::generator()]).unwrap();
        let got: G2Projective =
            fornax_kernels::MsmBackend::msm_g2(&dev, &g2, &[Fr::from(5u64)]).unwrap();
        assert_eq!(got, G2Projective::generator() * Fr::from(5u64));
    }
}

#[test]
fn ntt_all_kinds_and_sizes_up_to_2_pow_24() {
    let seed = conformance::seed_from_env("cuda_ntt");
    for dev in devices() {
        for log in [0, 1, 2, 3, 5, 6, 7, 10, 11, 12, 17, 20, 21, 24] {
            conformance::check_ntt(&dev, seed, log).unwrap();
        }
        conformance::check_ntt_batch_and_errors(&dev, seed).unwrap();
    }
}
