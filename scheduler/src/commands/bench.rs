//! `fornax bench`: the kernels and the Groth16 prover beside a peer (arkworks, or Fornax's
//! CPU backend beside an accelerator; also as `bench msm` and `bench ntt`), the node's own
//! benches (`api`, `queue`, `cluster`, `fhe`, `split`, `prove`), the FPGA model, the
//! re-run of a result file (`--check`) and the report of the results (`report`).

pub mod api;
pub mod check;
pub mod cluster;
pub mod fhe;
pub mod fpga;
pub mod prove;
pub mod queue;
pub mod report;
pub mod split;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use fornax_bench::{BenchError, Peer};
use fornax_kernels::{Backend, CpuBackend, DeviceRegistry};

/// The benches by name: one kernel beside a peer (`msm`, `ntt`), the node's, the provers'
/// as whole processes, the FHE engine's, the FPGA model and the report. (`fornax bench
/// --msm … --ntt … --groth16 …` without a name runs several kernels in one table.)
#[derive(clap::Subcommand, Debug)]
pub enum BenchWhat {
    /// MSMs of several sizes (`--log 12,16`; G1, or G2 with `--g2`) on a device (`--device`,
    /// the CPU by default) beside a peer (`--peer arkworks` or `cpu`).
    Msm(MsmBench),
    /// Forward NTTs of several sizes on a device beside a peer (`--peer arkworks` or `cpu`).
    Ntt(KernelArgs),
    /// The node's accept path (submissions per second, latency) while it proves, its
    /// memory over many submissions, and its overhead per proof.
    Api(api::ApiBench),
    /// What the queue costs: the same small proofs on an embedded node, through the
    /// in-process queue and through NATS JetStream with 1 and N worker processes
    /// (dispatch overhead per job, throughput ratio); optionally a chaos run that kills a
    /// worker every few seconds and counts tasks lost or proved twice.
    Queue(queue::QueueBench),
    /// Scaling curves of a local cluster (nats-server, a node, N worker processes): for
    /// each circuit size and worker count, proofs per second and p50/p99 latency against
    /// offered load.
    Cluster(cluster::ClusterBench),
    /// The FHE engine beside tfhe-rs's own API (batched KS-PBS throughput, same keys, same
    /// run) and the cost of threshold decryption (PartDec per party per block, end to end).
    Fhe(fhe::FheBench),
    /// The FPGA engines projected onto AMD Alveo U55C and U250 cards: cycle counts measured
    /// in co-simulation, the RTL's resources, the cards' datasheets, a stated clock; every
    /// input printed with its source.
    FpgaModel(fpga::FpgaModelBench),
    /// One large proof split across single-threaded workers beside the same proof whole on
    /// one, in one run (two clusters on loopback; the ratio is whole over split).
    Split(split::SplitBench),
    /// `fornax prove` as a whole process beside other provers (`--peer snarkjs`,
    /// `rapidsnark=PATH`, `ark-groth16`, `fornax=PATH`, `cmd=COMMAND`) on the same zkeys and
    /// witnesses, one row per circuit: wall time and peak resident memory, repetitions
    /// interleaved, every proof verified.
    #[command(alias = "groth16")]
    Prove(prove::ProveBench),
    /// ark-groth16 (circom reduction) as a process: `ZKEY WTNS PROOF PUBLIC`, the peer
    /// `--peer ark-groth16` runs.
    #[command(hide = true)]
    ArkProve(prove::ArkProve),
    /// Runs a command and prints its wall time and own peak memory as JSON (what `bench
    /// prove` starts each prover with).
    #[command(hide = true)]
    Measure(prove::Measure),
    /// Every result file of a folder (e.g. `bench/results`) drawn as SVG figures, with one
    /// `index.html` that shows them beside the machine, commit and command of each.
    Report(report::ReportArgs),
}

/// `--peer` of the kernel benches: what the device's kernels are compared with.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPeer {
    /// arkworks (`VariableBaseMSM`, `Radix2EvaluationDomain`, ark-groth16 with the circom
    /// reduction): the default on the CPU.
    Arkworks,
    /// Fornax's own CPU backend: the default with `--device`.
    #[value(alias = "fornax-cpu")]
    Cpu,
}

/// The options `fornax bench msm` and `fornax bench ntt` share.
#[derive(clap::Args, Debug)]
pub struct KernelArgs {
    /// log2 sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_values_t = [12u32, 16])]
    pub log: Vec<u32>,
    /// The device to measure (an id of `fornax devices`, e.g. `cuda:0`); the CPU backend
    /// by default.
    #[arg(long)]
    pub device: Option<String>,
    /// What to compare with: `arkworks` (the default without `--device`) or `cpu` (Fornax's
    /// CPU backend, the default with one).
    #[arg(long, value_enum)]
    pub peer: Option<KernelPeer>,
    /// Repetitions per size (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the JSON results.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// `fornax bench msm`: MSMs of several sizes on a device beside a peer.
#[derive(clap::Args, Debug)]
pub struct MsmBench {
    #[command(flatten)]
    kernel: KernelArgs,
    /// G2 MSMs (the Groth16 B query) instead of G1.
    #[arg(long)]
    g2: bool,
}

/// `fornax bench msm`.
pub fn msm(args: &MsmBench) -> Result<ExitCode> {
    let k = &args.kernel;
    let logs = k.log.clone();
    let plan = fornax_bench::Plan {
        msm: if args.g2 { Vec::new() } else { logs.clone() },
        msm_g2: if args.g2 { logs } else { Vec::new() },
        reps: k.reps,
        seed: k.seed,
        ..Default::default()
    };
    bench(&plan, k.device.as_deref(), k.peer, k.json.as_deref())
}

/// `fornax bench ntt`: forward NTTs of several sizes on a device beside a peer.
pub fn ntt(k: &KernelArgs) -> Result<ExitCode> {
    let plan = fornax_bench::Plan {
        ntt: k.log.clone(),
        reps: k.reps,
        seed: k.seed,
        ..Default::default()
    };
    bench(&plan, k.device.as_deref(), k.peer, k.json.as_deref())
}

/// Runs `plan` on one device (`--device`; the CPU backend by default) beside `peer` (by
/// default arkworks on the CPU, Fornax's CPU backend beside another device).
pub fn bench(
    plan: &fornax_bench::Plan,
    device: Option<&str>,
    peer: Option<KernelPeer>,
    json_out: Option<&Path>,
) -> Result<ExitCode> {
    let registry = DeviceRegistry::discover();
    for note in registry.notes() {
        eprintln!("{note}");
    }
    let target: Arc<dyn Backend> = match device {
        None => Arc::new(CpuBackend::new()),
        Some(id) => match registry.find(id) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let peer = match (peer, device) {
        (Some(KernelPeer::Arkworks), _) | (None, None) => Peer::Arkworks,
        (Some(KernelPeer::Cpu), Some(_)) | (None, Some(_)) => Peer::FornaxCpu,
        (Some(KernelPeer::Cpu), None) => {
            eprintln!(
                "error: --peer cpu would compare the CPU backend with itself: name a --device, \
                 or compare with --peer arkworks"
            );
            return Ok(ExitCode::from(2));
        }
    };
    let info = target.info().clone();
    let msm_path = fornax_kernels::cpu::msm_path();
    println!(
        "device: {} [{}] ({} lanes; CPU MSM arithmetic: {msm_path}), beside {}",
        info.name,
        info.id,
        info.parallelism,
        peer.name()
    );
    println!(
        "{:<8} {:>5} {:>12} {:>12} {:>8}  baseline",
        "bench", "size", "fornax", "baseline", "speedup"
    );
    let report = |r: &fornax_bench::Row| {
        // A simulated device's cycles say what its wall time cannot.
        let cycles = r.device_cycles.map_or(String::new(), |c| {
            format!(
                "  ({c} device cycles, {:.3} per element)",
                c as f64 / (1u64 << r.log_size) as f64
            )
        });
        println!(
            "{:<8} {:>5} {:>10.2}ms {:>10.2}ms {:>7.2}x  {}{cycles}",
            r.bench,
            format!("2^{}", r.log_size),
            r.fornax_s * 1e3,
            r.baseline_s * 1e3,
            r.speedup,
            r.baseline
        );
    };
    let rows = match fornax_bench::run(plan, target, peer, report) {
        Ok(rows) => rows,
        // Two sides that disagree are a bug, not a request that cannot be met.
        Err(e @ BenchError::Disagree { .. }) => return Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(path) = json_out {
        let doc = serde_json::json!({
            "device": info.name,
            "device_id": info.id.to_string(),
            "device_kind": info.kind.to_string(),
            "threads": info.parallelism,
            "msm_path": msm_path,
            "peer": peer.name(),
            "rows": rows,
        });
        write_result(path, doc, &registry)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes a result file: the bench's own fields (`doc`, an object) with what makes it
/// reproducible added: the commit, the command, the machine (accelerators from
/// `registry`) and the libraries' versions.
pub fn write_result(
    path: &Path,
    mut doc: serde_json::Value,
    registry: &DeviceRegistry,
) -> Result<()> {
    let fields = doc.as_object_mut().context("a result is a JSON object")?;
    fields.insert("commit".into(), git_commit().into());
    let argv: Vec<String> = std::env::args().collect();
    fields.insert("command".into(), argv.join(" ").into());
    // The words themselves too, so that `bench --check` re-runs an argument with spaces.
    fields.insert("argv".into(), argv.into());
    fields.insert("machine".into(), machine(registry));
    fields.insert("versions".into(), versions());
    std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// The machine a result was measured on, for benchmark records: CPU model, logical CPUs,
/// memory, kernel, and the accelerators `registry` found (what is not known reads
/// "unknown").
pub fn machine(registry: &DeviceRegistry) -> serde_json::Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
        .map(|m| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let memory_gib = read("/proc/meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| (kib / (1u64 << 20) as f64 * 10.0).round() / 10.0);
    let accelerators: Vec<String> = registry
        .backends()
        .iter()
        .filter(|b| !b.is_simulation())
        .map(|b| b.info())
        .filter(|i| i.kind != fornax_kernels::DeviceKind::Cpu)
        .map(|i| format!("{} [{}]", i.name, i.id))
        .collect();
    serde_json::json!({
        "cpu": cpu,
        "logical_cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": memory_gib,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "accelerators": accelerators,
    })
}

/// Versions of Fornax and of the libraries its results depend on (arkworks, tfhe-rs,
/// rayon), from the build's Cargo.lock.
pub fn versions() -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("fornax".into(), env!("CARGO_PKG_VERSION").into());
    for pair in env!("FORNAX_DEP_VERSIONS")
        .split(',')
        .filter(|p| !p.is_empty())
    {
        if let Some((name, version)) = pair.split_once('=') {
            v.insert(name.into(), version.into());
        }
    }
    serde_json::Value::Object(v)
}

/// The checked-out commit, for benchmark records ("unknown" outside a git checkout).
pub fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
