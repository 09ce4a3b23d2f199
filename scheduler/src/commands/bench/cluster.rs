//! `fornax bench cluster`: scaling curves of a local cluster (nats-server, a node and N
//! `fornax worker` processes, all on loopback).
//!
//! For each circuit size and worker count a fresh cluster is started, each worker proves a
//! task first (the key reaches its device), and then:
//! 1. the saturated throughput: `tasks` proofs submitted at once, proofs per second from
//!    the first submission to the last proof;
//! 2. for each offered load (a fraction of that throughput), an open-loop stream of `tasks`
//!    submissions at that rate: the proofs per second achieved, and the p50 and p99 latency
//!    from acceptance to proof, read from the node's own timestamps (`created_ms`,
//!    `updated_ms`).
//!
//! Each (size, workers) pair is one JSON series; `fornax bench report` draws throughput and
//! p99 latency against offered load, one line per worker count.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use reqwest::blocking::Client;
use serde_json::{json, Value};

use super::queue::{nats_binary, submit, wait_proved, LocalCluster, Workload};

/// What to run.
#[derive(clap::Args, Debug)]
pub struct ClusterBench {
    /// Worker processes, comma separated: one curve each.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// log2 constraints of the proofs, comma separated (a small and a large circuit).
    #[arg(long, value_delimiter = ',', default_value = "8,14")]
    log: Vec<u32>,
    /// Offered loads, as fractions of the saturated throughput, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "0.25,0.5,0.75,1,1.25")]
    loads: Vec<f64>,
    /// Proofs per measurement (the saturated run and each load).
    #[arg(long, default_value_t = 40)]
    tasks: usize,
    /// The nats-server binary [default: the one ops/nats.sh installs, else PATH's].
    #[arg(long, env = "FORNAX_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Where to write the series as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Runs `bench cluster`.
pub fn run(args: &ClusterBench) -> Result<std::process::ExitCode> {
    if args.workers.contains(&0) || args.tasks < 2 {
        bail!("--workers must be at least 1 and --tasks at least 2");
    }
    if args.loads.iter().any(|&f| !(f > 0.0 && f.is_finite())) {
        bail!("--loads must be positive fractions of the saturated throughput");
    }
    let nats_bin = nats_binary(&args.nats_server)?;
    let c = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let progress = crate::progress::Progress::new();
    let steps = args.log.len() * args.workers.len() * (1 + args.loads.len());
    let mut bar = progress.bar("bench cluster", steps as u64);
    let mut series = Vec::new();
    println!(
        "{:<7} {:>7} {:>10} {:>11} {:>9} {:>9}",
        "domain", "workers", "offered/s", "achieved/s", "p50 ms", "p99 ms"
    );
    for &log in &args.log {
        let work = Workload::new(log);
        for &workers in &args.workers {
            let cluster = LocalCluster::start(&nats_bin, workers)?;
            let url = cluster.url.clone();
            let body = work.register(&c, &url)?;
            // Warm-up: enough tasks at once that every worker proves one.
            for _ in 0..workers {
                submit(&c, &url, &body)?;
            }
            wait_proved(&c, &url, workers as u64, Duration::from_secs(600))?;
            let mut done = workers as u64;

            let start = Instant::now();
            for _ in 0..args.tasks {
                submit(&c, &url, &body)?;
            }
            done += args.tasks as u64;
            wait_proved(&c, &url, done, Duration::from_secs(3600))?;
            let saturated = args.tasks as f64 / start.elapsed().as_secs_f64();
            bar.step(&format!(
                "2^{log}, {workers} workers: saturated at {saturated:.1} proofs/s"
            ));

            let mut points = Vec::new();
            for &load in &args.loads {
                let offered = load * saturated;
                let ids = open_loop(&c, &url, &body, args.tasks, offered)?;
                done += args.tasks as u64;
                wait_proved(&c, &url, done, Duration::from_secs(3600))?;
                let point = latencies(&c, &url, &ids, load, offered)?;
                println!(
                    "2^{log:<5} {workers:>7} {offered:>10.2} {:>11.2} {:>9.1} {:>9.1}",
                    point["achieved_per_s"].as_f64().unwrap_or(0.0),
                    point["p50_ms"].as_f64().unwrap_or(0.0),
                    point["p99_ms"].as_f64().unwrap_or(0.0),
                );
                bar.step(&format!("2^{log}, {workers} workers, load {load}"));
                points.push(point);
            }
            series.push(json!({
                "log_constraints": log,
                "workers": workers,
                "saturated_per_s": saturated,
                "points": points,
            }));
        }
    }
    bar.finish("done");
    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "cluster",
            "tasks": args.tasks,
            "series": series,
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// Submits `n` tasks at `rate` per second, each at its scheduled time whatever the
/// cluster's state (an open loop: a slow cluster builds a queue, as under real load).
fn open_loop(c: &Client, url: &str, body: &str, n: usize, rate: f64) -> Result<Vec<String>> {
    let start = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for k in 0..n {
        let due = start + Duration::from_secs_f64(k as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        ids.push(submit(c, url, body)?);
    }
    Ok(ids)
}

/// One point of a curve: the achieved rate and the latency percentiles of tasks `ids`.
fn latencies(c: &Client, url: &str, ids: &[String], load: f64, offered: f64) -> Result<Value> {
    let mut spans = Vec::with_capacity(ids.len());
    for id in ids {
        let task: Value = c.get(format!("{url}/v1/tasks/{id}")).send()?.json()?;
        let (created, updated) = (task["created_ms"].as_u64(), task["updated_ms"].as_u64());
        match (task["state"].as_str(), created, updated) {
            (Some("proved"), Some(c), Some(u)) => spans.push((c, u)),
            _ => bail!("task {id} is not proved: {task}"),
        }
    }
    let first = spans.iter().map(|s| s.0).min().unwrap_or(0);
    let last = spans.iter().map(|s| s.1).max().unwrap_or(0);
    let mut latency: Vec<f64> = spans.iter().map(|(c, u)| (u - c) as f64).collect();
    latency.sort_by(f64::total_cmp);
    // Nearest rank.
    let rank =
        |p: f64| latency[((p * latency.len() as f64).ceil() as usize).clamp(1, latency.len()) - 1];
    Ok(json!({
        "load": load,
        "offered_per_s": offered,
        "achieved_per_s": ids.len() as f64 * 1e3 / (last - first).max(1) as f64,
        "p50_ms": rank(0.50),
        "p99_ms": rank(0.99),
    }))
}
