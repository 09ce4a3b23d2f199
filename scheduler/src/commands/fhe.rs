//! `fornax fhe …` (keygen, encrypt, submit, decrypt) and `fornax keyholder`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use fornax_fhe::{io as fio, Program};
use serde_json::{json, Value};

use super::client::NodeConn;

/// Encrypted computation from the command line.
#[derive(clap::Subcommand, Debug)]
pub enum FheCommand {
    /// A key holder's identity, made by the key holder itself before the key set is dealt:
    /// writes the private key to `OUT` (a new file of mode 0600) and its public key to
    /// `OUT.pub`, and prints the public key. Give the dealer only the public key (`fornax fhe
    /// keygen --holder N=KEY`); the identity signs the key holder's answers, proves it in
    /// mutual TLS, and opens the share sealed to it.
    HolderKey {
        /// Where to write the private key.
        out: PathBuf,
    },
    /// Setup(n, k) by a trusted dealer: writes the public key set to `OUT/keyset/` (with the
    /// node's and the key holders' public keys, `node.pub` and `holders.json`), each key
    /// share sealed to its key holder's public key, `OUT/share-<i>.sealed`, and the node's
    /// signing key `OUT/node.key` (new files of mode 0600). No share is written in the
    /// clear. Hand each sealed share to its holder and the node key to the node.
    Keygen {
        /// n, the number of key holders.
        #[arg(long)]
        parties: usize,
        /// k, how many of them decrypt together.
        #[arg(long)]
        threshold: usize,
        /// Key holder N's public key (`N=KEY`: 64 hex digits, or a file holding them, the
        /// `OUT.pub` of `fornax fhe holder-key`), once per party 1..=n.
        #[arg(long = "holder", value_name = "N=KEY")]
        holders: Vec<String>,
        /// The computation parameters: `classic` (bit-exact on every device) or
        /// `gpu-multi-bit` (tfhe-rs's multi-bit bootstrap, fastest on a CUDA GPU; results
        /// decrypt the same but are not bit-exact).
        #[arg(long, default_value = "classic")]
        params: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Encrypt(pk, d): writes `value` as a `bits`-bit ciphertext with a zero-knowledge proof
    /// that you know its plaintext, bound to the key set and to your tenant name (a node
    /// accepts it only from that tenant). Proving takes a few seconds.
    Encrypt {
        /// The public key set directory (`OUT/keyset` of keygen).
        #[arg(long)]
        keys: PathBuf,
        /// The tenant that will submit it: the owner name of your API key (`anonymous` on
        /// a node without keys) [default: asked of the node, as the API key's owner].
        #[arg(long)]
        tenant: Option<String>,
        /// 8, 16, 32 or 64.
        #[arg(long, default_value_t = 16)]
        bits: u32,
        /// The plaintext.
        value: u64,
        /// Where to write the ciphertext.
        out: PathBuf,
        #[command(flatten)]
        conn: NodeConn,
    },
    /// Registers a program and submits a task over the given ciphertexts; prints the task id,
    /// or with `--wait` the finished task.
    Submit {
        /// The program (JSON).
        #[arg(long)]
        program: PathBuf,
        /// The input ciphertexts, in order.
        inputs: Vec<PathBuf>,
        /// Wait until the task is done (or failed).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        conn: NodeConn,
    },
    /// Threshold-decrypts a done task's outputs through the node; prints one value a line.
    Decrypt {
        /// The task id.
        task: String,
        /// Only these outputs (repeatable).
        #[arg(long = "output")]
        outputs: Vec<usize>,
        #[command(flatten)]
        conn: NodeConn,
    },
}

/// `fornax keyholder` settings.
#[derive(clap::Args, Debug)]
pub struct KeyholderArgs {
    /// The key share sealed to this key holder (`share-<i>.sealed` of `fornax fhe
    /// keygen`), opened in memory with `--identity`.
    #[arg(long)]
    pub share: PathBuf,
    /// Address to serve on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// A bearer token the node must present as well (optional: mutual TLS already admits
    /// only the node).
    #[arg(long, env = "FORNAX_KEYHOLDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// This key holder's identity (`fornax fhe holder-key`): it opens the sealed share,
    /// proves this key holder in TLS, and signs every answer.
    #[arg(long)]
    pub identity: PathBuf,
    /// The node's public key (`keyset/node.pub` of `fornax fhe keygen`): only a TLS client
    /// proving it connects, and only requests it signed are answered.
    #[arg(long)]
    pub node_key: PathBuf,
    /// The audit log: every ciphertext digest answered and for which task output (one JSON
    /// line each, kept across restarts) [default: the share's path with `.audit.log`].
    #[arg(long)]
    pub audit_log: Option<PathBuf>,
    /// Answers per tenant per minute.
    #[arg(long, default_value_t = 600)]
    pub per_minute: u32,
    /// The most distinct blocks this key holder decrypts over the key set's life (a squashed
    /// block packs 4 bits: a 16-bit output is 4) [default and ceiling: the budget the key
    /// set's flooding allows, see `GET /v1/keyholder`].
    #[arg(long)]
    pub max_blocks: Option<u64>,
    /// Hold every answer back this long (fault-injection tests).
    #[arg(long, hide = true, default_value_t = 0)]
    pub test_delay_ms: u64,
}

/// Runs `fornax fhe …`.
pub fn run(cmd: FheCommand) -> Result<ExitCode> {
    match cmd {
        FheCommand::HolderKey { out } => {
            let key = fornax_node::keyholders::generate_key();
            fornax_node::keyholders::write_signing_key(&out, &key).map_err(anyhow::Error::msg)?;
            let public = hex::encode(key.verifying_key().to_bytes());
            let pub_path = PathBuf::from(format!("{}.pub", out.display()));
            fio::write_file(&pub_path, public.as_bytes())?;
            println!("{public}");
            Ok(ExitCode::SUCCESS)
        }
        FheCommand::Keygen {
            parties,
            threshold,
            holders,
            params,
            out,
        } => keygen(parties, threshold, &holders, &params, &out),
        FheCommand::Encrypt {
            keys,
            tenant,
            bits,
            value,
            out,
            conn,
        } => {
            let public =
                fio::load_public(&keys).with_context(|| format!("loading {}", keys.display()))?;
            let tenant = match tenant {
                Some(t) => t,
                None => tenant_of(&conn, &public)?,
            };
            let input = fornax_fhe::input::encrypt(&public, value, bits, &tenant)?;
            std::fs::write(&out, input).with_context(|| format!("writing {}", out.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        FheCommand::Submit {
            program,
            inputs,
            wait,
            conn,
        } => submit(&conn, &program, &inputs, wait),
        FheCommand::Decrypt {
            task,
            outputs,
            conn,
        } => {
            let body = if outputs.is_empty() {
                json!({})
            } else {
                json!({ "outputs": outputs })
            };
            let answer = conn.post_json(
                &format!("/v1/fhe/tasks/{task}/decrypt"),
                &body,
                Duration::from_secs(300),
            )?;
            for o in answer["outputs"].as_array().cloned().unwrap_or_default() {
                println!("{}", o["value"].as_str().unwrap_or_default());
                let bad = o["bad_parties"].as_array().cloned().unwrap_or_default();
                if !bad.is_empty() {
                    eprintln!(
                        "output {}: key holders {bad:?} answered wrongly and were left out",
                        o["output"]
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The tenant name the node knows this API key by (`GET /v1/fhe/key`), after checking that
/// the node serves the key set `public`.
fn tenant_of(conn: &NodeConn, public: &fornax_fhe::PublicKeySet) -> Result<String> {
    let key = conn.get("/v1/fhe/key").with_context(|| {
        format!(
            "asking {} for your tenant name (give --tenant NAME to encrypt without a node)",
            conn.node
        )
    })?;
    let served = key["key_id"].as_str().unwrap_or_default();
    if served != hex::encode(public.key_id) {
        anyhow::bail!(
            "{} serves key set {served}, not {}: its tasks would not take this input",
            conn.node,
            hex::encode(public.key_id)
        );
    }
    key["tenant"]
        .as_str()
        .map(String::from)
        .context("the node did not say your tenant name")
}

/// The key holders' public keys from `--holder N=KEY` (hex, or a file of hex).
fn holder_keys(
    specs: &[String],
    parties: usize,
) -> Result<std::collections::BTreeMap<usize, fornax_node::keyholders::VerifyingKey>> {
    use fornax_node::keyholders::{parse_verifying_key, read_verifying_key};
    let mut keys = std::collections::BTreeMap::new();
    for spec in specs {
        let (party, key) = spec
            .split_once('=')
            .with_context(|| format!("--holder {spec}: expected N=KEY"))?;
        let party: usize = party
            .parse()
            .ok()
            .filter(|p| (1..=parties).contains(p))
            .with_context(|| format!("--holder {spec}: party must be in 1..={parties}"))?;
        let key = parse_verifying_key(key)
            .or_else(|_| read_verifying_key(Path::new(key)))
            .map_err(|e| anyhow::anyhow!("--holder {spec}: {e}"))?;
        if keys.insert(party, key).is_some() {
            bail!("--holder {spec}: party {party} is given twice");
        }
    }
    let missing: Vec<usize> = (1..=parties).filter(|p| !keys.contains_key(p)).collect();
    if !missing.is_empty() {
        bail!(
            "no public key for key holder(s) {missing:?}: each key holder makes its identity with `fornax fhe holder-key FILE` and gives the dealer FILE.pub (--holder N=FILE.pub); shares are sealed to those keys"
        );
    }
    Ok(keys)
}

fn keygen(
    parties: usize,
    threshold: usize,
    holders: &[String],
    params: &str,
    out: &Path,
) -> Result<ExitCode> {
    let started = Instant::now();
    let set = fornax_fhe::params::ParamSet::parse(params)?;
    let params = fornax_fhe::params::ThresholdParams::for_set(parties, threshold, set)?;
    let holders = holder_keys(holders, parties)?;
    // Decryption outputs a value only when t + k answers agree (t = k − 1 holders may lie):
    // the holders beyond those are what let it survive holders that are down or lying.
    let t = threshold - 1;
    if parties < t + threshold {
        eprintln!(
            "WARNING: ({parties}, {threshold}): decryption under the bound of k − 1 = {t} corrupt holders needs {} agreeing answers, more than there are holders; nodes must assume at most {} (--keyholders-max-corrupt), or deal n ≥ 3k − 2 = {}",
            t + threshold,
            parties - threshold,
            2 * t + threshold
        );
    } else if parties < 2 * t + threshold {
        eprintln!(
            "WARNING: ({parties}, {threshold}): decryption needs {} agreeing answers, so it fails once {} holder(s) are down or lying; n ≥ 3k − 2 = {} tolerates k − 1 = {t}",
            t + threshold,
            parties + 1 - (t + threshold),
            2 * t + threshold
        );
    }
    let dealt = fornax_fhe::threshold::setup_for(params, &mut rand::rngs::OsRng)?;
    fornax_node::keyholders::write_dealt(out, &dealt, &holders).map_err(anyhow::Error::msg)?;
    let key_id = hex::encode(dealt.public.key_id);
    // The shares and PRSS keys are wiped as they drop; the client key never left setup.
    drop(dealt);
    println!(
        "key set {key_id} ({threshold} of {parties}, {} parameters) written to {} in {:.1?}: \
         shares sealed to their key holders' keys (share-<i>.sealed), none written in the \
         clear, and wiped from memory",
        set.name(),
        out.display(),
        started.elapsed()
    );
    Ok(ExitCode::SUCCESS)
}

fn submit(conn: &NodeConn, program: &Path, inputs: &[PathBuf], wait: bool) -> Result<ExitCode> {
    let program_bytes =
        std::fs::read(program).with_context(|| format!("reading {}", program.display()))?;
    Program::from_json(&program_bytes).with_context(|| program.display().to_string())?;
    let registered = conn.post_raw("/v1/fhe/programs", program_bytes, "application/json")?;
    let program_id = registered["id"]
        .as_str()
        .context("the node returned no program id")?
        .to_string();
    let inputs = inputs
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
                .with_context(|| format!("reading {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let task = conn.post_json(
        "/v1/fhe/tasks",
        &json!({ "program": program_id, "inputs": inputs }),
        Duration::from_secs(120),
    )?;
    let id = task["id"]
        .as_str()
        .context("the node returned no task id")?
        .to_string();
    if !wait {
        println!("{id}");
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let mut t = conn.get_value(&format!("/v1/fhe/tasks/{id}"))?;
        match t["state"].as_str() {
            Some("done") | Some("failed") => {
                if let Some(o) = t.as_object_mut() {
                    o.remove("outputs");
                }
                println!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(if t["state"] == "done" {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

/// Runs `fornax keyholder`: serves PartDec for one key share until interrupted.
pub fn keyholder(args: KeyholderArgs) -> Result<ExitCode> {
    use fornax_node::keyholders;
    let identity = keyholders::read_signing_key(&args.identity).map_err(anyhow::Error::msg)?;
    let node_key = keyholders::read_verifying_key(&args.node_key).map_err(anyhow::Error::msg)?;
    let holder =
        Arc::new(keyholders::load_share(&args.share, &identity).map_err(anyhow::Error::msg)?);
    let share = holder.share();
    let banner = format!(
        "party {} of key set {} ({} of {})",
        share.party,
        hex::encode(share.key_id),
        share.params.threshold,
        share.params.parties
    );
    let audit_path = args
        .audit_log
        .clone()
        .unwrap_or_else(|| args.share.with_extension("audit.log"));
    let budget = share
        .params
        .block_budget()
        .min(args.max_blocks.unwrap_or(u64::MAX));
    let audit = keyholders::Audit::open(&audit_path, args.per_minute, budget)
        .map_err(anyhow::Error::msg)?;
    let (used, _) = audit.blocks_used();
    let budget_line = format!(
        "decryption budget: {used} of {budget} distinct blocks used (2^{:.1} statistical distance per block, 2^{} in all)",
        share.params.distance_log2_per_block(),
        fornax_fhe::params::LIFETIME_DISTANCE_LOG2
    );
    let tls =
        fornax_node::pinned_tls::server_config(&identity, node_key).map_err(anyhow::Error::msg)?;
    let app = fornax_api::keyholder::keyholder_router(fornax_api::keyholder::KeyholderConfig {
        holder,
        token: args.token,
        node_key,
        identity,
        audit,
        delay: Duration::from_millis(args.test_delay_ms),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("binding {}", args.listen))?;
        println!(
            "fornax keyholder listening on https://{}",
            listener.local_addr()?
        );
        println!(
            "mutual TLS: only the node key {} connects",
            hex::encode(node_key.to_bytes())
        );
        println!("{banner}");
        println!("{budget_line}");
        fornax_api::serve_tls_until_interrupted(listener, app, tls)
            .await
            .context("serving HTTPS")
    })?;
    Ok(ExitCode::SUCCESS)
}

impl NodeConn {
    /// GETs a JSON value.
    pub fn get_value(&self, path: &str) -> Result<Value> {
        self.get(path)
    }

    /// POSTs JSON; returns the JSON answer of a 2xx, or the node's error.
    pub fn post_json(&self, path: &str, body: &Value, timeout: Duration) -> Result<Value> {
        self.json(Self::client(Some(timeout))?.post(self.url(path)).json(body))
    }

    /// POSTs raw bytes.
    pub fn post_raw(&self, path: &str, body: Vec<u8>, content_type: &str) -> Result<Value> {
        self.json(
            Self::client(Some(Duration::from_secs(60)))?
                .post(self.url(path))
                .header("content-type", content_type)
                .body(body),
        )
    }
}
