//! The node's HTTP API (axum): one router, one error type ([`ApiError`]: status, stable
//! code, message), and the handlers per resource (`circuits`, `tasks`, `events`, `metrics`,
//! `fhe`), over the node library ([`fornax_node`]); and the key holder's API
//! ([`keyholder`]).
//!
//! | method and path | what |
//! |---|---|
//! | `POST /v1/circuits` | register a circuit: multipart fields `zkey` (required) and `wasm` (circom's witness generator, optional); 201 new, 200 known |
//! | `GET /v1/circuits`, `GET /v1/circuits/{id}` | registered circuits |
//! | `POST /v1/tasks` | submit `{"circuit", "input": {…}}` or `{"circuit", "witness": "<base64 .wtns>"}`, optional `"deadline_ms"` (Unix ms) or `"timeout_s"`; header `Idempotency-Key`; 202 new, 200 replayed |
//! | `GET /v1/tasks/{id}` | a task |
//! | `GET /v1/tasks?state=&circuit=&after=&limit=` | tasks in creation order, paged with `next` |
//! | `DELETE /v1/tasks/{id}` | cancel |
//! | `GET /v1/tasks/{id}/proof` | `{proof, public}` in snarkjs's JSON; `?format=calldata`: the arguments of `verifyProof` as snarkjs's `soliditycalldata` prints them. A chain task's proof only once it is settled (409 `proof_not_ready` before) |
//! | `GET /v1/tasks/{id}/transitions` | the task's persisted transition log |
//! | `GET /v1/events?task=` | server-sent events: task state changes and job progress |
//! | `GET /v1/webhook-secret` | `{owner, secret}`: the secret that signs the caller's webhooks (its own, not the API key) |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, readiness (recovery done), Prometheus text (`/metrics` needs `Authorization: Bearer <metrics token>` when the node has one) |
//! | `GET /openapi.json` | all of this as OpenAPI 3.1, generated from the handlers' annotations ([`openapi`]) |
//! | `GET /docs` | Swagger UI over `/openapi.json`, served from the binary |
//! | `POST /v1/fhe/programs` | register an FHE program (JSON, see `fornax_fhe::program`); 201 new, 200 known |
//! | `GET /v1/fhe/programs/{id}` | a program |
//! | `POST /v1/fhe/tasks` | submit `{"program", "inputs": ["<base64 FheUint ciphertext>", …]}`; header `Idempotency-Key`; 202 new, 200 replayed |
//! | `GET /v1/fhe/tasks/{id}` | an FHE task; when done, its digest and `outputs` (base64 `SquashedNoiseFheUint`) |
//! | `POST /v1/fhe/tasks/{id}/decrypt` | `{"outputs": [i, …]}` (optional): k-of-n threshold decryption of the task's outputs, for its owner |
//! | `GET /v1/fhe/key` | the FHE key set's id and threshold |
//!
//! Errors are JSON `{code, message}` with a stable `code`; a client's mistake is a 4xx,
//! never a 500. With API keys configured every `/v1` call needs `Authorization: Bearer`,
//! and each key has a request rate limit (429 `rate_limited`).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine as _;
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{calldata, json, wtns, ProofJson, ProvingKey};
use serde::Deserialize;

use fornax_node::fhe::{FheError, FheService};
use fornax_node::scheduler::{Scheduler, Submission};
use fornax_node::store::{Store, StoreError};
use fornax_node::task::{now_ms, InputKind, State, Task, TaskKind};

mod circuits;
mod events;
mod fhe;
pub mod keyholder;
mod metrics;
pub mod openapi;
mod tasks;

pub use tasks::solidity_calldata;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt as _};
use utoipa_axum::routes;

/// An API error: HTTP status, stable code, message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = openapi::ErrorBody {
            code: self.code,
            message: self.message,
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoTask(id) => ApiError::new(
                StatusCode::NOT_FOUND,
                "task_not_found",
                format!("no task {id}"),
            ),
            StoreError::Forbidden { id, from, to } => ApiError::new(
                StatusCode::CONFLICT,
                "invalid_state",
                format!("task {id} is {from}; it cannot become {to}"),
            ),
            e => ApiError::internal(e),
        }
    }
}

/// API settings.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Bearer tokens and the owner names they stand for; empty means no authentication
    /// (every caller is `anonymous`).
    pub api_keys: HashMap<String, String>,
    /// Largest circuit upload (`POST /v1/circuits`: a zkey and its witness generator),
    /// bytes.
    pub max_body_bytes: usize,
    /// Largest task submission (`POST /v1/tasks`, `POST /v1/fhe/tasks`: inputs, witnesses,
    /// ciphertexts), bytes. Every other request body is limited to [`SMALL_BODY_BYTES`].
    pub max_task_body_bytes: usize,
    /// Requests per second each API key may make to `/v1` (a token bucket holding two
    /// seconds' worth); `None` for no limit.
    pub rate_limit_per_s: Option<f64>,
    /// Accept task webhooks on loopback, private and link-local addresses.
    pub allow_private_webhooks: bool,
    /// The key owners' webhook secrets derive from (`GET /v1/webhook-secret`).
    pub webhook_key: fornax_node::webhooks::WebhookKey,
    /// The bearer token `/metrics` requires; `None` leaves it open.
    pub metrics_token: Option<String>,
    /// What a witness generator may spend when the API loads it (registration) and runs it
    /// (input checks).
    pub witness_limits: witness::Limits,
}

impl Default for ApiConfig {
    /// Open (no API keys), no rate limit, circuit uploads up to 512 MiB, task submissions up
    /// to 64 MiB, public webhooks only, a fresh webhook key, `/metrics` open.
    fn default() -> Self {
        ApiConfig {
            api_keys: HashMap::new(),
            max_body_bytes: 512 << 20,
            max_task_body_bytes: 64 << 20,
            rate_limit_per_s: None,
            allow_private_webhooks: false,
            webhook_key: Default::default(),
            metrics_token: None,
            witness_limits: witness::Limits::default(),
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    scheduler: Arc<Scheduler>,
    config: Arc<ApiConfig>,
    /// Witness generators used to check submitted inputs, per circuit.
    checkers: Arc<std::sync::Mutex<HashMap<String, Arc<std::sync::Mutex<WitnessCalculator>>>>>,
    /// Token buckets per owner: (tokens, last refill).
    buckets: Arc<std::sync::Mutex<HashMap<String, (f64, std::time::Instant)>>>,
    /// Encrypted computation, when the node has an FHE key set.
    fhe: Option<Arc<FheService>>,
    /// This API's OpenAPI document, as JSON.
    openapi: Arc<str>,
}

impl AppState {
    fn store(&self) -> &Arc<Store> {
        self.scheduler.store()
    }

    /// The caller's name, after authentication and its rate limit.
    fn owner(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let owner = self.authenticate(headers)?;
        if let Some(rate) = self.config.rate_limit_per_s {
            let mut buckets = self.buckets.lock().expect("buckets lock");
            let now = std::time::Instant::now();
            let (tokens, last) = buckets.entry(owner.clone()).or_insert((2.0 * rate, now));
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(2.0 * rate);
            *last = now;
            if *tokens < 1.0 {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("more than {rate} requests per second for this API key"),
                ));
            }
            *tokens -= 1.0;
        }
        Ok(owner)
    }

    /// Checks `Authorization: Bearer <metrics token>` when the node has one.
    fn authorize_metrics(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.config.metrics_token {
            Some(expected) if !bearer_is(headers, expected) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics needs Authorization: Bearer <metrics token>",
            )),
            _ => Ok(()),
        }
    }

    fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        if self.config.api_keys.is_empty() {
            return Ok("anonymous".into());
        }
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "missing Authorization: Bearer <api key>",
                )
            })?;
        self.config
            .api_keys
            .get(token.trim())
            .cloned()
            .ok_or_else(|| {
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key")
            })
    }
}

/// Whether the request's `Authorization: Bearer` token is `expected`, compared in time
/// independent of where the first difference lies.
fn bearer_is(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim();
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The router.
pub fn router(scheduler: Arc<Scheduler>, config: ApiConfig) -> Router {
    router_with_fhe(scheduler, config, None)
}

/// The router, with the `/v1/fhe` endpoints served by `fhe` (without it they answer 503
/// `fhe_disabled`).
pub fn router_with_fhe(
    scheduler: Arc<Scheduler>,
    config: ApiConfig,
    fhe: Option<Arc<FheService>>,
) -> Router {
    let (upload, task) = (config.max_body_bytes, config.max_task_body_bytes);
    let state = AppState {
        scheduler,
        config: Arc::new(config),
        checkers: Default::default(),
        buckets: Default::default(),
        fhe,
        openapi: openapi_json().into(),
    };
    let (router, _) = routes(upload, task).split_for_parts();
    router
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(SMALL_BODY_BYTES))
        .with_state(state)
        .merge(docs())
}

/// Every route of the node's API, each registered with its description (`routes!` reads
/// the handler's `#[utoipa::path]`): circuit uploads may take `upload` bytes and task
/// submissions `task`.
fn routes(upload: usize, task: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(
            routes!(circuits::list_circuits, circuits::register_circuit)
                .layer(DefaultBodyLimit::max(upload)),
        )
        .routes(routes!(circuits::get_circuit))
        .routes(routes!(tasks::list_tasks, tasks::submit_task).layer(DefaultBodyLimit::max(task)))
        .routes(routes!(tasks::get_task, tasks::cancel_task))
        .routes(routes!(tasks::get_proof))
        .routes(routes!(tasks::get_transitions))
        .routes(routes!(events::events))
        .routes(routes!(fhe::fhe_register_program))
        .routes(routes!(fhe::fhe_get_program))
        .routes(routes!(fhe::fhe_submit).layer(DefaultBodyLimit::max(task)))
        .routes(routes!(fhe::fhe_get_task))
        .routes(routes!(fhe::fhe_decrypt))
        .routes(routes!(fhe::fhe_key))
        .routes(routes!(tasks::webhook_secret))
        .routes(routes!(metrics::healthz))
        .routes(routes!(metrics::readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(serve_openapi))
}

/// The node API's OpenAPI 3.1 document, generated from the routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::Modify as _;
    let mut doc = routes(0, 0).into_openapi();
    openapi::Frame.modify(&mut doc);
    doc
}

/// [`openapi`] as JSON.
pub fn openapi_json() -> String {
    openapi().to_pretty_json().expect("the document serializes")
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object))
)]
async fn serve_openapi(AxState(app): AxState<AppState>) -> Response {
    (
        [("content-type", "application/json")],
        app.openapi.to_string(),
    )
        .into_response()
}

/// Swagger UI at `/docs`, reading `/openapi.json`; its script and style are in the binary,
/// so the page needs no network. Open to anyone, as `/openapi.json` is: it describes the
/// API, and calls made from it need an API key like any other.
fn docs() -> Router {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("Fornax API"),
    })
}

/// The body limit of every route but circuit uploads and task submissions: programs,
/// decryption requests and the like are small.
pub const SMALL_BODY_BYTES: usize = 1 << 20;

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// A body that could not be read: too large (413), or otherwise malformed (400).
fn body_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", text)
    } else {
        ApiError::bad("invalid_body", text)
    }
}

impl From<FheError> for ApiError {
    fn from(e: FheError) -> Self {
        let status = match &e {
            FheError::Invalid { .. } => StatusCode::BAD_REQUEST,
            FheError::NotFound { .. } => StatusCode::NOT_FOUND,
            FheError::Conflict(_) => StatusCode::CONFLICT,
            FheError::KeyholdersUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            FheError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            FheError::Store(_) | FheError::Setup(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl AppState {
    fn fhe(&self) -> Result<Arc<FheService>, ApiError> {
        self.fhe.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "fhe_disabled",
                "this node has no FHE key set (start it with --fhe-keys)",
            )
        })
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                ApiError::bad(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be visible ASCII",
                )
            })?;
            if k.is_empty() || k.len() > 200 {
                return Err(ApiError::bad(
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1 to 200 characters",
                ));
            }
            Ok(Some(k.to_string()))
        }
        None => Ok(None),
    }
}

/// Serves `app` on `listener` until the process is interrupted (SIGINT), then lets the
/// requests in flight finish. The node and `fornax keyholder` both serve through it.
pub async fn serve_until_interrupted(
    listener: tokio::net::TcpListener,
    app: Router,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// Serves `app` over TLS (HTTP/1.1) on `listener` until Ctrl-C: the key holder's server,
/// whose `tls` admits only the pinned node ([`fornax_node::pinned_tls::server_config`]). A
/// connection whose handshake fails, or does not finish within 10 s, is dropped without an
/// answer.
pub async fn serve_tls_until_interrupted(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: tokio_rustls::rustls::ServerConfig,
) -> std::io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                // Out of file descriptors and the like: wait, as axum::serve does.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut interrupted => return Ok(()),
        };
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let handshake = acceptor.accept(tcp);
            let Ok(Ok(stream)) =
                tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await
            else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
    }
}
