//! `/v1/tasks`: submit a proving task (through [`Scheduler::submit`], the one entry for
//! new work), read, list and cancel tasks, and fetch proofs (JSON or calldata).

use super::*;

/// The body of `POST /v1/tasks`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitBody {
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

pub(crate) async fn get_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let task = blocking(move || app.owned_task(&id, &owner)).await?;
    Ok(Json(task).into_response())
}

/// `GET /v1/webhook-secret`: the secret that signs the caller's webhooks.
pub(crate) async fn webhook_secret(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let secret = app.config.webhook_key.secret_for(&owner);
    Ok(Json(serde_json::json!({ "owner": owner, "secret": secret })).into_response())
}

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
    Ok(Json(serde_json::json!({ "transitions": log })).into_response())
}

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
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    state: Option<String>,
    circuit: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

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
    Ok(Json(serde_json::json!({ "tasks": tasks, "next": next })).into_response())
}

/// Query of `GET /v1/tasks/{id}/proof`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofQuery {
    format: Option<String>,
}

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
