//! `fornax bench --check FILE`: re-runs the command a result file records (any `fornax
//! bench` run that wrote it with `--json`: kernels, whole-process provers, scaling curves,
//! the FHE engine, the node) with this build, its `--json` pointed at a temporary file, and
//! prints each figure of the file beside today's and how far it moved.
//!
//! The figures are the numbers whose names carry a unit: times (`…_s`, `…_ms`, `…_us_…`),
//! rates (`…_per_s`), memory (`…_mib`), cycles, and ratios (`speedup`, `…ratio…`). Lists of
//! measurements are matched by position (the same command makes them in the same order)
//! and labelled by their other fields (sizes, worker counts, peers); lists of bare numbers
//! are repetitions, summarised by the medians beside them. A ratio is compared with a ratio,
//! so a run on another machine still reads sensibly; times are shown for what they are.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Fields of a result file that describe the run, not its figures.
const ABOUT_THE_RUN: [&str; 7] = [
    "commit", "command", "argv", "machine", "versions", "what", "skipped",
];

/// Runs the check of `file`.
pub fn run(file: &Path) -> Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let old: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let Some(args) = rerun_args(&old) else {
        bail!(
            "{}: only a `fornax bench … --json FILE` run can be re-run here (the file records \
             {})",
            file.display(),
            match old["command"].as_str() {
                Some(c) => format!("the command `{c}`"),
                None => "no command".into(),
            }
        );
    };
    if let Some(program) = runs_a_program(&args) {
        bail!(
            "{}: its command runs a program the file names ({program}); a result file is data, \
             so --check does not run it: read the command and run it yourself: fornax {}",
            file.display(),
            args.join(" ")
        );
    }
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
        .stdout(Stdio::null())
        .status()
        .context("running fornax")?;
    if !status.success() {
        bail!("the re-run failed ({status}); its messages are above");
    }
    let new: Value = serde_json::from_str(&std::fs::read_to_string(&fresh)?)?;
    let about = |doc: &Value| {
        format!(
            "commit {}, {}",
            doc["commit"].as_str().unwrap_or("?"),
            doc["machine"]["cpu"]
                .as_str()
                .or(doc["device"].as_str())
                .unwrap_or("machine not recorded")
        )
    };
    println!("file:  {}", about(&old));
    println!("today: {}", about(&new));
    if old["machine"]["cpu"] != new["machine"]["cpu"] {
        println!("(another machine: its ratios compare, its times do not)");
    }
    let (mut was, mut now) = (Vec::new(), Vec::new());
    figures(&old, "", &mut was);
    figures(&new, "", &mut now);
    println!(
        "{:<40} {:>12} {:>12} {:>8}",
        "figure", "was", "now", "moved"
    );
    let mut largest: [Option<(f64, String)>; 2] = [None, None]; // ratios, the rest
    let mut group = "";
    for f in &was {
        if f.group != group {
            group = &f.group;
            println!(
                "{}",
                if group.is_empty() {
                    "(top level)"
                } else {
                    group
                }
            );
        }
        let Some(today) = now
            .iter()
            .find(|n| n.group == f.group && n.field == f.field)
        else {
            println!("  {:<38} {:>12.4} {:>12}", f.field, f.value, "not measured");
            continue;
        };
        let moved = today.value / f.value - 1.0;
        println!(
            "  {:<38} {:>12.4} {:>12.4} {:>+7.1}%",
            f.field,
            f.value,
            today.value,
            moved * 100.0
        );
        let slot = &mut largest[usize::from(!is_ratio(&f.field))];
        if moved.is_finite() && slot.as_ref().is_none_or(|(m, _)| moved.abs() > *m) {
            *slot = Some((moved.abs(), format!("{} {}", f.group, f.field)));
        }
    }
    for (slot, what) in largest.iter().zip(["ratio", "time, rate or size"]) {
        match slot {
            Some((m, name)) => println!("largest move of a {what}: {:.1}% ({name})", m * 100.0),
            None => println!("largest move of a {what}: none compared"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The arguments to re-run a recorded `fornax bench` command with, without its program and
/// its `--json FILE`; `None` for any other command, and for the bench's helpers and report.
/// The argument list (`argv`) is used where the file has it, the command line otherwise.
fn rerun_args(doc: &Value) -> Option<Vec<String>> {
    let words: Vec<String> = match doc["argv"].as_array() {
        Some(argv) => argv
            .iter()
            .map(|w| w.as_str().map(String::from))
            .collect::<Option<_>>()?,
        None => doc["command"]
            .as_str()?
            .split_whitespace()
            .map(String::from)
            .collect(),
    };
    let (program, rest) = words.split_first()?;
    if !Path::new(program)
        .file_name()?
        .to_string_lossy()
        .starts_with("fornax")
    {
        return None;
    }
    if rest.first().map(String::as_str) != Some("bench")
        || !rest
            .iter()
            .any(|w| w == "--json" || w.starts_with("--json="))
        || rest
            .iter()
            .any(|w| ["report", "ark-prove", "measure", "--check"].contains(&w.as_str()))
    {
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
            args.push(w.clone());
        }
    }
    Some(args)
}

/// The first argument of `args` that makes the bench run a program other than this build
/// (`bench prove`'s `--baseline COMMAND` and its peers `cmd=`, `rapidsnark=`, `fornax=`),
/// or `None`. A result file may come from anyone; re-running it must not run what it names.
fn runs_a_program(args: &[String]) -> Option<String> {
    let named = |w: &str| {
        w.starts_with("--baseline")
            || ["cmd=", "rapidsnark=", "fornax="]
                .iter()
                .any(|p| w.starts_with(p) || w.starts_with(&format!("--peer={p}")))
    };
    args.iter().find(|w| named(w)).cloned()
}

/// One figure of a result file: the object it is in (by path, list elements labelled) and
/// its field.
#[derive(Debug, PartialEq)]
struct Figure {
    group: String,
    field: String,
    value: f64,
}

/// The words of a field's name (`p50_ms` → `p50`, `ms`).
fn words(name: &str) -> impl Iterator<Item = &str> {
    name.split('_')
}

/// Whether a field is a ratio (comparable across machines): `speedup`, `…ratio…`.
fn is_ratio(name: &str) -> bool {
    words(name).any(|w| w == "speedup" || w == "ratio")
}

/// Whether a field holds a measured figure rather than a parameter of the run: a ratio, or
/// a name with a unit (`…_s`, `…_ms`, `…_us_…`, `…_per_s`, `…_mib`, `…_cycles`).
fn is_figure(name: &str) -> bool {
    is_ratio(name)
        || words(name).any(|w| ["s", "ms", "us", "ns", "mib", "gib", "cycles"].contains(&w))
}

/// Collects the figures of `doc` (at `path`), in order.
fn figures(doc: &Value, path: &str, out: &mut Vec<Figure>) {
    let Value::Object(fields) = doc else { return };
    for (name, value) in fields {
        if path.is_empty() && ABOUT_THE_RUN.contains(&name.as_str()) {
            continue;
        }
        let here = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}.{name}")
        };
        match value {
            Value::Number(n) if is_figure(name) => {
                if let Some(value) = n.as_f64() {
                    out.push(Figure {
                        group: path.into(),
                        field: name.clone(),
                        value,
                    });
                }
            }
            Value::Object(_) => figures(value, &here, out),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if item.is_object() {
                        figures(item, &format!("{here}[{}]", label(item, i)), out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// An element of a list named by its parameters (its scalar fields that are not figures),
/// after its position.
fn label(item: &Value, position: usize) -> String {
    let mut words = vec![position.to_string()];
    if let Value::Object(fields) = item {
        for (name, value) in fields {
            let shown = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) if !is_figure(name) => n.to_string(),
                _ => continue,
            };
            words.push(format!("{name}={shown}"));
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn figures_are_named_by_path_and_parameters() {
        let doc = json!({
            "commit": "abc", "machine": {"memory_gib": 3.0},
            "reps": 3,
            "rows": [
                {"bench": "ntt", "log_size": 12, "fornax_s": 0.5, "speedup": 2.0, "wall_s": [1.0, 2.0]},
                {"bench": "ntt", "log_size": 14, "fornax_s": 1.5, "speedup": 3.0}
            ],
            "summary": {"overhead_ratio": 1.25, "tasks": 40, "partdec_us_per_block": 7.0,
                        "log_domain": 16}
        });
        let mut out = Vec::new();
        figures(&doc, "", &mut out);
        let names: Vec<String> = out
            .iter()
            .map(|f| format!("{} {}", f.group, f.field))
            .collect();
        assert_eq!(
            names,
            [
                "rows[0 bench=ntt log_size=12] fornax_s",
                "rows[0 bench=ntt log_size=12] speedup",
                "rows[1 bench=ntt log_size=14] fornax_s",
                "rows[1 bench=ntt log_size=14] speedup",
                "summary overhead_ratio",
                "summary partdec_us_per_block",
            ]
        );
        assert_eq!(out[3].value, 3.0);
    }

    #[test]
    fn only_fornax_bench_runs_with_json_are_rerun() {
        let args = |doc: Value| rerun_args(&doc);
        assert_eq!(
            args(json!({"command": "/x/fornax bench --msm 10 --json out.json --reps 1"})),
            Some(vec![
                "bench".into(),
                "--msm".into(),
                "10".into(),
                "--reps".into(),
                "1".into()
            ])
        );
        assert_eq!(
            args(
                json!({"argv": ["fornax", "bench", "prove", "--peer", "cmd=a b", "--json=x"],
                        "command": "ignored"})
            ),
            Some(vec![
                "bench".into(),
                "prove".into(),
                "--peer".into(),
                "cmd=a b".into()
            ])
        );
        for runs in [
            &["bench", "prove", "--peer", "cmd=rm -rf /"][..],
            &["bench", "prove", "--peer=rapidsnark=/tmp/x"][..],
            &["bench", "prove", "--baseline", "sh -c x"][..],
            &["bench", "groth16", "--peer", "fornax=/tmp/other"][..],
        ] {
            let args: Vec<String> = runs.iter().map(|w| w.to_string()).collect();
            assert!(runs_a_program(&args).is_some(), "{runs:?}");
        }
        let safe: Vec<String> = [
            "bench",
            "prove",
            "--peer",
            "snarkjs",
            "--peer",
            "ark-groth16",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect();
        assert_eq!(runs_a_program(&safe), None);
        for refused in [
            json!({"command": "snarkjs groth16 prove"}),
            json!({"command": "fornax bench report bench/results --json x"}),
            json!({"command": "fornax bench --msm 10"}),
            json!({"what": "no command"}),
        ] {
            assert_eq!(args(refused.clone()), None, "{refused}");
        }
    }
}
