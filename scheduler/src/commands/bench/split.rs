//! `fornax bench split`: one large proof split across workers beside the same proof whole
//! on one worker, in one run, with real processes on loopback (nats-server, nodes, workers).
//!
//! Two clusters side by side, each its own nats-server and node:
//! 1. **whole**: `--split never` and one worker;
//! 2. **split**: `--split always` and `workers` workers, or with `--lanes` one worker with
//!    that many devices (the CPU in lanes, `--devices cpu:0,cpu:1,…`).
//!
//! Every worker (every lane) is single-threaded (`RAYON_NUM_THREADS=1`, or as many threads
//! as lanes), so the comparison is of placement, not of threads. Each cluster proves `warmup` tasks first (the key reaches
//! every worker); then the two take turns, one task at a time, timed from submission to
//! the stored proof; medians are reported and the ratio is whole over split.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

use super::queue::{nats_binary, start_nats, start_node, start_worker_with};

/// What to run.
#[derive(clap::Args, Debug)]
pub struct SplitBench {
    /// log2 constraints of the proof.
    #[arg(long, default_value_t = 18)]
    log: u32,
    /// Workers of the split cluster (with `--lanes`: devices of its one worker).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// The split cluster has one worker whose devices are `workers` single-threaded CPU
    /// lanes, instead of `workers` workers.
    #[arg(long)]
    lanes: bool,
    /// Timed proofs per cluster.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Proofs per cluster before timing.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// The nats-server binary [default: the one ops/nats.sh installs, else PATH's].
    #[arg(long, env = "FORNAX_NATS_SERVER")]
    nats_server: Option<PathBuf>,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One cluster: its processes (kept alive), its node's URL, its circuit.
struct Cluster {
    _procs: Vec<super::queue::Proc>,
    url: String,
    circuit: String,
}

impl Cluster {
    fn start(
        nats_bin: &std::path::Path,
        dir: &std::path::Path,
        split: &str,
        workers: usize,
        lanes: bool,
        zkey: &[u8],
        c: &Client,
    ) -> Result<Cluster> {
        let (nats_proc, nats) = start_nats(nats_bin, &dir.join("nats"))?;
        let (node_proc, url) = start_node(
            &dir.join("node"),
            &[
                "--queue",
                &nats,
                "--split",
                split,
                "--job-timeout-s",
                "3600",
            ],
        )?;
        let mut procs = vec![nats_proc, node_proc];
        if lanes {
            let devices: Vec<String> = (0..workers).map(|i| format!("cpu:{i}")).collect();
            procs.push(start_worker_with(
                &nats,
                &format!("{split}-lanes"),
                dir,
                &devices.join(","),
                &[("RAYON_NUM_THREADS", &workers.to_string())],
            )?);
        } else {
            for i in 0..workers {
                procs.push(start_worker_with(
                    &nats,
                    &format!("{split}-{i}"),
                    dir,
                    "cpu",
                    &[("RAYON_NUM_THREADS", "1")],
                )?);
            }
        }
        let form = multipart::Form::new().part("zkey", multipart::Part::bytes(zkey.to_vec()));
        let meta: Value = c
            .post(format!("{url}/v1/circuits"))
            .multipart(form)
            .send()?
            .json()?;
        let circuit = meta["id"]
            .as_str()
            .with_context(|| format!("registering the circuit: {meta}"))?
            .to_string();
        Ok(Cluster {
            _procs: procs,
            url,
            circuit,
        })
    }

    /// Submits one task and waits for its proof; returns the time and the task.
    fn prove(&self, c: &Client, witness: &str) -> Result<(Duration, Value)> {
        let start = Instant::now();
        let r = c
            .post(format!("{}/v1/tasks", self.url))
            .json(&json!({ "circuit": self.circuit, "witness": witness }))
            .send()?;
        if r.status().as_u16() != 202 {
            bail!("submission answered {}", r.status());
        }
        let id = r.json::<Value>()?["id"]
            .as_str()
            .context("no task id")?
            .to_string();
        loop {
            let t: Value = c
                .get(format!("{}/v1/tasks/{id}", self.url))
                .send()?
                .json()?;
            match t["state"].as_str() {
                Some("proved") => return Ok((start.elapsed(), t)),
                Some("failed" | "cancelled" | "expired") => bail!("task {id}: {t}"),
                _ => {}
            }
            if start.elapsed() > Duration::from_secs(3600) {
                bail!("task {id} not proved after an hour: {t}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the comparison and prints it.
pub fn run(args: &SplitBench) -> Result<std::process::ExitCode> {
    let nats_bin = nats_binary(&args.nats_server)?;
    let t = Instant::now();
    let fx = fornax_bench::groth16_fixture(args.log, 17);
    let zkey = fx.key.to_bytes();
    let witness = base64::engine::general_purpose::STANDARD
        .encode(fornax_prover::wtns::to_bytes(&fx.witness));
    println!(
        "fixture 2^{} ({} MB key) in {:.1?}",
        args.log,
        zkey.len() >> 20,
        t.elapsed()
    );
    let c = Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let dir = tempfile::tempdir()?;
    let whole = Cluster::start(
        &nats_bin,
        &dir.path().join("whole"),
        "never",
        1,
        false,
        &zkey,
        &c,
    )?;
    let split = Cluster::start(
        &nats_bin,
        &dir.path().join("split"),
        "always",
        args.workers,
        args.lanes,
        &zkey,
        &c,
    )?;
    for _ in 0..args.warmup {
        whole.prove(&c, &witness)?;
        split.prove(&c, &witness)?;
    }
    let (mut whole_s, mut split_s) = (Vec::new(), Vec::new());
    let mut last_split = Value::Null;
    let progress = crate::progress::Progress::new();
    let mut bar = progress.bar("bench split", 2 * args.reps as u64);
    for rep in 0..args.reps {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            let what = if side == 0 {
                let d = whole.prove(&c, &witness)?.0.as_secs_f64();
                whole_s.push(d);
                format!("whole {d:.2} s")
            } else {
                let (d, t) = split.prove(&c, &witness)?;
                split_s.push(d.as_secs_f64());
                last_split = t;
                format!("split {:.2} s", d.as_secs_f64())
            };
            bar.step(&format!("rep {} of {}: {what}", rep + 1, args.reps));
        }
    }
    bar.finish("done");
    let (w, s) = (median(whole_s.clone()), median(split_s.clone()));
    let over = match args.lanes {
        true => format!("{} single-threaded lanes of one worker", args.workers),
        false => format!("{} single-threaded workers", args.workers),
    };
    println!(
        "2^{} proof: whole on 1 single-threaded worker {w:.2} s, split over {over} {s:.2} s: {:.2}x",
        args.log,
        w / s
    );
    println!("last split proof's parts: {}", last_split["split"]["done"]);
    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "split",
            "device": "cpu (single-threaded workers, RAYON_NUM_THREADS=1)",
            "log": args.log,
            "workers": args.workers,
            "lanes": args.lanes,
            "split_over": over,
            "whole_s": whole_s,
            "split_s": split_s,
            "whole_median_s": w,
            "split_median_s": s,
            "ratio_whole_over_split": w / s,
            "last_split_parts": last_split["split"]["done"],
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(std::process::ExitCode::SUCCESS)
}
