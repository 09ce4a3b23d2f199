//! The protocol between the node and its key holders: every PartDec request is signed by the
//! node for a named task output, every answer is signed by the key holder that gave it, and
//! each key holder keeps an audit log.
//!
//! - **Requests.** The node signs a [`PartDecRequest`] (key set, party, the ciphertext's
//!   digest, task, output, tenant, time) with its Ed25519 key; a key holder answers only a
//!   request that verifies under the node key pinned in its configuration, names its own
//!   party and key set, is at most [`MAX_REQUEST_AGE`] old, and names the digest of the
//!   ciphertext it is sent with. So neither the shared bearer token nor another key holder's
//!   key makes a key holder decrypt a crafted ciphertext.
//! - **Audit.** A key holder records every digest it answered with the (task, output) it was
//!   asked for, in an append-only log that survives restarts, and refuses the same digest
//!   for another (task, output); it rate-limits per tenant.
//! - **Answers.** A key holder signs the exact bytes of its answer with its own Ed25519 key;
//!   the node checks them against the key holders' public keys published with the key set
//!   (`holders.json`), so a wrong answer is pinned on the key holder that signed it.
//!
//! Keys are files of 64 hex digits (an Ed25519 seed, mode 0600) or, public, of 64 hex
//! digits of the point; `fornax fhe keygen` writes them.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::{Signer, Verifier};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use fornax_fhe::threshold::PartialDecryption;

/// The header carrying a signed request (base64url of its JSON).
pub const REQUEST_HEADER: &str = "x-fornax-request";
/// The header carrying the request's signature (hex).
pub const SIGNATURE_HEADER: &str = "x-fornax-signature";
/// How old a request may be when a key holder receives it (and how far ahead of the key
/// holder's clock).
pub const MAX_REQUEST_AGE: Duration = Duration::from_secs(300);

const REQUEST_DOMAIN: &[u8] = b"fornax/partdec-request/v1\n";
const ANSWER_DOMAIN: &[u8] = b"fornax/partdec-answer/v1\n";

/// What the node asks one key holder to decrypt, and for whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartDecRequest {
    /// The key set, hex.
    pub key_id: String,
    /// The key holder's party.
    pub party: usize,
    /// The digest of the ciphertext (`fornax_fhe::threshold::ciphertext_digest`), hex.
    pub ciphertext: String,
    /// The task whose output it is.
    pub task: String,
    /// The output's index.
    pub output: usize,
    /// The tenant (API key name) that asked.
    pub tenant: String,
    /// When the node signed it, Unix milliseconds.
    pub issued_ms: u64,
}

/// A key holder's answer with its signature over the answer's exact JSON bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedAnswer {
    /// The [`PartialDecryption`] as JSON text.
    pub answer: String,
    /// Ed25519 signature over the answer domain and `answer`'s bytes, hex.
    pub signature: String,
}

fn domain(tag: &[u8], bytes: &[u8]) -> Vec<u8> {
    [tag, bytes].concat()
}

/// Signs a request: the header values ([`REQUEST_HEADER`], [`SIGNATURE_HEADER`]).
pub fn sign_request(key: &SigningKey, request: &PartDecRequest) -> (String, String) {
    let json = serde_json::to_vec(request).expect("a request serializes");
    let signature = key.sign(&domain(REQUEST_DOMAIN, &json));
    (
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&json),
        hex::encode(signature.to_bytes()),
    )
}

/// Checks a request's headers against the node's key; returns the request.
pub fn verify_request(
    node: &VerifyingKey,
    header: &str,
    signature: &str,
) -> Result<PartDecRequest, String> {
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header.trim())
        .map_err(|e| format!("the request header is not base64url: {e}"))?;
    let signature = parse_signature(signature)?;
    node.verify(&domain(REQUEST_DOMAIN, &json), &signature)
        .map_err(|_| "the request is not signed by the node".to_string())?;
    serde_json::from_slice(&json).map_err(|e| format!("the request: {e}"))
}

/// Signs a key holder's answer.
pub fn sign_answer(key: &SigningKey, answer: &PartialDecryption) -> SignedAnswer {
    let answer = serde_json::to_string(answer).expect("an answer serializes");
    let signature = key.sign(&domain(ANSWER_DOMAIN, answer.as_bytes()));
    SignedAnswer {
        answer,
        signature: hex::encode(signature.to_bytes()),
    }
}

/// Checks an answer's signature under a key holder's key; returns the answer.
pub fn verify_answer(
    holder: &VerifyingKey,
    signed: &SignedAnswer,
) -> Result<PartialDecryption, String> {
    let signature = parse_signature(&signed.signature)?;
    holder
        .verify(&domain(ANSWER_DOMAIN, signed.answer.as_bytes()), &signature)
        .map_err(|_| "the answer is not signed by its key holder".to_string())?;
    serde_json::from_str(&signed.answer).map_err(|e| format!("the answer: {e}"))
}

fn parse_signature(hex_sig: &str) -> Result<ed25519_dalek::Signature, String> {
    let bytes: [u8; 64] = hex::decode(hex_sig.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the signature is not 64 bytes of hex")?;
    Ok(ed25519_dalek::Signature::from_bytes(&bytes))
}

/// A fresh signing key.
pub fn generate_key() -> SigningKey {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    SigningKey::from_bytes(&seed)
}

/// Writes a signing key (its seed, hex) as a new file of mode 0600.
pub fn write_signing_key(path: &Path, key: &SigningKey) -> Result<(), String> {
    fornax_fhe::io::write_secret_file(path, hex::encode(key.to_bytes()).as_bytes())
        .map_err(|e| e.to_string())
}

/// Reads a signing key written by [`write_signing_key`].
pub fn read_signing_key(path: &Path) -> Result<SigningKey, String> {
    let text = fornax_fhe::io::read_file(path, 1024).map_err(|e| e.to_string())?;
    let seed: [u8; 32] = hex::decode(String::from_utf8_lossy(&text).trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{}: not 64 hex digits", path.display()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A public key from 64 hex digits.
pub fn parse_verifying_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes: [u8; 32] = hex::decode(hex_key.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("a public key is 64 hex digits")?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 key: {e}"))
}

/// A public key from a file holding its 64 hex digits.
pub fn read_verifying_key(path: &Path) -> Result<VerifyingKey, String> {
    let text = fornax_fhe::io::read_file(path, 1024).map_err(|e| e.to_string())?;
    parse_verifying_key(&String::from_utf8_lossy(&text))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The key holders' public keys by party, as `fornax fhe keygen` publishes them with the key
/// set (`holders.json`: `{"1": "<hex>", …}`).
pub fn read_holder_keys(path: &Path) -> Result<HashMap<usize, VerifyingKey>, String> {
    let text = fornax_fhe::io::read_file(path, 1 << 20).map_err(|e| e.to_string())?;
    let map: HashMap<String, String> =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    map.into_iter()
        .map(|(party, key)| {
            let party: usize = party
                .parse()
                .map_err(|_| format!("{}: party {party:?} is not a number", path.display()))?;
            Ok((party, parse_verifying_key(&key)?))
        })
        .collect()
}

/// Why a key holder refuses a request that was signed by the node.
#[derive(Debug, PartialEq, Eq)]
pub enum AuditRefusal {
    /// The digest was answered for another task output.
    Reused {
        /// The (task, output) it was answered for.
        first: (String, usize),
    },
    /// The tenant asked more than its budget per minute.
    RateLimited,
    /// The key set's lifetime budget of decrypted blocks would be exceeded
    /// ([`fornax_fhe::params::ThresholdParams::block_budget`]).
    BudgetSpent {
        /// Distinct blocks answered so far.
        used: u64,
        /// The budget.
        budget: u64,
    },
    /// The answer could not be recorded in the log, so it is not given.
    Unrecorded(String),
}

/// A key holder's audit log: every digest it answered, for which task output and how many
/// blocks, kept in an append-only file (one JSON line per answer) and in memory; a
/// per-tenant rate limit; and the key set's lifetime budget of distinct blocks decrypted.
pub struct Audit {
    file: Mutex<std::fs::File>,
    /// Digests answered, with the task output each is for and the blocks used so far.
    answered: Mutex<Answered>,
    per_minute: u32,
    budget: u64,
    recent: Mutex<HashMap<String, Vec<u64>>>,
}

/// What the log holds, in memory.
#[derive(Default)]
struct Answered {
    digests: HashMap<String, (String, usize)>,
    /// Blocks of the distinct digests answered.
    blocks: u64,
}

#[derive(Serialize, Deserialize)]
struct AuditLine {
    at_ms: u64,
    digest: String,
    task: String,
    output: usize,
    tenant: String,
    /// Blocks of the ciphertext (lines written before the budget existed count none).
    #[serde(default)]
    blocks: u64,
}

impl Audit {
    /// Opens (creating) the log at `path` and reads what it holds; a tenant gets at most
    /// `per_minute` answers a minute, and the key set at most `budget` distinct blocks
    /// decrypted in all (counted from the log, so a restart does not reset it).
    pub fn open(path: &Path, per_minute: u32, budget: u64) -> Result<Audit, String> {
        let io = |e: std::io::Error| format!("{}: {e}", path.display());
        let mut answered = Answered::default();
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(io)?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                // A torn last line (a crash mid-write) is skipped: its answer was not given.
                if let Ok(l) = serde_json::from_str::<AuditLine>(line) {
                    if !answered.digests.contains_key(&l.digest) {
                        answered.blocks += l.blocks;
                        answered.digests.insert(l.digest, (l.task, l.output));
                    }
                }
            }
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path).map_err(io)?;
        Ok(Audit {
            file: Mutex::new(file),
            answered: Mutex::new(answered),
            per_minute,
            budget,
            recent: Mutex::new(HashMap::new()),
        })
    }

    /// Distinct blocks answered so far, and the budget.
    pub fn blocks_used(&self) -> (u64, u64) {
        let answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        (answered.blocks, self.budget)
    }

    /// Records an answer about to be given for a ciphertext of `blocks` blocks, durably,
    /// unless it must be refused. The same digest answered again (a retry, for the same task
    /// output) costs no budget: its answer is the same, it reveals nothing new.
    pub fn admit(
        &self,
        request: &PartDecRequest,
        blocks: u64,
        now_ms: u64,
    ) -> Result<(), AuditRefusal> {
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        let key = (request.task.clone(), request.output);
        let new = match answered.digests.get(&request.ciphertext) {
            Some(first) if *first != key => {
                return Err(AuditRefusal::Reused {
                    first: first.clone(),
                })
            }
            Some(_) => false,
            None => true,
        };
        if new && answered.blocks.saturating_add(blocks) > self.budget {
            return Err(AuditRefusal::BudgetSpent {
                used: answered.blocks,
                budget: self.budget,
            });
        }
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let times = recent.entry(request.tenant.clone()).or_default();
            times.retain(|t| now_ms.saturating_sub(*t) < 60_000);
            if times.len() as u32 >= self.per_minute {
                return Err(AuditRefusal::RateLimited);
            }
            times.push(now_ms);
        }
        let line = AuditLine {
            at_ms: now_ms,
            digest: request.ciphertext.clone(),
            task: request.task.clone(),
            output: request.output,
            tenant: request.tenant.clone(),
            blocks: if new { blocks } else { 0 },
        };
        let mut text = serde_json::to_string(&line).expect("a line serializes");
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Written before the answer leaves: an answer is never given unrecorded.
        if let Err(e) = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
        {
            return Err(AuditRefusal::Unrecorded(e.to_string()));
        }
        if new {
            answered.blocks += blocks;
            answered.digests.insert(request.ciphertext.clone(), key);
        }
        Ok(())
    }
}

/// The node's side: its signing key, and the key holders' public keys by party.
pub struct NodeKeys {
    /// Signs every request.
    pub signing: SigningKey,
    /// Checks every answer.
    pub holders: HashMap<usize, VerifyingKey>,
}

impl NodeKeys {
    /// Reads the node's key and the key holders' keys (`holders.json` in the key set's
    /// folder).
    pub fn load(node_key: &Path, keys_dir: &Path) -> Result<NodeKeys, String> {
        Ok(NodeKeys {
            signing: read_signing_key(node_key)?,
            holders: read_holder_keys(&keys_dir.join("holders.json"))?,
        })
    }
}

/// The largest answer read from a key holder: a few hundred bytes a block, so a faulty or
/// hostile key holder cannot make the node buffer without bound.
const MAX_ANSWER_BYTES: usize = 1 << 20;

/// The node's side of one key holder: the party its URL is pinned to, that party's public key
/// (from `holders.json`), and an HTTPS client with mutual TLS pinned to that key, presenting
/// the node key ([`crate::pinned_tls`]).
pub struct HolderClient {
    party: usize,
    url: String,
    key: VerifyingKey,
    http: reqwest::Client,
    token: Option<String>,
}

impl HolderClient {
    /// A client for key holder `party` at `url` (`https://…`), whose key is `key`; `node` is
    /// the node's identity, `token` an optional bearer token the key holder also wants.
    pub fn new(
        party: usize,
        url: &str,
        key: VerifyingKey,
        node: &SigningKey,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<HolderClient, String> {
        if !url.starts_with("https://") {
            return Err(format!(
                "key holder {party} at {url}: key holders are reached over mutual TLS, so their URLs start with https://"
            ));
        }
        let tls = crate::pinned_tls::client_config(node, key)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HolderClient {
            party,
            url: url.trim_end_matches('/').to_string(),
            key,
            http,
            token,
        })
    }

    /// The party this key holder's URL is pinned to.
    pub fn party(&self) -> usize {
        self.party
    }

    /// Its base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks for PartDec of `ciphertext` with a request the node signed ([`sign_request`]).
    /// The answer must be signed by this key holder's key (an unsigned or wrongly signed one
    /// is no answer: it names nobody); one that claims another party comes back with no
    /// blocks, so it counts as this key holder's wrong answer, never as the party it names.
    pub async fn partdec(
        &self,
        ciphertext: Vec<u8>,
        (request_header, signature): (String, String),
    ) -> Result<PartialDecryption, String> {
        let mut request = self
            .http
            .post(format!("{}/v1/partdec", self.url))
            .header("content-type", "application/octet-stream")
            .header(REQUEST_HEADER, request_header)
            .header(SIGNATURE_HEADER, signature)
            .body(ciphertext);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(format!("answer over {MAX_ANSWER_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
        }
        let signed: SignedAnswer = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let mut answer = verify_answer(&self.key, &signed)?;
        if answer.party != self.party {
            tracing::warn!(
                url = %self.url,
                party = self.party,
                answered_as = answer.party,
                "key holder answered as another party; its blocks are dropped"
            );
            answer.party = self.party;
            answer.blocks.clear();
        }
        Ok(answer)
    }
}

/// Writes what a dealer hands out (`fornax fhe keygen`), all as new files:
///
/// - the public key set in `OUT/keyset/`, with the node's public key (`node.pub`) and the key
///   holders' (`holders.json`, from `holders`, party → public key);
/// - the node's signing key `OUT/node.key` (mode 0600);
/// - share i sealed to holder i's key, `OUT/share-<i>.sealed` ([`crate::sealed_share`]): no
///   share is written in the clear, and each serialized share is wiped from memory after
///   sealing.
///
/// Returns the sealed shares' paths, party 1 first. Every party needs a key.
pub fn write_dealt(
    out: &Path,
    dealt: &fornax_fhe::threshold::Dealt,
    holders: &std::collections::BTreeMap<usize, VerifyingKey>,
) -> Result<Vec<PathBuf>, String> {
    let parties = dealt.public.params.parties;
    if holders.len() != parties || (1..=parties).any(|p| !holders.contains_key(&p)) {
        return Err(format!(
            "{parties} key holders need one public key each (parties 1..={parties}); got parties {:?}",
            holders.keys().collect::<Vec<_>>()
        ));
    }
    fornax_fhe::io::save_public(&dealt.public, &out.join("keyset")).map_err(|e| e.to_string())?;
    let node = generate_key();
    write_signing_key(&out.join("node.key"), &node)?;
    let public = |name: &str, bytes: &[u8]| {
        fornax_fhe::io::write_file(&out.join("keyset").join(name), bytes).map_err(|e| e.to_string())
    };
    public(
        "node.pub",
        hex::encode(node.verifying_key().to_bytes()).as_bytes(),
    )?;
    let published: std::collections::BTreeMap<String, String> = holders
        .iter()
        .map(|(party, key)| (party.to_string(), hex::encode(key.to_bytes())))
        .collect();
    public(
        "holders.json",
        &serde_json::to_vec_pretty(&published).expect("a map serializes"),
    )?;
    let mut paths = Vec::new();
    for share in &dealt.shares {
        let plain =
            zeroize::Zeroizing::new(fornax_fhe::io::write_share(share).map_err(|e| e.to_string())?);
        let sealed =
            crate::sealed_share::seal(&plain, &holders[&share.party], &mut rand::rngs::OsRng)?;
        let path = out.join(format!("share-{}.sealed", share.party));
        fornax_fhe::io::write_secret_file(&path, &sealed).map_err(|e| e.to_string())?;
        paths.push(path);
    }
    Ok(paths)
}

/// A key holder's share: sealed to its identity ([`crate::sealed_share`]), opened in memory;
/// or, as dealers wrote before sealing, in the clear (with a warning to re-deal).
pub fn load_share(path: &Path, identity: &SigningKey) -> Result<fornax_fhe::KeyHolder, String> {
    let limit = fornax_fhe::io::max_share_bytes() + 1024;
    let bytes = fornax_fhe::io::read_file(path, limit).map_err(|e| e.to_string())?;
    let read = |plain: &[u8]| {
        fornax_fhe::io::read_share(plain).map_err(|e| format!("{}: {e}", path.display()))
    };
    if crate::sealed_share::is_sealed(&bytes) {
        let plain = crate::sealed_share::open(&bytes, identity)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        read(&plain)
    } else {
        let bytes = zeroize::Zeroizing::new(bytes);
        tracing::warn!(
            path = %path.display(),
            "key share held in the clear; deal again with `fornax fhe keygen --holder …` so \
             that shares are sealed to their key holders"
        );
        read(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> PartDecRequest {
        PartDecRequest {
            key_id: "ab".repeat(32),
            party: 2,
            ciphertext: "cd".repeat(32),
            task: "t1".into(),
            output: 0,
            tenant: "alice".into(),
            issued_ms: 1,
        }
    }

    #[test]
    fn only_the_nodes_signature_makes_a_request() {
        let node = generate_key();
        let holder = generate_key();
        let (header, sig) = sign_request(&node, &request());
        assert_eq!(
            verify_request(&node.verifying_key(), &header, &sig),
            Ok(request())
        );
        // Signed by a key holder's key: refused.
        let (h2, s2) = sign_request(&holder, &request());
        assert!(verify_request(&node.verifying_key(), &h2, &s2).is_err());
        // Changed after signing: refused.
        let mut other = request();
        other.ciphertext = "ef".repeat(32);
        let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&other).unwrap());
        assert!(verify_request(&node.verifying_key(), &tampered, &sig).is_err());
        assert!(verify_request(&node.verifying_key(), &header, "00").is_err());
    }

    #[test]
    fn answers_verify_only_under_their_holders_key() {
        let (a, b) = (generate_key(), generate_key());
        let answer = PartialDecryption {
            key_id: "ab".repeat(32),
            party: 1,
            ciphertext: "cd".repeat(32),
            blocks: vec!["00".repeat(32)],
        };
        let signed = sign_answer(&a, &answer);
        assert_eq!(
            verify_answer(&a.verifying_key(), &signed),
            Ok(answer.clone())
        );
        assert!(verify_answer(&b.verifying_key(), &signed).is_err());
        let mut forged = signed.clone();
        forged.answer = forged.answer.replace("\"party\":1", "\"party\":3");
        assert!(verify_answer(&a.verifying_key(), &forged).is_err());
    }

    #[test]
    fn the_audit_refuses_a_digest_for_another_output_and_remembers_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = Audit::open(&path, 3, u64::MAX).unwrap();
        let r = request();
        assert_eq!(audit.admit(&r, 8, 1000), Ok(()));
        // The same output again is fine (a retry); another output of the same digest is not.
        assert_eq!(audit.admit(&r, 8, 1001), Ok(()));
        let mut other = r.clone();
        other.task = "t2".into();
        assert_eq!(
            audit.admit(&other, 8, 1002),
            Err(AuditRefusal::Reused {
                first: ("t1".into(), 0)
            })
        );
        drop(audit);
        let audit = Audit::open(&path, 3, u64::MAX).unwrap();
        assert!(matches!(
            audit.admit(&other, 8, 2000),
            Err(AuditRefusal::Reused { .. })
        ));
        // Three a minute per tenant.
        let fresh = |i: u8| PartDecRequest {
            ciphertext: hex::encode([i; 32]),
            ..r.clone()
        };
        for i in 0..3 {
            assert_eq!(audit.admit(&fresh(i), 8, 5000), Ok(()));
        }
        assert_eq!(
            audit.admit(&fresh(9), 8, 5001),
            Err(AuditRefusal::RateLimited)
        );
        assert_eq!(audit.admit(&fresh(9), 8, 70_000), Ok(()));
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert_eq!(
            lines, 6,
            "every answer given, and only those, is in the log"
        );
    }

    #[test]
    fn the_block_budget_counts_distinct_ciphertexts_and_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let audit = Audit::open(&path, 100, 20).unwrap();
        let r = request();
        let fresh = |i: u8| PartDecRequest {
            ciphertext: hex::encode([i; 32]),
            ..r.clone()
        };
        assert_eq!(audit.admit(&fresh(1), 8, 1000), Ok(()));
        assert_eq!(audit.admit(&fresh(2), 8, 1001), Ok(()));
        // A retry of an answered ciphertext reveals nothing new: it costs nothing.
        assert_eq!(audit.admit(&fresh(2), 8, 1002), Ok(()));
        assert_eq!(audit.blocks_used(), (16, 20));
        assert_eq!(
            audit.admit(&fresh(3), 8, 1003),
            Err(AuditRefusal::BudgetSpent {
                used: 16,
                budget: 20
            })
        );
        assert_eq!(audit.admit(&fresh(4), 4, 1004), Ok(()));
        drop(audit);
        // The log remembers what was spent.
        let audit = Audit::open(&path, 100, 20).unwrap();
        assert_eq!(audit.blocks_used(), (20, 20));
        assert!(matches!(
            audit.admit(&fresh(5), 1, 2000),
            Err(AuditRefusal::BudgetSpent { used: 20, .. })
        ));
        assert_eq!(audit.admit(&fresh(1), 8, 2001), Ok(()), "answered before");
    }
}
