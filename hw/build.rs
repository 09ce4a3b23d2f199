//! Builds the RTL's co-simulation models: Verilator turns `rtl/*.sv` into C++, which is
//! compiled with Verilator's runtime (5.006 ships no `libverilated.a`: `verilated.cpp`
//! and `verilated_threads.cpp` are compiled here) and a C shim per model.
//!
//! Without `verilator` on the PATH (or `FORNAX_VERILATOR`) the crate builds without the
//! models (`cfg(fornax_no_sim)`), says so, and its simulation tests fail when
//! `FORNAX_REQUIRE_VERILATOR=1` (the test command sets it; `ops/setup.sh` installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A model: its name in Rust's C ABI, its top module and sources, and the Verilator
/// parameters it is built with. Its C shim is `sim/<top>_shim.cpp`.
struct Model {
    name: &'static str,
    top: &'static str,
    sources: &'static [&'static str],
    params: &'static [&'static str],
}

const MULTIPLIER: &[&str] = &["fq_mont_mul.sv", "wide_mul.sv"];
const ADDER: &[&str] = &[
    "g1_add_mixed.sv",
    "fq_arith.sv",
    "fq_mont_mul.sv",
    "wide_mul.sv",
];
const NTT: &[&str] = &[
    "ntt_engine.sv",
    "tdp_ram.sv",
    "fq_arith.sv",
    "fq_mont_mul.sv",
    "wide_mul.sv",
];
const ENGINE: &[&str] = &[
    "msm_bucket_engine.sv",
    "g1_add_mixed.sv",
    "fq_arith.sv",
    "fq_mont_mul.sv",
    "wide_mul.sv",
];

/// The bucket engine's window, in bits: `C` of every `msm_bucket_engine` model (its shim
/// reports it to Rust).
const ENGINE_C: u32 = 8;

/// The NTT engine's largest transform, as log2 of its length (`LOGN_MAX`).
const NTT_LOGN_MAX: u32 = 12;

/// Extra write-back stages of every engine model (`WRITEBACK_DELAY`): the adder's 13 cycles
/// stretched to 61, a timing-closed adder's latency, longer than the 32 cycles a point
/// occupies, so that additions into one bucket collide and the hazard logic works.
const ENGINE_WRITEBACK_DELAY: u32 = 48;

const MODELS: &[Model] = &[
    Model {
        name: "fq_mont_mul",
        top: "fq_mont_mul",
        sources: MULTIPLIER,
        params: &[],
    },
    // The same multiplier with bit 3 of its result flipped: the tests must see it.
    Model {
        name: "fq_mont_mul_faulty",
        top: "fq_mont_mul",
        sources: MULTIPLIER,
        params: &["-GFAULT_BIT=3"],
    },
    Model {
        name: "g1_add_mixed",
        top: "g1_add_mixed",
        sources: ADDER,
        params: &[],
    },
    Model {
        name: "msm_bucket_engine",
        top: "msm_bucket_engine",
        sources: ENGINE,
        params: &[],
    },
    // The engine with bit 3 of its adder's X output flipped: the conformance kit must fail it.
    Model {
        name: "msm_bucket_engine_faulty",
        top: "msm_bucket_engine",
        sources: ENGINE,
        params: &["-GFAULT_BIT=3"],
    },
    Model {
        name: "ntt_engine",
        top: "ntt_engine",
        sources: NTT,
        params: &[],
    },
];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fornax_no_sim)");
    println!("cargo::rustc-check-cfg=cfg(fornax_xrt_checked)");
    check_xrt_prototypes();
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
        let sources: Vec<PathBuf> = model.sources.iter().map(|f| rtl.join(f)).collect();
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
            .args(match model.top {
                "msm_bucket_engine" => vec![
                    format!("-GC={ENGINE_C}"),
                    format!("-GWRITEBACK_DELAY={ENGINE_WRITEBACK_DELAY}"),
                ],
                "ntt_engine" => vec![format!("-GLOGN_MAX={NTT_LOGN_MAX}")],
                _ => vec![],
            })
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
            .define("ENGINE_C", ENGINE_C.to_string().as_str())
            .define("NTT_LOGN_MAX", NTT_LOGN_MAX.to_string().as_str())
            .warnings(false)
            .debug(false)
            .file(manifest.join("sim").join(format!("{}_shim.cpp", model.top)));
        for f in generated_sources(&mdir) {
            build.file(f);
        }
        build.compile(&format!("fornax_{}", model.name));
    }
}

/// With feature `xrt`: compiles `sim/xrt_prototypes.c` (the driver's prototypes beside XRT's
/// headers, a mismatch is an error) where libxrt-dev is installed, and says
/// `cfg(fornax_xrt_checked)`; where it is not, says why and goes on (the driver loads XRT at
/// run time and builds without it).
fn check_xrt_prototypes() {
    if std::env::var_os("CARGO_FEATURE_XRT").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let file = manifest.join("sim").join("xrt_prototypes.c");
    println!("cargo::rerun-if-changed={}", file.display());
    let include = Path::new("/usr/include/xrt");
    if !include.join("xrt").join("xrt_kernel.h").exists() {
        println!(
            "cargo::warning=fornax-hw: XRT's headers are missing (apt install libxrt-dev): the driver's prototypes are not checked"
        );
        return;
    }
    let mut cc = cc::Build::new().get_compiler().to_command();
    let out = cc
        .arg("-fsyntax-only")
        .arg("-std=c11")
        .arg("-I")
        .arg(include)
        .arg(&file)
        .output()
        .expect("running the C compiler");
    assert!(
        out.status.success(),
        "src/xrt.rs's prototypes differ from XRT's headers:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("cargo::rustc-cfg=fornax_xrt_checked");
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
