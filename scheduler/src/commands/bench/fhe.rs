//! `fornax bench fhe`: the FHE engine side by side with tfhe-rs's own API, and threshold
//! decryption's cost, in one run on one key set.
//!
//! 1. **Batched KS-PBS throughput.** `ops` independent bitwise ANDs of `bits`-bit integers
//!    (each block one KS-PBS) run through the engine (planned into one batch of jobs, the
//!    jobs in parallel) and through tfhe-rs directly (`par_iter` over the same operations
//!    with the same server key). KS-PBS are counted by tfhe-rs (`pbs-stats`); repetitions
//!    are interleaved, medians reported; the ratio is tfhe-rs's time over the engine's.
//! 2. **Threshold decryption**, (n, k) as given: PartDec per party per squashed block, and
//!    end to end for one `bits`-bit result: every party's PartDec one after another on this
//!    machine, then FinDec with k shares (and with all n, which runs error correction).

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
    /// Where to write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
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

    // 1. Throughput.
    let inputs: Vec<_> = (0..2 * args.ops as u64)
        .map(|i| fornax_fhe::encrypt(&dealt.public, i & ((1 << args.bits.min(63)) - 1), args.bits))
        .collect::<Result<_, _>>()?;
    let program = Program {
        bits: args.bits,
        inputs: 2 * args.ops,
        nodes: (0..args.ops)
            .map(|i| Op::And {
                a: 2 * i,
                b: 2 * i + 1,
            })
            .collect(),
        outputs: vec![2 * args.ops],
    };
    program.validate()?;
    let job_plan = plan(&program, "bench", threads);
    let sk = evaluator.server_key();
    let (mut engine_s, mut tfhe_s) = (Vec::new(), Vec::new());
    let (mut engine_pbs, mut tfhe_pbs) = (0u64, 0u64);
    for rep in 0..args.reps {
        for side in if rep % 2 == 0 { [0, 1] } else { [1, 0] } {
            tfhe::reset_pbs_count();
            let t = Instant::now();
            if side == 0 {
                let values = evaluator.compute(&program, inputs.clone(), &job_plan)?;
                std::hint::black_box(values);
                engine_s.push(t.elapsed().as_secs_f64());
                engine_pbs = tfhe::get_pbs_count();
            } else {
                let out: Vec<_> = inputs
                    .par_chunks(2)
                    .map(|pair| sk.bitand_parallelized(&pair[0], &pair[1]))
                    .collect();
                std::hint::black_box(out);
                tfhe_s.push(t.elapsed().as_secs_f64());
                tfhe_pbs = tfhe::get_pbs_count();
            }
        }
    }
    let (engine_t, tfhe_t) = (median(engine_s), median(tfhe_s));
    let ratio = tfhe_t / engine_t;
    println!(
        "KS-PBS batch: {} ANDs of {} bits, {} jobs: engine {engine_pbs} PBS in {engine_t:.3} s ({:.0}/s), tfhe-rs {tfhe_pbs} PBS in {tfhe_t:.3} s ({:.0}/s): ratio {ratio:.3}",
        args.ops,
        args.bits,
        job_plan.jobs().count() - 1,
        engine_pbs as f64 / engine_t,
        tfhe_pbs as f64 / tfhe_t,
    );

    // 2. Threshold decryption of a squashed result.
    let one = Program {
        bits: args.bits,
        inputs: 1,
        nodes: vec![],
        outputs: vec![0],
    };
    let value = 0xbeef & ((1u64 << args.bits.min(63)) - 1);
    let out = evaluator.evaluate(
        &one,
        vec![fornax_fhe::encrypt(&dealt.public, value, args.bits)?],
        "bench-dec",
        1,
    )?;
    let ct = out.outputs[0]
        .underlying_squashed_noise_ciphertext()
        .clone();
    let blocks = ct.packed_blocks().len();
    let mut partdec_s = Vec::new();
    let mut end_to_end_s = Vec::new();
    let mut findec_all_s = Vec::new();
    for _ in 0..args.reps.max(5) {
        let t = Instant::now();
        let partials: Vec<_> = holders
            .iter()
            .map(|h| h.partial_decrypt(&ct))
            .collect::<Result<_, _>>()?;
        let all_partdec = t.elapsed();
        let d = fornax_fhe::combine(&dealt.public, &ct, &partials[..args.threshold])?;
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
    }
    let partdec = median(partdec_s);
    let end_to_end = median(end_to_end_s);
    let findec_all = median(findec_all_s);
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
            "device": cpu_model(),
            "threads": threads,
            "commit": super::git_commit(),
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "params": "PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 + NOISE_SQUASHING_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128 (tfhe-rs 1.8.2)",
            "pbs_batch": {
                "ops": args.ops, "bits": args.bits, "reps": args.reps,
                "engine_s": engine_t, "engine_pbs": engine_pbs, "engine_pbs_per_s": engine_pbs as f64 / engine_t,
                "tfhe_s": tfhe_t, "tfhe_pbs": tfhe_pbs, "tfhe_pbs_per_s": tfhe_pbs as f64 / tfhe_t,
                "ratio_engine_over_tfhe": ratio,
            },
            "threshold": {
                "parties": args.parties, "threshold": args.threshold, "bits": args.bits, "blocks": blocks,
                "partdec_us_per_party_per_block": partdec * 1e6,
                "end_to_end_ms": end_to_end * 1e3,
                "findec_all_with_correction_ms": findec_all * 1e3,
            },
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)
            .with_context(|| path.display().to_string())?;
    }
    Ok(ExitCode::SUCCESS)
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
