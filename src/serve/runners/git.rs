//! Clones for runners: git's smart HTTP (`GET …/info/refs?service=git-upload-pack`, `POST
//! …/git-upload-pack`) over the repository pipelines are checked out from (the local
//! repository, or the server's mirror of a URL one), answered by `git http-backend` as a CGI
//! program. Read-only (no `receive-pack`); the password is the job token of a running job of
//! that repository (HTTP basic auth, as GitLab's `gitlab-ci-token`), so a token never sits in a
//! URL.

use super::super::App;
use super::super::checkout;
use super::super::config::Source;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Largest upload-pack request (the client's wants and haves).
pub const REQUEST_LIMIT: usize = 16 * 1024 * 1024;

fn challenge() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"gantry\"")],
    )
        .into_response()
}

/// The password of a basic `Authorization` header.
fn password(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_string())
}

/// `GET`/`POST /git/{repository}.git/…`.
pub async fn serve(State(app): State<Arc<App>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, REQUEST_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let (method, headers) = (parts.method, parts.headers);
    let path = parts.uri.path().strip_prefix("/git/").unwrap_or_default();
    let Some((name, rest)) = path.split_once(".git/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let query = parts.uri.query().unwrap_or_default().to_string();
    let allowed = match (&method, rest) {
        (&Method::GET, "info/refs") => query == "service=git-upload-pack",
        (&Method::POST, "git-upload-pack") => true,
        _ => false,
    };
    if !allowed {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(token) = password(&headers) else {
        return challenge();
    };
    let held = app.runners.by_token(&token);
    if held.is_none_or(|(_, _, repository, _)| repository != name) {
        return challenge();
    }
    let Some(repo) = app.config.repo(name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let origin = match repo.origin() {
        Source::Path(p) => p,
        Source::Url(_) => checkout::mirror_dir(&app.config.data_dir, repo),
    };
    let (Some(root), Some(base)) = (origin.parent(), origin.file_name()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let header_of = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("PATH_INFO", format!("/{}/{rest}", base.to_string_lossy()))
        .env("REQUEST_METHOD", method.as_str())
        .env("QUERY_STRING", &query)
        .env("CONTENT_TYPE", header_of(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header_of(header::CONTENT_ENCODING))
        .env(
            "HTTP_GIT_PROTOCOL",
            headers
                .get("git-protocol")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default(),
        )
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "gitlab-ci-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let Ok(mut child) = cmd.spawn() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            let _ = stdin.write_all(&body).await;
        });
    }
    let Ok(out) = child.wait_with_output().await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    cgi_response(&out.stdout)
}

/// A CGI program's output (`Status:` and other headers, a blank line, the body) as a response.
fn cgi_response(out: &[u8]) -> Response {
    let (head, body) = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&out[..i], &out[i + 4..]),
        None => match out.windows(2).position(|w| w == b"\n\n") {
            Some(i) => (&out[..i], &out[i + 2..]),
            None => return StatusCode::BAD_GATEWAY.into_response(),
        },
    };
    let mut response = Response::builder();
    let mut code = StatusCode::OK;
    for line in String::from_utf8_lossy(head).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            code = v
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_GATEWAY);
        } else {
            response = response.header(k.trim(), v);
        }
    }
    response
        .status(code)
        .body(Body::from(body.to_vec()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}
