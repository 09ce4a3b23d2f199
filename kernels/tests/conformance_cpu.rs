//! The conformance kit run against the CPU backend.

use fornax_kernels::conformance::{self, PointShape, ScalarShape};
use fornax_kernels::CpuBackend;

const SHAPES: [ScalarShape; 6] = conformance::SCALAR_SHAPES;
const POINTS: [PointShape; 4] = conformance::POINT_SHAPES;

#[test]
fn msm_g1_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("msm_g1");
    let cpu = CpuBackend::new();
    for n in [1, 2, 3, 15, 16, 17, 100, 1024, 4099] {
        for s in SHAPES {
            for p in POINTS {
                conformance::check_msm_g1(&cpu, seed, n, s, p).unwrap();
            }
        }
    }
}

#[test]
fn msm_g1_large() {
    let seed = conformance::seed_from_env("msm_g1_large");
    let cpu = CpuBackend::new();
    for n in [1 << 16, (1 << 16) + 3] {
        conformance::check_msm_g1(&cpu, seed, n, ScalarShape::Uniform, PointShape::Distinct)
            .unwrap();
    }
    conformance::check_msm_g1(
        &cpu,
        seed,
        1 << 15,
        ScalarShape::Mixed,
        PointShape::WithInfinity,
    )
    .unwrap();
}

#[test]
fn msm_g2_all_sizes_and_shapes() {
    let seed = conformance::seed_from_env("msm_g2");
    let cpu = CpuBackend::new();
    for n in [1, 2, 17, 256, 1000] {
        for s in SHAPES {
            for p in POINTS {
                conformance::check_msm_g2(&cpu, seed, n, s, p).unwrap();
            }
        }
    }
    conformance::check_msm_g2(
        &cpu,
        seed,
        1 << 13,
        ScalarShape::Uniform,
        PointShape::Distinct,
    )
    .unwrap();
}

#[test]
fn msm_resident_bases_and_identity() {
    let seed = conformance::seed_from_env("msm_resident");
    let cpu = CpuBackend::new();
    conformance::check_msm_resident_reuse(&cpu, seed).unwrap();
    conformance::check_identity_results(&cpu, seed).unwrap();
}

#[test]
fn scalars_at_or_above_r_are_rejected() {
    conformance::check_scalar_range(conformance::seed_from_env("scalar_range")).unwrap();
}

#[test]
fn ntt_all_kinds_and_sizes() {
    let seed = conformance::seed_from_env("ntt");
    let cpu = CpuBackend::new();
    for log in [0, 1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16, 17] {
        conformance::check_ntt(&cpu, seed, log).unwrap();
    }
    conformance::check_ntt_batch_and_errors(&cpu, seed).unwrap();
}
