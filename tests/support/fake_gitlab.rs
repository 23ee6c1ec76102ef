//! A GitLab stand-in on loopback for `gantry runner`: the runner API as GitLab's
//! `lib/api/ci/runner.rb` answers it (verify, managers, jobs/request with long polling, job
//! updates with `Job-Status`, incremental traces with `Content-Range` and 416, artifacts up and
//! down with `JOB-TOKEN`) and a repository over git's dumb HTTP that asks for the job token.
//! It records what the runner sent so tests can check it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The runner authentication token the fake accepts.
pub const RUNNER_TOKEN: &str = "glrt-fake-runner-token-123";

/// What the fake knows about one job.
#[derive(Clone, Debug, Default)]
pub struct JobRecord {
    /// Its token.
    pub token: String,
    /// `pending`, `running`, `canceled`, `success`, `failed`.
    pub status: String,
    /// The trace as received.
    pub trace: Vec<u8>,
    /// How many trace patches arrived.
    pub patches: usize,
    /// Every `PUT /jobs/:id` body.
    pub updates: Vec<Value>,
    /// Uploaded artifacts: (query, file bytes).
    pub artifacts: Vec<(HashMap<String, String>, Vec<u8>)>,
    /// When it was handed out and when it ended.
    pub started: Option<Instant>,
    /// When the final update arrived.
    pub ended: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<u64>,
    payloads: HashMap<u64, Value>,
    jobs: HashMap<u64, JobRecord>,
    next_id: u64,
    verified: usize,
    unregistered: usize,
    bad_tokens: usize,
    git_authorized: usize,
    repo: Option<PathBuf>,
    last_updates: Vec<String>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake GitLab.
pub struct FakeGitlab {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Shared,
}

impl FakeGitlab {
    /// Starts one on a free loopback port.
    pub fn start() -> Self {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            next_id: 100,
            ..Inner::default()
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/api/v4/runners/verify", post(verify))
            .route(
                "/api/v4/runners/managers",
                axum::routing::delete(unregister),
            )
            .route("/api/v4/jobs/request", post(request))
            .route("/api/v4/jobs/{id}", put(update))
            .route("/api/v4/jobs/{id}/trace", axum::routing::patch(trace))
            .route("/api/v4/jobs/{id}/artifacts", post(upload).get(download))
            .route("/git/{*path}", get(git))
            .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
            .with_state(inner.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app).await.unwrap();
            });
        });
        FakeGitlab { url, inner }
    }

    /// Serves the bare repository `dir` at `URL/git/repo.git` (dumb HTTP, job token required).
    pub fn serve_repo(&self, dir: PathBuf) -> String {
        self.inner.lock().unwrap().repo = Some(dir);
        format!("{}/git/repo.git", self.url)
    }

    /// A job payload in GitLab's shape: `script` in a shell, no sources (`GIT_STRATEGY: none`).
    pub fn job(&self, name: &str, script: &[&str]) -> Value {
        json!({
            "id": 0,
            "token": "",
            "allow_git_fetch": false,
            "job_info": {"id": 0, "name": name, "stage": "test", "project_id": 7,
                         "project_name": "app", "time_in_queue_seconds": 0},
            "git_info": {"repo_url": format!("{}/git/repo.git", self.url), "ref": "master",
                         "sha": "", "before_sha": "", "ref_type": "branch",
                         "refspecs": ["+refs/heads/master:refs/remotes/origin/master"], "depth": 0},
            "runner_info": {"timeout": 3600, "runner_session_url": null},
            "variables": [
                {"key": "CI_JOB_NAME", "value": name, "public": true, "masked": false},
                {"key": "GIT_STRATEGY", "value": "none", "public": true, "masked": false},
            ],
            "steps": [
                {"name": "script", "script": script, "timeout": 3600, "when": "on_success",
                 "allow_failure": false},
            ],
            "image": null,
            "services": [],
            "artifacts": null,
            "cache": [],
            "credentials": [],
            "dependencies": [],
            "features": {"trace_sections": true, "failure_reasons": [
                "unknown_failure", "script_failure", "api_failure", "stuck_or_timeout_failure",
                "runner_system_failure", "missing_dependency_failure", "runner_unsupported",
                "job_execution_timeout"]},
        })
    }

    /// Queues `payload` with a new id and job token; returns the id.
    pub fn enqueue(&self, mut payload: Value) -> u64 {
        let mut i = self.inner.lock().unwrap();
        i.next_id += 1;
        let id = i.next_id;
        let token = format!("glcbt-job-token-{id}-secret");
        payload["id"] = json!(id);
        payload["job_info"]["id"] = json!(id);
        payload["token"] = json!(token);
        // GitLab puts the job token in the clone URL and hands the running job's token
        // for its dependencies' downloads.
        let host = self.url.trim_start_matches("http://");
        payload["git_info"]["repo_url"] = json!(format!(
            "http://gitlab-ci-token:{token}@{host}/git/repo.git"
        ));
        if let Some(deps) = payload["dependencies"].as_array_mut() {
            for d in deps {
                d["token"] = json!(token);
            }
        }
        if let Some(vars) = payload["variables"].as_array_mut() {
            vars.push(
                json!({"key": "CI_JOB_ID", "value": id.to_string(), "public": true,
                             "masked": false}),
            );
            vars.push(
                json!({"key": "CI_JOB_TOKEN", "value": token, "public": false,
                             "masked": true}),
            );
        }
        i.payloads.insert(id, payload);
        i.jobs.insert(
            id,
            JobRecord {
                token,
                status: "pending".into(),
                ..JobRecord::default()
            },
        );
        i.queue.push_back(id);
        id
    }

    /// What the fake has recorded for job `id`.
    pub fn record(&self, id: u64) -> JobRecord {
        self.inner.lock().unwrap().jobs[&id].clone()
    }

    /// Cancels job `id`, as a user in GitLab's UI does.
    pub fn cancel(&self, id: u64) {
        self.inner.lock().unwrap().jobs.get_mut(&id).unwrap().status = "canceled".into();
    }

    /// Forgets job `id`'s trace, as a GitLab whose trace storage lost chunks: the runner's next
    /// patch gets 416 and must resend from 0.
    pub fn lose_trace(&self, id: u64) {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .get_mut(&id)
            .unwrap()
            .trace
            .clear();
    }

    /// (verify calls, unregister calls, requests with a wrong token, authorized git requests).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let i = self.inner.lock().unwrap();
        (i.verified, i.unregistered, i.bad_tokens, i.git_authorized)
    }

    /// The `last_update` values job requests carried.
    pub fn last_updates(&self) -> Vec<String> {
        self.inner.lock().unwrap().last_updates.clone()
    }

    /// Waits until `id` got its final update (success or failed); returns its record.
    pub fn wait_final(&self, id: u64, secs: u64) -> JobRecord {
        self.wait(id, secs, |r| r.ended.is_some())
    }

    /// Waits until `f` holds for job `id`'s record.
    pub fn wait(&self, id: u64, secs: u64, f: impl Fn(&JobRecord) -> bool) -> JobRecord {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.record(id);
            if f(&r) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not there after {secs}s: status {}, trace:\n{}",
                r.status,
                String::from_utf8_lossy(&r.trace)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn token_of(body: &Value) -> &str {
    body["token"].as_str().unwrap_or_default()
}

async fn verify(State(s): State<Shared>, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    if token_of(&body) != RUNNER_TOKEN || body["system_id"].as_str().is_none() {
        i.bad_tokens += 1;
        return StatusCode::FORBIDDEN.into_response();
    }
    i.verified += 1;
    (
        StatusCode::OK,
        axum::Json(json!({"id": 42, "token": RUNNER_TOKEN, "token_expires_at": null})),
    )
        .into_response()
}

async fn unregister(State(s): State<Shared>, body: axum::Json<Value>) -> Response {
    let mut i = s.lock().unwrap();
    if token_of(&body) != RUNNER_TOKEN {
        i.bad_tokens += 1;
        return StatusCode::FORBIDDEN.into_response();
    }
    i.unregistered += 1;
    StatusCode::NO_CONTENT.into_response()
}

/// Long polling: an empty queue holds the request a while before 204, as Workhorse does.
async fn request(State(s): State<Shared>, body: axum::Json<Value>) -> Response {
    {
        let mut i = s.lock().unwrap();
        if token_of(&body) != RUNNER_TOKEN {
            i.bad_tokens += 1;
            return StatusCode::FORBIDDEN.into_response();
        }
        if let Some(l) = body["last_update"].as_str() {
            i.last_updates.push(l.to_string());
        }
    }
    let deadline = Instant::now() + Duration::from_millis(500);
    loop {
        {
            let mut i = s.lock().unwrap();
            if let Some(id) = i.queue.pop_front() {
                let payload = i.payloads[&id].clone();
                let r = i.jobs.get_mut(&id).unwrap();
                r.status = "running".into();
                r.started = Some(Instant::now());
                return (StatusCode::CREATED, axum::Json(payload)).into_response();
            }
        }
        if Instant::now() > deadline {
            return (StatusCode::NO_CONTENT, [("X-GitLab-Last-Update", "fake-1")]).into_response();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `f` on job `id`'s record when `token` is its token: 404 for an unknown job, 403 (and
/// counted) for a wrong token.
fn with_job(
    s: &Shared,
    id: u64,
    token: &str,
    f: impl FnOnce(&mut JobRecord) -> Response,
) -> Response {
    let mut i = s.lock().unwrap();
    let Some(r) = i.jobs.get_mut(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if token != r.token {
        i.bad_tokens += 1;
        return StatusCode::FORBIDDEN.into_response();
    }
    f(r)
}

fn job_token(headers: &HeaderMap) -> &str {
    headers
        .get("JOB-TOKEN")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn update(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<u64>,
    body: axum::Json<Value>,
) -> Response {
    with_job(&s, id, token_of(&body), |r| {
        r.updates.push(body.0.clone());
        let state = body["state"].as_str().unwrap_or_default();
        if (state == "success" || state == "failed") && r.ended.is_none() {
            r.ended = Some(Instant::now());
            if r.status != "canceled" {
                r.status = state.to_string();
            }
        }
        (StatusCode::OK, [("Job-Status", r.status.clone())]).into_response()
    })
}

async fn trace(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<u64>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_job(&s, id, job_token(&headers), |r| patch(r, &headers, &body))
}

/// Appends a trace patch that starts where the trace ends; 416 with GitLab's size otherwise.
fn patch(r: &mut JobRecord, headers: &HeaderMap, body: &[u8]) -> Response {
    let start = headers
        .get("Content-Range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split('-').next())
        .and_then(|v| v.parse::<usize>().ok());
    if start != Some(r.trace.len()) {
        let range = format!("0-{}", r.trace.len());
        return (StatusCode::RANGE_NOT_SATISFIABLE, [("Range", range)]).into_response();
    }
    r.trace.extend_from_slice(body);
    r.patches += 1;
    let range = format!("0-{}", r.trace.len());
    (
        StatusCode::ACCEPTED,
        [
            ("Job-Status", r.status.clone()),
            ("Range", range),
            ("X-GitLab-Trace-Update-Interval", "1".to_string()),
        ],
    )
        .into_response()
}

/// The file part of a `multipart/form-data` body.
fn file_part(headers: &HeaderMap, body: &[u8]) -> Option<Vec<u8>> {
    let ct = headers.get("Content-Type")?.to_str().ok()?;
    let boundary = ct.split("boundary=").nth(1)?;
    let start = body.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let end_marker = format!("\r\n--{boundary}--");
    let end = body
        .windows(end_marker.len())
        .rposition(|w| w == end_marker.as_bytes())?;
    Some(body[start..end].to_vec())
}

async fn upload(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<u64>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    with_job(&s, id, job_token(&headers), |r| {
        let Some(file) = file_part(&headers, &body) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        r.artifacts.push((query, file));
        StatusCode::CREATED.into_response()
    })
}

/// Whether a running job matches `f`; a miss counts as a bad token.
fn any_running(i: &mut Inner, f: impl Fn(&JobRecord) -> bool) -> bool {
    let ok = i.jobs.values().any(|r| r.status == "running" && f(r));
    if !ok {
        i.bad_tokens += 1;
    }
    ok
}

/// A dependency's archive, for the token of a job that is running now.
async fn download(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<u64>,
    headers: HeaderMap,
) -> Response {
    let mut i = s.lock().unwrap();
    let token = job_token(&headers).to_string();
    if !any_running(&mut i, |r| r.token == token) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let archive = i.jobs.get(&id).and_then(|r| {
        r.artifacts
            .iter()
            .find(|(q, _)| q.get("artifact_type").map(String::as_str) == Some("archive"))
            .map(|(_, f)| f.clone())
    });
    match archive {
        Some(f) => (StatusCode::OK, f).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// git's dumb HTTP protocol over the bare repository: plain files, Basic auth with a running
/// job's token as `gitlab-ci-token`.
async fn git(
    headers: HeaderMap,
    State(s): State<Shared>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    use base64::Engine;
    let mut i = s.lock().unwrap();
    let given = headers
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let given = given.unwrap_or_default();
    if !any_running(&mut i, |r| given == format!("gitlab-ci-token:{}", r.token)) {
        return (
            StatusCode::UNAUTHORIZED,
            [("WWW-Authenticate", "Basic realm=\"GitLab\"")],
        )
            .into_response();
    }
    i.git_authorized += 1;
    let Some(repo) = i.repo.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(rel) = path.strip_prefix("repo.git/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if rel.split('/').any(|c| c == "..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match std::fs::read(repo.join(rel)) {
        Ok(data) => (StatusCode::OK, data).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
