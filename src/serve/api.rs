//! The JSON API under `/api/v1` (Bearer token or session): list, show, trigger, cancel and
//! retry pipelines; jobs and their logs and artifacts. Errors are `{"error": reason}` with the
//! right status; statuses are GitLab's words.

use super::App;
use super::db::{Filter, JobRow, NewPipeline, PipelineRow, TERMINAL};
pub use super::error::{ApiError, id};
use super::queue::Cancel;
use super::webhooks::valid_ref;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Pipeline `pid`, or 404.
pub(super) fn pipeline_row(app: &App, pid: i64) -> Result<PipelineRow, ApiError> {
    app.db
        .pipeline(pid)?
        .ok_or_else(|| ApiError::not_found("no such pipeline"))
}

/// Job `jid`, or 404.
fn job_row(app: &App, jid: i64) -> Result<JobRow, ApiError> {
    app.db
        .job(jid)?
        .ok_or_else(|| ApiError::not_found("no such job"))
}

/// Query of `GET /pipelines`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    repository: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    status: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// GitLab's pipeline and job statuses.
pub const STATUSES: &[&str] = &[
    "created", "pending", "running", "success", "failed", "canceled", "skipped", "manual",
];

/// `GET /api/v1/pipelines`: newest first, filtered, paginated.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad(format!(
            "unknown status `{s}` (one of: {})",
            STATUSES.join(", ")
        )));
    }
    let per_page = q.per_page.unwrap_or(20).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let (rows, total) = app.db.pipelines(&Filter {
        repository: q.repository,
        git_ref: q.git_ref,
        status: q.status,
        limit: per_page,
        offset: (page - 1) * per_page,
    })?;
    Ok(Json(json!({
        "pipelines": rows.iter().map(|r| super::trust::json(&app, r)).collect::<Vec<_>>(),
        "page": page,
        "per_page": per_page,
        "total": total,
    })))
}

/// `GET /api/v1/pipelines/{id}`: with its jobs and status transitions.
pub async fn show(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pid = id(&raw)?;
    let row = pipeline_row(&app, pid)?;
    let jobs = app.db.jobs(pid)?;
    let transitions: Vec<Value> = app
        .db
        .transitions(pid)?
        .into_iter()
        .map(|(job, status, at)| json!({"job_id": job, "status": status, "at": super::db::rfc3339(at)}))
        .collect();
    let mut v = super::trust::json(&app, &row);
    v["jobs"] = jobs.iter().map(|j| j.json()).collect();
    v["transitions"] = transitions.into();
    Ok(Json(v))
}

/// Body of `POST /api/v1/pipelines`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    repository: String,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    variables: Variables,
    /// `api` (default), `web` (a person pressed "run") or `trigger` (a trigger token).
    #[serde(default)]
    source: Option<String>,
}

/// `{"K": "V"}` or GitLab's `[{"key": "K", "value": "V"}]`.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Variables {
    #[default]
    None,
    Map(std::collections::BTreeMap<String, String>),
    List(Vec<KeyValue>),
}

#[derive(Debug, Deserialize)]
struct KeyValue {
    key: String,
    value: String,
}

/// `POST /api/v1/pipelines`: a pipeline for a ref (source `api`).
pub async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let b: TriggerBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("invalid body: {e}")))?;
    let repo = served(&app, &b.repository)?;
    let git_ref = b
        .git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| b.git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(&b.git_ref)
        .to_string();
    if !valid_ref(&git_ref) {
        return Err(ApiError::bad(format!("`{}` is not a valid ref", b.git_ref)));
    }
    let source = b.source.unwrap_or_else(|| "api".into());
    if !["api", "web", "trigger"].contains(&source.as_str()) {
        return Err(ApiError::bad(format!(
            "source `{source}`: expected api, web or trigger"
        )));
    }
    let variables: Vec<(String, String)> = match b.variables {
        Variables::None => Vec::new(),
        Variables::Map(m) => m.into_iter().collect(),
        Variables::List(l) => l.into_iter().map(|kv| (kv.key, kv.value)).collect(),
    };
    if let Some((k, _)) = variables
        .iter()
        .find(|(k, _)| !crate::model::variables::valid_name(k))
    {
        return Err(ApiError::bad(format!("`{k}` is not a valid variable name")));
    }
    let (sha, kind) = resolve(&app, repo, &git_ref).await?;
    let row = app.enqueue(NewPipeline {
        repository: b.repository,
        git_ref,
        kind: kind.into(),
        sha,
        before_sha: None,
        source,
        target_branch: None,
        variables,
        only_job: None,
        retried_from: None,
    })?;
    Ok((StatusCode::CREATED, Json(row.json())).into_response())
}

/// The configured repository called `name`, else 404.
pub(super) fn served(app: &App, name: &str) -> Result<super::config::RepoConfig, ApiError> {
    app.config
        .repo(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("repository `{name}` is not served here")))
}

/// The commit and kind (`branch`, `tag`) of `git_ref` in `repo` (a URL repository is fetched
/// first), else 400 with the reason.
pub(super) async fn resolve(
    app: &App,
    repo: super::config::RepoConfig,
    git_ref: &str,
) -> Result<(String, &'static str), ApiError> {
    let (data, r) = (app.config.data_dir.clone(), git_ref.to_string());
    tokio::task::spawn_blocking(move || super::checkout::resolve(&data, &repo, &r))
        .await
        .map_err(|e| ApiError::bad(e.to_string()))?
        .map_err(|e| ApiError::bad(e.to_string()))
}

/// `POST /api/v1/pipelines/{id}/cancel`.
pub async fn cancel(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pid = id(&raw)?;
    let row = pipeline_row(&app, pid)?;
    if TERMINAL.contains(&row.status.as_str()) {
        return Err(ApiError::conflict(format!(
            "pipeline is already {}",
            row.status
        )));
    }
    match app.queue.cancel(pid, "canceled by a user") {
        Cancel::Dequeued => app.finish_unstarted(pid, "canceled by a user"),
        Cancel::Interrupted(n) => {
            tracing::info!(pipeline = pid, round = n, "cancel requested");
        }
        Cancel::NotActive => app.finish_unstarted(pid, "canceled by a user"),
    }
    let row = pipeline_row(&app, pid)?;
    Ok(Json(row.json()))
}

/// `POST /api/v1/pipelines/{id}/retry`: a new pipeline for the same commit, ref, source and
/// variables.
pub async fn retry(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let pid = id(&raw)?;
    let row = pipeline_row(&app, pid)?;
    if app.config.repo(&row.new.repository).is_none() {
        return Err(ApiError::not_found("its repository is no longer served"));
    }
    let mut new = row.new.clone();
    new.retried_from = Some(pid);
    new.only_job = None;
    let created = app.enqueue(new)?;
    Ok((StatusCode::CREATED, Json(created.json())).into_response())
}

/// `GET /api/v1/jobs/{id}`.
pub async fn job(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let jid = id(&raw)?;
    let j = job_row(&app, jid)?;
    let mut v = j.json();
    v["artifacts"] = app
        .db
        .artifacts(jid)?
        .into_iter()
        .map(|(path, size)| json!({"path": path, "size": size}))
        .collect();
    Ok(Json(v))
}

/// `POST /api/v1/jobs/{id}/retry`: retries a finished job inside its pipeline, as GitLab does.
/// The pipeline is queued again; its run adds a new row for the job (and for the jobs that
/// wait for it) and marks the old rows retried. Answers the pipeline.
pub async fn retry_job(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let jid = id(&raw)?;
    let j = job_row(&app, jid)?;
    if j.retried {
        return Err(ApiError::conflict("this attempt was already retried"));
    }
    if !TERMINAL.contains(&j.job.status.as_str()) && j.job.status != "manual" {
        return Err(ApiError::conflict(format!(
            "job is {}: only a finished job can be retried",
            j.job.status
        )));
    }
    let row = pipeline_row(&app, j.pipeline_id)?;
    if app.config.repo(&row.new.repository).is_none() {
        return Err(ApiError::not_found("its repository is no longer served"));
    }
    if *app.shutdown.borrow() || app.queue.depth() >= app.config.queue_limit {
        return Err(ApiError::unavailable(
            "the server is shutting down or its queue is full",
        ));
    }
    if !app.db.retry_in_place(row.id, &j.job.name)? {
        return Err(ApiError::conflict(format!(
            "pipeline is {}: retry its jobs once it has finished",
            row.status
        )));
    }
    let row = pipeline_row(&app, row.id)?;
    app.queue.push(&row);
    app.publish_pipeline(&row);
    Ok((StatusCode::CREATED, Json(row.json())).into_response())
}

/// Query of `GET /jobs/{id}/log`.
#[derive(Debug, Deserialize)]
pub struct LogQuery {
    offset: Option<u64>,
}

/// `GET /api/v1/jobs/{id}/log?offset=N`: plain text from byte N; `X-Log-Size` is the size so
/// far, `X-Job-Status` the job's status.
pub async fn log(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let jid = id(&raw)?;
    let j = job_row(&app, jid)?;
    let offset = q.offset.unwrap_or(0);
    let text = app.logs.read(&app.db, jid, offset)?;
    let size = offset + text.len() as u64;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::HeaderName::from_static("x-log-size"),
                size.to_string(),
            ),
            (
                header::HeaderName::from_static("x-job-status"),
                j.job.status.clone(),
            ),
        ],
        text,
    )
        .into_response())
}

/// `GET /api/v1/jobs/{id}/artifacts/{*path}`: one artifact file. The path must name a
/// recorded artifact (no `..`, no absolute path) and still resolve inside the job's store.
pub async fn artifact(
    State(app): State<Arc<App>>,
    Path((raw, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let jid = id(&raw)?;
    let rel = std::path::Path::new(&path);
    let plain = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if path.is_empty() || !plain {
        return Err(ApiError::bad(
            "artifact path must be relative, without `..`",
        ));
    }
    let j = job_row(&app, jid)?;
    if !app.db.artifacts(jid)?.iter().any(|(p, _)| *p == path) {
        return Err(ApiError::not_found("no such artifact"));
    }
    let row = pipeline_row(&app, j.pipeline_id)?;
    let store = app
        .state_of(&row.new.repository)
        .run(row.id as u64)
        .artifacts()
        .join(crate::plan::slug::slug(&j.job.name));
    let (Ok(root), Ok(file)) = (store.canonicalize(), store.join(rel).canonicalize()) else {
        return Err(ApiError::not_found("artifact file is gone"));
    };
    if !file.starts_with(&root) {
        return Err(ApiError::bad("artifact path leaves the job's artifacts"));
    }
    let bytes = tokio::fs::read(&file)
        .await
        .map_err(|_| ApiError::not_found("artifact file is gone"))?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `GET /api/v1/repositories`: the repositories served.
pub async fn repositories(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({
        "repositories": app.config.repositories.iter().map(|r| json!({
            "name": r.name, "concurrency": r.concurrency, "watch": r.watch,
        })).collect::<Vec<_>>()
    }))
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}
