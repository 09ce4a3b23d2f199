//! Encrypted computation through real processes: `fornax node --fhe-keys` and seven
//! `fornax keyholder`s (k = 3) on loopback. A sealed-bid auction is computed on encrypted
//! bids and decrypted while one key holder answers wrongly and another is killed in the
//! middle of its request; bad input gets 4xx; a node killed with -9 loses no accepted task;
//! through NATS, a node with no FHE compute of its own serves FHE tasks with `fornax worker
//! --fhe` processes, one of them killed mid-evaluation.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{root, seed, Nats, Node, Worker};
use fornax_fhe::{io as fio, Program};
use rand::{Rng, SeedableRng};
use reqwest::blocking::Client;
use serde_json::{json, Value};

const TOKEN: &str = "fhe-test-token";

struct Keyholder {
    child: Child,
    url: String,
}

impl Keyholder {
    /// `fornax keyholder` for `share` (`DIR/share-<i>.sealed`), with its identity
    /// `DIR/holder-<i>.key` and the node's key `DIR/keyset/node.pub`.
    fn start(share: &Path, delay_ms: u64) -> Keyholder {
        Self::start_with(share, delay_ms, &[])
    }

    /// [`Keyholder::start`] with more arguments.
    fn start_with(share: &Path, delay_ms: u64, extra: &[&str]) -> Keyholder {
        let dir = share.parent().unwrap();
        let name = share.file_name().unwrap().to_str().unwrap();
        let party = name
            .strip_prefix("share-")
            .and_then(|n| n.strip_suffix(".sealed"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["keyholder", "--listen", "127.0.0.1:0", "--share"])
            .arg(share)
            .arg("--identity")
            .arg(dir.join(format!("holder-{party}.key")))
            .arg("--node-key")
            .arg(dir.join("keyset/node.pub"))
            .args(["--test-delay-ms", &delay_ms.to_string()])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fornax keyholder starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let url = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("the key holder prints its address");
            if let Some(url) = line.strip_prefix("fornax keyholder listening on ") {
                break url.trim().to_string();
            }
        };
        Keyholder { child, url }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Keyholder {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// A client that connects to key holder `party` of the key set dealt into `dir` as the
/// holder of `identity` (mutual TLS pinned to the party's published key).
fn tls_client(dir: &Path, party: usize, identity: &fornax_node::keyholders::SigningKey) -> Client {
    let keys = fornax_node::keyholders::read_holder_keys(&dir.join("keyset/holders.json")).unwrap();
    let tls = fornax_node::pinned_tls::client_config(identity, keys[&party]).unwrap();
    Client::builder()
        .timeout(Duration::from_secs(300))
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap()
}

fn call(r: reqwest::blocking::RequestBuilder) -> (u16, Value) {
    let r = r.send().expect("request");
    let status = r.status().as_u16();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn wait_done(c: &Client, url: &str, id: &str) -> Value {
    let start = Instant::now();
    loop {
        let (status, task) = call(c.get(format!("{url}/v1/fhe/tasks/{id}")).bearer_auth(TOKEN));
        assert_eq!(status, 200, "{task}");
        match task["state"].as_str() {
            Some("done") => return task,
            Some("failed") => panic!("task failed: {task}"),
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(900),
            "task {id} not done: {task}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Deals a (7, 3) key set into `dir` as `fornax fhe keygen` does: `keyset/`, `node.key`,
/// and shares sealed to the key holders' own identities (`holder-<i>.key`, made here as each
/// key holder would with `fornax fhe holder-key`), party 7's with one key word changed (its
/// answers are wrong). Seven holders, so that decryption under the scheme's bound (two may be
/// corrupt: five agreeing answers) survives one dead and one lying holder.
fn deal(dir: &Path) -> (fornax_fhe::PublicKeySet, Vec<PathBuf>) {
    use fornax_node::keyholders;
    let mut dealt = fornax_fhe::setup(7, 3, &mut rand::rngs::OsRng).unwrap();
    let mut holders = std::collections::BTreeMap::new();
    for party in 1..=7 {
        let key = keyholders::generate_key();
        keyholders::write_signing_key(&dir.join(format!("holder-{party}.key")), &key).unwrap();
        holders.insert(party, key.verifying_key());
    }
    dealt.shares[6].key[17] ^= 1 << 40;
    let paths = keyholders::write_dealt(dir, &dealt, &holders).unwrap();
    (dealt.public, paths)
}

/// The node's signing key beside the key set (`DIR/node.key` for `DIR/keyset`), leaked to a
/// `&'static str` for the argument lists.
fn node_key(keys: &str) -> &'static str {
    let path = Path::new(keys).parent().unwrap().join("node.key");
    Box::leak(path.to_str().unwrap().to_string().into_boxed_str())
}

fn node_args<'a>(keys: &'a str, holders: &'a [String]) -> Vec<&'a str> {
    let mut args = vec![
        "--api-key",
        "alice=fhe-test-token",
        "--api-key",
        "bob=bob-token",
        "--fhe-keys",
        keys,
    ];
    for h in holders {
        args.extend(["--keyholder", h.as_str()]);
    }
    args.extend(["--fhe-node-key", node_key(keys), "--max-task-body-mb", "4"]);
    args
}

#[test]
fn sealed_bid_auction_with_a_lying_and_a_dying_key_holder() {
    let seed = seed();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (public, shares) = deal(dir.path());
    // Party 2 holds its answers back for 4 s: long enough to be killed in the middle.
    let mut holders: Vec<Keyholder> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| Keyholder::start(s, if i == 1 { 4000 } else { 0 }))
        .collect();
    let urls: Vec<String> = holders.iter().map(|h| h.url.clone()).collect();
    let keys = dir.path().join("keyset");
    let keys = keys.to_str().unwrap();
    let data = dir.path().join("node");
    let node = Node::start(&data, &node_args(keys, &urls));
    let url = node.url.clone();
    let c = client();

    // Every FHE path and error code is in the OpenAPI document.
    let (_, doc) = call(c.get(format!("{url}/openapi.json")));
    for path in [
        "/v1/fhe/programs",
        "/v1/fhe/tasks",
        "/v1/fhe/tasks/{id}",
        "/v1/fhe/tasks/{id}/decrypt",
        "/v1/fhe/key",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from openapi.json"
        );
    }
    let codes = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    for code in [
        "invalid_program",
        "unknown_program",
        "invalid_inputs",
        "invalid_ciphertext",
        "invalid_proof",
        "keyholders_unavailable",
        "program_too_costly",
        "invalid_result",
    ] {
        assert!(
            codes.contains(&json!(code)),
            "{code} missing from openapi.json"
        );
    }

    // The key set, and the tenant name this caller's inputs are proven for.
    let (status, key) = call(c.get(format!("{url}/v1/fhe/key")).bearer_auth(TOKEN));
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["tenant"], "alice", "{key}");
    assert_eq!(key["key_id"], json!(hex::encode(public.key_id)), "{key}");

    // A key holder admits only the node's key, over mutual TLS: not plain HTTP, not a TLS
    // client that checks certificates the usual way, not another key.
    let info = format!("{}/v1/keyholder", urls[0]);
    assert!(c
        .get(info.replacen("https://", "http://", 1))
        .send()
        .is_err());
    assert!(c.get(&info).send().is_err());
    let stranger = fornax_node::keyholders::generate_key();
    assert!(tls_client(dir.path(), 1, &stranger)
        .get(&info)
        .send()
        .is_err());
    let node_identity =
        fornax_node::keyholders::read_signing_key(&dir.path().join("node.key")).unwrap();
    let as_node = tls_client(dir.path(), 1, &node_identity);
    let (status, body) = call(as_node.get(&info));
    assert_eq!((status, body["party"].as_u64()), (200, Some(1)), "{body}");
    let (status, body) = call(
        as_node
            .post(format!("{}/v1/partdec", urls[0]))
            .body(b"junk".to_vec()),
    );
    // The node's connection alone makes it decrypt nothing: only the node's signed requests.
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("unauthorized_request")),
        "{body}"
    );

    // Register the auction; submit three encrypted bids.
    let program = std::fs::read(root().join("ops/fhe/auction.json")).unwrap();
    let (status, body) = call(
        c.post(format!("{url}/v1/fhe/programs"))
            .bearer_auth(TOKEN)
            .body(program.clone()),
    );
    assert_eq!(status, 201, "{body}");
    let program_id = body["id"].as_str().unwrap().to_string();
    let (status, again) = call(
        c.post(format!("{url}/v1/fhe/programs"))
            .bearer_auth(TOKEN)
            .body(program.clone()),
    );
    assert_eq!((status, &again["id"]), (200, &body["id"]));
    let bids: Vec<u64> = (0..3).map(|_| rng.gen::<u16>().into()).collect();
    let expected = Program::from_json(&program)
        .unwrap()
        .eval_plain(&bids)
        .unwrap();
    let inputs: Vec<String> = bids
        .iter()
        .map(|&b| {
            let input = fornax_fhe::input::encrypt(&public, b, 16, "alice").unwrap();
            base64::engine::general_purpose::STANDARD.encode(input)
        })
        .collect();
    let submit = json!({ "program": program_id, "inputs": inputs });
    let (status, task) = call(
        c.post(format!("{url}/v1/fhe/tasks"))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", "auction-1")
            .json(&submit),
    );
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let (status, replay) = call(
        c.post(format!("{url}/v1/fhe/tasks"))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", "auction-1")
            .json(&submit),
    );
    assert_eq!((status, replay["id"].as_str()), (200, Some(id.as_str())));

    // Bad input: 4xx with stable codes, while the task runs.
    let bad = |body: Value| {
        call(
            c.post(format!("{url}/v1/fhe/tasks"))
                .bearer_auth(TOKEN)
                .json(&body),
        )
    };
    let (s, b) = bad(json!({ "program": program_id, "inputs": ["%%%", inputs[1], inputs[2]] }));
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_ciphertext")),
        "{b}"
    );
    let junk = base64::engine::general_purpose::STANDARD.encode(b"certainly not a ciphertext");
    let (s, b) = bad(json!({ "program": program_id, "inputs": [junk, inputs[1], inputs[2]] }));
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_ciphertext")),
        "{b}"
    );
    let eight = base64::engine::general_purpose::STANDARD
        .encode(fornax_fhe::input::encrypt(&public, 3, 8, "alice").unwrap());
    let (s, b) = bad(json!({ "program": program_id, "inputs": [eight, inputs[1], inputs[2]] }));
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_ciphertext")),
        "an 8-bit input: {b}"
    );
    // Bob cannot make Alice's ciphertext his own input (an identity program and a decryption
    // would read it): its proof of knowledge names alice.
    let identity = br#"{"bits":16,"inputs":1,"nodes":[],"outputs":[0]}"#;
    let (status, registered) = call(
        c.post(format!("{url}/v1/fhe/programs"))
            .bearer_auth("bob-token")
            .body(identity.to_vec()),
    );
    assert!(status == 200 || status == 201, "{registered}");
    let (s, b) = call(
        c.post(format!("{url}/v1/fhe/tasks"))
            .bearer_auth("bob-token")
            .json(&json!({ "program": registered["id"], "inputs": [inputs[0]] })),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_proof")),
        "alice's input accepted from bob: {b}"
    );
    // The same through the command line: alice encrypts with her API key (the node names
    // her tenant), bob submits it to the identity program and is refused.
    let fornax = |token: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(args)
            .env("FORNAX_NODE", &url)
            .env("FORNAX_TOKEN", token)
            .output()
            .unwrap()
    };
    let ct = dir.path().join("alice.ct");
    let out = fornax(
        TOKEN,
        &["fhe", "encrypt", "--keys", keys, "--bits", "16", "4242"],
    );
    assert!(!out.status.success(), "encrypt without an output path");
    let out = fornax(
        TOKEN,
        &[
            "fhe",
            "encrypt",
            "--keys",
            keys,
            "--bits",
            "16",
            "4242",
            ct.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = std::fs::read(&ct).unwrap();
    assert!(fornax_fhe::input::verify(&public, &made, 16, "alice").is_ok());
    let identity_path = dir.path().join("identity.json");
    std::fs::write(&identity_path, identity).unwrap();
    let out = fornax(
        "bob-token",
        &[
            "fhe",
            "submit",
            "--program",
            identity_path.to_str().unwrap(),
            ct.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("invalid_proof"),
        "bob's submission of alice's input: {said}"
    );
    let (s, b) = bad(json!({ "program": program_id, "inputs": [inputs[0]] }));
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_inputs")),
        "{b}"
    );
    let (s, b) = bad(json!({ "program": "p0", "inputs": inputs }));
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("unknown_program")),
        "{b}"
    );
    let (s, b) = bad(json!({ "program": program_id }));
    assert_eq!((s, b["code"].as_str()), (400, Some("invalid_json")), "{b}");
    // Just over the 4 MiB body limit (as in the node's tests: far over it, the node may close
    // the connection before the client has sent its body).
    let huge = base64::engine::general_purpose::STANDARD.encode(vec![0u8; (3 << 20) + (48 << 10)]);
    let (s, b) = bad(json!({ "program": program_id, "inputs": [huge] }));
    assert_eq!(
        (s, b["code"].as_str()),
        (413, Some("payload_too_large")),
        "{b}"
    );
    // Programs are small: a body just over 1 MiB is refused whatever the task limit.
    let (s, b) = call(
        c.post(format!("{url}/v1/fhe/programs"))
            .bearer_auth(TOKEN)
            .body(format!(
                "{{\"bits\": \"{}\"}}",
                "8".repeat((1 << 20) + (64 << 10))
            )),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (413, Some("payload_too_large")),
        "{b}"
    );
    let (s, b) = call(
        c.post(format!("{url}/v1/fhe/programs"))
            .bearer_auth(TOKEN)
            .body(r#"{"bits": 7}"#),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (400, Some("invalid_program")),
        "{b}"
    );
    let (s, b) = call(c.get(format!("{url}/v1/fhe/tasks/{id}")));
    assert_eq!((s, b["code"].as_str()), (401, Some("unauthorized")), "{b}");
    let (s, b) = call(
        c.get(format!("{url}/v1/fhe/tasks/{id}"))
            .bearer_auth("bob-token"),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("task_not_found")),
        "another owner's task: {b}"
    );

    let done = wait_done(&c, &url, &id);
    assert_eq!(done["outputs"].as_array().unwrap().len(), 2);
    assert_eq!(done["digest"].as_str().unwrap().len(), 64);
    println!(
        "auction evaluated in {} ms, plan {}",
        done["eval_ms"], done["plan"]
    );

    // Decrypt; kill party 2 while it holds its answer back. Six answers arrive, one of
    // them (party 7) wrong: five agree, which two corrupt holders cannot fake, so the value
    // is output and only party 7 is named.
    let decrypt = {
        let c = client();
        let url = url.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            call(
                c.post(format!("{url}/v1/fhe/tasks/{id}/decrypt"))
                    .bearer_auth(TOKEN),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    holders[1].kill();
    let (status, body) = decrypt.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let outputs = body["outputs"].as_array().unwrap();
    let values: Vec<u64> = outputs
        .iter()
        .map(|o| o["value"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(values, expected, "bids {bids:?} (seed {seed})");
    for o in outputs {
        assert_eq!(o["bad_parties"], json!([7]), "{body}");
    }
    // Each key holder's answer time is a histogram by party, the one killed included.
    let metrics = c
        .get(format!("{url}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for party in 1..=7 {
        assert!(
            metrics.contains(&format!(
                "fornax_keyholder_seconds_count{{party=\"{party}\"}}"
            )),
            "party {party}: {metrics}"
        );
    }
    // Bob may not decrypt Alice's task.
    let (s, b) = call(
        c.post(format!("{url}/v1/fhe/tasks/{id}/decrypt"))
            .bearer_auth("bob-token"),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (404, Some("task_not_found")),
        "{b}"
    );
    // One more key holder down leaves five answers, one wrong: four agreeing answers could
    // be two honest ones and two colluders, so nothing is output (a 503) and nobody named.
    holders[2].kill();
    let (s, b) = call(
        c.post(format!("{url}/v1/fhe/tasks/{id}/decrypt"))
            .bearer_auth(TOKEN),
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (503, Some("keyholders_unavailable")),
        "{b}"
    );
}

#[test]
fn an_accepted_task_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let (public, shares) = deal(dir.path());
    let holders: Vec<Keyholder> = shares[..5].iter().map(|s| Keyholder::start(s, 0)).collect();
    let urls: Vec<String> = holders.iter().map(|h| h.url.clone()).collect();
    let keys = dir.path().join("keyset");
    let keys = keys.to_str().unwrap();
    let data = dir.path().join("node");
    let mut node = Node::start(&data, &node_args(keys, &urls));
    let c = client();
    let program = br#"{"bits": 8, "inputs": 2, "nodes": [{"op": "mul", "a": 0, "b": 1}, {"op": "xor", "a": 2, "b": 0}], "outputs": [3]}"#;
    let (_, body) = call(
        c.post(format!("{}/v1/fhe/programs", node.url))
            .bearer_auth(TOKEN)
            .body(program.to_vec()),
    );
    let inputs: Vec<String> = [23u64, 201]
        .iter()
        .map(|&v| {
            base64::engine::general_purpose::STANDARD
                .encode(fornax_fhe::input::encrypt(&public, v, 8, "alice").unwrap())
        })
        .collect();
    let (status, task) = call(
        c.post(format!("{}/v1/fhe/tasks", node.url))
            .bearer_auth(TOKEN)
            .json(&json!({ "program": body["id"], "inputs": inputs })),
    );
    assert_eq!(status, 202, "{task}");
    node.kill9();
    let node = Node::start(&data, &node_args(keys, &urls));
    let id = task["id"].as_str().unwrap();
    let done = wait_done(&c, &node.url, id);
    assert_eq!(done["plan"]["device"], "cpu", "{done}");
    let (status, body) = call(
        c.post(format!("{}/v1/fhe/tasks/{id}/decrypt", node.url))
            .bearer_auth(TOKEN),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["outputs"][0]["value"],
        json!(((23u64 * 201) as u8 ^ 23).to_string())
    );
    assert_eq!(body["outputs"][0]["bad_parties"], json!([]));
}

/// `--fhe-device`: an unknown device, a device without a key set, and (in a build without
/// tfhe-rs's CUDA backend) `cuda` are each refused with a message and a non-zero exit,
/// before any key is loaded.
#[test]
fn the_fhe_device_option_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let node = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("node"))
            .args(args)
            .output()
            .expect("fornax runs");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, stderr) = node(&["--fhe-device", "tpu"]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("possible values: cpu, cuda"), "{stderr}");
    let (status, stderr) = node(&["--fhe-device", "cpu"]);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("add --fhe-keys"), "{stderr}");
    if !cfg!(feature = "fhe-gpu") {
        // The key set does not exist: the device is refused before keys are read.
        let missing = dir.path().join("no-keyset");
        let (status, stderr) = node(&[
            "--fhe-keys",
            missing.to_str().unwrap(),
            "--fhe-device",
            "cuda",
        ]);
        assert!(!status.success(), "{stderr}");
        assert!(
            stderr.contains("built without tfhe-rs's CUDA backend")
                && stderr.contains("--features fhe-gpu"),
            "{stderr}"
        );
    }
}

/// Through NATS: the node evaluates nothing (a task waits until a worker with FHE capability
/// joins); the first such worker is killed with -9 in the middle of the evaluation; a second
/// finishes the task, once, with the digest the engine computes in this process, and the
/// outputs decrypt to the program's result.
#[test]
fn fhe_tasks_run_on_workers_through_nats_and_survive_a_worker_killed_mid_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let (public, shares) = deal(dir.path());
    let holders: Vec<Keyholder> = shares[..5].iter().map(|s| Keyholder::start(s, 0)).collect();
    let urls: Vec<String> = holders.iter().map(|h| h.url.clone()).collect();
    let keys = dir.path().join("keyset");
    let nats = Nats::start(&dir.path().join("nats"));
    let queue = nats.url();
    let mut args = node_args(keys.to_str().unwrap(), &urls);
    args.extend([
        "--queue",
        queue.as_str(),
        "--ack-wait-s",
        "2",
        "--dead-after-s",
        "1.5",
        "--fhe-max-pbs",
        "2000",
    ]);
    let node = Node::start(&dir.path().join("node"), &args);
    let c = client();
    let program_json = br#"{"bits": 8, "inputs": 2, "nodes": [{"op": "mul", "a": 0, "b": 1}, {"op": "xor", "a": 2, "b": 0}], "outputs": [3]}"#;
    // A program over the node's cost cap is refused when it is registered.
    let costly = br#"{"bits": 64, "inputs": 2, "nodes": [{"op": "mul", "a": 0, "b": 1}, {"op": "mul", "a": 2, "b": 1}, {"op": "mul", "a": 3, "b": 1}], "outputs": [4]}"#;
    let cost =
        |p: &[u8]| fornax_fhe::plan::plan(&Program::from_json(p).unwrap(), "t", 1).estimated_pbs();
    assert!(
        cost(program_json) < 2000 && cost(costly) > 2000,
        "{} {}",
        cost(program_json),
        cost(costly)
    );
    let (status, body) = call(
        c.post(format!("{}/v1/fhe/programs", node.url))
            .bearer_auth(TOKEN)
            .body(costly.to_vec()),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("program_too_costly")),
        "{body}"
    );
    let (status, body) = call(
        c.post(format!("{}/v1/fhe/programs", node.url))
            .bearer_auth(TOKEN)
            .body(program_json.to_vec()),
    );
    assert_eq!(status, 201, "{body}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let (a, b): (u64, u64) = (rng.gen_range(0..256), rng.gen_range(0..256));
    let cts: Vec<Vec<u8>> = [a, b]
        .iter()
        .map(|&v| fornax_fhe::input::encrypt(&public, v, 8, "alice").unwrap())
        .collect();
    let inputs: Vec<String> = cts
        .iter()
        .map(|ct| base64::engine::general_purpose::STANDARD.encode(ct))
        .collect();
    let (status, task) = call(
        c.post(format!("{}/v1/fhe/tasks", node.url))
            .bearer_auth(TOKEN)
            .json(&json!({ "program": body["id"], "inputs": inputs })),
    );
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();

    // No worker can evaluate it yet, and the node does not: its job waits in the queue.
    std::thread::sleep(Duration::from_secs(3));
    let (_, t) = call(
        c.get(format!("{}/v1/fhe/tasks/{id}", node.url))
            .bearer_auth(TOKEN),
    );
    assert!(
        ["queued", "running"].contains(&t["state"].as_str().unwrap()) && t["digest"].is_null(),
        "{t}"
    );

    let cache = dir.path().join("cache");
    let fhe = ["--fhe", "--fhe-threads", "1", "--memory-mb", "8192"];
    let mut first = Worker::start(&nats, "fhe-1", &cache, &fhe);
    // Wait until it runs the job (its heartbeat says so), give it a moment into the
    // evaluation, and kill it.
    let rt = common::runtime();
    let start = Instant::now();
    while !common::registry(&rt, &nats)
        .iter()
        .any(|w| w.id == "fhe-1" && w.running.iter().any(|r| r.task == id))
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "fhe-1 never took the job"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(2500));
    let (_, t) = call(
        c.get(format!("{}/v1/fhe/tasks/{id}", node.url))
            .bearer_auth(TOKEN),
    );
    assert_eq!(t["state"], "running", "{t}");
    first.kill9();

    let _second = Worker::start(&nats, "fhe-2", &cache, &fhe);
    let done = wait_done(&c, &node.url, &id);
    assert!(
        done["worker"].as_str().unwrap().starts_with("fhe-2/"),
        "{done}"
    );
    let (_, log) = call(
        c.get(format!("{}/v1/tasks/{id}/transitions", node.url))
            .bearer_auth(TOKEN),
    );
    let finished = log["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["to"] == "proved")
        .count();
    assert_eq!(finished, 1, "{log}");
    let (_, generic) = call(
        c.get(format!("{}/v1/tasks/{id}", node.url))
            .bearer_auth(TOKEN),
    );
    assert_eq!(generic["kind"], "fhe", "{generic}");

    // The same evaluation in this process: bit for bit the same outputs.
    let program = Program::from_json(program_json).unwrap();
    let evaluator = fornax_fhe::Evaluator::new(&public);
    let local = evaluator
        .evaluate(
            &program,
            cts.iter()
                .map(|ct| {
                    let list = fornax_fhe::input::read(&public, ct).unwrap();
                    evaluator.expand(&list, 8).unwrap()
                })
                .collect(),
            &id,
            1,
        )
        .unwrap();
    assert_eq!(done["digest"], json!(hex::encode(local.digest)), "{done}");

    let (status, body) = call(
        c.post(format!("{}/v1/fhe/tasks/{id}/decrypt", node.url))
            .bearer_auth(TOKEN),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["outputs"][0]["value"],
        json!(((a * b) as u8 ^ a as u8).to_string()),
        "inputs {a}, {b} (seed {})",
        seed()
    );
}

/// A key holder answers only what the node signed: not the bearer token alone, not a request
/// signed by another key holder's key, not a ciphertext other than the one the request
/// names, and not a digest it answered for another task output. The answers it gives are
/// signed with its own key, as published with the key set.
#[test]
fn a_key_holder_answers_only_the_nodes_signed_requests() {
    use fornax_node::keyholders::{self, PartDecRequest};
    let dir = tempfile::tempdir().unwrap();
    let (public, shares) = deal(dir.path());
    let holder = Keyholder::start(&shares[0], 0);
    // A squashed ciphertext to decrypt: an identity program's output.
    let program = Program::from_json(br#"{"bits":8,"inputs":1,"nodes":[],"outputs":[0]}"#).unwrap();
    let evaluator = fornax_fhe::Evaluator::new(&public);
    let out = evaluator
        .evaluate(
            &program,
            vec![evaluator.encrypt(&public, 77, 8).unwrap()],
            "t",
            1,
        )
        .unwrap();
    let ct = fio::write_squashed(&out.outputs[0]).unwrap();
    let digest = hex::encode(fornax_fhe::threshold::ciphertext_digest(
        &fio::read_squashed(&ct).unwrap(),
    ));
    let node = keyholders::read_signing_key(&dir.path().join("node.key")).unwrap();
    let other_holder = keyholders::read_signing_key(&dir.path().join("holder-2.key")).unwrap();
    let request = |task: &str, digest: &str| PartDecRequest {
        key_id: hex::encode(public.key_id),
        party: 1,
        ciphertext: digest.to_string(),
        task: task.into(),
        output: 0,
        tenant: "alice".into(),
        issued_ms: fornax_node::task::now_ms(),
    };
    // Another key holder's identity cannot even connect as the node.
    assert!(tls_client(dir.path(), 1, &other_holder)
        .get(format!("{}/v1/keyholder", holder.url))
        .send()
        .is_err());
    let c = tls_client(dir.path(), 1, &node);
    let ask = |signed: Option<(String, String)>, body: &[u8]| {
        let mut r = c
            .post(format!("{}/v1/partdec", holder.url))
            .body(body.to_vec());
        if let Some((h, s)) = signed {
            r = r
                .header(keyholders::REQUEST_HEADER, h)
                .header(keyholders::SIGNATURE_HEADER, s);
        }
        call(r)
    };
    // The node's connection, without a signed request.
    let (s, b) = ask(None, &ct);
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("unauthorized_request")),
        "{b}"
    );
    // Signed by another key holder.
    let (s, b) = ask(
        Some(keyholders::sign_request(
            &other_holder,
            &request("t1", &digest),
        )),
        &ct,
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("unauthorized_request")),
        "{b}"
    );
    // Signed by the node, but for another ciphertext than the one sent.
    let (s, b) = ask(
        Some(keyholders::sign_request(
            &node,
            &request("t1", &"00".repeat(32)),
        )),
        &ct,
    );
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("unauthorized_request")),
        "{b}"
    );
    // The node's request: answered, and signed by this key holder's published key.
    let (s, b) = ask(
        Some(keyholders::sign_request(&node, &request("t1", &digest))),
        &ct,
    );
    assert_eq!(s, 200, "{b}");
    let signed: keyholders::SignedAnswer = serde_json::from_value(b).unwrap();
    let keys = keyholders::read_holder_keys(&dir.path().join("keyset/holders.json")).unwrap();
    let answer = keyholders::verify_answer(&keys[&1], &signed).unwrap();
    assert_eq!(
        (answer.party, answer.ciphertext.as_str()),
        (1, digest.as_str())
    );
    assert!(keyholders::verify_answer(&keys[&2], &signed).is_err());
    // Asked again for the same output: the same answer; for another task: refused.
    let (s, _) = ask(
        Some(keyholders::sign_request(&node, &request("t1", &digest))),
        &ct,
    );
    assert_eq!(s, 200);
    let (s, b) = ask(
        Some(keyholders::sign_request(&node, &request("t2", &digest))),
        &ct,
    );
    assert_eq!((s, b["code"].as_str()), (409, Some("digest_reused")), "{b}");
    // A stale request (replayed later) is refused.
    let mut stale = request("t1", &digest);
    stale.issued_ms -= 3_600_000;
    let (s, b) = ask(Some(keyholders::sign_request(&node, &stale)), &ct);
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("unauthorized_request")),
        "{b}"
    );
    // The key set's decryption budget: this key holder has spent the 2 (packed, squashed)
    // blocks of one 8-bit output of the 2^28 and more that the flooding allows.
    let info = |c: &Client, url: &str| {
        call(c.get(format!("{url}/v1/keyholder"))).1["decryption_budget"].clone()
    };
    let budget = info(&c, &holder.url);
    assert_eq!(budget["blocks_used"], 2, "{budget}");
    assert_eq!(budget["blocks"], public.params.block_budget(), "{budget}");
    assert!(public.params.block_budget() > 1 << 28);
    assert!(budget["distance_log2_per_block"].as_f64().unwrap() < -41.0);
    // A key holder whose operator allows one such output in all answers it, and again (a
    // retry reveals nothing new), but no other ciphertext.
    let frugal = Keyholder::start_with(&shares[1], 0, &["--max-blocks", "2"]);
    let for_party_2 = |task: &str, digest: &str| {
        let mut r = request(task, digest);
        r.party = 2;
        keyholders::sign_request(&node, &r)
    };
    let c2 = tls_client(dir.path(), 2, &node);
    let ask_2 = |signed: (String, String), body: &[u8]| {
        call(
            c2.post(format!("{}/v1/partdec", frugal.url))
                .header(keyholders::REQUEST_HEADER, signed.0)
                .header(keyholders::SIGNATURE_HEADER, signed.1)
                .body(body.to_vec()),
        )
    };
    assert_eq!(ask_2(for_party_2("t1", &digest), &ct).0, 200);
    assert_eq!(ask_2(for_party_2("t1", &digest), &ct).0, 200);
    let second = evaluator
        .evaluate(
            &program,
            vec![evaluator.encrypt(&public, 78, 8).unwrap()],
            "t3",
            1,
        )
        .unwrap();
    let ct2 = fio::write_squashed(&second.outputs[0]).unwrap();
    let digest2 = hex::encode(fornax_fhe::threshold::ciphertext_digest(
        &fio::read_squashed(&ct2).unwrap(),
    ));
    let (s, b) = ask_2(for_party_2("t3", &digest2), &ct2);
    assert_eq!(
        (s, b["code"].as_str()),
        (403, Some("decryption_budget_spent")),
        "{b}"
    );
    let budget = info(&c2, &frugal.url);
    assert_eq!(
        (budget["blocks_used"].as_u64(), budget["blocks"].as_u64()),
        (Some(2), Some(2))
    );
}

/// The dealer's side through the binary: key holders make their identities, `fornax fhe
/// keygen` seals each share to its holder, and no file it writes holds a share in the clear
/// (each opened share's bytes are checked against every file). Without every holder's key it
/// refuses, and writes nothing.
#[test]
fn keygen_leaves_no_plaintext_share_on_disk() {
    use fornax_node::keyholders;
    let dir = tempfile::tempdir().unwrap();
    let fornax = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(args)
            .output()
            .unwrap()
    };
    let holders = dir.path().join("holders");
    std::fs::create_dir(&holders).unwrap();
    let mut specs = Vec::new();
    for party in 1..=3 {
        let key = holders.join(format!("{party}.key"));
        let out = fornax(&["fhe", "holder-key", key.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let file = std::fs::read_to_string(format!("{}.pub", key.display())).unwrap();
        assert_eq!(printed.trim(), file.trim());
        specs.push(format!("{party}={}", file.trim()));
    }
    let dealer = dir.path().join("dealer");
    let keygen = |specs: &[String]| {
        let mut args = vec!["fhe", "keygen", "--parties", "3", "--threshold", "2"];
        for s in specs {
            args.extend(["--holder", s.as_str()]);
        }
        args.extend(["--out", dealer.to_str().unwrap()]);
        fornax(&args)
    };
    let refused = keygen(&specs[..2]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("no public key for key holder(s) [3]"),
        "{stderr}"
    );
    assert!(!dealer.exists(), "a refused keygen wrote nothing");
    let dealt = keygen(&specs);
    assert!(dealt.status.success(), "{dealt:?}");
    let stdout = String::from_utf8_lossy(&dealt.stdout);
    assert!(stdout.contains("none written in the clear"), "{stdout}");
    let mut written = Vec::new();
    let mut stack = vec![dealer.clone()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                written.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    for party in 1..=3 {
        let identity = keyholders::read_signing_key(&holders.join(format!("{party}.key"))).unwrap();
        let sealed = dealer.join(format!("share-{party}.sealed"));
        // Its holder opens it; the others cannot.
        let holder = keyholders::load_share(&sealed, &identity).unwrap();
        assert_eq!(holder.share().party, party);
        let other =
            keyholders::read_signing_key(&holders.join(format!("{}.key", party % 3 + 1))).unwrap();
        assert!(keyholders::load_share(&sealed, &other).is_err());
        // No file is a share, or holds any of the share's secret words (random 128-bit
        // words, as bincode writes them) among its first 64.
        let words: Vec<[u8; 16]> = holder.share().key[..64]
            .iter()
            .map(|w| w.to_le_bytes())
            .collect();
        for (path, bytes) in &written {
            assert!(
                fio::read_share(bytes).is_err(),
                "{} is a share",
                path.display()
            );
            assert!(
                !bytes.windows(16).any(|w| words.iter().any(|k| k == w)),
                "{} holds share {party} in the clear",
                path.display()
            );
        }
    }
    // The published key holders' keys are the ones they made.
    let published = keyholders::read_holder_keys(&dealer.join("keyset/holders.json")).unwrap();
    for (party, spec) in specs.iter().enumerate() {
        let hex_key = spec.split_once('=').unwrap().1;
        assert_eq!(hex::encode(published[&(party + 1)].to_bytes()), hex_key);
    }
}

/// `fornax bench fhe --blocks`: KS-PBS per second against batch size, the engine beside
/// tfhe-rs, one point per size, every PBS counted.
#[test]
fn bench_fhe_blocks_writes_a_scaling_curve() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("fhe.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args([
            "bench",
            "fhe",
            "--bits",
            "8",
            "--blocks",
            "4,8",
            "--reps",
            "1",
            "--parties",
            "2",
            "--threshold",
            "2",
            "--json",
        ])
        .arg(&json)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["bench"], "fhe-scaling");
    let points = doc["points"].as_array().unwrap();
    // 8-bit integers are four 2-bit blocks: an AND is four KS-PBS.
    let pbs: Vec<u64> = points.iter().map(|p| p["pbs"].as_u64().unwrap()).collect();
    assert_eq!(pbs, [4, 8], "{doc}");
    for p in points {
        assert!(p["engine_pbs_per_s"].as_f64().unwrap() > 0.0, "{doc}");
        assert!(p["tfhe_rs_pbs_per_s"].as_f64().unwrap() > 0.0, "{doc}");
    }
}
