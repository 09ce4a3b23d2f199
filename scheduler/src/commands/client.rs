//! The `fornax` commands that talk to a node over HTTP: `register`, `circuits`, `submit`,
//! `status` and `wait`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use reqwest::blocking::{multipart, Client, RequestBuilder, Response};
use serde_json::{json, Value};

/// Where the node is and who we are.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeConn {
    /// The node's URL.
    #[arg(long, env = "FORNAX_NODE", default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// An API key (`Authorization: Bearer`), if the node wants one.
    #[arg(long, env = "FORNAX_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl NodeConn {
    pub(crate) fn client(timeout: Option<Duration>) -> Result<Client> {
        Client::builder()
            .timeout(timeout)
            .build()
            .context("building the HTTP client")
    }

    pub(crate) fn auth(&self, r: RequestBuilder) -> RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.node.trim_end_matches('/'))
    }

    /// Sends; returns the JSON body of a 2xx, or the node's `{code, message}` as an error.
    pub(crate) fn json(&self, r: RequestBuilder) -> Result<Value> {
        let resp = self
            .auth(r)
            .send()
            .with_context(|| format!("reaching the node at {}", self.node))?;
        read_json(resp)
    }

    pub(crate) fn get(&self, path: &str) -> Result<Value> {
        self.json(Self::client(Some(Duration::from_secs(60)))?.get(self.url(path)))
    }
}

fn read_json(resp: Response) -> Result<Value> {
    let status = resp.status();
    let text = resp.text().context("reading the node's answer")?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        match (value["code"].as_str(), value["message"].as_str()) {
            (Some(code), Some(message)) => bail!("the node answered {status}: {code}: {message}"),
            _ => bail!("the node answered {status}: {value}"),
        }
    }
    Ok(value)
}

/// `fornax register`: uploads a zkey (and witness generator); prints the circuit id.
pub fn register(conn: &NodeConn, zkey: &Path, wasm: Option<&Path>) -> Result<ExitCode> {
    let read = |p: &Path| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let mut form = multipart::Form::new().part("zkey", multipart::Part::bytes(read(zkey)?));
    if let Some(w) = wasm {
        form = form.part("wasm", multipart::Part::bytes(read(w)?));
    }
    let meta = conn.json(
        NodeConn::client(Some(Duration::from_secs(600)))?
            .post(conn.url("/v1/circuits"))
            .multipart(form),
    )?;
    println!("{}", meta["id"].as_str().unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// `fornax circuits`: lists registered circuits.
pub fn circuits(conn: &NodeConn) -> Result<ExitCode> {
    let list = conn.get("/v1/circuits")?;
    println!(
        "{:<64}  {:>8}  {:>8}  {:>6}  wasm",
        "id", "wires", "domain", "public"
    );
    for c in list["circuits"].as_array().into_iter().flatten() {
        println!(
            "{:<64}  {:>8}  {:>8}  {:>6}  {}",
            c["id"].as_str().unwrap_or_default(),
            c["n_wires"],
            c["domain_size"],
            c["n_public"],
            if c["has_wasm"].as_bool().unwrap_or(false) {
                "yes"
            } else {
                "no"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `fornax submit`: submits a task; prints its id.
pub fn submit(
    conn: &NodeConn,
    circuit: &str,
    input: Option<&Path>,
    witness: Option<&Path>,
    idempotency_key: Option<&str>,
    timeout_s: Option<u64>,
) -> Result<ExitCode> {
    let mut body = json!({ "circuit": circuit });
    match (input, witness) {
        (Some(path), None) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            body["input"] = serde_json::from_str(&text)
                .with_context(|| format!("{}: not JSON", path.display()))?;
        }
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            body["witness"] =
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
        _ => bail!("give exactly one of --input input.json and --witness witness.wtns"),
    }
    if let Some(t) = timeout_s {
        body["timeout_s"] = json!(t);
    }
    let mut req = NodeConn::client(Some(Duration::from_secs(120)))?
        .post(conn.url("/v1/tasks"))
        .json(&body);
    if let Some(k) = idempotency_key {
        req = req.header("Idempotency-Key", k);
    }
    let task = conn.json(req)?;
    println!("{}", task["id"].as_str().unwrap_or_default());
    Ok(ExitCode::SUCCESS)
}

/// `fornax status`: prints a task.
pub fn status(conn: &NodeConn, id: &str) -> Result<ExitCode> {
    let task = conn.get(&format!("/v1/tasks/{id}"))?;
    println!("{}", serde_json::to_string_pretty(&task)?);
    Ok(ExitCode::SUCCESS)
}

fn is_final(state: &str) -> bool {
    matches!(state, "proved" | "failed" | "cancelled" | "expired")
}

/// `fornax wait`: follows tasks on the event stream, with a progress bar per task, until
/// each is final; with `--out DIR`, writes `ID.proof.json` and `ID.public.json` there.
/// Exit 0 when every task was proved, 1 otherwise.
pub fn wait(conn: &NodeConn, ids: &[String], out: Option<&PathBuf>) -> Result<ExitCode> {
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut states: Vec<String> = Vec::with_capacity(ids.len());
    let mut progress = vec![(0usize, 0usize); ids.len()];
    // Subscribe first, then read the current states, so that no change is missed.
    let events = conn
        .auth(NodeConn::client(None)?.get(conn.url("/v1/events")))
        .send()
        .with_context(|| format!("reaching the node at {}", conn.node))?;
    if !events.status().is_success() {
        read_json(events)?;
        unreachable!("read_json fails on a non-2xx answer");
    }
    for id in ids {
        states.push(
            conn.get(&format!("/v1/tasks/{id}"))?["state"]
                .as_str()
                .unwrap_or("unknown")
                .to_string(),
        );
    }
    // On a terminal: one progress bar per task (its jobs done of all), redrawn in place.
    // Otherwise: a line per state change.
    let bars = crate::progress::Progress::new();
    let mut shown: Vec<crate::progress::Bar> = ids.iter().map(|id| bars.bar(id, 1)).collect();
    let mut draw = |states: &[String], progress: &[(usize, usize)]| {
        for (k, bar) in shown.iter_mut().enumerate() {
            let (done, total) = progress[k];
            if is_final(&states[k]) {
                bar.finish(&states[k]);
            } else {
                bar.set(done as u64, total as u64, &states[k]);
            }
        }
    };
    let mut event_kind = String::new();
    let mut lines = BufReader::new(events).lines();
    while !states.iter().all(|s| is_final(s)) {
        draw(&states, &progress);
        let Some(line) = lines.next() else {
            bail!("the node closed the event stream")
        };
        let line = line.context("reading the event stream")?;
        if let Some(kind) = line.strip_prefix("event:") {
            event_kind = kind.trim().to_string();
            continue;
        }
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        match event_kind.as_str() {
            "task" => {
                if let Some(k) = ids.iter().position(|id| event["task"]["id"] == id.as_str()) {
                    states[k] = event["task"]["state"]
                        .as_str()
                        .unwrap_or("unknown")
                        .to_string();
                    if states[k] == "scheduled" {
                        progress[k].0 = 0;
                    }
                }
            }
            "job" => {
                if let Some(k) = ids.iter().position(|id| event["task"] == id.as_str()) {
                    progress[k] = (
                        event["done"].as_u64().unwrap_or(0) as usize,
                        event["total"].as_u64().unwrap_or(0) as usize,
                    );
                }
            }
            _ => {}
        }
    }
    draw(&states, &progress);
    let mut all_proved = true;
    for (k, id) in ids.iter().enumerate() {
        if states[k] != "proved" {
            all_proved = false;
            let task = conn.get(&format!("/v1/tasks/{id}"))?;
            eprintln!(
                "{id}: {} {}",
                states[k],
                task.get("failure")
                    .map(|f| f.to_string())
                    .unwrap_or_default()
            );
            continue;
        }
        if let Some(dir) = out {
            let proof = conn.get(&format!("/v1/tasks/{id}/proof"))?;
            let write = |name: String, v: &Value| {
                let path = dir.join(name);
                std::fs::write(&path, serde_json::to_string_pretty(v).expect("JSON") + "\n")
                    .with_context(|| format!("writing {}", path.display()))
            };
            write(format!("{id}.proof.json"), &proof["proof"])?;
            write(format!("{id}.public.json"), &proof["public"])?;
        }
    }
    Ok(if all_proved {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
