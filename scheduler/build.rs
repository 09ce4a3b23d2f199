//! Records the versions of the libraries that benchmark results depend on (from the
//! workspace's Cargo.lock), for `fornax bench`'s result files.

fn main() {
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let text = std::fs::read_to_string(&lock).unwrap_or_default();
    let wanted = ["ark-ec", "ark-groth16", "ark-poly", "tfhe", "rayon"];
    let mut found = Vec::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            if wanted.contains(&n.as_str()) && !found.iter().any(|(f, _)| f == &n) {
                found.push((n, v.trim_matches('"').to_string()));
            }
        }
    }
    let versions: Vec<String> = found.iter().map(|(n, v)| format!("{n}={v}")).collect();
    println!("cargo:rustc-env=FORNAX_DEP_VERSIONS={}", versions.join(","));
}
