//! `fornax worker`: joins a cluster through NATS and proves its jobs (and, with `--fhe`,
//! evaluates FHE tasks) until drained.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use fornax_kernels::DeviceRegistry;

/// `fornax worker` settings.
#[derive(clap::Args, Debug)]
pub struct WorkerArgs {
    /// The cluster's NATS server, `nats://HOST:4222`.
    #[arg(long)]
    join: String,
    /// Devices to prove on, ids from `fornax devices` (e.g. `cuda:0,cuda:1`), each running
    /// jobs of its own; `cpu:0,cpu:1` splits the CPU into lanes [default: every accelerator
    /// found, or the CPU where there is none].
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Memory each device admits jobs against, MiB [default: the device's memory].
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Jobs to run at once on each device.
    #[arg(long, default_value_t = 1)]
    slots: u32,
    /// Where downloaded proving keys and witness generators are kept.
    #[arg(long, default_value = "fornax-worker-cache")]
    cache_dir: PathBuf,
    /// This worker's id in the registry [default: HOST-PID-RANDOM].
    #[arg(long)]
    id: Option<String>,
    /// Also evaluate FHE tasks (`pbs` jobs): the key set comes from the cluster's artifact
    /// store, once.
    #[arg(long)]
    fhe: bool,
    /// With `--fhe`: where FHE programs run, `cpu` or `cuda` (a `fornax` built with the
    /// `fhe-gpu` feature) [default: cpu].
    #[arg(long, requires = "fhe", value_parser = crate::config::fhe_device_parser())]
    fhe_device: Option<fornax_fhe::device::Device>,
    /// With `--fhe`: threads for the jobs of a batch [default: the number of CPUs].
    #[arg(long, requires = "fhe")]
    fhe_threads: Option<usize>,
    /// A NATS credentials file (user JWT and nkey seed). A user and password come from
    /// `FORNAX_NATS_USER` and `FORNAX_NATS_PASSWORD`.
    #[arg(long)]
    nats_creds: Option<PathBuf>,
    /// A root certificate (PEM) the NATS server's TLS certificate must chain to; TLS is
    /// then required.
    #[arg(long)]
    nats_ca: Option<PathBuf>,
    /// Instructions a witness generator may run for one witness [default: 2^40].
    #[arg(long)]
    witness_fuel: Option<u64>,
    /// Memory a witness generator may grow to, MiB [default: 2048].
    #[arg(long)]
    witness_memory_mb: Option<usize>,
}

/// `fornax worker`: joins a cluster and proves its jobs until drained.
pub fn worker(args: WorkerArgs) -> Result<ExitCode> {
    if !(args.join.starts_with("nats://") || args.join.starts_with("tls://")) {
        eprintln!("error: --join {}: expected nats://HOST:PORT", args.join);
        return Ok(ExitCode::from(2));
    }
    if args.slots == 0 {
        eprintln!("error: --slots must be at least 1");
        return Ok(ExitCode::from(2));
    }
    let registry = match DeviceRegistry::select(&args.devices) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: --devices: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if !registry.notes().is_empty() && args.devices.is_empty() {
        tracing::info!(notes = %registry.notes().join("; "), "devices absent");
    }
    let fhe = args.fhe.then(|| fornax_node::worker::FheCapability {
        device: args.fhe_device.unwrap_or_default(),
        threads: args
            .fhe_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    });
    if let Some(capability) = &fhe {
        if let Err(e) = capability.device.check() {
            eprintln!("error: --fhe-device {}: {e}", capability.device.name());
            return Ok(ExitCode::from(2));
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let queue = fornax_node::queue::jetstream::JetStreamQueue::connect(
            &args.join,
            "fornax-worker",
            fornax_node::queue::jetstream::Role::Worker,
            &crate::config::nats_auth(args.nats_creds.clone(), args.nats_ca.clone())?,
        )
        .await
        .with_context(|| format!("joining {}", args.join))?;
        let worker = fornax_node::worker::Worker::new(
            std::sync::Arc::new(queue),
            fornax_node::worker::WorkerConfig {
                id: args.id,
                registry,
                memory_bytes: args.memory_mb.map(|mb| mb << 20),
                slots: args.slots,
                cache_dir: args.cache_dir,
                fhe,
                witness_limits: crate::config::witness_limits(
                    args.witness_fuel,
                    args.witness_memory_mb,
                )?,
            },
        )
        .context("preparing the worker's cache")?;
        let entries = worker.devices();
        if let Some(d) = entries.iter().find(|d| d.memory_bytes == 0) {
            if args.memory_mb.is_none() {
                bail!(
                    "the memory of device {} is unknown: give it with --memory-mb",
                    d.id
                );
            }
        }
        let devices: Vec<String> = entries.into_iter().map(|d| d.id).collect();
        println!(
            "worker {} joined {}: devices {}, {} MiB, {} slot(s) on each{}",
            worker.id(),
            args.join,
            devices.join(","),
            worker.memory_bytes() >> 20,
            args.slots,
            match &fhe {
                Some(c) => format!(", FHE on {}", c.device.name()),
                None => String::new(),
            }
        );
        let drainer = std::sync::Arc::clone(&worker);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler");
            let stop = async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            };
            stop.await;
            tracing::info!("draining: finishing running jobs, taking no more (again to stop now)");
            drainer.drain();
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            std::process::exit(130);
        });
        worker.clone().run().await;
        println!("worker {} drained and left", worker.id());
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
