//! `fornax bench fhe`: the FHE engine side by side with tfhe-rs's own API, and threshold
//! decryption's cost, in one run on one key set.
//!
//! 1. **Batched KS-PBS throughput.** `ops` independent bitwise ANDs of `bits`-bit integers
//!    (each block one KS-PBS) run through the engine (planned into one batch of jobs, the
//!    jobs in parallel) and through tfhe-rs directly (`par_iter` over the same operations
//!    with the same server key). KS-PBS are counted by tfhe-rs (`pbs-stats`); repetitions
//!    are interleaved, medians reported; the ratio is tfhe-rs's time over the engine's.
//! 2. **Through the queue.** The same program as an FHE task of an in-process node (store,
//!    scheduler, in-process queue and one worker with FHE capability: the path every task
//!    takes) beside what a worker does with the same proven inputs called directly (expand
//!    them, then the engine's whole Eval with the noise squash), interleaved; the ratio is
//!    the direct time over the queue's from the task's acceptance, so 1.0 means the path
//!    costs nothing. The node's verification of the inputs' proofs of knowledge, which
//!    precedes acceptance, is reported beside it.
//! 3. **Threshold decryption**, (n, k) as given: PartDec per party per squashed block, and
//!    end to end for one `bits`-bit result: every party's PartDec one after another on this
//!    machine, then FinDec with k shares (and with all n, which runs error correction); and
//!    end to end as the node does it: all n key holders (in this process) asked at once over
//!    mutual TLS on loopback, requests and answers signed and checked, FinDec under t = k − 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use fornax_fhe::plan::plan;
use fornax_fhe::{Evaluator, KeyHolder, Op, Program};
use rayon::prelude::*;
use serde_json::json;

/// What to run.
#[derive(clap::Args, Debug)]
pub struct FheBench {
    /// Independent operations in the throughput batch.
    #[arg(long, default_value_t = 64)]
    ops: usize,
    /// Width of the integers (8, 16, 32 or 64).
    #[arg(long, default_value_t = 16)]
    bits: u32,
    /// Repetitions (medians are reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Key holders.
    #[arg(long, default_value_t = 5)]
    parties: usize,
    /// Threshold.
    #[arg(long, default_value_t = 3)]
    threshold: usize,
    /// Batch sizes in KS-PBS, comma separated: instead of the runs above, PBS per second
    /// against batch size, engine and tfhe-rs (a scaling curve).
    #[arg(long, value_delimiter = ',')]
    blocks: Vec<usize>,
    /// What the engine is compared with: `tfhe-rs` (its own API, same keys, same run) is
    /// the one peer, and the default.
    #[arg(long, value_enum, default_value_t = FhePeer::TfheRs)]
    peer: FhePeer,
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// `--peer` of `fornax bench fhe`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FhePeer {
    /// tfhe-rs's integer API (`ServerKey::bitand_parallelized` over rayon).
    #[value(name = "tfhe-rs")]
    TfheRs,
}

impl FhePeer {
    /// The peer's name and version, for result files.
    fn name(self) -> &'static str {
        match self {
            FhePeer::TfheRs => "tfhe-rs 1.8.2",
        }
    }
}

/// One batched-throughput measurement: `ops` independent ANDs of `bits`-bit integers
/// through the engine and through tfhe-rs, interleaved, medians.
struct Throughput {
    program: Program,
    values: Vec<u64>,
    job_plan: fornax_fhe::plan::Plan,
    engine_s: f64,
    tfhe_s: f64,
    engine_pbs: u64,
    tfhe_pbs: u64,
}

fn throughput(
    evaluator: &Evaluator,
    public: &fornax_fhe::PublicKeySet,
    ops: usize,
    bits: u32,
    reps: usize,
    threads: usize,
) -> Result<Throughput> {
    let values: Vec<u64> = (0..2 * ops as u64)
        .map(|i| i & ((1 << bits.min(63)) - 1))
        .collect();
    let inputs: Vec<_> = values
        .iter()
        .map(|&v| evaluator.encrypt(public, v, bits))
        .collect::<Result<_, _>>()?;
    let program = Program {
        bits,
        inputs: 2 * ops,
        nodes: (0..ops)
            .map(|i| Op::And {
                a: 2 * i,
                b: 2 * i + 1,
            })
            .collect(),
        outputs: vec![2 * ops],
    };
    program.validate()?;
    let job_plan = plan(&program, "bench", threads);
    let sk = evaluator.server_key();
    let (mut engine_s, mut tfhe_s) = (Vec::new(), Vec::new());
    let (mut engine_pbs, mut tfhe_pbs) = (0u64, 0u64);
    for rep in 0..reps {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            fornax_fhe::reset_pbs_count();
            let t = Instant::now();
            if side == 0 {
                let values = evaluator.compute(&program, inputs.clone(), &job_plan)?;
                std::hint::black_box(values);
                engine_s.push(t.elapsed().as_secs_f64());
                engine_pbs = fornax_fhe::pbs_count();
            } else {
                let out: Vec<_> = inputs
                    .par_chunks(2)
                    .map(|pair| sk.bitand_parallelized(&pair[0], &pair[1]))
                    .collect();
                std::hint::black_box(out);
                tfhe_s.push(t.elapsed().as_secs_f64());
                tfhe_pbs = fornax_fhe::pbs_count();
            }
        }
    }
    Ok(Throughput {
        program,
        values,
        job_plan,
        engine_s: median(engine_s),
        tfhe_s: median(tfhe_s),
        engine_pbs,
        tfhe_pbs,
    })
}

/// `--blocks`: KS-PBS per second against the batch's size, engine and tfhe-rs, one point
/// per size (a batch of `blocks` PBS is `blocks / blocks-per-integer` ANDs).
fn scaling(
    args: &FheBench,
    evaluator: &Evaluator,
    public: &fornax_fhe::PublicKeySet,
    threads: usize,
) -> Result<ExitCode> {
    let per_integer = (args.bits as usize).div_ceil(2);
    let progress = crate::progress::Progress::new();
    let mut bar = progress.bar("bench fhe --blocks", args.blocks.len() as u64);
    let mut points = Vec::new();
    println!("{:>8} {:>12} {:>12}", "PBS", "engine /s", "tfhe-rs /s");
    for &blocks in &args.blocks {
        let ops = blocks.div_ceil(per_integer).max(1);
        let t = throughput(evaluator, public, ops, args.bits, args.reps, threads)?;
        let (engine, tfhe) = (
            t.engine_pbs as f64 / t.engine_s,
            t.tfhe_pbs as f64 / t.tfhe_s,
        );
        println!("{:>8} {engine:>12.1} {tfhe:>12.1}", t.engine_pbs);
        bar.step(&format!("{} PBS", t.engine_pbs));
        points.push(serde_json::json!({
            "pbs": t.engine_pbs,
            "engine_pbs_per_s": engine,
            "tfhe_rs_pbs_per_s": tfhe,
        }));
    }
    bar.finish("done");
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "bench": "fhe-scaling",
            "peer": args.peer.name(),
            "bits": args.bits,
            "reps": args.reps,
            "points": points,
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs the benchmark.
pub fn run(args: &FheBench) -> Result<ExitCode> {
    let started = Instant::now();
    let dealt = fornax_fhe::setup(args.parties, args.threshold, &mut rand::rngs::OsRng)?;
    let evaluator = Evaluator::new(&dealt.public);
    let holders: Vec<KeyHolder> = dealt
        .shares
        .iter()
        .map(|s| KeyHolder::new(s.clone()))
        .collect::<Result<_, _>>()?;
    println!(
        "set-up ({}, {}) and key decompression: {:.1?}",
        args.parties,
        args.threshold,
        started.elapsed()
    );
    let threads = rayon::current_num_threads();

    if !args.blocks.is_empty() {
        return scaling(args, &evaluator, &dealt.public, threads);
    }

    // 1. Throughput.
    let t = throughput(
        &evaluator,
        &dealt.public,
        args.ops,
        args.bits,
        args.reps,
        threads,
    )?;
    let (program, values, job_plan) = (t.program, t.values, t.job_plan);
    let (engine_t, tfhe_t, engine_pbs, tfhe_pbs) = (t.engine_s, t.tfhe_s, t.engine_pbs, t.tfhe_pbs);
    let ratio = tfhe_t / engine_t;
    println!(
        "KS-PBS batch: {} ANDs of {} bits, {} jobs: engine {engine_pbs} PBS in {engine_t:.3} s ({:.0}/s), tfhe-rs {tfhe_pbs} PBS in {tfhe_t:.3} s ({:.0}/s): ratio {ratio:.3}",
        args.ops,
        args.bits,
        job_plan.jobs().count() - 1,
        engine_pbs as f64 / engine_t,
        tfhe_pbs as f64 / tfhe_t,
    );

    // 2. The same program through the node's one path, beside the engine's whole Eval.
    let queued = through_queue(
        &evaluator,
        &dealt.public,
        &program,
        &values,
        args.reps,
        threads,
    )?;
    println!(
        "through the queue ({} reps): direct expand + Eval {:.3} s, as an FHE task {:.3} s after admission: ratio {:.3} ({:.0} vs {:.0} KS-PBS/s); admission verified {} proofs in {:.3} s",
        args.reps,
        queued.direct_s,
        queued.queue_s,
        queued.direct_s / queued.queue_s,
        engine_pbs as f64 / queued.direct_s,
        engine_pbs as f64 / queued.queue_s,
        values.len(),
        queued.admit_s,
    );

    // 3. Threshold decryption of a squashed result.
    let one = Program {
        bits: args.bits,
        inputs: 1,
        nodes: vec![],
        outputs: vec![0],
    };
    let value = 0xbeef & ((1u64 << args.bits.min(63)) - 1);
    let out = evaluator.evaluate(
        &one,
        vec![evaluator.encrypt(&dealt.public, value, args.bits)?],
        "bench-dec",
        1,
    )?;
    let ct = out.outputs[0]
        .underlying_squashed_noise_ciphertext()
        .clone();
    let blocks = ct.packed_blocks().len();
    let mut partdec_s = Vec::new();
    let mut signed_s = Vec::new();
    let mut end_to_end_s = Vec::new();
    let mut findec_all_s = Vec::new();
    let identities: Vec<_> = (0..args.parties)
        .map(|_| fornax_node::keyholders::generate_key())
        .collect();
    for _ in 0..args.reps.max(5) {
        let t = Instant::now();
        let partials: Vec<_> = holders
            .iter()
            .map(|h| h.partial_decrypt(&ct))
            .collect::<Result<_, _>>()?;
        let all_partdec = t.elapsed();
        // FinDec of exactly k answers, trusting them (t = 0).
        let d = fornax_fhe::combine_bounded(&dealt.public, &ct, &partials[..args.threshold], 0)?;
        end_to_end_s.push(t.elapsed().as_secs_f64());
        partdec_s.push(all_partdec.as_secs_f64() / (args.parties * blocks) as f64);
        anyhow::ensure!(
            d.value == u128::from(value),
            "threshold decryption gave {} for {value}",
            d.value
        );
        let t = Instant::now();
        let d = fornax_fhe::combine(&dealt.public, &ct, &partials)?;
        findec_all_s.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(d.value == u128::from(value));
        // What a key holder and the node add: the answer's signature and its check.
        let t = Instant::now();
        for (h, id) in holders.iter().zip(&identities) {
            let p = h.partial_decrypt(&ct)?;
            let signed = fornax_node::keyholders::sign_answer(id, &p);
            fornax_node::keyholders::verify_answer(&id.verifying_key(), &signed)
                .map_err(anyhow::Error::msg)?;
        }
        signed_s.push(t.elapsed().as_secs_f64() / (args.parties * blocks) as f64);
    }
    // The same decryption as the node does it, over mutual TLS: one distinct output per round.
    let rounds = args.reps.max(5) + 1;
    let many = Program {
        bits: args.bits,
        inputs: rounds,
        nodes: vec![],
        outputs: (0..rounds).collect(),
    };
    let round_values: Vec<u64> = (0..rounds as u64)
        .map(|i| (0x1234 + 977 * i) & ((1u64 << args.bits.min(63)) - 1))
        .collect();
    let evaluated = evaluator.evaluate(
        &many,
        round_values
            .iter()
            .map(|&v| evaluator.encrypt(&dealt.public, v, args.bits))
            .collect::<Result<_, _>>()?,
        "bench-tls",
        1,
    )?;
    let outputs: Vec<(Vec<u8>, u64)> = evaluated
        .outputs
        .iter()
        .zip(&round_values)
        .map(|(ct, &v)| Ok((fornax_fhe::io::write_squashed(ct)?, v)))
        .collect::<Result<_>>()?;
    let tls_end_to_end = median(over_mutual_tls(&dealt, &outputs)?);
    println!(
        "threshold ({}, {}) over mutual TLS on loopback: {}-bit result end to end {:.2} ms (all {} key holders asked at once with signed requests, answers signed and checked, FinDec under t = {})",
        args.parties,
        args.threshold,
        args.bits,
        tls_end_to_end * 1e3,
        args.parties,
        args.threshold - 1,
    );
    let signed = median(signed_s);
    let partdec = median(partdec_s);
    let end_to_end = median(end_to_end_s);
    let findec_all = median(findec_all_s);
    println!(
        "threshold: PartDec with the answer's signature and its check {:.1} µs per party per block",
        signed * 1e6
    );
    println!(
        "threshold ({}, {}): PartDec {:.1} µs per party per block; {}-bit result ({blocks} blocks) end to end {:.2} ms (all {} PartDec in sequence + FinDec of {}); FinDec of all {} with error correction {:.2} ms",
        args.parties,
        args.threshold,
        partdec * 1e6,
        args.bits,
        end_to_end * 1e3,
        args.parties,
        args.threshold,
        args.parties,
        findec_all * 1e3,
    );
    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "fhe",
            "peer": args.peer.name(),
            "device": cpu_model(),
            "threads": threads,
            "params": "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 (tfhe-rs 1.8.2)",
            "pbs_batch": {
                "ops": args.ops, "bits": args.bits, "reps": args.reps,
                "engine_s": engine_t, "engine_pbs": engine_pbs, "engine_pbs_per_s": engine_pbs as f64 / engine_t,
                "tfhe_s": tfhe_t, "tfhe_pbs": tfhe_pbs, "tfhe_pbs_per_s": tfhe_pbs as f64 / tfhe_t,
                "ratio_engine_over_tfhe": ratio,
            },
            "through_queue": {
                "direct_expand_and_eval_s": queued.direct_s, "queue_s": queued.queue_s,
                "admission_verify_s": queued.admit_s, "proven_inputs": values.len(),
                "direct_pbs_per_s": engine_pbs as f64 / queued.direct_s,
                "queue_pbs_per_s": engine_pbs as f64 / queued.queue_s,
                "ratio_queue_over_direct_throughput": queued.direct_s / queued.queue_s,
            },
            "threshold": {
                "parties": args.parties, "threshold": args.threshold, "bits": args.bits, "blocks": blocks,
                "partdec_us_per_party_per_block": partdec * 1e6,
                "partdec_signed_and_checked_us_per_party_per_block": signed * 1e6,
                "end_to_end_ms": end_to_end * 1e3,
                "findec_all_with_correction_ms": findec_all * 1e3,
                "end_to_end_over_mutual_tls_ms": tls_end_to_end * 1e3,
            },
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Median times of the queue comparison.
struct Queued {
    direct_s: f64,
    queue_s: f64,
    admit_s: f64,
}

/// Threshold decryption as the node does it, over mutual TLS on loopback: `parties` key
/// holders in this process serve `fornax keyholder`'s router with its TLS
/// ([`fornax_api::serve_tls_until_interrupted`]); each round asks all of them at once with
/// requests the node signs ([`fornax_node::keyholders::HolderClient`], the node's own client),
/// checks each answer's signature and combines under the scheme's bound (t = k − 1). One
/// distinct output per round, as the key holders' audit refuses a digest for another task;
/// the first round (TLS handshakes) is not timed. Returns the timed rounds' seconds.
fn over_mutual_tls(
    dealt: &fornax_fhe::threshold::Dealt,
    outputs: &[(Vec<u8>, u64)],
) -> Result<Vec<f64>> {
    use fornax_node::keyholders::{self, HolderClient, PartDecRequest};
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let audits = tempfile::tempdir()?;
    let node = keyholders::generate_key();
    let mut clients = Vec::new();
    for share in &dealt.shares {
        let identity = keyholders::generate_key();
        let holder = std::sync::Arc::new(KeyHolder::new(share.clone())?);
        let audit = keyholders::Audit::open(
            &audits.path().join(format!("audit-{}.log", share.party)),
            u32::MAX,
            u64::MAX,
        )
        .map_err(anyhow::Error::msg)?;
        let tls = fornax_node::pinned_tls::server_config(&identity, node.verifying_key())
            .map_err(anyhow::Error::msg)?;
        let app = fornax_api::keyholder::keyholder_router(fornax_api::keyholder::KeyholderConfig {
            holder,
            token: None,
            node_key: node.verifying_key(),
            identity: identity.clone(),
            audit,
            delay: std::time::Duration::ZERO,
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let url = format!("https://{}", listener.local_addr()?);
        runtime.spawn(fornax_api::serve_tls_until_interrupted(listener, app, tls));
        clients.push(
            HolderClient::new(
                share.party,
                &url,
                identity.verifying_key(),
                &node,
                std::time::Duration::from_secs(30),
                None,
            )
            .map_err(anyhow::Error::msg)?,
        );
    }
    let mut seconds = Vec::new();
    for (round, (bytes, value)) in outputs.iter().enumerate() {
        let t = Instant::now();
        let ct = fornax_fhe::io::read_squashed(bytes)?;
        let digest = hex::encode(fornax_fhe::threshold::ciphertext_digest(&ct));
        let answers = runtime.block_on(futures_util::future::join_all(clients.iter().map(|c| {
            let request = PartDecRequest {
                key_id: hex::encode(dealt.public.key_id),
                party: c.party(),
                ciphertext: digest.clone(),
                task: format!("bench-{round}"),
                output: 0,
                tenant: "bench".into(),
                issued_ms: fornax_node::task::now_ms(),
            };
            c.partdec(bytes.clone(), keyholders::sign_request(&node, &request))
        })));
        let partials = answers
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::msg)?;
        let d = fornax_fhe::combine(&dealt.public, &ct, &partials)?;
        if round > 0 {
            seconds.push(t.elapsed().as_secs_f64());
        }
        anyhow::ensure!(
            d.value == u128::from(*value),
            "decryption over mutual TLS gave {} for {value}",
            d.value
        );
    }
    Ok(seconds)
}

/// Runs `program` on `values` as FHE tasks of an in-process node (store, scheduler,
/// in-process queue, one worker with FHE capability on `threads` threads) and directly
/// (the inputs expanded, then [`Evaluator::evaluate`]), interleaved, after one warm-up task
/// that loads the worker's keys. The inputs are proven ([`fornax_fhe::input`]); the node's
/// verification of their proofs is timed apart (`admit_s`), the task from its acceptance to
/// its result (`queue_s`).
fn through_queue(
    evaluator: &Evaluator,
    public: &fornax_fhe::PublicKeySet,
    program: &Program,
    values: &[u64],
    reps: usize,
    threads: usize,
) -> Result<Queued> {
    use fornax_node::{embedded, fhe, scheduler, store, task::State};
    let dir = tempfile::tempdir()?;
    let keys = dir.path().join("keyset");
    fornax_fhe::io::save_public(public, &keys)?;
    let store = std::sync::Arc::new(store::Store::open(&dir.path().join("node"))?);
    let node = scheduler::Scheduler::new(std::sync::Arc::clone(&store), Default::default());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let service = fhe::FheService::open(
        std::sync::Arc::clone(&node),
        fhe::FheConfig {
            keys_dir: keys,
            keyholders: vec![],
            keyholder_token: None,
            keyholder_timeout: std::time::Duration::from_secs(1),
            max_pbs: u64::MAX,
            max_corrupt: None,
            node_key: None,
        },
    )?;
    embedded::start(
        &node,
        runtime.handle(),
        embedded::EmbeddedConfig {
            settings: Default::default(),
            dispatch: fornax_node::dispatch::DispatchConfig {
                max_in_flight: fornax_node::dispatch::DispatchConfig::local_window(1),
                ..Default::default()
            },
            registry: fornax_kernels::DeviceRegistry::with_backends(vec![std::sync::Arc::new(
                fornax_kernels::CpuBackend::new(),
            )]),
            memory_bytes: Some(u64::MAX >> 1),
            slots: 1,
            artifacts: dir.path().join("node/artifacts"),
            fhe: Some(fornax_node::worker::FheCapability {
                device: fornax_fhe::device::Device::Cpu,
                threads,
            }),
            witness_limits: Default::default(),
        },
    )?;
    let json = serde_json::to_vec(program)?;
    let (id, _) = service.register_program(&json)?;
    let t = Instant::now();
    let bytes: Vec<Vec<u8>> = values
        .par_iter()
        .map(|&v| fornax_fhe::input::encrypt(public, v, program.bits, "bench"))
        .collect::<Result<_, _>>()?;
    println!(
        "{} proven {}-bit inputs in {:.1?}",
        bytes.len(),
        program.bits,
        t.elapsed()
    );
    let lists = bytes
        .iter()
        .map(|b| fornax_fhe::input::read(public, b))
        .collect::<Result<Vec<_>, _>>()?;
    // (seconds verifying at admission, seconds from acceptance to the result)
    let run_task = || -> Result<(f64, f64)> {
        let t = Instant::now();
        let (task, _) = service.submit("bench", &id, bytes.clone(), None, None)?;
        let admitted = t.elapsed().as_secs_f64();
        loop {
            let state = store.task(&task.id)?.context("the task")?.state;
            match state {
                State::Proved => return Ok((admitted, t.elapsed().as_secs_f64() - admitted)),
                s if s.is_final() => anyhow::bail!("the FHE task ended {}", s.as_str()),
                _ => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
    };
    run_task()?; // warm-up: the worker loads the keys
    let (mut direct, mut queued, mut admitted) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            if side == 0 {
                let t = Instant::now();
                let inputs = lists
                    .iter()
                    .map(|l| evaluator.expand(l, program.bits))
                    .collect::<Result<Vec<_>, _>>()?;
                let out = evaluator.evaluate(program, inputs, "bench", threads)?;
                std::hint::black_box(out);
                direct.push(t.elapsed().as_secs_f64());
            } else {
                let (admit, queue) = run_task()?;
                admitted.push(admit);
                queued.push(queue);
            }
        }
    }
    node.stop();
    Ok(Queued {
        direct_s: median(direct),
        queue_s: median(queued),
        admit_s: median(admitted),
    })
}

/// The CPU's model name (from /proc/cpuinfo), for the record.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| format!("cpu: {}", m.trim()))
        })
        .unwrap_or_else(|| "cpu".into())
}
