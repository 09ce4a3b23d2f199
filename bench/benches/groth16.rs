//! Groth16 proving of 2^16 … 2^18-constraint circuits with one key: Fornax next to
//! ark-groth16 (with snarkjs's reduction, so both use the same key).

use ark_bn254::{Bn254, Fr};
use ark_ff::UniformRand;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use fornax_bench::{ark_matrices, groth16_fixture, to_ark_key, CircomReduction};
use fornax_kernels::DeviceRegistry;
use fornax_prover::LocalExecutor;
use rand::SeedableRng;

fn groth16(c: &mut Criterion) {
    let mut group = c.benchmark_group("groth16");
    group.sample_size(10);
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    for log in [16u32, 17, 18] {
        let fx = groth16_fixture(log, 1);
        let ark_pk = to_ark_key(&fx.key);
        let matrices = ark_matrices(&fx.r1cs);
        let n_inputs = fx.r1cs.n_public() + 1;
        let n_constraints = fx.r1cs.constraints.len();
        let key = exec.prepare("bench.zkey", fx.key).expect("prepare");
        group.bench_with_input(BenchmarkId::new("fornax", log), &log, |b, _| {
            b.iter(|| {
                exec.prove(&key, fx.witness.clone(), &mut rng)
                    .expect("proof")
            })
        });
        group.bench_with_input(BenchmarkId::new("ark-groth16", log), &log, |b, _| {
            b.iter(|| {
                let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
                ark_groth16::Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                    &ark_pk,
                    r,
                    s,
                    &matrices,
                    n_inputs,
                    n_constraints,
                    &fx.witness,
                )
                .expect("proof")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, groth16);
criterion_main!(benches);
