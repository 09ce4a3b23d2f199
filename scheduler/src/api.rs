//! The node's HTTP API (axum).
//!
//! | method and path | what |
//! |---|---|
//! | `POST /v1/circuits` | register a circuit: multipart fields `zkey` (required) and `wasm` (circom's witness generator, optional); 201 new, 200 known |
//! | `GET /v1/circuits`, `GET /v1/circuits/{id}` | registered circuits |
//! | `POST /v1/tasks` | submit `{"circuit", "input": {…}}` or `{"circuit", "witness": "<base64 .wtns>"}`, optional `"deadline_ms"` (Unix ms) or `"timeout_s"`; header `Idempotency-Key`; 202 new, 200 replayed |
//! | `GET /v1/tasks/{id}` | a task |
//! | `GET /v1/tasks?state=&circuit=&after=&limit=` | tasks in creation order, paged with `next` |
//! | `DELETE /v1/tasks/{id}` | cancel |
//! | `GET /v1/tasks/{id}/proof` | `{proof, public}` in snarkjs's JSON; `?format=calldata`: the arguments of `verifyProof` as snarkjs's `soliditycalldata` prints them |
//! | `GET /v1/tasks/{id}/transitions` | the task's persisted transition log |
//! | `GET /v1/events?task=` | server-sent events: task state changes and job progress |
//! | `GET /healthz`, `GET /readyz`, `GET /metrics` | liveness, readiness (recovery done), Prometheus text |
//! | `GET /openapi.json` | all of this as OpenAPI 3.1 |
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
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use fornax_prover::witness::{self, WitnessCalculator};
use fornax_prover::{calldata, json, wtns, ProofJson, ProvingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::fhe::{FheError, FheService};
use crate::node::{Scheduler, Submission};
use crate::store::{CircuitMeta, Store, StoreError};
use crate::task::{now_ms, InputKind, State, Task};

/// The API's OpenAPI 3.1 description, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../api/openapi.json");

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
        (
            self.status,
            Json(serde_json::json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
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
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Requests per second each API key may make to `/v1` (a token bucket holding two
    /// seconds' worth); `None` for no limit.
    pub rate_limit_per_s: Option<f64>,
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
    let limit = config.max_body_bytes;
    let state = AppState {
        scheduler,
        config: Arc::new(config),
        checkers: Default::default(),
        buckets: Default::default(),
        fhe,
    };
    Router::new()
        .route("/v1/circuits", get(list_circuits).post(register_circuit))
        .route("/v1/circuits/{id}", get(get_circuit))
        .route("/v1/tasks", get(list_tasks).post(submit_task))
        .route("/v1/tasks/{id}", get(get_task).delete(cancel_task))
        .route("/v1/tasks/{id}/proof", get(get_proof))
        .route("/v1/tasks/{id}/transitions", get(get_transitions))
        .route("/v1/events", get(events))
        .route("/v1/fhe/programs", post(fhe_register_program))
        .route("/v1/fhe/programs/{id}", get(fhe_get_program))
        .route("/v1/fhe/tasks", post(fhe_submit))
        .route("/v1/fhe/tasks/{id}", get(fhe_get_task))
        .route("/v1/fhe/tasks/{id}/decrypt", post(fhe_decrypt))
        .route("/v1/fhe/key", get(fhe_key))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/openapi.json",
            get(|| async { ([("content-type", "application/json")], OPENAPI) }),
        )
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

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

async fn register_circuit(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad(
            "invalid_body",
            format!("expected multipart/form-data: {}", e.body_text()),
        )
    })?;
    let (mut zkey, mut wasm) = (None, None);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(body_error(e.status(), e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| body_error(e.status(), e.body_text()))?;
        match name.as_str() {
            "zkey" => zkey = Some(bytes),
            "wasm" => wasm = Some(bytes),
            other => {
                return Err(ApiError::bad(
                    "invalid_body",
                    format!("unexpected field `{other}` (expected zkey, wasm)"),
                ))
            }
        }
    }
    let zkey = zkey
        .ok_or_else(|| ApiError::bad("invalid_body", "the multipart body has no `zkey` field"))?;
    let store = Arc::clone(app.store());
    let (meta, created) = blocking(move || {
        let pk = ProvingKey::from_bytes("zkey", &zkey)
            .map_err(|e| ApiError::bad("invalid_zkey", e.to_string()))?;
        let n_wires = pk.n_vars;
        if let Some(wasm) = &wasm {
            let calc = WitnessCalculator::from_bytes("wasm", wasm)
                .map_err(|e| ApiError::bad("invalid_wasm", e.to_string()))?;
            if calc.witness_size() != n_wires {
                return Err(ApiError::bad(
                    "circuit_mismatch",
                    format!(
                        "the witness generator makes {} values; the zkey has {n_wires} wires",
                        calc.witness_size()
                    ),
                ));
            }
        }
        let mut h = Sha256::new();
        h.update(&zkey);
        if let Some(w) = &wasm {
            h.update(w);
        }
        let id = hex::encode(h.finalize());
        if let Some(meta) = store.circuit(&id)? {
            return Ok((meta, false));
        }
        store.put_artifact(&format!("{id}.zkey"), &zkey)?;
        if let Some(w) = &wasm {
            store.put_artifact(&format!("{id}.wasm"), w)?;
        }
        let meta = CircuitMeta {
            id,
            n_public: pk.n_public,
            n_wires,
            domain_size: pk.domain_size,
            has_wasm: wasm.is_some(),
            created_ms: now_ms(),
        };
        let created = store.put_circuit(&meta)?;
        Ok((meta, created))
    })
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(meta)).into_response())
}

async fn list_circuits(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let store = Arc::clone(app.store());
    let circuits = blocking(move || Ok(store.circuits()?)).await?;
    Ok(Json(serde_json::json!({ "circuits": circuits })).into_response())
}

async fn get_circuit(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let store = Arc::clone(app.store());
    let meta = blocking(move || Ok(store.circuit(&id)?)).await?;
    meta.map(|m| Json(m).into_response())
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "unknown_circuit", "no such circuit"))
}

/// The body of `POST /v1/tasks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    circuit: String,
    #[serde(default)]
    input: Option<serde_json::Value>,
    #[serde(default)]
    witness: Option<String>,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    timeout_s: Option<u64>,
    #[serde(default)]
    webhook: Option<String>,
}

async fn submit_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    let body: SubmitBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("invalid_json", e.to_string()))?;
    let idempotency_key = idempotency_key(&headers)?;
    let app2 = app.clone();
    let (task, created) = blocking(move || {
        let store = app2.store();
        let circuit = store.circuit(&body.circuit)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_circuit",
                format!("no circuit {}", body.circuit),
            )
        })?;
        let (kind, input) = match (body.input, body.witness) {
            (Some(input), None) => {
                if !circuit.has_wasm {
                    return Err(ApiError::bad(
                        "invalid_input",
                        "the circuit was registered without a witness generator: send `witness`",
                    ));
                }
                let inputs = witness::parse_inputs("input", &input)
                    .map_err(|e| ApiError::bad("invalid_input", e.to_string()))?;
                let checker = app2.checker(&circuit.id)?;
                checker
                    .lock()
                    .expect("checker lock")
                    .check_inputs("input", &inputs)
                    .map_err(|e| ApiError::bad("invalid_input", e.to_string()))?;
                (
                    InputKind::Json,
                    serde_json::to_vec(&input).expect("serialisable"),
                )
            }
            (None, Some(w)) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(w.trim())
                    .map_err(|e| {
                        ApiError::bad("invalid_witness", format!("`witness` is not base64: {e}"))
                    })?;
                let values = wtns::from_bytes("witness", &bytes)
                    .map_err(|e| ApiError::bad("invalid_witness", e.to_string()))?;
                if values.len() != circuit.n_wires {
                    return Err(ApiError::bad(
                        "invalid_witness",
                        format!(
                            "the witness has {} values; the circuit has {} wires",
                            values.len(),
                            circuit.n_wires
                        ),
                    ));
                }
                (InputKind::Wtns, bytes)
            }
            _ => {
                return Err(ApiError::bad(
                    "invalid_input",
                    "give exactly one of `input` (JSON) and `witness` (base64 .wtns)",
                ))
            }
        };
        let webhook = match body.webhook {
            Some(url) if url.starts_with("http://") || url.starts_with("https://") => Some(url),
            Some(url) => {
                return Err(ApiError::bad(
                    "invalid_webhook",
                    format!("`{url}` is not an http(s) URL"),
                ))
            }
            None => None,
        };
        let now = now_ms();
        let deadline_ms = match (body.deadline_ms, body.timeout_s) {
            (Some(d), None) => Some(d),
            (None, Some(s)) => Some(now.saturating_add(s.saturating_mul(1000))),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(ApiError::bad(
                    "invalid_deadline",
                    "give at most one of `deadline_ms` and `timeout_s`",
                ))
            }
        };
        if deadline_ms.is_some_and(|d| d <= now) {
            return Err(ApiError::bad(
                "invalid_deadline",
                "the deadline has passed already",
            ));
        }
        Ok(app2.scheduler.submit(Submission {
            circuit: circuit.id,
            owner,
            input_kind: kind,
            input,
            deadline_ms,
            idempotency_key,
            webhook,
            chain: None,
        })?)
    })
    .await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(task)).into_response())
}

impl AppState {
    /// The witness generator that checks inputs for `circuit`, loaded on first use.
    fn checker(&self, circuit: &str) -> Result<Arc<std::sync::Mutex<WitnessCalculator>>, ApiError> {
        if let Some(c) = self.checkers.lock().expect("checkers lock").get(circuit) {
            return Ok(Arc::clone(c));
        }
        let wasm = self.store().artifact(&format!("{circuit}.wasm"))?;
        let calc = WitnessCalculator::from_bytes(circuit, &wasm).map_err(ApiError::internal)?;
        let calc = Arc::new(std::sync::Mutex::new(calc));
        self.checkers
            .lock()
            .expect("checkers lock")
            .insert(circuit.to_string(), Arc::clone(&calc));
        Ok(calc)
    }

    /// The task, if it exists and `owner` may see it: its own tasks, and every task from
    /// the chain (whose input and result are public there anyway).
    fn owned_task(&self, id: &str, owner: &str) -> Result<Task, ApiError> {
        let task = self.store().task(id)?;
        match task {
            Some(t) if visible(&t, owner, self.config.api_keys.is_empty()) => Ok(t),
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "task_not_found",
                format!("no task {id}"),
            )),
        }
    }
}

/// Whether `owner` may read task `t` (`open`: the API has no keys).
fn visible(t: &Task, owner: &str, open: bool) -> bool {
    open || t.owner == owner || t.chain.is_some()
}

async fn get_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let task = blocking(move || app.owned_task(&id, &owner)).await?;
    Ok(Json(task).into_response())
}

async fn get_transitions(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let log = blocking(move || {
        app.owned_task(&id, &owner)?;
        Ok(app.store().transitions(&id)?)
    })
    .await?;
    Ok(Json(serde_json::json!({ "transitions": log })).into_response())
}

async fn cancel_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let task = blocking(move || {
        if app.owned_task(&id, &owner)?.chain.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "chain_task",
                format!("task {id} came from the chain: it settles or expires there, and cannot be cancelled"),
            ));
        }
        Ok(app
            .scheduler
            .transition(&id, State::Cancelled, None, None, None, |_| {})?)
    })
    .await?;
    Ok(Json(task).into_response())
}

/// Query of `GET /v1/tasks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: Option<String>,
    circuit: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_tasks(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
    let state = match q.state.as_deref() {
        Some(s) => Some(
            State::parse(s)
                .ok_or_else(|| ApiError::bad("invalid_query", format!("unknown state `{s}`")))?,
        ),
        None => None,
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("invalid_query", "limit must be 1 to 1000"));
    }
    let open = app.config.api_keys.is_empty();
    let tasks = blocking(move || {
        Ok(app.store().tasks(q.after.as_deref(), limit, |t| {
            visible(t, &owner, open)
                && state.is_none_or(|s| t.state == s)
                && q.circuit.as_ref().is_none_or(|c| &t.circuit == c)
        })?)
    })
    .await?;
    let next = (tasks.len() == limit)
        .then(|| tasks.last().map(|t| t.id.clone()))
        .flatten();
    Ok(Json(serde_json::json!({ "tasks": tasks, "next": next })).into_response())
}

/// Query of `GET /v1/tasks/{id}/proof`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofQuery {
    format: Option<String>,
}

async fn get_proof(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ProofQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
    let calldata = match q.format.as_deref() {
        None | Some("json") => false,
        Some("calldata") => true,
        Some(other) => {
            return Err(ApiError::bad(
                "invalid_query",
                format!("unknown format `{other}` (json, calldata)"),
            ))
        }
    };
    let (task, proof) = blocking(move || {
        let task = app.owned_task(&id, &owner)?;
        Ok((task, app.store().proof(&id)?))
    })
    .await?;
    // A chain task's proof is there from `posting` on (and stays if the chain refused it).
    let ready = matches!(task.state, State::Proved | State::Posting | State::Settled)
        || (task.state == State::Failed && task.chain.is_some());
    let Some(proof) = proof.filter(|_| ready) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "proof_not_ready",
            format!("task {} is {}", task.id, task.state.as_str()),
        ));
    };
    if calldata {
        let text = solidity_calldata(&proof.proof, &proof.public).map_err(ApiError::internal)?;
        return Ok(text.into_response());
    }
    Ok(Json(serde_json::json!({ "proof": proof.proof, "public": proof.public })).into_response())
}

/// The arguments of a snarkjs Solidity verifier's `verifyProof` for a stored proof, as
/// `snarkjs zkey export soliditycalldata` prints them ([`calldata::solidity_calldata`]).
pub fn solidity_calldata(
    proof: &serde_json::Value,
    public: &serde_json::Value,
) -> Result<String, String> {
    let proof: ProofJson = serde_json::from_value(proof.clone()).map_err(|e| e.to_string())?;
    let proof = proof.to_proof("proof").map_err(|e| e.to_string())?;
    let public = public.as_array().ok_or("public signals are not an array")?;
    let public = json::public_from_json("public", public).map_err(|e| e.to_string())?;
    Ok(calldata::solidity_calldata(&proof, &public))
}

async fn readyz(AxState(app): AxState<AppState>) -> Response {
    if app.scheduler.is_ready() {
        "ready".into_response()
    } else {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "recovering stored tasks",
        )
        .into_response()
    }
}

async fn metrics(AxState(app): AxState<AppState>) -> Response {
    use std::fmt::Write;
    let m = &app.scheduler.metrics;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP fornax_tasks_submitted_total Tasks accepted.\n# TYPE fornax_tasks_submitted_total counter");
    let _ = writeln!(
        out,
        "fornax_tasks_submitted_total {}",
        m.submitted.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP fornax_tasks_finished_total Tasks that reached a final state.\n# TYPE fornax_tasks_finished_total counter");
    for (i, s) in State::ALL.iter().enumerate().filter(|(_, s)| s.is_final()) {
        let _ = writeln!(
            out,
            "fornax_tasks_finished_total{{state=\"{}\"}} {}",
            s.as_str(),
            m.finished[i].load(Ordering::Relaxed)
        );
    }
    let _ = writeln!(
        out,
        "# HELP fornax_queue_depth Tasks waiting in the node's fair queue to be sent to workers.\n# TYPE fornax_queue_depth gauge"
    );
    let _ = writeln!(out, "fornax_queue_depth {}", app.scheduler.queue_depth());
    let _ = writeln!(
        out,
        "# HELP fornax_proofs_total Proofs made.\n# TYPE fornax_proofs_total counter"
    );
    let _ = writeln!(
        out,
        "fornax_proofs_total {}",
        m.proofs.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "fornax_prove_seconds_total {:.6}",
        m.prove_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(out, "# HELP fornax_job_seconds Job durations by kind and device.\n# TYPE fornax_job_seconds summary");
    let jobs = m.jobs.lock().expect("metrics lock");
    let mut keys: Vec<_> = jobs.keys().cloned().collect();
    keys.sort();
    for k in keys {
        let (count, us) = jobs[&k];
        let labels = format!("job=\"{}\",device=\"{}\"", k.0, k.1);
        let _ = writeln!(out, "fornax_job_seconds_count{{{labels}}} {count}");
        let _ = writeln!(
            out,
            "fornax_job_seconds_sum{{{labels}}} {:.6}",
            us as f64 / 1e6
        );
    }
    drop(jobs);
    if let Some(dispatcher) = app.scheduler.dispatcher() {
        let r = &dispatcher.stats;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let gauges = [
            (
                "fornax_remote_jobs_in_flight",
                "Jobs out to workers now.",
                dispatcher.in_flight() as u64,
            ),
            (
                "fornax_remote_queue_messages",
                "Jobs in the queue (waiting or running), at the last look.",
                load(&r.queue_depth),
            ),
            (
                "fornax_workers_live",
                "Workers heartbeating.",
                load(&r.live_workers),
            ),
            (
                "fornax_workers_busy_slots",
                "Jobs running on the live workers.",
                load(&r.busy_slots),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let counters = [
            (
                "fornax_remote_jobs_dispatched_total",
                "Jobs sent to the queue (requeues included).",
                load(&r.dispatched),
            ),
            (
                "fornax_remote_jobs_requeued_total",
                "Jobs put back because their worker was declared dead.",
                load(&r.requeued),
            ),
            (
                "fornax_remote_retries_total",
                "Retryable failures reported by workers.",
                load(&r.retried),
            ),
            (
                "fornax_workers_dead_total",
                "Workers declared dead.",
                load(&r.dead_workers),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let _ = writeln!(out, "# HELP fornax_remote_outcomes_total Outcomes from workers: applied, or ignored (duplicate or late).\n# TYPE fornax_remote_outcomes_total counter");
        let _ = writeln!(
            out,
            "fornax_remote_outcomes_total{{result=\"applied\"}} {}",
            load(&r.applied)
        );
        let _ = writeln!(
            out,
            "fornax_remote_outcomes_total{{result=\"ignored\"}} {}",
            load(&r.ignored)
        );
        let _ = writeln!(out, "# HELP fornax_remote_latency_seconds From dispatch to the proof applied.\n# TYPE fornax_remote_latency_seconds summary");
        let _ = writeln!(
            out,
            "fornax_remote_latency_seconds_count {}",
            load(&r.latency_count)
        );
        let _ = writeln!(
            out,
            "fornax_remote_latency_seconds_sum {:.6}",
            load(&r.latency_us) as f64 / 1e6
        );
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}

/// Query of `GET /v1/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    task: Option<String>,
}

/// Server-sent events: `task` events (the task record after each state change) and `job`
/// events (a job finished on a device), for the caller's tasks, or one task's with
/// `?task=ID`.
async fn events(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    let owner = app.owner(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
    let open = app.config.api_keys.is_empty();
    let rx = app.scheduler.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let (owner, task) = (owner.clone(), q.task.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if (!open && event.owner() != owner)
                            || task.as_deref().is_some_and(|t| t != event.task_id())
                        {
                            continue;
                        }
                        let kind = match &event {
                            crate::node::Event::Task { .. } => "task",
                            crate::node::Event::Job { .. } => "job",
                        };
                        let sse = SseEvent::default()
                            .event(kind)
                            .json_data(&event)
                            .expect("serialisable");
                        return Some((Ok::<_, std::convert::Infallible>(sse), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

impl From<FheError> for ApiError {
    fn from(e: FheError) -> Self {
        let (status, code) = e.status_code();
        ApiError::new(status, code, e.to_string())
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

async fn fhe_register_program(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let fhe = app.fhe()?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    let (id, created) = blocking(move || Ok(fhe.register_program(&body)?)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(serde_json::json!({ "id": id }))).into_response())
}

async fn fhe_get_program(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let fhe = app.fhe()?;
    let program = blocking(move || {
        fhe.program(&id)?.ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_program",
                format!("no program {id}"),
            )
        })
    })
    .await?;
    Ok(Json(program).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FheSubmitBody {
    program: String,
    inputs: Vec<String>,
}

async fn fhe_submit(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let fhe = app.fhe()?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    let body: FheSubmitBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("invalid_json", e.to_string()))?;
    let key = idempotency_key(&headers)?;
    let inputs = body
        .inputs
        .iter()
        .enumerate()
        .map(|(i, b)| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .map_err(|e| {
                    ApiError::bad(
                        "invalid_ciphertext",
                        format!("input {i} is not base64: {e}"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (task, created) =
        blocking(move || Ok(fhe.submit(&owner, &body.program, inputs, key.as_deref())?)).await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(task)).into_response())
}

async fn fhe_get_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let fhe = app.fhe()?;
    let body = blocking(move || {
        let task = fhe.owned_task(&owner, &id)?;
        let mut body = serde_json::to_value(&task).map_err(ApiError::internal)?;
        if let Some(outputs) = fhe.outputs(&id)? {
            body["outputs"] = outputs
                .iter()
                .map(|o| {
                    serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(o))
                })
                .collect();
        }
        Ok(body)
    })
    .await?;
    Ok(Json(body).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FheDecryptBody {
    outputs: Option<Vec<usize>>,
}

async fn fhe_decrypt(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let fhe = app.fhe()?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    let request: FheDecryptBody = if body.iter().all(u8::is_ascii_whitespace) {
        FheDecryptBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad("invalid_json", e.to_string()))?
    };
    let fhe2 = Arc::clone(&fhe);
    let task = blocking(move || Ok(fhe2.owned_task(&owner, &id)?)).await?;
    let outputs = fhe.decrypt(&task, request.outputs).await?;
    Ok(Json(serde_json::json!({ "task": task.id, "outputs": outputs })).into_response())
}

async fn fhe_key(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let fhe = app.fhe()?;
    let (parties, threshold) = fhe.threshold();
    Ok(Json(
        serde_json::json!({ "key_id": fhe.key_id(), "parties": parties, "threshold": threshold }),
    )
    .into_response())
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
