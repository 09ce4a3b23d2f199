//! The NTT engine in co-simulation against arkworks' radix-2 domain, on fresh random inputs
//! (seed printed): forward, inverse and coset transforms of every size up to the engine's
//! largest, one butterfly per cycle, and the errors for sizes it does not hold.

use ark_bn254::Fr;
use ark_ff::{UniformRand, Zero};
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use fornax_hw::ntt::{ntt, NttCard, Transform, Twiddles};
use fornax_hw::sim::NttSim;
use fornax_hw::{for_test, HwError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn every_transform_matches_arkworks_up_to_2_12() {
    let Some(mut sim) = for_test(NttSim::new()) else {
        return;
    };
    let seed = rand::random::<u64>();
    println!("seed {seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let max = sim.max_log_size();
    assert_eq!(max, 12);
    for log_n in [0, 1, 2, 3, 5, 8, 10, max] {
        let n = 1usize << log_n;
        let domain = Radix2EvaluationDomain::<Fr>::new(n).expect("a radix-2 size");
        let twiddles = Twiddles::new(log_n);
        let g = Fr::rand(&mut rng);
        let coset = domain.get_coset(g).expect("a coset");
        let x: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        let cases = [
            (Transform::Forward, domain.fft(&x)),
            (Transform::Inverse, domain.ifft(&x)),
            (Transform::CosetForward(g), coset.fft(&x)),
            (Transform::CosetInverse(g), coset.ifft(&x)),
        ];
        for (transform, want) in cases {
            let mut got = x.clone();
            let stats = ntt(&mut sim, &twiddles, &mut got, transform).expect("the engine runs");
            assert_eq!(got, want, "{transform:?} of 2^{log_n}");
            let butterflies = (n / 2) as u64 * log_n as u64;
            let scales = match transform {
                Transform::Forward => 0,
                _ => n as u64,
            };
            assert_eq!(
                stats.issues,
                butterflies + scales,
                "{transform:?} of 2^{log_n}"
            );
            if log_n == max && transform == Transform::Forward {
                println!(
                    "forward NTT of 2^{log_n}: {} butterflies in {} pass cycles ({:.4} per butterfly, {} more loading and reading)",
                    stats.issues,
                    stats.pass_cycles,
                    stats.pass_cycles as f64 / stats.issues as f64,
                    stats.io_cycles
                );
                // One butterfly per cycle; each pass adds its pipeline's drain (8 cycles).
                assert!(stats.pass_cycles <= butterflies + 10 * log_n as u64);
            }
        }
    }
    // Zeros stay zeros; an inverse undoes a forward.
    let twiddles = Twiddles::new(6);
    let mut zeros = vec![Fr::zero(); 64];
    ntt(&mut sim, &twiddles, &mut zeros, Transform::Forward).unwrap();
    assert!(zeros.iter().all(Zero::is_zero));
    let x: Vec<Fr> = (0..64).map(|_| Fr::rand(&mut rng)).collect();
    let mut y = x.clone();
    ntt(
        &mut sim,
        &twiddles,
        &mut y,
        Transform::CosetForward(Fr::from(7u64)),
    )
    .unwrap();
    ntt(
        &mut sim,
        &twiddles,
        &mut y,
        Transform::CosetInverse(Fr::from(7u64)),
    )
    .unwrap();
    assert_eq!(x, y);
}

#[test]
fn sizes_it_cannot_hold_are_refused() {
    let Some(mut sim) = for_test(NttSim::new()) else {
        return;
    };
    let big = Twiddles::new(13);
    let mut x = vec![Fr::zero(); 1 << 13];
    assert_eq!(
        ntt(&mut sim, &big, &mut x, Transform::Forward),
        Err(HwError::TooLarge {
            log_size: 13,
            max: 12
        })
    );
    let mut short = vec![Fr::zero(); 3];
    assert!(matches!(
        ntt(&mut sim, &Twiddles::new(2), &mut short, Transform::Forward),
        Err(HwError::Buffers(_))
    ));
}
