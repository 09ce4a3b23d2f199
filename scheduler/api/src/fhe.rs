//! `/v1/fhe`: encrypted computation: programs, tasks, threshold decryption, the key set.

use super::*;

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
    Ok((status, Json(serde_json::json!({ "id": id }))).into_response())
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FheSubmitBody {
    program: String,
    inputs: Vec<String>,
    /// Where to POST the task's state changes, as for proofs.
    #[serde(default)]
    webhook: Option<String>,
}

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

pub(crate) async fn fhe_get_task(
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
pub(crate) struct FheDecryptBody {
    outputs: Option<Vec<usize>>,
}

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
    Ok(Json(serde_json::json!({ "task": task.id, "outputs": outputs })).into_response())
}

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
    Ok(Json(serde_json::json!({
        "key_id": fhe.key_id(),
        "parties": parties,
        "threshold": threshold,
        "tenant": owner,
        "decryption_budget": fhe.params().decryption_budget(),
    }))
    .into_response())
}
