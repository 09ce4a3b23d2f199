//! `/v1/circuits`: register a circuit (its key and witness generator, content-addressed)
//! and read the registered ones.

use super::*;
use crate::openapi::ErrorBody;
use fornax_node::store::CircuitMeta;

/// The multipart form of `POST /v1/circuits` (described only: the handler streams it).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct CircuitUpload {
    /// The proving key, as snarkjs writes it (`.zkey`).
    #[schema(value_type = String, format = Binary)]
    zkey: Vec<u8>,
    /// circom's witness generator (`circuit.wasm`), for tasks given JSON input.
    #[schema(value_type = Option<String>, format = Binary)]
    wasm: Option<Vec<u8>>,
}

/// The registered circuits.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct CircuitList {
    /// In registration order.
    circuits: Vec<CircuitMeta>,
}

/// Registers a circuit. Idempotent: a circuit's id is the hash of its files.
#[utoipa::path(
    post,
    path = "/v1/circuits",
    tag = "circuits",
    request_body(content = CircuitUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "registered", body = CircuitMeta),
        (status = 200, description = "known already", body = CircuitMeta),
        (status = 400, description = "not a zkey or witness generator: see code", body = ErrorBody),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 413, description = "larger than the node's upload limit", body = ErrorBody),
        (status = 429, description = "rate limited", body = ErrorBody),
    )
)]
pub(crate) async fn register_circuit(
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
    // Each part streams to a file in the artifact folder, hashed as it arrives: an upload of
    // hundreds of MiB is never held in memory.
    let (mut zkey, mut wasm) = (None, None);
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(body_error(e.status(), e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        let slot = match name.as_str() {
            "zkey" => &mut zkey,
            "wasm" => &mut wasm,
            other => {
                return Err(ApiError::bad(
                    "invalid_body",
                    format!("unexpected field `{other}` (expected zkey, wasm)"),
                ))
            }
        };
        let mut upload = app.store().upload()?;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| body_error(e.status(), e.body_text()))?
        {
            upload.write(&chunk)?;
        }
        *slot = Some(upload);
    }
    let zkey = zkey
        .ok_or_else(|| ApiError::bad("invalid_body", "the multipart body has no `zkey` field"))?;
    let store = Arc::clone(app.store());
    let limits = app.config.witness_limits;
    let (meta, created) = blocking(move || {
        let pk = ProvingKey::from_file("zkey", zkey.file())
            .map_err(|e| ApiError::bad("invalid_zkey", e.to_string()))?;
        let n_wires = pk.n_vars;
        if let Some(upload) = &wasm {
            let bytes = std::fs::read(upload.path()).map_err(ApiError::internal)?;
            let calc = WitnessCalculator::from_bytes_with("wasm", &bytes, limits)
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
        let id = fornax_node::store::circuit_id_of_digests(
            zkey.sha256(),
            wasm.as_ref().map(|w| w.sha256()),
        );
        if let Some(meta) = store.circuit(&id)? {
            return Ok((meta, false));
        }
        let has_wasm = wasm.is_some();
        store.put_upload(&format!("{id}.zkey"), zkey)?;
        if let Some(w) = wasm {
            store.put_upload(&format!("{id}.wasm"), w)?;
        }
        let meta = CircuitMeta {
            id,
            n_public: pk.n_public,
            n_wires,
            domain_size: pk.domain_size,
            has_wasm,
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

/// The registered circuits.
#[utoipa::path(
    get,
    path = "/v1/circuits",
    tag = "circuits",
    responses(
        (status = 200, description = "every registered circuit", body = CircuitList),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
    )
)]
pub(crate) async fn list_circuits(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.owner(&headers)?;
    let store = Arc::clone(app.store());
    let circuits = blocking(move || Ok(store.circuits()?)).await?;
    Ok(Json(CircuitList { circuits }).into_response())
}

/// A registered circuit.
#[utoipa::path(
    get,
    path = "/v1/circuits/{id}",
    tag = "circuits",
    params(("id" = String, Path, description = "the circuit's id")),
    responses(
        (status = 200, description = "the circuit", body = CircuitMeta),
        (status = 401, description = "no or unknown API key", body = ErrorBody),
        (status = 404, description = "unknown_circuit", body = ErrorBody),
    )
)]
pub(crate) async fn get_circuit(
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
