//! Helpers shared by the integration tests: the circom/snarkjs fixtures and the tools.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The fixture directory built (or found cached) by `ops/circuits.sh`.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("ops/circuits.sh"))
            .current_dir(root())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "ops/circuits.sh failed (run ops/setup.sh first): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        root().join(
            stdout
                .lines()
                .last()
                .expect("the script prints the directory")
                .trim(),
        )
    })
}

/// `<fixtures>/<name>/<name>.<ext>`.
pub fn circuit(name: &str, ext: &str) -> PathBuf {
    fixtures().join(name).join(format!("{name}.{ext}"))
}

/// The circuit's witness generator.
pub fn wasm(name: &str) -> PathBuf {
    fixtures().join(name).join(format!("{name}_js/{name}.wasm"))
}

/// The circuit's snarkjs verification key.
pub fn vk(name: &str) -> PathBuf {
    fixtures().join(name).join("verification_key.json")
}

/// Runs the npm-installed snarkjs.
pub fn snarkjs(args: &[&Path]) -> Output {
    Command::new(root().join("ops/js/node_modules/.bin/snarkjs"))
        .args(args)
        .output()
        .expect("snarkjs runs")
}

/// stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `&Path` from a string, for argument lists.
pub fn sub(s: &str) -> &Path {
    Path::new(s)
}

/// The seed of a test's random inputs: `FORNAX_SEED` or fresh; printed.
pub fn seed() -> u64 {
    let seed = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (FORNAX_SEED={seed} replays it)");
    seed
}
