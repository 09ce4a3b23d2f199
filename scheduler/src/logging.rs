//! Logs: every long-running command (`fornax node`, `fornax worker`, `fornax keyholder`)
//! logs through `tracing` to stderr, as text or as one JSON object a line
//! (`--log-format json`, or `FORNAX_LOG_FORMAT=json`), filtered by `RUST_LOG` (default
//! `info`, e.g. `RUST_LOG=fornax_node=debug,warn`). Events carry their fields (task, job,
//! worker, …) and the spans they happen in: a worker runs each job in a `job` span, so every
//! line about one job names it and its task.
//!
//! With `--otlp-endpoint URL` the same spans also go to an OpenTelemetry collector over
//! OTLP/HTTP (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or `http/json`),
//! one trace per task: the node's `task` span from submission to the final state, and under
//! it the `job` spans of every worker that ran one of its jobs ([`fornax_node::traces`]).
//!
//! Standard output stays for what a command answers (addresses, ids, tables), so scripts
//! can read it while the logs go elsewhere.

use std::io::IsTerminal;

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, `fields` (with `message`),
    /// `span` and `spans` (each with its fields).
    Json,
}

/// Exports spans while it lives; dropping it flushes what is left (the end of `main`).
pub struct Traces(Option<opentelemetry_sdk::trace::SdkTracerProvider>);

impl Drop for Traces {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// Installs the process's log subscriber. Without `RUST_LOG` a service logs from `info` up
/// and any other command (a CLI call, a benchmark) only warnings and errors, so that it is
/// quiet when all is well. With `otlp` (an OTLP/HTTP traces endpoint such as
/// `http://collector:4318/v1/traces`) every span (a worker's `job` spans with their task,
/// job and worker) is also exported, in batches, as OpenTelemetry spans of service `fornax`.
pub fn init(format: LogFormat, service: bool, otlp: Option<&str>) -> anyhow::Result<Traces> {
    use tracing_subscriber::prelude::*;
    // async-nats reports every (re)connection at info: the worker's own lines say more.
    let default = if service {
        "info,async_nats=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Text => lines
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .boxed(),
        LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    let provider = match otlp {
        Some(endpoint) => {
            use opentelemetry_otlp::WithExportConfig as _;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(endpoint)
                .build()
                .map_err(|e| anyhow::anyhow!("--otlp-endpoint {endpoint}: {e}"))?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("fornax")
                .build();
            Some(
                opentelemetry_sdk::trace::SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .with_id_generator(fornax_node::traces::TaskIdGenerator::default())
                    .build(),
            )
        }
        None => None,
    };
    let spans = provider.as_ref().map(|p| {
        use opentelemetry::trace::TracerProvider as _;
        // The node records each task's root span through the global provider.
        opentelemetry::global::set_tracer_provider(p.clone());
        tracing_opentelemetry::layer().with_tracer(p.tracer("fornax"))
    });
    // Only a second call fails; the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(lines)
        .with(spans)
        .with(filter)
        .try_init();
    Ok(Traces(provider))
}
