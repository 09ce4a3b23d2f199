//! The key holder's HTTP API (`fornax keyholder --share FILE`): PartDec for one key share.
//!
//! `POST /v1/partdec` (body: a squashed ciphertext, tfhe-rs safe serialization; headers: the
//! node's signed request, see `fornax_node::keyholders`; answer: the partial decryption,
//! signed by this key holder) and `GET /v1/keyholder` (party, key id, public key), behind
//! `Authorization: Bearer <token>` when a token is set. The token only keeps strangers out:
//! what makes a key holder decrypt is a request signed by the node key pinned in its
//! configuration, for the digest of the ciphertext it comes with, recorded in its audit log
//! (a digest is answered for one task output only) within its per-tenant rate.

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
use fornax_node::keyholders::{self, Audit, AuditRefusal, PartDecRequest};

use crate::{body_error, ApiError};

/// What a key holder serves with.
pub struct KeyholderConfig {
    /// Its key share.
    pub holder: Arc<KeyHolder>,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The node's public key: only requests it signed are answered.
    pub node_key: ed25519_dalek::VerifyingKey,
    /// This key holder's identity: signs every answer.
    pub identity: ed25519_dalek::SigningKey,
    /// Its audit log.
    pub audit: Audit,
    /// Holds every answer back (fault-injection tests only).
    pub delay: Duration,
}

/// The key holder's router.
pub fn keyholder_router(config: KeyholderConfig) -> Router {
    let limit = fio::squashed_size_limit(fio::MAX_BLOCKS) as usize;
    Router::new()
        .route("/v1/partdec", post(partdec))
        .route("/v1/keyholder", get(keyholder_info))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        })
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Arc::new(config))
}

/// Checks the bearer token, in constant time in the token's length.
fn check_token(state: &KeyholderConfig, headers: &HeaderMap) -> Result<(), ApiError> {
    match &state.token {
        Some(expected) if !crate::bearer_is(headers, expected) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong bearer token",
        )),
        _ => Ok(()),
    }
}

fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "unauthorized_request", message)
}

/// The node's signed request in `headers`, checked: signed by the pinned node key, for this
/// key holder's party and key set, and recent.
fn authorized(state: &KeyholderConfig, headers: &HeaderMap) -> Result<PartDecRequest, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                forbidden(format!(
                    "no {name} header: only the node's signed requests are answered"
                ))
            })
    };
    let request = keyholders::verify_request(
        &state.node_key,
        header(keyholders::REQUEST_HEADER)?,
        header(keyholders::SIGNATURE_HEADER)?,
    )
    .map_err(forbidden)?;
    let share = state.holder.share();
    if request.party != share.party || request.key_id != hex::encode(share.key_id) {
        return Err(forbidden(format!(
            "the request is for party {} of key set {}",
            request.party, request.key_id
        )));
    }
    let now = fornax_node::task::now_ms();
    let window = keyholders::MAX_REQUEST_AGE.as_millis() as u64;
    if request.issued_ms + window < now || request.issued_ms > now + window {
        return Err(forbidden("the request is too old, or from the future"));
    }
    Ok(request)
}

async fn keyholder_info(
    AxState(state): AxState<Arc<KeyholderConfig>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let share = state.holder.share();
    let (used, budget) = state.audit.blocks_used();
    // The key set's budget, as this key holder enforces it (its operator may lower it).
    let mut decryption_budget = serde_json::json!(share.params.decryption_budget());
    decryption_budget["blocks"] = budget.into();
    decryption_budget["blocks_used"] = used.into();
    Ok(Json(serde_json::json!({
        "party": share.party,
        "key_id": hex::encode(share.key_id),
        "parties": share.params.parties,
        "threshold": share.params.threshold,
        "public_key": hex::encode(state.identity.verifying_key().to_bytes()),
        "decryption_budget": decryption_budget,
    }))
    .into_response())
}

async fn partdec(
    AxState(state): AxState<Arc<KeyholderConfig>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    check_token(&state, &headers)?;
    let request = authorized(&state, &headers)?;
    let body = body.map_err(|e| body_error(e.status(), e.body_text()))?;
    if !state.delay.is_zero() {
        tokio::time::sleep(state.delay).await;
    }
    let st = Arc::clone(&state);
    let answer = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let ct = fio::read_squashed(&body).map_err(|e| match e {
            fornax_fhe::Error::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "ciphertext over the size limit",
            ),
            e => ApiError::bad("invalid_ciphertext", e.to_string()),
        })?;
        let digest = hex::encode(fornax_fhe::threshold::ciphertext_digest(&ct));
        if digest != request.ciphertext {
            return Err(forbidden(
                "the ciphertext is not the one the node's request names",
            ));
        }
        let blocks = ct.packed_blocks().len() as u64;
        st.audit
            .admit(&request, blocks, fornax_node::task::now_ms())
            .map_err(|refusal| match refusal {
                AuditRefusal::Reused { first } => ApiError::new(
                    StatusCode::CONFLICT,
                    "digest_reused",
                    format!(
                        "this ciphertext was decrypted for output {} of task {}, and for no other",
                        first.1, first.0
                    ),
                ),
                AuditRefusal::RateLimited => ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!(
                        "tenant {}'s decryptions per minute are spent",
                        request.tenant
                    ),
                ),
                AuditRefusal::BudgetSpent { used, budget } => ApiError::new(
                    StatusCode::FORBIDDEN,
                    "decryption_budget_spent",
                    format!(
                        "the key set has decrypted {used} of the {budget} distinct blocks its \
                         flooding allows ({blocks} more asked): it must be retired (a new key set)"
                    ),
                ),
                AuditRefusal::Unrecorded(e) => ApiError::internal(format!("the audit log: {e}")),
            })?;
        let partial = st
            .holder
            .partial_decrypt(&ct)
            .map_err(|e| ApiError::bad("invalid_ciphertext", e.to_string()))?;
        Ok(keyholders::sign_answer(&st.identity, &partial))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(answer).into_response())
}
