//! `fornax node` as a process, over HTTP: the end-to-end path (submit → proof that snarkjs
//! accepts), bad input, idempotency, and kill -9 in the middle of proofs.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{circuit, snarkjs, sub, text, vk, wasm, Node};
use rand::{Rng, SeedableRng};
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

fn client() -> Client {
    // No pooled connections: a connection the node closed after refusing an oversized
    // body must not be reused by the next request.
    Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

fn register(c: &Client, url: &str, token: &str, zkey: &Path, wasm: Option<&Path>) -> (u16, Value) {
    let mut form =
        multipart::Form::new().part("zkey", multipart::Part::bytes(std::fs::read(zkey).unwrap()));
    if let Some(w) = wasm {
        form = form.part("wasm", multipart::Part::bytes(std::fs::read(w).unwrap()));
    }
    let r = c
        .post(format!("{url}/v1/circuits"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .expect("register");
    (r.status().as_u16(), r.json().expect("JSON"))
}

fn submit(c: &Client, url: &str, token: &str, body: &Value) -> (u16, Value) {
    let r = c
        .post(format!("{url}/v1/tasks"))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("submit");
    (r.status().as_u16(), r.json().expect("JSON"))
}

fn get(c: &Client, url: &str, token: &str, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .expect("get");
    let status = r.status().as_u16();
    let text = r.text().expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Polls until every task is final; returns their records.
fn wait_final(c: &Client, url: &str, token: &str, ids: &[String], limit: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let tasks: Vec<Value> = ids
            .iter()
            .map(|id| get(c, url, token, &format!("/v1/tasks/{id}")).1)
            .collect();
        if tasks.iter().all(|t| {
            ["proved", "failed", "cancelled", "expired"]
                .contains(&t["state"].as_str().unwrap_or(""))
        }) {
            return tasks;
        }
        assert!(
            start.elapsed() < limit,
            "tasks not final after {limit:?}: {tasks:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn random_poseidon_input(rng: &mut impl Rng) -> Value {
    json!({ "preimage": [rng.gen::<u64>().to_string(), format!("-{}", rng.gen::<u32>())] })
}

const KEYS: [&str; 4] = ["--api-key", "alice=token-a", "--api-key", "bob=token-b"];

#[test]
fn http_tasks_end_to_end_with_snarkjs_verification() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(common::seed());
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    let c = client();
    let url = &node.url;
    let name = "poseidon_preimage";

    let (status, meta) = register(
        &c,
        url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&wasm(name)),
    );
    assert_eq!(status, 201, "{meta}");
    let (status, again) = register(
        &c,
        url,
        "token-b",
        &circuit(name, "zkey"),
        Some(&wasm(name)),
    );
    assert_eq!(
        (status, &again),
        (200, &meta),
        "registering twice is idempotent"
    );
    let id = meta["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);

    // Three JSON inputs from two clients, and one ready witness.
    let mut ids = Vec::new();
    let mut inputs = Vec::new();
    for (k, token) in ["token-a", "token-b", "token-a"].into_iter().enumerate() {
        let input = random_poseidon_input(&mut rng);
        let (status, task) = submit(&c, url, token, &json!({ "circuit": id, "input": input }));
        assert_eq!(status, 202, "task {k}: {task}");
        assert_eq!(task["state"], "submitted");
        ids.push(task["id"].as_str().unwrap().to_string());
        inputs.push(input);
    }
    let wtns = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(circuit(name, "wtns")).unwrap());
    let (status, task) = submit(
        &c,
        url,
        "token-b",
        &json!({ "circuit": id, "witness": wtns, "timeout_s": 600 }),
    );
    assert_eq!(status, 202, "{task}");
    ids.push(task["id"].as_str().unwrap().to_string());

    let tokens = ["token-a", "token-b", "token-a", "token-b"];
    let tmp = tempfile::tempdir().unwrap();
    for (k, id) in ids.iter().enumerate() {
        let done = wait_final(
            &c,
            url,
            tokens[k],
            std::slice::from_ref(id),
            Duration::from_secs(120),
        );
        assert_eq!(done[0]["state"], "proved", "{}", done[0]);
        let (status, proof) = get(&c, url, tokens[k], &format!("/v1/tasks/{id}/proof"));
        assert_eq!(status, 200, "{proof}");
        let (p, q) = (
            tmp.path().join(format!("{k}.proof.json")),
            tmp.path().join(format!("{k}.public.json")),
        );
        std::fs::write(&p, proof["proof"].to_string()).unwrap();
        std::fs::write(&q, proof["public"].to_string()).unwrap();
        let out = snarkjs(&[sub("groth16"), sub("verify"), &vk(name), &q, &p]);
        assert!(
            out.status.success() && text(&out).contains("OK"),
            "snarkjs rejects task {k}: {}",
            text(&out)
        );
        if k < 3 {
            // The public input is what the client sent (the preimage is private; the hash is public).
            let public = proof["public"].as_array().unwrap();
            assert_eq!(public.len(), 1);
        }
        let (status, calldata) = get(
            &c,
            url,
            tokens[k],
            &format!("/v1/tasks/{id}/proof?format=calldata"),
        );
        assert_eq!(status, 200);
        let calldata = calldata.as_str().unwrap().to_string();
        assert!(
            calldata.starts_with("[\"0x") && calldata.matches("0x").count() == 8 + 1,
            "{calldata}"
        );
        let (_, log) = get(&c, url, tokens[k], &format!("/v1/tasks/{id}/transitions"));
        let states: Vec<&str> = log["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["to"].as_str().unwrap())
            .collect();
        assert_eq!(states, ["submitted", "scheduled", "proving", "proved"]);
    }

    // Owners see only their tasks; a proved task cannot be cancelled.
    let (_, listed) = get(&c, url, "token-a", "/v1/tasks?state=proved");
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 2);
    let (status, _) = get(&c, url, "token-b", &format!("/v1/tasks/{}", ids[0]));
    assert_eq!(status, 404, "bob cannot see alice's task");
    let r = c
        .delete(format!("{url}/v1/tasks/{}", ids[0]))
        .bearer_auth("token-a")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(r.json::<Value>().unwrap()["code"], "invalid_state");

    // Paging: one at a time, in creation order.
    let (_, page1) = get(&c, url, "token-a", "/v1/tasks?limit=1");
    let next = page1["next"].as_str().unwrap();
    assert_eq!(page1["tasks"][0]["id"], ids[0]);
    let (_, page2) = get(
        &c,
        url,
        "token-a",
        &format!("/v1/tasks?limit=1&after={next}"),
    );
    assert_eq!(page2["tasks"][0]["id"], ids[2]);

    let (status, metrics) = get(&c, url, "token-a", "/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains("fornax_proofs_total 4"), "{metrics}");
    assert!(
        metrics.contains("fornax_tasks_finished_total{state=\"proved\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("fornax_job_seconds_count{job=\"msm-h\",device=\"cpu:0\"} 4"),
        "{metrics}"
    );
}

#[test]
fn idempotency_keys_return_the_same_task() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(common::seed());
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    let c = client();
    let name = "poseidon_preimage";
    let (_, meta) = register(
        &c,
        &node.url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&wasm(name)),
    );
    let body = json!({ "circuit": meta["id"], "input": random_poseidon_input(&mut rng) });
    let send = |token: &str, key: &str| {
        let r = c
            .post(format!("{}/v1/tasks", node.url))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (s1, t1) = send("token-a", "order-17");
    let (s2, t2) = send("token-a", "order-17");
    let (s3, t3) = send("token-b", "order-17");
    assert_eq!((s1, s2, s3), (202, 200, 202));
    assert_eq!(t1["id"], t2["id"], "a retried submit returns the same task");
    assert_ne!(t1["id"], t3["id"], "keys are per API key");
}

#[test]
fn bad_input_gets_stable_4xx_codes_and_the_node_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--max-body-mb", "4", "--max-task-body-mb", "4"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    let url = &node.url;
    let name = "poseidon_preimage";
    let (_, meta) = register(
        &c,
        url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&wasm(name)),
    );
    let id = meta["id"].as_str().unwrap();
    let (_, merkle) = register(
        &c,
        url,
        "token-a",
        &circuit("merkle_inclusion", "zkey"),
        None,
    );
    let merkle_id = merkle["id"].as_str().unwrap();

    let post_raw = |body: &str| {
        let r = c
            .post(format!("{url}/v1/tasks"))
            .bearer_auth("token-a")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().expect("errors are JSON"),
        )
    };
    let big = format!(
        "{{\"circuit\": \"{id}\", \"input\": {{\"preimage\": [\"{}\", \"1\"]}}}}",
        "1".repeat((4 << 20) + (64 << 10))
    );
    let garbage_wtns =
        base64::engine::general_purpose::STANDARD.encode(b"wtns\x02\x00\x00\x00garbage");
    let other_wtns = base64::engine::general_purpose::STANDARD
        .encode(std::fs::read(circuit("merkle_inclusion", "wtns")).unwrap());
    let cases: Vec<(String, u16, &str)> = vec![
        ("{\"circuit\": ".into(), 400, "invalid_json"),
        ("[1, 2]".into(), 400, "invalid_json"),
        (
            json!({"circuit": id, "input": {"preimage": [1, 2]}, "colour": "red"}).to_string(),
            400,
            "invalid_json",
        ),
        (
            json!({"circuit": "f00d", "input": {"preimage": [1, 2]}}).to_string(),
            404,
            "unknown_circuit",
        ),
        (
            json!({"circuit": id, "input": {"preimage": [1, 2, 3]}}).to_string(),
            400,
            "invalid_input",
        ),
        (
            json!({"circuit": id, "input": {"preimage": [1]}}).to_string(),
            400,
            "invalid_input",
        ),
        (
            json!({"circuit": id, "input": {"preimage": [1, 2], "salt": 3}}).to_string(),
            400,
            "invalid_input",
        ),
        (
            json!({"circuit": id, "input": {"preimage": ["abc", 2]}}).to_string(),
            400,
            "invalid_input",
        ),
        (
            json!({"circuit": id, "input": {"preimage": [1.5, 2]}}).to_string(),
            400,
            "invalid_input",
        ),
        (json!({"circuit": id}).to_string(), 400, "invalid_input"),
        (
            json!({"circuit": merkle_id, "input": {"leaf": 1}}).to_string(),
            400,
            "invalid_input",
        ),
        (
            json!({"circuit": id, "witness": "not base64!"}).to_string(),
            400,
            "invalid_witness",
        ),
        (
            json!({"circuit": id, "witness": garbage_wtns}).to_string(),
            400,
            "invalid_witness",
        ),
        (
            json!({"circuit": id, "witness": other_wtns}).to_string(),
            400,
            "invalid_witness",
        ),
        (
            json!({"circuit": id, "input": {"preimage": [1, 2]}, "deadline_ms": 1}).to_string(),
            400,
            "invalid_deadline",
        ),
        (big, 413, "payload_too_large"),
    ];
    for (body, status, code) in &cases {
        let (s, v) = post_raw(body);
        assert_eq!(
            (s, v["code"].as_str().unwrap_or("")),
            (*status, *code),
            "{}: {v}",
            &body[..body.len().min(120)]
        );
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    // A zkey that does not parse, a wasm that is not a witness generator, no zkey at all.
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.zkey");
    std::fs::write(&bad, b"zkey\x01\x00\x00\x00truncated").unwrap();
    let (s, v) = register(&c, url, "token-a", &bad, None);
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "invalid_zkey"),
        "{v}"
    );
    let (s, v) = register(
        &c,
        url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&circuit(name, "r1cs")),
    );
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "invalid_wasm"),
        "{v}"
    );
    let (s, v) = register(
        &c,
        url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&wasm("merkle_inclusion")),
    );
    assert_eq!(
        (s, v["code"].as_str().unwrap()),
        (400, "circuit_mismatch"),
        "{v}"
    );
    let r = c
        .post(format!("{url}/v1/circuits"))
        .bearer_auth("token-a")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.json::<Value>().unwrap()["code"], "invalid_body");
    // Uploads stream to files in the artifact folder; refused and duplicate ones leave
    // nothing behind, accepted ones only their content-addressed artifacts.
    let left: Vec<String> = std::fs::read_dir(data.path().join("artifacts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!left.iter().any(|f| f.ends_with(".tmp")), "{left:?}");
    for artifact in [
        format!("{id}.zkey"),
        format!("{id}.wasm"),
        format!("{merkle_id}.zkey"),
    ] {
        assert!(left.contains(&artifact), "{artifact} missing: {left:?}");
    }

    // Unknown ids, auth, queries.
    let checks: [(&str, &str, u16, &str); 6] = [
        ("token-a", "/v1/tasks/t0000000000000", 404, "task_not_found"),
        (
            "token-a",
            "/v1/tasks/t0000000000000/proof",
            404,
            "task_not_found",
        ),
        ("nope", "/v1/tasks", 401, "unauthorized"),
        ("token-a", "/v1/tasks?state=done", 400, "invalid_query"),
        ("token-a", "/v1/tasks?limit=0", 400, "invalid_query"),
        ("token-a", "/v1/nothing", 404, "not_found"),
    ];
    for (token, path, status, code) in checks {
        let (s, v) = get(&c, url, token, path);
        assert_eq!(
            (s, v["code"].as_str().unwrap_or("")),
            (status, code),
            "{path}: {v}"
        );
    }
    let r = c.get(format!("{url}/v1/tasks")).send().unwrap();
    assert_eq!(r.status().as_u16(), 401, "no token");

    // Still serving, and a good task still proves.
    assert_eq!(get(&c, url, "token-a", "/healthz").0, 200);
    let (s, task) = submit(
        &c,
        url,
        "token-a",
        &json!({"circuit": id, "input": {"preimage": [1, 2]}}),
    );
    assert_eq!(s, 202);
    let done = wait_final(
        &c,
        url,
        "token-a",
        &[task["id"].as_str().unwrap().to_string()],
        Duration::from_secs(60),
    );
    assert_eq!(done[0]["state"], "proved");
}

/// A synthetic circuit big enough that a kill lands mid-proof: its zkey and a witness.
fn slow_circuit(dir: &Path) -> (PathBuf, Vec<u8>, fornax_prover::VerifyingKey) {
    let fx = fornax_bench::groth16_fixture(15, 5);
    let zkey = dir.join("slow.zkey");
    std::fs::write(&zkey, fx.key.to_bytes()).unwrap();
    (
        zkey,
        fornax_prover::wtns::to_bytes(&fx.witness),
        fx.key.verifying_key(),
    )
}

#[test]
fn kill_9_mid_proof_loses_no_task_and_proves_each_once() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(common::seed());
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (zkey, witness, vk) = slow_circuit(tmp.path());
    let witness = base64::engine::general_purpose::STANDARD.encode(witness);
    let c = client();

    let mut node = Node::start(data.path(), &KEYS);
    let (_, meta) = register(&c, &node.url, "token-a", &zkey, None);
    let circuit_id = meta["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for k in 0..10 {
        let token = if k % 2 == 0 { "token-a" } else { "token-b" };
        let (s, t) = submit(
            &c,
            &node.url,
            token,
            &json!({"circuit": circuit_id, "witness": witness}),
        );
        assert_eq!(s, 202, "{t}");
        ids.push((t["id"].as_str().unwrap().to_string(), token));
    }

    let mut kills_mid_proof = 0;
    for round in 0..4 {
        // Wait until some task is being proved, then kill at a random moment within it.
        let start = Instant::now();
        let proving = loop {
            let (_, list) = get(&c, &node.url, "token-a", "/v1/tasks?state=proving");
            let (_, list_b) = get(&c, &node.url, "token-b", "/v1/tasks?state=proving");
            if !list["tasks"].as_array().unwrap().is_empty()
                || !list_b["tasks"].as_array().unwrap().is_empty()
            {
                break true;
            }
            if start.elapsed() > Duration::from_secs(60) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if !proving {
            break;
        }
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..150)));
        node.kill9();
        kills_mid_proof += 1;
        println!("round {round}: killed the node mid-proof");
        node = Node::start(data.path(), &KEYS);
    }
    assert!(
        kills_mid_proof >= 3,
        "only {kills_mid_proof} kills landed mid-proof"
    );

    for (id, token) in &ids {
        let done = wait_final(
            &c,
            &node.url,
            token,
            std::slice::from_ref(id),
            Duration::from_secs(300),
        );
        assert_eq!(done[0]["state"], "proved", "{}", done[0]);
        let (_, log) = get(&c, &node.url, token, &format!("/v1/tasks/{id}/transitions"));
        let proved = log["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["to"] == "proved")
            .count();
        assert_eq!(proved, 1, "task {id} proved once: {log}");
        let (_, proof) = get(&c, &node.url, token, &format!("/v1/tasks/{id}/proof"));
        assert!(
            common::served_proof_verifies(&proof, &vk),
            "task {id}'s proof verifies"
        );
    }
    let mut per_owner: HashMap<&str, usize> = HashMap::new();
    for (_, token) in &ids {
        *per_owner.entry(token).or_default() += 1;
    }
    assert_eq!(per_owner.len(), 2);
}

#[test]
fn cli_client_registers_submits_and_waits() {
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    let tmp = tempfile::tempdir().unwrap();
    let name = "poseidon_preimage";
    let fornax = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(args)
            .env("FORNAX_NODE", &node.url)
            .env("FORNAX_TOKEN", "token-a")
            .output()
            .expect("fornax runs");
        assert!(!text(&out).contains("panicked"), "{}", text(&out));
        out
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    let out = fornax(&[
        &os("register"),
        circuit(name, "zkey").as_os_str(),
        &os("--wasm"),
        wasm(name).as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = fornax(&[&os("circuits")]);
    assert!(text(&out).contains(&id));

    let input = tmp.path().join("input.json");
    std::fs::write(&input, r#"{"preimage": ["5", "6"]}"#).unwrap();
    let out = fornax(&[&os("submit"), &os(&id), &os("--input"), input.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out));
    let task = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = fornax(&[
        &os("wait"),
        &os(&task),
        &os("--out"),
        tmp.path().as_os_str(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // Not on a terminal: a plain line per state change, no progress bar's escape codes.
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains(&format!("{task}: proved")), "{progress}");
    assert!(!progress.contains('\x1b'), "{progress:?}");
    let (proof, public) = (
        tmp.path().join(format!("{task}.proof.json")),
        tmp.path().join(format!("{task}.public.json")),
    );
    let out = snarkjs(&[sub("groth16"), sub("verify"), &vk(name), &public, &proof]);
    assert!(
        out.status.success() && text(&out).contains("OK"),
        "{}",
        text(&out)
    );
    let out = fornax(&[&os("status"), &os(&task)]);
    assert!(text(&out).contains("\"proved\""), "{}", text(&out));

    // Errors: the node's code and message, non-zero exit.
    let out = fornax(&[
        &os("submit"),
        &os("f00d"),
        &os("--input"),
        input.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("unknown_circuit"), "{}", text(&out));
    let out = fornax(&[&os("status"), &os("t0")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("task_not_found"), "{}", text(&out));
}

#[test]
fn rate_limits_per_key_and_the_openapi_document() {
    let data = tempfile::tempdir().unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--rate-limit", "5"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    // A bucket holds two seconds' worth: 10 calls pass at once, then 429s.
    let statuses: Vec<u16> = (0..30)
        .map(|_| get(&c, &node.url, "token-a", "/v1/circuits").0)
        .collect();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert!((15..=20).contains(&limited), "{statuses:?}");
    let (s, v) = get(&c, &node.url, "token-a", "/v1/circuits");
    assert_eq!((s, v["code"].as_str()), (429, Some("rate_limited")));
    // Another key is not affected.
    assert_eq!(get(&c, &node.url, "token-b", "/v1/circuits").0, 200);

    let (s, doc) = get(&c, &node.url, "token-a", "/openapi.json");
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    // Swagger UI at /docs over that document, everything it loads served by the node.
    let page = c.get(format!("{}/docs", node.url)).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(html.contains("/openapi.json"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page loads something from the network: {html}"
    );
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css"] {
        assert!(html.contains(asset), "{html}");
        let r = c.get(format!("{}/docs/{asset}", node.url)).send().unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(r.bytes().unwrap().len() > 10_000, "{asset}");
    }
    // Every operation the document describes is routed: without an API key each answers
    // 401, or its own answer where it is public, never the fallback's 404 or a 405.
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{}", node.url, path.replace("{id}", "x"));
            let r = c
                .request(method.to_uppercase().parse().unwrap(), url)
                .send()
                .unwrap();
            let status = r.status().as_u16();
            let body = r.text().unwrap_or_default();
            assert!(
                status != 405 && !(status == 404 && body.contains(r#""code":"not_found""#)),
                "{method} {path} is described but not routed: {status} {body}"
            );
            operations += 1;
        }
    }
    assert!(operations >= 21, "{operations} operations");
    // Every error code the API uses is in the document's enum.
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for code in [
        "invalid_json",
        "invalid_body",
        "invalid_input",
        "invalid_witness",
        "invalid_deadline",
        "invalid_query",
        "invalid_zkey",
        "invalid_wasm",
        "circuit_mismatch",
        "unknown_circuit",
        "task_not_found",
        "invalid_state",
        "payload_too_large",
        "unauthorized",
        "rate_limited",
        "not_found",
    ] {
        assert!(
            codes.contains(&code),
            "error code {code} is missing from openapi.json"
        );
    }
}

/// Registers the Poseidon preimage circuit (key and witness generator) as alice.
fn register_poseidon(c: &Client, url: &str) -> Value {
    let name = "poseidon_preimage";
    register(c, url, "token-a", &circuit(name, "zkey"), Some(&wasm(name))).1
}

/// A webhook receiver on loopback: records each request's headers and body, answers 500
/// to the first one and 200 after.
fn webhook_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<(HashMap<String, String>, String)>>>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (headers, body) = loop {
                let k = stream.read(&mut chunk).unwrap_or(0);
                if k == 0 {
                    break (HashMap::new(), String::new());
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let headers: HashMap<String, String> = text[..end]
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break (
                            headers,
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string(),
                        );
                    }
                }
            };
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            record.lock().unwrap().push((headers, body));
        }
    });
    (url, seen)
}

#[test]
fn witness_generators_run_within_the_nodes_budget() {
    // A budget far below what Poseidon's generator needs: the node refuses the input
    // with the reason, instead of running a tenant's code for as long as it likes.
    let data = tempfile::tempdir().unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--witness-fuel", "1000", "--witness-memory-mb", "64"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    let meta = register_poseidon(&c, &node.url);
    let (s, v) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": [3, 4]}}),
    );
    let refused = (400..500).contains(&s) && v["message"].as_str().unwrap().contains("budget");
    let failed = || {
        let id = v["id"].as_str().unwrap();
        let start = Instant::now();
        loop {
            let (_, t) = get(&c, &node.url, "token-a", &format!("/v1/tasks/{id}"));
            if t["state"] == "failed" {
                return t["failure"]["message"].as_str().unwrap().contains("budget");
            }
            assert!(
                t["state"] != "proved",
                "proved within 1000 instructions: {t}"
            );
            assert!(start.elapsed() < Duration::from_secs(60), "{t}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert!(refused || (s == 202 && failed()), "{s} {v}");
    // The same node with the default budget proves it.
    drop(node);
    let node = Node::start(data.path(), &KEYS);
    let (s, v) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": [3, 4]}}),
    );
    assert!(s == 202 || s == 200, "{s} {v}");
}

#[test]
fn secrets_come_from_the_environment_and_files() {
    let data = tempfile::tempdir().unwrap();
    let keys_file = data.path().join("api-keys");
    std::fs::write(&keys_file, "# tenants\ncarol = token-c\n\n").unwrap();
    let node = Node::start_until(
        &data.path().join("node"),
        &["--api-keys-file", keys_file.to_str().unwrap()],
        &[
            ("FORNAX_API_KEYS", "alice=token-a,bob=token-b"),
            ("FORNAX_METRICS_TOKEN", "metrics-token"),
        ],
        "fornax node listening on ",
    );
    let c = client();
    for (token, owner) in [
        ("token-a", "alice"),
        ("token-b", "bob"),
        ("token-c", "carol"),
    ] {
        let (s, v) = get(&c, &node.url, token, "/v1/webhook-secret");
        assert_eq!((s, v["owner"].as_str()), (200, Some(owner)), "{v}");
    }
    assert_eq!(get(&c, &node.url, "token-x", "/v1/circuits").0, 401);
    assert_eq!(
        get(&c, &node.url, "token-x", "/v1/webhook-secret").0,
        401,
        "a secret only for its owner"
    );
    // /metrics needs its own token: neither none nor an API key reads it.
    let metrics = |token: Option<&str>| {
        let mut r = c.get(format!("{}/metrics", node.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send().unwrap().status().as_u16()
    };
    assert_eq!(metrics(None), 401);
    assert_eq!(metrics(Some("token-a")), 401);
    assert_eq!(metrics(Some("metrics-token")), 200);
    // The webhook key was made owner-only in the data directory, and survives a restart.
    use std::os::unix::fs::PermissionsExt;
    let key = data.path().join("node/webhook.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = get(&c, &node.url, "token-a", "/v1/webhook-secret").1;
    drop(node);
    let node = Node::start_until(
        &data.path().join("node"),
        &[],
        &[("FORNAX_API_KEYS", "alice=token-a")],
        "fornax node listening on ",
    );
    assert_eq!(
        get(&c, &node.url, "token-a", "/v1/webhook-secret").1,
        before
    );
    assert_eq!(get(&c, &node.url, "token-b", "/v1/circuits").0, 401);
}

#[test]
fn webhooks_are_signed_and_retried() {
    let data = tempfile::tempdir().unwrap();
    // The receiver is on loopback: the operator allows private destinations.
    let mut args = KEYS.to_vec();
    args.push("--allow-private-webhooks");
    let node = Node::start(data.path(), &args);
    let c = client();
    let (hook, seen) = webhook_receiver();
    let meta = register_poseidon(&c, &node.url);
    let (s, task) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": [3, 4]}, "webhook": hook}),
    );
    assert_eq!(s, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    // Alice's webhook secret is her own, not her API key, and not Bob's.
    let (s, v) = get(&c, &node.url, "token-a", "/v1/webhook-secret");
    assert_eq!((s, v["owner"].as_str()), (200, Some("alice")), "{v}");
    let secret = v["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 64);
    assert_ne!(
        get(&c, &node.url, "token-b", "/v1/webhook-secret").1["secret"],
        secret.as_str()
    );
    // The first delivery fails and is retried a second later.
    let start = Instant::now();
    loop {
        let got = seen.lock().unwrap().clone();
        let proved = got.iter().find(|(_, body)| body.contains("\"proved\""));
        if let Some((headers, body)) = proved {
            let ts: u64 = headers["fornax-timestamp"].parse().unwrap();
            let expected = fornax_node::webhooks::signature(&secret, ts, body.as_bytes());
            assert_eq!(
                headers["fornax-signature"], expected,
                "signed with alice's webhook secret"
            );
            assert_ne!(
                headers["fornax-signature"],
                fornax_node::webhooks::signature("token-a", ts, body.as_bytes()),
                "not with her API key"
            );
            let t: Value = serde_json::from_str(body).unwrap();
            assert_eq!(t["id"], id.as_str());
            // The refused delivery came again (same body; a new timestamp and signature).
            let retried = got
                .iter()
                .any(|(_, b)| got.iter().filter(|(_, b2)| b2 == b).count() >= 2);
            if retried {
                break;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "deliveries so far: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, v) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": [3, 4]}, "webhook": "ftp://x"}),
    );
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_webhook")));
}

/// Request bodies are limited per route: with the defaults, a task body just over 64 MiB is
/// refused with 413 `payload_too_large` (a JSON body of hundreds of MiB would cost gigabytes
/// once parsed). The 1 MiB limit of the other routes is tested on FHE programs (`fhe.rs`).
#[test]
fn request_bodies_have_per_route_limits() {
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    let c = client();
    let post = |path: &str, len: usize| {
        let body = format!("{{\"x\": \"{}\"}}", "1".repeat(len));
        let r = c
            .post(format!("{}{path}", node.url))
            .bearer_auth("token-a")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap_or(Value::Null))
    };
    let (s, v) = post("/v1/tasks", (64 << 20) + (64 << 10));
    assert_eq!(
        (s, v["code"].as_str()),
        (413, Some("payload_too_large")),
        "{v}"
    );
    // Under the limits the body is read and judged on its content.
    let (s, v) = post("/v1/tasks", 1 << 20);
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_json")), "{v}");
}

/// Webhooks are no way into the node's network: without `--allow-private-webhooks`, a task
/// whose webhook points at loopback, a private network or the cloud metadata address is
/// refused with 400 `invalid_webhook`, and the receiver hears nothing.
#[test]
fn webhooks_to_private_addresses_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    let c = client();
    let (hook, seen) = webhook_receiver();
    let meta = register_poseidon(&c, &node.url);
    for url in [
        hook.as_str(),
        "http://localhost:9/x",
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:9/x",
    ] {
        let (s, v) = submit(
            &c,
            &node.url,
            "token-a",
            &json!({"circuit": meta["id"], "input": {"preimage": [3, 4]}, "webhook": url}),
        );
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("invalid_webhook")),
            "{url}: {v}"
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(seen.lock().unwrap().is_empty(), "the receiver was called");
}

#[test]
fn a_proof_that_cannot_fit_the_memory_budget_fails_with_its_reason() {
    let data = tempfile::tempdir().unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--memory-budget-mb", "0"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    let name = "poseidon_preimage";
    let (_, meta) = register(
        &c,
        &node.url,
        "token-a",
        &circuit(name, "zkey"),
        Some(&wasm(name)),
    );
    let (s, task) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": [1, 2]}}),
    );
    assert_eq!(s, 202);
    let done = wait_final(
        &c,
        &node.url,
        "token-a",
        &[task["id"].as_str().unwrap().to_string()],
        Duration::from_secs(30),
    );
    assert_eq!(done[0]["state"], "failed", "{}", done[0]);
    assert_eq!(
        done[0]["failure"]["code"], "insufficient_memory",
        "{}",
        done[0]
    );
}

#[test]
fn an_endless_witness_generator_is_stopped_at_the_job_timeout() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fx = fornax_bench::groth16_fixture(8, 3);
    let (zkey, wasm) = (tmp.path().join("spin.zkey"), tmp.path().join("spin.wasm"));
    std::fs::write(&zkey, fx.key.to_bytes()).unwrap();
    // Loads and takes no inputs, so the node accepts it; its witness computation never ends.
    let spin = fornax_prover::testing::endless_witness_generator(fx.key.n_vars as i32);
    std::fs::write(&wasm, spin).unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--job-timeout-s", "1", "--attempts", "2"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    let (s, meta) = register(&c, &node.url, "token-a", &zkey, Some(&wasm));
    assert!(s == 201 || s == 200, "{s} {meta}");
    let started = Instant::now();
    let (s, task) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {}}),
    );
    assert_eq!(s, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    // Before, the first attempt held its slot until the generator's instruction budget ran
    // out (2^40 instructions: tens of minutes), so the second never started.
    let done = wait_final(
        &c,
        &node.url,
        "token-a",
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    );
    assert_eq!(done[0]["state"], "failed", "{}", done[0]);
    assert_eq!(done[0]["failure"]["code"], "timeout", "{}", done[0]);
    assert_eq!(done[0]["failed_attempts"], 2, "{}", done[0]);
    wait_ready(&c, &node.url, started + Duration::from_secs(30));
}

#[test]
fn an_attempt_past_the_job_timeout_is_retried_then_fails_with_timeout() {
    let data = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (zkey, witness, _) = slow_circuit(tmp.path());
    let mut args = KEYS.to_vec();
    args.extend(["--job-timeout-s", "0.02", "--attempts", "2"]);
    let node = Node::start(data.path(), &args);
    let c = client();
    let (_, meta) = register(&c, &node.url, "token-a", &zkey, None);
    let witness = base64::engine::general_purpose::STANDARD.encode(witness);
    let (s, task) = submit(
        &c,
        &node.url,
        "token-a",
        &json!({"circuit": meta["id"], "witness": witness}),
    );
    assert_eq!(s, 202);
    let id = task["id"].as_str().unwrap().to_string();
    let done = wait_final(
        &c,
        &node.url,
        "token-a",
        std::slice::from_ref(&id),
        Duration::from_secs(60),
    );
    assert_eq!(done[0]["state"], "failed", "{}", done[0]);
    assert_eq!(done[0]["failure"]["code"], "timeout", "{}", done[0]);
    assert_eq!(done[0]["failed_attempts"], 2);
    let (_, log) = get(
        &c,
        &node.url,
        "token-a",
        &format!("/v1/tasks/{id}/transitions"),
    );
    let states: Vec<&str> = log["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["to"].as_str().unwrap())
        .collect();
    // The worker gives the first attempt back (the queue delivers the job again, the task
    // stays `proving`); the second timeout spends the task's attempts.
    assert_eq!(
        states,
        ["submitted", "scheduled", "proving", "failed"],
        "{log}"
    );
    // Once the stuck attempt returns, the node is ready again.
    wait_ready(&c, &node.url, Instant::now() + Duration::from_secs(30));
}

/// Waits until the node at `url` answers `/readyz` with 200, failing the test at `deadline`.
fn wait_ready(c: &Client, url: &str, deadline: Instant) {
    while get(c, url, "token-a", "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "the node stays not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Registers the Poseidon circuit on the node at `url`, proves one preimage through it and
/// returns the task id once the task is proved.
fn prove_one(url: &str, preimage: [u64; 2]) -> String {
    let c = client();
    let meta = register_poseidon(&c, url);
    let (s, task) = submit(
        &c,
        url,
        "token-a",
        &json!({"circuit": meta["id"], "input": {"preimage": preimage}}),
    );
    assert_eq!(s, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let done = wait_final(&c, url, "token-a", &[id.clone()], Duration::from_secs(60));
    assert_eq!(done[0]["state"], "proved", "{}", done[0]);
    id
}

/// `--log-format json`: every line the node logs is one JSON object, and the lines about a
/// task's job carry its task id (the worker's `job` span), so a log pipeline can follow one
/// task. Without `RUST_LOG` a service logs from `info` up.
#[test]
fn json_logs_parse_and_carry_task_ids() {
    let (data, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let log = logs.path().join("node.log");
    let mut args = KEYS.to_vec();
    args.extend(["--log-format", "json"]);
    let mut node = Node::start_logging_to(data.path(), &args, &log);
    let id = prove_one(&node.url, [5, 6]);
    // The worker logs the job after reporting it: give it a moment, then stop the node.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text.contains(&id) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    node.kill9();
    let events: Vec<Value> = lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!events.is_empty(), "the node logged nothing");
    for e in &events {
        assert!(e["level"].is_string() && e["timestamp"].is_string(), "{e}");
        assert!(e["fields"]["message"].is_string(), "{e}");
    }
    let about_the_task: Vec<&Value> = events
        .iter()
        .filter(|e| e["span"]["task"] == id.as_str() || e["fields"]["task"] == id.as_str())
        .collect();
    assert!(
        !about_the_task.is_empty(),
        "no log line carries task {id}: {events:?}"
    );
    assert!(
        about_the_task.iter().any(|e| e["span"]["job"].is_string()),
        "no line about task {id} names its job: {about_the_task:?}"
    );
}

/// `fornax config --print-defaults` documents every flag of `fornax node` (generated from
/// them), its commented file keys with their defaults make a file the node accepts, and
/// `fornax config --check` refuses an unknown key.
#[test]
fn the_config_reference_covers_every_node_flag_and_parses() {
    let fornax = fornax_out;
    let out = fornax(&["config", "--print-defaults"]);
    assert!(out.status.success(), "{out:?}");
    let reference = String::from_utf8(out.stdout).unwrap();
    let help = String::from_utf8(fornax(&["node", "--help"]).stdout).unwrap();
    // The options' own lines: `  --flag <VALUE>` or `  -x, --flag`.
    let flags: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("--") || (l.starts_with('-') && l.get(2..4) == Some(", ")))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("--")))
        // `--config` names the file; the other two are every command's (logging, tracing).
        .filter(|w| !["--help", "--config", "--log-format", "--otlp-endpoint"].contains(w))
        .collect();
    assert!(flags.len() > 30, "{flags:?}");
    for flag in &flags {
        assert!(
            reference.contains(&format!("flag {flag}")),
            "{flag} is not in the reference"
        );
    }
    // Every file key with a default, uncommented, is a file the node accepts.
    let file: String = reference
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| {
            l.starts_with('[')
                || l.split_once(" = ").is_some_and(|(k, v)| {
                    !v.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(file.lines().count() > 20, "{file}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fornax.toml");
    std::fs::write(&path, &file).unwrap();
    let out = fornax(&["config", "--check", path.to_str().unwrap()]);
    assert!(out.status.success(), "{file}\n{}", text(&out));
    std::fs::write(&path, "data_dir = \"d\"\nnonsense = 1\n").unwrap();
    let out = fornax(&["config", "--check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("unknown field") && text(&out).contains("`nonsense`"),
        "{}",
        text(&out)
    );
    // Every setting the file takes has its variable, FORNAX_ and its key in capitals.
    for line in reference.lines().filter(|l| l.contains(", file key ")) {
        let key = line
            .split(", file key ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        assert!(
            line.contains(&format!("environment FORNAX_{}", key.to_uppercase())),
            "{line}"
        );
    }
}

/// Every metric the Grafana dashboard (`ops/monitoring/grafana-dashboard.json`) queries is
/// exposed by a node at `/metrics` after one proof (the key holders' answer times need an FHE
/// node and a decryption: `sealed_bid_auction_with_a_lying_and_a_dying_key_holder` checks
/// them); the exposition is OpenMetrics, as Prometheus scrapes it.
#[test]
fn the_dashboard_queries_only_metrics_the_node_exposes() {
    let data = tempfile::tempdir().unwrap();
    let node = Node::start(data.path(), &KEYS);
    prove_one(&node.url, [7, 8]);
    let c = client();
    let (status, metrics) = get(&c, &node.url, "token-a", "/metrics");
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");
    let dashboard =
        std::fs::read_to_string(common::root().join("ops/monitoring/grafana-dashboard.json"))
            .unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("fornax_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                rest = &rest[at + name.len()..];
                names.insert(name);
            }
        }
    }
    assert!(names.len() >= 12, "{names:?}");
    // Key holders' and the chain poster's metrics need FHE and a chain: the fhe and chain
    // tests read them.
    let elsewhere = ["fornax_keyholder_", "fornax_chain_"];
    for name in names
        .iter()
        .filter(|n| !elsewhere.iter().any(|e| n.starts_with(e)))
    {
        let sampled = metrics
            .lines()
            .any(|l| l.starts_with(&format!("{name} ")) || l.starts_with(&format!("{name}{{")));
        assert!(
            sampled,
            "the dashboard queries {name}, which the node does not expose:\n{metrics}"
        );
    }
    // The job histogram has buckets per job role and device, from the proof above.
    assert!(
        metrics.contains("fornax_job_seconds_bucket{le=")
            || metrics.contains("fornax_job_seconds_bucket{job="),
        "{metrics}"
    );
}

/// `--otlp-endpoint`: a proof's trace reaches an OpenTelemetry collector over OTLP/HTTP:
/// the node's `task` span, carrying the task id, and under it the worker's `job` span.
#[test]
fn a_tasks_spans_are_exported_over_otlp_as_one_trace() {
    let collector = common::OtlpCollector::start();
    let data = tempfile::tempdir().unwrap();
    let mut args = KEYS.to_vec();
    args.extend(["--otlp-endpoint", collector.endpoint.as_str()]);
    let mut node = Node::start_until(
        data.path(),
        &args,
        common::OTLP_JSON,
        "fornax node listening on ",
    );
    let id = prove_one(&node.url, [9, 10]);
    let trace = collector.wait_for_trace(&id, 1, Duration::from_secs(30));
    node.kill9();
    let job = trace.iter().find(|s| s.name == "job").unwrap();
    assert_eq!(job.attributes["task"], id, "{trace:?}");
}

/// `fornax bench report`: a kernel run becomes one line figure per kernel and a bar figure
/// of speed-ups, a whole-process comparison a bar figure with its ratios, anything else a
/// row of numbers, and a broken file a named line; every figure the page shows is an SVG
/// with its marks. The committed results draw too.
#[test]
fn bench_report_draws_every_result_and_names_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let kernels = json!({
        "device": "Test CPU", "threads": 2, "commit": "abcdef1234567890", "command": "fornax bench --msm 12,16",
        "rows": [
            {"bench": "msm-g1", "log_size": 12, "fornax_s": 0.01, "baseline": "arkworks VariableBaseMSM", "baseline_s": 0.02, "speedup": 2.0, "reps": 3},
            {"bench": "msm-g1", "log_size": 16, "fornax_s": 0.5, "baseline": "arkworks VariableBaseMSM", "baseline_s": 2.0, "speedup": 4.0, "reps": 3},
            {"bench": "ntt", "log_size": 16, "fornax_s": 0.004, "baseline": "arkworks Radix2EvaluationDomain", "baseline_s": 0.012, "speedup": 3.0, "reps": 3}
        ]
    });
    let prove = json!({
        "commit": "abcdef1", "command": "fornax bench prove --baseline snarkjs",
        "fornax": {"command": "fornax prove", "wall_s": [0.5, 0.4, 0.6], "peak_rss_mib": [90.0, 91.0, 92.0]},
        "baseline": {"command": "/x/snarkjs groth16 prove", "wall_s": [4.0, 4.2, 3.8], "peak_rss_mib": [330.0, 331.0, 332.0]},
        "speedup": 8.0, "memory_ratio": 0.27
    });
    // Several peers at two sizes (`bench groth16 --peer …`).
    let row = |log: u32, fornax: f64, snarkjs: f64, ark: f64| {
        json!({
            "circuit": format!("/c{log}/c.zkey"), "log_domain": log,
            "fornax": {"median_wall_s": fornax},
            "peers": [
                {"peer": "snarkjs", "median_wall_s": snarkjs, "memory_ratio": 0.25},
                {"peer": "ark-groth16", "median_wall_s": ark, "memory_ratio": 0.6}
            ]
        })
    };
    let peers = json!({
        "commit": "abcdef1", "command": "fornax bench groth16 --peer snarkjs --peer ark-groth16",
        "rows": [row(16, 0.4, 4.0, 0.9), row(18, 1.2, 14.0, 3.0)]
    });
    let other = json!({"bench": "fhe", "pbs_per_s": 123.5, "command": "fornax bench fhe"});
    std::fs::write(results.join("q.json"), peers.to_string()).unwrap();
    // Scaling curves (`bench cluster`): two worker counts at one size.
    let curve = |workers: u32, saturated: f64| {
        json!({
            "log_constraints": 6, "workers": workers, "saturated_per_s": saturated,
            "points": [
                {"load": 0.5, "offered_per_s": saturated / 2.0, "achieved_per_s": saturated / 2.0, "p50_ms": 20.0, "p99_ms": 30.0},
                {"load": 1.0, "offered_per_s": saturated, "achieved_per_s": saturated * 0.9, "p50_ms": 60.0, "p99_ms": 140.0}
            ]
        })
    };
    let cluster = json!({
        "bench": "cluster", "commit": "abcdef1", "command": "fornax bench cluster --workers 1,2",
        "series": [curve(1, 10.0), curve(2, 18.5)]
    });
    std::fs::write(results.join("c.json"), cluster.to_string()).unwrap();
    let fhe = json!({
        "bench": "fhe-scaling", "commit": "abcdef1", "command": "fornax bench fhe --blocks 8,64",
        "points": [
            {"pbs": 8, "engine_pbs_per_s": 40.0, "tfhe_rs_pbs_per_s": 39.0},
            {"pbs": 64, "engine_pbs_per_s": 120.0, "tfhe_rs_pbs_per_s": 118.0}
        ]
    });
    std::fs::write(results.join("f.json"), fhe.to_string()).unwrap();
    std::fs::write(results.join("k.json"), kernels.to_string()).unwrap();
    std::fs::write(results.join("p.json"), prove.to_string()).unwrap();
    std::fs::write(results.join("o.json"), other.to_string()).unwrap();
    std::fs::write(results.join("bad.json"), "{").unwrap();
    let report = |from: &Path, to: &Path| {
        Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["bench", "report"])
            .arg(from)
            .arg("--out")
            .arg(to)
            .output()
            .unwrap()
    };
    let out_dir = dir.path().join("report");
    let out = report(&results, &out_dir);
    assert!(out.status.success(), "{}", text(&out));
    let page = std::fs::read_to_string(out_dir.join("index.html")).unwrap();
    let images: Vec<&str> = page
        .split("<img src=\"")
        .skip(1)
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    // Files in reverse name order (newest first); msm-g1 has two sizes (a line figure),
    // ntt one (bars only).
    assert_eq!(
        images,
        [
            "q-lines.svg",
            "q-speedup.svg",
            "p.svg",
            "k-msm-g1.svg",
            "k-speedup.svg",
            "f.svg",
            "c-2e6-achieved_per_s.svg",
            "c-2e6-p99_ms.svg"
        ],
        "{page}"
    );
    let svg = |name: &str| std::fs::read_to_string(out_dir.join(name)).unwrap();
    assert!(svg("k-msm-g1.svg").starts_with("<svg") && svg("k-msm-g1.svg").contains("<polyline"));
    assert!(svg("k-speedup.svg").matches("<rect").count() >= 3);
    assert!(svg("p.svg").contains("snarkjs groth16 prove"));
    // One line per prover, and a bar per peer and size.
    let lines = svg("q-lines.svg");
    assert_eq!(lines.matches("stroke-width=\"2\"").count(), 3, "{lines}");
    for name in ["Fornax", "snarkjs", "ark-groth16"] {
        assert!(lines.contains(name), "{name} is not in the legend");
    }
    assert!(svg("q-speedup.svg").matches("<rect").count() >= 4);
    for figure in ["c-2e6-achieved_per_s.svg", "c-2e6-p99_ms.svg"] {
        let lines = svg(figure);
        assert_eq!(lines.matches("stroke-width=\"2\"").count(), 2, "{lines}");
        assert!(lines.contains("2 workers"), "{lines}");
    }
    for expected in [
        "4.00× arkworks VariableBaseMSM at 2^16",
        "up to 4.00×",
        "8.00× as fast, 0.27× the memory",
        "10.00× snarkjs at 2^16 in 0.25× the memory",
        "11.67× snarkjs at 2^18",
        "2 workers: saturated at 18.5 proofs/s",
        "120 KS-PBS/s at 64 PBS (tfhe-rs 118/s)",
        "Test CPU, 2 threads · commit abcdef123456 · fornax bench --msm 12,16 · k.json",
        "pbs_per_s = 123.5",
        "bad.json",
    ] {
        assert!(
            page.contains(expected),
            "{expected} is not in the page:\n{page}"
        );
    }
    // The committed results all read and draw.
    let out = report(
        &common::root().join("bench/results"),
        &dir.path().join("all"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("0 unreadable"), "{}", text(&out));
}

/// Runs this build's `fornax` with `args`.
fn fornax_out(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fornax"))
        .args(args)
        .output()
        .unwrap()
}

/// `fornax bench --check FILE` re-runs the command a result file records with this build
/// and prints each figure then and now: a kernel run, and a result of another bench (the
/// FPGA model's); a file whose command is not a `fornax bench … --json` run is refused with
/// a message.
#[test]
fn bench_check_reruns_a_result_and_says_how_far_it_moved() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k.json");
    let f = file.to_str().unwrap();
    let out = fornax_out(&[
        "bench",
        "--msm",
        "10",
        "--ntt",
        "10",
        "--groth16",
        "10",
        "--reps",
        "1",
        "--json",
        f,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let recorded: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(recorded["machine"]["logical_cpus"].as_u64().unwrap() >= 1);
    assert_eq!(recorded["argv"][1], "bench", "{recorded}");
    let out = fornax_out(&["bench", "--check", f]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    for line in [
        "bench=msm-g1 log_size=10",
        "bench=ntt log_size=10",
        "bench=groth16 log_size=10",
        "  speedup",
        "largest move of a ratio: ",
    ] {
        assert!(said.contains(line), "{line} missing:\n{said}");
    }

    let model = dir.path().join("m.json");
    let out = fornax_out(&["bench", "fpga-model", "--json", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = fornax_out(&["bench", "--check", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    for line in ["part=u55c log_size=24", "  total_s", "cycles_per_addition"] {
        assert!(said.contains(line), "{line} missing:\n{said}");
    }

    std::fs::write(
        &file,
        json!({"command": "snarkjs groth16 prove"}).to_string(),
    )
    .unwrap();
    let out = fornax_out(&["bench", "--check", f]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("only a `fornax bench … --json FILE` run can be re-run"),
        "{}",
        text(&out)
    );
}

/// `fornax bench msm|ntt --peer …`: the peer is arkworks on the CPU and Fornax's CPU
/// backend beside a named device; `--peer cpu` without a device (the CPU beside itself), a
/// size the device cannot run, and an unknown peer are refused with exit 2 and a message.
/// `fornax bench fhe` takes `--peer tfhe-rs` and no other.
#[test]
fn bench_kernels_take_a_peer() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.json");
    let out = fornax_out(&[
        "bench",
        "msm",
        "--log",
        "8",
        "--device",
        "cpu:0",
        "--reps",
        "1",
        "--json",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(doc["peer"], "cpu", "{doc}");
    assert_eq!(doc["rows"][0]["bench"], "msm-g1", "{doc}");
    assert_eq!(doc["rows"][0]["baseline"], "fornax cpu:0", "{doc}");
    let out = fornax_out(&[
        "bench", "ntt", "--log", "8", "--reps", "1", "--peer", "arkworks",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("arkworks Radix2EvaluationDomain"),
        "{}",
        text(&out)
    );
    for (args, says) in [
        (
            &["bench", "ntt", "--log", "8", "--peer", "cpu"][..],
            "compare the CPU backend with itself",
        ),
        (
            &["bench", "ntt", "--log", "8", "--peer", "snarkjs"][..],
            "[possible values: arkworks, cpu]",
        ),
        (&["bench", "ntt", "--log", "29"][..], "2^29"),
        (
            &["bench", "fhe", "--peer", "concrete"][..],
            "[possible values: tfhe-rs]",
        ),
    ] {
        let out = fornax_out(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    }
}
