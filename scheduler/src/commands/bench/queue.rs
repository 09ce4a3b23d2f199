//! `fornax bench queue`: what the queue costs, measured side by side in one run, all on
//! loopback with real processes (nodes, workers, nats-server).
//!
//! The same workload, `tasks` small proofs submitted at once, is run four ways:
//! 1. a node proving on its own devices (no queue: the embedded default);
//! 2. a node with the in-process queue and one worker slot inside it (`--queue mem`);
//! 3. a node with NATS JetStream and one `fornax worker` process;
//! 4. the same with `workers` worker processes.
//!
//! Dispatch overhead per job is (3 − 1) / tasks; the throughput ratio is 1's time over 4's.
//! Each run proves one task first (the key reaches the device) and times the rest from
//! the first submission to the last proof.
//!
//! With `--chaos-tasks N`, a fifth run submits N tasks to a JetStream cluster of `workers`
//! workers and kills one (SIGKILL, then starts a replacement) every `--kill-every-s`
//! seconds until all are done, then counts tasks lost (not proved) and proved twice.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

/// What to run.
#[derive(clap::Args, Debug)]
pub struct QueueBench {
    /// Small proofs per run.
    #[arg(long, default_value_t = 200)]
    tasks: usize,
    /// log2 constraints of each proof.
    #[arg(long, default_value_t = 6)]
    log: u32,
    /// Worker processes in the throughput and chaos runs.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// The nats-server binary [default: the one ops/nats.sh installs, else PATH's].
    #[arg(long, env = "FORNAX_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Tasks of the chaos run (0: no chaos run).
    #[arg(long, default_value_t = 0)]
    chaos_tasks: usize,
    /// Seconds between worker kills in the chaos run.
    #[arg(long, default_value_t = 10.0)]
    kill_every_s: f64,
    /// Jobs of the round-trip measurement (the queue alone, no proving, no store).
    #[arg(long, default_value_t = 2000)]
    roundtrips: usize,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// A child process killed when dropped.
pub(super) struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().context("locating the fornax binary")
}

pub(super) fn nats_binary(given: &Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    if Path::new("ops/nats.sh").exists() {
        let out = Command::new("ops/nats.sh")
            .output()
            .context("running ops/nats.sh")?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).trim().into());
        }
    }
    Ok("nats-server".into())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) fn start_nats(bin: &Path, dir: &Path) -> Result<(Proc, String)> {
    let port = free_port()?;
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nats-server did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((proc, format!("nats://127.0.0.1:{port}")))
}

pub(super) fn start_node(dir: &Path, extra: &[&str]) -> Result<(Proc, String)> {
    let mut child = Command::new(exe()?)
        .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a node")?;
    let stdout = child.stdout.take().context("node stdout")?;
    let proc = Proc(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().context("the node exited before listening")??;
        if let Some(addr) = line.strip_prefix("fornax node listening on ") {
            break addr.trim().to_string();
        }
    };
    // Keep reading so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok((proc, url))
}

pub(super) fn start_worker(nats: &str, id: &str, cache: &Path) -> Result<Proc> {
    start_worker_with(nats, id, cache, "cpu", &[])
}

/// A `fornax worker` on `devices` (`cpu`, or CPU lanes `cpu:0,cpu:1`) with environment
/// `env` (e.g. `RAYON_NUM_THREADS=1`).
pub(super) fn start_worker_with(
    nats: &str,
    id: &str,
    cache: &Path,
    devices: &str,
    env: &[(&str, &str)],
) -> Result<Proc> {
    let mut child = Command::new(exe()?)
        .envs(env.iter().copied())
        .args([
            "worker",
            "--join",
            nats,
            "--devices",
            devices,
            "--id",
            id,
            "--cache-dir",
        ])
        .arg(cache.join(id))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting a worker")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let proc = Proc(child);
    let mut lines = BufReader::new(stdout).lines();
    match lines.next() {
        Some(Ok(l)) if l.starts_with("worker ") => {}
        other => bail!("worker {id} did not join: {other:?}"),
    }
    std::thread::spawn(move || for _ in lines {});
    Ok(proc)
}

/// A cluster on loopback in a temporary folder: nats-server, a node queueing on it, and
/// worker processes; all stopped when dropped.
pub(super) struct LocalCluster {
    /// The node's URL.
    pub(super) url: String,
    // Dropped in this order: workers, node, nats-server, then the folder.
    _workers: Vec<Proc>,
    _node: Proc,
    _nats: Proc,
    _dir: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts nats-server (`nats_bin`), a node and `workers` workers.
    pub(super) fn start(nats_bin: &Path, workers: usize) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let (nats_proc, nats) = start_nats(nats_bin, &dir.path().join("nats"))?;
        let (node, url) = start_node(&dir.path().join("node"), &["--queue", &nats])?;
        let workers = (0..workers)
            .map(|i| start_worker(&nats, &format!("w{i}"), dir.path()))
            .collect::<Result<_>>()?;
        Ok(LocalCluster {
            url,
            _workers: workers,
            _node: node,
            _nats: nats_proc,
            _dir: dir,
        })
    }
}

/// `fornax_tasks_finished_total{state="…"}` from the node's metrics.
fn finished(c: &Client, url: &str, state: &str) -> Result<u64> {
    let text = c.get(format!("{url}/metrics")).send()?.text()?;
    let key = format!("fornax_tasks_finished_total{{state=\"{state}\"}} ");
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}

/// Small proofs of one synthetic circuit, submitted over HTTP.
pub(super) struct Workload {
    zkey: Vec<u8>,
    body: String,
}

impl Workload {
    /// A `2^log`-constraint circuit and a witness of it.
    pub(super) fn new(log: u32) -> Self {
        let fx = fornax_bench::groth16_fixture(log, 11);
        let witness = base64::engine::general_purpose::STANDARD
            .encode(fornax_prover::wtns::to_bytes(&fx.witness));
        Workload {
            zkey: fx.key.to_bytes(),
            body: json!({ "circuit": "CIRCUIT", "witness": witness }).to_string(),
        }
    }

    /// Registers the circuit with the node at `url`: the body of a task submission.
    pub(super) fn register(&self, c: &Client, url: &str) -> Result<String> {
        let form = multipart::Form::new().part("zkey", multipart::Part::bytes(self.zkey.clone()));
        let meta: Value = c
            .post(format!("{url}/v1/circuits"))
            .multipart(form)
            .send()?
            .json()?;
        let id = meta["id"].as_str().context("no circuit id")?;
        Ok(self.body.replace("CIRCUIT", id))
    }

    /// Registers the circuit, proves one task (warm-up), then submits `n` and returns the
    /// time from the first submission to the last proof.
    fn run(&self, c: &Client, url: &str, n: usize) -> Result<Duration> {
        let body = self.register(c, url)?;
        let submit = |k: usize| {
            submit(c, url, &body)
                .map(|_| ())
                .with_context(|| format!("submission {k}"))
        };
        submit(0)?;
        wait_proved(c, url, 1, Duration::from_secs(300))?;
        let start = Instant::now();
        for k in 0..n {
            submit(k + 1)?;
        }
        wait_proved(c, url, n as u64 + 1, Duration::from_secs(3600))?;
        Ok(start.elapsed())
    }
}

/// Submits a task; its id.
pub(super) fn submit(c: &Client, url: &str, body: &str) -> Result<String> {
    let r = c
        .post(format!("{url}/v1/tasks"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()?;
    if r.status().as_u16() != 202 {
        bail!("a submission was answered {}", r.status());
    }
    let task: Value = r.json()?;
    Ok(task["id"].as_str().context("no task id")?.to_string())
}

/// Waits until `n` tasks are proved (any failure is an error).
pub(super) fn wait_proved(c: &Client, url: &str, n: u64, limit: Duration) -> Result<()> {
    let start = Instant::now();
    loop {
        if finished(c, url, "proved")? >= n {
            return Ok(());
        }
        if finished(c, url, "failed")? > 0 {
            bail!("a task failed");
        }
        if start.elapsed() > limit {
            bail!("not all tasks proved after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the comparison (and the chaos run if asked) and prints them.
pub fn run(args: &QueueBench) -> Result<std::process::ExitCode> {
    let nats_bin = nats_binary(&args.nats_server)?;
    let c = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let work = Workload::new(args.log);
    let n = args.tasks;
    let mut rows = Vec::new();

    let mut measure = |label: &str, run: &dyn Fn() -> Result<Duration>| -> Result<f64> {
        let t = run()?.as_secs_f64();
        println!(
            "{label:<34} {n} proofs of 2^{} in {:>8.1} ms: {:>8.3} ms per proof",
            args.log,
            t * 1e3,
            t * 1e3 / n as f64
        );
        rows.push(json!({ "run": label, "tasks": n, "seconds": t }));
        Ok(t)
    };
    let inproc = measure("node, no queue (embedded)", &|| {
        let dir = tempfile::tempdir()?;
        let (_node, url) = start_node(dir.path(), &[])?;
        work.run(&c, &url, n)
    })?;
    let mem = measure("node, in-process queue, 1 slot", &|| {
        let dir = tempfile::tempdir()?;
        let (_node, url) = start_node(dir.path(), &["--queue", "mem"])?;
        work.run(&c, &url, n)
    })?;
    let cluster = |workers: usize| -> Result<Duration> {
        let cluster = LocalCluster::start(&nats_bin, workers)?;
        work.run(&c, &cluster.url, n)
    };
    let js1 = measure("node, JetStream, 1 worker process", &|| cluster(1))?;
    let label = format!("node, JetStream, {} worker processes", args.workers);
    let jsw = measure(&label, &|| cluster(args.workers))?;

    let (mem_rt, js_rt) = roundtrips(&nats_bin, args.roundtrips)?;
    println!(
        "queue round trip per job (submit, take, report, ack, apply), {} jobs one at a time: in-process {:.3} ms, JetStream {:.3} ms: dispatch overhead {:+.3} ms per job (target ≤ 2 ms)",
        args.roundtrips,
        mem_rt * 1e3,
        js_rt * 1e3,
        (js_rt - mem_rt) * 1e3
    );
    let overhead_ms = (js1 - inproc) * 1e3 / n as f64;
    let overhead_vs_mem_ms = (js1 - mem) * 1e3 / n as f64;
    let ratio = inproc / jsw;
    println!("end to end, per proof: JetStream {overhead_ms:+.3} ms against the embedded node, {overhead_vs_mem_ms:+.3} ms against the in-process queue (store writes make this noisy: the round trip above is the measure)");
    println!(
        "throughput with {} worker processes: {ratio:.2}× the embedded node's (target ≥ 0.9×)",
        args.workers
    );

    let chaos = if args.chaos_tasks > 0 {
        Some(chaos(args, &nats_bin, &c, &work)?)
    } else {
        None
    };

    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "queue",
            "setup": "loopback, this machine's CPU backend",
            "log_constraints": args.log,
            "runs": rows,
            "roundtrip": { "jobs": args.roundtrips, "mem_queue_ms": mem_rt * 1e3, "jetstream_ms": js_rt * 1e3, "overhead_ms": (js_rt - mem_rt) * 1e3 },
            "end_to_end_overhead_ms": overhead_ms,
            "end_to_end_overhead_vs_mem_queue_ms": overhead_vs_mem_ms,
            "throughput_ratio": ratio,
            "workers": args.workers,
            "chaos": chaos,
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The chaos run: a worker killed every `kill_every_s` until every task is final.
fn chaos(args: &QueueBench, nats_bin: &Path, c: &Client, work: &Workload) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let (_nats, nats) = start_nats(nats_bin, &dir.path().join("nats"))?;
    let (_node, url) = start_node(
        &dir.path().join("node"),
        &["--queue", &nats, "--ack-wait-s", "5", "--dead-after-s", "2"],
    )?;
    let mut workers: Vec<Proc> = (0..args.workers)
        .map(|i| start_worker(&nats, &format!("c{i}"), dir.path()))
        .collect::<Result<_>>()?;
    let form = multipart::Form::new().part("zkey", multipart::Part::bytes(work.zkey.clone()));
    let meta: Value = c
        .post(format!("{url}/v1/circuits"))
        .multipart(form)
        .send()?
        .json()?;
    let body = work
        .body
        .replace("CIRCUIT", meta["id"].as_str().context("no circuit id")?);
    let mut ids = Vec::new();
    for _ in 0..args.chaos_tasks {
        let t: Value = c
            .post(format!("{url}/v1/tasks"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()?
            .json()?;
        ids.push(t["id"].as_str().context("no task id")?.to_string());
    }
    let start = Instant::now();
    let mut next_kill = start + Duration::from_secs_f64(args.kill_every_s);
    let (mut kills, mut spawned) = (0, args.workers);
    loop {
        let done = finished(c, &url, "proved")? + finished(c, &url, "failed")?;
        if done >= ids.len() as u64 {
            break;
        }
        if start.elapsed() > Duration::from_secs(3600) {
            bail!("the chaos run did not finish within an hour");
        }
        if Instant::now() >= next_kill {
            let victim = rand::random::<usize>() % workers.len();
            drop(workers.swap_remove(victim));
            kills += 1;
            workers.push(start_worker(&nats, &format!("c{spawned}"), dir.path())?);
            spawned += 1;
            next_kill += Duration::from_secs_f64(args.kill_every_s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (mut lost, mut twice, mut failed) = (0, 0, Vec::new());
    for id in &ids {
        let log: Value = c
            .get(format!("{url}/v1/tasks/{id}/transitions"))
            .send()?
            .json()?;
        let to = |s: &str| {
            log["transitions"]
                .as_array()
                .map(|t| t.iter().filter(|t| t["to"] == s).count())
                .unwrap_or(0)
        };
        match (to("proved"), to("failed")) {
            (1, 0) => {}
            (0, 1) => {
                let t: Value = c.get(format!("{url}/v1/tasks/{id}")).send()?.json()?;
                failed.push(t["failure"].clone());
            }
            (0, 0) => lost += 1,
            _ => twice += 1,
        }
    }
    println!(
        "chaos: {} tasks, {} workers, one killed every {:.0} s ({kills} kills) in {elapsed:.1} s: {lost} lost, {twice} ended twice, {} failed with a reason",
        ids.len(),
        args.workers,
        args.kill_every_s,
        failed.len()
    );
    Ok(json!({
        "tasks": ids.len(), "workers": args.workers, "kill_every_s": args.kill_every_s,
        "kills": kills, "seconds": elapsed, "lost": lost, "ended_twice": twice, "failed": failed,
    }))
}

/// Seconds per job through the in-process queue and through JetStream: one job at a time,
/// the whole cycle (submit, take, report a proof-sized outcome, ack, read the outcome and
/// ack it), so the difference is what the queue adds to a job's path.
fn roundtrips(nats_bin: &Path, n: usize) -> Result<(f64, f64)> {
    use fornax_node::queue::{
        jetstream::{JetStreamQueue, Role},
        Admission, JobInput, JobSpec, MemQueue, Outcome, OutcomeResult, Queue, QueueSettings,
    };
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let (_nats, url) = start_nats(nats_bin, &dir.path().join("nats"))?;
    let proof = json!({
        "pi_a": ["1".repeat(77), "2".repeat(77), "1"],
        "pi_b": [["3".repeat(77), "4".repeat(77)], ["5".repeat(77), "6".repeat(77)], ["1", "0"]],
        "pi_c": ["7".repeat(77), "8".repeat(77), "1"],
        "protocol": "groth16", "curve": "bn128",
    });
    let cycle = |queue: Arc<dyn Queue>, label: &'static str| -> Result<f64> {
        let proof = proof.clone();
        runtime.block_on(async move {
            let admit = Admission {
                kinds: vec!["groth16".into()],
                classes: vec!["cpu".into()],
                memory_bytes: 1 << 30,
            };
            let job = |k: usize| JobSpec {
                id: format!("{label}-{k}/groth16"),
                task: format!("{label}-{k}"),
                kind: "groth16".into(),
                class: "any".into(),
                memory_bytes: 1 << 20,
                circuit: "c".into(),
                has_wasm: false,
                input_kind: fornax_node::task::InputKind::Wtns,
                input: JobInput::Inline("AAAA".into()),
                requeues: 0,
                timeout_ms: None,
                fhe: None,
                part: None,
                witness: None,
            };
            let one = |k: usize| {
                let (queue, admit, proof) = (Arc::clone(&queue), admit.clone(), proof.clone());
                async move {
                    queue.submit(&job(k)).await?;
                    let d = queue
                        .take(&admit, Duration::from_secs(5))
                        .await?
                        .context("no job came")?;
                    let outcome = Outcome {
                        job: d.job().id.clone(),
                        task: d.job().task.clone(),
                        worker: "bench".into(),
                        delivered: d.delivered(),
                        queue_seq: d.queue_seq(),
                        result: OutcomeResult::Proved {
                            proof: fornax_node::store::StoredProof {
                                proof: proof.clone(),
                                public: json!(["1"]),
                                prove_ms: 1.0,
                            },
                            device: "cpu:0".into(),
                            parts: Vec::new(),
                        },
                    };
                    queue.report(&outcome).await?;
                    d.ack().await?;
                    let o = queue
                        .next_outcome(Duration::from_secs(5))
                        .await?
                        .context("no outcome came")?;
                    o.ack().await?;
                    anyhow::Ok(())
                }
            };
            for k in 0..20 {
                one(n + k).await?; // warm-up
            }
            let start = Instant::now();
            for k in 0..n {
                one(k).await?;
            }
            Ok(start.elapsed().as_secs_f64() / n as f64)
        })
    };
    let settings = QueueSettings::default();
    let mem = cycle(Arc::new(MemQueue::new(settings.clone(), dir.path())), "mem")?;
    let js = runtime.block_on(JetStreamQueue::connect(
        &url,
        "bench",
        Role::Scheduler(settings),
        &Default::default(),
    ))?;
    let js = cycle(Arc::new(js), "js")?;
    Ok((mem, js))
}
