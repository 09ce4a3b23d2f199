//! G1 MSM, 2^12 … 2^20 terms: Fornax's CPU backend next to arkworks' `VariableBaseMSM`.

use ark_bn254::G1Projective;
use ark_ec::VariableBaseMSM;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fornax_kernels::{CpuBackend, MsmBackend};

fn msm(c: &mut Criterion) {
    let mut group = c.benchmark_group("msm-g1");
    group.sample_size(10);
    let cpu = CpuBackend::new();
    for log in [12u32, 14, 16, 18, 20] {
        let (bases, scalars) = fornax_bench::msm_inputs(log, 1);
        let handle = cpu.upload_g1(&bases).expect("upload");
        group.bench_with_input(BenchmarkId::new("fornax", log), &log, |b, _| {
            b.iter(|| cpu.msm_g1(&handle, &scalars).expect("msm"))
        });
        group.bench_with_input(BenchmarkId::new("arkworks", log), &log, |b, _| {
            b.iter(|| G1Projective::msm(&bases, &scalars).expect("msm"))
        });
    }
    group.finish();
}

criterion_group!(benches, msm);
criterion_main!(benches);
