//! The OpenAPI 3.1 document, generated from the code: each handler's `#[utoipa::path]`
//! (method, path, parameters, body, responses) and the derives of the types it reads and
//! writes, whose doc comments become the descriptions. The router registers every handler
//! through `utoipa_axum::routes!`, so a routed handler is a described one; `/openapi.json`
//! serves the result and `/docs` shows it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error `code` the node's API answers with (the `code` of [`ErrorBody`]).
pub const ERROR_CODES: &[&str] = &[
    "invalid_json",
    "invalid_body",
    "invalid_input",
    "invalid_witness",
    "invalid_deadline",
    "invalid_idempotency_key",
    "invalid_webhook",
    "invalid_query",
    "invalid_zkey",
    "invalid_wasm",
    "circuit_mismatch",
    "unknown_circuit",
    "task_not_found",
    "invalid_state",
    "chain_task",
    "proof_not_ready",
    "payload_too_large",
    "unauthorized",
    "rate_limited",
    "not_found",
    "not_ready",
    "invalid_program",
    "unknown_program",
    "invalid_inputs",
    "invalid_ciphertext",
    "invalid_output",
    "keyholders_unavailable",
    "fhe_disabled",
    "program_too_costly",
    "invalid_result",
    "invalid_proof",
    "internal",
];

/// An error: a stable `code` (one of the listed values) and a human `message`. A client's
/// mistake is a 4xx, never a 500.
#[derive(serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable and machine-readable.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

/// The document's frame: title, description, shared schemas, the bearer scheme, and the
/// paths the router does not serve itself (`/docs`, served by Swagger UI's router).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Fornax node API",
        version = "1",
        description = "Proving and FHE tasks over HTTP. A task's states: submitted -> scheduled -> proving -> proved, or failed {code, message}, cancelled, expired (final states); a chain task goes on from proved to posting and settled. Every transition is persisted before it is visible. Errors are JSON {code, message} with a stable code. With API keys configured, every /v1 call needs Authorization: Bearer <key>, and each key has a request rate limit (429 rate_limited); a caller sees only its own tasks."
    ),
    paths(docs_page),
    components(schemas(ErrorBody))
)]
pub(crate) struct ApiDoc;

/// `GET /docs`: described here, served by `swagger-ui-dist`'s router.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "meta",
    summary = "Swagger UI over /openapi.json, served by the node (no network needed)",
    security(()),
    responses((status = 200, description = "the page", content_type = "text/html", body = String))
)]
#[allow(dead_code)]
fn docs_page() {}

/// Adds the bearer scheme (required everywhere but where a path says `security(())`) and
/// the list of error codes to [`ErrorBody`]'s `code`: applied to the whole document, once
/// every route has added its schemas.
pub(crate) struct Frame;

impl Modify for Frame {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        if let Some(RefOr::T(Schema::Object(error))) = components.schemas.get_mut("ErrorBody") {
            if let Some(RefOr::T(Schema::Object(code))) = error.properties.get_mut("code") {
                code.enum_values = Some(ERROR_CODES.iter().map(|c| (*c).into()).collect());
            }
        }
        doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literal in the arguments of each call to `call` in `source`, up to the
    /// call's first `)`.
    fn literals_after<'a>(source: &'a str, call: &str) -> Vec<&'a str> {
        source
            .match_indices(call)
            .filter_map(|(at, _)| {
                let args = &source[at + call.len()..];
                let args = &args[..args.find(')')?];
                let start = args.find('"')? + 1;
                Some(&args[start..start + args[start..].find('"')?])
            })
            .collect()
    }

    /// Every code the API's sources (and the FHE service's errors, which it passes on)
    /// answer with is listed in [`ERROR_CODES`], so the document names it.
    #[test]
    fn every_error_code_in_the_source_is_documented() {
        let sources = [
            include_str!("lib.rs"),
            include_str!("circuits.rs"),
            include_str!("tasks.rs"),
            include_str!("events.rs"),
            include_str!("fhe.rs"),
            include_str!("metrics.rs"),
            include_str!("../../node/src/fhe.rs"),
        ];
        let mut found = std::collections::BTreeSet::new();
        for source in sources {
            let source = source.split("#[cfg(test)]").next().unwrap();
            // FheError::code's own codes: the literals of its match.
            if let Some(at) = source.find("pub fn code(&self)") {
                let body = &source[at..];
                let body = &body[..body.find("\n    }\n").unwrap()];
                found.extend(
                    body.split("=> \"")
                        .skip(1)
                        .filter_map(|r| r.split('"').next()),
                );
            }
            for call in [
                "ApiError::new(",
                "ApiError::bad(",
                "FheError::invalid(",
                "code: \"",
            ] {
                let hits = if call.ends_with('"') {
                    source
                        .match_indices(call)
                        .filter_map(|(at, _)| {
                            let rest = &source[at + call.len()..];
                            Some(&rest[..rest.find('"')?])
                        })
                        .collect()
                } else {
                    literals_after(source, call)
                };
                found.extend(hits.into_iter().filter(|c| {
                    !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                }));
            }
        }
        assert!(found.len() >= 20, "{found:?}");
        let missing: Vec<_> = found.iter().filter(|c| !ERROR_CODES.contains(c)).collect();
        assert!(
            missing.is_empty(),
            "codes missing from ERROR_CODES: {missing:?}"
        );
    }

    /// Every handler is registered through `routes!`, so none is routed undescribed: the
    /// router's source has no plain `.route(`.
    #[test]
    fn no_route_bypasses_the_document() {
        let source = include_str!("lib.rs");
        let source = source.split("#[cfg(test)]").next().unwrap();
        assert!(source.contains(".routes(routes!("));
        assert!(
            !source.contains(".route(") && !source.contains(".route_service("),
            "a route registered without its description"
        );
    }

    /// The document lists the error codes and the bearer scheme, and every path has at
    /// least one response.
    #[test]
    fn the_document_has_its_frame() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        let codes = &doc["components"]["schemas"]["ErrorBody"]["properties"]["code"]["enum"];
        assert_eq!(codes.as_array().unwrap().len(), ERROR_CODES.len(), "{doc}");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() > 18, "{paths:?}");
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                assert!(
                    !op["responses"].as_object().unwrap().is_empty(),
                    "{method} {path} has no responses"
                );
            }
        }
    }
}
