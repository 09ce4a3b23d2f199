//! The point adder and the MSM bucket engine in co-simulation against arkworks, on fresh
//! random inputs (seed printed): the special cases of point addition, one addition per
//! cycle, bucket hazards, and a faulty build that the same checks must refuse.

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{UniformRand, Zero};
use fornax_hw::card::EngineCard;
use fornax_hw::for_test;
use fornax_hw::msm::msm_g1;
use fornax_hw::sim::{Addition, EngineSim, G1AddSim, Projective, Variant, G1_ADD_LATENCY};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn rng() -> ChaCha8Rng {
    let seed = rand::random::<u64>();
    println!("seed {seed}");
    ChaCha8Rng::seed_from_u64(seed)
}

/// `p` in projective coordinates with a random Z (the adder must not care which).
fn scaled(p: &G1Affine, rng: &mut impl Rng) -> Projective {
    let mut q = Projective::from_affine(p);
    if !q.z.is_zero() {
        let z = Fq::rand(rng);
        q = Projective {
            x: q.x * z,
            y: q.y * z,
            z,
        };
    }
    q
}

#[test]
fn the_adder_handles_every_case_and_takes_one_addition_per_cycle() {
    let Some(mut sim) = for_test(G1AddSim::new()) else {
        return;
    };
    let mut rng = rng();
    let zero = G1Affine::identity();
    let mut cases: Vec<(Projective, G1Affine)> = Vec::new();
    for k in 0..600 {
        let a = G1Projective::rand(&mut rng).into_affine();
        let b = G1Projective::rand(&mut rng).into_affine();
        let (p1, p2) = match k % 6 {
            0 | 1 => (a, b),
            2 => (a, a),                   // a doubling
            3 => (a, -a),                  // the identity comes out
            4 => (zero, b),                // P1 the identity
            _ if k % 12 == 5 => (a, zero), // P2 the identity
            _ => (zero, zero),
        };
        cases.push((scaled(&p1, &mut rng), p2));
    }
    let mut sums = Vec::new();
    let mut next = cases.iter().enumerate();
    for _ in 0..cases.len() + 2 * G1_ADD_LATENCY {
        let input = next.next().map(|(k, &(p1, p2))| Addition {
            tag: k as u16,
            p1,
            p2,
        });
        if let Some(out) = sim.cycle(input) {
            sums.push(out);
        }
        if sums.len() == cases.len() {
            break;
        }
    }
    assert_eq!(sums.len(), cases.len(), "every sum came out");
    assert_eq!(
        sim.cycles() as usize,
        cases.len() + G1_ADD_LATENCY - 1,
        "one addition accepted per cycle, latency {G1_ADD_LATENCY}"
    );
    for (k, ((p1, p2), (tag, sum))) in cases.iter().zip(&sums).enumerate() {
        assert_eq!(*tag as usize, k, "sums come out in order with their tags");
        let expected = p1.to_group() + p2;
        assert_eq!(sum.to_group(), expected, "case {k} ({})", k % 6);
        if expected.is_zero() {
            assert!(
                sum.z.is_zero() && !sum.y.is_zero(),
                "the identity is (0 : Y : 0)"
            );
        }
    }
}

/// Bases and scalars for the engine: random, with identities among the bases.
fn inputs(n: usize, rng: &mut ChaCha8Rng) -> (Vec<G1Affine>, Vec<Fr>) {
    let bases = (0..n)
        .map(|i| match i % 97 {
            13 => G1Affine::identity(),
            _ => G1Projective::rand(rng).into_affine(),
        })
        .collect();
    let scalars = (0..n).map(|_| Fr::rand(rng)).collect();
    (bases, scalars)
}

fn reference(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    G1Projective::msm(bases, scalars).expect("equal lengths")
}

#[test]
fn the_engine_computes_a_2_10_msm_at_one_addition_per_cycle() {
    let Some(mut engine) = for_test(EngineSim::new(Variant::Exact)) else {
        return;
    };
    let mut rng = rng();
    let (bases, scalars) = inputs(1 << 10, &mut rng);
    let (got, stats) = msm_g1(&mut engine, &bases, &scalars).expect("the engine runs");
    assert_eq!(got, reference(&bases, &scalars), "MSM of 2^10 points");
    let windows = engine.shape().windows() as u64;
    let live = bases.iter().filter(|b| !b.is_zero()).count() as u64;
    assert!(
        stats.issues <= live * windows && stats.issues >= live * windows * 9 / 10,
        "one addition per nonzero digit: {stats:?}"
    );
    println!(
        "2^10 points, {} additions: {} cycles ({} draining the buckets), {:.4} cycles per addition, {} stalls",
        stats.issues,
        stats.cycles,
        stats.drain_cycles,
        stats.cycles_per_addition(),
        stats.stalls
    );
    assert!(
        stats.cycles_per_addition() <= 1.05,
        "the pipeline takes an addition per cycle: {:.4}",
        stats.cycles_per_addition()
    );
}

#[test]
fn bucket_hazards_and_special_scalars_stay_exact() {
    let Some(mut engine) = for_test(EngineSim::new(Variant::Exact)) else {
        return;
    };
    let mut rng = rng();
    let n = 96;
    let p = G1Projective::rand(&mut rng).into_affine();
    let s = Fr::rand(&mut rng);
    let (bases, _) = inputs(n, &mut rng);
    let cases: Vec<(&str, Vec<G1Affine>, Vec<Fr>)> = vec![
        // Every addition of a window into one bucket, each right after the last.
        ("all scalars equal", bases.clone(), vec![s; n]),
        // The same point again and again: the bucket doubles.
        ("one point, one scalar", vec![p; n], vec![s; n]),
        // P and -P into one bucket: it passes through the identity.
        (
            "a point and its negation",
            (0..n).map(|i| if i % 2 == 0 { p } else { -p }).collect(),
            vec![s; n],
        ),
        (
            "mostly zero scalars",
            bases.clone(),
            (0..n)
                .map(|i| match i % 7 {
                    0 => Fr::rand(&mut rng),
                    1 => Fr::from(i as u64),
                    _ => Fr::zero(),
                })
                .collect(),
        ),
        ("every scalar zero", bases.clone(), vec![Fr::zero(); n]),
        (
            "small scalars (one window)",
            bases.clone(),
            (0..n).map(|i| Fr::from(1 + (i % 3) as u64)).collect(),
        ),
        ("r - 1", bases.clone(), vec![-Fr::from(1u64); n]),
        ("no points", vec![], vec![]),
    ];
    for (name, bases, scalars) in cases {
        let (got, stats) = msm_g1(&mut engine, &bases, &scalars).expect("the engine runs");
        assert_eq!(got, reference(&bases, &scalars), "{name}");
        if name == "all scalars equal" {
            assert!(stats.stalls > 0, "the hazard path ran: {stats:?}");
        }
        println!(
            "{name}: {} additions in {} cycles, {} stalls",
            stats.issues, stats.cycles, stats.stalls
        );
    }
}

#[test]
fn a_flipped_bit_in_the_adder_fails_the_kit() {
    let Some(mut engine) = for_test(EngineSim::new(Variant::Faulty)) else {
        return;
    };
    let mut rng = rng();
    let (bases, scalars) = inputs(64, &mut rng);
    let (got, _) = msm_g1(&mut engine, &bases, &scalars).expect("the faulty engine runs");
    assert_ne!(
        got,
        reference(&bases, &scalars),
        "the check must see one flipped bit of the adder's X"
    );
}
