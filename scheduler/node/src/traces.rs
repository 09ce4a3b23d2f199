//! One trace per task. A task's trace id and the id of its root span are derived from the
//! task's id ([`task_ids`]), so the node and every worker that runs one of the task's jobs,
//! in any process, on any machine, and after any restart, put their spans in the same
//! trace without a context travelling in the queue's messages:
//!
//! - a worker makes each `job` span a child of its task's root span ([`join_task`]);
//! - the node records the root span, named `task`, from the task's creation to its final
//!   state, when it reaches that state ([`record_task`]).
//!
//! Without a tracer (no `--otlp-endpoint`) both do nothing. The binary installs the
//! exporter and [`TaskIdGenerator`], which gives a root span its derived ids.

use std::cell::Cell;
use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::task::{Task, TaskKind};

/// Task `id`'s trace id and the span id of its root span: a keyed BLAKE3 digest of the id
/// (never the invalid all-zero ids).
pub fn task_ids(id: &str) -> (TraceId, SpanId) {
    let digest = blake3::derive_key("fornax 2026-12 task trace", id.as_bytes());
    let mut trace: [u8; 16] = digest[..16].try_into().expect("16 bytes");
    let mut span: [u8; 8] = digest[16..24].try_into().expect("8 bytes");
    trace[15] |= (trace == [0; 16]) as u8;
    span[7] |= (span == [0; 8]) as u8;
    (TraceId::from_bytes(trace), SpanId::from_bytes(span))
}

/// The context of task `id`'s root span, as a remote parent.
fn task_context(id: &str) -> Context {
    let (trace, span) = task_ids(id);
    Context::new().with_remote_span_context(SpanContext::new(
        trace,
        span,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ))
}

/// Makes `span` (not yet entered) a child of task `task`'s root span. Without an
/// OpenTelemetry layer in the subscriber it does nothing.
pub fn join_task(span: &tracing::Span, task: &str) {
    let _ = span.set_parent(task_context(task));
}

thread_local! {
    /// The ids [`TaskIdGenerator`] hands out next on this thread, set by [`record_task`]
    /// around the start of a root span.
    static NEXT_ROOT: Cell<(Option<TraceId>, Option<SpanId>)> = const { Cell::new((None, None)) };
}

/// Random ids, except for a task's root span while [`record_task`] starts it: then its
/// derived ids ([`task_ids`]).
#[derive(Debug, Default)]
pub struct TaskIdGenerator(RandomIdGenerator);

impl IdGenerator for TaskIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        let (trace, span) = NEXT_ROOT.get();
        match trace {
            Some(id) => {
                NEXT_ROOT.set((None, span));
                id
            }
            None => self.0.new_trace_id(),
        }
    }

    fn new_span_id(&self) -> SpanId {
        let (trace, span) = NEXT_ROOT.get();
        match span {
            Some(id) => {
                NEXT_ROOT.set((trace, None));
                id
            }
            None => self.0.new_span_id(),
        }
    }
}

/// Records `task`'s root span, from its creation to its last change, with its id, kind,
/// circuit (or program) and state: call it once, when the task reaches its final state. The
/// spans of its jobs, exported by whichever workers ran them, hang under it.
pub fn record_task(task: &Task) {
    let tracer = opentelemetry::global::tracer("fornax");
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    let kind = match task.kind {
        TaskKind::Groth16 => "groth16",
        TaskKind::Fhe => "fhe",
    };
    let builder = tracer
        .span_builder("task")
        .with_kind(SpanKind::Server)
        .with_start_time(at(task.created_ms))
        .with_attributes([
            KeyValue::new("task", task.id.clone()),
            KeyValue::new("kind", kind),
            KeyValue::new("circuit", task.circuit.clone()),
            KeyValue::new("state", task.state.as_str()),
        ]);
    let (trace, span) = task_ids(&task.id);
    NEXT_ROOT.set((Some(trace), Some(span)));
    let mut root = builder.start_with_context(&tracer, &Context::new());
    NEXT_ROOT.set((None, None));
    use opentelemetry::trace::Span as _;
    if let Some(failure) = &task.failure {
        root.set_attribute(KeyValue::new("failure", failure.code.clone()));
    }
    root.end_with_timestamp(at(task.updated_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_fixed_by_the_task_and_differ_between_tasks() {
        let (t1, s1) = task_ids("task-a");
        assert_eq!(task_ids("task-a"), (t1, s1));
        let (t2, s2) = task_ids("task-b");
        assert_ne!(t1, t2);
        assert_ne!(s1, s2);
        assert_ne!(t1, TraceId::INVALID);
        assert_ne!(s1, SpanId::INVALID);
    }

    #[test]
    fn the_generator_hands_out_a_roots_ids_once_then_random_ones() {
        let g = TaskIdGenerator::default();
        let (trace, span) = task_ids("t");
        NEXT_ROOT.set((Some(trace), Some(span)));
        assert_eq!(g.new_span_id(), span);
        assert_eq!(g.new_trace_id(), trace);
        assert_ne!(g.new_span_id(), span);
        assert_ne!(g.new_trace_id(), trace);
    }
}
