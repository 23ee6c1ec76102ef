//! The HTTP surface: health and metrics, webhooks, the token-protected API, the web UI and
//! its login; one body-size limit for every request.

use super::{App, api, auth, environments, runners, schedule, sse, trust, ui, webhooks};
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use std::sync::Arc;

/// All routes.
pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/pipelines", get(api::list).post(api::create))
        .route("/pipelines/{id}", get(api::show))
        .route("/pipelines/{id}/cancel", post(api::cancel))
        .route("/pipelines/{id}/retry", post(api::retry))
        .route("/jobs/{id}", get(api::job))
        .route("/jobs/{id}/log", get(api::log))
        .route("/jobs/{id}/log/stream", get(sse::job_log))
        .route("/jobs/{id}/retry", post(api::retry_job))
        .route("/jobs/{id}/artifacts/{*path}", get(api::artifact))
        .route("/events", get(sse::events))
        .route("/repositories", get(api::repositories))
        .route("/environments", get(environments::list))
        .route("/environments/{id}/stop", post(environments::stop_one))
        .route("/pipelines/{id}/approve", post(trust::approve))
        .route("/schedules", get(schedule::list).post(schedule::create))
        .route(
            "/schedules/{id}",
            get(schedule::show)
                .put(schedule::update)
                .patch(schedule::update)
                .delete(schedule::delete),
        )
        .route("/schedules/{id}/run", post(schedule::run_now))
        .route(
            "/runners",
            get(runners::api::list).post(runners::api::create),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth::require));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/hooks/gitlab", post(webhooks::gitlab))
        .route("/hooks/github", post(webhooks::github))
        .route("/hooks/gitea", post(webhooks::gitea))
        .route("/api/v1/openapi.json", get(api::openapi))
        .nest("/api/v1", api)
        .route("/login", get(ui::login_page).post(ui::login))
        .route("/logout", post(ui::logout))
        .route("/", get(ui::page))
        .route("/pipelines/{id}", get(ui::page))
        .route("/jobs/{id}", get(ui::page))
        .route("/environments", get(ui::page))
        .route("/schedules", get(ui::page))
        .route("/ui/{file}", get(ui::asset))
        .route("/api/v4/runners/verify", post(runners::api::verify))
        .route("/api/v4/jobs/request", post(runners::api::request))
        .route("/api/v4/jobs/{id}", put(runners::api::update))
        .route("/api/v4/jobs/{id}/trace", patch(runners::api::trace))
        .route(
            "/api/v4/jobs/{id}/artifacts",
            get(runners::api::download)
                .post(runners::api::upload)
                .layer(DefaultBodyLimit::max(runners::api::ARTIFACT_LIMIT)),
        )
        .route(
            "/git/{*path}",
            get(runners::git::serve)
                .post(runners::git::serve)
                .layer(DefaultBodyLimit::max(runners::git::REQUEST_LIMIT)),
        )
        .layer(DefaultBodyLimit::max(app.config.max_body))
        .with_state(app)
}

async fn not_found() -> Response {
    api::ApiError::not_found("no such route").into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    if *app.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(app.queue.depth(), app.queue.running()),
    )
        .into_response()
}
