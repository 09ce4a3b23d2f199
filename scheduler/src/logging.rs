//! Logs: every long-running command (`fornax node`, `fornax worker`, `fornax keyholder`)
//! logs through `tracing` to stderr, as text or as one JSON object a line
//! (`--log-format json`, or `FORNAX_LOG_FORMAT=json`), filtered by `RUST_LOG` (default
//! `info`, e.g. `RUST_LOG=fornax_node=debug,warn`). Events carry their fields (task, job,
//! worker, …) and the spans they happen in: a worker runs each job in a `job` span, so every
//! line about one job names it and its task.
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

/// Installs the process's log subscriber. Without `RUST_LOG` a service logs from `info` up
/// and any other command (a CLI call, a benchmark) only warnings and errors, so that it is
/// quiet when all is well.
pub fn init(format: LogFormat, service: bool) {
    // async-nats reports every (re)connection at info: the worker's own lines say more.
    let default = if service {
        "info,async_nats=warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    // Only a second call fails; the first subscriber stays.
    let _ = installed;
}
