//! The conformance kit against the wgpu backend, on every adapter of this machine, software
//! ones included (Mesa's lavapipe in CI, which the set-up installs).
//!
//! Without an adapter these tests skip loudly (the reason is printed); `FORNAX_REQUIRE_WGPU=1`
//! (set by README's test command) or `FORNAX_REQUIRE_GPU=1` turns a skip into a failure.
//! Sizes are small: a software Vulkan is about 170× slower than the CPU backend; on a real
//! GPU `FORNAX_WGPU_LARGE=1` adds the sizes of the GPU run (up to 2^20). Every input is fresh
//! and random with its seed printed (`FORNAX_SEED` replays). The field and curve arithmetic
//! is checked with both ways of multiplying (64-bit shader integers and 32-bit words).

use std::sync::{Arc, OnceLock};

use ark_bn254::{Fq, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::{Field, UniformRand};
use fornax_kernels::conformance::{self, PointShape, ScalarShape};
use fornax_kernels::wgpu::{probe, ProbeOptions, WgpuBackend};
use fornax_kernels::words::GpuCurve;
use fornax_kernels::{Backend, Composed, CpuBackend, KernelError, MsmBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn required() -> bool {
    ["FORNAX_REQUIRE_WGPU", "FORNAX_REQUIRE_GPU"]
        .iter()
        .any(|v| std::env::var(v).as_deref() == Ok("1"))
}

fn open(force_int32: bool) -> Vec<Arc<WgpuBackend>> {
    let found = probe(ProbeOptions {
        allow_software: true,
        force_int32,
        // A software Vulkan takes minutes per Fq2 curve kernel: G2 runs on hardware only.
        g2_on_software: false,
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
    found.into_iter().map(Arc::new).collect()
}

/// The adapters, opened once for the whole test binary (compiling the kernels for a
/// software Vulkan takes a while).
fn devices() -> &'static [Arc<WgpuBackend>] {
    static DEVICES: OnceLock<Vec<Arc<WgpuBackend>>> = OnceLock::new();
    DEVICES.get_or_init(|| open(false))
}

/// The same adapters with the 32-bit multiplication, for the arithmetic checks.
fn devices_int32() -> &'static [Arc<WgpuBackend>] {
    static DEVICES: OnceLock<Vec<Arc<WgpuBackend>>> = OnceLock::new();
    DEVICES.get_or_init(|| open(true))
}

fn large() -> bool {
    std::env::var("FORNAX_WGPU_LARGE").as_deref() == Ok("1")
}

const SHAPES: [ScalarShape; 6] = conformance::SCALAR_SHAPES;
const POINTS: [PointShape; 4] = conformance::POINT_SHAPES;

#[test]
fn field_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("wgpu_fields");
    for dev in devices().iter().chain(devices_int32()) {
        let run = |k: &str, a: &[u32], b: &[u32], n: usize, w: usize| dev.selftest(k, a, b, n, w);
        let on = |r: Result<(), String>| r.unwrap_or_else(|e| panic!("{}: {e}", dev.info().name));
        on(conformance::check_field_selftest::<Fr>(
            &run,
            "selftest_field_fr",
            seed,
            1024,
        ));
        on(conformance::check_field_selftest::<Fq>(
            &run,
            "selftest_field_fq",
            seed ^ 1,
            1024,
        ));
        on(conformance::check_fq2_selftest(
            &run,
            "selftest_fq2",
            seed ^ 2,
            512,
        ));
    }
}

#[test]
fn curve_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("wgpu_curves");
    for dev in devices().iter().chain(devices_int32()) {
        let run = |k: &str, a: &[u32], b: &[u32], n: usize, w: usize| dev.selftest(k, a, b, n, w);
        conformance::check_curve_selftest::<ark_bn254::g1::Config>(
            &run,
            "selftest_curve_g1",
            seed,
            128,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", dev.info().name));
    }
}

// Long chains of additions in one invocation (as a bucket or a window sum runs), mixed and
// full, on distinct and on repeated points, against arkworks. Field loops bounded by a
// parameter instead of a constant failed exactly this on lavapipe beyond ~16 additions.
#[test]
fn long_addition_chains_match_arkworks() {
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
                    conformance::check_msm_g1(dev.as_ref(), seed, n, s, p).unwrap();
                }
            }
        }
        for n in [1025, 1 << 13] {
            conformance::check_msm_g1(
                dev.as_ref(),
                seed,
                n,
                ScalarShape::Uniform,
                PointShape::Distinct,
            )
            .unwrap();
        }
        conformance::check_msm_g1(
            dev.as_ref(),
            seed,
            1025,
            ScalarShape::Mixed,
            PointShape::Repeated,
        )
        .unwrap();
        if large() {
            for log in [16, 18, 20] {
                for s in [ScalarShape::Uniform, ScalarShape::Ones, ScalarShape::Mixed] {
                    conformance::check_msm_g1(
                        dev.as_ref(),
                        seed,
                        1 << log,
                        s,
                        PointShape::Distinct,
                    )
                    .unwrap();
                }
            }
        }
    }
}

/// The adapter composed with the CPU for G2, as the registry registers it.
fn composed(dev: &Arc<WgpuBackend>) -> Arc<dyn Backend> {
    let cpu: Arc<dyn Backend> = Arc::new(CpuBackend::new());
    Composed::complete(Arc::clone(dev) as Arc<dyn Backend>, &cpu)
}

// A hardware adapter runs G2 on its own Fq2 kernels, checked here against the CPU
// reference. A software one refuses G2 (its kernels take minutes each to compile) and the
// composition the registry makes runs G2 on the CPU; then this checks the wiring (handles,
// prefixes, shapes) through the composition.
#[test]
fn msm_g2_sizes_and_shapes() {
    let seed = conformance::seed_from_env("wgpu_msm_g2");
    for dev in devices() {
        let software = dev.is_software();
        assert_eq!(dev.runs_g2(), !software, "{}", dev.info().name);
        let dev: Arc<dyn Backend> = if dev.runs_g2() {
            Arc::clone(dev) as Arc<dyn Backend>
        } else {
            assert!(matches!(
                dev.upload_g2(&[G2Affine::generator()]),
                Err(KernelError::Unsupported { .. })
            ));
            composed(dev)
        };
        for n in [1, 17, 300] {
            for s in SHAPES {
                for p in POINTS {
                    conformance::check_msm_g2(dev.as_ref(), seed, n, s, p).unwrap();
                }
            }
        }
        if large() {
            conformance::check_msm_g2(
                dev.as_ref(),
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
        conformance::check_msm_resident_reuse(dev.as_ref(), seed).unwrap();
        conformance::check_identity_results(dev.as_ref(), seed).unwrap();
        // A handle of another backend is refused, not misread.
        let cpu = fornax_kernels::CpuBackend::new();
        let foreign = cpu.upload_g1(&[G1Affine::generator()]).unwrap();
        assert!(dev.msm_g1(&foreign, &[Fr::ONE]).is_err());
        let whole = composed(dev);
        let g2 = whole.upload_g2(&[G2Affine::generator()]).unwrap();
        let got: G2Projective = whole.msm_g2(&g2, &[Fr::from(5u64)]).unwrap();
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
            conformance::check_ntt(dev.as_ref(), seed, log).unwrap();
        }
        conformance::check_ntt_batch_and_errors(dev.as_ref(), seed).unwrap();
    }
}
