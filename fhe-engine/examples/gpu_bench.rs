//! The FHE engine on a CUDA GPU (tfhe-rs's `gpu` feature), measured side by side with the
//! CPU in one run. Built by `ops/fhe-gpu-bench.sh stage`; run on the GPU machine by
//! `ops/fhe-gpu-bench.sh run`. Never part of the test command.
//!
//! Stages (each in its own `catch_unwind`, the JSON rewritten after each, so a stage that
//! fails leaves the others on record):
//! 1. `cpu`: one bitwise AND over `--cpu-blocks` blocks on all CPU cores (KS-PBS per second).
//! 2. `gpu`: the same AND over each of `--blocks` blocks as one batch through tfhe-rs's own
//!    GPU API (classic PBS, the engine's parameters); median of `--reps` after a warm-up,
//!    every block decrypted and checked.
//! 3. `multibit`: the same through tfhe-rs's GPU API with its multi-bit parameters
//!    (`PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128`), keys of their own.
//! 4. `engine`: the engine's GPU path ([`DeviceEvaluator::cuda`]) on a program of W independent
//!    64-bit ANDs (32 KS-PBS each, W·32 = the smallest of `--blocks`), squashed and
//!    threshold-decrypted: KS-PBS per second through the engine beside tfhe-rs's own API.
//! 5. `programs`: the sealed-bid auction and `--programs` random programs through the device
//!    evaluator, threshold-decrypted by 3 of 5 key holders and checked against the plaintext
//!    evaluation; timed against the CPU engine.
//!
//! The key set (stages 1, 2, 4, 5) is made for `--params` (`classic`, the default, or
//! `gpu-multi-bit`: the engine itself on the multi-bit set).
//!
//! Usage: `gpu_bench [--params classic|gpu-multi-bit] [--stages cpu,gpu,multibit,engine,programs]
//! [--blocks 4096,65536] [--reps 5] [--cpu-blocks 4096] [--programs 1] [--commit SHA]
//! [--json FILE]`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fornax_fhe::device::DeviceEvaluator;
use fornax_fhe::params::{ParamSet, ThresholdParams};
use fornax_fhe::threshold::{setup_insecure_keep_secret_for, Dealt, KeyHolder};
use fornax_fhe::{combine, Evaluator, Op, Program};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde_json::{json, Value};
use tfhe::core_crypto::gpu::vec::GpuIndex;
use tfhe::core_crypto::gpu::{get_number_of_gpus, CudaStreams};
use tfhe::integer::gpu::ciphertext::CudaUnsignedRadixCiphertext;
use tfhe::integer::gpu::{gen_keys_radix_gpu, CudaServerKey};
use tfhe::integer::{ClientKey, IntegerCiphertext, RadixCiphertext};
use tfhe::shortint::parameters::PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128;

const STAGES: [&str; 5] = ["cpu", "gpu", "multibit", "engine", "programs"];

struct Args {
    params: ParamSet,
    stages: Vec<String>,
    blocks: Vec<usize>,
    reps: usize,
    cpu_blocks: usize,
    programs: usize,
    commit: String,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        params: ParamSet::Classic,
        stages: STAGES.iter().map(|s| s.to_string()).collect(),
        blocks: vec![4096, 65536],
        reps: 5,
        cpu_blocks: 4096,
        programs: 1,
        commit: "unknown".into(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |s: &str| s.parse::<usize>().map_err(|e| format!("{flag}: {s}: {e}"));
        match flag.as_str() {
            "--params" => args.params = ParamSet::parse(&value()?).map_err(|e| e.to_string())?,
            "--stages" => {
                args.stages = value()?.split(',').map(str::to_string).collect();
                if let Some(bad) = args.stages.iter().find(|s| !STAGES.contains(&s.as_str())) {
                    return Err(format!(
                        "unknown stage {bad} (stages: {})",
                        STAGES.join(",")
                    ));
                }
            }
            "--blocks" => {
                args.blocks = value()?.split(',').map(number).collect::<Result<_, _>>()?;
                if args.blocks.is_empty() || args.blocks.contains(&0) {
                    return Err("--blocks needs positive sizes".into());
                }
            }
            "--reps" => args.reps = number(&value()?)?.max(1),
            "--cpu-blocks" => args.cpu_blocks = number(&value()?)?.max(1),
            "--programs" => args.programs = number(&value()?)?,
            "--commit" => args.commit = value()?,
            "--json" => args.json = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn gpu_name() -> String {
    std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version", "--format=csv,noheader"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "cuda (nvidia-smi unavailable)".into())
}

fn save(path: &Option<PathBuf>, doc: &Value) {
    if let Some(path) = path {
        let bytes = serde_json::to_vec_pretty(doc).expect("JSON");
        if let Err(e) = std::fs::write(path, bytes) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("gpu_bench: {failed} stage(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What the stages share: the threshold key set (5, 3) with its client key kept for
/// checking, the key holders, and the engine's keys on the GPU and the CPU.
struct Keys {
    dealt: Dealt,
    holders: Vec<KeyHolder>,
    cks: ClientKey,
    streams: CudaStreams,
    gpu_key: CudaServerKey,
    cpu_key: tfhe::integer::ServerKey,
}

fn run() -> Result<usize, String> {
    let args = parse_args()?;
    fornax_fhe::device::check_cuda_driver().map_err(|e| e.to_string())?;
    if get_number_of_gpus() == 0 {
        return Err("no CUDA GPU is visible".into());
    }
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let started = Instant::now();
    let params = ThresholdParams::for_set(5, 3, args.params).map_err(|e| e.to_string())?;
    let (dealt, client_key) =
        setup_insecure_keep_secret_for(params, &mut rng).map_err(|e| e.to_string())?;
    let holders: Vec<KeyHolder> = dealt
        .shares
        .iter()
        .map(|s| KeyHolder::new(s.clone()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let cks = client_key.into_raw_parts().0;
    let (compressed, ..) = dealt.public.server_key.clone().into_raw_parts();
    let streams = CudaStreams::new_single_gpu(GpuIndex::new(0));
    let gpu_key = CudaServerKey::decompress_from_cpu(&compressed, &streams);
    let cpu_key = compressed.decompress();
    let setup_s = started.elapsed().as_secs_f64();
    println!(
        "set-up (5, 3), {} parameters, keys on the GPU and the CPU: {setup_s:.1} s",
        args.params.name()
    );
    let keys = Keys {
        dealt,
        holders,
        cks,
        streams,
        gpu_key,
        cpu_key,
    };

    let mut doc = json!({
        "bench": "fhe-gpu",
        "device": gpu_name(),
        "cpu_threads": rayon::current_num_threads(),
        "commit": args.commit,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "params": args.params.name(),
        "tfhe_params": format!("{} (tfhe-rs 1.8.2)", args.params.description()),
        "seed": seed,
        "setup_s": setup_s,
        "stages": {},
    });
    save(&args.json, &doc);
    let mut failed = 0;
    let mut cpu_rate = None;
    for stage in &args.stages {
        println!("== {stage}");
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| match stage.as_str() {
            "cpu" => stage_cpu(&args, &keys, &mut rng).inspect(|v| {
                cpu_rate = v["pbs_per_s"].as_f64();
            }),
            "gpu" => stage_gpu_api(
                &args,
                &keys.cks,
                &keys.gpu_key,
                &keys.streams,
                cpu_rate,
                &mut rng,
            ),
            "multibit" => stage_multibit(&args, cpu_rate, &mut rng),
            "engine" => stage_engine(&args, &keys, &mut rng),
            "programs" => stage_programs(&args, &keys, &mut rng),
            other => Err(format!("unknown stage {other}")),
        }))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .map(|m| format!("panicked: {m}"))
                .unwrap_or_else(|| "panicked".into()))
        });
        let seconds = t.elapsed().as_secs_f64();
        doc["stages"][stage] = match outcome {
            Ok(mut v) => {
                v["ok"] = json!(true);
                v["seconds"] = json!(seconds);
                v
            }
            Err(e) => {
                failed += 1;
                println!("   FAILED: {e}");
                json!({ "ok": false, "error": e, "seconds": seconds })
            }
        };
        save(&args.json, &doc);
    }
    Ok(failed)
}

/// `n` random 2-bit messages and their encryptions as one radix ciphertext of `n` blocks.
fn random_blocks(cks: &ClientKey, n: usize, rng: &mut ChaCha20Rng) -> (Vec<u64>, RadixCiphertext) {
    let clear: Vec<u64> = (0..n).map(|_| rng.gen_range(0..4)).collect();
    let blocks: Vec<_> = clear
        .par_iter()
        .map(|&m| cks.encrypt_one_block(m))
        .collect();
    (clear, RadixCiphertext::from(blocks))
}

/// Every block of `out` must decrypt to `a & b`.
fn check_and(
    cks: &ClientKey,
    what: &str,
    a: &[u64],
    b: &[u64],
    out: &RadixCiphertext,
) -> Result<(), String> {
    let wrong = out
        .blocks()
        .par_iter()
        .zip(a.par_iter().zip(b))
        .filter(|(ct, (x, y))| cks.decrypt_one_block(ct) != *x & *y)
        .count();
    if wrong > 0 {
        return Err(format!(
            "{what}: {wrong} of {} blocks decrypt wrongly",
            a.len()
        ));
    }
    Ok(())
}

fn stage_cpu(args: &Args, keys: &Keys, rng: &mut ChaCha20Rng) -> Result<Value, String> {
    let (a, ct_a) = random_blocks(&keys.cks, args.cpu_blocks, rng);
    let (b, ct_b) = random_blocks(&keys.cks, args.cpu_blocks, rng);
    let mut times = Vec::new();
    for _ in 0..args.reps.min(3) {
        let t = Instant::now();
        let out = keys.cpu_key.unchecked_bitand_parallelized(&ct_a, &ct_b);
        times.push(t.elapsed().as_secs_f64());
        check_and(&keys.cks, "CPU AND", &a, &b, &out)?;
    }
    let t = median(times);
    let rate = args.cpu_blocks as f64 / t;
    println!(
        "   CPU ({} threads): {} KS-PBS in {t:.3} s: {rate:.0} KS-PBS/s",
        rayon::current_num_threads(),
        args.cpu_blocks
    );
    Ok(json!({"blocks": args.cpu_blocks, "s": t, "pbs_per_s": rate}))
}

/// One AND over B blocks as one batch through tfhe-rs's GPU API, for each B.
fn stage_gpu_api(
    args: &Args,
    cks: &ClientKey,
    gpu_key: &CudaServerKey,
    streams: &CudaStreams,
    cpu_rate: Option<f64>,
    rng: &mut ChaCha20Rng,
) -> Result<Value, String> {
    let mut rows = Vec::new();
    for &n in &args.blocks {
        let (a, ct_a) = random_blocks(cks, n, rng);
        let (b, ct_b) = random_blocks(cks, n, rng);
        let d_a = CudaUnsignedRadixCiphertext::from_radix_ciphertext(&ct_a, streams);
        let d_b = CudaUnsignedRadixCiphertext::from_radix_ciphertext(&ct_b, streams);
        let warm = gpu_key.unchecked_bitand(&d_a, &d_b, streams);
        streams.synchronize();
        check_and(
            cks,
            "GPU AND (warm-up)",
            &a,
            &b,
            &warm.to_radix_ciphertext(streams),
        )?;
        let mut times = Vec::new();
        for _ in 0..args.reps {
            let t = Instant::now();
            let out = gpu_key.unchecked_bitand(&d_a, &d_b, streams);
            streams.synchronize();
            times.push(t.elapsed().as_secs_f64());
            check_and(cks, "GPU AND", &a, &b, &out.to_radix_ciphertext(streams))?;
        }
        let t = median(times);
        let rate = n as f64 / t;
        let ratio = cpu_rate.map(|c| rate / c);
        println!(
            "   GPU: {n} KS-PBS in one batch: {:.3} ms: {rate:.0} KS-PBS/s{}",
            t * 1e3,
            ratio
                .map(|r| format!(" ({r:.1}× the CPU)"))
                .unwrap_or_default()
        );
        rows.push(json!({
            "blocks": n, "reps": args.reps, "median_s": t, "pbs_per_s": rate,
            "ratio_gpu_over_cpu": ratio, "target_pbs_per_s": 25000, "meets_target": rate >= 25000.0,
        }));
    }
    Ok(json!({ "rows": rows }))
}

fn stage_multibit(
    args: &Args,
    cpu_rate: Option<f64>,
    rng: &mut ChaCha20Rng,
) -> Result<Value, String> {
    let t = Instant::now();
    let streams = CudaStreams::new_single_gpu(GpuIndex::new(0));
    let (rcks, gpu_key) = gen_keys_radix_gpu(
        PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        1,
        &streams,
    );
    let keygen_s = t.elapsed().as_secs_f64();
    println!("   multi-bit keys (group 4) made and on the GPU: {keygen_s:.1} s");
    let cks: &ClientKey = rcks.as_ref();
    let mut v = stage_gpu_api(args, cks, &gpu_key, &streams, cpu_rate, rng)?;
    v["params"] = json!("PARAM_GPU_MULTI_BIT_GROUP_4_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128");
    v["keygen_s"] = json!(keygen_s);
    Ok(v)
}

/// Decrypts each squashed output with 3 of the 5 key holders (a different three for
/// consecutive outputs) and compares it with `expected`.
fn threshold_check(
    keys: &Keys,
    name: &str,
    outputs: &[tfhe::SquashedNoiseFheUint],
    expected: &[u64],
) -> Result<(), String> {
    if outputs.len() != expected.len() {
        return Err(format!(
            "{name}: {} outputs, {} expected",
            outputs.len(),
            expected.len()
        ));
    }
    outputs
        .par_iter()
        .zip(expected)
        .enumerate()
        .try_for_each(|(i, (ct, want))| {
            let raw = ct.underlying_squashed_noise_ciphertext().clone();
            let partials: Vec<_> = keys.holders[i % 3..i % 3 + 3]
                .iter()
                .map(|h| h.partial_decrypt(&raw))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let d = combine(&keys.dealt.public, &raw, &partials).map_err(|e| e.to_string())?;
            if d.value != u128::from(*want) {
                return Err(format!(
                    "{name}: output {i} decrypts to {} on the GPU, plaintext gives {want}",
                    d.value
                ));
            }
            Ok(())
        })
}

/// The engine's GPU path on W independent 64-bit ANDs: W·32 KS-PBS plus W squashes.
fn stage_engine(args: &Args, keys: &Keys, rng: &mut ChaCha20Rng) -> Result<Value, String> {
    let blocks = *args.blocks.iter().min().expect("at least one size");
    let width = blocks.div_ceil(32);
    let program = Program {
        bits: 64,
        inputs: 2 * width,
        nodes: (0..width)
            .map(|i| Op::And {
                a: 2 * i,
                b: 2 * i + 1,
            })
            .collect(),
        outputs: (0..width).map(|i| 2 * width + i).collect(),
    };
    let clear: Vec<u64> = (0..2 * width).map(|_| rng.gen()).collect();
    let expected = program.eval_plain(&clear).map_err(|e| e.to_string())?;
    let inputs: Vec<RadixCiphertext> = clear
        .par_iter()
        .map(|&v| keys.cks.encrypt_radix(v, 32))
        .collect();
    let gpu = DeviceEvaluator::cuda(&keys.dealt.public).map_err(|e| e.to_string())?;
    gpu.evaluate(&program, inputs.clone())
        .map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..args.reps.min(3) {
        let t = Instant::now();
        let out = gpu
            .evaluate(&program, inputs.clone())
            .map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    let out = last.expect("at least one repetition");
    threshold_check(keys, "engine ANDs", &out.outputs, &expected)?;
    let t = median(times);
    let rate = (32 * width) as f64 / t;
    println!(
        "   engine on the GPU: {width} × AND64 ({} KS-PBS) + {width} squashes in {:.1} ms: {rate:.0} KS-PBS/s, threshold-decrypted correctly",
        32 * width,
        t * 1e3
    );
    Ok(json!({
        "program": format!("{width} independent 64-bit ANDs"), "ks_pbs": 32 * width,
        "squashes": width, "median_s": t, "pbs_per_s_including_squash": rate,
        "decrypted_correctly": true,
    }))
}

fn stage_programs(args: &Args, keys: &Keys, rng: &mut ChaCha20Rng) -> Result<Value, String> {
    let gpu = DeviceEvaluator::cuda(&keys.dealt.public).map_err(|e| e.to_string())?;
    let cpu = Evaluator::new(&keys.dealt.public);
    let auction = Program::from_json(include_bytes!("../../ops/fhe/auction.json"))
        .map_err(|e| e.to_string())?;
    let mut programs = vec![("auction".to_string(), auction)];
    for i in 0..args.programs {
        programs.push((format!("random-{i}"), Program::random(16, 3, 12, rng)));
    }
    let mut runs = Vec::new();
    for (name, program) in &programs {
        let mask = (1u64 << program.bits.min(63)) - 1;
        let clear: Vec<u64> = (0..program.inputs)
            .map(|_| rng.gen::<u64>() & mask)
            .collect();
        let expected = program.eval_plain(&clear).map_err(|e| e.to_string())?;
        let inputs: Vec<RadixCiphertext> = clear
            .iter()
            .map(|&v| cpu.encrypt(&keys.dealt.public, v, program.bits))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        // The first GPU run pays for lookup-table set-up; the second is timed.
        gpu.evaluate(program, inputs.clone())
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let out = gpu
            .evaluate(program, inputs.clone())
            .map_err(|e| e.to_string())?;
        let gpu_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let cpu_out = cpu
            .evaluate(program, inputs, name, rayon::current_num_threads())
            .map_err(|e| e.to_string())?;
        let cpu_s = t.elapsed().as_secs_f64();
        threshold_check(keys, name, &out.outputs, &expected)?;
        println!(
            "   {name}: {} nodes, GPU {:.1} ms, CPU engine {:.1} ms ({:.1}×), threshold decryption (3 of 5) of the GPU's {} outputs correct",
            program.nodes.len(),
            gpu_s * 1e3,
            cpu_s * 1e3,
            cpu_s / gpu_s,
            expected.len(),
        );
        runs.push(json!({
            "program": name, "nodes": program.nodes.len(), "bits": program.bits,
            "gpu_ms": gpu_s * 1e3, "cpu_engine_ms": cpu_s * 1e3, "ratio_cpu_over_gpu": cpu_s / gpu_s,
            "decrypted_correctly": true, "digest_equal_to_cpu": out.digest == cpu_out.digest,
        }));
    }
    Ok(json!({ "runs": runs }))
}
