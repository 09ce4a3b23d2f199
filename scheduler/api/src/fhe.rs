//! `/v1/fhe`: encrypted computation: programs, tasks, threshold decryption, the key set.

use super::*;
use crate::openapi::ErrorBody;
use fornax_fhe::program::Program;
use fornax_node::fhe::{DecryptedOutput, FheTask};

/// A registered program's id.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProgramId {
    /// The digest of the program's canonical JSON.
    id: String,
}

/// Registers an FHE program; its id is the digest of its canonical JSON.
#[utoipa::path(
    post,
    path = "/v1/fhe/programs",
    tag = "fhe",
    request_body = Program,
    responses(
        (status = 201, description = "registered", body = ProgramId),
        (status = 200, description = "known already", body = ProgramId),
        (status = 400, description = "invalid_program, or program_too_costly", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 503, description = "fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_register_program(
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
    Ok((status, Json(ProgramId { id })).into_response())
}

/// A registered FHE program.
#[utoipa::path(
    get,
    path = "/v1/fhe/programs/{id}",
    tag = "fhe",
    params(("id" = String, Path, description = "the program's id")),
    responses(
        (status = 200, description = "the program", body = Program),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "unknown_program", body = ErrorBody),
        (status = 503, description = "fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_get_program(
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

/// The body of `POST /v1/fhe/tasks`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FheSubmitBody {
    /// The program's id.
    program: String,
    /// Each input: base64 of a tfhe-rs `ProvenCompactCiphertextList` holding one integer of
    /// the program's width (safe serialization), conformant with the node's key set, with a
    /// proof of knowledge bound to the key set and the submitting tenant (`fornax fhe
    /// encrypt --tenant`).
    inputs: Vec<String>,
    /// Where to POST the task's state changes, as for proofs.
    #[serde(default)]
    webhook: Option<String>,
}

/// Submits a program over encrypted inputs; every input's proof is verified and the task
/// stored before the answer.
#[utoipa::path(
    post,
    path = "/v1/fhe/tasks",
    tag = "fhe",
    params(("Idempotency-Key" = Option<String>, Header, description = "a retried submit with the same key returns the same task")),
    request_body = FheSubmitBody,
    responses(
        (status = 202, description = "accepted (stored durably)", body = FheTask),
        (status = 200, description = "replayed (same Idempotency-Key)", body = FheTask),
        (status = 400, description = "malformed: see code (invalid_proof for an input whose proof fails)", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "unknown_program", body = ErrorBody),
        (status = 413, description = "larger than the node's task limit", body = ErrorBody),
        (status = 503, description = "fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_submit(
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
    if let Some(url) = &body.webhook {
        fornax_node::webhooks::check_url(url, app.config.allow_private_webhooks)
            .map_err(|e| ApiError::bad("invalid_webhook", e))?;
    }
    let (task, created) = blocking(move || {
        Ok(fhe.submit(&owner, &body.program, inputs, key.as_deref(), body.webhook)?)
    })
    .await?;
    let status = if created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(task)).into_response())
}

/// An FHE task, with its outputs once done.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct FheTaskBody {
    #[serde(flatten)]
    task: FheTask,
    /// When done: each output, base64 of a tfhe-rs `SquashedNoiseFheUint` (safe
    /// serialization).
    #[serde(skip_serializing_if = "Option::is_none")]
    outputs: Option<Vec<String>>,
}

/// An FHE task of the caller's; when done, its digest and output ciphertexts.
#[utoipa::path(
    get,
    path = "/v1/fhe/tasks/{id}",
    tag = "fhe",
    params(("id" = String, Path, description = "the task's id")),
    responses(
        (status = 200, description = "the task", body = FheTaskBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
        (status = 503, description = "fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_get_task(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let fhe = app.fhe()?;
    let body = blocking(move || {
        let task = fhe.owned_task(&owner, &id)?;
        let outputs = fhe.outputs(&id)?.map(|outputs| {
            outputs
                .iter()
                .map(|o| base64::engine::general_purpose::STANDARD.encode(o))
                .collect()
        });
        Ok(FheTaskBody { task, outputs })
    })
    .await?;
    Ok(Json(body).into_response())
}

/// The body of `POST /v1/fhe/tasks/{id}/decrypt` (optional).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FheDecryptBody {
    /// The outputs to decrypt, by index [default: all].
    outputs: Option<Vec<usize>>,
}

/// A task's decrypted outputs.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Decryption {
    /// The task's id.
    task: String,
    /// Each output asked for.
    outputs: Vec<DecryptedOutput>,
}

/// Threshold-decrypts the task's outputs for its owner: every key holder is asked over
/// mutual TLS; a value is output only when t + k answers agree (t = k − 1 by default), and
/// the answers that disagree with it are named; otherwise 503, naming nobody.
#[utoipa::path(
    post,
    path = "/v1/fhe/tasks/{id}/decrypt",
    tag = "fhe",
    params(("id" = String, Path, description = "the task's id")),
    request_body(content = Option<FheDecryptBody>, description = "which outputs (optional: all)"),
    responses(
        (status = 200, description = "the plaintexts", body = Decryption),
        (status = 400, description = "invalid_json, or invalid_output", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "task_not_found", body = ErrorBody),
        (status = 409, description = "invalid_state: the task is not done", body = ErrorBody),
        (status = 503, description = "keyholders_unavailable, or fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_decrypt(
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
    Ok(Json(Decryption {
        task: task.id,
        outputs,
    })
    .into_response())
}

/// The node's FHE key set, as the caller sees it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct FheKeyInfo {
    /// The key set's id.
    key_id: String,
    /// n: the key holders.
    parties: usize,
    /// k: how many of them together decrypt.
    threshold: usize,
    /// The name the caller's inputs must be proven for (`fornax fhe encrypt --tenant`).
    tenant: String,
    /// What the key holders allow the key set in its life: distance_log2_per_block,
    /// lifetime_distance_log2, blocks (each key holder reports what it has spent at its
    /// own `/v1/keyholder`).
    #[schema(value_type = Object)]
    decryption_budget: serde_json::Value,
}

/// The node's FHE key set: its id, parties and threshold, the caller's tenant, and the
/// decryption budget.
#[utoipa::path(
    get,
    path = "/v1/fhe/key",
    tag = "fhe",
    responses(
        (status = 200, description = "the key set", body = FheKeyInfo),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 503, description = "fhe_disabled", body = ErrorBody),
    )
)]
pub(crate) async fn fhe_key(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let owner = app.owner(&headers)?;
    let fhe = app.fhe()?;
    let (parties, threshold) = fhe.threshold();
    // `tenant`: the name this caller's inputs must be proven for (`fornax fhe encrypt
    // --tenant`). `decryption_budget`: what the key holders allow the key set in its life
    // (each key holder reports what it has spent at its own `/v1/keyholder`).
    let decryption_budget =
        serde_json::to_value(fhe.params().decryption_budget()).map_err(ApiError::internal)?;
    Ok(Json(FheKeyInfo {
        key_id: fhe.key_id(),
        parties,
        threshold,
        tenant: owner,
        decryption_budget,
    })
    .into_response())
}
