//! `/v1/events`: task changes and proof parts as server-sent events, per owner.

use super::*;

/// Query of `GET /v1/events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    /// Only this task's events.
    task: Option<String>,
}

/// Server-sent events: `task` events (the task record after each state change) and `job`
/// events (a job finished on a device), for the caller's tasks, or one task's with
/// `?task=ID`.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "tasks",
    params(EventsQuery),
    responses(
        (status = 200, description = "text/event-stream: `task` (the task after a state change) and `job` (a job finished: task, job, device, ms, done, total)", content_type = "text/event-stream", body = String),
        (status = 400, description = "invalid_query", body = crate::openapi::ErrorBody),
        (status = 401, description = "no or unknown API key", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn events(
    AxState(app): AxState<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
    let owner = app.owner(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
    let open = app.config.api_keys.is_empty();
    let rx = app.scheduler.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let (owner, task) = (owner.clone(), q.task.clone());
        async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if (!open && event.owner() != owner)
                            || task.as_deref().is_some_and(|t| t != event.task_id())
                        {
                            continue;
                        }
                        let kind = match &event {
                            fornax_node::scheduler::Event::Task { .. } => "task",
                            fornax_node::scheduler::Event::Job { .. } => "job",
                        };
                        let sse = SseEvent::default()
                            .event(kind)
                            .json_data(&event)
                            .expect("serialisable");
                        return Some((Ok::<_, std::convert::Infallible>(sse), rx));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
