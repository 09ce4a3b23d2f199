//! The conformance kit against `fpga-sim:0`, the FPGA bucket engine in Verilator
//! co-simulation (`fornax-hw`): G1 MSMs up to 2^10 points in every scalar and point shape,
//! resident bases reused, identities; the registry's handling of a simulation; and the
//! engine built with one flipped bit in its adder, which the kit must refuse.
//!
//! Where the build had no Verilator the tests skip loudly; `FORNAX_REQUIRE_VERILATOR=1` (set
//! by README's test command) turns a skip into a failure. Every input is fresh and random,
//! with its seed printed (`FORNAX_SEED` replays).

use std::sync::Arc;

use fornax_hw::for_test;
use fornax_hw::sim::Variant;
use fornax_kernels::conformance::{self, PointShape, ScalarShape, POINT_SHAPES, SCALAR_SHAPES};
use fornax_kernels::{Backend, DeviceKind, DeviceRegistry, FpgaBackend, NttBackend};

#[test]
fn msm_g1_all_shapes_up_to_2_10() {
    let Some(sim) = for_test(FpgaBackend::simulated(Variant::Exact)) else {
        return;
    };
    let seed = conformance::seed_from_env("fpga-sim msm g1");
    let mut cases = 0;
    for n in [1, 2, 17, 100] {
        for s in SCALAR_SHAPES {
            for p in POINT_SHAPES {
                conformance::check_msm_g1(&sim, seed, n, s, p).unwrap();
                cases += 1;
            }
        }
    }
    // 2^10 (a second each in simulation) in the shapes that stress the buckets.
    for s in [ScalarShape::Uniform, ScalarShape::Ones, ScalarShape::Mixed] {
        for p in [PointShape::Distinct, PointShape::Negations] {
            conformance::check_msm_g1(&sim, seed, 1 << 10, s, p).unwrap();
            cases += 1;
        }
    }
    println!("{cases} G1 MSM cases bit-exact on {}", sim.info().name);
}

#[test]
fn resident_bases_and_identities() {
    let Some(sim) = for_test(FpgaBackend::simulated(Variant::Exact)) else {
        return;
    };
    let seed = conformance::seed_from_env("fpga-sim resident");
    conformance::check_msm_resident_reuse(&sim, seed).unwrap();
    conformance::check_identity_results(&sim, seed).unwrap();
}

#[test]
fn ntt_all_kinds_up_to_2_12() {
    let Some(sim) = for_test(FpgaBackend::simulated(Variant::Exact)) else {
        return;
    };
    let seed = conformance::seed_from_env("fpga-sim ntt");
    for log in [1, 2, 4, 7, 10, 12] {
        conformance::check_ntt(&sim, seed, log).unwrap();
    }
    conformance::check_ntt_batch_and_errors(&sim, seed).unwrap();
    let too_large = sim
        .ntt_domain(13)
        .expect_err("2^13 exceeds the engine's memories");
    assert!(too_large.to_string().contains("up to 2^12"), "{too_large}");
}

#[test]
fn the_kit_refuses_an_engine_with_one_flipped_bit() {
    let Some(faulty) = for_test(FpgaBackend::simulated(Variant::Faulty)) else {
        return;
    };
    let seed = conformance::seed_from_env("fpga-sim faulty");
    let err = conformance::check_msm_g1(
        &faulty,
        seed,
        64,
        ScalarShape::Uniform,
        PointShape::Distinct,
    )
    .expect_err("a flipped bit of the adder's X must fail the kit");
    assert!(err.contains("differs from the reference"), "{err}");
}

#[test]
fn the_registry_lists_it_and_uses_it_only_where_named() {
    if for_test(FpgaBackend::simulated(Variant::Exact)).is_none() {
        return;
    }
    let all = DeviceRegistry::discover();
    let sim = all.find("fpga-sim:0").expect("discovered");
    assert_eq!(sim.info().kind, DeviceKind::Fpga);
    assert!(sim.is_simulation());
    assert!(
        sim.info().name.ends_with("+ G2 on cpu:0"),
        "composed with the CPU for G2: {}",
        sim.info().name
    );
    assert!(
        !all.clone()
            .proving()
            .backends()
            .iter()
            .any(|b| b.info().id.0 == "fpga-sim:0"),
        "a simulation never proves unnamed"
    );
    assert_ne!(all.preferred().info().id.0, "fpga-sim:0");
    let named = DeviceRegistry::select(&["fpga-sim:0".to_string()]).expect("named");
    assert_eq!(named.backends().len(), 1);
    let only: &Arc<dyn Backend> = &named.backends()[0];
    assert_eq!(only.info().id.0, "fpga-sim:0");
    // Its G2 MSMs go to the CPU; its G1 MSMs and NTTs to the engines.
    let seed = conformance::seed_from_env("fpga-sim composed");
    conformance::check_ntt(only.as_ref(), seed, 6).unwrap();
    conformance::check_msm_g2(
        only.as_ref(),
        seed,
        8,
        ScalarShape::Uniform,
        PointShape::Distinct,
    )
    .unwrap();
    conformance::check_msm_g1(
        only.as_ref(),
        seed,
        300,
        ScalarShape::Mixed,
        PointShape::WithInfinity,
    )
    .unwrap();
}
