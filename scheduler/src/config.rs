//! `fornax node`'s settings, in layers merged once by `figment` ([`NodeArgs::merged`]): the
//! flags, over the environment (`FORNAX_<SETTING>`), over the TOML file named by `--config`,
//! over the defaults; then checked and resolved into what the node is built from
//! ([`NodeConfig`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fornax_fhe::device::Device as FheDevice;
use fornax_node::fhe::FheConfig;
use fornax_node::worker::FheCapability;

/// `fornax node` settings. Each comes from its flag, else its environment variable
/// (`FORNAX_` and its name in capitals, e.g. `FORNAX_DATA_DIR`), else the TOML file, else
/// its default; secrets and one-offs marked `serde(skip)` come from their flags and their
/// own variables only.
#[derive(clap::Args, Debug, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeArgs {
    /// A TOML file with any of these settings (`data_dir`, `listen`, `max_body_mb`,
    /// `attempts`, and a table `[api_keys]` of name = "token").
    #[arg(long, env = "FORNAX_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where the store and the artifacts live [default: fornax-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to serve HTTP on; port 0 picks a free one [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<String>,
    /// Largest circuit upload in MiB (a zkey and its witness generator) [default: 512].
    #[arg(long)]
    max_body_mb: Option<usize>,
    /// Largest task submission in MiB (JSON inputs, a base64 witness, FHE ciphertexts)
    /// [default: 64]. Other requests are limited to 1 MiB.
    #[arg(long)]
    max_task_body_mb: Option<usize>,
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
    /// An API key, `NAME=TOKEN`; repeatable, or comma-separated in `FORNAX_API_KEYS` (a
    /// flag's value is visible to every user of the machine in `/proc`: in production use the
    /// environment, `--api-keys-file` or the TOML file). Without any key, the API is open (a
    /// warning is printed) and every caller is `anonymous`.
    #[arg(
        long = "api-key",
        value_name = "NAME=TOKEN",
        env = "FORNAX_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    #[serde(skip)]
    api_key: Vec<String>,
    /// A file of API keys, one `NAME=TOKEN` a line (`#` starts a comment); it should be
    /// readable by the node's user only.
    #[arg(long, env = "FORNAX_API_KEYS_FILE")]
    api_keys_file: Option<PathBuf>,
    /// API keys from the TOML file: name = "token".
    #[arg(skip)]
    #[serde(default)]
    api_keys: std::collections::HashMap<String, String>,
    /// Webhook URLs per API key name, from the TOML file: name = "https://…"; every state
    /// change of the key's tasks is POSTed there, signed with the owner's webhook secret
    /// (`GET /v1/webhook-secret`).
    #[arg(skip)]
    #[serde(default)]
    webhooks: std::collections::HashMap<String, String>,
    /// Allow webhooks to loopback, private and link-local addresses (receivers on the
    /// node's own network). Without it such URLs are refused at submission, and names that
    /// resolve to such addresses at delivery.
    #[arg(long)]
    #[serde(default)]
    allow_private_webhooks: bool,
    /// The bearer token `/metrics` requires (from the environment: a flag's value is
    /// visible in `/proc`) [default: `/metrics` is open].
    #[arg(long, env = "FORNAX_METRICS_TOKEN", hide_env_values = true)]
    #[serde(skip)]
    metrics_token: Option<String>,
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
    /// A chain task is taken only when its fee covers the most gas locking and settling it
    /// can cost, at the current gas price, plus this fraction [default: 0.25].
    #[arg(long)]
    chain_fee_margin: Option<f64>,
    /// A verifier code hash (keccak256 of its deployed code) the node trusts besides
    /// Fornax's own runtime verifier for the circuit's key; repeatable. Tasks whose
    /// verifier has other code are not taken.
    #[arg(long = "chain-trusted-verifier", value_name = "CODE_HASH")]
    #[serde(default)]
    chain_trusted_verifiers: Vec<String>,
    /// Take no chain task that calls a callback on settlement.
    #[arg(long)]
    #[serde(default)]
    chain_refuse_callbacks: bool,
    /// Take no chain task with state commitments.
    #[arg(long)]
    #[serde(default)]
    chain_refuse_commitments: bool,
    /// The most collateral a chain task may ask, as a multiple of its fee [default: 1].
    #[arg(long)]
    chain_max_collateral_ratio: Option<f64>,
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
    /// With `--queue nats://…`: a NATS credentials file (user JWT and nkey seed). A user and
    /// password come from `FORNAX_NATS_USER` and `FORNAX_NATS_PASSWORD`.
    #[arg(long)]
    nats_creds: Option<PathBuf>,
    /// With `--queue nats://…`: a root certificate (PEM) the NATS server's TLS certificate
    /// must chain to; TLS is then required.
    #[arg(long)]
    nats_ca: Option<PathBuf>,
    /// Jobs out to workers at once; the rest wait in the node's fair queue [default: 64; with
    /// the node's own worker, its slots plus one].
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Serve encrypted computation with this FHE key set (`OUT/keyset` of `fornax fhe
    /// keygen`).
    #[arg(long)]
    fhe_keys: Option<PathBuf>,
    /// A key holder (`fornax keyholder`): `N=URL` pins party N to URL; a bare URL is the
    /// party of its position. Repeat for each. Answers are attributed by this pinning.
    #[arg(long = "keyholder", value_name = "URL")]
    #[serde(default)]
    keyholders: Vec<String>,
    /// How many key holders may be corrupt: a decryption is output only when this many
    /// plus k answers agree [default: k − 1, the scheme's promise; lower trades that for
    /// availability].
    #[arg(long)]
    keyholders_max_corrupt: Option<usize>,
    /// The node's signing key for requests to key holders (`node.key` of `fornax fhe
    /// keygen`); required with `--keyholder`.
    #[arg(long)]
    fhe_node_key: Option<PathBuf>,
    /// A bearer token for key holders started with `--token` (optional: key holders admit
    /// the node by its key, over mutual TLS).
    #[arg(long, env = "FORNAX_KEYHOLDER_TOKEN", hide_env_values = true)]
    keyholder_token: Option<String>,
    /// Without `--queue nats://…`: threads the node's own worker gives the jobs of a batch
    /// of an FHE program [default: the number of CPUs].
    #[arg(long)]
    fhe_workers: Option<usize>,
    /// Without `--queue nats://…`: where the node's own worker runs FHE programs: `cpu`
    /// (the engine), or `cuda` (tfhe-rs's CUDA backend on the first GPU; needs a `fornax`
    /// built with the `fhe-gpu` feature) [default: cpu]. With a queue, each worker chooses
    /// its own (`fornax worker --fhe-device`).
    #[arg(long, value_parser = fhe_device_parser())]
    fhe_device: Option<FheDevice>,
    /// The most bootstraps (estimated KS-PBS) one FHE program may cost; a costlier one is
    /// refused when it is registered [default: 100000].
    #[arg(long)]
    fhe_max_pbs: Option<u64>,
    /// Instructions a circuit's witness generator may run for one witness (wasmi fuel; a
    /// generator past it fails the task with a clear error) [default: 2^40, tens of
    /// minutes]. Also the budget of the API's input checks.
    #[arg(long)]
    witness_fuel: Option<u64>,
    /// Memory a witness generator may grow to, MiB [default: 2048].
    #[arg(long)]
    witness_memory_mb: Option<usize>,
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
    /// Without `--queue nats://…`: jobs the node's own worker runs at once on each of its
    /// devices [default: 1].
    #[arg(long)]
    slots: Option<u32>,
    /// Without `--queue nats://…`: the devices the node's own worker proves on, each running
    /// jobs of its own (ids from `fornax devices`; `cpu:0,cpu:1` splits the CPU into lanes)
    /// [default: every accelerator found, or the CPU where there is none].
    #[arg(long, value_delimiter = ',')]
    devices: Option<Vec<String>>,
    /// Whether a proof is split into parts (the witness, then its five MSMs) that run as
    /// jobs of their own on whichever workers take them: `auto` (when the cost model,
    /// from the live workers and their measured speeds, says it finishes at least 20%
    /// sooner), `always`, or `never` [default: auto].
    #[arg(long, value_parser = ["auto", "always", "never"])]
    split: Option<String>,
}

/// `--fhe-device`: one of [`FheDevice::NAMES`], listed in clap's error when it is not.
pub(crate) fn fhe_device_parser() -> impl clap::builder::TypedValueParser<Value = FheDevice> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(FheDevice::NAMES)
        .map(|name| name.parse().expect("a possible value names a device"))
}

impl NodeArgs {
    /// The settings of a TOML file (`--config`): unknown keys and wrong types are errors.
    pub fn from_toml(text: &str) -> Result<NodeArgs, Box<figment::Error>> {
        use figment::providers::Format as _;
        figment::Figment::from(figment::providers::Toml::string(text))
            .extract()
            .map_err(Box::new)
    }

    /// Whether `key` is a setting that the file and the environment may hold: an argument
    /// of `fornax node` that the file's parser knows (secrets and the API key table are
    /// not).
    pub fn is_layered(key: &str) -> bool {
        use clap::Args as _;
        let command = NodeArgs::augment_args(clap::Command::new("node"));
        command.get_arguments().any(|a| a.get_id() == key)
            && match NodeArgs::from_toml(&format!("{key} = 0")) {
                Ok(_) => true,
                Err(e) => !e.to_string().contains("unknown field"),
            }
    }

    /// Every setting from its layers, highest first: these flags (with the variables clap
    /// reads for its secrets), the environment (`FORNAX_<SETTING>`), the TOML file that
    /// `--config` (or `FORNAX_CONFIG`) names. Defaults come after, in [`NodeConfig::load`].
    /// The one place where the layers meet.
    pub fn merged(self) -> Result<NodeArgs> {
        use figment::providers::{Env, Format as _, Serialized, Toml};
        let mut layers = figment::Figment::new();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            layers = layers.merge(Toml::string(&text));
        }
        let env = Env::prefixed("FORNAX_")
            .filter(|key| NodeArgs::is_layered(&key.as_str().to_ascii_lowercase()));
        let layers = layers.merge(env).merge(Serialized::defaults(self.given()));
        let mut merged: NodeArgs = layers.extract().map_err(|e| {
            let file = self.config.as_ref().map(|p| p.display().to_string());
            anyhow::anyhow!(
                "the node's settings (flags, FORNAX_* variables{}): {e}",
                file.map(|f| format!(", {f}")).unwrap_or_default()
            )
        })?;
        // Flags only (with their own variables): the file path, keys and secrets.
        merged.config = self.config;
        merged.api_key = self.api_key;
        merged.metrics_token = self.metrics_token;
        merged.chain_key = self.chain_key;
        Ok(merged)
    }

    /// The flags given, as a layer: a flag left out, off or empty sets nothing.
    fn given(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        let Ok(Value::Object(flags)) = serde_json::to_value(self) else {
            unreachable!("the settings serialize as a map")
        };
        flags
            .into_iter()
            .filter(|(_, v)| match v {
                Value::Null | Value::Bool(false) => false,
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            })
            .collect()
    }
}

/// What a node is built from: every setting checked, every default applied.
pub struct NodeConfig {
    /// Where the store and the artifacts live.
    pub data_dir: PathBuf,
    /// Address to serve HTTP on.
    pub listen: String,
    /// The HTTP API's keys, body limit and rate limit.
    pub api: fornax_api::ApiConfig,
    /// Proving attempts per task.
    pub attempts: u32,
    /// The queue and its workers.
    pub queue: QueueSetup,
    /// Where task events are POSTed, and how they are signed.
    pub webhooks: fornax_node::webhooks::WebhookConfig,
    /// The chain, if the node has one.
    pub chain: Option<ChainSetup>,
    /// The block to read task events from on the first start.
    pub chain_from_block: Option<u64>,
    /// Which chain tasks the node takes.
    pub chain_take: fornax_chain_adapter::TakePolicy,
    /// The attested worker, if any.
    pub tee: Option<TeeSetup>,
    /// Encrypted computation, if the node serves a key set.
    pub fhe: Option<FheConfig>,
}

impl NodeConfig {
    /// Merges `flags` with their TOML file and checks the result.
    pub fn load(flags: NodeArgs) -> Result<NodeConfig> {
        let args = flags.merged()?;
        let chain = chain_config(&args)?;
        let chain_take = take_policy(&args)?;
        let tee = tee_setup(&args)?;
        if tee.is_some() && chain.is_none() {
            bail!("an attested worker registers on chain: add --dev or --chain-rpc (with --chain-id, --market, --registry)");
        }
        if args.fhe_device.is_some() && args.fhe_keys.is_none() {
            bail!("--fhe-device is where FHE tasks run: add --fhe-keys (the key set to serve)");
        }
        let listen = args.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let attempts = args.attempts.unwrap_or(3);
        let rate_limit = args.rate_limit.unwrap_or(1000.0);
        let job_timeout_s = args.job_timeout_s.unwrap_or(3600.0);
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
        let mut api_keys: HashMap<String, String> = args
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
        if let Some(path) = &args.api_keys_file {
            for (name, token) in read_api_keys_file(path)? {
                api_keys.insert(token, name);
            }
        }
        if api_keys.is_empty() {
            tracing::warn!(
                listen = %listen,
                "no API keys configured: the API is open to anyone who can reach it"
            );
        }
        let seconds = |v: Option<f64>, name: &str, default: Duration| -> Result<Duration> {
            let v = v.unwrap_or(default.as_secs_f64());
            if !(v > 0.0 && v.is_finite()) {
                bail!("--{name} must be a positive number of seconds");
            }
            Ok(Duration::from_secs_f64(v))
        };
        let defaults = fornax_node::queue::QueueSettings::default();
        let settings = fornax_node::queue::QueueSettings {
            ack_wait: seconds(args.ack_wait_s, "ack-wait-s", defaults.ack_wait)?,
            dead_after: seconds(args.dead_after_s, "dead-after-s", defaults.dead_after)?,
            max_deliveries: args.max_deliveries.unwrap_or(defaults.max_deliveries),
            ..defaults
        };
        if settings.max_deliveries < 2 {
            bail!("--max-deliveries must be at least 2");
        }
        let slots = args.slots.unwrap_or(1);
        if slots == 0 {
            bail!("--slots must be at least 1");
        }
        let url = args.queue.unwrap_or_else(|| "mem".into());
        let split = match args.split.as_deref() {
            Some(s) => s.parse().map_err(|e: String| anyhow::anyhow!(e))?,
            None => Default::default(),
        };
        // The node's own worker runs on these devices (probed only for it).
        let registry = match url.as_str() {
            "mem" => Some(
                fornax_kernels::DeviceRegistry::select(args.devices.as_deref().unwrap_or(&[]))
                    .map_err(|e| anyhow::anyhow!("--devices: {e}"))?,
            ),
            _ if args.devices.is_some() => {
                bail!("--devices names the node's own worker's; with --queue nats://… each worker has its own (fornax worker --devices)")
            }
            _ => None,
        };
        let window = match &registry {
            Some(r) => fornax_node::dispatch::DispatchConfig::local_window(
                slots * r.backends().len() as u32,
            ),
            None => fornax_node::dispatch::DispatchConfig::default().max_in_flight,
        };
        let mut queue = QueueSetup {
            url,
            settings,
            dispatch: fornax_node::dispatch::DispatchConfig {
                max_in_flight: args.max_in_flight.unwrap_or(window),
                job_timeout: Some(Duration::from_secs_f64(job_timeout_s)),
                split,
            },
            slots,
            registry,
            memory_bytes: args.memory_budget_mb.map(|mb| mb << 20),
            fhe: None,
            witness_limits: witness_limits(args.witness_fuel, args.witness_memory_mb)?,
            nats_auth: nats_auth(args.nats_creds.clone(), args.nats_ca.clone())?,
        };
        for (owner, url) in &args.webhooks {
            fornax_node::webhooks::check_url(url, args.allow_private_webhooks)
                .map_err(|e| anyhow::anyhow!("[webhooks] {owner}: {e}"))?;
        }
        // The webhook key is read (or made) in the data directory when the node starts.
        let webhooks = fornax_node::webhooks::WebhookConfig {
            allow_private: args.allow_private_webhooks,
            per_owner: args.webhooks,
            key: Default::default(),
            attempts: 6,
        };
        if queue.url != "mem" && (args.fhe_device.is_some() || args.fhe_workers.is_some()) {
            bail!("--fhe-device and --fhe-workers are the node's own worker's; with --queue nats://… each worker has its own (fornax worker --fhe --fhe-device)");
        }
        // The node's own worker evaluates FHE tasks when the node serves a key set.
        queue.fhe = args.fhe_keys.as_ref().map(|_| FheCapability {
            device: args.fhe_device.unwrap_or_default(),
            threads: args
                .fhe_workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        });
        let fhe = args.fhe_keys.map(|keys_dir| FheConfig {
            keys_dir,
            keyholders: args.keyholders,
            keyholder_token: args.keyholder_token,
            keyholder_timeout: Duration::from_secs(30),
            max_pbs: args.fhe_max_pbs.unwrap_or(100_000),
            max_corrupt: args.keyholders_max_corrupt,
            node_key: args.fhe_node_key,
        });
        Ok(NodeConfig {
            data_dir: args.data_dir.unwrap_or_else(|| "fornax-data".into()),
            listen,
            api: fornax_api::ApiConfig {
                api_keys,
                max_body_bytes: args.max_body_mb.unwrap_or(512) << 20,
                max_task_body_bytes: args.max_task_body_mb.unwrap_or(64) << 20,
                rate_limit_per_s: (rate_limit > 0.0).then_some(rate_limit),
                allow_private_webhooks: args.allow_private_webhooks,
                webhook_key: Default::default(),
                metrics_token: args.metrics_token.filter(|t| !t.is_empty()),
                witness_limits: queue.witness_limits,
            },
            attempts,
            queue,
            webhooks,
            chain,
            chain_from_block: args.chain_from_block,
            chain_take,
            tee,
            fhe,
        })
    }
}

/// The node's queue to workers, from the flags and the TOML file.
pub struct QueueSetup {
    pub url: String,
    pub settings: fornax_node::queue::QueueSettings,
    pub dispatch: fornax_node::dispatch::DispatchConfig,
    /// The in-process worker's slots (on each device), devices and memory (`mem` only).
    pub slots: u32,
    pub registry: Option<fornax_kernels::DeviceRegistry>,
    pub memory_bytes: Option<u64>,
    /// The in-process worker's FHE capability (`mem` with a key set only).
    pub fhe: Option<FheCapability>,
    /// What a witness generator may spend, in the node's worker and its input checks.
    pub witness_limits: fornax_prover::witness::Limits,
    /// How the node authenticates to NATS (`nats://…` only).
    pub nats_auth: fornax_node::queue::jetstream::NatsAuth,
}

/// NATS credentials: `FORNAX_NATS_USER` and `FORNAX_NATS_PASSWORD` from the environment
/// (never a flag: flags are visible in `/proc`), a credentials file, a TLS root (shared by
/// `fornax node` and `fornax worker`).
pub(crate) fn nats_auth(
    creds_file: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
) -> Result<fornax_node::queue::jetstream::NatsAuth> {
    let user = std::env::var("FORNAX_NATS_USER")
        .ok()
        .filter(|u| !u.is_empty());
    let password = std::env::var("FORNAX_NATS_PASSWORD").ok();
    let user_password = match (user, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => bail!("FORNAX_NATS_USER and FORNAX_NATS_PASSWORD go together"),
    };
    for path in creds_file.iter().chain(&tls_ca) {
        if !path.is_file() {
            bail!("{}: no such file", path.display());
        }
    }
    Ok(fornax_node::queue::jetstream::NatsAuth {
        user_password,
        creds_file,
        tls_ca,
    })
}

/// What a witness generator may spend: `--witness-fuel` and `--witness-memory-mb` over
/// the defaults (shared by `fornax node` and `fornax worker`).
pub(crate) fn witness_limits(
    fuel: Option<u64>,
    memory_mb: Option<usize>,
) -> Result<fornax_prover::witness::Limits> {
    let defaults = fornax_prover::witness::Limits::default();
    let limits = fornax_prover::witness::Limits {
        witness_fuel: fuel.unwrap_or(defaults.witness_fuel),
        memory_bytes: memory_mb.map_or(defaults.memory_bytes, |mb| mb << 20),
        ..defaults
    };
    if limits.witness_fuel == 0 || limits.memory_bytes < 1 << 20 {
        bail!("--witness-fuel must be at least 1 and --witness-memory-mb at least 1");
    }
    Ok(limits)
}

/// Where the node's chain comes from.
pub enum ChainSetup {
    /// `--dev`: a local anvil, spawned and deployed at start.
    Dev {
        /// Blocks a settlement or a task event must be buried under.
        confirmations: u64,
    },
    /// An endpoint and contracts from the flags or the TOML file.
    Config(fornax_chain_adapter::ChainConfig),
}

/// The chain settings from the flags and the TOML file; `None` when the node has no chain.
fn chain_config(args: &NodeArgs) -> Result<Option<ChainSetup>> {
    let rpc = args.chain_rpc.clone();
    let confirmations = args.confirmations;
    if args.dev {
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
            chain_id: args.chain_id.context("--chain-rpc needs --chain-id too")?,
            market: address(need(args.market.clone(), "--market")?, "--market")?,
            registry: address(need(args.registry.clone(), "--registry")?, "--registry")?,
            key: args
                .chain_key
                .clone()
                .context("--chain-rpc needs the signing key in FORNAX_CHAIN_KEY")?,
            confirmations: confirmations.unwrap_or(2).max(1),
        },
    )))
}

/// Which chain tasks the node takes, from the `--chain-*` flags.
fn take_policy(args: &NodeArgs) -> Result<fornax_chain_adapter::TakePolicy> {
    let defaults = fornax_chain_adapter::TakePolicy::default();
    let fraction = |v: Option<f64>, flag: &str, default: f64| -> Result<f64> {
        let v = v.unwrap_or(default);
        if !(v >= 0.0 && v.is_finite()) {
            bail!("{flag} must be a number ≥ 0");
        }
        Ok(v)
    };
    let trusted_verifiers = args
        .chain_trusted_verifiers
        .iter()
        .map(|h| {
            h.parse()
                .with_context(|| format!("--chain-trusted-verifier {h}: not a 32-byte hex hash"))
        })
        .collect::<Result<_>>()?;
    Ok(fornax_chain_adapter::TakePolicy {
        fee_margin: fraction(
            args.chain_fee_margin,
            "--chain-fee-margin",
            defaults.fee_margin,
        )?,
        trusted_verifiers,
        accept_callbacks: !args.chain_refuse_callbacks,
        accept_commitments: !args.chain_refuse_commitments,
        max_collateral_ratio: fraction(
            args.chain_max_collateral_ratio,
            "--chain-max-collateral-ratio",
            defaults.max_collateral_ratio,
        )?,
    })
}

/// The `NAME=TOKEN` lines of an API keys file (blank lines and `#` comments skipped). A file
/// that others may read is used with a warning.
fn read_api_keys_file(path: &std::path::Path) -> Result<Vec<(String, String)>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(file = %shown, "the file holds API keys and others may read it (chmod 600)");
        }
    }
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, token) = line
            .split_once('=')
            .map(|(n, t)| (n.trim(), t.trim()))
            .filter(|(n, t)| !n.is_empty() && !t.is_empty())
            .with_context(|| format!("{shown} line {}: expected NAME=TOKEN", i + 1))?;
        keys.push((name.to_string(), token.to_string()));
    }
    Ok(keys)
}

/// How the node's worker attests, and how its quote is verified.
pub struct TeeSetup {
    /// Makes the worker's quotes.
    pub attester: fornax_enclave::Attester,
    /// Checks them before the worker is registered.
    pub verifier: fornax_enclave::Verifier,
}

/// The worker's attestation from the flags: a real TEE under a policy file, SIMULATED, or
/// none.
fn tee_setup(args: &NodeArgs) -> Result<Option<TeeSetup>> {
    use fornax_enclave::{tsm::TsmClient, Attester, DevCa, Measurement, Policy, Verifier};
    if args.insecure_simulated_tee {
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
    let Some(path) = args.tee_policy.as_ref() else {
        return Ok(None);
    };
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let policy: Policy = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a TEE policy", path.display()))?;
    policy
        .validate()
        .with_context(|| format!("{} cannot be used", path.display()))?;
    let tsm = TsmClient::system();
    tsm.available().context("--tee-policy needs a TEE")?;
    Ok(Some(TeeSetup {
        attester: Attester::Tee(tsm),
        verifier: Verifier::production(policy),
    }))
}

#[cfg(test)]
// figment::Jail's closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::NodeArgs;

    /// A flag beats its environment variable, which beats the file, which beats nothing;
    /// other `FORNAX_` variables are not settings and are left alone.
    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "node.toml",
                "listen = \"file:1\"\nattempts = 7\nslots = 2\ndevices = [\"cpu:0\"]\n",
            )?;
            jail.set_env("FORNAX_LISTEN", "env:2");
            jail.set_env("FORNAX_ATTEMPTS", "8");
            jail.set_env("FORNAX_NATS_SERVER", "/usr/bin/nats-server");
            let flags = NodeArgs {
                config: Some("node.toml".into()),
                listen: Some("flag:3".into()),
                ..Default::default()
            };
            let merged = flags.merged().map_err(|e| e.to_string())?;
            assert_eq!(merged.listen.as_deref(), Some("flag:3"));
            assert_eq!(merged.attempts, Some(8));
            assert_eq!(merged.slots, Some(2));
            assert_eq!(merged.devices, Some(vec!["cpu:0".to_string()]));
            assert_eq!(merged.data_dir, None);
            assert_eq!(merged.config.as_deref(), Some("node.toml".as_ref()));
            Ok(())
        });
    }

    /// A variable of the wrong type is an error that names the setting; a secret is not
    /// read from the file.
    #[test]
    fn a_bad_variable_is_named_and_secrets_stay_out_of_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("FORNAX_ATTEMPTS", "many");
            let e = NodeArgs::default().merged().unwrap_err().to_string();
            assert!(e.contains("ATTEMPTS") && e.contains("FORNAX_"), "{e}");
            Ok(())
        });
        assert!(NodeArgs::is_layered("data_dir"));
        assert!(!NodeArgs::is_layered("chain_key"));
        assert!(!NodeArgs::is_layered("metrics_token"));
        assert!(!NodeArgs::is_layered("api_keys"));
        assert!(!NodeArgs::is_layered("nats_server"));
    }
}
