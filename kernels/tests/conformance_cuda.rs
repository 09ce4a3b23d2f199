//! The conformance kit against the CUDA backend, on every CUDA device of this machine.
//!
//! Without a device these tests skip loudly (the reason is printed);
//! `FORNAX_REQUIRE_GPU=1` turns a skip into a failure. Sizes go up to 2^24 as the H100 run
//! requires; every input is fresh and random with its seed printed (`FORNAX_SEED` replays).

use ark_bn254::{Fq, Fr, G1Affine, G2Affine, G2Projective};
use ark_ec::{AffineRepr, PrimeGroup};
use ark_ff::Field;
use fornax_kernels::conformance::{self, PointShape, ScalarShape};
use fornax_kernels::{Backend, CudaBackend};

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

#[test]
fn field_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("cuda_fields");
    for dev in devices() {
        let run = |k: &str, a: &[u32], b: &[u32], n: usize, w: usize| dev.selftest(k, a, b, n, w);
        conformance::check_field_selftest::<Fr>(&run, "selftest_fr", seed, 4096).unwrap();
        conformance::check_field_selftest::<Fq>(&run, "selftest_fq", seed ^ 1, 4096).unwrap();
        conformance::check_fq2_selftest(&run, "selftest_fq2", seed ^ 2, 2048).unwrap();
    }
}

#[test]
fn curve_arithmetic_matches_arkworks() {
    let seed = conformance::seed_from_env("cuda_curves");
    for dev in devices() {
        let run = |k: &str, a: &[u32], b: &[u32], n: usize, w: usize| dev.selftest(k, a, b, n, w);
        conformance::check_curve_selftest::<ark_bn254::g1::Config>(&run, "selftest_g1", seed, 512)
            .unwrap();
        conformance::check_curve_selftest::<ark_bn254::g2::Config>(
            &run,
            "selftest_g2",
            seed ^ 1,
            512,
        )
        .unwrap();
    }
}

#[test]
fn msm_g1_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("cuda_msm_g1");
    for dev in devices() {
        conformance::check_msm_g1_suite(&dev, seed).unwrap();
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
        conformance::check_msm_g2_suite(&dev, seed).unwrap();
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
