//! Live updates as Server-Sent Events: status changes of pipelines and jobs, and log lines
//! (each with its byte offset, so a viewer that read the stored log first skips what it has).

use super::App;
use super::error::{ApiError, id};
use axum::extract::{Path, Query, State};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::broadcast;

/// One live event.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A pipeline changed status.
    Pipeline {
        /// Pipeline id.
        id: i64,
        /// Repository.
        repository: String,
        /// Ref.
        #[serde(rename = "ref")]
        git_ref: String,
        /// New status.
        status: String,
    },
    /// A job changed status.
    Job {
        /// Job id.
        id: i64,
        /// Its pipeline.
        pipeline_id: i64,
        /// Name.
        name: String,
        /// New status.
        status: String,
    },
    /// Output of a job.
    Log {
        /// Job id.
        job_id: i64,
        /// Byte offset of `text` in the job's log.
        offset: u64,
        /// One line (with its newline).
        text: String,
    },
}

/// Filter of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
pub struct EventFilter {
    /// Only this pipeline (and its jobs).
    pub pipeline: Option<i64>,
}

type SseEvent = axum::response::sse::Event;

fn to_sse(e: &Event) -> SseEvent {
    let name = match e {
        Event::Pipeline { .. } => "pipeline",
        Event::Job { .. } => "job",
        Event::Log { .. } => "log",
    };
    SseEvent::default()
        .event(name)
        .data(serde_json::to_string(e).unwrap_or_default())
}

/// Forwards broadcast events passing `keep` until shutdown (or `until` says stop).
fn forward(
    app: &Arc<App>,
    rx: broadcast::Receiver<Event>,
    first: Vec<SseEvent>,
    keep: impl Fn(&Event) -> bool + Send + 'static,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let stop = app.shutdown.subscribe();
    let head = stream::iter(first.into_iter().map(Ok));
    let tail = stream::unfold((rx, stop, keep), |(mut rx, mut stop, keep)| async move {
        loop {
            if *stop.borrow() {
                return None;
            }
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(e) if keep(&e) => return Some((Ok(to_sse(&e)), (rx, stop, keep))),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        let warn = SseEvent::default().event("lagged").data(n.to_string());
                        return Some((Ok(warn), (rx, stop, keep)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = stop.changed() => return None,
            }
        }
    });
    futures_util::StreamExt::chain(head, tail)
}

/// `GET /api/v1/events[?pipeline=ID]`: pipeline and job status changes.
pub async fn events(State(app): State<Arc<App>>, Query(f): Query<EventFilter>) -> Response {
    let rx = app.events.subscribe();
    let s = forward(&app, rx, Vec::new(), move |e| match (e, f.pipeline) {
        (Event::Log { .. }, _) => false,
        (_, None) => true,
        (Event::Pipeline { id, .. }, Some(p)) => *id == p,
        (Event::Job { pipeline_id, .. }, Some(p)) => *pipeline_id == p,
    });
    Sse::new(s).keep_alive(KeepAlive::default()).into_response()
}

/// Offset of `GET /api/v1/jobs/{id}/log/stream`.
#[derive(Debug, Deserialize)]
pub struct Offset {
    /// Bytes the client already has.
    pub offset: Option<u64>,
}

/// `GET /api/v1/jobs/{id}/log/stream[?offset=N]`: the stored log from `offset` as one event,
/// then every new line (and status changes of the job).
pub async fn job_log(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    Query(o): Query<Offset>,
) -> Result<Response, ApiError> {
    let job = id(&raw)?;
    if app.db.job(job)?.is_none() {
        return Err(ApiError::not_found("no such job"));
    }
    // Subscribe before reading, so nothing between the read and the first event is lost.
    let rx = app.events.subscribe();
    let offset = o.offset.unwrap_or(0);
    let stored = app.logs.read(&app.db, job, offset)?;
    let known = offset + stored.len() as u64;
    let mut first = Vec::new();
    if !stored.is_empty() {
        first.push(to_sse(&Event::Log {
            job_id: job,
            offset,
            text: String::from_utf8_lossy(&stored).into_owned(),
        }));
    }
    let s = forward(&app, rx, first, move |e| match e {
        Event::Log { job_id, offset, .. } => *job_id == job && *offset >= known,
        Event::Job { id, .. } => *id == job,
        Event::Pipeline { .. } => false,
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::default()).into_response())
}
