//! Forward NTT, 2^12 … 2^22 elements: Fornax's CPU backend next to arkworks'
//! `Radix2EvaluationDomain`.

use ark_bn254::Fr;
use ark_ff::UniformRand;
use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fornax_kernels::{CpuBackend, NttBackend, NttKind};
use rand::SeedableRng;

fn ntt(c: &mut Criterion) {
    let mut group = c.benchmark_group("ntt");
    group.sample_size(10);
    let cpu = CpuBackend::new();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    for log in [12u32, 14, 16, 18, 20, 22] {
        let input: Vec<Fr> = (0..1usize << log).map(|_| Fr::rand(&mut rng)).collect();
        let domain = cpu.ntt_domain(log).expect("domain");
        let ark = Radix2EvaluationDomain::<Fr>::new(1 << log).expect("domain");
        let mut a = input.clone();
        let mut b = input;
        group.bench_with_input(BenchmarkId::new("fornax", log), &log, |bench, _| {
            bench.iter(|| cpu.ntt(&domain, &mut a, NttKind::Forward).expect("ntt"))
        });
        group.bench_with_input(BenchmarkId::new("arkworks", log), &log, |bench, _| {
            bench.iter(|| ark.fft_in_place(&mut b))
        });
    }
    group.finish();
}

criterion_group!(benches, ntt);
criterion_main!(benches);
