//! The CUDA program compiles, without a GPU: with NVRTC exactly as the backend does at run
//! time, and with nvcc to PTX for sm_90 (the H100) assembled by ptxas, which checks the
//! inline PTX carry chains that NVRTC passes through unread.
//!
//! The tools come from PyPI (`ops/cuda-tools.sh`, run by the test command, which exports
//! `FORNAX_CUDA_TOOLS` and puts NVRTC on the library path). Without them these tests skip
//! loudly; `FORNAX_REQUIRE_CUDA_TOOLS=1` (set by the test command) makes a skip a failure.

use std::path::PathBuf;
use std::process::Command;

use fornax_kernels::cuda::{self, source};

fn skip(what: &str) {
    if std::env::var("FORNAX_REQUIRE_CUDA_TOOLS").as_deref() == Ok("1") {
        panic!("FORNAX_REQUIRE_CUDA_TOOLS=1 but {what}");
    }
    eprintln!("SKIPPED: {what} (run ops/cuda-tools.sh, or set FORNAX_CUDA_TOOLS)");
}

fn tool(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FORNAX_CUDA_TOOLS") {
        let p = PathBuf::from(dir).join("bin").join(name);
        return p.exists().then_some(p);
    }
    let found = Command::new("which").arg(name).output().ok()?;
    found
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&found.stdout).trim()))
}

fn entries(ptx: &str) -> Vec<String> {
    ptx.lines()
        .filter_map(|l| l.split(".entry ").nth(1))
        .map(|rest| rest.trim_end_matches('(').trim().to_string())
        .collect()
}

#[test]
fn nvrtc_compiles_the_program_for_the_h100() {
    // SAFETY: only tries to dlopen libnvrtc.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return skip("NVRTC (libnvrtc.so) is not on the library path");
    }
    let started = std::time::Instant::now();
    let ptx = cuda::compile_program(9, 0).unwrap_or_else(|log| panic!("NVRTC failed:\n{log}"));
    let text = ptx.to_src();
    eprintln!(
        "NVRTC: {} lines of PTX for compute_90 in {:.1?}",
        text.lines().count(),
        started.elapsed()
    );
    let defined = entries(&text);
    for name in source::KERNELS
        .iter()
        .chain(source::SELFTEST_KERNELS.iter())
    {
        assert!(
            defined.iter().any(|d| d == name),
            "kernel {name} missing from the PTX"
        );
    }
    assert!(text.contains(".target sm_90"), "PTX not for sm_90");
    for op in [
        "mad.lo.cc.u32",
        "madc.hi.cc.u32",
        "addc.cc.u32",
        "subc.cc.u32",
    ] {
        assert!(
            text.contains(op),
            "the field arithmetic lost its {op} carry chain"
        );
    }
    // An error in the source is reported with NVRTC's log, not a panic.
    let bad = cuda::compile_program(0, 0).expect_err("compute_00 does not exist");
    assert!(!bad.is_empty());
}

#[test]
fn nvcc_and_ptxas_compile_the_program_for_sm_90() {
    let (Some(nvcc), Some(ptxas)) = (tool("nvcc"), tool("ptxas")) else {
        return skip("nvcc/ptxas not found");
    };
    let dir = std::env::temp_dir().join(format!("fornax-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cu = dir.join("fornax.cu");
    let ptx = dir.join("fornax.ptx");
    let cubin = dir.join("fornax.cubin");
    std::fs::write(&cu, source::program()).unwrap();

    let out = Command::new(&nvcc)
        .args(["-arch=sm_90", "--ptx", "-o"])
        .arg(&ptx)
        .arg(&cu)
        .output()
        .expect("running nvcc");
    assert!(
        out.status.success(),
        "nvcc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&ptx).unwrap();
    let defined = entries(&text);
    for name in source::KERNELS
        .iter()
        .chain(source::SELFTEST_KERNELS.iter())
    {
        assert!(
            defined.iter().any(|d| d == name),
            "kernel {name} missing from nvcc's PTX"
        );
    }

    // ptxas assembles the PTX for the H100 and reports each kernel's registers and spills.
    let out = Command::new(&ptxas)
        .args(["-arch=sm_90", "-v", "-o"])
        .arg(&cubin)
        .arg(&ptx)
        .output()
        .expect("running ptxas");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ptxas failed:\n{log}");
    assert!(std::fs::metadata(&cubin).unwrap().len() > 0);
    let mut function = String::new();
    for line in log.lines() {
        if let Some(name) = line.split("Compiling entry function '").nth(1) {
            function = name.split('\'').next().unwrap_or_default().to_string();
        } else if let Some(name) = line.split("Function properties for ").nth(1) {
            function = name.trim().to_string();
        } else if line.contains("registers") {
            eprintln!(
                "ptxas: {function}: {}",
                line.split("info    :").last().unwrap_or(line).trim()
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
