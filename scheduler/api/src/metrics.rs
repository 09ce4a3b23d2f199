//! `/readyz` and `/metrics`: the node's readiness, and its counters, gauges and histograms
//! in the OpenMetrics text format (`prometheus-client`).

use super::*;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    security(()),
    responses((status = 200, description = "ok", content_type = "text/plain", body = String))
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the stored tasks are recovered.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "ready", content_type = "text/plain", body = String),
        (status = 503, description = "not_ready: recovering stored tasks", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn readyz(AxState(app): AxState<AppState>) -> Response {
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

/// The node's metrics (OpenMetrics text): tasks submitted and finished by state, queue
/// depth (by job kind too), workers, outcomes, histograms of job time by job and device,
/// the chain poster's nonce lag. Open unless the node has a metrics token
/// (`FORNAX_METRICS_TOKEN`); then `Authorization: Bearer <metrics token>`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "the metrics", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "unauthorized: the metrics token is missing or wrong", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn metrics(AxState(app): AxState<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = app.authorize_metrics(&headers) {
        return e.into_response();
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &registry(&app)) {
        return ApiError::internal(e).into_response();
    }
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A labelled counter family.
type Counters = Family<Vec<(String, String)>, Counter>;

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn seconds(micros: u64) -> Counter<f64, std::sync::atomic::AtomicU64> {
    let c = Counter::<f64, std::sync::atomic::AtomicU64>::default();
    c.inc_by(micros as f64 / 1e6);
    c
}

fn gauge(value: u64) -> Gauge {
    let g = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    g
}

fn labelled(values: impl IntoIterator<Item = (&'static str, String, u64)>) -> Counters {
    let family = Counters::default();
    for (label, value, n) in values {
        family
            .get_or_create(&vec![(label.to_string(), value)])
            .inc_by(n);
    }
    family
}

/// The node's metrics as of now: its counters read into a registry, its histograms shared.
/// Counter names gain `_total` as they are written (OpenMetrics).
fn registry(app: &AppState) -> Registry {
    let m = &app.scheduler.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut r = Registry::default();
    r.register(
        "fornax_tasks_submitted",
        "Tasks accepted",
        counter(load(&m.submitted)),
    );
    r.register(
        "fornax_tasks_finished",
        "Tasks that reached a final state",
        labelled(
            State::ALL
                .iter()
                .enumerate()
                .filter(|(_, s)| s.is_final())
                .map(|(i, s)| ("state", s.as_str().to_string(), load(&m.finished[i]))),
        ),
    );
    r.register(
        "fornax_queue_depth",
        "Tasks waiting in the node's fair queue to be sent to workers",
        gauge(app.scheduler.queue_depth() as u64),
    );
    r.register("fornax_proofs", "Proofs made", counter(load(&m.proofs)));
    r.register(
        "fornax_prove_seconds",
        "Time the proofs took",
        seconds(load(&m.prove_us)),
    );
    r.register(
        "fornax_job_seconds",
        "Job durations by job role and device",
        m.jobs.clone(),
    );
    if let Some(dispatcher) = app.scheduler.dispatcher() {
        let s = &dispatcher.stats;
        let queued = s.queue_depth_by_kind.lock().expect("depth lock").clone();
        for (name, help, value) in [
            (
                "fornax_remote_jobs_in_flight",
                "Jobs out to workers now",
                dispatcher.in_flight() as u64,
            ),
            (
                "fornax_remote_queue_messages",
                "Jobs in the queue (waiting or running), at the last look",
                queued.values().sum(),
            ),
            (
                "fornax_workers_live",
                "Workers heartbeating",
                load(&s.live_workers),
            ),
            (
                "fornax_workers_busy_slots",
                "Jobs running on the live workers",
                load(&s.busy_slots),
            ),
        ] {
            r.register(name, help, gauge(value));
        }
        for (name, help, value) in [
            (
                "fornax_remote_jobs_dispatched",
                "Jobs sent to the queue (requeues included)",
                load(&s.dispatched),
            ),
            (
                "fornax_remote_jobs_requeued",
                "Jobs put back because their worker was declared dead",
                load(&s.requeued),
            ),
            (
                "fornax_remote_retries",
                "Retryable failures reported by workers",
                load(&s.retried),
            ),
            (
                "fornax_workers_dead",
                "Workers declared dead",
                load(&s.dead_workers),
            ),
        ] {
            r.register(name, help, counter(value));
        }
        let by_kind = Family::<Vec<(String, String)>, Gauge>::default();
        for (kind, n) in &queued {
            by_kind
                .get_or_create(&vec![("kind".to_string(), kind.clone())])
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        r.register(
            "fornax_queue_jobs",
            "Jobs in the queue (waiting or running) by job kind, at the last look",
            by_kind,
        );
        r.register(
            "fornax_remote_outcomes",
            "Outcomes from workers: applied, ignored (duplicate or late), or refused (a proof that does not verify)",
            labelled([
                ("result", "applied".to_string(), load(&s.applied)),
                ("result", "ignored".to_string(), load(&s.ignored)),
                ("result", "refused".to_string(), load(&s.refused)),
            ]),
        );
        r.register(
            "fornax_remote_latency_seconds",
            "From dispatch to the proof applied",
            s.latency.clone(),
        );
    }
    if let Some(lag) = m.chain_nonce_lag.get() {
        r.register(
            "fornax_chain_nonce_lag",
            "The chain poster's transactions broadcast and not yet mined",
            gauge(load(lag)),
        );
    }
    r.register(
        "fornax_fhe_tasks",
        "FHE tasks evaluated",
        counter(load(&m.fhe_tasks)),
    );
    r.register(
        "fornax_fhe_eval_seconds",
        "Time the FHE evaluations took",
        seconds(load(&m.fhe_eval_us)),
    );
    if let Some(fhe) = &app.fhe {
        // Tenants are API key names, which the operator chose: still, only safe labels.
        let safe = |t: &str| {
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
        };
        r.register(
            "fornax_fhe_decryptions",
            "FHE outputs decrypted, per tenant",
            labelled(
                fhe.decryptions()
                    .into_iter()
                    .filter(|(t, _)| safe(t))
                    .map(|(t, n)| ("tenant", t, n)),
            ),
        );
        r.register(
            "fornax_keyholder_seconds",
            "Each key holder's answer time (mutual TLS, PartDec, signature), by party",
            fhe.keyholder_latency().clone(),
        );
    }
    r
}
