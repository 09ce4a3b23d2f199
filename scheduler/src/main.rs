//! `fornax`: prove and verify Groth16 over BN254 (snarkjs-compatible), run the node
//! (`fornax node`) or a worker (`fornax worker`), talk to a node (`register`, `circuits`,
//! `submit`, `status`, `wait`, `fhe`, `chain`), benchmark, and list this machine's devices.
//!
//! This file holds the command line; each command lives in [`commands`], and `fornax
//! node`'s settings are merged and checked once in [`config`].

mod commands;
mod config;
mod logging;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use fornax_kernels::DeviceRegistry;

use commands::bench::{self, BenchWhat};
use commands::{chain, client, doctor, fhe, node, prove, worker};
use config::{NodeArgs, NodeConfig};
use worker::WorkerArgs;

#[derive(Parser)]
#[command(
    name = "fornax",
    version,
    about = "Verifiable computation on GPUs, FPGAs and CPUs: Groth16 over BN254, snarkjs-compatible."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text`, or `json` (one object a line, with the
    /// task, job and worker fields); `RUST_LOG` filters them.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        env = "FORNAX_LOG_FORMAT"
    )]
    log_format: logging::LogFormat,
    /// Also export spans (each job's, with its task, job and worker) to this OpenTelemetry
    /// collector's OTLP/HTTP traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`.
    #[arg(long, global = true, env = "FORNAX_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Proves a witness: `fornax prove circuit.zkey witness.wtns proof.json public.json`
    /// (rapidsnark's argument order), or computes the witness first:
    /// `fornax prove circuit.zkey circuit.wasm proof.json public.json --input input.json`.
    Prove {
        /// The snarkjs proving key.
        zkey: PathBuf,
        /// The witness (circom `.wtns`), or circom's witness generator (`circuit.wasm`).
        witness: PathBuf,
        /// Where to write the proof (snarkjs JSON).
        proof: PathBuf,
        /// Where to write the public signals (snarkjs JSON).
        public: PathBuf,
        /// The circuit's input (circom JSON); required with a `.wasm` witness generator.
        #[arg(long)]
        input: Option<PathBuf>,
        /// The circuit (`.r1cs`): check the witness against every constraint before proving,
        /// naming the first one it breaks.
        #[arg(long)]
        r1cs: Option<PathBuf>,
        /// Print each phase's peak resident memory (load, upload, prove).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Computes a witness like `snarkjs wtns calculate`:
    /// `fornax witness circuit.wasm input.json witness.wtns`.
    Witness {
        /// circom's witness generator (`circuit.wasm`).
        wasm: PathBuf,
        /// The circuit's input (circom JSON).
        input: PathBuf,
        /// Where to write the witness (`.wtns`).
        out: PathBuf,
        /// The circuit (`.r1cs`): check the witness against every constraint.
        #[arg(long)]
        r1cs: Option<PathBuf>,
    },
    /// Verifies a proof: `fornax verify verification_key.json public.json proof.json`
    /// (snarkjs's argument order). Exit code 0 when valid, 1 when not.
    Verify {
        /// The verification key (snarkjs JSON).
        verification_key: PathBuf,
        /// The public signals (snarkjs JSON).
        public: PathBuf,
        /// The proof (snarkjs JSON).
        proof: PathBuf,
    },
    /// Benchmarks Fornax beside its peers in one run: the kernels and the prover beside
    /// arkworks (or an accelerator beside the CPU backend), and the named benches below;
    /// prints tables, writes JSON (`--json`), and re-runs a result file (`--check FILE`).
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        /// log2 sizes of the G1 MSMs, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [12u32, 16])]
        msm: Vec<u32>,
        /// log2 sizes of the G2 MSMs, comma separated (none by default).
        #[arg(long, value_delimiter = ',')]
        msm_g2: Vec<u32>,
        /// log2 sizes of the NTTs, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [12u32, 16])]
        ntt: Vec<u32>,
        /// log2 constraint counts of the Groth16 circuits, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [12u32])]
        groth16: Vec<u32>,
        /// The sizes the targets name (MSM 2^12..2^20, NTT 2^12..2^22, Groth16
        /// 2^16..2^18); overrides the lists above.
        #[arg(long)]
        full: bool,
        /// Repetitions per size (medians are reported).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Seed of the random inputs.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Where to write the JSON results.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Benchmark this device (an id of `fornax devices`, e.g. `cuda:0`) against Fornax's
        /// CPU backend, instead of the CPU backend against arkworks.
        #[arg(long)]
        device: Option<String>,
        /// What to compare with: `arkworks` (the default without `--device`) or `cpu`
        /// (Fornax's CPU backend, the default with one).
        #[arg(long, value_enum)]
        peer: Option<bench::KernelPeer>,
        /// Re-run the command a result file records (`fornax bench … --json FILE`) with this
        /// build, and say how far today's figures are from the file's.
        #[arg(long, value_name = "FILE")]
        check: Option<PathBuf>,
    },
    /// Writes the verification key of a zkey: `fornax export-vk circuit.zkey vk.json`.
    ExportVk {
        /// The snarkjs proving key.
        zkey: PathBuf,
        /// Where to write the verification key (snarkjs JSON).
        out: PathBuf,
    },
    /// Writes a Solidity Groth16 verifier for a verification key to standard output, with
    /// the `verifyProof` ABI of snarkjs's: `fornax export-verifier vk.json > Verifier.sol`.
    ExportVerifier {
        /// The verification key (snarkjs JSON).
        vk: PathBuf,
    },
    /// INSECURE single-party setup for tests and benchmarks: `fornax dev-setup c.r1cs c.zkey`.
    /// Whoever knows the RNG state can forge proofs; never use the key in production.
    DevSetup {
        /// The circuit (circom `.r1cs`).
        r1cs: PathBuf,
        /// Where to write the proving key.
        zkey: PathBuf,
    },
    /// Lists the devices Fornax found on this machine.
    Devices,
    /// Checks this machine for running a node or worker (devices, TEE, data directory, and
    /// with flags NATS, the chain's RPC endpoint and the clock): a pass/warn/fail table with
    /// the fix for each problem; exit code 1 when a check fails.
    Doctor(doctor::DoctorArgs),
    /// `fornax node`'s settings: `--print-defaults` prints each one's documentation, flag,
    /// environment variable, TOML key and default (generated from the flags themselves);
    /// `--check FILE` checks a TOML file as the node reads it.
    Config(commands::settings::ConfigArgs),
    /// The market on chain: deploy, register a circuit, create and read tasks.
    #[command(subcommand)]
    Chain(chain::ChainCommand),
    /// Encrypted computation: generate a threshold key set, encrypt, submit programs over
    /// ciphertexts to a node, decrypt results with k of n key holders.
    #[command(subcommand)]
    Fhe(fhe::FheCommand),
    /// Serves threshold partial decryptions for one key share over HTTP (one process per
    /// key holder).
    Keyholder(fhe::KeyholderArgs),
    /// Runs the node: the HTTP API, the scheduler and a worker for this machine's devices,
    /// with every task stored in RocksDB under the data directory. Flags override the
    /// TOML file given with `--config`.
    Node(Box<NodeArgs>),
    /// Joins a cluster as a worker: takes proving jobs that fit its devices and memory from
    /// the node's queue (`fornax node --queue nats://…`), proves them, reports back. SIGTERM
    /// or Ctrl-C drains it (running jobs finish, no new ones); a second one stops it at once.
    Worker(WorkerArgs),
    /// Registers a circuit with a node: `fornax register circuit.zkey [--wasm circuit.wasm]`;
    /// prints its id (the content hash).
    Register {
        /// The snarkjs proving key.
        zkey: PathBuf,
        /// circom's witness generator, for tasks that send input JSON.
        #[arg(long)]
        wasm: Option<PathBuf>,
        #[command(flatten)]
        conn: client::NodeConn,
    },
    /// Lists the circuits a node knows.
    Circuits {
        #[command(flatten)]
        conn: client::NodeConn,
    },
    /// Submits a proving task to a node; prints the task id.
    Submit {
        /// The circuit's id.
        circuit: String,
        /// The circuit's input (circom JSON).
        #[arg(long)]
        input: Option<PathBuf>,
        /// A ready witness (`.wtns`) instead of an input.
        #[arg(long)]
        witness: Option<PathBuf>,
        /// Makes a retried submit return the same task.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Expire the task if it is not proved within this many seconds.
        #[arg(long)]
        timeout_s: Option<u64>,
        #[command(flatten)]
        conn: client::NodeConn,
    },
    /// Prints a task.
    Status {
        /// The task's id.
        id: String,
        #[command(flatten)]
        conn: client::NodeConn,
    },
    /// Waits for tasks, showing their progress; exit 0 when all were proved.
    Wait {
        /// The tasks' ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Write each proof and its public signals here (`ID.proof.json`, `ID.public.json`).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        conn: client::NodeConn,
    },
}

fn main() -> ExitCode {
    fornax_node::queue::jetstream::install_tls_provider();
    let cli = Cli::parse();
    let service = matches!(
        cli.command,
        Command::Node(_) | Command::Worker(_) | Command::Keyholder(_)
    );
    let _traces = match logging::init(cli.log_format, service, cli.otlp_endpoint.as_deref()) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Prove {
            zkey,
            witness,
            proof,
            public,
            input,
            r1cs,
            verbose,
        } => prove::prove(
            &zkey,
            &witness,
            input.as_deref(),
            r1cs.as_deref(),
            verbose,
            &proof,
            &public,
        ),
        Command::Witness {
            wasm,
            input,
            out,
            r1cs,
        } => prove::witness(&wasm, &input, &out, r1cs.as_deref()),
        Command::Verify {
            verification_key,
            public,
            proof,
        } => prove::verify(&verification_key, &public, &proof),
        Command::Bench {
            what: Some(BenchWhat::Api(args)),
            ..
        } => bench::api::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Queue(args)),
            ..
        } => bench::queue::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Cluster(args)),
            ..
        } => bench::cluster::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Fhe(args)),
            ..
        } => bench::fhe::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Split(args)),
            ..
        } => bench::split::run(&args),
        Command::Bench {
            what: Some(BenchWhat::FpgaModel(args)),
            ..
        } => bench::fpga::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Prove(args)),
            ..
        } => bench::prove::run(&args),
        Command::Bench {
            what: Some(BenchWhat::ArkProve(args)),
            ..
        } => bench::prove::ark_prove(&args),
        Command::Bench {
            what: Some(BenchWhat::Measure(args)),
            ..
        } => bench::prove::measure(&args),
        Command::Bench {
            what: Some(BenchWhat::Report(args)),
            ..
        } => bench::report::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Msm(args)),
            ..
        } => bench::msm(&args),
        Command::Bench {
            what: Some(BenchWhat::Ntt(args)),
            ..
        } => bench::ntt(&args),
        Command::Bench {
            what: None,
            msm,
            msm_g2,
            ntt,
            groth16,
            full,
            reps,
            seed,
            json,
            device,
            peer,
            check,
        } => {
            if let Some(file) = check {
                return bench::check::run(&file);
            }
            let plan = if full {
                fornax_bench::Plan {
                    msm: vec![12, 14, 16, 18, 20],
                    msm_g2: vec![16, 18],
                    ntt: vec![12, 14, 16, 18, 20, 22],
                    groth16: vec![16, 17, 18],
                    reps,
                    seed,
                }
            } else {
                fornax_bench::Plan {
                    msm,
                    msm_g2,
                    ntt,
                    groth16,
                    reps,
                    seed,
                }
            };
            bench::bench(&plan, device.as_deref(), peer, json.as_deref())
        }
        Command::ExportVk { zkey, out } => prove::export_vk(&zkey, &out),
        Command::ExportVerifier { vk } => prove::export_verifier(&vk),
        Command::DevSetup { r1cs, zkey } => prove::dev_setup(&r1cs, &zkey),
        Command::Node(args) => node::node(NodeConfig::load(*args)?),
        Command::Worker(args) => worker::worker(args),
        Command::Register { zkey, wasm, conn } => client::register(&conn, &zkey, wasm.as_deref()),
        Command::Circuits { conn } => client::circuits(&conn),
        Command::Submit {
            circuit,
            input,
            witness,
            idempotency_key,
            timeout_s,
            conn,
        } => client::submit(
            &conn,
            &circuit,
            input.as_deref(),
            witness.as_deref(),
            idempotency_key.as_deref(),
            timeout_s,
        ),
        Command::Status { id, conn } => client::status(&conn, &id),
        Command::Wait { ids, out, conn } => client::wait(&conn, &ids, out.as_ref()),
        Command::Chain(cmd) => chain::run(cmd),
        Command::Fhe(cmd) => fhe::run(cmd),
        Command::Keyholder(args) => fhe::keyholder(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Config(args) => commands::settings::run(&args),
        Command::Devices => {
            let registry = DeviceRegistry::discover();
            for note in registry.notes() {
                eprintln!("{note}");
            }
            for b in registry.backends() {
                let i = b.info();
                println!(
                    "{}\t{}\t{}\t{} lanes\t{} MiB",
                    i.id,
                    i.kind,
                    i.name,
                    i.parallelism,
                    i.memory_bytes >> 20
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
