//! The key holder's HTTP API (`fornax keyholder --share FILE`): PartDec for one key share.
//!
//! `POST /v1/partdec` (body: a squashed ciphertext, tfhe-rs safe serialization; answer: the
//! partial decryption as JSON) and `GET /v1/keyholder` (party and key id), behind
//! `Authorization: Bearer <token>` when a token is set.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fornax_fhe::{io as fio, KeyHolder};

use crate::{body_error, ApiError};

/// The key holder's state.
struct KeyholderState {
    holder: Arc<KeyHolder>,
    token: Option<String>,
    delay: Duration,
}

/// The key holder's router. `delay` holds every answer back (fault-injection tests only).
pub fn keyholder_router(holder: Arc<KeyHolder>, token: Option<String>, delay: Duration) -> Router {
    let limit = fio::squashed_size_limit(fio::MAX_BLOCKS) as usize;
    let state = Arc::new(KeyholderState {
        holder,
        token,
        delay,
    });
    Router::new()
        .route("/v1/partdec", post(partdec))
        .route("/v1/keyholder", get(keyholder_info))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Checks the bearer token, in constant time in the token's length.
fn check_token(state: &KeyholderState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.token else {
        return Ok(());
    };
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let equal = given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if equal {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        ))
    }
}

async fn keyholder_info(
    AxState(state): AxState<Arc<KeyholderState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let share = state.holder.share();
    Ok(Json(serde_json::json!({
        "party": share.party,
        "key_id": hex::encode(share.key_id),
        "parties": share.params.parties,
        "threshold": share.params.threshold,
    }))
    .into_response())
}

async fn partdec(
    AxState(state): AxState<Arc<KeyholderState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    let holder = Arc::clone(&state.holder);
    let answer = tokio::task::spawn_blocking(move || {
        let ct = fio::read_squashed(&body)?;
        holder.partial_decrypt(&ct)
    })
    .await
    .map_err(ApiError::internal)?;
    match answer {
        Ok(p) => Ok(Json(p).into_response()),
        Err(fornax_fhe::Error::TooLarge { .. }) => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "ciphertext over the size limit",
        )),
        Err(e) => Err(ApiError::bad("invalid_ciphertext", e.to_string())),
    }
}
