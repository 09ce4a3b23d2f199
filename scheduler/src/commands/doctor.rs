//! `fornax doctor`: checks what a compute provider's machine needs to run a node or a worker
//! (devices, TEE, data directory, NATS, the chain's RPC endpoint and the clock) and prints a
//! pass/warn/fail table with the fix for each problem. Exit code 1 when a check fails;
//! warnings (no GPU, no TEE) are conditions a CPU-only or unattested node runs with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use fornax_kernels::{DeviceKind, DeviceRegistry};
use serde::Serialize;

/// `fornax doctor`'s arguments: what to check beyond the machine itself.
#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The node's data directory: it must be writable, with free space.
    #[arg(long, default_value = "fornax-data")]
    pub data_dir: PathBuf,
    /// A NATS server to check (`nats://host:4222`): reachable, with JetStream.
    #[arg(long)]
    pub nats: Option<String>,
    /// A NATS credentials file (as `fornax worker --nats-creds`).
    #[arg(long)]
    pub nats_creds: Option<PathBuf>,
    /// A root certificate the NATS server's TLS certificate must chain to.
    #[arg(long)]
    pub nats_ca: Option<PathBuf>,
    /// An Ethereum JSON-RPC endpoint to check: reachable, its chain id, the clock against
    /// its latest block.
    #[arg(long, env = "FORNAX_CHAIN_RPC", hide_env_values = true)]
    pub rpc: Option<String>,
    /// The chain id the RPC endpoint must serve.
    #[arg(long)]
    pub chain_id: Option<u64>,
    /// Print the checks as JSON (one object per check).
    #[arg(long)]
    pub json: bool,
}

/// A check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Level {
    /// All is well.
    Pass,
    /// Runs, with less than it could (no GPU, no TEE).
    Warn,
    /// Will not run as configured.
    Fail,
    /// Not asked for (no `--nats`, no `--rpc`).
    Skip,
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    level: Level,
    detail: String,
    /// What to do about a warning or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

impl Check {
    fn new(name: &'static str, level: Level, detail: impl Into<String>) -> Self {
        Check {
            name,
            level,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Runs `fornax doctor`.
pub fn run(args: DoctorArgs) -> Result<ExitCode> {
    let mut checks = vec![cpu()];
    let registry = DeviceRegistry::discover();
    checks.push(devices(&registry, DeviceKind::Cuda));
    checks.push(devices(&registry, DeviceKind::Wgpu));
    checks.push(tee());
    checks.push(data_dir(&args.data_dir));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    checks.push(runtime.block_on(nats(&args)));
    let (rpc, clock) = runtime.block_on(chain(&args));
    checks.push(rpc);
    checks.push(clock);

    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        println!("{:<10} {:<6} detail", "check", "status");
        for c in &checks {
            let level = serde_json::to_value(c.level)?;
            println!(
                "{:<10} {:<6} {}",
                c.name,
                level.as_str().unwrap_or("?"),
                c.detail
            );
        }
        let fixes: Vec<&Check> = checks.iter().filter(|c| c.fix.is_some()).collect();
        if !fixes.is_empty() {
            println!("\nto fix:");
            for c in fixes {
                println!("  {}: {}", c.name, c.fix.as_deref().unwrap_or(""));
            }
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The CPU: threads and the instruction sets the field arithmetic uses.
fn cpu() -> Check {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    #[cfg(target_arch = "x86_64")]
    let features = {
        let mut f = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") {
            f.push("AVX2");
        }
        if std::arch::is_x86_feature_detected!("avx512ifma") {
            f.push("AVX-512 IFMA");
        }
        f
    };
    #[cfg(not(target_arch = "x86_64"))]
    let features: Vec<&str> = Vec::new();
    let detail = if features.is_empty() {
        format!("{threads} threads")
    } else {
        format!("{threads} threads; {}", features.join(", "))
    };
    Check::new("cpu", Level::Pass, detail)
}

/// The devices of one kind that the registry found, or why none.
fn devices(registry: &DeviceRegistry, kind: DeviceKind) -> Check {
    let name = match kind {
        DeviceKind::Cuda => "cuda",
        _ => "wgpu",
    };
    let found: Vec<String> = registry
        .backends()
        .iter()
        .map(|b| b.info())
        .filter(|i| i.kind == kind)
        .map(|i| format!("{} ({}, {} MiB)", i.id, i.name, i.memory_bytes >> 20))
        .collect();
    if !found.is_empty() {
        return Check::new(name, Level::Pass, found.join("; "));
    }
    let why: Vec<&str> = registry
        .notes()
        .iter()
        .filter(|n| n.starts_with(name))
        .map(String::as_str)
        .collect();
    let detail = if why.is_empty() {
        format!("no {name} device")
    } else {
        why.join("; ")
    };
    let fix = match kind {
        DeviceKind::Cuda => {
            "for NVIDIA GPUs install the driver for CUDA 13 (nvidia-driver ≥ 580) and NVRTC \
             (libnvrtc, or PyPI nvidia-cuda-nvrtc); without a GPU, proving runs on the CPU"
        }
        _ => {
            "for other GPUs install a Vulkan driver (the vendor's, or mesa-vulkan-drivers) and \
             give the user access to /dev/dri; without a GPU, proving runs on the CPU"
        }
    };
    Check::new(name, Level::Warn, detail).fix(fix)
}

/// The TEE's quote interface (configfs-tsm).
fn tee() -> Check {
    let root = Path::new(fornax_enclave::tsm::DEFAULT_ROOT);
    if root.is_dir() {
        Check::new(
            "tee",
            Level::Pass,
            format!("configfs-tsm at {}: workers can attest", root.display()),
        )
    } else {
        Check::new(
            "tee",
            Level::Warn,
            format!(
                "no configfs-tsm at {}: workers run unattested",
                root.display()
            ),
        )
        .fix(
            "to attest, run workers in an SEV-SNP or TDX guest (Linux ≥ 6.7) with configfs \
             mounted at /sys/kernel/config",
        )
    }
}

/// The data directory: writable (or creatable), with free space.
fn data_dir(dir: &Path) -> Check {
    const GIB: u64 = 1 << 30;
    let fail = |detail: String| {
        Check::new("data dir", Level::Fail, detail).fix(format!(
            "give the node a writable directory (--data-dir) on a disk with at least 10 GiB free; \
             now {}",
            dir.display()
        ))
    };
    // The directory, or the nearest ancestor that exists (where it would be created).
    let existing = dir
        .ancestors()
        .find(|a| a.exists() || a.as_os_str().is_empty())
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return fail(format!("{} is not a directory", existing.display()));
    }
    let probe = existing.join(format!(".fornax-doctor-{}", std::process::id()));
    if let Err(e) = std::fs::File::create_new(&probe) {
        return fail(format!("{} is not writable: {e}", existing.display()));
    }
    let _ = std::fs::remove_file(&probe);
    let free = match free_bytes(existing) {
        Some(free) => free,
        None => {
            return fail(format!(
                "cannot read the free space of {}",
                existing.display()
            ))
        }
    };
    let what = if existing == dir {
        format!("{} writable", dir.display())
    } else {
        format!(
            "{} will be created in {}",
            dir.display(),
            existing.display()
        )
    };
    let detail = format!("{what}; {:.1} GiB free", free as f64 / GIB as f64);
    if free < GIB {
        fail(detail)
    } else if free < 10 * GIB {
        Check::new("data dir", Level::Warn, detail)
            .fix("keys, artifacts and the task store grow: give the data directory 10 GiB or more")
    } else {
        Check::new("data dir", Level::Pass, detail)
    }
}

/// Bytes available to this user on the file system holding `path`.
fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `stat` a valid, writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// The NATS server, if asked: reachable, with JetStream.
async fn nats(args: &DoctorArgs) -> Check {
    let Some(url) = &args.nats else {
        return Check::new(
            "nats",
            Level::Skip,
            "no --nats: a node alone uses its in-process queue",
        );
    };
    let fix = "start nats-server with JetStream (`nats-server -js`, or ops/nats.sh) and check the \
               URL, the credentials (--nats-creds, FORNAX_NATS_USER and FORNAX_NATS_PASSWORD) and \
               the CA (--nats-ca)";
    let auth = match crate::config::nats_auth(args.nats_creds.clone(), args.nats_ca.clone()) {
        Ok(auth) => auth,
        Err(e) => return Check::new("nats", Level::Fail, e.to_string()).fix(fix),
    };
    let probe = fornax_node::queue::jetstream::probe(url, &auth);
    match tokio::time::timeout(Duration::from_secs(10), probe).await {
        Ok(Ok(state)) => Check::new("nats", Level::Pass, format!("{url}: {state}")),
        Ok(Err(e)) => Check::new("nats", Level::Fail, format!("{url}: {e}")).fix(fix),
        Err(_) => Check::new("nats", Level::Fail, format!("{url}: no answer in 10 s")).fix(fix),
    }
}

/// The chain's RPC endpoint, if asked (its chain id), and the clock against its latest block.
async fn chain(args: &DoctorArgs) -> (Check, Check) {
    use alloy::providers::Provider;
    let Some(rpc) = &args.rpc else {
        return (
            Check::new("chain rpc", Level::Skip, "no --rpc"),
            Check::new("clock", Level::Skip, "no --rpc to compare the clock with"),
        );
    };
    let shown = fornax_chain_adapter::client::redact_url(rpc);
    let rpc_fix = "check the RPC URL (--rpc or FORNAX_CHAIN_RPC) and that the endpoint serves \
                   the chain the node is configured for";
    let skipped = || Check::new("clock", Level::Skip, "the RPC endpoint did not answer");
    let provider = match fornax_chain_adapter::client::reader(rpc) {
        Ok(p) => p,
        Err(e) => {
            return (
                Check::new("chain rpc", Level::Fail, e.to_string()).fix(rpc_fix),
                skipped(),
            )
        }
    };
    let asked = async {
        let id = provider.get_chain_id().await?;
        let block = provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?;
        Ok::<_, alloy::transports::TransportError>((id, block))
    };
    let (id, block) = match tokio::time::timeout(Duration::from_secs(10), asked).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(e)) => {
            let e = fornax_chain_adapter::ChainError::from(e);
            return (
                Check::new("chain rpc", Level::Fail, format!("{shown}: {e}")).fix(rpc_fix),
                skipped(),
            );
        }
        Err(_) => {
            return (
                Check::new(
                    "chain rpc",
                    Level::Fail,
                    format!("{shown}: no answer in 10 s"),
                )
                .fix(rpc_fix),
                skipped(),
            )
        }
    };
    let rpc_check = match args.chain_id {
        Some(want) if want != id => Check::new(
            "chain rpc",
            Level::Fail,
            format!("{shown} serves chain {id}, not {want}"),
        )
        .fix(rpc_fix),
        _ => Check::new("chain rpc", Level::Pass, format!("{shown}: chain {id}")),
    };
    let Some(block) = block else {
        return (
            rpc_check,
            Check::new("clock", Level::Skip, "the chain has no latest block"),
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let behind = block.header.timestamp as i64 - now;
    let clock_fix = "synchronise the clock (NTP: `timedatectl set-ntp true`): deadlines and \
                     attestations are checked against it";
    let clock = if behind > 30 {
        Check::new(
            "clock",
            Level::Fail,
            format!("{behind} s behind the chain's latest block"),
        )
        .fix(clock_fix)
    } else if -behind > 300 {
        Check::new(
            "clock",
            Level::Warn,
            format!(
                "the latest block is {} s old: the endpoint lags, or the clock is ahead",
                -behind
            ),
        )
        .fix(clock_fix)
    } else {
        Check::new(
            "clock",
            Level::Pass,
            format!("within {} s of the chain's latest block", behind.abs()),
        )
    };
    (rpc_check, clock)
}
