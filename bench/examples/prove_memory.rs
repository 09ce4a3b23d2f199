//! Peak memory of one Groth16 proof: builds a synthetic circuit of 2^LOG constraints
//! (default 20) with an insecure key, prepares it, resets the kernel's peak-RSS counter,
//! proves once and prints the peak resident memory of the proving step.
//!
//! `cargo run --release -p fornax-bench --example prove_memory -- 20`

use fornax_kernels::DeviceRegistry;
use fornax_prover::LocalExecutor;
use rand::SeedableRng;

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("linux /proc");
    let line = s
        .lines()
        .find(|l| l.starts_with(field))
        .expect("field present");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number")
}

fn main() {
    let log: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let fx = fornax_bench::groth16_fixture(log, 7);
    println!(
        "circuit: 2^{log} domain, {} constraints, {} wires",
        fx.r1cs.constraints.len(),
        fx.key.n_vars
    );
    println!(
        "key in memory: {:.0} MiB",
        fx.key.memory_bytes() as f64 / (1 << 20) as f64
    );
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let key = exec.prepare("synthetic.zkey", fx.key).expect("prepare");
    let witness = fx.witness;
    drop(fx.r1cs);
    println!(
        "after prepare: RSS {:.0} MiB",
        status_kib("VmRSS:") as f64 / 1024.0
    );
    // Reset the peak-RSS counter so the next reading covers the proof alone (on top of the
    // resident key and witness).
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let t = std::time::Instant::now();
    let (_, _, timings) = exec.prove(&key, witness, &mut rng).expect("proof");
    println!(
        "proof in {:.2} s (graph {:.2} s)",
        t.elapsed().as_secs_f64(),
        timings.total.as_secs_f64()
    );
    println!(
        "peak RSS while proving: {:.0} MiB",
        status_kib("VmHWM:") as f64 / 1024.0
    );
}
