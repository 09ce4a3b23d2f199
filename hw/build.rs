//! Builds the RTL's co-simulation models: Verilator turns `rtl/*.sv` into C++, which is
//! compiled with Verilator's runtime (5.006 ships no `libverilated.a`: `verilated.cpp`
//! and `verilated_threads.cpp` are compiled here) and a C shim per model.
//!
//! Without `verilator` on the PATH (or `FORNAX_VERILATOR`) the crate builds without the
//! models (`cfg(fornax_no_sim)`), says so, and its simulation tests fail when
//! `FORNAX_REQUIRE_VERILATOR=1` (the test command sets it; `ops/setup.sh` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A model: its name in Rust's C ABI, and the Verilator parameters it is built with.
struct Model {
    name: &'static str,
    top: &'static str,
    params: &'static [&'static str],
}

const MODELS: &[Model] = &[
    Model {
        name: "fq_mont_mul",
        top: "fq_mont_mul",
        params: &[],
    },
    // The same multiplier with bit 3 of its result flipped: the tests must see it.
    Model {
        name: "fq_mont_mul_faulty",
        top: "fq_mont_mul",
        params: &["-GFAULT_BIT=3"],
    },
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fornax_no_sim)");
    println!("cargo::rerun-if-env-changed=FORNAX_VERILATOR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let rtl = manifest.join("rtl");
    println!("cargo::rerun-if-changed={}", rtl.display());
    println!("cargo::rerun-if-changed={}", manifest.join("sim").display());
    let verilator = std::env::var("FORNAX_VERILATOR").unwrap_or_else(|_| "verilator".into());
    let Some(root) = verilator_root(&verilator) else {
        println!(
            "cargo::warning=fornax-hw: `{verilator}` not found: built without the RTL co-simulation (run ops/setup.sh)"
        );
        println!("cargo::rustc-cfg=fornax_no_sim");
        return;
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let sources: Vec<PathBuf> = ["fq_mont_mul.sv", "wide_mul.sv"]
        .iter()
        .map(|f| rtl.join(f))
        .collect();
    let include = root.join("include");

    // Verilator's runtime, once.
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .opt_level(2)
        .include(&include)
        .include(include.join("vltstd"))
        .define("VM_COVERAGE", "0")
        .define("VM_SC", "0")
        .define("VM_TRACE", "0")
        .define("VM_TRACE_FST", "0")
        .define("VM_TRACE_VCD", "0")
        .warnings(false)
        .debug(false)
        .file(include.join("verilated.cpp"))
        .file(include.join("verilated_threads.cpp"))
        .compile("fornax_verilated");

    for model in MODELS {
        let prefix = format!("V{}", model.name);
        let mdir = out.join(model.name);
        let _ = std::fs::remove_dir_all(&mdir);
        let status = Command::new(&verilator)
            .args([
                "--cc",
                "-O3",
                "--no-timing",
                "-Wno-fatal",
                "-Wno-lint",
                "-Wno-style",
            ])
            .args(["--top-module", model.top, "--prefix", &prefix])
            .arg("--Mdir")
            .arg(&mdir)
            .args(model.params)
            .args(&sources)
            .status()
            .expect("running verilator");
        assert!(status.success(), "verilator failed on {}", model.name);
        let mut build = cc::Build::new();
        build
            .cpp(true)
            .std("c++17")
            .opt_level(1)
            .include(&include)
            .include(include.join("vltstd"))
            .include(&mdir)
            .define("VM_COVERAGE", "0")
            .define("VM_SC", "0")
            .define("VM_TRACE", "0")
            .define("VM_TRACE_FST", "0")
            .define("VM_TRACE_VCD", "0")
            .define("MODEL", prefix.as_str())
            .define("MODEL_HEADER", format!("\"{prefix}.h\"").as_str())
            .define("SHIM_FN(x)", format!("fornax_{}_##x", model.name).as_str())
            .warnings(false)
            .debug(false)
            .file(manifest.join("sim").join(format!("{}_shim.cpp", model.top)));
        for f in generated_sources(&mdir) {
            build.file(f);
        }
        build.compile(&format!("fornax_{}", model.name));
    }
}

/// Verilator's install root (where `include/verilated.cpp` is), or `None` without Verilator.
fn verilator_root(verilator: &str) -> Option<PathBuf> {
    let out = Command::new(verilator)
        .arg("--getenv")
        .arg("VERILATOR_ROOT")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    root.join("include/verilated.cpp").exists().then_some(root)
}

/// The C++ files Verilator wrote for one model.
fn generated_sources(mdir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(mdir)
        .expect("verilator's output folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    files.sort();
    files
}
