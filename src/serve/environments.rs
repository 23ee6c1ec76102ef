//! Environments as GitLab shows them: each repository's environments with the pipeline and
//! commit that last deployed them, their URL and namespace, and their state (`available`,
//! `stopping`, `stopped`). Stopping one runs its `on_stop` job (a pipeline of that job alone,
//! for the deploying commit) or, without one, deletes its namespace; environments with
//! `auto_stop_in` outlive their pipeline and are stopped on time by [`auto_stop`]. All of it is
//! in the database, so a restart loses nothing.

use super::App;
use super::db::EnvironmentRow;
use super::error::{ApiError, id};
use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Query of `GET /api/v1/environments`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Only this repository.
    pub repository: Option<String>,
}

/// `GET /api/v1/environments?repository=R`.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = app.db.environments(q.repository.as_deref())?;
    Ok(Json(rows.iter().map(EnvironmentRow::json).collect()))
}

/// `POST /api/v1/environments/{id}/stop`: runs its `on_stop` job (state `stopping` until it
/// succeeds), or deletes its namespace.
pub async fn stop_one(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let eid = id(&raw)?;
    let env = app
        .db
        .environment(eid)?
        .ok_or_else(|| ApiError::not_found("no such environment"))?;
    if env.state != "available" {
        return Err(ApiError::conflict(format!(
            "environment is already {}",
            env.state
        )));
    }
    stop(&app, &env).await?;
    let env = app
        .db
        .environment(eid)?
        .ok_or_else(|| ApiError::not_found("no such environment"))?;
    Ok(Json(env.json()))
}

/// Stops `env`: its `on_stop` job when it has one, else its namespace goes.
pub async fn stop(app: &Arc<App>, env: &EnvironmentRow) -> Result<(), ApiError> {
    let d = &env.deployment;
    app.db.set_environment_state(env.id, "stopping")?;
    tracing::info!(environment = %d.name, repository = %d.repository, "stopping environment");
    if let Some(job) = &d.on_stop {
        let row = app
            .db
            .pipeline(d.pipeline_id)?
            .ok_or_else(|| ApiError::not_found("the deploying pipeline is gone"))?;
        let mut new = row.new.clone();
        new.only_job = Some(job.clone());
        new.retried_from = None;
        if let Err(e) = app.enqueue(new) {
            app.db.set_environment_state(env.id, "available")?;
            return Err(e);
        }
        return Ok(());
    }
    if let (Some(ns), Some(repo)) = (&d.namespace, app.config.repo(&d.repository)) {
        let choice = crate::environment::config::ClusterChoice {
            kubeconfig: repo.kubeconfig.clone(),
            context: repo.kube_context.clone(),
        };
        let (_, settings) = repo
            .kubernetes
            .resolve(std::path::Path::new("/"))
            .map_err(|e| ApiError::bad(e.message))?;
        let deleted = match crate::environment::cluster::connect(&choice).await {
            Ok(c) => crate::environment::delete_namespace(&c.client, ns, settings.delete_timeout)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            tracing::error!(environment = %d.name, "cannot delete namespace {ns}: {e}");
            app.db.set_environment_state(env.id, "available")?;
            return Err(ApiError::unavailable(format!(
                "cannot delete namespace {ns}: {e}"
            )));
        }
    }
    app.db.set_environment_state(env.id, "stopped")?;
    Ok(())
}

/// The stop job of environment `name` of `repository` ended: `stopped` on success, else it
/// is `available` again (GitLab's behaviour).
pub fn stop_job_finished(app: &App, repository: &str, name: &str, success: bool) {
    let Ok(envs) = app.db.environments(Some(repository)) else {
        return;
    };
    for e in envs.iter().filter(|e| e.deployment.name == name) {
        let state = if success { "stopped" } else { "available" };
        if e.state != "stopped"
            && let Err(err) = app.db.set_environment_state(e.id, state)
        {
            tracing::error!("{err}");
        }
    }
}

/// Pipeline `pipeline` deleted its namespaces at its end: what it deployed is stopped.
pub fn stopped_with(app: &App, repository: &str, pipeline: i64) {
    let Ok(envs) = app.db.environments(Some(repository)) else {
        return;
    };
    for e in envs
        .iter()
        .filter(|e| e.deployment.pipeline_id == pipeline && e.state != "stopped")
    {
        if let Err(err) = app.db.set_environment_state(e.id, "stopped") {
            tracing::error!("{err}");
        }
    }
}

/// Stops environments whose `auto_stop_in` has passed, checking every second until shutdown.
pub async fn auto_stop(app: Arc<App>) {
    let mut stop_rx = app.shutdown.subscribe();
    loop {
        if *stop_rx.borrow() {
            return;
        }
        let now = super::db::now_ms();
        if let Ok(envs) = app.db.environments(None) {
            for e in envs.iter().filter(|e| {
                e.state == "available" && e.deployment.auto_stop_at.is_some_and(|t| t <= now)
            }) {
                // Only once its deploying pipeline is over: a running one still uses it.
                let over = app
                    .db
                    .pipeline(e.deployment.pipeline_id)
                    .ok()
                    .flatten()
                    .is_some_and(|p| super::db::TERMINAL.contains(&p.status.as_str()));
                if over && let Err(err) = stop(&app, e).await {
                    tracing::error!(environment = %e.deployment.name, "auto-stop failed: {err:?}");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop_rx.changed() => {}
        }
    }
}
