//! `fornax bench --check FILE`: re-runs the command a kernel result file records with this
//! build (its `--json` pointed at a temporary file), and prints, row by row, the file's
//! figures beside today's and how far they moved. A ratio is compared with a ratio, so a
//! different machine still reads sensibly; times are shown for what they are.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Runs the check of `file`.
pub fn run(file: &Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let old: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(command) = old["command"].as_str() else {
        bail!("{} records no command to re-run", file.display());
    };
    let Some(args) = rerun_args(command) else {
        bail!(
            "{}: only `fornax bench` kernel runs can be re-run here (the command is `{command}`)",
            file.display()
        );
    };
    let tmp = tempfile::tempdir()?;
    let fresh = tmp.path().join("now.json");
    let me = std::env::current_exe()?;
    println!(
        "re-running: fornax {} --json {}",
        args.join(" "),
        fresh.display()
    );
    let status = Command::new(&me)
        .args(&args)
        .arg("--json")
        .arg(&fresh)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running fornax")?;
    if !status.success() {
        bail!("the re-run failed ({status})");
    }
    let new: Value = serde_json::from_str(&std::fs::read_to_string(&fresh)?)?;
    println!(
        "file:  {}, commit {}",
        old["device"].as_str().unwrap_or("?"),
        old["commit"].as_str().unwrap_or("?")
    );
    println!(
        "today: {}, commit {}",
        new["device"].as_str().unwrap_or("?"),
        new["commit"].as_str().unwrap_or("?")
    );
    println!(
        "{:<8} {:>5} {:>12} {:>12} {:>9} {:>9} {:>8}",
        "bench", "size", "was", "now", "ratio was", "ratio now", "moved"
    );
    let rows = |doc: &Value| doc["rows"].as_array().cloned().unwrap_or_default();
    let mut largest: f64 = 0.0;
    for row in rows(&old) {
        let key = (row["bench"].clone(), row["log_size"].clone());
        let Some(now) = rows(&new)
            .into_iter()
            .find(|r| (r["bench"].clone(), r["log_size"].clone()) == key)
        else {
            println!("{} 2^{}: not measured today", key.0, key.1);
            continue;
        };
        let (was_s, now_s) = (
            row["fornax_s"].as_f64().unwrap_or(f64::NAN),
            now["fornax_s"].as_f64().unwrap_or(f64::NAN),
        );
        let (was_x, now_x) = (
            row["speedup"].as_f64().unwrap_or(f64::NAN),
            now["speedup"].as_f64().unwrap_or(f64::NAN),
        );
        let moved = now_x / was_x - 1.0;
        if moved.is_finite() {
            largest = largest.max(moved.abs());
        }
        println!(
            "{:<8} {:>5} {:>10.2}ms {:>10.2}ms {:>8.2}x {:>8.2}x {:>+7.1}%",
            row["bench"].as_str().unwrap_or("?"),
            format!("2^{}", row["log_size"]),
            was_s * 1e3,
            now_s * 1e3,
            was_x,
            now_x,
            moved * 100.0
        );
    }
    println!("largest move of a speed-up: {:.1}%", largest * 100.0);
    Ok(ExitCode::SUCCESS)
}

/// The arguments of a recorded `fornax bench` kernel command, without its program and its
/// `--json FILE`; `None` for any other command.
fn rerun_args(command: &str) -> Option<Vec<String>> {
    let mut words = command.split_whitespace();
    let program = words.next()?;
    let name = Path::new(program).file_name()?.to_string_lossy();
    if !name.starts_with("fornax") {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    if rest.first() != Some(&"bench") || rest.get(1).is_some_and(|w| !w.starts_with('-')) {
        return None;
    }
    let mut args = Vec::new();
    let mut skip = false;
    for w in rest {
        if skip {
            skip = false;
        } else if w == "--json" {
            skip = true;
        } else if !w.starts_with("--json=") {
            args.push(w.to_string());
        }
    }
    Some(args)
}
