//! `fornax bench api`: the node's accept path and overhead, measured against an in-process
//! node on loopback (its own store in a temporary directory).
//!
//! 1. **Accept path**: `clients` threads submit small tasks (a synthetic 2^6-constraint
//!    circuit with a ready witness) as fast as they can for `seconds`, while the node
//!    proves them; reports submissions per second and the accept latency percentiles.
//! 2. **Memory**: the process's resident memory after each tenth of `tasks` submissions.
//! 3. **Overhead per proof**, on a second, idle node: for a 2^`overhead_log` circuit, the time from submit to
//!    `proved` as a client sees it, against proving the same witness with the executor
//!    directly, in the same process; both medians of `reps`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use fornax_api as api;
use fornax_kernels::DeviceRegistry;
use fornax_node::{embedded, scheduler as node, store};
use fornax_prover::{wtns, LocalExecutor};
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

/// What to run.
#[derive(clap::Args, Debug)]
pub struct ApiBench {
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds of the accept-path run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Submissions of the memory run.
    #[arg(long, default_value_t = 10_000)]
    tasks: usize,
    /// log2 constraints of the overhead run's circuit.
    #[arg(long, default_value_t = 16)]
    overhead_log: u32,
    /// Proofs of the overhead run.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// A node served from this process.
struct InProcessNode {
    addr: SocketAddr,
    scheduler: Arc<node::Scheduler>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Drop for InProcessNode {
    fn drop(&mut self) {
        // The scheduler stops sending jobs; the worker ends with the runtime.
        self.scheduler.stop();
    }
}

impl InProcessNode {
    fn start() -> Result<Self> {
        let dir = tempfile::tempdir().context("temporary data directory")?;
        let store = Arc::new(store::Store::open(dir.path())?);
        let scheduler = node::Scheduler::new(store, node::SchedulerConfig::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        embedded::start(
            &scheduler,
            runtime.handle(),
            embedded::EmbeddedConfig {
                settings: Default::default(),
                // The window `fornax node` gives its own worker of one slot.
                dispatch: fornax_node::dispatch::DispatchConfig {
                    max_in_flight: fornax_node::dispatch::DispatchConfig::local_window(1),
                    ..Default::default()
                },
                // The devices `fornax node` proves on when none are named: never a
                // simulation, whose engines are small and a million times slower.
                registry: DeviceRegistry::discover().proving(),
                memory_bytes: None,
                slots: 1,
                artifacts: dir.path().join("artifacts"),
                fhe: None,
                witness_limits: Default::default(),
            },
        )?;
        let app = api::router(Arc::clone(&scheduler), api::ApiConfig::default());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(InProcessNode {
            addr,
            scheduler,
            _dir: dir,
            _runtime: runtime,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn register(&self, c: &Client, key: &fornax_prover::ProvingKey) -> Result<String> {
        let form = multipart::Form::new().part("zkey", multipart::Part::bytes(key.to_bytes()));
        let meta: Value = c
            .post(self.url("/v1/circuits"))
            .multipart(form)
            .send()?
            .json()?;
        meta["id"]
            .as_str()
            .map(str::to_string)
            .context("the node returned no circuit id")
    }
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the three measurements and prints them.
pub fn run(args: &ApiBench) -> Result<std::process::ExitCode> {
    let node = InProcessNode::start()?;
    let c = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;

    // 1. Accept path.
    let small = fornax_bench::groth16_fixture(6, 3);
    let circuit = node.register(&c, &small.key)?;
    let body = json!({
        "circuit": circuit,
        "witness": base64::engine::general_purpose::STANDARD.encode(wtns::to_bytes(&small.witness)),
    })
    .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..args.clients)
        .map(|_| {
            let (stop, latencies, failures, body) = (
                stop.clone(),
                latencies.clone(),
                failures.clone(),
                body.clone(),
            );
            let url = node.url("/v1/tasks");
            std::thread::spawn(move || {
                let c = Client::new();
                let mut mine = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = c
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .is_ok_and(|r| r.status().as_u16() == 202);
                    if ok {
                        mine.push(t.elapsed().as_secs_f64() * 1e3);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().expect("latencies").extend(mine);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(args.seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *latencies.lock().expect("latencies"));
    lat.sort_by(f64::total_cmp);
    let rate = lat.len() as f64 / elapsed;
    let metrics = c.get(node.url("/metrics")).send()?.text()?;
    let proofs_during = metrics
        .lines()
        .find_map(|l| l.strip_prefix("fornax_proofs_total "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!(
        "accept: {} submissions in {elapsed:.1} s by {} clients = {rate:.0}/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} failed; {proofs_during} proofs made meanwhile",
        lat.len(),
        args.clients,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(f64::NAN),
        failures.load(Ordering::Relaxed)
    );

    // 2. Memory over many submissions.
    let mut memory = Vec::new();
    let step = (args.tasks / 10).max(1);
    for k in 1..=args.tasks {
        let r = c
            .post(node.url("/v1/tasks"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()?;
        if r.status().as_u16() != 202 {
            bail!("submission {k} answered {}", r.status());
        }
        if k % step == 0 {
            memory.push((k, rss_mib()));
        }
    }
    println!(
        "memory (process RSS) after submissions: {}",
        memory
            .iter()
            .map(|(k, m)| format!("{k}: {m:.0} MiB"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // 3. Overhead per proof, on a fresh node (the first one still has a long queue).
    drop(node);
    let node = InProcessNode::start()?;
    let big = fornax_bench::groth16_fixture(args.overhead_log, 4);
    let big_circuit = node.register(&c, &big.key)?;
    let witness_b64 =
        base64::engine::general_purpose::STANDARD.encode(wtns::to_bytes(&big.witness));
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let prepared = exec.prepare("direct", big.key.clone())?;
    let (mut via_node, mut direct) = (Vec::new(), Vec::new());
    for rep in 0..=args.reps {
        let t = Instant::now();
        exec.prove(&prepared, big.witness.clone(), &mut rand::rngs::OsRng)?;
        let d = t.elapsed().as_secs_f64();
        // Wait on the event stream (as `fornax wait` does) rather than polling, which
        // would take CPU from the proof on a small machine.
        let events = Client::builder()
            .build()?
            .get(node.url("/v1/events"))
            .send()?;
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(events));
        let t = Instant::now();
        let task: Value = c
            .post(node.url("/v1/tasks"))
            .json(&json!({ "circuit": big_circuit, "witness": witness_b64 }))
            .send()?
            .json()?;
        let id = task["id"].as_str().context("no task id")?.to_string();
        loop {
            let line = lines.next().context("the event stream ended")??;
            let Some(data) = line.strip_prefix("data:") else {
                continue;
            };
            let event: Value = serde_json::from_str(data.trim())?;
            if event["type"] == "task" && event["task"]["id"] == id.as_str() {
                match event["task"]["state"].as_str() {
                    Some("proved") => break,
                    Some("failed") => bail!("overhead task failed: {event}"),
                    _ => {}
                }
            }
        }
        // The first round loads the key onto the device; it is not counted.
        if rep > 0 {
            via_node.push(t.elapsed().as_secs_f64());
            direct.push(d);
        }
    }
    via_node.sort_by(f64::total_cmp);
    direct.sort_by(f64::total_cmp);
    let (n, d) = (percentile(&via_node, 0.5), percentile(&direct, 0.5));
    println!(
        "overhead: 2^{} constraints, submit→proved {:.1} ms vs direct proof {:.1} ms (medians of {}): {:+.1}%",
        args.overhead_log,
        n * 1e3,
        d * 1e3,
        args.reps,
        (n / d - 1.0) * 100.0
    );

    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "api",
            "accept": { "clients": args.clients, "seconds": elapsed, "submissions": lat.len(), "per_second": rate,
                        "p50_ms": percentile(&lat, 0.5), "p99_ms": percentile(&lat, 0.99), "failed": failures.load(Ordering::Relaxed),
                        "proofs_meanwhile": proofs_during },
            "memory_mib": memory.iter().map(|(k, m)| json!({"submissions": k, "rss_mib": m})).collect::<Vec<_>>(),
            "overhead": { "log_constraints": args.overhead_log, "via_node_s": n, "direct_s": d, "ratio": n / d },
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
