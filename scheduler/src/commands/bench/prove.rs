//! `fornax bench prove`: `fornax prove` as a whole process beside another prover on the
//! same files, repetitions interleaved, medians of wall time and of peak resident memory.
//!
//! The baseline is any command that takes rapidsnark's four arguments (`ZKEY WTNS PROOF
//! PUBLIC`) after its own: rapidsnark's `prover`, or another build of Fornax as `…/fornax
//! prove`. Each run is a fresh process; its peak resident memory is the kernel's
//! `ru_maxrss` for that child alone (`wait4`), its time the wall clock around it. Every
//! proof written is checked with the zkey's verification key by this process, so a
//! baseline that fails, or writes a wrong proof, stops the bench.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fornax_prover::json::{self, ProofJson};
use fornax_prover::ProvingKey;

/// What to compare.
#[derive(clap::Args, Debug)]
pub struct ProveBench {
    /// The proving key.
    #[arg(long)]
    zkey: PathBuf,
    /// The witness (`.wtns`).
    #[arg(long)]
    wtns: PathBuf,
    /// The baseline command, before its four arguments, e.g. "/opt/rapidsnark/prover" or
    /// "/tmp/fornax-old prove" (split on spaces) [default: this binary's `prove` only].
    #[arg(long)]
    baseline: Option<String>,
    /// Runs of each side (medians are reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One side's runs.
#[derive(Default, serde::Serialize)]
struct Side {
    command: String,
    wall_s: Vec<f64>,
    peak_rss_mib: Vec<f64>,
}

impl Side {
    fn medians(&self) -> (f64, f64) {
        (median(&self.wall_s), median(&self.peak_rss_mib))
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `bench prove`.
pub fn run(args: &ProveBench) -> Result<ExitCode> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let vk = ProvingKey::read(&args.zkey)?.verifying_key();
    let me = std::env::current_exe().context("this binary's path")?;
    let fornax: Vec<String> = vec![me.display().to_string(), "prove".into()];
    let baseline: Option<Vec<String>> = args
        .baseline
        .as_ref()
        .map(|b| b.split_whitespace().map(String::from).collect());
    if baseline.as_ref().is_some_and(|b| b.is_empty()) {
        bail!("--baseline is empty");
    }
    let dir = tempfile::tempdir()?;
    let mut sides = vec![(fornax, Side::default())];
    if let Some(b) = baseline {
        sides.push((b, Side::default()));
    }
    for (cmd, side) in sides.iter_mut() {
        side.command = cmd.join(" ");
    }
    // One run of each before timing (page cache, the baseline's first start).
    for (cmd, _) in &sides {
        one_run(cmd, args, dir.path(), &vk)?;
    }
    let progress = crate::progress::Progress::new();
    let mut bar = progress.bar("bench prove", (args.reps * sides.len()) as u64);
    for rep in 0..args.reps {
        // Alternate the order, so neither side always runs on a warmer machine.
        let order: Vec<usize> = if rep % 2 == 0 {
            (0..sides.len()).collect()
        } else {
            (0..sides.len()).rev().collect()
        };
        for k in order {
            let (wall, rss) = one_run(&sides[k].0, args, dir.path(), &vk)?;
            sides[k].1.wall_s.push(wall);
            sides[k].1.peak_rss_mib.push(rss);
            bar.step(&format!(
                "rep {} of {}: {} {wall:.2} s",
                rep + 1,
                args.reps,
                sides[k].1.command
            ));
        }
    }
    bar.finish("done");
    let (f_wall, f_rss) = sides[0].1.medians();
    println!(
        "fornax prove: {:.3} s, peak {:.1} MiB (median of {})",
        f_wall, f_rss, args.reps
    );
    let mut doc = serde_json::json!({
        "zkey": args.zkey.display().to_string(),
        "wtns": args.wtns.display().to_string(),
        "reps": args.reps,
        "commit": super::git_commit(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "machine": super::machine(&fornax_kernels::DeviceRegistry::discover()),
        "versions": super::versions(),
        "fornax": sides[0].1,
    });
    if let Some((_, base)) = sides.get(1) {
        let (b_wall, b_rss) = base.medians();
        println!(
            "baseline:     {:.3} s, peak {:.1} MiB ({})",
            b_wall, b_rss, base.command
        );
        println!(
            "fornax is {:.2}x as fast, in {:.2}x the memory",
            b_wall / f_wall,
            f_rss / b_rss
        );
        doc["baseline"] = serde_json::to_value(base)?;
        doc["baseline_version"] = program_version(&base.command).into();
        doc["speedup"] = (b_wall / f_wall).into();
        doc["memory_ratio"] = (f_rss / b_rss).into();
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One process: its wall seconds and peak resident MiB; its proof is checked.
fn one_run(
    cmd: &[String],
    args: &ProveBench,
    dir: &Path,
    vk: &fornax_prover::VerifyingKey,
) -> Result<(f64, f64)> {
    let (proof, public) = (dir.join("proof.json"), dir.join("public.json"));
    let _ = std::fs::remove_file(&proof);
    let t = Instant::now();
    let child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .arg(&args.zkey)
        .arg(&args.wtns)
        .arg(&proof)
        .arg(&public)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", cmd.join(" ")))?;
    let (status, max_rss_kib) = wait_with_rusage(child.id() as libc::pid_t)?;
    let wall = t.elapsed().as_secs_f64();
    if !status {
        bail!("`{} …` failed", cmd.join(" "));
    }
    let p = json::read_json::<ProofJson>(&proof)?.to_proof(&proof.display().to_string())?;
    let values: Vec<serde_json::Value> = json::read_json(&public)?;
    let inputs = json::public_from_json(&public.display().to_string(), &values)?;
    if !fornax_prover::verify(vk, &inputs, &p)? {
        bail!("`{}` wrote a proof the key does not accept", cmd.join(" "));
    }
    Ok((wall, max_rss_kib as f64 / 1024.0))
}

/// Waits for child `pid`: whether it exited with 0, and its own peak resident KiB.
fn wait_with_rusage(pid: libc::pid_t) -> Result<(bool, i64)> {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (std's handle never waited on it).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e).context("waiting for the prover");
        }
    }
    Ok((
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    ))
}

/// What the first word of `command` says of its version (`--version`, first line, within
/// 10 s), or "unknown": snarkjs, rapidsnark and other provers each answer their own way.
fn program_version(command: &str) -> String {
    let Some(program) = command.split_whitespace().next() else {
        return "unknown".into();
    };
    let child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return "unknown".into();
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            let out = child
                .wait_with_output()
                .map(|o| [o.stdout, o.stderr].concat());
            return out
                .ok()
                .and_then(|b| {
                    String::from_utf8_lossy(&b)
                        .lines()
                        .map(str::trim)
                        .find(|l| !l.is_empty())
                        .map(|l| l.chars().take(120).collect())
                })
                .unwrap_or_else(|| "unknown".into());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    "unknown".into()
}
