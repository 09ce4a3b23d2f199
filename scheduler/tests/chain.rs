//! The node with a chain: tasks created on a real anvil are proved, posted, verified and
//! paid on chain; rejected results fail with the revert reason; a node killed mid-post
//! posts exactly once after its restart; a node pointed at a chain without the contracts
//! says so and exits.

mod common;

use common::Node;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use fornax_chain_adapter::anvil::{Anvil, DEV_KEY, DEV_KEY_2};
use fornax_chain_adapter::client::{self, settlement_count};
use fornax_chain_adapter::Chain;
use fornax_prover::json::{read_json, VerificationKeyJson};
use rand::{Rng, SeedableRng};
use reqwest::blocking::{multipart, Client};
use serde_json::{json, Value};

const TOKEN: &str = "chain-token";

/// A node with an API key, once it is connected to its chain.
fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Node {
    let key = format!("t={TOKEN}");
    let args: Vec<&str> = ["--api-key", key.as_str()]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    Node::start_until(data, &args, env, "chain ")
}

fn http() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

fn get_json(c: &Client, url: &str, path: &str) -> Value {
    c.get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

fn register_merkle(c: &Client, url: &str) {
    let form = multipart::Form::new()
        .part(
            "zkey",
            multipart::Part::bytes(
                std::fs::read(common::circuit("merkle_inclusion", "zkey")).unwrap(),
            ),
        )
        .part(
            "wasm",
            multipart::Part::bytes(std::fs::read(common::wasm("merkle_inclusion")).unwrap()),
        );
    let r = c
        .post(format!("{url}/v1/circuits"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "register: {}", r.text().unwrap());
}

/// The node's task for on-chain task `id`, once it exists.
fn node_task(c: &Client, url: &str, id: U256) -> Option<Value> {
    let list: Value = c
        .get(format!("{url}/v1/tasks?limit=1000"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    list["tasks"].as_array().or(list.as_array()).and_then(|ts| {
        ts.iter()
            .find(|t| t["chain"]["task"] == json!(id.to_string()))
            .cloned()
    })
}

fn wait_for(
    c: &Client,
    url: &str,
    id: U256,
    what: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        if let Some(t) = node_task(c, url, id) {
            if done(&t) {
                return t;
            }
            assert!(
                start.elapsed() < limit,
                "task {id} not {what} after {limit:?}: {t}"
            );
        } else {
            assert!(start.elapsed() < limit, "task {id} never reached the node");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn merkle_vk() -> fornax_prover::VerifyingKey {
    let path = common::vk("merkle_inclusion");
    read_json::<VerificationKeyJson>(&path)
        .unwrap()
        .to_key("vk")
        .unwrap()
}

/// A random merkle input and its leaf (the public input).
fn random_input(rng: &mut impl Rng) -> (Value, U256) {
    let leaf: u64 = rng.gen();
    let input = json!({
        "leaf": leaf.to_string(),
        "pathElements": (0..4).map(|_| rng.gen::<u64>().to_string()).collect::<Vec<_>>(),
        "pathIndices": (0..4).map(|_| rng.gen_range(0..2u8).to_string()).collect::<Vec<_>>(),
    });
    (input, U256::from(leaf))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn create(
    dapp: &Chain,
    market: Address,
    circuit: B256,
    input: &Value,
    public: U256,
    ttl: u64,
) -> U256 {
    create_paying(
        dapp,
        market,
        circuit,
        input,
        public,
        ttl,
        U256::from(10u64).pow(U256::from(16)),
    )
    .await
}

/// [`create`] with `fee` wei in escrow.
async fn create_paying(
    dapp: &Chain,
    market: Address,
    circuit: B256,
    input: &Value,
    public: U256,
    ttl: u64,
    fee: U256,
) -> U256 {
    let b = dapp
        .provider
        .get_block_by_number(Default::default())
        .await
        .unwrap()
        .unwrap();
    dapp.create_task(
        market,
        circuit,
        vec![public],
        input.to_string().into_bytes(),
        b.header.timestamp + ttl,
        fee,
    )
    .await
    .unwrap()
}

#[test]
fn dev_node_proves_chain_tasks_and_the_contract_verifies_and_pays() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(common::seed());
    let data = tempfile::tempdir().unwrap();
    // The worker runs as a SIMULATED TEE: registered on the dev chain, every result signed.
    let key = format!("t={TOKEN}");
    let args = [
        "--api-key",
        key.as_str(),
        "--dev",
        "--insecure-simulated-tee",
    ];
    let node = Node::start_until(data.path(), &args, &[], "worker ");
    let rpc = node
        .line("dev chain: anvil at ")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let market: Address = node.line("TaskMarket ").parse().unwrap();
    let c = http();
    register_merkle(&c, &node.url);
    let rt = rt();
    let dapp = Chain::connect(&rpc, DEV_KEY_2).unwrap();
    let prover = Chain::connect(&rpc, DEV_KEY).unwrap().from;
    let circuit = rt
        .block_on(dapp.register_circuit(market, &merkle_vk(), 1))
        .unwrap();
    let before = rt
        .block_on(async { dapp.provider.get_balance(prover).await })
        .unwrap();

    let (input, leaf) = random_input(&mut rng);
    // A task whose fee cannot pay for its gas is not taken (created first: seen first).
    let cheap = rt.block_on(create_paying(
        &dapp,
        market,
        circuit,
        &input,
        leaf,
        600,
        U256::from(1),
    ));
    let good = rt.block_on(create(&dapp, market, circuit, &input, leaf, 600));
    // The published input's leaf differs from the public input the task fixes: the proof
    // the node makes carries the wrong leaf and the market refuses it.
    let (input2, _) = random_input(&mut rng);
    let bad = rt.block_on(create(
        &dapp,
        market,
        circuit,
        &input2,
        leaf + U256::from(1),
        600,
    ));

    let t = wait_for(
        &c,
        &node.url,
        good,
        "settled",
        Duration::from_secs(120),
        |t| t["state"] == "settled",
    );
    let s = rt
        .block_on(client::settlement(&dapp.provider, market, good))
        .unwrap()
        .expect("settled on chain");
    assert_eq!(s.prover, prover);
    assert_eq!(
        rt.block_on(client::task(&dapp.provider, market, good))
            .unwrap()
            .prover,
        prover,
        "locked by the node before it sent the result"
    );
    assert!(
        node_task(&c, &node.url, cheap).is_none(),
        "a task paying 1 wei was taken"
    );
    assert_eq!(
        rt.block_on(client::task(&dapp.provider, market, cheap))
            .unwrap()
            .status_name(),
        "open"
    );
    assert_eq!(t["chain"]["settled_tx"], json!(s.tx.to_string()));
    assert_eq!(
        t["chain"]["outputs"],
        json!([s.outputs[0].to_string()]),
        "the node's result is the chain's"
    );
    let node_id = t["id"].as_str().unwrap();
    let proof = get_json(&c, &node.url, &format!("/v1/tasks/{node_id}/proof"));
    assert_eq!(
        proof["public"],
        json!([s.outputs[0].to_string(), leaf.to_string()])
    );
    assert_eq!(
        rt.block_on(settlement_count(&dapp.provider, market, good))
            .unwrap(),
        1
    );
    let after = rt
        .block_on(async { dapp.provider.get_balance(prover).await })
        .unwrap();
    assert!(after > before, "the prover was not paid");
    // Everything the poster sent is mined: its nonce lag reads 0.
    let metrics = c
        .get(format!("{}/metrics", node.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.lines().any(|l| l == "fornax_chain_nonce_lag 0"),
        "{metrics}"
    );
    // The attested worker signed the result; the registry recorded it in sequence.
    let registry: Address = node.line("WorkerRegistry ").parse().unwrap();
    let worker: Address = node
        .line("worker ")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let t = wait_for(
        &c,
        &node.url,
        good,
        "signed",
        Duration::from_secs(60),
        |t| t.get("signed").is_some(),
    );
    let signed: fornax_enclave::SignedResult = serde_json::from_value(t["signed"].clone()).unwrap();
    assert_eq!(t["signed"]["tee"], "SIMULATED", "labelled in the API");
    assert_eq!(signed.worker, worker);
    assert_eq!(
        signed.task_id,
        alloy::primitives::keccak256(node_id.as_bytes())
    );
    let domain = fornax_enclave::Domain {
        chain_id: 31337,
        registry,
    };
    let hash = fornax_enclave::results::result_hash(
        &domain,
        signed.worker,
        signed.sequence,
        signed.task_id,
        signed.result_digest,
    );
    assert_eq!(
        fornax_enclave::recover_signer(hash, &signed.signature),
        Some(worker)
    );
    let record = rt.block_on(dapp.worker(registry, worker)).unwrap();
    assert!(record.attestation.simulated, "labelled on chain");
    assert!(record.sequence >= signed.sequence, "recorded on chain");
    let log = get_json(&c, &node.url, &format!("/v1/tasks/{node_id}/transitions"));
    let states: Vec<&str> = log
        .as_array()
        .or(log["transitions"].as_array())
        .unwrap()
        .iter()
        .map(|x| x["to"].as_str().unwrap())
        .collect();
    assert!(
        states.ends_with(&["proving", "posting", "settled"]),
        "{states:?}"
    );

    let f = wait_for(
        &c,
        &node.url,
        bad,
        "failed",
        Duration::from_secs(120),
        |t| t["state"] == "failed",
    );
    assert_eq!(f["failure"]["code"], "chain_rejected", "{f}");
    assert!(
        f["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("InputsMismatch"),
        "{f}"
    );
    assert_eq!(
        rt.block_on(client::task(&dapp.provider, market, bad))
            .unwrap()
            .status_name(),
        "open"
    );
    // The refused proof is not served: whoever read it could settle the task with it.
    let r = c
        .get(format!(
            "{}/v1/tasks/{}/proof",
            node.url,
            f["id"].as_str().unwrap()
        ))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 409, "a chain task's proof before settlement");
    assert_eq!(
        r.json::<serde_json::Value>().unwrap()["code"],
        "proof_not_ready"
    );
    // A chain task is not the API caller's to cancel.
    let r = c
        .delete(format!(
            "{}/v1/tasks/{}",
            node.url,
            f["id"].as_str().unwrap()
        ))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert!(r.status() == 409 || r.status() == 404, "{}", r.status());
}

#[test]
fn a_node_killed_while_posting_posts_exactly_once_after_restart() {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(common::seed());
    let rt = rt();
    // A block every 3 s, two confirmations: the post sits pending long enough to kill it.
    let anvil = Anvil::spawn(&Anvil::binary(&common::root()), 3).unwrap();
    let operator = Chain::connect(&anvil.url(), DEV_KEY).unwrap();
    let d = rt.block_on(operator.deploy(true)).unwrap();
    let dapp = Chain::connect(&anvil.url(), DEV_KEY_2).unwrap();
    let circuit = rt
        .block_on(dapp.register_circuit(d.market, &merkle_vk(), 1))
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let (market, registry) = (d.market.to_string(), d.registry.to_string());
    let args = [
        "--chain-rpc",
        &anvil.url(),
        "--chain-id",
        "31337",
        "--market",
        &market,
        "--registry",
        &registry,
        "--confirmations",
        "2",
        "--chain-from-block",
        "0",
    ];
    let env = [("FORNAX_CHAIN_KEY", DEV_KEY)];
    let mut node = start(data.path(), &args, &env);
    let c = http();
    register_merkle(&c, &node.url);
    let nonce = rt
        .block_on(async { dapp.provider.get_transaction_count(operator.from).await })
        .unwrap();
    let (input, leaf) = random_input(&mut rng);
    let id = rt.block_on(create(&dapp, d.market, circuit, &input, leaf, 600));
    let t = wait_for(
        &c,
        &node.url,
        id,
        "broadcast",
        Duration::from_secs(120),
        |t| {
            t["state"] == "posting"
                && t["chain"]["journal"]["action"] == "settle"
                && t["chain"]["journal"]["txs"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
        },
    );
    node.kill9();
    let sent = t["chain"]["journal"]["txs"][0]
        .as_str()
        .unwrap()
        .to_string();
    eprintln!("killed the node with transaction {sent} pending");

    let node = start(data.path(), &args, &env);
    let t = wait_for(
        &c,
        &node.url,
        id,
        "settled",
        Duration::from_secs(120),
        |t| t["state"] == "settled",
    );
    assert_eq!(
        t["chain"]["settled_tx"],
        json!(sent),
        "settled by another transaction than the journaled one"
    );
    assert_eq!(
        rt.block_on(settlement_count(&dapp.provider, d.market, id))
            .unwrap(),
        1
    );
    let used = rt
        .block_on(async { dapp.provider.get_transaction_count(operator.from).await })
        .unwrap()
        - nonce;
    assert_eq!(
        used, 2,
        "the node sent {used} transactions for one result (a lock and a settlement expected)"
    );
}

#[test]
fn a_node_pointed_at_a_chain_without_the_contracts_says_so() {
    let anvil = Anvil::spawn(&Anvil::binary(&common::root()), 0).unwrap();
    let data = tempfile::tempdir().unwrap();
    let nowhere = "0x000000000000000000000000000000000000dEaD";
    let url = anvil.url();
    let run = |chain_args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_fornax"))
            .args(["node", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .args([
                "--chain-rpc",
                &url,
                "--market",
                nowhere,
                "--registry",
                nowhere,
            ])
            .args(chain_args)
            .env("FORNAX_CHAIN_KEY", DEV_KEY)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{}", common::text(&out));
        common::text(&out)
    };
    let text = run(&["--chain-id", "31337"]);
    assert!(
        text.contains(
            "no TaskMarket contract at 0x000000000000000000000000000000000000dEaD on chain 31337"
        ),
        "{text}"
    );
    let text = run(&[]);
    assert!(text.contains("--chain-rpc needs --chain-id too"), "{text}");
}
