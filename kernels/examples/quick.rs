use ark_bn254::{Fr, G1Affine, G1Projective};
use ark_ec::VariableBaseMSM;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use fornax_kernels::conformance::*;
use fornax_kernels::*;
use rand::SeedableRng;
use std::time::Instant;
fn main() {
    let log: u32 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(20);
    let n = 1 << log;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let bases: Vec<G1Affine> = random_points(&mut rng, n, PointShape::Distinct);
    let scalars = random_scalars(&mut rng, n, ScalarShape::Uniform);
    let cpu = CpuBackend::new();
    let h = cpu.upload_g1(&bases).unwrap();
    for _ in 0..2 {
        let t = Instant::now();
        let a = cpu.msm_g1(&h, &scalars).unwrap();
        let ta = t.elapsed();
        if std::env::var("ONLY").is_ok() { println!("fornax {:?}", ta); continue; }
        let t = Instant::now();
        let b = G1Projective::msm(&bases, &scalars).unwrap();
        let tb = t.elapsed();
        assert_eq!(a, b);
        println!("msm 2^{log}: fornax {:?} ark {:?} ratio {:.2}", ta, tb, tb.as_secs_f64() / ta.as_secs_f64());
    }
    if std::env::var("ONLY").is_ok() { return; }
    let d = cpu.ntt_domain(log).unwrap();
    let ad = Radix2EvaluationDomain::<Fr>::new(n).unwrap();
    let mut v = scalars.clone();
    let mut w = scalars.clone();
    for _ in 0..3 {
        let t = Instant::now();
        cpu.ntt(&d, &mut v, NttKind::Forward).unwrap();
        let ta = t.elapsed();
        let t = Instant::now();
        ad.fft_in_place(&mut w);
        let tb = t.elapsed();
        assert_eq!(v, w);
        println!("ntt 2^{log}: fornax {:?} ark {:?} ratio {:.2}", ta, tb, tb.as_secs_f64() / ta.as_secs_f64());
    }
}
