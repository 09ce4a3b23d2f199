//! Writes a synthetic Groth16 circuit of 2^LOG constraints as files: `DIR/c.zkey` (an
//! INSECURE key) and `DIR/c.wtns`, for measuring `fornax prove` as a whole process.
//!
//! `cargo run --release -p fornax-bench --example write_fixture -- 18 /tmp/fx`

fn main() {
    let mut args = std::env::args().skip(1);
    let log: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(18);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "fixture".into()));
    std::fs::create_dir_all(&dir).expect("the output folder");
    let fx = fornax_bench::groth16_fixture(log, 7);
    std::fs::write(dir.join("c.zkey"), fx.key.to_bytes()).expect("writing the zkey");
    std::fs::write(
        dir.join("c.wtns"),
        fornax_prover::wtns::to_bytes(&fx.witness),
    )
    .expect("writing the witness");
    println!(
        "2^{log}: {} constraints, {} wires, in {}",
        fx.r1cs.constraints.len(),
        fx.key.n_vars,
        dir.display()
    );
}
