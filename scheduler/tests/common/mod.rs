//! Helpers shared by the integration tests: the circom/snarkjs fixtures and the tools.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The fixture directory built (or found cached) by `ops/circuits.sh`.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("ops/circuits.sh"))
            .current_dir(root())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "ops/circuits.sh failed (run ops/setup.sh first): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        root().join(
            stdout
                .lines()
                .last()
                .expect("the script prints the directory")
                .trim(),
        )
    })
}

/// `<fixtures>/<name>/<name>.<ext>`.
pub fn circuit(name: &str, ext: &str) -> PathBuf {
    fixtures().join(name).join(format!("{name}.{ext}"))
}

/// The circuit's witness generator.
pub fn wasm(name: &str) -> PathBuf {
    fixtures().join(name).join(format!("{name}_js/{name}.wasm"))
}

/// The circuit's snarkjs verification key.
pub fn vk(name: &str) -> PathBuf {
    fixtures().join(name).join("verification_key.json")
}

/// Runs the npm-installed snarkjs.
pub fn snarkjs(args: &[&Path]) -> Output {
    Command::new(root().join("ops/js/node_modules/.bin/snarkjs"))
        .args(args)
        .output()
        .expect("snarkjs runs")
}

/// stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A `&Path` from a string, for argument lists.
pub fn sub(s: &str) -> &Path {
    Path::new(s)
}

/// The seed of a test's random inputs: `FORNAX_SEED` or fresh; printed.
pub fn seed() -> u64 {
    let seed = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("seed {seed} (FORNAX_SEED={seed} replays it)");
    seed
}

/// A running `fornax node` process; killed when dropped.
pub struct Node {
    child: Child,
    /// Its HTTP address.
    pub url: String,
    /// What it printed up to the line it was awaited for.
    pub banner: Vec<String>,
}

impl Node {
    /// Starts `fornax node --listen 127.0.0.1:0 --data-dir DATA ARGS…` and returns once it
    /// has printed its address.
    pub fn start(data: &Path, args: &[&str]) -> Node {
        Self::start_until(data, args, &[], "fornax node listening on ")
    }

    /// [`start`](Self::start) with environment variables, returning once a line starting
    /// with `ready` has been printed (e.g. `"chain "` once it is connected to its chain).
    pub fn start_until(data: &Path, args: &[&str], env: &[(&str, &str)], ready: &str) -> Node {
        Self::spawn(data, args, env, ready, Stdio::inherit())
    }

    /// [`start`](Self::start) with the node's stderr (its log) written to `log`.
    pub fn start_logging_to(data: &Path, args: &[&str], log: &Path) -> Node {
        let file = std::fs::File::create(log).expect("the log file");
        Self::spawn(data, args, &[], "fornax node listening on ", file.into())
    }

    fn spawn(data: &Path, args: &[&str], env: &[(&str, &str)], ready: &str, stderr: Stdio) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("fornax node starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Keep draining stdout so the node never blocks on it.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut banner: Vec<String> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !banner.iter().any(|l| l.starts_with(ready)) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the node never printed `{ready}…`: {banner:?}"));
            banner.push(line);
        }
        let mut node = Node {
            child,
            url: String::new(),
            banner,
        };
        node.url = node.line("fornax node listening on ");
        node
    }

    /// The rest of the first banner line that starts with `prefix`.
    pub fn line(&self, prefix: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in {:?}", self.banner))
            .trim()
            .to_string()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("reap");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a proof as the node serves it (`{"proof", "public"}` in snarkjs JSON) verifies
/// under `vk`.
pub fn served_proof_verifies(served: &serde_json::Value, vk: &fornax_prover::VerifyingKey) -> bool {
    let proof: fornax_prover::ProofJson =
        serde_json::from_value(served["proof"].clone()).expect("snarkjs proof JSON");
    let public: Vec<serde_json::Value> =
        serde_json::from_value(served["public"].clone()).expect("snarkjs public JSON");
    let inputs = fornax_prover::json::public_from_json("public", &public).expect("public signals");
    let proof = proof.to_proof("proof").expect("a proof on the curve");
    fornax_prover::verify(vk, &inputs, &proof).expect("verification runs")
}

/// nats-server: `FORNAX_NATS_SERVER`, or the one ops/nats.sh installs (once per run).
pub fn nats_binary() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("FORNAX_NATS_SERVER") {
            return p.into();
        }
        let out = Command::new(root().join("ops/nats.sh"))
            .output()
            .expect("ops/nats.sh runs");
        assert!(out.status.success(), "ops/nats.sh: {}", text(&out));
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
    .clone()
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A nats-server with JetStream on loopback; killed when dropped.
pub struct Nats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
}

impl Nats {
    pub fn start(dir: &Path) -> Nats {
        Self::start_with(dir, &[])
    }

    /// [`start`](Self::start) with more nats-server flags (users, TLS).
    pub fn start_with(dir: &Path, extra: &[&str]) -> Nats {
        let mut n = Nats {
            child: None,
            port: free_port(),
            dir: dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let child = Command::new(nats_binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, then the same server again on the same port and store.
    pub fn restart(&mut self, down_for: Duration) {
        self.kill();
        std::thread::sleep(down_for);
        self.spawn();
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A `fornax worker` process; killed when dropped.
pub struct Worker {
    /// The process.
    pub child: Child,
    /// What it printed.
    pub lines: mpsc::Receiver<String>,
}

impl Worker {
    pub fn start(nats: &Nats, id: &str, cache: &Path, extra: &[&str]) -> Worker {
        Self::start_with_env(nats, id, cache, extra, &[])
    }

    /// [`start`](Self::start) with environment variables.
    pub fn start_with_env(
        nats: &Nats,
        id: &str,
        cache: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Worker {
        // The CPU unless the test names devices.
        let devices: &[&str] = match extra.contains(&"--devices") {
            true => &[],
            false => &["--devices", "cpu"],
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["worker", "--join", &nats.url(), "--id", id])
            .args(devices)
            .arg("--cache-dir")
            .arg(cache.join(id))
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fornax worker starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let w = Worker { child, lines };
        let joined = w
            .lines
            .recv_timeout(Duration::from_secs(60))
            .expect("worker joined");
        assert!(
            joined.starts_with(&format!("worker {id} joined")),
            "{joined}"
        );
        w
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.signal_quietly();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    fn signal_quietly(&self) {
        // A frozen worker cannot die of SIGKILL until it is continued... it can; but be sure.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .status();
    }
}

/// A runtime for the tests' own async calls.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The worker registry, read straight from the KV bucket.
pub fn registry(rt: &tokio::runtime::Runtime, nats: &Nats) -> Vec<fornax_node::queue::WorkerInfo> {
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let kv = js.get_key_value("fornax-workers").await.unwrap();
        use futures_util::StreamExt;
        let mut keys = kv.keys().await.unwrap();
        let mut out = Vec::new();
        while let Some(Ok(k)) = keys.next().await {
            if let Some(v) = kv.get(&k).await.unwrap() {
                out.push(serde_json::from_slice(&v).unwrap());
            }
        }
        out
    })
}

/// The environment under which a process exports its spans as OTLP/JSON, every half second.
pub const OTLP_JSON: &[(&str, &str)] = &[
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ("OTEL_BSP_SCHEDULE_DELAY", "500"),
];

/// One exported span, as a collector receives it.
#[derive(Clone, Debug)]
pub struct ExportedSpan {
    /// Its name (`task`, `job`).
    pub name: String,
    /// Hex ids: its trace, itself, and its parent (empty for a root).
    pub trace: String,
    pub span: String,
    pub parent: String,
    /// Its string attributes.
    pub attributes: std::collections::HashMap<String, String>,
}

/// A collector of OTLP/HTTP requests in JSON ([`OTLP_JSON`]) on loopback: each request's
/// spans are kept (answered 200, connections kept alive).
pub struct OtlpCollector {
    /// Its traces endpoint, for `--otlp-endpoint`.
    pub endpoint: String,
    spans: std::sync::Arc<std::sync::Mutex<Vec<ExportedSpan>>>,
}

impl OtlpCollector {
    pub fn start() -> OtlpCollector {
        use std::io::{Read, Write};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
        let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    loop {
                        let mut length = 0usize;
                        let mut line = String::new();
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some((name, value)) = line.split_once(':') {
                                if name.eq_ignore_ascii_case("content-length") {
                                    length = value.trim().parse().unwrap_or(0);
                                }
                            }
                        }
                        let mut body = vec![0u8; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let request: serde_json::Value =
                            serde_json::from_slice(&body).expect("an OTLP/JSON request");
                        seen.lock().unwrap().extend(exported_spans(&request));
                        let _ = writer.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
                        );
                    }
                });
            }
        });
        OtlpCollector { endpoint, spans }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ExportedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until task `task`'s trace has arrived, its root `task` span and at least
    /// `jobs` job spans, then checks its shape: one root carrying the task id, every span of
    /// the trace under it, every job span naming the task. Returns the trace's spans.
    pub fn wait_for_trace(&self, task: &str, jobs: usize, limit: Duration) -> Vec<ExportedSpan> {
        let deadline = Instant::now() + limit;
        loop {
            let all = self.spans();
            let root = all.iter().find(|s| {
                s.name == "task" && s.attributes.get("task").map(String::as_str) == Some(task)
            });
            if let Some(root) = root {
                let trace: Vec<ExportedSpan> = all
                    .iter()
                    .filter(|s| s.trace == root.trace)
                    .cloned()
                    .collect();
                if trace.iter().filter(|s| s.name == "job").count() >= jobs {
                    assert!(
                        root.parent.is_empty(),
                        "the task span is the root: {root:?}"
                    );
                    for s in trace.iter().filter(|s| s.span != root.span) {
                        assert_eq!(s.parent, root.span, "a span outside the task's tree: {s:?}");
                        if s.name == "job" {
                            assert_eq!(s.attributes["task"], task, "{s:?}");
                        }
                    }
                    return trace;
                }
            }
            assert!(
                Instant::now() < deadline,
                "task {task}'s trace with {jobs} job spans did not arrive: {all:#?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The spans of an OTLP/JSON `ExportTraceServiceRequest`.
fn exported_spans(request: &serde_json::Value) -> Vec<ExportedSpan> {
    let list = |v: &serde_json::Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let mut out = Vec::new();
    for resource in list(request, "resourceSpans") {
        for scope in list(&resource, "scopeSpans") {
            for span in list(&scope, "spans") {
                let attributes = list(&span, "attributes")
                    .iter()
                    .filter_map(|kv| {
                        Some((
                            text(&kv["key"]),
                            kv["value"]["stringValue"].as_str()?.to_string(),
                        ))
                    })
                    .collect();
                out.push(ExportedSpan {
                    name: text(&span["name"]),
                    trace: text(&span["traceId"]),
                    span: text(&span["spanId"]),
                    parent: text(&span["parentSpanId"]),
                    attributes,
                });
            }
        }
    }
    out
}
