//! Scale-out under faults: a `fornax node --queue nats://…` and `fornax worker` processes
//! over a real nats-server (JetStream) on loopback, started here (ops/nats.sh installs it).
//! In every scenario each task ends exactly once (one `proved` transition, or `failed`
//! with its reason) and every proof verifies.
//!
//! Scenarios: a worker killed mid-job; a worker frozen (SIGSTOP) past its deadline whose
//! late result is ignored; a worker drained (SIGTERM) mid-job; the scheduler killed and
//! restarted; nats-server killed and restarted; poison jobs (bad input, and a corrupt
//! artifact that fails every try); a burst of duplicate submissions and deliveries; a
//! proving key that reaches each worker once; the in-process queue.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{registry, runtime, Nats, Node, Worker};
use fornax_node::queue::{JobSpec, Outcome};
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

const TOKEN: &str = "token-a";

/// Node flags for quick fault detection: 2 s leases, dead after 1.5 s without heartbeat.
const FAST: [&str; 8] = [
    "--api-key",
    "alice=token-a",
    "--ack-wait-s",
    "2",
    "--dead-after-s",
    "1.5",
    "--max-deliveries",
    "5",
];

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A synthetic circuit of 2^log constraints: its zkey path, a witness (base64), its key.
fn fixture(dir: &Path, log: u32) -> (PathBuf, String, fornax_prover::VerifyingKey) {
    let fx = fornax_bench::groth16_fixture(log, 5);
    let zkey = dir.join(format!("c{log}.zkey"));
    std::fs::write(&zkey, fx.key.to_bytes()).unwrap();
    let w = base64::engine::general_purpose::STANDARD
        .encode(fornax_prover::wtns::to_bytes(&fx.witness));
    (zkey, w, fx.key.verifying_key())
}

fn register(c: &Client, url: &str, zkey: &Path) -> String {
    let form =
        multipart::Form::new().part("zkey", multipart::Part::bytes(std::fs::read(zkey).unwrap()));
    let r = c
        .post(format!("{url}/v1/circuits"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn submit(c: &Client, url: &str, circuit: &str, witness: &str) -> String {
    let r = c
        .post(format!("{url}/v1/tasks"))
        .bearer_auth(TOKEN)
        .json(&json!({"circuit": circuit, "witness": witness}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let v: Value = r.json().unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn get(c: &Client, url: &str, path: &str) -> Value {
    c.get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn state(c: &Client, url: &str, id: &str) -> Value {
    get(c, url, &format!("/v1/tasks/{id}"))
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_final(t: &Value) -> bool {
    ["proved", "failed", "cancelled", "expired"].contains(&t["state"].as_str().unwrap_or(""))
}

fn wait_final(c: &Client, url: &str, ids: &[String], limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    let mut out = Vec::new();
    for id in ids {
        loop {
            let t = state(c, url, id);
            if is_final(&t) {
                out.push(t);
                break;
            }
            if start.elapsed() > limit {
                let log = get(c, url, &format!("/v1/tasks/{id}/transitions"));
                let metrics = c
                    .get(format!("{url}/metrics"))
                    .send()
                    .unwrap()
                    .text()
                    .unwrap();
                panic!("task not final after {limit:?}: {t}\n{log}\n{metrics}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    out
}

/// The number of `metric` in the node's Prometheus text (a line `metric value`).
fn metric(c: &Client, url: &str, metric: &str) -> f64 {
    sample(c, url, metric).unwrap_or_else(|| panic!("no {metric} in /metrics"))
}

/// A sample in `/metrics`, if it is there.
fn sample(c: &Client, url: &str, metric: &str) -> Option<f64> {
    let text = c
        .get(format!("{url}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(metric).and_then(|r| r.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
}

/// Every task proved exactly once, with a proof that verifies; returns who proved each.
fn assert_proved_once(
    c: &Client,
    url: &str,
    ids: &[String],
    vk: &fornax_prover::VerifyingKey,
) -> Vec<String> {
    let mut workers = Vec::new();
    for id in ids {
        let t = state(c, url, id);
        assert_eq!(t["state"], "proved", "{t}");
        let log = get(c, url, &format!("/v1/tasks/{id}/transitions"));
        let proved = log["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["to"] == "proved")
            .count();
        assert_eq!(proved, 1, "task {id} proved once: {log}");
        let proof = get(c, url, &format!("/v1/tasks/{id}/proof"));
        assert!(
            common::served_proof_verifies(&proof, vk),
            "task {id}'s proof verifies"
        );
        workers.push(
            t["worker"]
                .as_str()
                .expect("a queued task names its worker")
                .to_string(),
        );
    }
    workers
}

fn node(data: &Path, nats: &Nats, extra: &[&str]) -> Node {
    node_with_env(data, nats, extra, &[])
}

/// [`node`] with environment variables.
fn node_with_env(data: &Path, nats: &Nats, extra: &[&str], env: &[(&str, &str)]) -> Node {
    let url = nats.url();
    let mut args = vec!["--queue", url.as_str()];
    args.extend_from_slice(&FAST);
    args.extend_from_slice(extra);
    Node::start_until(data, &args, env, "fornax node listening on ")
}

/// A scenario's temporary folders: the node's data, the workers' caches and fixtures,
/// nats-server's store.
struct Dirs {
    data: tempfile::TempDir,
    tmp: tempfile::TempDir,
    nats_store: tempfile::TempDir,
}

/// The usual set-up: nats-server, a node queueing through it (with `extra` flags), and a
/// registered circuit of 2^log constraints with a witness and its verifying key.
fn setup(log: u32, extra: &[&str]) -> Setup {
    setup_with_env(log, extra, &[])
}

/// What [`setup`] makes: folders, nats-server, the node, a client, the circuit's id, a
/// witness (base64) and the verifying key.
type Setup = (
    Dirs,
    Nats,
    Node,
    Client,
    String,
    String,
    fornax_prover::VerifyingKey,
);

/// [`setup`] with environment variables for the node.
fn setup_with_env(log: u32, extra: &[&str], env: &[(&str, &str)]) -> Setup {
    let dirs = Dirs {
        data: tempfile::tempdir().unwrap(),
        tmp: tempfile::tempdir().unwrap(),
        nats_store: tempfile::tempdir().unwrap(),
    };
    let nats = Nats::start(dirs.nats_store.path());
    let (zkey, witness, vk) = fixture(dirs.tmp.path(), log);
    let n = node_with_env(dirs.data.path(), &nats, extra, env);
    let c = client();
    let circuit = register(&c, &n.url, &zkey);
    (dirs, nats, n, c, circuit, witness, vk)
}

/// Waits until task `id` is being proved by worker `w` (per the registry's heartbeats).
fn wait_running_on(rt: &tokio::runtime::Runtime, nats: &Nats, w: &str, id: &str) {
    wait_until(
        &format!("task {id} to run on {w}"),
        Duration::from_secs(60),
        || {
            registry(rt, nats)
                .iter()
                .any(|i| i.id == w && i.running.iter().any(|r| r.task == id))
        },
    );
}

#[test]
fn a_worker_killed_mid_job_loses_nothing_and_its_job_is_requeued() {
    let (dirs, nats, node, c, circuit, witness, vk) = setup(16, &[]);
    let rt = runtime();
    let mut a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let ids: Vec<String> = (0..4)
        .map(|_| submit(&c, &node.url, &circuit, &witness))
        .collect();
    wait_running_on(&rt, &nats, "a", &ids[0]);
    let b = Worker::start(&nats, "b", dirs.tmp.path(), &[]);
    a.kill9();
    println!("killed worker a while it proved {}", ids[0]);
    wait_final(&c, &node.url, &ids, Duration::from_secs(180));
    let by = assert_proved_once(&c, &node.url, &ids, &vk);
    assert!(
        by[0].starts_with("b/"),
        "the dead worker's job was proved by b: {by:?}"
    );
    assert!(metric(&c, &node.url, "fornax_workers_dead_total") >= 1.0);
    assert!(metric(&c, &node.url, "fornax_remote_jobs_requeued_total") >= 1.0);
    // Dying spent none of the task's attempts.
    assert_eq!(state(&c, &node.url, &ids[0])["failed_attempts"], 0);
    drop(b);
}

/// Anyone who reaches NATS can report an outcome. A forged proof for a waiting task (real
/// curve points, the task's own public signals) is refused and counted; the task is then
/// proved by an honest worker, once, with a proof that verifies.
#[test]
fn a_forged_proof_is_refused_and_the_task_proved_by_an_honest_worker() {
    let (dirs, nats, n, c, circuit, witness, vk) = setup(10, &[]);
    let rt = runtime();
    let id = submit(&c, &n.url, &circuit, &witness);
    wait_until("the task to be sent out", Duration::from_secs(10), || {
        state(&c, &n.url, &id)["state"] == "proving"
    });
    let wtns = base64::engine::general_purpose::STANDARD
        .decode(&witness)
        .unwrap();
    let w = fornax_prover::wtns::from_bytes("witness", &wtns).unwrap();
    let public = fornax_prover::json::public_to_json(&w[1..=vk.ic.len() - 1]);
    use ark_ec::AffineRepr;
    let forged = fornax_prover::Proof {
        a: ark_bn254::G1Affine::generator(),
        b: ark_bn254::G2Affine::generator(),
        c: ark_bn254::G1Affine::generator(),
    };
    let outcome = Outcome {
        job: format!("{id}/groth16"),
        task: id.clone(),
        worker: "rogue".into(),
        delivered: 1,
        queue_seq: 1,
        result: fornax_node::queue::OutcomeResult::Proved {
            proof: fornax_node::store::StoredProof {
                proof: serde_json::to_value(fornax_prover::ProofJson::from_proof(&forged)).unwrap(),
                public: serde_json::to_value(public).unwrap(),
                prove_ms: 1.0,
            },
            device: "cpu:0".into(),
            parts: Vec::new(),
        },
    };
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        js.send_publish(
            format!("fornax.outcomes.{id}"),
            async_nats::jetstream::message::PublishMessage::build()
                .payload(serde_json::to_vec(&outcome).unwrap().into())
                .message_id("forged"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    });
    wait_until(
        "the forged proof to be refused",
        Duration::from_secs(20),
        || {
            metric(
                &c,
                &n.url,
                "fornax_remote_outcomes_total{result=\"refused\"}",
            ) == 1.0
        },
    );
    let t = state(&c, &n.url, &id);
    assert_eq!(t["state"], "proving", "{t}");
    assert_eq!(t["failed_attempts"], 1, "{t}");
    let _a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    wait_final(
        &c,
        &n.url,
        std::slice::from_ref(&id),
        Duration::from_secs(120),
    );
    let by = assert_proved_once(&c, &n.url, std::slice::from_ref(&id), &vk);
    assert!(
        by[0].starts_with("a/"),
        "proved by the honest worker: {by:?}"
    );
}

#[test]
fn a_frozen_worker_past_its_deadline_has_its_late_result_ignored() {
    let (dirs, nats, node, c, circuit, witness, vk) = setup(16, &[]);
    let rt = runtime();
    let a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let id = submit(&c, &node.url, &circuit, &witness);
    wait_running_on(&rt, &nats, "a", &id);
    a.signal("STOP");
    println!("froze worker a while it proved {id}");
    let _b = Worker::start(&nats, "b", dirs.tmp.path(), &[]);
    wait_final(
        &c,
        &node.url,
        std::slice::from_ref(&id),
        Duration::from_secs(120),
    );
    let by = assert_proved_once(&c, &node.url, std::slice::from_ref(&id), &vk);
    assert!(by[0].starts_with("b/"), "{by:?}");
    let proof_before = get(&c, &node.url, &format!("/v1/tasks/{id}/proof"));
    let ignored_before = metric(
        &c,
        &node.url,
        "fornax_remote_outcomes_total{result=\"ignored\"}",
    );
    a.signal("CONT");
    // a wakes up, finishes its proof and reports it: too late, it changes nothing.
    wait_until("a's late outcome", Duration::from_secs(120), || {
        metric(
            &c,
            &node.url,
            "fornax_remote_outcomes_total{result=\"ignored\"}",
        ) > ignored_before
    });
    assert_proved_once(&c, &node.url, std::slice::from_ref(&id), &vk);
    assert_eq!(
        get(&c, &node.url, &format!("/v1/tasks/{id}/proof")),
        proof_before
    );
    assert!(state(&c, &node.url, &id)["worker"]
        .as_str()
        .unwrap()
        .starts_with("b/"));
}

#[test]
fn a_draining_worker_finishes_its_job_and_takes_no_more() {
    let (dirs, nats, node, c, circuit, witness, vk) = setup(16, &[]);
    let rt = runtime();
    let mut a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let ids: Vec<String> = (0..3)
        .map(|_| submit(&c, &node.url, &circuit, &witness))
        .collect();
    wait_running_on(&rt, &nats, "a", &ids[0]);
    a.signal("TERM");
    let status = a.child.wait().unwrap();
    assert!(status.success(), "a drained and exited cleanly: {status}");
    let t = &wait_final(&c, &node.url, &ids[..1], Duration::from_secs(30))[0];
    assert_eq!(t["state"], "proved", "a finished the job it had: {t}");
    assert!(t["worker"].as_str().unwrap().starts_with("a/"));
    for id in &ids[1..] {
        assert_ne!(
            state(&c, &node.url, id)["state"],
            "proved",
            "a took no more jobs"
        );
    }
    assert!(
        registry(&rt, &nats).iter().all(|w| w.id != "a"),
        "a left the registry"
    );
    let _b = Worker::start(&nats, "b", dirs.tmp.path(), &[]);
    wait_final(&c, &node.url, &ids, Duration::from_secs(120));
    assert_proved_once(&c, &node.url, &ids, &vk);
}

#[test]
fn the_scheduler_killed_and_restarted_loses_and_duplicates_nothing() {
    let (dirs, nats, mut n, c, circuit, witness, vk) = setup(12, &[]);
    let _a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let _b = Worker::start(&nats, "b", dirs.tmp.path(), &[]);
    let ids: Vec<String> = (0..12)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    for round in 0..2 {
        std::thread::sleep(Duration::from_millis(400));
        n.kill9();
        println!("round {round}: killed the scheduler");
        std::thread::sleep(Duration::from_millis(500));
        n = node(dirs.data.path(), &nats, &[]);
    }
    wait_final(&c, &n.url, &ids, Duration::from_secs(180));
    assert_proved_once(&c, &n.url, &ids, &vk);
}

#[test]
fn nats_server_restarted_mid_run_loses_and_duplicates_nothing() {
    let (dirs, mut nats, n, c, circuit, witness, vk) = setup(12, &[]);
    let _a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let _b = Worker::start(&nats, "b", dirs.tmp.path(), &[]);
    let mut ids: Vec<String> = (0..8)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    nats.restart(Duration::from_secs(2));
    println!("restarted nats-server");
    // Tasks accepted while the queue is back are served too.
    ids.extend((0..4).map(|_| submit(&c, &n.url, &circuit, &witness)));
    wait_final(&c, &n.url, &ids, Duration::from_secs(180));
    assert_proved_once(&c, &n.url, &ids, &vk);
}

#[test]
fn poison_jobs_fail_with_their_reason_after_their_budget() {
    let (dirs, nats, n, c, circuit, witness, _vk) = setup(8, &["--attempts", "3"]);
    let rt = runtime();
    let (zkey2, witness2, _) = fixture(dirs.tmp.path(), 9);
    // Before any worker: the job waits in the queue, counted by its kind.
    let early = submit(&c, &n.url, &circuit, &witness);
    let queued = "fornax_queue_jobs{kind=\"groth16\"}";
    wait_until(
        "the job counted in the queue",
        Duration::from_secs(20),
        || sample(&c, &n.url, queued) == Some(1.0),
    );
    let _a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let t = &wait_final(
        &c,
        &n.url,
        std::slice::from_ref(&early),
        Duration::from_secs(60),
    )[0];
    assert_eq!(t["state"], "proved", "{t}");

    // Bad input (a witness that does not satisfy the circuit): fails at once, not retried.
    let mut bad = base64::engine::general_purpose::STANDARD
        .decode(&witness)
        .unwrap();
    let at = bad.len() - 5;
    bad[at] ^= 1;
    let bad = base64::engine::general_purpose::STANDARD.encode(bad);
    let id = submit(&c, &n.url, &circuit, &bad);
    let t = &wait_final(
        &c,
        &n.url,
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    )[0];
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["failure"]["code"], "unsatisfied_witness", "{t}");
    assert_eq!(t["failed_attempts"], 1, "bad input is not retried: {t}");

    // A proving key corrupted in the artifact store fails every try: retried with
    // backoff, then the task fails with the reason once its attempts are spent.
    let circuit2 = register(&c, &n.url, &zkey2);
    rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        let store = js.get_object_store("fornax-artifacts").await.unwrap();
        store
            .put(
                format!("{circuit2}.zkey").as_str(),
                &mut &b"not a proving key"[..],
            )
            .await
            .unwrap();
    });
    let id2 = submit(&c, &n.url, &circuit2, &witness2);
    let t = &wait_final(
        &c,
        &n.url,
        std::slice::from_ref(&id2),
        Duration::from_secs(120),
    )[0];
    assert_eq!(t["state"], "failed", "{t}");
    assert_eq!(t["failure"]["code"], "artifact_corrupt", "{t}");
    assert_eq!(t["failed_attempts"], 3, "{t}");
    // The job is gone from the queue, and the good task of the same worker still proves.
    wait_until("an empty queue", Duration::from_secs(10), || {
        metric(&c, &n.url, "fornax_remote_queue_messages") == 0.0
            && metric(&c, &n.url, queued) == 0.0
    });
    let ok = submit(&c, &n.url, &circuit, &witness);
    let t = &wait_final(
        &c,
        &n.url,
        std::slice::from_ref(&ok),
        Duration::from_secs(60),
    )[0];
    assert_eq!(t["state"], "proved", "{t}");
}

#[test]
fn duplicate_submissions_and_deliveries_change_nothing_and_keys_reach_a_worker_once() {
    let (dirs, nats, n, c, circuit, witness, vk) = setup(10, &[]);
    let rt = runtime();
    let _a = Worker::start(&nats, "a", dirs.tmp.path(), &[]);
    let ids: Vec<String> = (0..6)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    wait_final(&c, &n.url, &ids, Duration::from_secs(120));
    assert_proved_once(&c, &n.url, &ids, &vk);

    // The proving key crossed to the worker once and was prepared once, for 6 jobs.
    let cached: Vec<_> = std::fs::read_dir(dirs.tmp.path().join("a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        cached,
        [std::ffi::OsString::from(format!("{circuit}.zkey"))],
        "{cached:?}"
    );

    let ignored_before = metric(
        &c,
        &n.url,
        "fornax_remote_outcomes_total{result=\"ignored\"}",
    );
    let (dups, redelivered) = rt.block_on(async {
        let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
        // Each job submitted again under its own id: dropped by the server as duplicates.
        let mut dups = 0;
        let mut jobs = Vec::new();
        let stream = js.get_stream("FORNAX_OUTCOMES").await.unwrap();
        for seq in 1..=stream.cached_info().state.last_sequence {
            let Ok(m) = stream.get_raw_message(seq).await else {
                continue;
            };
            let o: Outcome = serde_json::from_slice(&m.payload).unwrap();
            jobs.push(o);
        }
        assert_eq!(jobs.len(), ids.len(), "one outcome per task");
        for o in &jobs {
            let job = JobSpec {
                id: o.job.clone(),
                task: o.task.clone(),
                kind: "groth16".into(),
                class: "any".into(),
                memory_bytes: 1 << 20,
                circuit: circuit.clone(),
                has_wasm: false,
                input_kind: fornax_node::task::InputKind::Wtns,
                input: fornax_node::queue::JobInput::Inline(witness.clone()),
                requeues: 0,
                timeout_ms: None,
                fhe: None,
                part: None,
                witness: None,
            };
            for _ in 0..5 {
                let ack = js
                    .send_publish(
                        "fornax.jobs.groth16.any.m24",
                        async_nats::jetstream::message::PublishMessage::build()
                            .payload(serde_json::to_vec(&job).unwrap().into())
                            .message_id(&job.id),
                    )
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                dups += ack.duplicate as usize;
            }
        }
        // A burst of duplicate deliveries of every outcome, as if each job had run again.
        let mut redelivered = 0;
        for o in &jobs {
            for k in 0..5u32 {
                let again = Outcome {
                    delivered: o.delivered + 1 + k,
                    worker: format!("ghost-{k}"),
                    ..o.clone()
                };
                js.publish(
                    format!("fornax.outcomes.{}", o.task),
                    serde_json::to_vec(&again).unwrap().into(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
                redelivered += 1;
            }
        }
        (dups, redelivered)
    });
    assert_eq!(dups, ids.len() * 5, "every resubmission was a duplicate");
    wait_until(
        "the duplicate outcomes to be seen",
        Duration::from_secs(60),
        || {
            metric(
                &c,
                &n.url,
                "fornax_remote_outcomes_total{result=\"ignored\"}",
            ) >= ignored_before + redelivered as f64
        },
    );
    let workers: HashSet<String> = assert_proved_once(&c, &n.url, &ids, &vk)
        .into_iter()
        .collect();
    assert!(workers.iter().all(|w| w.starts_with("a/")), "{workers:?}");
}

#[test]
fn nats_with_users_and_tls_admits_the_cluster_and_refuses_strangers() {
    let dirs = Dirs {
        data: tempfile::tempdir().unwrap(),
        tmp: tempfile::tempdir().unwrap(),
        nats_store: tempfile::tempdir().unwrap(),
    };
    let tls = dirs.tmp.path().join("tls");
    let out = Command::new(common::root().join("ops/nats-tls.sh"))
        .arg(&tls)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ca, cert, key) = (
        tls.join("ca.pem"),
        tls.join("server.pem"),
        tls.join("server.key"),
    );
    let password = format!("pw-{}", common::seed());
    let nats = Nats::start_with(
        dirs.nats_store.path(),
        &[
            "--user",
            "fornax",
            "--pass",
            &password,
            "--tls",
            "--tlscert",
            cert.to_str().unwrap(),
            "--tlskey",
            key.to_str().unwrap(),
        ],
    );
    // Strangers: without the password, without TLS, or without the CA, nothing connects.
    fornax_node::queue::jetstream::install_tls_provider();
    let rt = runtime();
    rt.block_on(async {
        let url = nats.url();
        let connect = |o: async_nats::ConnectOptions| {
            let url = url.clone();
            async move { o.connect(url).await.is_ok() }
        };
        let with_ca = || {
            async_nats::ConnectOptions::new()
                .add_root_certificates(ca.clone())
                .require_tls(true)
        };
        assert!(!connect(with_ca()).await, "no password");
        assert!(
            !connect(with_ca().user_and_password("fornax".into(), "guess".into())).await,
            "a wrong password"
        );
        assert!(
            !connect(
                async_nats::ConnectOptions::new()
                    .user_and_password("fornax".into(), password.clone())
            )
            .await,
            "no TLS"
        );
        assert!(
            !connect(
                async_nats::ConnectOptions::new()
                    .user_and_password("fornax".into(), password.clone())
                    .require_tls(true)
            )
            .await,
            "a server certificate from an unknown CA"
        );
        assert!(
            connect(with_ca().user_and_password("fornax".into(), password.clone())).await,
            "the cluster's credentials"
        );
    });
    // The node and a worker with the credentials (from the environment) prove through it.
    let env = [
        ("FORNAX_NATS_USER", "fornax"),
        ("FORNAX_NATS_PASSWORD", password.as_str()),
    ];
    let (zkey, witness, vk) = fixture(dirs.tmp.path(), 10);
    let url = nats.url();
    let mut args = vec!["--queue", url.as_str(), "--nats-ca", ca.to_str().unwrap()];
    args.extend_from_slice(&FAST);
    let n = Node::start_until(dirs.data.path(), &args, &env, "fornax node listening on ");
    let _w = Worker::start_with_env(
        &nats,
        "w-tls",
        dirs.tmp.path(),
        &["--nats-ca", ca.to_str().unwrap()],
        &env,
    );
    let c = client();
    let circuit = register(&c, &n.url, &zkey);
    let ids: Vec<String> = (0..2)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    wait_final(&c, &n.url, &ids, Duration::from_secs(120));
    let by = assert_proved_once(&c, &n.url, &ids, &vk);
    assert!(by.iter().all(|w| w.starts_with("w-tls")), "{by:?}");
}

#[test]
fn the_in_process_queue_proves_through_the_same_worker_runtime() {
    let (data, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (zkey, witness, vk) = fixture(tmp.path(), 10);
    let n = Node::start(
        data.path(),
        &[
            "--queue",
            "mem",
            "--slots",
            "2",
            "--api-key",
            "alice=token-a",
        ],
    );
    let c = client();
    let circuit = register(&c, &n.url, &zkey);
    let ids: Vec<String> = (0..5)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    wait_final(&c, &n.url, &ids, Duration::from_secs(120));
    let by = assert_proved_once(&c, &n.url, &ids, &vk);
    assert!(by.iter().all(|w| w == "in-process/cpu:0"), "{by:?}");
    assert_eq!(
        metric(
            &c,
            &n.url,
            "fornax_remote_outcomes_total{result=\"applied\"}"
        ),
        5.0
    );
    drop(n);

    // The node's own worker on two devices (the CPU in two lanes): the parts of one proof
    // run on both, and the node assembles them.
    let data = tempfile::tempdir().unwrap();
    let n = Node::start(
        data.path(),
        &[
            "--devices",
            "cpu:0,cpu:1",
            "--split",
            "always",
            "--api-key",
            "alice=token-a",
        ],
    );
    let circuit = register(&c, &n.url, &zkey);
    let ids: Vec<String> = (0..2)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    wait_final(&c, &n.url, &ids, Duration::from_secs(120));
    assert_proved_once(&c, &n.url, &ids, &vk);
    let lanes: HashSet<String> = ids
        .iter()
        .flat_map(|id| parts_done(&state(&c, &n.url, id)))
        .map(|(_, w)| w)
        .collect();
    assert_eq!(
        lanes,
        HashSet::from([
            "in-process/cpu:0".to_string(),
            "in-process/cpu:1".to_string()
        ])
    );
}

#[test]
fn a_bad_join_address_or_device_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(["worker", "--join", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(common::text(&out).contains("expected nats://HOST:PORT"));
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args([
            "worker",
            "--join",
            "nats://127.0.0.1:1",
            "--devices",
            "cpu,gpu:7",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::text(&out));
    assert!(common::text(&out).contains("no device gpu:7"));
    assert!(common::text(&out).contains("devices: cpu:0"));
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(["node", "--devices", "cpu,cpu:0", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("--devices: device cpu:0 is named twice"),
        "{}",
        common::text(&out)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(["node", "--queue", "redis://x", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        common::text(&out).contains("expected nats://HOST:PORT")
            && common::text(&out).contains("or mem"),
        "{}",
        common::text(&out)
    );
}

#[test]
fn a_thousand_tasks_with_a_worker_killed_every_ten_seconds_lose_nothing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(common::seed());
    // 2^11 constraints: the run lasts long enough here (about a minute) for several kills.
    let (dirs, nats, n, c, circuit, witness, vk) = setup(11, &[]);
    let mut workers: Vec<Worker> = (0..4)
        .map(|i| Worker::start(&nats, &format!("w{i}"), dirs.tmp.path(), &[]))
        .collect();
    let ids: Vec<String> = (0..1000)
        .map(|_| submit(&c, &n.url, &circuit, &witness))
        .collect();
    let start = Instant::now();
    let (mut kills, mut spawned) = (0, workers.len());
    let mut next_kill = start + Duration::from_secs(10);
    loop {
        let text = c
            .get(format!("{}/metrics", n.url))
            .send()
            .unwrap()
            .text()
            .unwrap();
        let finished: f64 = text
            .lines()
            .filter(|l| l.starts_with("fornax_tasks_finished_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if finished >= ids.len() as f64 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1200),
            "not done after 20 minutes"
        );
        if Instant::now() >= next_kill {
            let victim = rng.gen_range(0..workers.len());
            let mut w = workers.swap_remove(victim);
            w.kill9();
            kills += 1;
            workers.push(Worker::start(
                &nats,
                &format!("w{spawned}"),
                dirs.tmp.path(),
                &[],
            ));
            spawned += 1;
            next_kill += Duration::from_secs(10);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "1000 tasks, {kills} workers killed, in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(kills >= 3, "only {kills} kills happened during the run");
    // 0 lost, 0 duplicated: every task proved exactly once, and every proof verifies.
    assert_proved_once(&c, &n.url, &ids, &vk);
}

/// Waits for task `id`, checks that it was proved once with a proof that verifies, and
/// returns its stored parts.
fn proved_parts(
    c: &Client,
    url: &str,
    id: &str,
    vk: &fornax_prover::VerifyingKey,
) -> Vec<(String, String)> {
    let ids = [id.to_string()];
    wait_final(c, url, &ids, Duration::from_secs(180));
    assert_proved_once(c, url, &ids, vk);
    parts_done(&state(c, url, id))
}

/// The roles of a split proof's stored parts, each with the worker that computed it.
fn parts_done(t: &Value) -> Vec<(String, String)> {
    t["split"]["done"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["role"].as_str().unwrap().to_string(),
                        p["worker"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `--split always`: a proof's five MSMs run as jobs of their own on two workers and the
/// node assembles them. A task given a witness, and a circom task given JSON input (whose
/// witness one worker computes and the others fetch), are each proved once, by parts from
/// both workers, with proofs that snarkjs verifies. The node and both workers export their
/// spans (`--otlp-endpoint`): the first proof reads as one trace, the node's `task` span
/// over the five job spans of both workers.
#[test]
fn a_split_proof_runs_on_two_workers_and_snarkjs_verifies_it() {
    let collector = common::OtlpCollector::start();
    let otlp = ["--otlp-endpoint", collector.endpoint.as_str()];
    let mut extra = vec!["--split", "always"];
    extra.extend(otlp);
    let (dirs, nats, node, c, circuit, witness, vk) = setup_with_env(13, &extra, common::OTLP_JSON);
    let a = Worker::start_with_env(&nats, "sa", dirs.tmp.path(), &otlp, common::OTLP_JSON);
    let b = Worker::start_with_env(&nats, "sb", dirs.tmp.path(), &otlp, common::OTLP_JSON);
    let id = submit(&c, &node.url, &circuit, &witness);
    wait_final(
        &c,
        &node.url,
        std::slice::from_ref(&id),
        Duration::from_secs(180),
    );
    assert_proved_once(&c, &node.url, std::slice::from_ref(&id), &vk);
    let t = state(&c, &node.url, &id);
    let done = parts_done(&t);
    let mut roles: Vec<&str> = done.iter().map(|(r, _)| r.as_str()).collect();
    roles.sort();
    assert_eq!(
        roles,
        ["msm-a", "msm-b1", "msm-b2", "msm-c", "msm-h"],
        "{t}"
    );
    let workers: HashSet<&str> = done
        .iter()
        .map(|(_, w)| w.split('/').next().unwrap())
        .collect();
    assert_eq!(workers.len(), 2, "parts from both workers: {t}");
    let trace = collector.wait_for_trace(&id, 5, Duration::from_secs(30));
    let job_workers: HashSet<&str> = trace
        .iter()
        .filter(|s| s.name == "job")
        .map(|s| s.attributes["worker"].as_str())
        .collect();
    assert_eq!(job_workers, HashSet::from(["sa", "sb"]), "{trace:#?}");

    // A circom circuit given JSON input: the witness job first, then the parts.
    let name = "poseidon_preimage";
    let form = multipart::Form::new()
        .part(
            "zkey",
            multipart::Part::bytes(std::fs::read(common::circuit(name, "zkey")).unwrap()),
        )
        .part(
            "wasm",
            multipart::Part::bytes(std::fs::read(common::wasm(name)).unwrap()),
        );
    let meta: Value = c
        .post(format!("{}/v1/circuits", node.url))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let input: Value = serde_json::from_str(
        &std::fs::read_to_string(common::root().join(format!("ops/circuits/{name}.input.json")))
            .unwrap(),
    )
    .unwrap();
    let r = c
        .post(format!("{}/v1/tasks", node.url))
        .bearer_auth(TOKEN)
        .json(&json!({"circuit": meta["id"], "input": input}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let id: String = r.json::<Value>().unwrap()["id"].as_str().unwrap().into();
    let t = &wait_final(
        &c,
        &node.url,
        std::slice::from_ref(&id),
        Duration::from_secs(180),
    )[0];
    assert_eq!(t["state"], "proved", "{t}");
    assert!(
        t["split"]["witness"].as_str().unwrap().starts_with("wtns-"),
        "{t}"
    );
    assert_eq!(parts_done(t).len(), 5, "{t}");
    let proof = get(&c, &node.url, &format!("/v1/tasks/{id}/proof"));
    let (p, q) = (
        dirs.tmp.path().join("proof.json"),
        dirs.tmp.path().join("public.json"),
    );
    std::fs::write(&p, proof["proof"].to_string()).unwrap();
    std::fs::write(&q, proof["public"].to_string()).unwrap();
    let out = common::snarkjs(&[
        common::sub("groth16"),
        common::sub("verify"),
        &common::vk(name),
        &q,
        &p,
    ]);
    assert!(
        out.status.success() && common::text(&out).contains("OK"),
        "snarkjs rejects the split proof: {}",
        common::text(&out)
    );
    drop((a, b));
}

/// A worker with two devices (here the CPU split into two lanes, `--devices cpu:0,cpu:1`)
/// runs two parts of one proof at once, one on each: both show in its heartbeats as
/// running together, the stored parts name both devices, each device then holds the
/// circuit's key (as the heartbeats tell the planner), and the proof verifies.
#[test]
fn a_worker_with_two_devices_runs_parts_of_one_proof_on_both_at_once() {
    let (dirs, nats, node, c, circuit, witness, vk) = setup(16, &["--split", "always"]);
    let rt = runtime();
    let w = Worker::start(&nats, "duo", dirs.tmp.path(), &["--devices", "cpu:0,cpu:1"]);
    let id = submit(&c, &node.url, &circuit, &witness);
    wait_until(
        "two parts of the proof running on duo at once",
        Duration::from_secs(120),
        || {
            registry(&rt, &nats)
                .iter()
                .any(|i| i.id == "duo" && i.running.iter().filter(|r| r.task == id).count() == 2)
        },
    );
    let done = proved_parts(&c, &node.url, &id, &vk);
    assert_eq!(done.len(), 5, "{done:?}");
    let devices: HashSet<&str> = done.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(
        devices,
        HashSet::from(["duo/cpu:0", "duo/cpu:1"]),
        "parts from both devices: {done:?}"
    );
    wait_until(
        "duo's heartbeat to show the key resident on both devices",
        Duration::from_secs(10),
        || {
            registry(&rt, &nats).iter().any(|i| {
                i.id == "duo"
                    && i.devices.len() == 2
                    && i.devices.iter().all(|d| d.resident == [circuit.clone()])
            })
        },
    );
    drop(w);
}

/// A worker killed after it finished some parts of a split proof and while it ran another
/// loses only that running part: the parts it stored are not computed again, the running
/// one is, by the next worker, and the proof is stored once.
#[test]
fn a_worker_killed_between_parts_loses_only_its_running_part() {
    let (dirs, nats, node, c, circuit, witness, vk) = setup(15, &["--split", "always"]);
    let rt = runtime();
    let mut a = Worker::start(&nats, "pa", dirs.tmp.path(), &[]);
    let id = submit(&c, &node.url, &circuit, &witness);
    // Until a has stored a part and runs another.
    wait_until(
        "a part stored by pa and another running",
        Duration::from_secs(120),
        || {
            !parts_done(&state(&c, &node.url, &id)).is_empty()
                && registry(&rt, &nats)
                    .iter()
                    .any(|w| w.id == "pa" && w.running.iter().any(|r| r.task == id))
        },
    );
    a.kill9();
    let before = parts_done(&state(&c, &node.url, &id));
    println!("killed pa after it stored {before:?}");
    assert!(
        before.len() < 5,
        "pa finished every part before it was killed"
    );
    let b = Worker::start(&nats, "pb", dirs.tmp.path(), &[]);
    let after = proved_parts(&c, &node.url, &id, &vk);
    assert_eq!(after.len(), 5, "{after:?}");
    for part in &before {
        assert!(
            after.contains(part),
            "{part:?} was computed again: {after:?}"
        );
    }
    assert!(after.iter().any(|(_, w)| w.starts_with("pb/")), "{after:?}");
    assert_eq!(state(&c, &node.url, &id)["failed_attempts"], 0);
    drop(b);
}

/// `fornax doctor --json` in `dir`: its exit code and its checks by name.
fn doctor(args: &[&str]) -> (i32, std::collections::HashMap<String, Value>) {
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .arg("doctor")
        .args(args)
        .arg("--json")
        .output()
        .expect("fornax doctor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let checks: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    let by_name = checks
        .into_iter()
        .map(|c| (c["name"].as_str().unwrap().to_string(), c))
        .collect();
    (out.status.code().unwrap_or(-1), by_name)
}

#[test]
fn fornax_doctor_passes_this_machine_and_names_the_fix_for_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let nats = Nats::start(&dir.path().join("nats"));
    // This machine, with a JetStream server: no failure. No GPU or TEE is a warning.
    let (code, checks) = doctor(&["--data-dir", data.to_str().unwrap(), "--nats", &nats.url()]);
    assert_eq!(code, 0, "{checks:?}");
    for name in [
        "cpu",
        "cuda",
        "wgpu",
        "tee",
        "data dir",
        "nats",
        "chain rpc",
        "clock",
    ] {
        let level = checks[name]["level"].as_str().unwrap();
        assert_ne!(level, "fail", "{name}: {}", checks[name]);
        // Every warning says what to do about it.
        assert!(
            level != "warn" || checks[name]["fix"].is_string(),
            "{}",
            checks[name]
        );
    }
    assert_eq!(checks["nats"]["level"], "pass", "{}", checks["nats"]);
    // A pass, or a warning on a small disk (under 10 GiB free).
    assert!(checks["data dir"]["detail"]
        .as_str()
        .unwrap()
        .contains("GiB free"));
    assert_eq!(checks["chain rpc"]["level"], "skip");
    // A data directory that is a file, and a NATS URL nobody listens on: exit code 1, each
    // failure named with its fix.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let closed = format!("nats://127.0.0.1:{}", common::free_port());
    let (code, checks) = doctor(&["--data-dir", file.to_str().unwrap(), "--nats", &closed]);
    assert_eq!(code, 1, "{checks:?}");
    for name in ["data dir", "nats"] {
        assert_eq!(checks[name]["level"], "fail", "{}", checks[name]);
        assert!(checks[name]["fix"].is_string(), "{}", checks[name]);
    }
}

/// `fornax bench cluster` starts its own clusters (nats-server, a node, N workers) and
/// writes one series per circuit size and worker count: the saturated throughput, and per
/// offered load the achieved rate and p50/p99 latency from the node's timestamps.
#[test]
fn bench_cluster_writes_scaling_curves() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("cluster.json");
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .env("FORNAX_NATS_SERVER", common::nats_binary())
        .args([
            "bench",
            "cluster",
            "--workers",
            "1,2",
            "--log",
            "6",
            "--loads",
            "0.5,2",
            "--tasks",
            "6",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["bench"], "cluster");
    let series = doc["series"].as_array().unwrap();
    let workers: Vec<u64> = series
        .iter()
        .map(|s| s["workers"].as_u64().unwrap())
        .collect();
    assert_eq!(workers, [1, 2], "{doc}");
    for s in series {
        assert!(s["saturated_per_s"].as_f64().unwrap() > 0.0, "{doc}");
        let points = s["points"].as_array().unwrap();
        assert_eq!(points.len(), 2, "{doc}");
        for p in points {
            let (p50, p99) = (p["p50_ms"].as_f64().unwrap(), p["p99_ms"].as_f64().unwrap());
            assert!(p50 <= p99, "{doc}");
            assert!(p["achieved_per_s"].as_f64().unwrap() > 0.0, "{doc}");
        }
        // Offered at half and at twice the saturated rate.
        let offered: Vec<f64> = points
            .iter()
            .map(|p| p["offered_per_s"].as_f64().unwrap() / s["saturated_per_s"].as_f64().unwrap())
            .collect();
        assert!((offered[0] - 0.5).abs() < 1e-9 && (offered[1] - 2.0).abs() < 1e-9);
    }
    // No workers, or no loads, are refused with a message.
    let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(["bench", "cluster", "--workers", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(common::text(&out).contains("--workers must be at least 1"));
}
