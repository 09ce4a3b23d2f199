//! `/v1/events`: task changes and proof parts as server-sent events, per owner.

use super::*;

/// Query of `GET /v1/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    task: Option<String>,
}

/// Server-sent events: `task` events (the task record after each state change) and `job`
/// events (a job finished on a device), for the caller's tasks, or one task's with
/// `?task=ID`.
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
