//! Webhooks: each task state change POSTed to the task's webhook URL and to its owner's,
//! signed with HMAC-SHA256, retried with exponential backoff.
//!
//! The body is the task record (as `GET /v1/tasks/{id}` returns it). Headers:
//! `Fornax-Event: task`, `Fornax-Timestamp: <Unix ms>` and
//! `Fornax-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`, the secret
//! being the owner's webhook secret. A delivery that does not get a 2xx is retried after
//! 1, 2, 4, … seconds, up to [`WebhookConfig::attempts`] times. Deliveries are best-effort
//! across restarts: one pending when the node stops is not resent (the task's state is
//! always available from the API).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::scheduler::{Event, Scheduler};

/// Where and how to deliver.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfig {
    /// Webhook URL per owner (API key name), for all of its tasks.
    pub per_owner: HashMap<String, String>,
    /// Signing secret per owner; owners without one get `default_secret`.
    pub secrets: HashMap<String, String>,
    /// The secret for owners without their own.
    pub default_secret: String,
    /// Delivery attempts per event.
    pub attempts: u32,
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
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let mut rx = scheduler.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                eprintln!("fornax node: webhooks fell behind; {n} events were not delivered");
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
        let secret = config
            .secrets
            .get(&task.owner)
            .unwrap_or(&config.default_secret)
            .clone();
        for url in urls {
            let (client, body, secret, config) = (
                client.clone(),
                body.clone(),
                secret.clone(),
                Arc::clone(&config),
            );
            let id = task.id.clone();
            tokio::spawn(async move {
                deliver(&client, &url, &id, body, &secret, config.attempts).await
            });
        }
    }
}

async fn deliver(
    client: &reqwest::Client,
    url: &str,
    task: &str,
    body: Vec<u8>,
    secret: &str,
    attempts: u32,
) {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=attempts.max(1) {
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
            Ok(r) => eprintln!(
                "fornax node: webhook {url} for {task}: HTTP {} (attempt {attempt})",
                r.status()
            ),
            Err(e) => eprintln!("fornax node: webhook {url} for {task}: {e} (attempt {attempt})"),
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
}
