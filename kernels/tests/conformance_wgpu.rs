//! The conformance kit against the wgpu backend, on every adapter of this machine, software
//! ones included (Mesa's lavapipe in CI, which the set-up installs).
//!
//! Without an adapter these tests skip loudly (the reason is printed); `FORNAX_REQUIRE_WGPU=1`
//! (set by README's test command) or `FORNAX_REQUIRE_GPU=1` turns a skip into a failure.
//! Sizes are small: a software Vulkan is about 170× slower than the CPU backend; on a real
//! GPU `FORNAX_WGPU_LARGE=1` adds the sizes of the GPU run (up to 2^20). Every input is fresh
//! and random with its seed printed (`FORNAX_SEED` replays). The field and curve arithmetic
//! is checked with both ways of multiplying (64-bit shader integers and 32-bit words).

use std::sync::OnceLock;

use ark_bn254::{Fq, Fq2, Fr, G1Affine, G2Affine, G2Projective};
use ark_ec::short_weierstrass::Projective;
use ark_ec::{AdditiveGroup, AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{Field, PrimeField, UniformRand, Zero};
use fornax_kernels::conformance::{self, PointShape, ScalarShape};
use fornax_kernels::wgpu::{probe, ProbeOptions, WgpuBackend};
use fornax_kernels::words::{GpuCurve, GpuField};
use fornax_kernels::{Backend, MsmBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn required() -> bool {
    ["FORNAX_REQUIRE_WGPU", "FORNAX_REQUIRE_GPU"]
        .iter()
        .any(|v| std::env::var(v).as_deref() == Ok("1"))
}

fn open(force_int32: bool) -> Vec<WgpuBackend> {
    let found = probe(ProbeOptions {
        allow_software: true,
        force_int32,
    });
    if found.is_empty() {
        let seen = fornax_kernels::wgpu::adapters();
        let why = if seen.is_empty() {
            "no Vulkan, Metal or DX12 adapter (on Debian: apt install mesa-vulkan-drivers)".into()
        } else {
            format!("{} adapter(s) seen but none could be opened", seen.len())
        };
        if required() {
            panic!("a wgpu adapter is required but there is none: {why}");
        }
        eprintln!("SKIPPED (no wgpu adapter): wgpu conformance not run: {why}");
    }
    for d in &found {
        eprintln!("wgpu device {}: {}", d.info().id, d.info().name);
    }
    found
}

/// The adapters, opened once for the whole test binary (compiling the kernels for a
/// software Vulkan takes a while).
fn devices() -> &'static [WgpuBackend] {
    static DEVICES: OnceLock<Vec<WgpuBackend>> = OnceLock::new();
    DEVICES.get_or_init(|| open(false))
}

/// The same adapters with the 32-bit multiplication, for the arithmetic checks.
fn devices_int32() -> &'static [WgpuBackend] {
    static DEVICES: OnceLock<Vec<WgpuBackend>> = OnceLock::new();
    DEVICES.get_or_init(|| open(true))
}

fn large() -> bool {
    std::env::var("FORNAX_WGPU_LARGE").as_deref() == Ok("1")
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

fn check_prime_field<F: PrimeField + GpuField>(dev: &WgpuBackend, kernel: &str, seed: u64) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 1024;
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
        let id = dev.info().id.clone();
        assert_eq!(got(0), x + y, "{id} {kernel} add #{i} (seed {seed})");
        assert_eq!(got(1), x - y, "{id} {kernel} sub #{i} (seed {seed})");
        assert_eq!(got(2), x * y, "{id} {kernel} mul #{i} (seed {seed})");
        assert_eq!(got(3), x.square(), "{id} {kernel} sqr #{i} (seed {seed})");
        assert_eq!(got(4), -x, "{id} {kernel} neg #{i} (seed {seed})");
        // Leaving Montgomery form gives the canonical integer's limbs.
        let canon: Vec<u64> = x.into_bigint().as_ref().to_vec();
        let limbs: Vec<u64> = (0..4)
            .map(|k| o[40 + 2 * k] as u64 | (o[41 + 2 * k] as u64) << 32)
            .collect();
        assert_eq!(
            limbs, canon,
            "{id} {kernel} from_montgomery #{i} (seed {seed})"
        );
    }
}

#[test]
fn field_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("wgpu_fields");
    for dev in devices().iter().chain(devices_int32()) {
        check_prime_field::<Fr>(dev, "selftest_field_fr", seed);
        check_prime_field::<Fq>(dev, "selftest_field_fq", seed ^ 1);
        let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 2);
        let n = 512;
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

fn check_curve<C: GpuCurve>(dev: &WgpuBackend, kernel: &str, seed: u64)
where
    C::BaseField: GpuField,
    Projective<C>: PrimeGroup,
{
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let n = 128;
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
    let seed = conformance::seed_from_env("wgpu_curves");
    for dev in devices().iter().chain(devices_int32()) {
        check_curve::<ark_bn254::g1::Config>(dev, "selftest_curve_g1", seed);
    }
}

// Long chains of additions in one invocation (as a bucket or a window sum runs), mixed and
// full, on distinct and on repeated points, against arkworks. Field loops bounded by a
// parameter instead of a constant failed exactly this on lavapipe beyond ~16 additions.
#[test]
fn long_addition_chains_match_arkworks() {
    use ark_bn254::G1Projective;
    use rand::Rng;
    let seed = conformance::seed_from_env("wgpu_chains");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    for dev in devices() {
        let few: Vec<G1Projective> = (0..3)
            .map(|_| G1Projective::generator() * Fr::rand(&mut rng))
            .collect();
        for repeated in [false, true] {
            for k in [1usize, 16, 48] {
                let n = 32;
                let pts: Vec<G1Projective> = (0..n * k)
                    .map(|_| {
                        if repeated {
                            few[rng.gen_range(0..few.len())]
                        } else {
                            G1Projective::generator() * Fr::rand(&mut rng)
                        }
                    })
                    .collect();
                let mut words = Vec::new();
                for p in G1Projective::normalize_batch(&pts) {
                    ark_bn254::g1::Config::push_affine(&p, &mut words);
                }
                let out = dev
                    .selftest_with(
                        "selftest_chain_g1",
                        &words,
                        &words,
                        n,
                        64,
                        &[n as u32, k as u32],
                    )
                    .expect("selftest kernel");
                for i in 0..n {
                    let want: G1Projective = pts[i * k..(i + 1) * k].iter().sum();
                    let o = &out[64 * i..64 * (i + 1)];
                    let what = format!("chain of {k} (repeated {repeated}) #{i} (seed {seed})");
                    assert_eq!(
                        ark_bn254::g1::Config::xyzz_to_projective(&o[..32]),
                        want,
                        "mixed {what}"
                    );
                    assert_eq!(
                        ark_bn254::g1::Config::xyzz_to_projective(&o[32..]),
                        want,
                        "full {what}"
                    );
                }
            }
        }
    }
}

#[test]
fn msm_g1_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("wgpu_msm_g1");
    for dev in devices() {
        for n in [1, 3, 17, 100] {
            for s in SHAPES {
                for p in POINTS {
                    conformance::check_msm_g1(dev, seed, n, s, p).unwrap();
                }
            }
        }
        for n in [1025, 1 << 13] {
            conformance::check_msm_g1(dev, seed, n, ScalarShape::Uniform, PointShape::Distinct)
                .unwrap();
        }
        conformance::check_msm_g1(dev, seed, 1025, ScalarShape::Mixed, PointShape::Repeated)
            .unwrap();
        if large() {
            for log in [16, 18, 20] {
                for s in [ScalarShape::Uniform, ScalarShape::Ones, ScalarShape::Mixed] {
                    conformance::check_msm_g1(dev, seed, 1 << log, s, PointShape::Distinct)
                        .unwrap();
                }
            }
        }
    }
}

// G2 MSMs run on the host through the CPU backend (see the backend's docs); this checks the
// wiring: handles, prefixes and shapes through the wgpu backend's trait.
#[test]
fn msm_g2_sizes_and_shapes() {
    let seed = conformance::seed_from_env("wgpu_msm_g2");
    for dev in devices() {
        for n in [1, 17, 300] {
            for s in SHAPES {
                for p in POINTS {
                    conformance::check_msm_g2(dev, seed, n, s, p).unwrap();
                }
            }
        }
        if large() {
            conformance::check_msm_g2(
                dev,
                seed,
                1 << 16,
                ScalarShape::Uniform,
                PointShape::Distinct,
            )
            .unwrap();
        }
    }
}

#[test]
fn msm_resident_bases_and_identity() {
    let seed = conformance::seed_from_env("wgpu_msm_resident");
    for dev in devices() {
        conformance::check_msm_resident_reuse(dev, seed).unwrap();
        conformance::check_identity_results(dev, seed).unwrap();
        // A handle of another backend is refused, not misread.
        let cpu = fornax_kernels::CpuBackend::new();
        let foreign = cpu.upload_g1(&[G1Affine::generator()]).unwrap();
        assert!(dev.msm_g1(&foreign, &[Fr::ONE]).is_err());
        let g2 = dev.upload_g2(&[G2Affine::generator()]).unwrap();
        let got: G2Projective = dev.msm_g2(&g2, &[Fr::from(5u64)]).unwrap();
        assert_eq!(got, G2Projective::generator() * Fr::from(5u64));
    }
}

#[test]
fn ntt_all_kinds_and_sizes() {
    let seed = conformance::seed_from_env("wgpu_ntt");
    for dev in devices() {
        // 2^9 is one fused pass, 2^10 and 2^13 need two, 2^19 three.
        let mut logs = vec![0, 1, 2, 3, 5, 6, 8, 9, 10, 13];
        if large() {
            logs.extend([17, 19, 20]);
        }
        for log in logs {
            conformance::check_ntt(dev, seed, log).unwrap();
        }
        conformance::check_ntt_batch_and_errors(dev, seed).unwrap();
    }
}
