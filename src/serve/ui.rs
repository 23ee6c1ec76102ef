//! The web UI: one page and its script and style, embedded in the binary (no build step, no
//! CDN). Login exchanges the API token for a session cookie (`HttpOnly`, `SameSite=Strict`);
//! the script then uses the same API and event streams as any client.

use super::App;
use super::auth::{self, COOKIE, SESSION_MS};
use super::db::now_ms;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

const INDEX: &str = include_str!("ui/index.html");
const LOGIN: &str = include_str!("ui/login.html");
const APP_JS: &str = include_str!("ui/app.js");
const APP_CSS: &str = include_str!("ui/app.css");

/// Scripts only from this server (no inline script); inline style attributes are allowed for
/// the log's ANSI colours (text itself is always escaped); no framing.
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(body),
    )
        .into_response()
}

/// `/`, `/pipelines/{id}`, `/jobs/{id}`: the app page, or the login page without a session.
pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if auth::authorized(&app, &headers) {
        html(StatusCode::OK, INDEX.to_string())
    } else {
        Redirect::to("/login").into_response()
    }
}

/// `GET /login`.
pub async fn login_page() -> Response {
    html(StatusCode::OK, LOGIN.replace("{{error}}", ""))
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /login`: a valid API token gets a session cookie.
pub async fn login(State(app): State<Arc<App>>, Form(f): Form<LoginForm>) -> Response {
    if !auth::token_matches(&app.token_hash, f.token.trim()) {
        tracing::warn!("failed UI login");
        return html(
            StatusCode::UNAUTHORIZED,
            LOGIN.replace(
                "{{error}}",
                "<p class=\"error\">That is not the API token.</p>",
            ),
        );
    }
    let session = match auth::random_secret("") {
        Ok(s) => s,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if let Err(e) = app
        .db
        .add_session(&auth::hash(&session), now_ms() + SESSION_MS)
    {
        tracing::error!("{e}");
        return (StatusCode::INTERNAL_SERVER_ERROR, "database error").into_response();
    }
    let cookie = format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_MS / 1000
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// `POST /logout`.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(s) = auth::cookie(&headers, COOKIE) {
        let _ = app.db.remove_session(&auth::hash(s));
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/login")).into_response()
}

/// `/ui/app.js`, `/ui/app.css`.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}
