//! Groth16 end to end on synthetic circuits: setup, zkey bytes, proving, verification, and
//! the errors for bad inputs.

use ark_bn254::Fr;
use ark_ff::UniformRand;
use fornax_kernels::DeviceRegistry;
use fornax_prover::json::{ProofJson, VerificationKeyJson};
use fornax_prover::{
    setup, synthetic, verify, wtns, JobGraph, LocalExecutor, ProverError, ProvingKey,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn rng() -> ChaCha20Rng {
    let seed: u64 = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("seed {seed} (replay with FORNAX_SEED={seed})");
    ChaCha20Rng::seed_from_u64(seed)
}

#[test]
fn prove_and_verify_synthetic_circuits() {
    let mut rng = rng();
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    for n in [2, 3, 100, 1000] {
        let (r1cs, witness) = synthetic::chain(n, &mut rng);
        assert_eq!(r1cs.check(&witness), Ok(()));
        let pk = setup::insecure_setup(&r1cs, &mut rng);
        // The key survives the zkey encoding bit for bit.
        let bytes = pk.to_bytes();
        let parsed = ProvingKey::from_bytes("mem.zkey", &bytes).unwrap();
        assert_eq!(parsed, pk);
        let vk = pk.verifying_key();
        let key = exec.prepare("mem.zkey", parsed).unwrap();
        let (proof, public, timings) = exec.prove(&key, witness.clone(), &mut rng).unwrap();
        assert_eq!(public, witness[1..3].to_vec());
        assert!(verify(&vk, &public, &proof).unwrap());
        assert_eq!(
            timings.jobs.len(),
            JobGraph::groth16("x", key.shape()).jobs.len()
        );
        // A wrong public input fails.
        let mut wrong = public.clone();
        wrong[0] += Fr::from(1u64);
        assert!(!verify(&vk, &wrong, &proof).unwrap());
        // JSON round trips.
        let pj = ProofJson::from_proof(&proof);
        assert_eq!(pj.to_proof("p.json").unwrap(), proof);
        let vj = VerificationKeyJson::from_key(&vk);
        assert_eq!(vj.to_key("vk.json").unwrap(), vk);
    }
}

#[test]
fn witness_that_does_not_satisfy_is_refused() {
    let mut rng = rng();
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let (r1cs, mut witness) = synthetic::chain(64, &mut rng);
    let pk = setup::insecure_setup(&r1cs, &mut rng);
    let key = exec.prepare("c.zkey", pk).unwrap();
    let i = rng.gen_range(3..witness.len());
    witness[i] = Fr::rand(&mut rng);
    match exec.prove(&key, witness.clone(), &mut rng) {
        Err(ProverError::UnsatisfiedWitness { zkey }) => assert_eq!(zkey, "c.zkey"),
        other => panic!("expected UnsatisfiedWitness, got {other:?}"),
    }
    witness.pop();
    match exec.prove(&key, witness, &mut rng) {
        Err(ProverError::Mismatch(m)) => assert!(m.contains("another circuit"), "{m}"),
        other => panic!("expected Mismatch, got {other:?}"),
    }
}

#[test]
fn job_graph_ids_are_deterministic_and_ordered() {
    let shape = fornax_prover::graph::Shape {
        n_vars: 10,
        n_public: 2,
        domain_size: 16,
    };
    let g1 = JobGraph::groth16("task-7", shape);
    let g2 = JobGraph::groth16("task-7", shape);
    assert_eq!(g1, g2);
    g1.validate().unwrap();
    let ids: Vec<String> = g1.jobs.iter().map(|j| j.id.0.clone()).collect();
    for role in [
        "witness",
        "intt-a",
        "coset-ntt-c",
        "msm-b2",
        "msm-h",
        "assemble",
    ] {
        assert!(
            ids.contains(&format!("task-7/{role}")),
            "{role} missing from {ids:?}"
        );
    }
    let waves = g1.waves();
    assert_eq!(waves.first().unwrap().len(), 1);
    assert_eq!(waves.last().unwrap()[0].id.0, "task-7/assemble");
}

#[test]
fn malformed_files_give_clear_errors() {
    let mut rng = rng();
    let (r1cs, witness) = synthetic::chain(40, &mut rng);
    let pk = setup::insecure_setup(&r1cs, &mut rng);
    let bytes = pk.to_bytes();
    // Truncation anywhere is an error naming the file, never a panic.
    for cut in [0, 3, 11, 20, 700, bytes.len() / 2, bytes.len() - 1] {
        let err = ProvingKey::from_bytes("cut.zkey", &bytes[..cut])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cut.zkey: "), "{err}");
    }
    // Bytes after the last section are refused (they would give one key many ids).
    for extra in [&b"\0"[..], b"trailing wasm bytes"] {
        let mut longer = bytes.clone();
        longer.extend_from_slice(extra);
        let err = ProvingKey::from_bytes("long.zkey", &longer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("after the last section"), "{err}");
    }
    // A flipped byte in a point section is caught (off-curve or out of range).
    let mut bad = bytes.clone();
    let at = bytes.len() - 200;
    bad[at] ^= 0x5a;
    assert!(ProvingKey::from_bytes("bad.zkey", &bad).is_err());
    // Witness files.
    let w = wtns::to_bytes(&witness);
    assert_eq!(wtns::from_bytes("w.wtns", &w).unwrap(), witness);
    let err = wtns::from_bytes("w.wtns", &w[..w.len() - 5])
        .unwrap_err()
        .to_string();
    assert!(err.contains("w.wtns") && err.contains("truncated"), "{err}");
    let err = wtns::from_bytes("k.wtns", &bytes).unwrap_err().to_string();
    assert!(err.contains("not a .wtns file"), "{err}");
    let mut big = w.clone();
    let last = big.len() - 32;
    big[last..].copy_from_slice(&[0xff; 32]);
    let err = wtns::from_bytes("w.wtns", &big).unwrap_err().to_string();
    assert!(err.contains("not below the field modulus"), "{err}");
}

/// The prover's jobs placed on the wgpu backend (lavapipe in CI): the proof verifies and,
/// the prover being deterministic given its randomness, equals the CPU backend's proof.
/// Skips loudly without an adapter; `FORNAX_REQUIRE_WGPU=1` makes that a failure.
#[test]
fn groth16_jobs_run_on_the_wgpu_backend() {
    use std::sync::Arc;
    let found = fornax_kernels::wgpu::probe(fornax_kernels::wgpu::ProbeOptions {
        allow_software: true,
        force_int32: false,
        g2_on_software: false,
    });
    let Some(wgpu) = found.into_iter().next() else {
        if std::env::var("FORNAX_REQUIRE_WGPU").as_deref() == Ok("1") {
            panic!("FORNAX_REQUIRE_WGPU=1 but there is no wgpu adapter");
        }
        eprintln!("SKIPPED (no wgpu adapter): Groth16 on wgpu not run");
        return;
    };
    let seed: u64 = rand::random();
    eprintln!("groth16 on wgpu: seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (r1cs, witness) = synthetic::chain(60, &mut rng);
    let pk = setup::insecure_setup(&r1cs, &mut rng);
    let vk = pk.verifying_key();
    // As the registry registers it: G1 and NTTs on the adapter, G2 on the CPU.
    let cpu: Arc<dyn fornax_kernels::Backend> = Arc::new(fornax_kernels::CpuBackend::new());
    let wgpu = fornax_kernels::Composed::complete(Arc::new(wgpu), &cpu);
    let on_gpu = LocalExecutor::new(DeviceRegistry::with_backends(vec![wgpu]));
    let on_cpu = LocalExecutor::new(DeviceRegistry::with_backends(vec![Arc::new(
        fornax_kernels::CpuBackend::new(),
    )]));
    let key = on_gpu.prepare("mem.zkey", pk.clone()).unwrap();
    let (proof, public, _) = on_gpu
        .prove(
            &key,
            witness.clone(),
            &mut ChaCha20Rng::seed_from_u64(seed ^ 1),
        )
        .unwrap();
    assert!(verify(&vk, &public, &proof).unwrap(), "seed {seed}");
    let cpu_key = on_cpu.prepare("mem.zkey", pk).unwrap();
    let (cpu_proof, _, _) = on_cpu
        .prove(&cpu_key, witness, &mut ChaCha20Rng::seed_from_u64(seed ^ 1))
        .unwrap();
    assert_eq!(proof, cpu_proof, "wgpu and CPU proofs differ (seed {seed})");
}

/// A proof whose five parts ran on their own (as on different workers) and were assembled
/// apart is the proof of the whole graph, bit for bit, given the same blinding; a part that
/// is wrong makes the assembled proof fail; parts survive their encoding, and bytes that
/// are no point are refused.
#[test]
fn parts_computed_apart_assemble_into_the_same_proof() {
    use fornax_prover::graph::Query;
    use fornax_prover::{Assembler, PartPoint, Parts};
    let mut rng = rng();
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let (r1cs, witness) = synthetic::chain(300, &mut rng);
    let pk = setup::insecure_setup(&r1cs, &mut rng);
    let assembler = Assembler::new("c.zkey", &pk);
    let key = exec.prepare("c.zkey", pk).unwrap();
    let seed: u64 = rng.gen();
    let (whole, public, _) = exec
        .prove(&key, witness.clone(), &mut ChaCha20Rng::seed_from_u64(seed))
        .unwrap();
    let point = |q: Query| {
        let (p, timings) = exec.run_part("t", &key, witness.clone(), q).unwrap();
        assert!(!timings.jobs.is_empty());
        // The encoding round trips.
        assert_eq!(PartPoint::from_bytes(q, &p.to_bytes()).unwrap(), p);
        p
    };
    let g1 = |p: PartPoint| match p {
        PartPoint::G1(p) => p,
        other => panic!("expected a G1 point, got {other:?}"),
    };
    let parts = Parts {
        a: g1(point(Query::A)),
        b1: g1(point(Query::B1)),
        b2: match point(Query::B2) {
            PartPoint::G2(p) => p,
            other => panic!("expected a G2 point, got {other:?}"),
        },
        c: g1(point(Query::C)),
        h: g1(point(Query::H)),
    };
    let blinding = Assembler::blinding(&mut ChaCha20Rng::seed_from_u64(seed));
    let apart = assembler.assemble(&parts, blinding, &public).unwrap();
    assert_eq!(apart, whole);
    // A wrong part (a worker's mistake, or a lie) fails the assembly's verification.
    let wrong = Parts {
        h: parts.h + parts.a,
        ..parts
    };
    assert!(matches!(
        assembler.assemble(&wrong, blinding, &public),
        Err(ProverError::UnsatisfiedWitness { .. })
    ));
    // Bytes that are not a point, or trail one, are refused.
    let bytes = PartPoint::G1(parts.a).to_bytes();
    assert!(PartPoint::from_bytes(Query::A, &bytes[..bytes.len() - 1]).is_err());
    assert!(PartPoint::from_bytes(Query::A, &[bytes.clone(), vec![0]].concat()).is_err());
    assert!(PartPoint::from_bytes(Query::B2, &bytes).is_err());
    // The H part's graph holds the evaluations and NTTs under it; an MSM's only the witness.
    let graph = JobGraph::groth16("t", key.shape());
    assert_eq!(
        graph.upto(fornax_prover::JobKind::Msm(Query::H)).jobs.len(),
        10
    );
    assert_eq!(
        graph
            .upto(fornax_prover::JobKind::Msm(Query::B2))
            .jobs
            .len(),
        2
    );
}

/// The Groth16 graph with its G1 MSMs and NTTs on the FPGA engines' co-simulation
/// (`fpga-sim:0`, its G2 MSM composed onto the CPU): the proof verifies. Skips where the
/// build had no Verilator, unless `FORNAX_REQUIRE_VERILATOR=1`.
#[test]
fn a_proof_with_its_msms_and_ntts_on_the_fpga_engines_verifies() {
    let registry = match DeviceRegistry::select(&["fpga-sim:0".to_string()]) {
        Ok(r) => r,
        Err(e) if std::env::var("FORNAX_REQUIRE_VERILATOR").as_deref() != Ok("1") => {
            eprintln!("SKIPPED: no fpga-sim:0 in this build: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let mut rng = rng();
    let exec = LocalExecutor::new(registry);
    let (r1cs, witness) = synthetic::chain(200, &mut rng);
    let pk = setup::insecure_setup(&r1cs, &mut rng);
    let vk = pk.verifying_key();
    let key = exec.prepare("fpga.zkey", pk).unwrap();
    let (proof, public, timings) = exec.prove(&key, witness, &mut rng).unwrap();
    assert!(verify(&vk, &public, &proof).unwrap(), "the proof verifies");
    let roles: Vec<&str> = timings.jobs.iter().map(|(r, _, _)| r.as_str()).collect();
    assert!(
        timings
            .jobs
            .iter()
            .all(|(_, device, _)| device == "fpga-sim:0"),
        "every job on the named device: {:?}",
        timings.jobs
    );
    eprintln!("jobs on fpga-sim:0: {roles:?} in {:?}", timings.total);
}
