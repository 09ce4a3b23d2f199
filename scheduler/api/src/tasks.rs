//! `/v1/tasks`: submit a proving task (through [`Scheduler::submit`], the one entry for
//! new work), read, list and cancel tasks, and fetch proofs (JSON or calldata).

use super::*;
use crate::openapi::ErrorBody;
use fornax_node::task::Transition;

/// The body of `POST /v1/tasks`: a circuit and either its input or a witness.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
    /// The circuit's id.
    circuit: String,
    /// circom input JSON (needs a circuit registered with its witness generator).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    input: Option<serde_json::Value>,
    /// A `.wtns` file, base64.
    #[serde(default)]
    witness: Option<String>,
    /// Unix milliseconds: the task expires if not proved by then.
    #[serde(default)]
    deadline_ms: Option<u64>,
    /// The same as a number of seconds from now.
    #[serde(default)]
    timeout_s: Option<u64>,
    /// An http(s) URL: each state change is POSTed there, with headers `Fornax-Timestamp`
    /// and `Fornax-Signature: sha256=hex(HMAC-SHA256(secret, timestamp + '.' + body))`
    /// (the secret of `GET /v1/webhook-secret`), retried with backoff.
    #[serde(default)]
    webhook: Option<String>,
}

/// Submits a proving task; it is stored durably before the answer.
#[utoipa::path(
    post,
    path = "/v1/tasks",
    tag = "tasks",
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried submit with the same key (per API key, 1 to 200 characters) returns the same task")),
    request_body = SubmitBody,
    responses(
        (status = 202, description = "accepted (stored durably)", body = Task),
        (status = 200, description = "replayed: the task of an earlier submit with this Idempotency-Key", body = Task),
        (status = 400, description = "malformed: see code", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "unknown_circuit", body = ErrorBody),
        (status = 413, description = "larger than the node's task limit", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    )
)]
pub(crate) async fn submit_task(
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
            Some(url) => {
                fornax_node::webhooks::check_url(&url, app2.config.allow_private_webhooks)
                    .map_err(|e| ApiError::bad("invalid_webhook", e))?;
                Some(url)
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
            kind: TaskKind::Groth16,
            circuit: circuit.id,
            owner,
            input_kind: kind,
            input,
            deadline_ms,
            idempotency_key,
            webhook,
            chain: None,
            fhe: None,
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
    pub(crate) fn checker(
        &self,
        circuit: &str,
    ) -> Result<Arc<std::sync::Mutex<WitnessCalculator>>, ApiError> {
        if let Some(c) = self.checkers.lock().expect("checkers lock").get(circuit) {
            return Ok(Arc::clone(c));
        }
        let wasm = self.store().artifact(&format!("{circuit}.wasm"))?;
        let calc = WitnessCalculator::from_bytes_with(circuit, &wasm, self.config.witness_limits)
            .map_err(ApiError::internal)?;
        let calc = Arc::new(std::sync::Mutex::new(calc));
        self.checkers
            .lock()
            .expect("checkers lock")
            .insert(circuit.to_string(), Arc::clone(&calc));
        Ok(calc)
    }

    /// The task, if it exists and `owner` may see it: its own tasks, and every task from
    /// the chain (whose input and result are public there anyway).
    pub(crate) fn owned_task(&self, id: &str, owner: &str) -> Result<Task, ApiError> {
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
pub(crate) fn visible(t: &Task, owner: &str, open: bool) -> bool {
    open || t.owner == owner || t.chain.is_some()
}

/// A task of the caller's (or a chain task).
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    responses(
        (status = 200, description = "the task", body = Task),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
    )
)]
pub(crate) async fn get_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let task = blocking(move || app.owned_task(&id, &owner)).await?;
    Ok(Json(task).into_response())
}

/// The caller's webhook secret.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookSecret {
    /// The API key's name.
    owner: String,
    /// Signs the owner's webhooks: `Fornax-Signature: sha256=HMAC-SHA256(secret,
    /// timestamp.body)`. Derived from the node's webhook key, never the API key.
    secret: String,
}

/// `GET /v1/webhook-secret`: the secret that signs the caller's webhooks.
#[utoipa::path(
    get,
    path = "/v1/webhook-secret",
    tag = "tasks",
    responses(
        (status = 200, description = "the caller's secret", body = WebhookSecret),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    )
)]
pub(crate) async fn webhook_secret(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let secret = app.config.webhook_key.secret_for(&owner);
    Ok(Json(WebhookSecret { owner, secret }).into_response())
}

/// A task's transition log.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TransitionLog {
    /// Oldest first.
    transitions: Vec<Transition>,
}

/// The task's persisted transition log.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/transitions",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    responses(
        (status = 200, description = "its transitions", body = TransitionLog),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
    )
)]
pub(crate) async fn get_transitions(
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
    Ok(Json(TransitionLog { transitions: log }).into_response())
}

/// Cancels a task of the caller's.
#[utoipa::path(
    delete,
    path = "/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id")),
    responses(
        (status = 200, description = "cancelled", body = Task),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
        (status = 409, description = "invalid_state (it has ended), or chain_task (it settles or expires on chain)", body = ErrorBody),
    )
)]
pub(crate) async fn cancel_task(
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
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only tasks in this state.
    #[param(value_type = Option<State>)]
    state: Option<String>,
    /// Only tasks of this circuit.
    circuit: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    /// At most this many, 1 to 1000 [default: 100].
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of tasks.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct TaskList {
    /// In creation order.
    tasks: Vec<Task>,
    /// The `after` of the next page; null on the last.
    next: Option<String>,
}

/// The caller's tasks (and chain tasks), in creation order, paged.
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "tasks",
    params(ListQuery),
    responses(
        (status = 200, description = "a page", body = TaskList),
        (status = 400, description = "invalid_query", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
    )
)]
pub(crate) async fn list_tasks(
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
    Ok(Json(TaskList { tasks, next }).into_response())
}

/// Query of `GET /v1/tasks/{id}/proof`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofQuery {
    /// `json` (the default), or `calldata`: the arguments of the Solidity verifier's
    /// `verifyProof`, as snarkjs's `zkey export soliditycalldata` prints them (text).
    format: Option<String>,
}

/// A proof in snarkjs's JSON.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct ProofBody {
    /// `{pi_a, pi_b, pi_c, protocol, curve}`, as `snarkjs groth16 prove` writes it.
    #[schema(value_type = Object)]
    proof: serde_json::Value,
    /// The public signals (outputs, then public inputs), decimal strings.
    public: Vec<String>,
}

/// The proof of a proved task; a chain task's only once it is settled.
#[utoipa::path(
    get,
    path = "/v1/tasks/{id}/proof",
    tag = "tasks",
    params(("id" = String, Path, description = "the task's id"), ProofQuery),
    responses(
        (status = 200, description = "the proof: JSON, or text with format=calldata", body = ProofBody),
        (status = 400, description = "invalid_query", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
        (status = 409, description = "proof_not_ready", body = ErrorBody),
    )
)]
pub(crate) async fn get_proof(
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
    // A chain task's proof is served only once the market has settled the task: a proof
    // read before (while it is posted, or after the chain refused it) could be sent by the
    // reader and paid to it (issue 22 item 3).
    let ready = match task.chain {
        Some(_) => task.state == State::Settled,
        None => task.state == State::Proved,
    };
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
