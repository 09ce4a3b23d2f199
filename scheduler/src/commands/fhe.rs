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
    /// Setup(n, k) by a trusted dealer: writes the public key set to `OUT/keyset/` (with the
    /// node's and the key holders' public keys, `node.pub` and `holders.json`), one key
    /// share and one identity key per key holder, `OUT/share-<i>.key` and
    /// `OUT/holder-<i>.key`, and the node's signing key `OUT/node.key` (all new files of
    /// mode 0600). Hand each share and identity to its holder, the node key to the node, and
    /// delete them here.
    Keygen {
        /// n, the number of key holders.
        #[arg(long)]
        parties: usize,
        /// k, how many of them decrypt together.
        #[arg(long)]
        threshold: usize,
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
    /// The key share (`share-<i>.key` of `fornax fhe keygen`).
    #[arg(long)]
    pub share: PathBuf,
    /// Address to serve on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// The bearer token the node must present.
    #[arg(long, env = "FORNAX_KEYHOLDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve without a token (tests and demos on loopback only).
    #[arg(long)]
    pub insecure_no_token: bool,
    /// This key holder's identity, which signs every answer (`holder-<i>.key` of `fornax
    /// fhe keygen`).
    #[arg(long)]
    pub identity: PathBuf,
    /// The node's public key (`keyset/node.pub` of `fornax fhe keygen`): only requests it
    /// signed are answered.
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
        FheCommand::Keygen {
            parties,
            threshold,
            params,
            out,
        } => keygen(parties, threshold, &params, &out),
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

fn keygen(parties: usize, threshold: usize, params: &str, out: &Path) -> Result<ExitCode> {
    let started = Instant::now();
    let set = fornax_fhe::params::ParamSet::parse(params)?;
    let params = fornax_fhe::params::ThresholdParams::for_set(parties, threshold, set)?;
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
    fio::save_public(&dealt.public, &out.join("keyset"))?;
    fornax_node::keyholders::write_identities(out, parties).map_err(anyhow::Error::msg)?;
    for share in &dealt.shares {
        let path = out.join(format!("share-{}.key", share.party));
        fio::write_secret_file(&path, &fio::write_share(share)?)?;
    }
    println!(
        "key set {} ({} of {}, {} parameters) written to {} in {:.1?}",
        hex::encode(dealt.public.key_id),
        threshold,
        parties,
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
    if args.token.is_none() && !args.insecure_no_token {
        bail!("a key holder needs --token (or FORNAX_KEYHOLDER_TOKEN); --insecure-no-token serves without one");
    }
    let holder = Arc::new(fio::load_share(&args.share)?);
    let share = holder.share();
    let banner = format!(
        "party {} of key set {} ({} of {})",
        share.party,
        hex::encode(share.key_id),
        share.params.threshold,
        share.params.parties
    );
    use fornax_node::keyholders;
    let identity = keyholders::read_signing_key(&args.identity).map_err(anyhow::Error::msg)?;
    let node_key = keyholders::read_verifying_key(&args.node_key).map_err(anyhow::Error::msg)?;
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
            "fornax keyholder listening on http://{}",
            listener.local_addr()?
        );
        println!("{banner}");
        println!("{budget_line}");
        fornax_api::serve_until_interrupted(listener, app)
            .await
            .context("serving HTTP")
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
