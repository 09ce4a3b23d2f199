//! The FHE engine on a CUDA GPU (tfhe-rs's `gpu` feature), measured side by side with the
//! CPU in one run. Built by `ops/fhe-gpu-build.sh --example gpu_bench`; run on the GPU
//! machine by `ops/fhe-gpu-bench.sh`. Never part of the test command.
//!
//! 1. **Batched KS-PBS throughput.** One bitwise AND over B blocks is B independent KS-PBS
//!    (one bivariate lookup table per block) that tfhe-rs's CUDA backend launches as one
//!    batch; for each B, the median over `--reps` runs after a warm-up, every result block
//!    decrypted and checked. The same AND over `--cpu-blocks` blocks on all CPU cores gives
//!    the ratio.
//! 2. **Programs on the GPU.** The sealed-bid auction and random programs run through
//!    [`DeviceEvaluator::cuda`], squashed on the GPU, threshold-decrypted by 3 of 5 key holders
//!    and checked against the plaintext evaluation; timed against the CPU engine.
//!
//! Usage: `gpu_bench [--blocks 1024,4096,16384,65536] [--reps 5] [--cpu-blocks 2048]
//! [--programs 3] [--commit SHA] [--json FILE]`. The JSON is rewritten after each stage, so
//! a stage that dies (out of device memory) leaves the earlier ones on record.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use fornax_fhe::device::DeviceEvaluator;
use fornax_fhe::threshold::{setup_insecure_keep_secret, KeyHolder};
use fornax_fhe::{combine, encrypt, Evaluator, Program};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde_json::{json, Value};
use tfhe::core_crypto::gpu::vec::GpuIndex;
use tfhe::core_crypto::gpu::{get_number_of_gpus, CudaStreams};
use tfhe::integer::gpu::ciphertext::CudaUnsignedRadixCiphertext;
use tfhe::integer::gpu::CudaServerKey;
use tfhe::integer::RadixCiphertext;

struct Args {
    blocks: Vec<usize>,
    reps: usize,
    cpu_blocks: usize,
    programs: usize,
    commit: String,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        blocks: vec![1024, 4096, 16384, 65536],
        reps: 5,
        cpu_blocks: 2048,
        programs: 3,
        commit: "unknown".into(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |s: &str| s.parse::<usize>().map_err(|e| format!("{flag}: {s}: {e}"));
        match flag.as_str() {
            "--blocks" => {
                args.blocks = value()?.split(',').map(number).collect::<Result<_, _>>()?
            }
            "--reps" => args.reps = number(&value()?)?.max(1),
            "--cpu-blocks" => args.cpu_blocks = number(&value()?)?,
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    fornax_fhe::device::check_cuda_driver().map_err(|e| e.to_string())?;
    if get_number_of_gpus() == 0 {
        return Err("no CUDA GPU is visible".into());
    }
    let seed: u64 = rand::random();
    println!("seed {seed}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let started = Instant::now();
    let (dealt, client_key) =
        setup_insecure_keep_secret(5, 3, &mut rng).map_err(|e| e.to_string())?;
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
    println!(
        "set-up (5, 3), keys on the GPU and the CPU: {:.1?}",
        started.elapsed()
    );

    let mut doc = json!({
        "bench": "fhe-gpu",
        "device": gpu_name(),
        "cpu_threads": rayon::current_num_threads(),
        "commit": args.commit,
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "params": "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 (tfhe-rs 1.8.2, classic PBS)",
        "seed": seed,
        "ks_pbs": [],
    });

    // 1. Batched KS-PBS: one AND over B blocks.
    let random_blocks = |n: usize, rng: &mut ChaCha20Rng| -> (Vec<u64>, RadixCiphertext) {
        let clear: Vec<u64> = (0..n).map(|_| rng.gen_range(0..4)).collect();
        let blocks: Vec<_> = clear
            .par_iter()
            .map(|&m| cks.encrypt_one_block(m))
            .collect();
        (clear, RadixCiphertext::from(blocks))
    };
    let check = |what: &str, a: &[u64], b: &[u64], out: &RadixCiphertext| -> Result<(), String> {
        use tfhe::integer::IntegerCiphertext;
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
    };
    let cpu_pbs_per_s = {
        let (a, ct_a) = random_blocks(args.cpu_blocks, &mut rng);
        let (b, ct_b) = random_blocks(args.cpu_blocks, &mut rng);
        let mut times = Vec::new();
        for _ in 0..args.reps.min(3) {
            let t = Instant::now();
            let out = cpu_key.unchecked_bitand_parallelized(&ct_a, &ct_b);
            times.push(t.elapsed().as_secs_f64());
            check("CPU AND", &a, &b, &out)?;
        }
        let t = median(times);
        let rate = args.cpu_blocks as f64 / t;
        println!(
            "CPU ({} threads): {} KS-PBS in {t:.3} s: {rate:.0} KS-PBS/s",
            rayon::current_num_threads(),
            args.cpu_blocks
        );
        doc["cpu_ks_pbs"] = json!({"blocks": args.cpu_blocks, "s": t, "pbs_per_s": rate});
        save(&args.json, &doc);
        rate
    };
    for &n in &args.blocks {
        let (a, ct_a) = random_blocks(n, &mut rng);
        let (b, ct_b) = random_blocks(n, &mut rng);
        let d_a = CudaUnsignedRadixCiphertext::from_radix_ciphertext(&ct_a, &streams);
        let d_b = CudaUnsignedRadixCiphertext::from_radix_ciphertext(&ct_b, &streams);
        let warm = gpu_key.unchecked_bitand(&d_a, &d_b, &streams);
        streams.synchronize();
        check(
            "GPU AND (warm-up)",
            &a,
            &b,
            &warm.to_radix_ciphertext(&streams),
        )?;
        let mut times = Vec::new();
        for _ in 0..args.reps {
            let t = Instant::now();
            let out = gpu_key.unchecked_bitand(&d_a, &d_b, &streams);
            streams.synchronize();
            times.push(t.elapsed().as_secs_f64());
            check("GPU AND", &a, &b, &out.to_radix_ciphertext(&streams))?;
        }
        let t = median(times);
        let rate = n as f64 / t;
        println!(
            "GPU: {n} KS-PBS in one batch: {:.3} ms: {rate:.0} KS-PBS/s ({:.1}× the CPU)",
            t * 1e3,
            rate / cpu_pbs_per_s
        );
        if let Some(list) = doc["ks_pbs"].as_array_mut() {
            list.push(json!({
                "blocks": n, "reps": args.reps, "median_s": t, "pbs_per_s": rate,
                "ratio_gpu_over_cpu": rate / cpu_pbs_per_s,
            }));
        }
        save(&args.json, &doc);
    }

    // 2. Programs through the device evaluator, threshold-decrypted.
    let gpu = DeviceEvaluator::cuda(&dealt.public).map_err(|e| e.to_string())?;
    let cpu = Evaluator::new(&dealt.public);
    let auction = Program::from_json(include_bytes!("../../ops/fhe/auction.json"))
        .map_err(|e| e.to_string())?;
    let mut programs = vec![("auction".to_string(), auction)];
    for i in 0..args.programs {
        programs.push((format!("random-{i}"), Program::random(16, 3, 12, &mut rng)));
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
            .map(|&v| encrypt(&dealt.public, v, program.bits))
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
        for (i, (ct, want)) in out.outputs.iter().zip(&expected).enumerate() {
            let raw = ct.underlying_squashed_noise_ciphertext().clone();
            let partials: Vec<_> = holders[i % 3..i % 3 + 3]
                .iter()
                .map(|h| h.partial_decrypt(&raw))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?;
            let d = combine(&dealt.public, &raw, &partials).map_err(|e| e.to_string())?;
            if d.value != u128::from(*want) {
                return Err(format!(
                    "{name}: output {i} decrypts to {} on the GPU, plaintext gives {want} \
                     (program {program:?}, inputs {clear:?})",
                    d.value
                ));
            }
        }
        println!(
            "{name}: {} nodes, GPU {:.1} ms, CPU engine {:.1} ms ({:.1}×), threshold decryption of the GPU's {} outputs correct{}",
            program.nodes.len(),
            gpu_s * 1e3,
            cpu_s * 1e3,
            cpu_s / gpu_s,
            expected.len(),
            if out.digest == cpu_out.digest { ", digest equal to the CPU's" } else { "" },
        );
        runs.push(json!({
            "program": name, "nodes": program.nodes.len(), "bits": program.bits,
            "gpu_ms": gpu_s * 1e3, "cpu_engine_ms": cpu_s * 1e3, "ratio_cpu_over_gpu": cpu_s / gpu_s,
            "decrypted_correctly": true, "digest_equal_to_cpu": out.digest == cpu_out.digest,
        }));
        doc["programs"] = Value::Array(runs.clone());
        save(&args.json, &doc);
    }
    Ok(())
}
