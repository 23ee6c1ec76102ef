//! A stand-in for the part of GitLab's REST API gantry's includes use, on loopback inside the
//! test binary: project (default branch), commits by ref, repository files raw, releases (a
//! catalog project's versions), CI templates — with GitLab's status codes (404 for what does
//! not exist or is hidden, 401 for a wrong token) — and plain files for `include: remote`
//! (a redirect, an oversized file). It counts requests, so a test can prove a
//! cached lint touched no network.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Redirect, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One project: refs (branches, tags, SHAs) → commit, files per commit, releases.
#[derive(Clone, Default)]
pub struct Project {
    default_branch: String,
    refs: HashMap<String, String>,
    files: HashMap<(String, String), String>,
    releases: Vec<(String, String)>,
    private: bool,
}

impl Project {
    /// A public project whose default branch is `main`.
    pub fn new() -> Project {
        Project {
            default_branch: "main".into(),
            ..Project::default()
        }
    }

    /// Visible only with the server's token.
    pub fn private(mut self) -> Project {
        self.private = true;
        self
    }

    /// A commit `sha` that `refs` point to, holding `files`.
    pub fn commit(mut self, sha: &str, refs: &[&str], files: &[(&str, &str)]) -> Project {
        self.refs.insert(sha.into(), sha.into());
        for r in refs {
            self.refs.insert((*r).into(), sha.into());
        }
        for (path, text) in files {
            self.files
                .insert((sha.into(), (*path).into()), (*text).into());
        }
        self
    }

    /// Points `reference` at `sha` (a pushed branch).
    pub fn set_ref(&mut self, reference: &str, sha: &str) {
        self.refs.insert(reference.into(), sha.into());
    }

    /// A commit added later, holding `files`.
    pub fn add_commit(&mut self, sha: &str, files: &[(&str, &str)]) {
        *self = std::mem::take(self).commit(sha, &[], files);
    }

    /// A release of tag `tag` at `sha` (a catalog version when `tag` is a semantic version).
    pub fn release(mut self, tag: &str, sha: &str) -> Project {
        self.refs.insert(tag.into(), sha.into());
        self.releases.insert(0, (tag.into(), sha.into()));
        self
    }
}

/// What the server holds.
#[derive(Clone, Default)]
pub struct Content {
    projects: HashMap<String, Project>,
    templates: HashMap<String, String>,
    remote: HashMap<String, String>,
    token: Option<String>,
}

impl Content {
    pub fn new() -> Content {
        Content::default()
    }

    /// Project `path`, to change it.
    pub fn project_mut(&mut self, path: &str) -> &mut Project {
        self.projects.entry(path.into()).or_default()
    }

    /// Project `path` (`group/name`).
    pub fn project(mut self, path: &str, project: Project) -> Content {
        self.projects.insert(path.into(), project);
        self
    }

    /// A CI template `name` (without `.gitlab-ci.yml`).
    pub fn template(mut self, name: &str, text: &str) -> Content {
        self.templates.insert(name.into(), text.into());
        self
    }

    /// A plain file at `/files/PATH` (for `include: remote`).
    pub fn remote(mut self, path: &str, text: &str) -> Content {
        self.remote.insert(path.into(), text.into());
        self
    }

    /// The token private projects need (`PRIVATE-TOKEN` or `JOB-TOKEN`).
    pub fn token(mut self, token: &str) -> Content {
        self.token = Some(token.into());
        self
    }
}

struct Shared {
    content: Mutex<Content>,
    requests: AtomicUsize,
    paths: Mutex<Vec<String>>,
}

type St = State<Arc<Shared>>;

/// The running server; stops when dropped.
pub struct FakeGitLab {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGitLab {
    /// Serves `content` on a free loopback port.
    pub fn start(content: Content) -> FakeGitLab {
        let shared = Arc::new(Shared {
            content: Mutex::new(content),
            requests: AtomicUsize::new(0),
            paths: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                port_tx.send(listener.local_addr().unwrap().port()).unwrap();
                let app = axum::Router::new()
                    .route("/api/v4/projects/{id}", get(project))
                    .route(
                        "/api/v4/projects/{id}/repository/commits/{reference}",
                        get(commit),
                    )
                    .route(
                        "/api/v4/projects/{id}/repository/files/{path}/raw",
                        get(file),
                    )
                    .route("/api/v4/projects/{id}/releases", get(releases))
                    .route("/api/v4/templates/gitlab_ci_ymls/{key}", get(template))
                    .route("/files/{*path}", get(remote))
                    .route("/redirect/{*path}", get(redirect))
                    .route("/big.yml", get(big))
                    .with_state(state);
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let port = port_rx.recv().unwrap();
        FakeGitLab {
            url: format!("http://127.0.0.1:{port}"),
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The paths requested so far (with query strings).
    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().unwrap().clone()
    }

    /// Changes what the server holds (a branch moved, a file changed).
    pub fn change(&self, change: impl FnOnce(&mut Content)) {
        change(&mut self.shared.content.lock().unwrap());
    }

    /// `127.0.0.1:PORT`, as a component address names the host.
    pub fn host(&self) -> String {
        self.url.trim_start_matches("http://").to_string()
    }
}

impl Drop for FakeGitLab {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "message": format!("404 {what} Not Found") })),
    )
        .into_response()
}

/// Counts the request; the project if this caller may see it, else GitLab's answer (401 for
/// a wrong token, 404 for a hidden or missing project).
fn visible(s: &Shared, headers: &HeaderMap, id: &str, what: &str) -> Result<Project, Denied> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.paths.lock().unwrap().push(format!("{what} {id}"));
    let given = headers
        .get("private-token")
        .or_else(|| headers.get("job-token"))
        .and_then(|v| v.to_str().ok());
    let content = s.content.lock().unwrap();
    if let (Some(given), Some(token)) = (given, &content.token)
        && given != token
    {
        return Err(Denied::Unauthorized);
    }
    match content.projects.get(id) {
        Some(p) if !p.private || given.is_some() => Ok(p.clone()),
        _ => Err(Denied::Hidden),
    }
}

/// GitLab's answers to a caller who may not see a project.
enum Denied {
    Unauthorized,
    Hidden,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                Json(serde_json::json!({ "message": "401 Unauthorized" })),
            )
                .into_response(),
            Denied::Hidden => not_found("Project"),
        }
    }
}

async fn project(State(s): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match visible(&s, &headers, &id, "project") {
        Ok(p) => Json(serde_json::json!({
            "path_with_namespace": id,
            "default_branch": p.default_branch,
        }))
        .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn commit(
    State(s): St,
    headers: HeaderMap,
    Path((id, reference)): Path<(String, String)>,
) -> Response {
    let p = match visible(&s, &headers, &id, "commit") {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    match p.refs.get(&reference) {
        Some(sha) => Json(serde_json::json!({ "id": sha, "short_id": &sha[..8.min(sha.len())] }))
            .into_response(),
        None => not_found("Commit"),
    }
}

async fn file(
    State(s): St,
    headers: HeaderMap,
    Path((id, path)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = match visible(&s, &headers, &id, "file") {
        Ok(p) => p,
        Err(r) => return r.into_response(),
    };
    let sha = q
        .get("ref")
        .and_then(|r| p.refs.get(r))
        .cloned()
        .unwrap_or_default();
    match p.files.get(&(sha, path)) {
        Some(text) => text.clone().into_response(),
        None => not_found("File"),
    }
}

async fn releases(State(s): St, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match visible(&s, &headers, &id, "releases") {
        Ok(p) => Json(
            p.releases
                .iter()
                .map(|(tag, sha)| serde_json::json!({ "tag_name": tag, "commit": { "id": sha } }))
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(r) => r.into_response(),
    }
}

async fn template(State(s): St, Path(key): Path<String>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.paths.lock().unwrap().push(format!("template {key}"));
    let text = s.content.lock().unwrap().templates.get(&key).cloned();
    match text {
        Some(text) => Json(serde_json::json!({ "name": key, "content": text })).into_response(),
        None => not_found("Template"),
    }
}

async fn remote(State(s): St, Path(path): Path<String>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.paths.lock().unwrap().push(format!("remote {path}"));
    let text = s.content.lock().unwrap().remote.get(&path).cloned();
    match text {
        Some(text) => text.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn redirect(State(s): St, Path(path): Path<String>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    Redirect::temporary(&format!("/files/{path}")).into_response()
}

/// A file over GitLab's 2 MiB limit for one include.
async fn big(State(s): St) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let mut text = String::from("big:\n  script:\n");
    while text.len() <= 3 * 1024 * 1024 {
        text.push_str("    - echo 0123456789012345678901234567890123456789\n");
    }
    text.into_response()
}
