//! `fornax bench fpga-model`: the FPGA engines projected onto real cards (AMD Alveo U55C and
//! U250) by the model of `fornax_hw::model`, from cycle counts it measures here in
//! co-simulation (a 2^10-point MSM, a 2^12-element NTT), the host's speed at the bucket
//! combination, the RTL's resource counts and the cards' datasheets, at a stated clock;
//! beside measured results of other devices (`--results FILE`: `fornax bench --json` files,
//! of the CPU or of a GPU with `--device cuda:0`) and the published figures of the ZPrize
//! 2022 MSM winner on an FPGA. Every input is printed with its source, estimates marked.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use ark_bn254::{Fr, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::UniformRand;
use fornax_hw::model::{self, Measured, Source, PARTS};
use fornax_hw::ntt::{NttCard, Transform, Twiddles};
use fornax_hw::sim::{EngineSim, NttSim, Variant};
use rand::SeedableRng;
use serde_json::json;

/// What to project.
#[derive(clap::Args, Debug)]
pub struct FpgaModelBench {
    /// The clock the projections assume, MHz: an estimate (the RTL's adder trees are not yet
    /// cut for timing; the ZPrize winner closed 278 MHz on a VU9P).
    #[arg(long, default_value_t = 250.0)]
    clock_mhz: f64,
    /// log2 sizes of the MSMs to project.
    #[arg(long, value_delimiter = ',', default_values_t = [20, 24])]
    msm: Vec<u32>,
    /// log2 sizes of the NTTs to project.
    #[arg(long, value_delimiter = ',', default_values_t = [24])]
    ntt: Vec<u32>,
    /// Result files of `fornax bench --json` (the CPU, or a GPU with `--device cuda:0`),
    /// whose MSM and NTT times are shown beside the projections (repeatable).
    #[arg(long)]
    results: Vec<PathBuf>,
    /// Where to write the projections and their inputs as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The ZPrize 2022 MSM track's FPGA winner (Jane Street's Hardcaml): 2^26 points on
/// BLS12-377, seconds per MSM (four in a batch, transfers and host work overlapped), on an
/// AWS F1 (Xilinx VU9P).
const HARDCAML_2_26_S: f64 = 5.083;
/// Its breakdown, one MSM serialised: bucket accumulation on the FPGA, scalars to the card,
/// the host's post-processing (zprize.hardcaml.com/msm-results.html).
const HARDCAML_STEPS_2_26_S: [(&str, f64); 3] = [
    ("bucket accumulation on the FPGA", 4.968),
    ("scalars to the FPGA", 0.198),
    ("host post-processing", 0.470),
];

/// Measures, projects, prints and (with `--json`) records.
pub fn run(args: &FpgaModelBench) -> Result<ExitCode> {
    if !(args.clock_mhz > 0.0) {
        eprintln!("error: --clock-mhz must be positive");
        return Ok(ExitCode::from(2));
    }
    let seed: u64 = rand::random();
    println!("fpga-model: seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut engine = match EngineSim::new(Variant::Exact) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    // Cycles per addition: a 2^10-point MSM in co-simulation, checked against arkworks.
    println!("measuring: a 2^10-point MSM on the simulated bucket engine");
    let bases: Vec<_> = (0..1 << 10)
        .map(|_| G1Projective::rand(&mut rng).into_affine())
        .collect();
    let scalars: Vec<Fr> = (0..1 << 10).map(|_| Fr::rand(&mut rng)).collect();
    let (sum, msm_stats) = fornax_hw::msm::msm_g1(&mut engine, &bases, &scalars)?;
    anyhow::ensure!(
        sum == fornax_kernels::cpu::msm(&bases, &scalars),
        "the simulated engine's MSM differs from the CPU's (seed {seed})"
    );
    // Cycles per butterfly: a forward NTT of 2^12.
    println!("measuring: a forward NTT of 2^12 on the simulated NTT engine");
    let mut ntt_engine = NttSim::new()?;
    let log = ntt_engine.max_log_size();
    let mut values: Vec<Fr> = (0..1 << log).map(|_| Fr::rand(&mut rng)).collect();
    let ntt_stats = fornax_hw::ntt::ntt(
        &mut ntt_engine,
        &Twiddles::new(log),
        &mut values,
        Transform::Forward,
    )?;
    // The host's bucket combination: projective additions.
    let points: Vec<G1Projective> = (0..1024).map(|_| G1Projective::rand(&mut rng)).collect();
    let rounds = 200;
    let started = Instant::now();
    let mut acc = G1Projective::default();
    for _ in 0..rounds {
        for p in &points {
            acc += p;
        }
    }
    let _ = std::hint::black_box(acc);
    let host_add = started.elapsed().as_secs_f64() / (rounds * points.len()) as f64;
    let measured = Measured {
        cycles_per_addition: msm_stats.cycles_per_addition(),
        cycles_per_butterfly: ntt_stats.pass_cycles as f64 / ntt_stats.issues as f64,
        host_seconds_per_addition: host_add,
        clock_hz: args.clock_mhz * 1e6,
    };

    let inputs = model::inputs(&measured);
    println!("\ninputs (source: simulated, rtl, datasheet, host = measured here, estimate):");
    for i in &inputs {
        let mark = match i.source {
            Source::Estimate => "  <- estimate",
            _ => "",
        };
        println!(
            "  {:<64} {:>12.4} {:<6} {:?}{mark}",
            i.name, i.value, i.unit, i.source
        );
    }

    let mut msm_rows = Vec::new();
    let mut ntt_rows = Vec::new();
    println!(
        "\nprojections at {} MHz (seconds; nothing overlapped):",
        args.clock_mhz
    );
    for part in &PARTS {
        for &log in &args.msm {
            match model::msm(part, &measured, log) {
                Some(p) => {
                    println!(
                        "  {:<5} MSM G1 2^{log:<2}  {:>8.4} s  ({} engine, C = {}: engine {:.4}, PCIe {:.4}, host {:.4})",
                        part.name, p.total_s, p.engines, p.window_bits, p.engine_s, p.pcie_s, p.host_s
                    );
                    msm_rows.push(p);
                }
                None => println!(
                    "  {:<5} MSM G1 2^{log:<2}  does not fit: one adder needs {} DSPs",
                    part.name,
                    model::ADDER_MULTIPLIERS * model::DSP_PER_MULTIPLIER
                ),
            }
        }
        for &log in &args.ntt {
            for as_built in [true, false] {
                let p = model::ntt(part, &measured, log, as_built);
                println!(
                    "  {:<5} NTT    2^{log:<2}  {:>8.4} s  ({} butterfly unit(s), {}: engine {:.4}, PCIe {:.4})",
                    part.name, p.total_s, p.units, p.bound, p.engine_s, p.pcie_s
                );
                ntt_rows.push(p);
            }
        }
    }

    // Beside: measured devices (`--results`) and the published FPGA figures.
    let mut measured_rows = Vec::new();
    for path in &args.results {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for row in doc["rows"].as_array().into_iter().flatten() {
            let bench = row["bench"].as_str().unwrap_or_default();
            if bench == "msm-g1" || bench == "ntt" {
                measured_rows.push(json!({
                    "file": path.display().to_string(),
                    "device": doc["device"],
                    "device_id": doc["device_id"],
                    "bench": bench,
                    "log_size": row["log_size"],
                    "seconds": row["fornax_s"],
                }));
            }
        }
    }
    println!("\nbeside:");
    for r in &measured_rows {
        println!(
            "  {} {} 2^{}: {:.4} s ({})",
            r["device"].as_str().unwrap_or("?"),
            r["bench"].as_str().unwrap_or("?"),
            r["log_size"],
            r["seconds"].as_f64().unwrap_or(f64::NAN),
            r["file"].as_str().unwrap_or("?")
        );
    }
    if measured_rows.is_empty() {
        println!("  measured devices: no result files given (--results FILE)");
    }
    let hardcaml_2_24 = HARDCAML_2_26_S / 4.0;
    println!(
        "  Hardcaml (ZPrize 2022 MSM, FPGA winner): {HARDCAML_2_26_S} s per 2^26 BLS12-377 MSM on a VU9P at 278 MHz, \
         {hardcaml_2_24:.3} s scaled to 2^24 (published figure, another curve of the same scalar size)"
    );
    for (step, seconds) in HARDCAML_STEPS_2_26_S {
        println!(
            "    {step}: {seconds} s at 2^26, {:.3} s scaled to 2^24",
            seconds / 4.0
        );
    }
    println!("  Yrrid and Matter Labs (ZPrize 2022 MSM, tied first on GPUs), Ingonyama: their figures are not in the material this machine reaches");
    if !measured_rows.iter().any(|r| {
        r["device_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cuda"))
    }) {
        println!("  CUDA (this project's kernels): no result file given; one comes from `fornax bench --device cuda:0 --msm 20 --ntt 20 --json FILE` on a GPU");
    }

    if let Some(path) = &args.json {
        let doc = json!({
            "bench": "fpga-model",
            "clock_mhz": args.clock_mhz,
            "seed": seed,
            "model_inputs_measured": measured,
            "simulated": {
                "msm_2_10": {
                    "cycles": msm_stats.cycles,
                    "additions": msm_stats.issues,
                    "cycles_per_addition": msm_stats.cycles_per_addition(),
                    "stalls": msm_stats.stalls,
                    "drain_cycles": msm_stats.drain_cycles,
                },
                "ntt_2_12": {
                    "pass_cycles": ntt_stats.pass_cycles,
                    "butterflies": ntt_stats.issues,
                    "io_cycles": ntt_stats.io_cycles,
                },
            },
            "inputs": inputs,
            "msm": msm_rows,
            "ntt": ntt_rows,
            "measured": measured_rows,
            "published": [{
                "who": "Hardcaml (Jane Street), ZPrize 2022 MSM track winner (FPGA)",
                "what": "MSM of 2^26 points, BLS12-377 G1, AWS F1 (Xilinx VU9P), 278 MHz",
                "seconds": HARDCAML_2_26_S,
                "scaled_to_2_24_s": hardcaml_2_24,
                "steps_2_26_s": HARDCAML_STEPS_2_26_S
                    .iter()
                    .map(|(step, s)| json!({"step": step, "seconds": s}))
                    .collect::<Vec<_>>(),
                "source": "https://blog.janestreet.com/zero-knowledge-fpgas-hardcaml/ and https://zprize.hardcaml.com/msm-results.html",
            }],
        });
        super::write_result(path, doc, &fornax_kernels::DeviceRegistry::discover())?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
