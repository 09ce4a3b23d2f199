//! `fornax chain …`: the operator's and the dApp's side of the market, for scripts and the
//! demo: deploy the contracts, register a circuit (its verifier deployed with it), create a
//! task with a fee, read a task and its result, expire it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use alloy::primitives::{Address, B256, U256};
use anyhow::{bail, Context, Result};
use fornax_chain_adapter::{client, Chain};
use fornax_prover::json::{self, VerificationKeyJson};

/// The market's commands.
#[derive(clap::Subcommand, Debug)]
pub enum ChainCommand {
    /// Deploys TaskMarket and WorkerRegistry; prints their addresses as JSON. The deploying
    /// account owns the registry and is its quote verifier.
    Deploy {
        #[command(flatten)]
        conn: Conn,
        /// INSECURE: let SIMULATED (non-TEE) attestations register. For development chains;
        /// fixed at deployment.
        #[arg(long)]
        accept_simulated_tee: bool,
    },
    /// Deploys a verifier for a verification key and registers the circuit; prints its
    /// on-chain id.
    RegisterCircuit {
        #[command(flatten)]
        conn: Conn,
        /// TaskMarket's address.
        #[arg(long)]
        market: Address,
        /// The circuit's verification key (snarkjs JSON).
        #[arg(long)]
        vk: PathBuf,
        /// How many of the public signals are outputs (circom: the main component's outputs).
        #[arg(long)]
        outputs: u32,
    },
    /// Creates a task with a fee in escrow; prints its id.
    CreateTask {
        #[command(flatten)]
        conn: Conn,
        /// TaskMarket's address.
        #[arg(long)]
        market: Address,
        /// The circuit's on-chain id (from `register-circuit`).
        #[arg(long)]
        circuit_id: B256,
        /// The circuit's input (circom input JSON), published with the task.
        #[arg(long)]
        input: PathBuf,
        /// A public input the proof must carry, in circuit order; repeatable.
        #[arg(long = "public-input")]
        public_inputs: Vec<U256>,
        /// The fee in wei.
        #[arg(long)]
        fee_wei: U256,
        /// Seconds until the deadline.
        #[arg(long, default_value_t = 600)]
        ttl_s: u64,
    },
    /// Prints a task's state and, once settled, its result, as JSON.
    Task {
        /// JSON-RPC endpoint.
        #[arg(long)]
        rpc: String,
        /// TaskMarket's address.
        #[arg(long)]
        market: Address,
        /// The task's id.
        #[arg(long)]
        id: U256,
    },
    /// Ends a task whose deadline passed: refunds its requester.
    Expire {
        #[command(flatten)]
        conn: Conn,
        /// TaskMarket's address.
        #[arg(long)]
        market: Address,
        /// The task's id.
        #[arg(long)]
        id: U256,
    },
}

/// An endpoint and a signing key.
#[derive(clap::Args, Debug)]
pub struct Conn {
    /// JSON-RPC endpoint.
    #[arg(long)]
    rpc: String,
    /// The signing key (hex).
    #[arg(long, env = "FORNAX_CHAIN_KEY", hide_env_values = true)]
    key: String,
}

impl Conn {
    fn chain(&self) -> Result<Chain> {
        Ok(Chain::connect(&self.rpc, &self.key)?)
    }
}

fn read_vk(path: &Path) -> Result<fornax_prover::VerifyingKey> {
    Ok(json::read_json::<VerificationKeyJson>(path)?.to_key(&path.display().to_string())?)
}

/// Runs a `fornax chain` command.
pub fn run(cmd: ChainCommand) -> Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cmd {
            ChainCommand::Deploy { conn, accept_simulated_tee } => {
                let d = conn.chain()?.deploy(accept_simulated_tee).await?;
                println!("{}", serde_json::json!({ "market": d.market, "registry": d.registry }));
            }
            ChainCommand::RegisterCircuit { conn, market, vk, outputs } => {
                let key = read_vk(&vk)?;
                if outputs as usize > key.n_public() {
                    bail!("--outputs {outputs}: the key has only {} public signals", key.n_public());
                }
                println!("{}", conn.chain()?.register_circuit(market, &key, outputs).await?);
            }
            ChainCommand::CreateTask { conn, market, circuit_id, input, public_inputs, fee_wei, ttl_s } => {
                let text = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
                serde_json::from_slice::<serde_json::Value>(&text)
                    .with_context(|| format!("{} is not JSON", input.display()))?;
                let chain = conn.chain()?;
                let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() + ttl_s;
                let id = chain.create_task(market, circuit_id, public_inputs, text, deadline, fee_wei).await?;
                println!("{id}");
            }
            ChainCommand::Task { rpc, market, id } => {
                let provider = client::reader(&rpc)?;
                let t = client::task(&provider, market, id).await?;
                let settlement = client::settlement(&provider, market, id).await?.map(|s| {
                    serde_json::json!({
                        "tx": s.tx, "block": s.block, "prover": s.prover, "paid_wei": s.paid.to_string(),
                        "outputs": s.outputs.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
                    })
                });
                println!(
                    "{}",
                    serde_json::json!({
                        "id": id.to_string(), "status": t.status_name(), "requester": t.requester,
                        "fee_wei": t.fee.to_string(), "deadline": t.deadline, "settlement": settlement,
                    })
                );
            }
            ChainCommand::Expire { conn, market, id } => {
                conn.chain()?.expire(market, id).await?;
                println!("task {id} expired; its requester was refunded");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
