//! `fornax`: prove and verify Groth16 over BN254 (snarkjs-compatible), run the node
//! (`fornax node`) and talk to one (`register`, `circuits`, `submit`, `status`, `wait`),
//! benchmark the kernels, and list this machine's devices.

mod bench_api;
mod bench_fhe;
mod bench_queue;
mod client;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

mod chain_cli;
mod fhe_cli;

use anyhow::{bail, Context, Result};
use ark_bn254::Fr;
use clap::{Parser, Subcommand};
use fornax_kernels::DeviceRegistry;
use fornax_node::fhe::FheDevice;
use fornax_prover::json::{self, ProofJson, VerificationKeyJson};
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{r1cs::R1cs, setup, wtns, LocalExecutor, ProvingKey};

#[derive(Parser)]
#[command(
    name = "fornax",
    version,
    about = "Verifiable computation on GPUs, FPGAs and CPUs: Groth16 over BN254, snarkjs-compatible."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Benchmarks Fornax against arkworks side by side; prints a table and writes JSON.
    /// `fornax bench api` measures the node's accept path and overhead instead.
    Bench {
        #[command(subcommand)]
        what: Option<BenchWhat>,
        /// log2 sizes of the G1 MSMs, comma separated.
        #[arg(long, value_delimiter = ',', default_values_t = [12u32, 16])]
        msm: Vec<u32>,
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
    /// The market on chain: deploy, register a circuit, create and read tasks.
    #[command(subcommand)]
    Chain(chain_cli::ChainCommand),
    /// Encrypted computation: generate a threshold key set, encrypt, submit programs over
    /// ciphertexts to a node, decrypt results with k of n key holders.
    #[command(subcommand)]
    Fhe(fhe_cli::FheCommand),
    /// Serves threshold partial decryptions for one key share over HTTP (one process per
    /// key holder).
    Keyholder(fhe_cli::KeyholderArgs),
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

/// Benchmarks other than the kernels'.
#[derive(Subcommand, Debug)]
enum BenchWhat {
    /// The node's accept path (submissions per second, latency) while it proves, its
    /// memory over many submissions, and its overhead per proof.
    Api(bench_api::ApiBench),
    /// What the queue costs: the same small proofs on an embedded node, through the
    /// in-process queue and through NATS JetStream with 1 and N worker processes
    /// (dispatch overhead per job, throughput ratio); optionally a chaos run that kills a
    /// worker every few seconds and counts tasks lost or proved twice.
    Queue(bench_queue::QueueBench),
    /// The FHE engine beside tfhe-rs's own API (batched KS-PBS throughput, same keys, same
    /// run) and the cost of threshold decryption (PartDec per party per block, end to end).
    Fhe(bench_fhe::FheBench),
}

/// `fornax worker` settings.
#[derive(clap::Args, Debug)]
struct WorkerArgs {
    /// The cluster's NATS server, `nats://HOST:4222`.
    #[arg(long)]
    join: String,
    /// Devices to prove on, ids from `fornax devices` (e.g. `cpu`, `cuda:0`); the first
    /// accelerator among them proves [default: every device found].
    #[arg(long, value_delimiter = ',')]
    devices: Vec<String>,
    /// Memory to admit jobs against, MiB [default: the proving device's memory].
    #[arg(long)]
    memory_mb: Option<u64>,
    /// Jobs to run at once.
    #[arg(long, default_value_t = 1)]
    slots: u32,
    /// Where downloaded proving keys and witness generators are kept.
    #[arg(long, default_value = "fornax-worker-cache")]
    cache_dir: PathBuf,
    /// This worker's id in the registry [default: HOST-PID-RANDOM].
    #[arg(long)]
    id: Option<String>,
}

/// `fornax node` settings; every one can also come from the TOML file.
#[derive(clap::Args, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeArgs {
    /// A TOML file with any of these settings (`data_dir`, `listen`, `max_body_mb`,
    /// `attempts`, and a table `[api_keys]` of name = "token").
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where the store and the artifacts live [default: fornax-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to serve HTTP on; port 0 picks a free one [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Largest request body in MiB (zkey uploads) [default: 512].
    #[arg(long)]
    max_body_mb: Option<usize>,
    /// Proving attempts per task before a retryable error fails it [default: 3].
    #[arg(long)]
    attempts: Option<u32>,
    /// Working memory the node's own worker admits jobs against, MiB [default: its
    /// device's memory]. A task whose proof needs more fails with `insufficient_memory`.
    /// Without `--queue nats://…` only.
    #[arg(long)]
    memory_budget_mb: Option<u64>,
    /// Seconds a worker may run one proof before it gives the attempt up (the task retried
    /// or failed with `timeout`; a node whose own worker is stuck is not ready until the
    /// attempt returns) [default: 3600].
    #[arg(long)]
    job_timeout_s: Option<f64>,
    /// Requests per second each API key may make; 0 for no limit [default: 1000].
    #[arg(long)]
    rate_limit: Option<f64>,
    /// An API key, `NAME=TOKEN`; repeatable. Without any, the API is open (a warning
    /// is printed) and every caller is `anonymous`.
    #[arg(long = "api-key", value_name = "NAME=TOKEN")]
    #[serde(skip)]
    api_key: Vec<String>,
    /// API keys from the TOML file: name = "token".
    #[arg(skip)]
    #[serde(default)]
    api_keys: std::collections::HashMap<String, String>,
    /// Webhook URLs per API key name, from the TOML file: name = "https://…"; every state
    /// change of the key's tasks is POSTed there, signed with the key's token.
    #[arg(skip)]
    #[serde(default)]
    webhooks: std::collections::HashMap<String, String>,
    /// Secret that signs webhooks of tasks submitted without an API key (open mode)
    /// [default: a random one per run].
    #[arg(long)]
    webhook_secret: Option<String>,
    /// Development chain: spawns anvil on a free loopback port, deploys the contracts,
    /// prints their addresses, and follows and posts to them (anvil's first dev account
    /// signs and is paid). The chain lives as long as the node.
    #[arg(long)]
    #[serde(default)]
    dev: bool,
    /// JSON-RPC endpoint of a chain to take tasks from and post results to.
    #[arg(long)]
    chain_rpc: Option<String>,
    /// The chain id the endpoint must report.
    #[arg(long)]
    chain_id: Option<u64>,
    /// TaskMarket's address.
    #[arg(long)]
    market: Option<String>,
    /// WorkerRegistry's address.
    #[arg(long)]
    registry: Option<String>,
    /// The key that signs results and is paid (hex); from the environment, not a flag,
    /// in production.
    #[arg(long, env = "FORNAX_CHAIN_KEY", hide_env_values = true)]
    #[serde(skip)]
    chain_key: Option<String>,
    /// Blocks a settlement or a task event must be buried under [default: 2; --dev: 1].
    #[arg(long)]
    confirmations: Option<u64>,
    /// The block to read task events from on the first start [default: the head].
    #[arg(long)]
    chain_from_block: Option<u64>,
    /// INSECURE: run the worker as a SIMULATED TEE (reports signed by a development CA,
    /// labelled SIMULATED everywhere; only a registry deployed to accept them registers it).
    /// For machines without a TEE, in development. Needs a chain.
    #[arg(long, conflicts_with = "tee_policy")]
    #[serde(default)]
    insecure_simulated_tee: bool,
    /// Attest the worker through this machine's TEE (configfs-tsm: TDX or SEV-SNP) and
    /// verify its quote under this policy (JSON: accepted TCB statuses, advisories,
    /// measurements, maximum quote age). Needs a chain.
    #[arg(long)]
    tee_policy: Option<PathBuf>,
    /// The queue proofs go through as jobs: `mem` (the in-process queue, with a worker of
    /// `--slots` slots inside this node), or `nats://HOST:4222` (NATS JetStream; workers
    /// join with `fornax worker --join`) [default: mem].
    #[arg(long)]
    queue: Option<String>,
    /// Jobs out to workers at once; the rest wait in the node's fair queue [default: 64].
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Serve encrypted computation with this FHE key set (`OUT/keyset` of `fornax fhe
    /// keygen`).
    #[arg(long)]
    fhe_keys: Option<PathBuf>,
    /// A key holder's URL (`fornax keyholder`); repeat for each.
    #[arg(long = "keyholder", value_name = "URL")]
    #[serde(default)]
    keyholders: Vec<String>,
    /// The bearer token the key holders expect.
    #[arg(long, env = "FORNAX_KEYHOLDER_TOKEN", hide_env_values = true)]
    keyholder_token: Option<String>,
    /// Parallel jobs per batch of an FHE program [default: the number of CPUs].
    #[arg(long)]
    fhe_workers: Option<usize>,
    /// Where FHE programs run: `cpu` (the engine), or `cuda` (tfhe-rs's CUDA backend on the
    /// first GPU; needs a `fornax` built with the `fhe-gpu` feature) [default: cpu].
    #[arg(long, value_parser = fhe_device_parser())]
    fhe_device: Option<FheDevice>,
    /// Seconds a worker's lease on a job lasts without progress before another worker
    /// gets it [default: 30].
    #[arg(long)]
    ack_wait_s: Option<f64>,
    /// Deliveries (or requeues after a worker died) of one job before its task fails
    /// [default: 10].
    #[arg(long)]
    max_deliveries: Option<u32>,
    /// Seconds without a heartbeat after which a worker is declared dead and its jobs
    /// requeued [default: 10].
    #[arg(long)]
    dead_after_s: Option<f64>,
    /// Without `--queue nats://…`: jobs the node's own worker runs at once [default: 1].
    #[arg(long)]
    slots: Option<u32>,
}

/// `--fhe-device`: one of [`FheDevice::NAMES`], listed in clap's error when it is not.
fn fhe_device_parser() -> impl clap::builder::TypedValueParser<Value = FheDevice> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(FheDevice::NAMES)
        .map(|name| name.parse().expect("a possible value names a device"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        } => prove(
            &zkey,
            &witness,
            input.as_deref(),
            r1cs.as_deref(),
            &proof,
            &public,
        ),
        Command::Witness {
            wasm,
            input,
            out,
            r1cs,
        } => {
            let t = Instant::now();
            let w = compute_witness(&wasm, &input, r1cs.as_deref())?;
            std::fs::write(&out, wtns::to_bytes(&w))
                .with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "witness of {} values in {:.1} ms",
                w.len(),
                t.elapsed().as_secs_f64() * 1e3
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            verification_key,
            public,
            proof,
        } => verify(&verification_key, &public, &proof),
        Command::Bench {
            what: Some(BenchWhat::Api(args)),
            ..
        } => bench_api::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Queue(args)),
            ..
        } => bench_queue::run(&args),
        Command::Bench {
            what: Some(BenchWhat::Fhe(args)),
            ..
        } => bench_fhe::run(&args),
        Command::Bench {
            what: None,
            msm,
            ntt,
            groth16,
            full,
            reps,
            seed,
            json,
            device,
        } => {
            let plan = if full {
                fornax_bench::Plan {
                    msm: vec![12, 14, 16, 18, 20],
                    ntt: vec![12, 14, 16, 18, 20, 22],
                    groth16: vec![16, 17, 18],
                    reps,
                    seed,
                }
            } else {
                fornax_bench::Plan {
                    msm,
                    ntt,
                    groth16,
                    reps,
                    seed,
                }
            };
            bench(&plan, device.as_deref(), json.as_deref())
        }
        Command::ExportVk { zkey, out } => {
            let pk = ProvingKey::read(&zkey)?;
            json::write_json(&out, &VerificationKeyJson::from_key(&pk.verifying_key()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ExportVerifier { vk } => {
            let file = vk.display().to_string();
            let key = json::read_json::<VerificationKeyJson>(&vk)?.to_key(&file)?;
            print!("{}", fornax_prover::solidity::verifier_solidity(&key));
            Ok(ExitCode::SUCCESS)
        }
        Command::DevSetup { r1cs, zkey } => {
            let circuit = R1cs::read(&r1cs)?;
            eprintln!("WARNING: insecure single-party setup; for tests and benchmarks only");
            let pk = setup::insecure_setup(&circuit, &mut rand::rngs::OsRng);
            std::fs::write(&zkey, pk.to_bytes())
                .with_context(|| format!("writing {}", zkey.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Node(args) => node(*args),
        Command::Worker(args) => worker(args),
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
        Command::Chain(cmd) => chain_cli::run(cmd),
        Command::Fhe(cmd) => fhe_cli::run(cmd),
        Command::Keyholder(args) => fhe_cli::keyholder(args),
        Command::Devices => {
            for b in DeviceRegistry::discover().backends() {
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

/// Runs `circuit.wasm` on `input.json`; with `r1cs`, checks the witness against the circuit.
fn compute_witness(wasm: &Path, input: &Path, r1cs: Option<&Path>) -> Result<Vec<Fr>> {
    let input_name = input.display().to_string();
    let json: serde_json::Value = json::read_json(input)?;
    let inputs = witness::parse_inputs(&input_name, &json)?;
    let mut calc = WitnessCalculator::read(wasm)?;
    let w = calc.calculate(&input_name, &inputs)?;
    if let Some(path) = r1cs {
        check_witness(
            path,
            &w,
            &format!(
                "the witness computed by {} from {}",
                wasm.display(),
                input.display()
            ),
        )?;
    }
    Ok(w)
}

/// Checks `w` against the constraints in `r1cs`; `what` names the witness in errors.
fn check_witness(r1cs: &Path, w: &[Fr], what: &str) -> Result<()> {
    let circuit = R1cs::read(r1cs)?;
    if circuit.n_wires != w.len() {
        bail!(
            "{what} has {} values but {} has {} wires (another circuit?)",
            w.len(),
            r1cs.display(),
            circuit.n_wires
        );
    }
    if let Err(k) = circuit.check(w) {
        bail!("{what} breaks constraint #{k} of {}", r1cs.display());
    }
    Ok(())
}

fn prove(
    zkey: &Path,
    witness: &Path,
    input: Option<&Path>,
    r1cs: Option<&Path>,
    proof: &Path,
    public: &Path,
) -> Result<ExitCode> {
    let t = Instant::now();
    let pk = ProvingKey::read(zkey)?;
    let is_wasm = std::fs::File::open(witness)
        .and_then(|mut f| {
            let mut magic = [0u8; 4];
            std::io::Read::read_exact(&mut f, &mut magic).map(|_| magic == *b"\0asm")
        })
        .unwrap_or(false);
    let w = match (is_wasm, input) {
        (true, Some(input)) => compute_witness(witness, input, r1cs)?,
        (true, None) => bail!(
            "{} is a witness generator: give the circuit's input with --input input.json",
            witness.display()
        ),
        (false, Some(_)) => bail!(
            "--input needs circom's circuit.wasm in place of the witness, not {}",
            witness.display()
        ),
        (false, None) => {
            let w = wtns::read(witness)?;
            if let Some(path) = r1cs {
                check_witness(path, &w, &witness.display().to_string())?;
            }
            w
        }
    };
    let load = t.elapsed();
    let exec = LocalExecutor::new(DeviceRegistry::discover());
    let t = Instant::now();
    let key = exec.prepare(&zkey.display().to_string(), pk)?;
    let prepare = t.elapsed();
    if w.len() != key.shape().n_vars {
        bail!(
            "{} has {} values but {} expects {} (a witness for another circuit?)",
            witness.display(),
            w.len(),
            zkey.display(),
            key.shape().n_vars
        );
    }
    let (p, publics, timings) = exec.prove(&key, w, &mut rand::rngs::OsRng)?;
    json::write_json(proof, &ProofJson::from_proof(&p))?;
    json::write_json(public, &json::public_to_json(&publics))?;
    eprintln!(
        "proved (domain 2^{}, {} wires) in {:.1} ms (load {:.1} ms, upload {:.1} ms)",
        key.shape().domain_size.trailing_zeros(),
        key.shape().n_vars,
        timings.total.as_secs_f64() * 1e3,
        load.as_secs_f64() * 1e3,
        prepare.as_secs_f64() * 1e3
    );
    for (role, device, d) in &timings.jobs {
        eprintln!("  {role:<14} {device:<8} {:>9.2} ms", d.as_secs_f64() * 1e3);
    }
    Ok(ExitCode::SUCCESS)
}

fn node(args: NodeArgs) -> Result<ExitCode> {
    let file: NodeArgs = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", path.display()))?
        }
        None => NodeArgs::default(),
    };
    let chain = chain_config(&args, &file)?;
    let tee = tee_setup(&args, &file)?;
    if tee.is_some() && chain.is_none() {
        bail!("an attested worker registers on chain: add --dev or --chain-rpc (with --chain-id, --market, --registry)");
    }
    let fhe_device = args.fhe_device.or(file.fhe_device);
    if fhe_device.is_some() && args.fhe_keys.is_none() && file.fhe_keys.is_none() {
        bail!("--fhe-device is where FHE tasks run: add --fhe-keys (the key set to serve)");
    }
    let chain_from_block = args.chain_from_block.or(file.chain_from_block);
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| "fornax-data".into());
    let listen = args
        .listen
        .or(file.listen)
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let max_body_mb = args.max_body_mb.or(file.max_body_mb).unwrap_or(512);
    let attempts = args.attempts.or(file.attempts).unwrap_or(3);
    let rate_limit = args.rate_limit.or(file.rate_limit).unwrap_or(1000.0);
    let job_timeout_s = args.job_timeout_s.or(file.job_timeout_s).unwrap_or(3600.0);
    if !(job_timeout_s > 0.0 && job_timeout_s.is_finite()) {
        bail!("--job-timeout-s must be a positive number of seconds");
    }
    if !(rate_limit >= 0.0 && rate_limit.is_finite()) {
        bail!("--rate-limit must be a number of requests per second, 0 for none");
    }
    if attempts == 0 {
        bail!("--attempts must be at least 1");
    }
    // Tokens map to names.
    let mut api_keys: std::collections::HashMap<String, String> = file
        .api_keys
        .into_iter()
        .map(|(name, token)| (token, name))
        .collect();
    for spec in &args.api_key {
        let (name, token) = spec
            .split_once('=')
            .filter(|(n, t)| !n.is_empty() && !t.is_empty())
            .with_context(|| format!("--api-key {spec}: expected NAME=TOKEN"))?;
        api_keys.insert(token.to_string(), name.to_string());
    }
    if api_keys.is_empty() {
        eprintln!(
            "WARNING: no API keys configured: the API is open to anyone who can reach {listen}"
        );
    }

    let queue = {
        let url = args.queue.or(file.queue).unwrap_or_else(|| "mem".into());
        let seconds = |v: Option<f64>, name: &str, default: f64| -> Result<std::time::Duration> {
            let v = v.unwrap_or(default);
            if !(v > 0.0 && v.is_finite()) {
                bail!("--{name} must be a positive number of seconds");
            }
            Ok(std::time::Duration::from_secs_f64(v))
        };
        let defaults = fornax_node::queue::QueueSettings::default();
        let settings = fornax_node::queue::QueueSettings {
            ack_wait: seconds(
                args.ack_wait_s.or(file.ack_wait_s),
                "ack-wait-s",
                defaults.ack_wait.as_secs_f64(),
            )?,
            dead_after: seconds(
                args.dead_after_s.or(file.dead_after_s),
                "dead-after-s",
                defaults.dead_after.as_secs_f64(),
            )?,
            max_deliveries: args
                .max_deliveries
                .or(file.max_deliveries)
                .unwrap_or(defaults.max_deliveries),
            ..defaults
        };
        if settings.max_deliveries < 2 {
            bail!("--max-deliveries must be at least 2");
        }
        let slots = args.slots.or(file.slots).unwrap_or(1);
        if slots == 0 {
            bail!("--slots must be at least 1");
        }
        QueueSetup {
            url,
            settings,
            dispatch: fornax_node::dispatch::DispatchConfig {
                max_in_flight: args.max_in_flight.or(file.max_in_flight).unwrap_or(64),
                job_timeout: Some(std::time::Duration::from_secs_f64(job_timeout_s)),
            },
            slots,
            memory_bytes: args
                .memory_budget_mb
                .or(file.memory_budget_mb)
                .map(|mb| mb << 20),
        }
    };
    let webhooks = fornax_node::webhooks::WebhookConfig {
        per_owner: file.webhooks,
        secrets: api_keys
            .iter()
            .map(|(token, name)| (name.clone(), token.clone()))
            .collect(),
        default_secret: args
            .webhook_secret
            .or(file.webhook_secret)
            .unwrap_or_else(|| format!("{:032x}", rand::random::<u128>())),
        attempts: 6,
    };
    let store = std::sync::Arc::new(
        fornax_node::store::Store::open(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let scheduler = fornax_node::scheduler::Scheduler::new(
        store,
        fornax_node::scheduler::SchedulerConfig {
            attempts,
            ..Default::default()
        },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    start_scheduler(&runtime, &scheduler, queue, &data_dir)?;
    let fhe = match args.fhe_keys.or(file.fhe_keys) {
        Some(keys_dir) => {
            let keyholders = if args.keyholders.is_empty() {
                file.keyholders
            } else {
                args.keyholders
            };
            let service = fornax_node::fhe::FheService::open(
                &data_dir,
                fornax_node::fhe::FheConfig {
                    keys_dir,
                    keyholders,
                    keyholder_token: args.keyholder_token.or(file.keyholder_token),
                    workers: args.fhe_workers.or(file.fhe_workers).unwrap_or_else(|| {
                        std::thread::available_parallelism().map_or(1, |n| n.get())
                    }),
                    keyholder_timeout: std::time::Duration::from_secs(30),
                    device: fhe_device.unwrap_or_default(),
                },
            )
            .context("starting encrypted computation")?;
            service.start();
            let (n, k) = service.threshold();
            println!("fhe key set {} ({k} of {n})", service.key_id());
            Some(service)
        }
        None => None,
    };
    let app = fornax_api::router_with_fhe(
        std::sync::Arc::clone(&scheduler),
        fornax_api::ApiConfig {
            api_keys,
            max_body_bytes: max_body_mb << 20,
            rate_limit_per_s: (rate_limit > 0.0).then_some(rate_limit),
        },
        fhe,
    );
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        println!("fornax node listening on http://{}", listener.local_addr()?);
        println!("data in {}", data_dir.display());
        // Kept alive as long as the node: dropping it stops the dev chain.
        let mut _dev_chain = None;
        if let Some(chain) = chain {
            let cfg = match chain {
                ChainSetup::Dev { confirmations } => {
                    let (anvil, cfg) = dev_chain(confirmations).await?;
                    _dev_chain = Some(anvil);
                    cfg
                }
                ChainSetup::Config(cfg) => cfg,
            };
            let service = fornax_node::chain::ChainService::start(
                std::sync::Arc::clone(&scheduler),
                fornax_node::chain::ChainServiceConfig {
                    from_block: chain_from_block.or(_dev_chain.as_ref().map(|_| 0)),
                    chain: cfg.clone(),
                    poll: std::time::Duration::from_millis(500),
                    poster: Default::default(),
                },
                &data_dir,
            )
            .await
            .with_context(|| format!("connecting to the chain at {}", cfg.rpc_url))?;
            println!(
                "chain {} at {}: TaskMarket {} WorkerRegistry {}; prover account {}",
                cfg.chain_id,
                cfg.rpc_url,
                cfg.market,
                cfg.registry,
                service.prover()
            );
            match tee {
                Some(tee) => {
                    let chain = fornax_chain_adapter::Chain::connect(&cfg.rpc_url, &cfg.key)?;
                    let registrar = fornax_node::tee::Registrar {
                        chain,
                        chain_id: cfg.chain_id,
                        registry: cfg.registry,
                        verifier: tee.verifier,
                        verifier_key: fornax_chain_adapter::client::signer(&cfg.key)?,
                        validity: std::time::Duration::from_secs(6 * 3600),
                    };
                    let (worker, label) = fornax_node::tee::TeeService::start(
                        std::sync::Arc::clone(&scheduler),
                        registrar,
                        tee.attester,
                    )
                    .await
                    .context("attesting the worker")?;
                    if label == "SIMULATED" {
                        eprintln!("WARNING: SIMULATED TEE: worker {worker} is not in a TEE; its quote proves nothing");
                    }
                    println!("worker {worker} attested ({label}) and registered; every result is signed");
                }
                None => println!("no attested worker: results are not signed (--tee-policy, or --insecure-simulated-tee)"),
            }
        }
        tokio::spawn(fornax_node::webhooks::run(scheduler, webhooks));
        fornax_api::serve_until_interrupted(listener, app)
            .await
            .context("serving HTTP")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The node's queue to workers, from the flags and the TOML file.
struct QueueSetup {
    url: String,
    settings: fornax_node::queue::QueueSettings,
    dispatch: fornax_node::dispatch::DispatchConfig,
    /// The in-process worker's slots and memory (`mem` only).
    slots: u32,
    memory_bytes: Option<u64>,
}

/// Starts the scheduler on its queue: the in-process queue with a worker inside this
/// process, or NATS JetStream with workers elsewhere.
fn start_scheduler(
    runtime: &tokio::runtime::Runtime,
    scheduler: &std::sync::Arc<fornax_node::scheduler::Scheduler>,
    setup: QueueSetup,
    data_dir: &Path,
) -> Result<()> {
    use fornax_node::queue::{jetstream, Queue};
    if setup.url == "mem" {
        if setup.memory_bytes.is_some() && setup.slots > 1 {
            println!(
                "--memory-budget-mb is shared by the worker's {} slots",
                setup.slots
            );
        }
        let embedded = fornax_node::embedded::start(
            scheduler,
            runtime.handle(),
            fornax_node::embedded::EmbeddedConfig {
                settings: setup.settings,
                dispatch: setup.dispatch,
                registry: DeviceRegistry::discover(),
                memory_bytes: setup.memory_bytes,
                slots: setup.slots,
                artifacts: data_dir.join("artifacts"),
            },
        )?;
        let devices: Vec<&str> = embedded
            .worker
            .devices()
            .iter()
            .map(|d| d.id.as_str())
            .collect();
        println!(
            "jobs go to the worker in this process ({} slot(s), devices {})",
            setup.slots,
            devices.join(", ")
        );
        return Ok(());
    }
    if !setup.url.starts_with("nats://") {
        bail!("--queue {}: expected nats://HOST:PORT or mem", setup.url);
    }
    if setup.memory_bytes.is_some() {
        bail!("--memory-budget-mb is the node's own worker's; with --queue nats://… each worker has its own (fornax worker --memory-mb)");
    }
    let queue = runtime
        .block_on(jetstream::JetStreamQueue::connect(
            &setup.url,
            "fornax-node",
            jetstream::Role::Scheduler(setup.settings.clone()),
        ))
        .with_context(|| format!("connecting to the queue at {}", setup.url))?;
    let max_in_flight = setup.dispatch.max_in_flight;
    let dispatcher = fornax_node::dispatch::Dispatcher::new(
        std::sync::Arc::new(queue) as std::sync::Arc<dyn Queue>,
        runtime.handle().clone(),
        setup.dispatch,
    );
    scheduler
        .start(dispatcher)
        .context("recovering stored tasks")?;
    println!(
        "jobs go through the queue at {} (at most {max_in_flight} at once)",
        setup.url
    );
    Ok(())
}

/// The device with this id (as `fornax devices` lists them), or a message naming the
/// devices there are.
fn find_device(
    registry: &DeviceRegistry,
    id: &str,
) -> std::result::Result<std::sync::Arc<dyn fornax_kernels::Backend>, String> {
    registry
        .get(&fornax_kernels::BackendId(id.into()))
        .ok_or_else(|| {
            let ids: Vec<String> = registry
                .backends()
                .iter()
                .map(|b| b.info().id.to_string())
                .collect();
            format!(
                "no device {id} on this machine (devices: {})",
                ids.join(", ")
            )
        })
}

/// `fornax worker`: joins a cluster and proves its jobs until drained.
fn worker(args: WorkerArgs) -> Result<ExitCode> {
    if !args.join.starts_with("nats://") {
        eprintln!("error: --join {}: expected nats://HOST:PORT", args.join);
        return Ok(ExitCode::from(2));
    }
    if args.slots == 0 {
        eprintln!("error: --slots must be at least 1");
        return Ok(ExitCode::from(2));
    }
    // `cpu` is short for the CPU backend's id, `cpu:0`.
    let devices: Vec<String> = args
        .devices
        .iter()
        .map(|d| {
            if d == "cpu" {
                "cpu:0".to_string()
            } else {
                d.clone()
            }
        })
        .collect();
    let registry = if devices.is_empty() {
        DeviceRegistry::discover()
    } else if devices.iter().all(|d| d == "cpu:0") {
        // No need to probe for accelerators (their kernels take a while to compile).
        DeviceRegistry::with_backends(vec![std::sync::Arc::new(fornax_kernels::CpuBackend::new())])
    } else {
        let all = DeviceRegistry::discover();
        let mut chosen = Vec::new();
        for id in &devices {
            match find_device(&all, id) {
                Ok(b) => chosen.push(b),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        DeviceRegistry::with_backends(chosen)
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let queue = fornax_node::queue::jetstream::JetStreamQueue::connect(
            &args.join,
            "fornax-worker",
            fornax_node::queue::jetstream::Role::Worker,
        )
        .await
        .with_context(|| format!("joining {}", args.join))?;
        let worker = fornax_node::worker::Worker::new(
            std::sync::Arc::new(queue),
            fornax_node::worker::WorkerConfig {
                id: args.id,
                registry,
                memory_bytes: args.memory_mb.map(|mb| mb << 20),
                slots: args.slots,
                cache_dir: args.cache_dir,
            },
        )
        .context("preparing the worker's cache")?;
        if worker.memory_bytes() == 0 {
            bail!("the device's memory is unknown: give it with --memory-mb");
        }
        let devices: Vec<String> = worker.devices().iter().map(|d| d.id.clone()).collect();
        println!(
            "worker {} joined {}: devices {}, {} MiB, {} slot(s)",
            worker.id(),
            args.join,
            devices.join(","),
            worker.memory_bytes() >> 20,
            args.slots
        );
        let drainer = std::sync::Arc::clone(&worker);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
            let stop = async {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            };
            stop.await;
            eprintln!("fornax worker: draining: finishing running jobs, taking no more (again to stop now)");
            drainer.drain();
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            std::process::exit(130);
        });
        worker.clone().run().await;
        println!("worker {} drained and left", worker.id());
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where the node's chain comes from.
enum ChainSetup {
    /// `--dev`: a local anvil, spawned and deployed at start.
    Dev { confirmations: u64 },
    /// An endpoint and contracts from the flags or the TOML file.
    Config(fornax_chain_adapter::ChainConfig),
}

/// The chain settings from the flags and the TOML file; `None` when the node has no chain.
fn chain_config(args: &NodeArgs, file: &NodeArgs) -> Result<Option<ChainSetup>> {
    let rpc = args.chain_rpc.clone().or(file.chain_rpc.clone());
    let confirmations = args.confirmations.or(file.confirmations);
    if args.dev || file.dev {
        if rpc.is_some() {
            bail!("--dev starts its own chain: drop --chain-rpc, or drop --dev");
        }
        return Ok(Some(ChainSetup::Dev {
            confirmations: confirmations.unwrap_or(1),
        }));
    }
    let Some(rpc_url) = rpc else {
        return Ok(None);
    };
    let need =
        |v: Option<String>, flag: &str| v.with_context(|| format!("--chain-rpc needs {flag} too"));
    let address = |v: String, flag: &str| -> Result<alloy::primitives::Address> {
        v.parse()
            .with_context(|| format!("{flag} {v}: not an address"))
    };
    Ok(Some(ChainSetup::Config(
        fornax_chain_adapter::ChainConfig {
            rpc_url,
            chain_id: args
                .chain_id
                .or(file.chain_id)
                .context("--chain-rpc needs --chain-id too")?,
            market: address(
                need(args.market.clone().or(file.market.clone()), "--market")?,
                "--market",
            )?,
            registry: address(
                need(
                    args.registry.clone().or(file.registry.clone()),
                    "--registry",
                )?,
                "--registry",
            )?,
            key: args
                .chain_key
                .clone()
                .context("--chain-rpc needs the signing key in FORNAX_CHAIN_KEY")?,
            confirmations: confirmations.unwrap_or(2).max(1),
        },
    )))
}

/// anvil from `ops/setup.sh`'s npm install: found beside the binary's checkout or the
/// working directory, or `FORNAX_ANVIL`, or `anvil` on the PATH.
fn anvil_binary() -> PathBuf {
    if let Ok(p) = std::env::var("FORNAX_ANVIL") {
        return p.into();
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().map(Path::to_path_buf));
    }
    if let Ok(cwd) = std::env::current_dir() {
        roots.extend(cwd.ancestors().map(Path::to_path_buf));
    }
    roots
        .iter()
        .map(|r| fornax_chain_adapter::anvil::Anvil::binary(r))
        .find(|p| p.is_absolute() && p.exists())
        .unwrap_or_else(|| "anvil".into())
}

/// How the node's worker attests, and how its quote is verified.
struct TeeSetup {
    attester: fornax_enclave::Attester,
    verifier: fornax_enclave::Verifier,
}

/// The worker's attestation from the flags: a real TEE under a policy file, SIMULATED, or
/// none.
fn tee_setup(args: &NodeArgs, file: &NodeArgs) -> Result<Option<TeeSetup>> {
    use fornax_enclave::{tsm::TsmClient, Attester, DevCa, Measurement, Policy, Verifier};
    if args.insecure_simulated_tee || file.insecure_simulated_tee {
        let ca = DevCa::from_seed(b"fornax development CA: INSECURE");
        let policy = Policy {
            measurements: vec![Measurement::Simulated],
            max_quote_age: std::time::Duration::from_secs(600),
            ..Policy::default()
        };
        return Ok(Some(TeeSetup {
            verifier: Verifier::insecure_accepting_simulated(policy, ca.public()),
            attester: Attester::Simulated(ca),
        }));
    }
    let Some(path) = args.tee_policy.as_ref().or(file.tee_policy.as_ref()) else {
        return Ok(None);
    };
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let policy: Policy = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a TEE policy", path.display()))?;
    let tsm = TsmClient::system();
    tsm.available().context("--tee-policy needs a TEE")?;
    Ok(Some(TeeSetup {
        attester: Attester::Tee(tsm),
        verifier: Verifier::production(policy),
    }))
}

/// Spawns anvil (a block a second), deploys the contracts and prints where.
async fn dev_chain(
    confirmations: u64,
) -> Result<(
    fornax_chain_adapter::anvil::Anvil,
    fornax_chain_adapter::ChainConfig,
)> {
    use fornax_chain_adapter::anvil::{Anvil, DEV_KEY};
    let anvil = Anvil::spawn(&anvil_binary(), 1)
        .context("starting the dev chain (run ops/setup.sh for anvil)")?;
    let chain = fornax_chain_adapter::Chain::connect(&anvil.url(), DEV_KEY)?;
    let d = chain
        .deploy(true)
        .await
        .context("deploying the contracts on the dev chain")?;
    println!("dev chain: anvil at {} (chain 31337)", anvil.url());
    println!("TaskMarket {}", d.market);
    println!("WorkerRegistry {}", d.registry);
    let cfg = fornax_chain_adapter::ChainConfig {
        rpc_url: anvil.url(),
        chain_id: 31337,
        market: d.market,
        registry: d.registry,
        key: DEV_KEY.into(),
        confirmations: confirmations.max(1),
    };
    Ok((anvil, cfg))
}

fn verify(vk: &Path, public: &Path, proof: &Path) -> Result<ExitCode> {
    let vk_json: VerificationKeyJson = json::read_json(vk)?;
    let key = vk_json.to_key(&vk.display().to_string())?;
    let public_values: Vec<serde_json::Value> = json::read_json(public)?;
    let inputs = json::public_from_json(&public.display().to_string(), &public_values)?;
    let proof_json: ProofJson = json::read_json(proof)?;
    let p = proof_json.to_proof(&proof.display().to_string())?;
    if inputs.len() != key.n_public() {
        bail!(
            "{} holds {} public signals but {} expects {}",
            public.display(),
            inputs.len(),
            vk.display(),
            key.n_public()
        );
    }
    if fornax_prover::verify(&key, &inputs, &p)? {
        println!("OK: the proof is valid");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("INVALID: the proof does not verify for these public signals");
        Ok(ExitCode::from(1))
    }
}

fn bench(
    plan: &fornax_bench::Plan,
    device: Option<&str>,
    json_out: Option<&Path>,
) -> Result<ExitCode> {
    let registry = DeviceRegistry::discover();
    let target = match device {
        None => None,
        Some(id) => match find_device(&registry, id) {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let cpu = fornax_kernels::CpuBackend::new();
    let info = match &target {
        Some(b) => b.info().clone(),
        None => fornax_kernels::Backend::info(&cpu).clone(),
    };
    let msm_path = fornax_kernels::cpu::g1_msm_path();
    println!(
        "device: {} [{}] ({} lanes; CPU G1 MSM arithmetic: {msm_path})",
        info.name, info.id, info.parallelism
    );
    println!(
        "{:<8} {:>5} {:>12} {:>12} {:>8}  baseline",
        "bench", "size", "fornax", "baseline", "speedup"
    );
    let report = |r: &fornax_bench::Row| {
        println!(
            "{:<8} {:>5} {:>10.2}ms {:>10.2}ms {:>7.2}x  {}",
            r.bench,
            format!("2^{}", r.log_size),
            r.fornax_s * 1e3,
            r.baseline_s * 1e3,
            r.speedup,
            r.baseline
        );
    };
    let rows = match target {
        Some(device) => fornax_bench::run_on(plan, device, report),
        None => fornax_bench::run(plan, report),
    };
    if let Some(path) = json_out {
        let commit = git_commit();
        let doc = serde_json::json!({
            "device": info.name,
            "device_id": info.id.to_string(),
            "device_kind": info.kind.to_string(),
            "threads": info.parallelism,
            "g1_msm_path": msm_path,
            "commit": commit,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "rows": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The checked-out commit, for benchmark records ("unknown" outside a git checkout).
fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
