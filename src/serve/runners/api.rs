//! The runners' HTTP surface: the operator's `POST`/`GET /api/v1/runners` (behind the API
//! token), and GitLab's runner API under `/api/v4` that runners speak (`runners/verify`,
//! long-polled `jobs/request`, `PUT jobs/:id`, `PATCH jobs/:id/trace`, artifacts up and down),
//! authenticated by the runner's token or the job's token.

use super::super::App;
use super::super::error::ApiError;
use super::{Appended, Standing, registry};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest artifact archive a runner may upload.
pub const ARTIFACT_LIMIT: usize = 256 * 1024 * 1024;

/// Longest a `jobs/request` is held when no job waits (GitLab Workhorse holds ~50 s); never
/// longer than the server's `runner_timeout`.
const LONG_POLL: Duration = Duration::from_secs(20);

/// `POST /api/v1/runners`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRunner {
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    run_untagged: Option<bool>,
}

/// `POST /api/v1/runners`: registers a runner; its token is in this answer only.
pub async fn create(
    State(app): State<Arc<App>>,
    Json(new): Json<NewRunner>,
) -> Result<Response, ApiError> {
    let tags: Vec<String> = new
        .tags
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    // GitLab: a runner without tags runs untagged jobs, else only when asked.
    let untagged = new.run_untagged.unwrap_or(tags.is_empty());
    let (runner, token) =
        registry::create(&app.db, &new.description, &tags, untagged).map_err(|e| match e {
            registry::RunnerError::Db(d) => ApiError::from(d),
            registry::RunnerError::Token(t) => ApiError::unavailable(t.to_string()),
        })?;
    tracing::info!(runner = runner.id, description = %runner.description, "runner registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": runner.id, "token": token, "description": runner.description, "tags": runner.tags, "run_untagged": runner.run_untagged})),
    )
        .into_response())
}

/// `GET /api/v1/runners`: every runner with its last contact (never a token).
pub async fn list(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"runners": registry::list(&app.db)?})))
}

/// A runner's request body: its token, and what GitLab Runner sends beside it.
#[derive(Deserialize)]
pub struct RunnerBody {
    #[serde(default)]
    token: String,
}

fn status(code: StatusCode) -> Response {
    code.into_response()
}

/// The runner whose token is `token`, else the status to answer.
fn runner_of(app: &App, token: &str) -> Result<registry::Runner, StatusCode> {
    if token.is_empty() {
        return Err(StatusCode::FORBIDDEN);
    }
    match registry::contact(&app.db, token) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(StatusCode::FORBIDDEN),
        Err(e) => {
            tracing::error!("{e}");
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// `POST /api/v4/runners/verify`: whether the token is a runner's.
pub async fn verify(State(app): State<Arc<App>>, Json(body): Json<RunnerBody>) -> Response {
    match runner_of(&app, &body.token) {
        Ok(r) => {
            Json(json!({"id": r.id, "token": body.token, "token_expires_at": null})).into_response()
        }
        Err(e) => status(e),
    }
}

/// The server's address as the runner reached it (clone URLs point there).
fn base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `POST /api/v4/jobs/request`: the oldest job this runner may run (201 with GitLab's
/// payload), or 204 after the long poll.
pub async fn request(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(body): Json<RunnerBody>,
) -> Response {
    let runner = match runner_of(&app, &body.token) {
        Ok(r) => r,
        Err(e) => return status(e),
    };
    let hold = LONG_POLL.min(Duration::from_secs(app.config.runner_timeout.max(1)));
    let until = Instant::now() + hold;
    let mut stop = app.shutdown.subscribe();
    loop {
        let queued = app.runners.queued();
        tokio::pin!(queued);
        queued.as_mut().enable();
        match app.runners.take(&runner) {
            Ok(Some((id, token, payload))) => {
                tracing::info!(job = id, runner = runner.id, "job handed to a runner");
                let payload = complete(&app, &headers, payload, &token);
                return (StatusCode::CREATED, Json(payload)).into_response();
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!("{e}");
                return status(StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        tokio::select! {
            _ = queued => {}
            _ = tokio::time::sleep_until(until.into()) => return status(StatusCode::NO_CONTENT),
            _ = stop.wait_for(|s| *s) => return status(StatusCode::NO_CONTENT),
        }
    }
}

/// Adds what only pickup knows to a job's payload: its token (in the body, the job's
/// variables and its dependencies, as GitLab sends them), the clone URL (without
/// credentials: the runner authenticates with the job token) and the dependencies' archives.
fn complete(app: &App, headers: &HeaderMap, mut payload: Value, token: &str) -> Value {
    let base = base(headers);
    payload["token"] = json!(token);
    let repo = payload
        .pointer("/git_info/repo_path")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let url = format!("{base}/git/{repo}.git");
    payload["git_info"]["repo_url"] = json!(url);
    if let Some(Value::Object(g)) = payload.get_mut("git_info") {
        g.remove("repo_path");
    }
    let pipeline = payload["pipeline_id"].as_i64().unwrap_or_default();
    if let Some(o) = payload.as_object_mut() {
        o.remove("pipeline_id");
    }
    if let Some(vars) = payload["variables"].as_array_mut() {
        for (key, value, masked) in [
            ("CI_JOB_TOKEN", token.to_string(), true),
            ("CI_REPOSITORY_URL", url.clone(), false),
            ("CI_SERVER_URL", base.clone(), false),
            ("CI_API_V4_URL", format!("{base}/api/v4"), false),
        ] {
            vars.retain(|v| v["key"] != key);
            vars.push(json!({"key": key, "value": value, "public": !masked, "file": false, "masked": masked, "raw": true}));
        }
    }
    let store = app.state_of(&repo).run(pipeline as u64).artifacts();
    if let Some(deps) = payload["dependencies"].as_array_mut() {
        for d in deps.iter_mut() {
            d["token"] = json!(token);
            let name = d["name"].as_str().unwrap_or_default();
            let dir = store.join(crate::plan::slug::slug(name));
            let files = crate::run::artifacts::list(&dir);
            if !files.is_empty() {
                let size: u64 = files
                    .iter()
                    .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
                    .map(|m| m.len())
                    .sum();
                d["artifacts_file"] = json!({"filename": "artifacts.zip", "size": size});
            }
        }
    }
    payload
}

/// `PUT /api/v4/jobs/:id`.
#[derive(Deserialize)]
pub struct Update {
    #[serde(default)]
    token: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    failure_reason: Option<String>,
}

fn job_status(code: StatusCode, status: &str) -> Response {
    if status.is_empty() {
        return code.into_response();
    }
    (code, [("Job-Status", status.to_string())]).into_response()
}

fn refused(s: &Standing) -> Response {
    job_status(StatusCode::FORBIDDEN, s.header())
}

/// The job token of a request: the `JOB-TOKEN` header, else `token` of its body.
fn job_token<'a>(headers: &'a HeaderMap, body: &'a str) -> &'a str {
    headers
        .get("job-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(body)
}

/// `PUT /api/v4/jobs/:id`: the runner's state (`running`, or the end with exit code and
/// failure reason); answers `Job-Status`.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Json(u): Json<Update>,
) -> Response {
    let token = job_token(&headers, &u.token);
    let end = match u.state.as_str() {
        "running" | "" => None,
        s => match super::executor::exit_of(s, u.exit_code, u.failure_reason.as_deref()) {
            Some(e) => Some(e),
            None => return status(StatusCode::BAD_REQUEST),
        },
    };
    match app.runners.update(id, token, end) {
        Ok(s) => job_status(StatusCode::OK, s),
        Err(s) => refused(&s),
    }
}

/// `PATCH /api/v4/jobs/:id/trace`: appends the body at `Content-Range`'s start; 416 with
/// `Range` when it leaves a gap or overlaps.
pub async fn trace(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = job_token(&headers, "");
    let start = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.trim().trim_start_matches("bytes ").split('-').next())
        .and_then(|s| s.trim().parse::<u64>().ok());
    let Some(start) = start else {
        return status(StatusCode::BAD_REQUEST);
    };
    match app.runners.trace(id, token, start, body.to_vec()) {
        Appended::Ok(size, standing) => (
            StatusCode::ACCEPTED,
            [
                ("Job-Status", standing.header().to_string()),
                ("Range", format!("0-{size}")),
                ("X-GitLab-Trace-Update-Interval", "3".to_string()),
            ],
        )
            .into_response(),
        Appended::Gap(size) => (
            StatusCode::RANGE_NOT_SATISFIABLE,
            [("Range", format!("0-{size}"))],
        )
            .into_response(),
        Appended::Refused(s) => refused(&s),
    }
}

/// The file part of a `multipart/form-data` body (field `file`).
fn multipart_file<'a>(content_type: &str, body: &'a [u8]) -> Option<&'a [u8]> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay.get(from..)?
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut at = find(body, delimiter.as_bytes(), 0)?;
    loop {
        let head_start = at + delimiter.len() + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let next = find(body, format!("\r\n{delimiter}").as_bytes(), head_end + 4)?;
        if head.contains("name=\"file\"") {
            return Some(&body[head_end + 4..next]);
        }
        at = next + 2;
    }
}

/// `POST /api/v4/jobs/:id/artifacts` (`JOB-TOKEN`): an `archive` zip is unpacked into the
/// job's workspace on the server, where `run` collects the job's artifacts when it ends.
pub async fn upload(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let held = app.runners.by_token(job_token(&headers, ""));
    let Some((job, _, _, workspace)) = held.filter(|j| j.0 == id) else {
        return status(StatusCode::FORBIDDEN);
    };
    // Reports (`junit`, `dotenv`, …) are not asked for in the payload: accepted, not kept.
    let kind = query
        .unwrap_or_default()
        .split('&')
        .find_map(|p| p.strip_prefix("artifact_type=").map(str::to_string));
    if kind.as_deref().is_some_and(|k| k != "archive") {
        tracing::info!(job, kind, "report artifacts ignored");
        return (StatusCode::CREATED, Json(json!({}))).into_response();
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(file) = multipart_file(content_type, &body) else {
        return status(StatusCode::BAD_REQUEST);
    };
    let staging = app
        .config
        .data_dir
        .join("tmp")
        .join(format!("artifacts-{job}"));
    let data = file.to_vec();
    let unpacked = tokio::task::spawn_blocking(move || {
        let _ = std::fs::remove_dir_all(&staging);
        let r = super::files::unzip(&data, &staging, &workspace);
        let _ = std::fs::remove_dir_all(&staging);
        r
    })
    .await;
    match unpacked {
        Ok(Ok(n)) => {
            tracing::info!(job, files = n, "artifacts uploaded");
            (StatusCode::CREATED, Json(json!({}))).into_response()
        }
        Ok(Err(e)) => {
            tracing::warn!(job, "artifact upload refused: {e}");
            status(StatusCode::BAD_REQUEST)
        }
        Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

/// `GET /api/v4/jobs/:id/artifacts` (`JOB-TOKEN` of a running job of the same pipeline): the
/// job's artifacts as a zip archive.
pub async fn download(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let token = job_token(&headers, "");
    let Some((_, pipeline, repository, _)) = app.runners.by_token(token) else {
        return status(StatusCode::FORBIDDEN);
    };
    let row = match app.db.job(id) {
        Ok(Some(r)) if r.pipeline_id == pipeline => r,
        Ok(_) => return status(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!("{e}");
            return status(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let dir = app
        .state_of(&repository)
        .run(pipeline as u64)
        .artifacts()
        .join(crate::plan::slug::slug(&row.job.name));
    match tokio::task::spawn_blocking(move || super::files::zip(&dir)).await {
        Ok(Ok(Some(bytes))) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"artifacts.zip\"".to_string(),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(Ok(None)) => status(StatusCode::NOT_FOUND),
        Ok(Err(e)) => {
            tracing::error!("packing artifacts of job {id}: {e}");
            status(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(_) => status(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

#[cfg(test)]
mod tests {
    use super::multipart_file;

    #[test]
    fn the_file_part_of_a_multipart_body_is_found() {
        let body = b"--XY\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nzz\r\n--XY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.zip\"\r\n\r\nPK\x03\x04data\r\n--XY--\r\n";
        assert_eq!(
            multipart_file("multipart/form-data; boundary=XY", body),
            Some(&b"PK\x03\x04data"[..])
        );
        assert_eq!(
            multipart_file("multipart/form-data; boundary=QQ", body),
            None
        );
    }
}
