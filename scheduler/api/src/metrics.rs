//! `/readyz` and `/metrics` (Prometheus text): the node's readiness and counters.

use super::*;

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

pub(crate) async fn metrics(AxState(app): AxState<AppState>, headers: HeaderMap) -> Response {
    use std::fmt::Write;
    if let Err(e) = app.authorize_metrics(&headers) {
        return e.into_response();
    }
    let m = &app.scheduler.metrics;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
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
        let _ = writeln!(out, "# HELP fornax_remote_outcomes_total Outcomes from workers: applied, ignored (duplicate or late), or refused (a proof that does not verify).\n# TYPE fornax_remote_outcomes_total counter");
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
        let _ = writeln!(
            out,
            "fornax_remote_outcomes_total{{result=\"refused\"}} {}",
            load(&r.refused)
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
    let m = &app.scheduler.metrics;
    let _ = writeln!(out, "# HELP fornax_fhe_tasks_total FHE tasks evaluated, and their evaluation time.\n# TYPE fornax_fhe_tasks_total counter");
    let _ = writeln!(out, "fornax_fhe_tasks_total {}", load(&m.fhe_tasks));
    let _ = writeln!(
        out,
        "fornax_fhe_eval_seconds_total {:.6}",
        load(&m.fhe_eval_us) as f64 / 1e6
    );
    if let Some(fhe) = &app.fhe {
        let _ = writeln!(out, "# HELP fornax_fhe_decryptions_total FHE outputs decrypted, per tenant.\n# TYPE fornax_fhe_decryptions_total counter");
        for (tenant, n) in fhe.decryptions() {
            // Tenants are API key names, which the operator chose: still, only safe labels.
            if tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
            {
                let _ = writeln!(
                    out,
                    "fornax_fhe_decryptions_total{{tenant=\"{tenant}\"}} {n}"
                );
            }
        }
    }
    ([("content-type", "text/plain; version=0.0.4")], out).into_response()
}
