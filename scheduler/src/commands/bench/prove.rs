//! `fornax bench prove` (also `fornax bench groth16`): `fornax prove` as a whole process
//! beside other provers on the same files, repetitions interleaved, medians of wall time
//! and of peak resident memory, one row per circuit.
//!
//! Peers (`--peer`, repeatable): `snarkjs` (from `PATH` or the set-up's
//! `ops/js/node_modules`), `rapidsnark=PATH` (its `prover`; rapidsnark is in no package
//! registry, so the bench says so and goes on without it when the path is missing),
//! `ark-groth16` (this binary's hidden `bench ark-prove`: ark-groth16 with the circom
//! reduction, as a process of its own), `fornax=PATH` (another build) and `cmd=COMMAND`
//! (anything that takes rapidsnark's four arguments `ZKEY WTNS PROOF PUBLIC` after its own
//! words). Each run is a fresh process; its peak resident memory is the kernel's
//! `ru_maxrss` for that child alone (`wait4`), its time the wall clock around it. Every
//! proof written is checked with the zkey's verification key by this process, and each
//! prover's first proof of each circuit by `snarkjs groth16 verify` too where snarkjs is
//! installed; a prover that fails, or writes a wrong proof, stops the bench.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use fornax_prover::json::{self, ProofJson};
use fornax_prover::ProvingKey;

/// What to compare.
#[derive(clap::Args, Debug)]
pub struct ProveBench {
    /// The proving key of one circuit (with `--wtns`).
    #[arg(long, requires = "wtns", required_unless_present = "circuit")]
    zkey: Option<PathBuf>,
    /// The witness (`.wtns`) of that circuit.
    #[arg(long, requires = "zkey")]
    wtns: Option<PathBuf>,
    /// A folder with `c.zkey` and `c.wtns` (as `bench/circuit.sh` writes them); repeat it
    /// for several sizes.
    #[arg(long, conflicts_with = "zkey")]
    circuit: Vec<PathBuf>,
    /// A prover to run beside Fornax, repeatable: `snarkjs`, `rapidsnark=PATH`,
    /// `ark-groth16`, `fornax=PATH` or `cmd=COMMAND`.
    #[arg(long)]
    peer: Vec<String>,
    /// As `--peer cmd=COMMAND`, e.g. "/opt/rapidsnark/prover" or "/tmp/fornax-old prove"
    /// (split on spaces).
    #[arg(long)]
    baseline: Option<String>,
    /// Runs of each prover per circuit (medians are reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One prover's runs on one circuit.
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

/// A prover: its name in tables and the command before its four arguments.
struct Prover {
    name: String,
    command: Vec<String>,
}

/// The prover `spec` names, or why it is left out (`Ok(Err(reason))`); an unknown kind is
/// an error.
fn peer(spec: &str, me: &Path) -> Result<std::result::Result<Prover, String>> {
    let (kind, value) = match spec.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (spec, None),
    };
    let this = |name: &str, command: Vec<String>| {
        Ok(Ok(Prover {
            name: name.into(),
            command,
        }))
    };
    match (kind, value) {
        ("snarkjs", None) => match snarkjs() {
            Some(path) => this("snarkjs", vec![path, "groth16".into(), "prove".into()]),
            None => Ok(Err(
                "snarkjs is not on PATH nor in ops/js/node_modules (run ops/setup.sh)".into(),
            )),
        },
        ("rapidsnark", Some(path)) => {
            if Path::new(path).is_file() {
                this("rapidsnark", vec![path.into()])
            } else {
                Ok(Err(format!(
                    "no rapidsnark prover at {path}: rapidsnark is in no package registry; \
                     build it (github.com/iden3/rapidsnark) and give its `prover`'s path"
                )))
            }
        }
        ("ark-groth16", None) => this(
            "ark-groth16",
            vec![me.display().to_string(), "bench".into(), "ark-prove".into()],
        ),
        ("fornax", Some(path)) => {
            if Path::new(path).is_file() {
                this(
                    &format!("fornax ({path})"),
                    vec![path.into(), "prove".into()],
                )
            } else {
                Ok(Err(format!("no Fornax build at {path}")))
            }
        }
        ("cmd", Some(command)) => {
            let words: Vec<String> = command.split_whitespace().map(String::from).collect();
            if words.is_empty() {
                bail!("--peer cmd= needs a command");
            }
            let name = words
                .iter()
                .map(|w| w.rsplit('/').next().unwrap_or(w))
                .collect::<Vec<_>>()
                .join(" ");
            this(&name, words)
        }
        _ => bail!(
            "unknown peer `{spec}`: use snarkjs, rapidsnark=PATH, ark-groth16, fornax=PATH or \
             cmd=COMMAND"
        ),
    }
}

/// snarkjs's path: `FORNAX_SNARKJS`, on `PATH`, or where `ops/setup.sh` installs it
/// (`ops/js/node_modules/.bin`, from the repository's root).
fn snarkjs() -> Option<String> {
    if let Some(path) = std::env::var_os("FORNAX_SNARKJS") {
        return Some(PathBuf::from(path).display().to_string());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("snarkjs"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            let local = PathBuf::from("ops/js/node_modules/.bin/snarkjs");
            local.is_file().then_some(local)
        })
        .map(|p| p.display().to_string())
}

/// One circuit: its files and verification keys.
struct Circuit {
    zkey: PathBuf,
    wtns: PathBuf,
    log_domain: u32,
    vk: fornax_prover::VerifyingKey,
    /// The verification key as snarkjs exported it, where snarkjs is installed.
    snarkjs_vk: Option<PathBuf>,
}

/// Runs `bench prove`.
pub fn run(args: &ProveBench) -> Result<ExitCode> {
    if args.reps == 0 {
        bail!("--reps must be at least 1");
    }
    let me = std::env::current_exe().context("this binary's path")?;
    let mut provers = vec![Prover {
        name: "fornax".into(),
        command: vec![me.display().to_string(), "prove".into()],
    }];
    let mut skipped = Vec::new();
    let specs = args
        .peer
        .iter()
        .cloned()
        .chain(args.baseline.iter().map(|b| format!("cmd={b}")));
    for spec in specs {
        match peer(&spec, &me)? {
            Ok(p) => provers.push(p),
            Err(reason) => {
                eprintln!("peer {spec} left out: {reason}");
                skipped.push(serde_json::json!({ "peer": spec, "reason": reason }));
            }
        }
    }
    let dir = tempfile::tempdir()?;
    let snarkjs = snarkjs();
    let files: Vec<(PathBuf, PathBuf)> = match (&args.zkey, &args.wtns) {
        (Some(z), Some(w)) => vec![(z.clone(), w.clone())],
        _ => args
            .circuit
            .iter()
            .map(|d| (d.join("c.zkey"), d.join("c.wtns")))
            .collect(),
    };
    let mut circuits = Vec::new();
    for (k, (zkey, wtns)) in files.into_iter().enumerate() {
        let pk = ProvingKey::read(&zkey)?;
        let snarkjs_vk = match &snarkjs {
            Some(s) => Some(export_vk(
                s,
                &zkey,
                &dir.path().join(format!("vk{k}.json")),
            )?),
            None => None,
        };
        circuits.push(Circuit {
            log_domain: pk.domain_size.trailing_zeros(),
            vk: pk.verifying_key(),
            zkey,
            wtns,
            snarkjs_vk,
        });
    }

    let progress = crate::progress::Progress::new();
    let total = circuits.len() * args.reps * provers.len();
    let mut bar = progress.bar("bench prove", total as u64);
    let mut rows = Vec::new();
    for circuit in &circuits {
        let mut sides: Vec<Side> = provers
            .iter()
            .map(|p| Side {
                command: p.command.join(" "),
                ..Side::default()
            })
            .collect();
        // One run of each before timing (page cache, a prover's first start); its proof
        // also goes to snarkjs.
        for p in &provers {
            one_run(&p.command, circuit, dir.path())?;
            if let (Some(s), Some(vk)) = (&snarkjs, &circuit.snarkjs_vk) {
                snarkjs_verify(s, vk, dir.path(), &p.name)?;
            }
        }
        for rep in 0..args.reps {
            // Rotate the order, so that no prover always runs on a warmer machine.
            for k in (0..provers.len()).map(|k| (k + rep) % provers.len()) {
                let (wall, rss) = one_run(&provers[k].command, circuit, dir.path())?;
                sides[k].wall_s.push(wall);
                sides[k].peak_rss_mib.push(rss);
                bar.step(&format!(
                    "2^{}: rep {} of {}: {} {wall:.2} s",
                    circuit.log_domain,
                    rep + 1,
                    args.reps,
                    provers[k].name
                ));
            }
        }
        rows.push(row(circuit, &provers, sides, snarkjs.is_some()));
    }
    bar.finish("done");
    print_table(&rows);
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "reps": args.reps,
            "rows": rows,
            "skipped": skipped,
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A circuit's JSON row: Fornax's runs, and each peer's with its ratios to Fornax.
fn row(
    circuit: &Circuit,
    provers: &[Prover],
    sides: Vec<Side>,
    snarkjs_verified: bool,
) -> serde_json::Value {
    let (f_wall, f_rss) = sides[0].medians();
    let peers: Vec<serde_json::Value> = provers
        .iter()
        .zip(&sides)
        .skip(1)
        .map(|(p, side)| {
            let (wall, rss) = side.medians();
            serde_json::json!({
                "peer": p.name,
                "version": match p.name.as_str() {
                    "ark-groth16" => format!(
                        "ark-groth16 {}",
                        super::versions()["ark-groth16"].as_str().unwrap_or("?")
                    ),
                    "rapidsnark" => rapidsnark_version(&p.command[0]),
                    _ => program_version(&p.command.join(" ")),
                },
                "runs": side,
                "median_wall_s": wall,
                "median_peak_rss_mib": rss,
                "speedup": wall / f_wall,
                "memory_ratio": f_rss / rss,
            })
        })
        .collect();
    serde_json::json!({
        "circuit": circuit.zkey.display().to_string(),
        "wtns": circuit.wtns.display().to_string(),
        "log_domain": circuit.log_domain,
        "snarkjs_verified": snarkjs_verified,
        "fornax": {
            "runs": sides[0],
            "median_wall_s": f_wall,
            "median_peak_rss_mib": f_rss,
        },
        "peers": peers,
    })
}

/// One line per prover and circuit: medians, and Fornax's speed-up and memory ratio.
fn print_table(rows: &[serde_json::Value]) {
    println!(
        "{:<8} {:<28} {:>10} {:>10} {:>9} {:>8}",
        "domain", "prover", "median", "peak MiB", "fornax is", "memory"
    );
    for r in rows {
        let domain = format!("2^{}", r["log_domain"]);
        let f = &r["fornax"];
        println!(
            "{domain:<8} {:<28} {:>9.3}s {:>10.1}",
            "fornax",
            f["median_wall_s"].as_f64().unwrap_or(0.0),
            f["median_peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
        for p in r["peers"].as_array().into_iter().flatten() {
            println!(
                "{domain:<8} {:<28} {:>9.3}s {:>10.1} {:>8.2}x {:>7.2}x",
                p["peer"].as_str().unwrap_or("?"),
                p["median_wall_s"].as_f64().unwrap_or(0.0),
                p["median_peak_rss_mib"].as_f64().unwrap_or(0.0),
                p["speedup"].as_f64().unwrap_or(0.0),
                p["memory_ratio"].as_f64().unwrap_or(0.0),
            );
        }
    }
}

/// `snarkjs zkey export verificationkey ZKEY OUT`.
fn export_vk(snarkjs: &str, zkey: &Path, out: &Path) -> Result<PathBuf> {
    let status = Command::new(snarkjs)
        .args(["zkey", "export", "verificationkey"])
        .arg(zkey)
        .arg(out)
        .stdout(Stdio::null())
        .status()
        .context("running snarkjs")?;
    if !status.success() {
        bail!(
            "snarkjs could not export the verification key of {}",
            zkey.display()
        );
    }
    Ok(out.to_path_buf())
}

/// `snarkjs groth16 verify` on the proof in `dir`.
fn snarkjs_verify(snarkjs: &str, vk: &Path, dir: &Path, prover: &str) -> Result<()> {
    let out = Command::new(snarkjs)
        .args(["groth16", "verify"])
        .arg(vk)
        .arg(dir.join("public.json"))
        .arg(dir.join("proof.json"))
        .output()
        .context("running snarkjs")?;
    if !out.status.success() || !String::from_utf8_lossy(&out.stdout).contains("OK") {
        bail!("snarkjs does not accept {prover}'s proof");
    }
    Ok(())
}

/// `fornax bench ark-prove ZKEY WTNS PROOF PUBLIC`: ark-groth16 as a whole-process peer.
#[derive(clap::Args, Debug)]
pub struct ArkProve {
    /// The proving key.
    zkey: PathBuf,
    /// The witness.
    wtns: PathBuf,
    /// Where to write the proof (snarkjs JSON).
    proof: PathBuf,
    /// Where to write the public signals (snarkjs JSON).
    public: PathBuf,
}

/// Proves with ark-groth16 (circom reduction) and writes the proof as snarkjs does.
pub fn ark_prove(args: &ArkProve) -> Result<ExitCode> {
    let pk = ProvingKey::read(&args.zkey)?;
    let witness = fornax_prover::wtns::read(&args.wtns)?;
    if witness.len() != pk.n_vars {
        bail!(
            "the witness has {} values, the key {} wires",
            witness.len(),
            pk.n_vars
        );
    }
    let proof = fornax_bench::ark_prove(&pk, &witness, &mut rand::rngs::OsRng)
        .map_err(|e| anyhow::anyhow!("ark-groth16: {e}"))?;
    json::write_json(&args.proof, &ProofJson::from_proof(&proof))?;
    json::write_json(
        &args.public,
        &json::public_to_json(&witness[1..=pk.n_public]),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// One process: its wall seconds and peak resident MiB; its proof is checked.
///
/// The prover is started by `fornax bench measure`, a small process of its own: Linux
/// counts a parent's peak resident memory at fork into its child's `ru_maxrss`, and this
/// process, which has read the keys, is far larger than the launcher (about 16 MiB).
fn one_run(cmd: &[String], circuit: &Circuit, dir: &Path) -> Result<(f64, f64)> {
    let (proof, public) = (dir.join("proof.json"), dir.join("public.json"));
    let _ = std::fs::remove_file(&proof);
    let me = std::env::current_exe().context("this binary's path")?;
    let out = Command::new(me)
        .args(["bench", "measure", "--"])
        .args(cmd)
        .arg(&circuit.zkey)
        .arg(&circuit.wtns)
        .arg(&proof)
        .arg(&public)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting {}", cmd.join(" ")))?;
    let measured: Measured = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("measuring {}", cmd.join(" ")))?;
    if !measured.ok {
        bail!("`{} …` failed", cmd.join(" "));
    }
    let p = json::read_json::<ProofJson>(&proof)?.to_proof(&proof.display().to_string())?;
    let values: Vec<serde_json::Value> = json::read_json(&public)?;
    let inputs = json::public_from_json(&public.display().to_string(), &values)?;
    if !fornax_prover::verify(&circuit.vk, &inputs, &p)? {
        bail!("`{}` wrote a proof the key does not accept", cmd.join(" "));
    }
    Ok((measured.wall_s, measured.max_rss_kib as f64 / 1024.0))
}

/// `fornax bench measure -- COMMAND…`: runs the command (its output discarded) and prints
/// whether it succeeded, its wall time and its own peak resident memory as JSON.
#[derive(clap::Args, Debug)]
pub struct Measure {
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

/// What [`measure`] prints.
#[derive(serde::Serialize, serde::Deserialize)]
struct Measured {
    ok: bool,
    wall_s: f64,
    max_rss_kib: i64,
}

/// Runs `bench measure`.
pub fn measure(args: &Measure) -> Result<ExitCode> {
    let t = Instant::now();
    let child = Command::new(&args.command[0])
        .args(&args.command[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", args.command.join(" ")))?;
    let (ok, max_rss_kib) = wait_with_rusage(child.id() as libc::pid_t)?;
    let measured = Measured {
        ok,
        wall_s: t.elapsed().as_secs_f64(),
        max_rss_kib,
    };
    println!("{}", serde_json::to_string(&measured)?);
    Ok(ExitCode::SUCCESS)
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

/// rapidsnark's `prover` has no `--version`: its commit, where it was built inside a git
/// checkout of rapidsnark (as its own build scripts leave it).
fn rapidsnark_version(prover: &str) -> String {
    let folder = Path::new(prover).parent().unwrap_or(Path::new("."));
    Command::new("git")
        .arg("-C")
        .arg(folder)
        .args(["log", "-1", "--format=%H %cs"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| format!("rapidsnark {}", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| "rapidsnark (commit unknown: not built in a git checkout)".into())
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
