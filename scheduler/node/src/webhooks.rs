//! Webhooks: each task state change POSTed to the task's webhook URL and to its owner's,
//! signed with HMAC-SHA256, retried with exponential backoff.
//!
//! The body is the task record (as `GET /v1/tasks/{id}` returns it). Headers:
//! `Fornax-Event: task`, `Fornax-Timestamp: <Unix ms>` and
//! `Fornax-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the secret
//! being the owner's webhook secret: its own secret, derived from the node's webhook key
//! ([`WebhookKey`], `webhook.key` in the data directory) and the owner's name, never the
//! owner's API token (a receiver that can check signatures cannot then call the API). An
//! owner reads it from `GET /v1/webhook-secret`. A delivery that does not get a 2xx is retried after
//! 1, 2, 4, … seconds, up to [`WebhookConfig::attempts`] times. Deliveries are best-effort
//! across restarts: one pending when the node stops is not resent (the task's state is
//! always available from the API).
//!
//! Webhooks are not a way into the operator's network: a URL must be http(s), and its host
//! must resolve only to public addresses (no loopback, private, link-local, CGNAT,
//! multicast or reserved ones) unless the operator allows them
//! ([`WebhookConfig::allow_private`], `--allow-private-webhooks`). The name is resolved once
//! per delivery and the request goes to the address that was checked; redirects are never
//! followed.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::scheduler::{Event, Scheduler};

/// The node's webhook key: 32 random bytes from which each owner's signing secret is
/// derived ([`WebhookKey::secret_for`]). Kept in a file of its own, created new with mode
/// 0600, so that secrets survive restarts. `Debug` does not print it.
#[derive(Clone)]
pub struct WebhookKey([u8; 32]);

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookKey(…)")
    }
}

impl Default for WebhookKey {
    /// A fresh random key (for a node that keeps none).
    fn default() -> Self {
        WebhookKey(rand::random())
    }
}

impl WebhookKey {
    /// Reads the key at `path` (64 hex characters), or creates it there: a new file
    /// (`O_CREAT | O_EXCL | O_NOFOLLOW`), mode 0600. An existing file that others may read
    /// is refused: a secret there is no longer secret.
    pub fn load_or_create(path: &std::path::Path) -> Result<WebhookKey, String> {
        let shown = path.display();
        match std::fs::symlink_metadata(path) {
            Ok(meta) => {
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 || !meta.is_file() {
                        return Err(format!(
                            "{shown}: a secret must be a regular file readable by its owner only (chmod 600)"
                        ));
                    }
                }
                let _ = meta;
                let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                    .ok_or_else(|| format!("{shown}: not a webhook key (64 hex characters)"))?;
                Ok(WebhookKey(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = WebhookKey::default();
                fornax_fhe::io::write_secret_file(path, hex::encode(key.0).as_bytes())
                    .map_err(|e| e.to_string())?;
                Ok(key)
            }
            Err(e) => Err(format!("{shown}: {e}")),
        }
    }

    /// The signing secret of `owner`'s webhooks: hex of HMAC-SHA256(key,
    /// `"fornax webhook secret v1:" ‖ owner`).
    pub fn secret_for(&self, owner: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes 32-byte keys");
        mac.update(b"fornax webhook secret v1:");
        mac.update(owner.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Where and how to deliver.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfig {
    /// Webhook URL per owner (API key name), for all of its tasks.
    pub per_owner: HashMap<String, String>,
    /// The key each owner's signing secret is derived from.
    pub key: WebhookKey,
    /// Delivery attempts per event.
    pub attempts: u32,
    /// Deliver to loopback, private and link-local addresses too (a node whose receivers
    /// are on its own network).
    pub allow_private: bool,
}

/// Whether a webhook may be sent to `ip`: a public unicast address, not loopback, private,
/// link-local, shared (CGNAT), multicast, documentation or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// Checks a webhook URL without resolving it: http(s), a host, and no address or name that
/// is plainly private (an IP literal that is not public, `localhost`). Names are checked
/// again, resolved, at each delivery. Returns the parsed URL.
pub fn check_url(url: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("`{url}` is not an http(s) URL"));
    }
    let host = parsed
        .host()
        .ok_or_else(|| format!("`{url}` has no host"))?;
    if allow_private {
        return Ok(parsed);
    }
    let private = match host {
        url::Host::Ipv4(ip) => !is_public(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => !is_public(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    };
    if private {
        return Err(format!(
            "`{url}` points at a loopback, private or reserved address (the node's operator can allow those with --allow-private-webhooks)"
        ));
    }
    Ok(parsed)
}

/// The address to deliver to: the URL's host resolved, every address it resolves to public
/// (unless `allow_private`), the first one chosen.
async fn destination(url: &reqwest::Url, allow_private: bool) -> Result<SocketAddr, String> {
    let host = url.host_str().ok_or("no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().ok_or("no port")?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("resolving {host}: {e}"))?
        .collect();
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(format!(
                "{host} resolves to {}, which is not a public address",
                bad.ip()
            ));
        }
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| format!("{host} resolves to nothing"))
}

/// `sha256=<hex>` of `"<timestamp>.<body>"` under `secret`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers task events until the scheduler's event stream ends. Runs on the node's
/// async runtime.
pub async fn run(scheduler: Arc<Scheduler>, config: WebhookConfig) {
    let config = Arc::new(config);
    let mut rx = scheduler.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "webhooks fell behind; events were not delivered"
                );
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Event::Task { task } = event else {
            continue;
        };
        let mut urls: Vec<String> = task.webhook.iter().cloned().collect();
        if let Some(u) = config.per_owner.get(&task.owner) {
            if !urls.contains(u) {
                urls.push(u.clone());
            }
        }
        if urls.is_empty() {
            continue;
        }
        let body = serde_json::to_vec(&task).expect("serialisable");
        let secret = config.key.secret_for(&task.owner);
        for url in urls {
            let (body, secret, config) = (body.clone(), secret.clone(), Arc::clone(&config));
            let id = task.id.clone();
            tokio::spawn(async move {
                deliver(
                    &url,
                    &id,
                    body,
                    &secret,
                    config.attempts,
                    config.allow_private,
                )
                .await
            });
        }
    }
}

async fn deliver(
    url: &str,
    task: &str,
    body: Vec<u8>,
    secret: &str,
    attempts: u32,
    allow_private: bool,
) {
    let parsed = match check_url(url, allow_private) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(task = %task, error = %e, "webhook not sent");
            return;
        }
    };
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=attempts.max(1) {
        // Resolved and checked at each attempt; the request goes to the checked address.
        let client = match destination(&parsed, allow_private).await {
            Ok(addr) => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .resolve(parsed.host_str().unwrap_or_default(), addr)
                .build()
                .expect("HTTP client"),
            Err(e) => {
                tracing::warn!(url = %url, task = %task, error = %e, "webhook not sent");
                return;
            }
        };
        let timestamp = crate::task::now_ms();
        let result = client
            .post(url)
            .header("content-type", "application/json")
            .header("Fornax-Event", "task")
            .header("Fornax-Timestamp", timestamp.to_string())
            .header("Fornax-Signature", signature(secret, timestamp, &body))
            .body(body.clone())
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(
                url = %url,
                task = %task,
                status = %r.status(),
                attempt,
                "webhook refused"
            ),
            Err(e) => tracing::warn!(
                url = %url,
                task = %task,
                error = %e,
                attempt,
                "webhook failed"
            ),
        }
        if attempt < attempts {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(300));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Expected value from Python's hmac module: hmac.new(b"key", b"42.{}", sha256).
        assert_eq!(
            signature("key", 42, b"{}"),
            "sha256=479f5fabf373d659ed01b17cee79df2e457070f7b1795243f56bb889e667bdf7"
        );
        assert_ne!(signature("key", 43, b"{}"), signature("key", 42, b"{}"));
    }

    #[test]
    fn webhook_secrets_are_per_owner_kept_private_and_survive_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhook.key");
        let key = WebhookKey::load_or_create(&path).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "created owner-only");
        }
        let again = WebhookKey::load_or_create(&path).unwrap();
        assert_eq!(key.secret_for("alice"), again.secret_for("alice"), "kept");
        assert_ne!(key.secret_for("alice"), key.secret_for("bob"));
        assert_ne!(
            key.secret_for("alice"),
            WebhookKey::default().secret_for("alice"),
            "derived from the key"
        );
        assert_eq!(format!("{key:?}"), "WebhookKey(…)");
        // A key file others may read is refused, as is a symlink or garbage.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert!(WebhookKey::load_or_create(&path)
            .unwrap_err()
            .contains("chmod 600"));
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(WebhookKey::load_or_create(&link).is_err());
        let bad = dir.path().join("bad.key");
        fornax_fhe::io::write_secret_file(&bad, b"zz").unwrap();
        assert!(WebhookKey::load_or_create(&bad)
            .unwrap_err()
            .contains("not a webhook key"));
    }

    #[test]
    fn only_public_destinations_are_allowed() {
        for private in [
            "http://127.0.0.1:8080/x",
            "http://localhost/x",
            "http://LOCALHOST./x",
            "http://a.localhost/x",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
        ] {
            assert!(check_url(private, false).is_err(), "{private} was allowed");
            assert!(
                check_url(private, true).is_ok(),
                "{private} with private allowed"
            );
        }
        for public in [
            "https://example.com/hook",
            "http://93.184.216.34/",
            "http://[2606:4700::1]/",
        ] {
            assert!(check_url(public, false).is_ok(), "{public} was refused");
        }
        for bad in ["ftp://example.com/", "not a url", "http://:80/"] {
            assert!(check_url(bad, true).is_err(), "{bad} was allowed");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_delivery() {
        let url = reqwest::Url::parse("http://localhost:9/").unwrap();
        let e = destination(&url, false).await.unwrap_err();
        assert!(e.contains("not a public address"), "{e}");
        assert!(destination(&url, true).await.is_ok());
    }
}
