//! `fornax node`: the store, the scheduler and its queue (with a worker inside the node by
//! default), the HTTP API, and the chain, TEE, webhook and FHE services, wired from a
//! [`NodeConfig`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::config::{ChainSetup, NodeConfig, QueueSetup};

/// Runs the node until interrupted.
pub fn node(config: NodeConfig) -> Result<ExitCode> {
    let NodeConfig {
        data_dir,
        listen,
        mut api,
        attempts,
        queue,
        mut webhooks,
        chain,
        chain_from_block,
        chain_take,
        tee,
        fhe,
    } = config;
    let store = std::sync::Arc::new(
        fornax_node::store::Store::open(&data_dir)
            .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let webhook_key =
        fornax_node::webhooks::WebhookKey::load_or_create(&data_dir.join("webhook.key"))
            .map_err(|e| anyhow::anyhow!("the webhook key: {e}"))?;
    webhooks.key = webhook_key.clone();
    api.webhook_key = webhook_key;
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
    if let Some(capability) = &queue.fhe {
        // Refused before any key is read: a build or machine without the device fails now.
        capability
            .device
            .check()
            .map_err(|e| anyhow::anyhow!("--fhe-device {}: {e}", capability.device.name()))?;
    }
    // The key set goes to the artifact store before the scheduler recovers FHE tasks.
    let fhe = match fhe {
        Some(fhe) => {
            let service =
                fornax_node::fhe::FheService::open(std::sync::Arc::clone(&scheduler), fhe)
                    .context("starting encrypted computation")?;
            let (n, k) = service.threshold();
            println!("fhe key set {} ({k} of {n})", service.key_id());
            Some(service)
        }
        None => None,
    };
    start_scheduler(&runtime, &scheduler, queue, &data_dir)?;
    let app = fornax_api::router_with_fhe(std::sync::Arc::clone(&scheduler), api, fhe);
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
                    take: chain_take,
                },
                &data_dir,
            )
            .await
            .with_context(|| {
                format!(
                    "connecting to the chain at {}",
                    fornax_chain_adapter::client::redact_url(&cfg.rpc_url)
                )
            })?;
            println!(
                "chain {} at {}: TaskMarket {} WorkerRegistry {}; prover account {}",
                cfg.chain_id,
                fornax_chain_adapter::client::redact_url(&cfg.rpc_url),
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
                        tracing::warn!(
                            worker = %worker,
                            "SIMULATED TEE: the worker is not in a TEE; its quote proves nothing"
                        );
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
        let registry = setup
            .registry
            .expect("the in-process queue's devices are chosen with it");
        if !registry.notes().is_empty() {
            tracing::info!(notes = %registry.notes().join("; "), "devices absent");
        }
        if setup.memory_bytes.is_some() && setup.slots > 1 {
            println!(
                "--memory-budget-mb is shared by the {} slots of each device",
                setup.slots
            );
        }
        let embedded = fornax_node::embedded::start(
            scheduler,
            runtime.handle(),
            fornax_node::embedded::EmbeddedConfig {
                settings: setup.settings,
                dispatch: setup.dispatch,
                registry,
                memory_bytes: setup.memory_bytes,
                slots: setup.slots,
                artifacts: data_dir.join("artifacts"),
                fhe: setup.fhe,
                witness_limits: setup.witness_limits,
            },
        )?;
        let devices: Vec<String> = embedded
            .worker
            .devices()
            .into_iter()
            .map(|d| d.id)
            .collect();
        println!(
            "jobs go to the worker in this process ({} slot(s) on each of devices {})",
            setup.slots,
            devices.join(", ")
        );
        return Ok(());
    }
    if !(setup.url.starts_with("nats://") || setup.url.starts_with("tls://")) {
        bail!(
            "--queue {}: expected nats://HOST:PORT (tls://HOST:PORT for TLS) or mem",
            setup.url
        );
    }
    if setup.memory_bytes.is_some() {
        bail!("--memory-budget-mb is the node's own worker's; with --queue nats://… each worker has its own (fornax worker --memory-mb)");
    }
    let queue = runtime
        .block_on(jetstream::JetStreamQueue::connect(
            &setup.url,
            "fornax-node",
            jetstream::Role::Scheduler(setup.settings.clone()),
            &setup.nats_auth,
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
