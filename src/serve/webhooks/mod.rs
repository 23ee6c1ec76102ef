//! Webhook endpoints: each forge's payload becomes a [`NewPipeline`] (or a reason to ignore the
//! event) only after the request is authenticated and fully understood, so a bad request
//! leaves nothing behind.

pub mod github;
pub mod gitlab;
pub mod merge_request;

use super::App;
use super::db::NewPipeline;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// What a valid webhook asks for.
#[derive(Debug)]
pub enum Outcome {
    /// Create this pipeline.
    Run(Box<NewPipeline>),
    /// Nothing to run (a deleted branch, a closed merge request, a ping), and why.
    Ignored(String),
}

/// A webhook refused: HTTP status and the reason given back.
#[derive(Debug)]
pub struct HookError {
    /// 400, 401, 404…
    pub status: StatusCode,
    /// Said to the sender.
    pub reason: String,
}

impl HookError {
    /// 400 with `reason`.
    pub fn bad(reason: impl Into<String>) -> Self {
        HookError {
            status: StatusCode::BAD_REQUEST,
            reason: reason.into(),
        }
    }
}

/// `POST /hooks/gitlab`.
pub async fn gitlab(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = gitlab::parse(&app.config, &headers, &body);
    finish(&app, "gitlab", outcome)
}

/// `POST /hooks/github`.
pub async fn github(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let outcome = github::parse(&app.config, &headers, &body);
    finish(&app, "github", outcome)
}

fn finish(app: &Arc<App>, forge: &str, outcome: Result<Outcome, HookError>) -> Response {
    let (result, response) = match outcome {
        Ok(Outcome::Run(p)) => match app.enqueue(*p) {
            Ok(row) => (
                "queued",
                (StatusCode::CREATED, Json(row.json())).into_response(),
            ),
            Err(e) => ("rejected", e.into_response()),
        },
        Ok(Outcome::Ignored(why)) => {
            tracing::info!(forge, %why, "webhook ignored");
            (
                "ignored",
                (StatusCode::OK, Json(json!({"ignored": why}))).into_response(),
            )
        }
        Err(e) => {
            tracing::warn!(forge, status = e.status.as_u16(), reason = %e.reason, "webhook refused");
            let result = if e.status == StatusCode::UNAUTHORIZED {
                "unauthorized"
            } else {
                "invalid"
            };
            (
                result,
                (e.status, Json(json!({"error": e.reason}))).into_response(),
            )
        }
    };
    app.metrics.webhook(forge, result);
    response
}

/// The string at `path` in `v`.
pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits.
pub fn valid_sha(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A ref name git accepts and that cannot be mistaken for an option or a path escape.
pub fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("//")
        && !s.contains("@{")
        && !s.chars().any(|c| c.is_control() || " ~^:?*[\\".contains(c))
}

/// `refs/heads/x` → (`branch`, `x`), `refs/tags/v` → (`tag`, `v`).
pub fn split_ref(r: &str) -> Result<(&'static str, String), HookError> {
    let (kind, name) = if let Some(b) = r.strip_prefix("refs/heads/") {
        ("branch", b)
    } else if let Some(t) = r.strip_prefix("refs/tags/") {
        ("tag", t)
    } else {
        return Err(HookError::bad(format!(
            "ref `{r}` is neither refs/heads/… nor refs/tags/…"
        )));
    };
    if !valid_ref(name) {
        return Err(HookError::bad(format!("ref `{r}` is not a valid ref name")));
    }
    Ok((kind, name.to_string()))
}

/// A webhook's payload and the repository it names at `path`, once `check` accepts the
/// request with that repository's secret (`credential` names what was missing or wrong).
/// Both forges come through here, so neither can read a payload it has not authenticated.
pub fn authenticated<'a>(
    config: &'a super::config::Config,
    body: &[u8],
    path: &[&str],
    check: impl FnOnce(&str) -> bool,
    credential: &str,
) -> Result<(Value, &'a super::config::RepoConfig), HookError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| HookError::bad(format!("payload is not JSON: {e}")))?;
    let repo = repository(config, text(&v, path), &path.join("."))?;
    if !config.secret_of(repo).is_some_and(check) {
        return Err(HookError {
            status: StatusCode::UNAUTHORIZED,
            reason: format!("missing or wrong {credential}"),
        });
    }
    Ok((v, repo))
}

/// The configured repository called `name`, else 404.
pub fn repository<'a>(
    config: &'a super::config::Config,
    name: Option<&str>,
    field: &str,
) -> Result<&'a super::config::RepoConfig, HookError> {
    let name = name.ok_or_else(|| HookError::bad(format!("payload has no `{field}`")))?;
    config.repo(name).ok_or_else(|| HookError {
        status: StatusCode::NOT_FOUND,
        reason: format!("repository `{name}` is not served here"),
    })
}

/// The pipeline a push of `sha` to `name` (a branch or tag, per `kind`) starts.
pub fn push_pipeline(
    repo: &str,
    (kind, name): (&str, String),
    sha: &str,
    before: Option<&str>,
    variables: Vec<(String, String)>,
) -> Outcome {
    Outcome::Run(Box::new(NewPipeline {
        repository: repo.to_string(),
        git_ref: name,
        kind: kind.into(),
        sha: sha.to_lowercase(),
        before_sha: before.map(str::to_lowercase),
        source: "push".into(),
        target_branch: None,
        variables,
        only_job: None,
        retried_from: None,
    }))
}

/// Pushes `(name, value)` when the value is present and not empty.
pub fn put(vars: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        vars.push((name.to_string(), v.to_string()));
    }
}

/// GitLab's variables naming a merge request's source and target projects (ids as the forge
/// numbers them; absent ones stay unset, which `serve::trust` counts as a fork).
pub fn project_ids(
    vars: &mut Vec<(String, String)>,
    source: Option<i64>,
    target: Option<i64>,
    source_path: Option<&str>,
) {
    use crate::serve::trust::{PROJECT_ID, SOURCE_PROJECT_ID, SOURCE_PROJECT_PATH};
    put(
        vars,
        SOURCE_PROJECT_ID,
        source.map(|i| i.to_string()).as_deref(),
    );
    put(vars, PROJECT_ID, target.map(|i| i.to_string()).as_deref());
    put(vars, SOURCE_PROJECT_PATH, source_path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs() {
        assert!(valid_ref("main"));
        assert!(valid_ref("feature/x-1"));
        for bad in ["", "-x", "a..b", "a b", "/a", "a/", "x.lock", "a:b", "a\nb"] {
            assert!(!valid_ref(bad), "{bad:?}");
        }
        assert_eq!(split_ref("refs/tags/v1").unwrap().0, "tag");
        assert!(split_ref("refs/merge-requests/1/head").is_err());
        assert!(valid_sha(&"a".repeat(40)));
        assert!(!valid_sha("xyz"));
    }
}
