//! The RTL Montgomery multiplier in co-simulation against arkworks' `Fq`, on fresh random
//! operands (seed printed) and the edge cases; and the same check failing on a model with
//! one result bit flipped.

use ark_bn254::Fq;
use ark_ff::{Field, One, UniformRand, Zero};
use fornax_hw::for_test;
use fornax_hw::sim::{FqMulSim, Variant, FQ_MUL_LATENCY};
use rand::SeedableRng;

/// Random pairs after the edge cases: zero, one, -1 (p - 1), squares, and operands whose
/// product needs the final subtraction.
fn pairs(n: usize) -> Vec<(Fq, Fq)> {
    let seed = rand::random::<u64>();
    println!("seed {seed}");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let minus_one = -Fq::one();
    let mut v = vec![
        (Fq::zero(), Fq::zero()),
        (Fq::zero(), minus_one),
        (Fq::one(), Fq::one()),
        (Fq::one(), minus_one),
        (minus_one, minus_one),
        (Fq::from(2u64), minus_one),
        (
            minus_one.square(),
            Fq::from(3u64).inverse().expect("3 is invertible"),
        ),
    ];
    while v.len() < n {
        let a = Fq::rand(&mut rng);
        let b = if v.len() % 5 == 0 {
            a
        } else {
            Fq::rand(&mut rng)
        };
        v.push((a, b));
    }
    v
}

#[test]
fn the_multiplier_is_bit_exact_and_takes_one_product_per_cycle() {
    let Some(mut sim) = for_test(FqMulSim::new(Variant::Exact)) else {
        return;
    };
    let inputs = pairs(1024);
    let (products, cycles) = sim.multiply_all(&inputs);
    assert_eq!(products.len(), inputs.len(), "every product came out");
    for (k, ((a, b), r)) in inputs.iter().zip(&products).enumerate() {
        assert_eq!(*r, *a * b, "product #{k}: {a} · {b}");
    }
    // One product accepted per cycle: the last operands go in on cycle n and come out
    // LATENCY - 1 cycles later.
    assert_eq!(
        cycles as usize,
        inputs.len() + FQ_MUL_LATENCY - 1,
        "cycles for {} products",
        inputs.len()
    );
    println!(
        "{} products in {cycles} cycles ({:.4} cycles per product, latency {FQ_MUL_LATENCY})",
        inputs.len(),
        cycles as f64 / inputs.len() as f64
    );
    // Bubbles: operands every other cycle still come out in order, each after the latency.
    let mut gaps = Vec::new();
    for (k, &(a, b)) in inputs.iter().take(16).enumerate() {
        let before = sim.cycles();
        let mut got = sim.cycle(Some((a, b)));
        while got.is_none() {
            got = sim.cycle(None);
        }
        gaps.push(sim.cycles() - before);
        assert_eq!(got, Some(a * b), "product #{k} after a bubble");
    }
    assert!(
        gaps.iter().all(|&g| g as usize == FQ_MUL_LATENCY),
        "latency {gaps:?}"
    );
}

#[test]
fn a_single_flipped_result_bit_fails_the_check() {
    let Some(mut sim) = for_test(FqMulSim::new(Variant::Faulty)) else {
        return;
    };
    let inputs = pairs(64);
    let (products, _) = sim.multiply_all(&inputs);
    assert_eq!(products.len(), inputs.len());
    let wrong = inputs
        .iter()
        .zip(&products)
        .filter(|((a, b), r)| **r != *a * b)
        .count();
    assert_eq!(
        wrong,
        inputs.len(),
        "the check must see the flipped bit in every product"
    );
}
