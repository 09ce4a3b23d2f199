//! The chain adapter against a real anvil: deployment, circuit registration, the poster's
//! exactly-once settlement under reorgs, RPC failures and restarts, reverts with their
//! reasons, expiry and refunds, and the listener.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use ark_bn254::Fr;
use ark_ff::UniformRand;
use fornax_chain_adapter::anvil::{Anvil, DEV_KEY, DEV_KEY_2};
use fornax_chain_adapter::bindings::TaskMarket;
use fornax_chain_adapter::client::{self, settlement_count};
use fornax_chain_adapter::verifier::{fr_word, proof_words};
use fornax_chain_adapter::{
    Action, Chain, ChainConfig, ChainError, Listener, PostJournal, PostRequest, Poster,
    PosterConfig,
};
use fornax_kernels::DeviceRegistry;
use fornax_prover::witness::{parse_inputs, WitnessCalculator};
use fornax_prover::{LocalExecutor, PreparedKey, ProvingKey, VerifyingKey};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(root().join("ops/circuits.sh"))
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ops/circuits.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        root().join(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
    })
}

fn seed() -> u64 {
    let seed = std::env::var("FORNAX_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("seed {seed} (FORNAX_SEED={seed} repeats this test's inputs)");
    seed
}

/// The merkle-inclusion circuit: key, verifying key, witness generator.
struct Circuit {
    key: PreparedKey,
    vk: VerifyingKey,
    calc: Mutex<WitnessCalculator>,
    exec: LocalExecutor,
}

fn circuit() -> &'static Circuit {
    static C: OnceLock<Circuit> = OnceLock::new();
    C.get_or_init(|| {
        let dir = fixtures().join("merkle_inclusion");
        let pk = ProvingKey::read(&dir.join("merkle_inclusion.zkey")).unwrap();
        let vk = pk.verifying_key();
        let exec = LocalExecutor::new(DeviceRegistry::discover());
        let key = exec.prepare("merkle", pk).unwrap();
        let calc = WitnessCalculator::read(&dir.join("merkle_inclusion_js/merkle_inclusion.wasm"))
            .unwrap();
        Circuit {
            key,
            vk,
            calc: Mutex::new(calc),
            exec,
        }
    })
}

/// A random input, its proof and signals ([root, leaf]).
fn prove(rng: &mut ChaCha20Rng) -> (serde_json::Value, [U256; 8], Vec<U256>) {
    let c = circuit();
    let mut fr = || Fr::rand(rng).to_string();
    let input = serde_json::json!({
        "leaf": fr(),
        "pathElements": [fr(), fr(), fr(), fr()],
        "pathIndices": (0..4).map(|_| rng.gen_range(0..2u8).to_string()).collect::<Vec<_>>(),
    });
    let w = c
        .calc
        .lock()
        .unwrap()
        .calculate("input", &parse_inputs("input", &input).unwrap())
        .unwrap();
    let (proof, public, _) = c.exec.prove(&c.key, w, rng).unwrap();
    (
        input,
        proof_words(&proof),
        public.into_iter().map(fr_word).collect(),
    )
}

struct Env {
    anvil: Anvil,
    dapp: Chain,
    cfg: ChainConfig,
    circuit: B256,
}

async fn env(block_time: u64, confirmations: u64) -> Env {
    let anvil =
        Anvil::spawn(&Anvil::binary(&root()), block_time).expect("anvil (run ops/setup.sh)");
    let operator = Chain::connect(&anvil.url(), DEV_KEY).unwrap();
    let d = operator.deploy(true).await.unwrap();
    let circuit = operator
        .register_circuit(d.market, &circuit().vk, 1)
        .await
        .unwrap();
    let dapp = Chain::connect(&anvil.url(), DEV_KEY_2).unwrap();
    let cfg = ChainConfig {
        rpc_url: anvil.url(),
        chain_id: 31337,
        market: d.market,
        registry: d.registry,
        key: DEV_KEY.into(),
        confirmations,
    };
    client::check(&operator.provider, &cfg).await.unwrap();
    Env {
        anvil,
        dapp,
        cfg,
        circuit,
    }
}

fn fast() -> PosterConfig {
    PosterConfig {
        poll: Duration::from_millis(100),
        max_backoff: Duration::from_millis(500),
        ..Default::default()
    }
}

async fn now(e: &Env) -> u64 {
    let b = e
        .dapp
        .provider
        .get_block_by_number(Default::default())
        .await
        .unwrap()
        .unwrap();
    b.header.timestamp
}

async fn create(e: &Env, leaf: U256, input: &serde_json::Value, ttl: u64) -> U256 {
    let deadline = now(e).await + ttl;
    e.dapp
        .create_task(
            e.cfg.market,
            e.circuit,
            vec![leaf],
            input.to_string().into_bytes(),
            deadline,
            U256::from(10u64).pow(U256::from(16)),
        )
        .await
        .unwrap()
}

/// A chain (anvil with `block_time`, `confirmations`) with one task of a fresh random
/// input: the task's id, a valid proof and its signals, and the rng for more.
async fn one_task(
    block_time: u64,
    confirmations: u64,
    ttl: u64,
) -> (Env, U256, PostRequest, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed());
    let e = env(block_time, confirmations).await;
    let (input, proof, signals) = prove(&mut rng);
    let id = create(&e, signals[1], &input, ttl).await;
    let req = PostRequest {
        task: id,
        proof,
        signals,
    };
    (e, id, req, rng)
}

async fn assert_settled_once(e: &Env, id: U256) {
    let n = settlement_count(&e.dapp.provider, e.cfg.market, id)
        .await
        .unwrap();
    assert_eq!(n, 1, "task {id} settled {n} times on the canonical chain");
}

/// The receipt of task `id`'s `lockTask`, found by its `TaskLocked` event.
async fn lock_receipt(e: &Env, id: U256) -> alloy::rpc::types::TransactionReceipt {
    use alloy::sol_types::SolEvent;
    let filter = alloy::rpc::types::Filter::new()
        .address(e.cfg.market)
        .event_signature(TaskMarket::TaskLocked::SIGNATURE_HASH)
        .topic1(B256::from(id))
        .from_block(0);
    let logs = e.dapp.provider.get_logs(&filter).await.unwrap();
    assert_eq!(logs.len(), 1, "task {id} locked {} times", logs.len());
    let tx = logs[0].transaction_hash.unwrap();
    e.dapp
        .provider
        .get_transaction_receipt(tx)
        .await
        .unwrap()
        .unwrap()
}

/// Locks task `id` for the poster's account (`DEV_KEY`), as a poster would.
async fn lock_for_poster(e: &Env, id: U256) {
    let prover = Chain::connect(&e.anvil.url(), DEV_KEY).unwrap();
    let t = client::task(&e.dapp.provider, e.cfg.market, id)
        .await
        .unwrap();
    TaskMarket::new(e.cfg.market, &prover.provider)
        .lockTask(id)
        .value(t.required_collateral)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
}

fn no_journal() -> impl Fn(&PostJournal) + Sync {
    |_| {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settles_once_pays_the_prover_and_the_listener_sees_the_task() {
    let mut rng = ChaCha20Rng::seed_from_u64(seed());
    let e = env(0, 1).await;
    let (input, proof, signals) = prove(&mut rng);
    let mut listener = Listener::new(e.dapp.provider.clone(), e.cfg.market, 1, 0);
    let id = create(&e, signals[1], &input, 3600).await;
    let created = listener.poll().await.unwrap();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].task, id);
    assert_eq!(created[0].circuit, e.circuit);
    assert_eq!(created[0].public_inputs, vec![signals[1]]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&created[0].input).unwrap(),
        input
    );
    assert!(
        listener.poll().await.unwrap().is_empty(),
        "an event delivered twice"
    );

    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let before = e.dapp.provider.get_balance(poster.address()).await.unwrap();
    let req = PostRequest {
        task: id,
        proof,
        signals: signals.clone(),
    };
    let mut journal = PostJournal::default();
    let s = poster
        .post(&req, &mut journal, &no_journal())
        .await
        .unwrap();
    assert_eq!(
        s.outputs,
        vec![signals[0]],
        "the result is the circuit's output"
    );
    assert_eq!(s.prover, poster.address());
    let receipt = e
        .dapp
        .provider
        .get_transaction_receipt(s.tx)
        .await
        .unwrap()
        .unwrap();
    eprintln!(
        "gas submitResult transaction (21000 + calldata + execution): {}",
        receipt.gas_used
    );
    assert!(
        receipt.gas_used <= 260_000,
        "submitResult used {} gas",
        receipt.gas_used
    );
    // The poster locked the task before it sent the result: only it could settle it.
    let t = client::task(&e.dapp.provider, e.cfg.market, id)
        .await
        .unwrap();
    assert_eq!(t.prover, poster.address(), "locked by the poster");
    let lock = lock_receipt(&e, id).await;
    assert_eq!(lock.from, poster.address());
    eprintln!("gas lockTask transaction: {}", lock.gas_used);
    let after = e.dapp.provider.get_balance(poster.address()).await.unwrap();
    let cost = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price)
        + U256::from(lock.gas_used) * U256::from(lock.effective_gas_price);
    assert_eq!(
        after + cost - before,
        U256::from(10u64).pow(U256::from(16)),
        "paid the fee, and the collateral came back"
    );
    // Posting again changes nothing and sends nothing.
    let nonce = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap();
    let again = poster
        .post(&req, &mut journal, &no_journal())
        .await
        .unwrap();
    assert_eq!(again.tx, s.tx);
    assert_eq!(
        e.dapp
            .provider
            .get_transaction_count(poster.address())
            .await
            .unwrap(),
        nonce
    );
    assert_settled_once(&e, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_result_fails_with_its_reason_and_spends_nothing() {
    let (e, id, mut req, mut rng) = one_task(0, 1, 3600).await;
    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let nonce = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap();
    // -C: a valid point, a wrong proof.
    let q = U256::from_str_radix(
        "21888242871839275222246405745257275088696311157297823662689037894645226208583",
        10,
    )
    .unwrap();
    req.proof[7] = q - req.proof[7];
    let err = poster
        .post(&req, &mut PostJournal::default(), &no_journal())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted(r) if r.starts_with("InvalidProof")),
        "{err}"
    );
    // Another task's signals: the inputs do not match.
    let (_, proof2, signals2) = prove(&mut rng);
    let req = PostRequest {
        task: id,
        proof: proof2,
        signals: signals2,
    };
    let err = poster
        .post(&req, &mut PostJournal::default(), &no_journal())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted(r) if r.starts_with("InputsMismatch")),
        "{err}"
    );
    assert_eq!(
        e.dapp
            .provider
            .get_transaction_count(poster.address())
            .await
            .unwrap(),
        nonce,
        "gas spent on a rejected result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_deadline_the_requester_is_refunded_and_posting_fails() {
    let (e, id, req, _) = one_task(0, 1, 60).await;
    let _: serde_json::Value = e
        .dapp
        .provider
        .raw_request("evm_increaseTime".into(), (120u64,))
        .await
        .unwrap();
    let _: serde_json::Value = e
        .dapp
        .provider
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();
    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let err = poster
        .post(&req, &mut PostJournal::default(), &no_journal())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted(r) if r.starts_with("DeadlinePassed")),
        "{err}"
    );
    let before = e.dapp.provider.get_balance(e.dapp.from).await.unwrap();
    e.dapp.expire(e.cfg.market, id).await.unwrap();
    let after = e.dapp.provider.get_balance(e.dapp.from).await.unwrap();
    assert!(after > before, "no refund");
    let t = client::task(&e.dapp.provider, e.cfg.market, id)
        .await
        .unwrap();
    assert_eq!(t.status_name(), "expired");
    let err = poster
        .post(&req, &mut PostJournal::default(), &no_journal())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChainError::Reverted(r) if r.contains("expired")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_that_drops_the_receipt_gets_the_result_posted_again() {
    // A block a second, three confirmations: the settlement sits unconfirmed for ~2 s.
    let (e, id, req, _) = one_task(1, 3, 3600).await;
    let snapshot: U256 = e
        .dapp
        .provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap();
    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let watcher = {
        let p = e.dapp.provider.clone();
        let market = e.cfg.market;
        tokio::spawn(async move {
            // As soon as the settlement is mined, revert the chain to before it.
            loop {
                if let Some(s) = client::settlement(&p, market, id).await.unwrap() {
                    let ok: bool = p
                        .raw_request("evm_revert".into(), (snapshot,))
                        .await
                        .unwrap();
                    assert!(ok);
                    return s.tx;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let s = poster
        .post(&req, &mut PostJournal::default(), &no_journal())
        .await
        .unwrap();
    let dropped = watcher.await.unwrap();
    assert!(
        e.dapp
            .provider
            .get_transaction_receipt(dropped)
            .await
            .unwrap()
            .is_none()
            || s.tx == dropped
    );
    assert_eq!(
        settlement_count(&e.dapp.provider, e.cfg.market, id)
            .await
            .unwrap(),
        1,
        "settled once on the canonical chain"
    );
    assert_eq!(
        client::task(&e.dapp.provider, e.cfg.market, id)
            .await
            .unwrap()
            .status_name(),
        "settled"
    );
}

/// Copies `from` to `to` on a thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Both);
    });
}

/// A TCP proxy to anvil that can refuse service, as a failing RPC endpoint does.
fn flaky_proxy(port: u16, up: Arc<AtomicBool>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let local = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(client) = conn else { continue };
            if !up.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(("127.0.0.1", port)) else {
                continue;
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    local
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poster_retries_while_the_endpoint_fails() {
    let (e, id, req, _) = one_task(0, 1, 3600).await;
    let up = Arc::new(AtomicBool::new(false));
    let port = flaky_proxy(e.anvil.port(), Arc::clone(&up));
    let cfg = ChainConfig {
        rpc_url: format!("http://127.0.0.1:{port}"),
        ..e.cfg.clone()
    };
    let poster = Poster::new(&cfg, fast()).unwrap();
    let restore = {
        let up = Arc::clone(&up);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            up.store(true, Ordering::SeqCst);
        })
    };
    let s = tokio::time::timeout(
        Duration::from_secs(60),
        poster.post(&req, &mut PostJournal::default(), &no_journal()),
    )
    .await
    .expect("the poster gave up")
    .unwrap();
    restore.await.unwrap();
    assert_eq!(s.prover, poster.address());
    assert_settled_once(&e, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_after_broadcast_resumes_the_same_transaction() {
    // Blocks every 2 s: the first poster is stopped while its transaction is pending.
    let (e, id, req, _) = one_task(2, 1, 3600).await;
    let saved = Arc::new(Mutex::new(PostJournal::default()));
    let save = {
        let saved = Arc::clone(&saved);
        move |j: &PostJournal| *saved.lock().unwrap() = j.clone()
    };
    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let nonce = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap();
    {
        let mut journal = PostJournal::default();
        let post = poster.post(&req, &mut journal, &save);
        tokio::pin!(post);
        // Run it until the journal shows the settlement broadcast (after the lock), then
        // drop it: a crash.
        loop {
            tokio::select! {
                r = &mut post => panic!("finished before the crash point: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {
                    let j = saved.lock().unwrap();
                    if j.action == Action::Settle && !j.txs.is_empty() { break; }
                }
            }
        }
    }
    let mut journal = saved.lock().unwrap().clone();
    assert_eq!(
        journal.nonce,
        Some(nonce + 1),
        "the lock took the first nonce"
    );
    let restarted = Poster::new(&e.cfg, fast()).unwrap();
    let s = restarted.post(&req, &mut journal, &save).await.unwrap();
    assert_eq!(
        s.tx, journal.txs[0],
        "the restarted poster settled with another transaction"
    );
    assert_eq!(
        e.dapp
            .provider
            .get_transaction_count(poster.address())
            .await
            .unwrap(),
        nonce + 2,
        "posted twice (one lock and one settlement expected)"
    );
    assert_settled_once(&e, id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_pointed_at_the_wrong_place_says_so() {
    let e = env(0, 1).await;
    let chain = Chain::connect(&e.anvil.url(), DEV_KEY).unwrap();
    let wrong = ChainConfig {
        market: e.dapp.from,
        ..e.cfg.clone()
    };
    let err = client::check(&chain.provider, &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no TaskMarket contract at"), "{err}");
    let wrong = ChainConfig {
        chain_id: 1,
        ..e.cfg.clone()
    };
    let err = client::check(&chain.provider, &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is chain 31337, but the configuration says chain 1"),
        "{err}"
    );
    let wrong = ChainConfig {
        market: e.cfg.registry,
        ..e.cfg.clone()
    };
    let err = client::check(&chain.provider, &wrong)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not answer as a TaskMarket"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_not_mined_in_time_is_replaced_with_higher_fees() {
    let (e, id, req, _) = one_task(0, 1, 3600).await;
    // Locked beforehand: the settlement is the transaction that waits.
    lock_for_poster(&e, id).await;
    // Nothing is mined until the test says so: the first transaction waits in the pool.
    let _: serde_json::Value = e
        .dapp
        .provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let saved = Arc::new(Mutex::new(PostJournal::default()));
    let save = {
        let saved = Arc::clone(&saved);
        move |j: &PostJournal| *saved.lock().unwrap() = j.clone()
    };
    let cfg = PosterConfig {
        bump_after: Duration::from_millis(800),
        ..fast()
    };
    let poster = Poster::new(&e.cfg, cfg).unwrap();
    let miner = {
        let (p, saved) = (e.dapp.provider.clone(), Arc::clone(&saved));
        tokio::spawn(async move {
            // Mine once a replacement is in the pool.
            while saved.lock().unwrap().txs.len() < 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _: serde_json::Value = p
                .raw_request("evm_setAutomine".into(), (true,))
                .await
                .unwrap();
            let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.unwrap();
        })
    };
    let mut journal = PostJournal::default();
    let s = poster.post(&req, &mut journal, &save).await.unwrap();
    miner.await.unwrap();
    let txs = saved.lock().unwrap().txs.clone();
    assert!(txs.len() >= 2, "no replacement was sent: {txs:?}");
    assert!(
        txs[1..].contains(&s.tx),
        "settled by the first, unbumped transaction"
    );
    // The replacement reused the nonce: one transaction of this account was mined.
    use alloy::consensus::Transaction as _;
    let settled = e
        .dapp
        .provider
        .get_transaction_by_hash(s.tx)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(settled.inner.nonce()), saved.lock().unwrap().nonce);
    let count = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap();
    assert_eq!(count, settled.inner.nonce() + 1);
    assert_settled_once(&e, id).await;
}

/// A verifier that accepts any proof when it runs at gas price 0 (as simulations do) and
/// rejects it in a real transaction: `GASPRICE ISZERO` returned as the answer.
const TWO_FACED_VERIFIER: &str = "693a1560005260206000f3600052600a6016f3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_would_cost_the_node_is_declined_and_a_mined_revert_is_final() {
    use fornax_chain_adapter::admission::{self, Declined, TakePolicy};
    use fornax_chain_adapter::verifier::{key_hash, runtime_code_hash};
    let mut rng = ChaCha20Rng::seed_from_u64(seed());
    let e = env(0, 1).await;
    let vk = &circuit().vk;
    let ours = runtime_code_hash(vk);
    let policy = TakePolicy::default();
    let market = TaskMarket::new(e.cfg.market, &e.dapp.provider);
    // The gas bound is built on the market's own limits.
    assert_eq!(
        market.CALLBACK_GAS().call().await.unwrap(),
        U256::from(500_000)
    );
    assert_eq!(
        market.VERIFY_GAS_BASE().call().await.unwrap(),
        U256::from(admission::VERIFY_GAS_BASE)
    );
    assert_eq!(
        market.VERIFY_GAS_PER_SIGNAL().call().await.unwrap(),
        U256::from(admission::VERIFY_GAS_PER_SIGNAL)
    );

    // An honest task is taken.
    let (input, proof, signals) = prove(&mut rng);
    let honest = create(&e, signals[1], &input, 3600).await;
    let verdict = admission::assess(&e.dapp.provider, e.cfg.market, honest, ours, &policy)
        .await
        .unwrap();
    assert!(verdict.is_ok(), "{verdict:?}");
    // A task whose fee does not pay for its gas is not.
    let deadline = now(&e).await + 3600;
    let cheap = e
        .dapp
        .create_task(
            e.cfg.market,
            e.circuit,
            vec![signals[1]],
            input.to_string().into_bytes(),
            deadline,
            U256::from(1),
        )
        .await
        .unwrap();
    let verdict = admission::assess(&e.dapp.provider, e.cfg.market, cheap, ours, &policy)
        .await
        .unwrap();
    assert!(matches!(verdict, Err(Declined::Fee { .. })), "{verdict:?}");

    // The same key registered with a verifier of other code is not taken...
    let deploy = alloy::rpc::types::TransactionRequest::default()
        .from(e.dapp.from)
        .with_deploy_code(hex::decode(TWO_FACED_VERIFIER).unwrap());
    use alloy::network::TransactionBuilder as _;
    let receipt = e
        .dapp
        .provider
        .send_transaction(deploy)
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let two_faced = receipt.contract_address.unwrap();
    let register = market.registerCircuit(two_faced, key_hash(vk), 2, 1);
    let hostile_circuit = register.call().await.unwrap();
    register.send().await.unwrap().get_receipt().await.unwrap();
    let hostile = e
        .dapp
        .create_task(
            e.cfg.market,
            hostile_circuit,
            vec![signals[1]],
            input.to_string().into_bytes(),
            deadline,
            U256::from(10u64).pow(U256::from(16)),
        )
        .await
        .unwrap();
    let verdict = admission::assess(&e.dapp.provider, e.cfg.market, hostile, ours, &policy)
        .await
        .unwrap();
    assert!(
        matches!(verdict, Err(Declined::Verifier { verifier, .. }) if verifier == two_faced),
        "{verdict:?}"
    );
    // ...unless the operator trusts that code.
    let trusting = TakePolicy {
        trusted_verifiers: vec![alloy::primitives::keccak256(
            e.dapp.provider.get_code_at(two_faced).await.unwrap(),
        )],
        ..TakePolicy::default()
    };
    let verdict = admission::assess(&e.dapp.provider, e.cfg.market, hostile, ours, &trusting)
        .await
        .unwrap();
    assert!(verdict.is_ok(), "{verdict:?}");

    // Posted anyway, its settlement passes simulation and reverts on chain: the poster
    // stops after that one transaction (and the lock before it) instead of paying for
    // more until the deadline.
    let poster = Poster::new(&e.cfg, fast()).unwrap();
    let sent_before = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap();
    let req = PostRequest {
        task: hostile,
        proof,
        signals,
    };
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        poster.post(&req, &mut PostJournal::default(), &no_journal()),
    )
    .await
    .expect("the poster gave up")
    .unwrap_err();
    assert!(err.to_string().contains("mined and reverted"), "{err}");
    let sent = e
        .dapp
        .provider
        .get_transaction_count(poster.address())
        .await
        .unwrap()
        - sent_before;
    assert_eq!(
        sent, 2,
        "one lock and one settlement, not {sent} transactions"
    );
}
