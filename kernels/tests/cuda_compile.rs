//! The CUDA program compiles, without a GPU: with NVRTC exactly as the backend does at run
//! time, and with nvcc to PTX for sm_90 (the H100) assembled by ptxas, which checks the
//! inline PTX carry chains that NVRTC passes through unread. ptxas's register and spill
//! counts are printed for every kernel, and no kernel may spill; the cubin nvcc makes is the
//! one the backend loads ahead of NVRTC when its name matches the source.
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
    let usage = ptxas_usage(&log);
    for (function, registers, spills) in &usage {
        eprintln!("ptxas: {function}: {registers}; {spills}");
    }
    for name in source::KERNELS
        .iter()
        .chain(source::SELFTEST_KERNELS.iter())
    {
        assert!(
            usage.iter().any(|(f, ..)| f == name),
            "ptxas reported nothing for kernel {name}"
        );
    }
    let spilling: Vec<&String> = usage
        .iter()
        .filter(|(_, _, spills)| !spills.contains("0 bytes spill stores, 0 bytes spill loads"))
        .map(|(f, ..)| f)
        .collect();
    assert!(spilling.is_empty(), "kernels spill registers: {spilling:?}");

    // The cubin, named after the source, is what the backend loads instead of NVRTC's PTX.
    let cubins = dir.join("cubins");
    std::fs::create_dir_all(&cubins).unwrap();
    let named = cubins.join(cuda::cubin_file_name(9, 0));
    std::fs::copy(&cubin, &named).unwrap();
    // No other test of this binary reads this variable, so setting it here races nothing.
    std::env::set_var("FORNAX_CUDA_CUBIN_DIR", &cubins);
    let image = cuda::kernel_image(9, 0).expect("the cubin is found and read");
    std::env::remove_var("FORNAX_CUDA_CUBIN_DIR");
    assert_eq!(image.origin, format!("cubin {}", named.display()));
    // Once per process: the second request is the same image, not a second read or compile.
    let again = cuda::kernel_image(9, 0).unwrap();
    assert!(std::sync::Arc::ptr_eq(&image, &again));
    std::fs::remove_dir_all(&dir).ok();
}

/// (kernel, register line, stack and spill line) for every entry function in ptxas's `-v`
/// log, whose "Function properties for F" line (stack frame, spills) precedes "Compiling
/// entry function 'F'" and the "Used N registers" line.
fn ptxas_usage(log: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut spills = String::new();
    let mut function: Option<String> = None;
    for line in log.lines() {
        let text = line.split("info    :").last().unwrap_or(line).trim();
        if let Some(name) = line.split("Compiling entry function '").nth(1) {
            function = Some(name.split('\'').next().unwrap_or_default().to_string());
        } else if text.contains("bytes spill stores") {
            spills = text.to_string();
        } else if text.starts_with("Used ") && text.contains("registers") {
            if let Some(f) = function.take() {
                out.push((f, text.to_string(), std::mem::take(&mut spills)));
            }
        }
    }
    out
}
