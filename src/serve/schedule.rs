//! Pipeline schedules, as GitLab's: a cron expression in a time zone starts a pipeline for a
//! ref with the schedule's variables and `CI_PIPELINE_SOURCE=schedule`. They come from the
//! config file (`[[repository.schedule]]`, synchronised into the database at start-up) or
//! from the API, and live in the database with their next run: a restart keeps them, and a
//! tick missed while the server was down runs once at start (the next run is then the first
//! tick after now, never one per missed tick). Cron expressions are croner's (GitLab's five
//! fields, optionally a leading seconds field); time zones are the system's tz database
//! through jiff.

use super::App;
use super::db::{DbError, NewPipeline, now_ms, rfc3339};
use super::error::{ApiError, id};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One `[[repository.schedule]]` of the config file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron expression (`0 3 * * *`; six fields: seconds first).
    pub cron: String,
    /// IANA time zone the expression is read in (default UTC).
    #[serde(default = "utc")]
    pub timezone: String,
    /// Branch or tag to run.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Pipeline variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Whether it runs.
    #[serde(default = "yes")]
    pub active: bool,
    /// What it is for.
    #[serde(default)]
    pub description: Option<String>,
}

fn utc() -> String {
    "UTC".into()
}

fn yes() -> bool {
    true
}

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("cron {cron:?}: {source}")]
    Cron {
        /// As written.
        cron: String,
        /// croner's reason.
        source: croner::errors::CronError,
    },
    /// The time zone is not in the tz database.
    #[error("timezone {0:?} is not a known time zone")]
    TimeZone(String),
    /// The ref is not a valid ref name.
    #[error("ref {0:?} is not a valid branch or tag name")]
    Ref(String),
    /// A variable name is not valid.
    #[error("{0:?} is not a valid variable name")]
    Variable(String),
}

impl ScheduleConfig {
    /// Checks everything that can be checked without the repository.
    pub fn check(&self) -> Result<(), ScheduleError> {
        parse(&self.cron)?;
        zone(&self.timezone)?;
        if !super::webhooks::valid_ref(&self.git_ref) {
            return Err(ScheduleError::Ref(self.git_ref.clone()));
        }
        if let Some(k) = self
            .variables
            .keys()
            .find(|k| !crate::model::variables::valid_name(k))
        {
            return Err(ScheduleError::Variable(k.clone()));
        }
        Ok(())
    }

    /// The first tick strictly after `after` (ms since the epoch); `None` if there is none.
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let cron = parse(&self.cron).ok()?;
        let tz = zone(&self.timezone).ok()?;
        let from = jiff::Timestamp::from_millisecond(after).ok()?.to_zoned(tz);
        let next = cron.find_next_occurrence(&from, false).ok()?;
        Some(next.timestamp().as_millisecond())
    }
}

fn parse(cron: &str) -> Result<croner::Cron, ScheduleError> {
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(cron)
        .map_err(|source| ScheduleError::Cron {
            cron: cron.to_string(),
            source,
        })
}

fn zone(name: &str) -> Result<jiff::tz::TimeZone, ScheduleError> {
    jiff::tz::TimeZone::get(name).map_err(|_| ScheduleError::TimeZone(name.to_string()))
}

/// A stored schedule: its id and repository; `config_key` (`repository#index`) for a config
/// file's schedule, which the API cannot change; what it says; its next tick (ms since the
/// epoch; `None`: inactive or no tick left); its last run (when, the pipeline it started, or
/// why it could not); when it was created and changed.
#[derive(Clone, Debug, Deserialize)]
pub struct ScheduleRow {
    id: i64,
    repository: String,
    config_key: Option<String>,
    schedule: ScheduleConfig,
    next_run_at: Option<i64>,
    last_run_at: Option<i64>,
    last_pipeline_id: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl ScheduleRow {
    /// The API's JSON shape.
    pub fn json(&self) -> Value {
        let s = &self.schedule;
        json!({
            "id": self.id,
            "repository": self.repository,
            "owner": if self.config_key.is_some() { "config" } else { "api" },
            "description": s.description,
            "cron": s.cron,
            "timezone": s.timezone,
            "ref": s.git_ref,
            "variables": s.variables,
            "active": s.active,
            "next_run_at": self.next_run_at.map(rfc3339),
            "last_run_at": self.last_run_at.map(rfc3339),
            "last_pipeline_id": self.last_pipeline_id,
            "last_error": self.last_error,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

/// A row as one JSON object, read by serde like the config file's schedules.
const COLS: &str = "json_object('id', id, 'repository', repository, 'config_key', config_key,
    'schedule', json_object('description', description, 'cron', cron, 'timezone', timezone,
        'ref', ref, 'variables', json(variables),
        'active', json(CASE WHEN active THEN 'true' ELSE 'false' END)),
    'next_run_at', next_run_at, 'last_run_at', last_run_at, 'last_pipeline_id', last_pipeline_id,
    'last_error', last_error, 'created_at', created_at, 'updated_at', updated_at)";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScheduleRow> {
    let text: String = r.get(0)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn select(
    app: &App,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<ScheduleRow>, DbError> {
    app.db.with("listing schedules", |c| {
        c.prepare_cached(&format!(
            "SELECT {COLS} FROM schedules {filter} ORDER BY id"
        ))?
        .query_map(args, row)?
        .collect()
    })
}

/// Schedule `id`.
pub fn get(app: &App, id: i64) -> Result<Option<ScheduleRow>, DbError> {
    app.db.with("reading a schedule", |c| {
        c.query_row(
            &format!("SELECT {COLS} FROM schedules WHERE id = ?1"),
            [id],
            row,
        )
        .optional()
    })
}

/// The next run of `s` from `now`: inactive ones have none.
fn next_of(s: &ScheduleConfig, now: i64) -> Option<i64> {
    if s.active { s.next_after(now) } else { None }
}

/// Inserts or rewrites the schedule with `key` (config) or `id` (API), returns its id. The
/// next run is kept where cron, zone and activity are unchanged (so a missed tick still
/// runs), else computed from now.
fn store(
    app: &App,
    repository: &str,
    key: Option<&str>,
    id: Option<i64>,
    s: &ScheduleConfig,
) -> Result<i64, DbError> {
    let now = now_ms();
    let vars = serde_json::to_string(&s.variables).unwrap_or_else(|_| "{}".into());
    let old = match (id, key) {
        (Some(id), _) => get(app, id)?,
        (None, Some(k)) => select(app, "WHERE config_key = ?1", [k])?.pop(),
        (None, None) => None,
    };
    let next = match &old {
        Some(o)
            if o.schedule.cron == s.cron
                && o.schedule.timezone == s.timezone
                && o.schedule.active == s.active =>
        {
            o.next_run_at
        }
        _ => next_of(s, now),
    };
    // One upsert for both: a new row (id NULL) gets the next rowid.
    app.db.with("storing a schedule", |c| {
        c.query_row(
            "INSERT INTO schedules (id, repository, config_key, description, cron, timezone, ref,
               variables, active, next_run_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
             ON CONFLICT (id) DO UPDATE SET description = excluded.description,
               cron = excluded.cron, timezone = excluded.timezone, ref = excluded.ref,
               variables = excluded.variables, active = excluded.active,
               next_run_at = excluded.next_run_at, updated_at = excluded.updated_at
             RETURNING id",
            params![
                old.as_ref().map(|o| o.id),
                repository,
                key,
                s.description,
                s.cron,
                s.timezone,
                s.git_ref,
                vars,
                s.active,
                next,
                now
            ],
            |r| r.get(0),
        )
    })
}

/// At start-up: the config file's schedules into the database (changed ones rewritten, removed
/// ones deleted); API schedules stay.
pub fn sync(app: &App) -> Result<(), DbError> {
    let mut keys = Vec::new();
    for r in &app.config.repositories {
        for (i, s) in r.schedules.iter().enumerate() {
            let key = format!("{}#{i}", r.name);
            store(app, &r.name, Some(&key), None, s)?;
            keys.push(key);
        }
    }
    let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
    app.db.with("removing old schedules", |c| {
        c.execute(
            "DELETE FROM schedules WHERE config_key IS NOT NULL
               AND config_key NOT IN (SELECT value FROM json_each(?1))",
            [keys],
        )
    })?;
    Ok(())
}

/// Starts a pipeline for schedule `s` now; records it as the schedule's last run.
pub async fn start(app: &Arc<App>, s: &ScheduleRow) -> Result<super::db::PipelineRow, ApiError> {
    let result = start_pipeline(app, s).await;
    let (pipeline, error) = match &result {
        Ok(p) => (Some(p.id), None),
        Err(e) => (None, Some(e.reason().to_string())),
    };
    if let Some(e) = &error {
        tracing::warn!(schedule = s.id, "scheduled pipeline not started: {e}");
    }
    app.db.with("recording a schedule's run", |c| {
        c.execute(
            "UPDATE schedules SET last_run_at = ?2, last_pipeline_id = COALESCE(?3, last_pipeline_id),
               last_error = ?4 WHERE id = ?1",
            params![s.id, now_ms(), pipeline, error],
        )
    })?;
    result
}

async fn start_pipeline(
    app: &Arc<App>,
    s: &ScheduleRow,
) -> Result<super::db::PipelineRow, ApiError> {
    let repo = super::api::served(app, &s.repository)?;
    let (sha, kind) = super::api::resolve(app, repo, &s.schedule.git_ref).await?;
    app.enqueue(NewPipeline {
        repository: s.repository.clone(),
        git_ref: s.schedule.git_ref.clone(),
        kind: kind.into(),
        sha,
        source: "schedule".into(),
        variables: s.schedule.variables.clone().into_iter().collect(),
        ..NewPipeline::default()
    })
}

/// The ticker: once a second, every active schedule whose next run has come is claimed (its
/// next run moved to the first tick after now, so missed ticks collapse into one) and started.
pub async fn tick(app: Arc<App>) {
    let mut stop = app.shutdown.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        if let Err(e) = fire_due(&app) {
            tracing::error!("schedules: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => {}
        }
    }
}

fn fire_due(app: &Arc<App>) -> Result<(), DbError> {
    let now = now_ms();
    for s in select(
        app,
        "WHERE active = 1 AND next_run_at IS NOT NULL AND next_run_at <= ?1",
        [now],
    )? {
        let next = s.schedule.next_after(now);
        app.db.with("claiming a schedule's tick", |c| {
            c.execute(
                "UPDATE schedules SET next_run_at = ?2 WHERE id = ?1",
                params![s.id, next],
            )
        })?;
        if app.config.repo(&s.repository).is_none() {
            continue;
        }
        tracing::info!(schedule = s.id, repository = %s.repository, git_ref = %s.schedule.git_ref, "schedule due");
        let app = app.clone();
        tokio::spawn(async move {
            let _ = start(&app, &s).await;
        });
    }
    Ok(())
}

/// Schedule `raw`, or 404.
fn found(app: &App, raw: &str) -> Result<ScheduleRow, ApiError> {
    get(app, id(raw)?)?.ok_or_else(|| ApiError::not_found("no such schedule"))
}

/// `GET /api/v1/schedules`: every schedule (of `repository`), with its next run.
pub async fn list(
    State(app): State<Arc<App>>,
    Query(q): Query<super::environments::ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let rows = select(&app, "WHERE ?1 IS NULL OR repository = ?1", [q.repository])?;
    Ok(Json(json!({
        "schedules": rows.iter().map(ScheduleRow::json).collect::<Vec<_>>(),
    })))
}

/// `GET /api/v1/schedules/{id}`.
pub async fn show(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(found(&app, &raw)?.json()))
}

/// Body of `POST /schedules` (all fields) and `PUT /schedules/{id}` (any of them).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    repository: Option<String>,
    cron: Option<String>,
    timezone: Option<String>,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    variables: Option<BTreeMap<String, String>>,
    active: Option<bool>,
    description: Option<String>,
}

impl Body {
    fn read(body: &[u8]) -> Result<Body, ApiError> {
        serde_json::from_slice(body).map_err(|e| ApiError::bad(format!("invalid body: {e}")))
    }

    /// `base` with this body's fields over it, checked.
    fn over(self, base: ScheduleConfig) -> Result<ScheduleConfig, ApiError> {
        let s = ScheduleConfig {
            cron: self.cron.unwrap_or(base.cron),
            timezone: self.timezone.unwrap_or(base.timezone),
            git_ref: self.git_ref.unwrap_or(base.git_ref),
            variables: self.variables.unwrap_or(base.variables),
            active: self.active.unwrap_or(base.active),
            description: self.description.or(base.description),
        };
        s.check().map_err(|e| ApiError::bad(e.to_string()))?;
        Ok(s)
    }
}

fn stored(app: &App, id: i64) -> Result<Json<Value>, ApiError> {
    let row = get(app, id)?.ok_or_else(|| ApiError::not_found("no such schedule"))?;
    Ok(Json(row.json()))
}

/// `POST /api/v1/schedules`: `repository`, `cron` and `ref` required.
pub async fn create(State(app): State<Arc<App>>, body: Bytes) -> Result<Response, ApiError> {
    let mut b = Body::read(&body)?;
    let repository = b
        .repository
        .take()
        .ok_or_else(|| ApiError::bad("`repository` is required"))?;
    if app.config.repo(&repository).is_none() {
        return Err(ApiError::not_found(format!(
            "repository `{repository}` is not served here"
        )));
    }
    let (Some(cron), Some(git_ref)) = (b.cron.take(), b.git_ref.take()) else {
        return Err(ApiError::bad("`cron` and `ref` are required"));
    };
    let s = b.over(ScheduleConfig {
        cron,
        timezone: utc(),
        git_ref,
        variables: BTreeMap::new(),
        active: true,
        description: None,
    })?;
    let id = store(&app, &repository, None, None, &s)?;
    Ok((StatusCode::CREATED, stored(&app, id)?).into_response())
}

/// A schedule the API may change: not one of the config file's.
fn changeable(app: &App, raw: &str) -> Result<ScheduleRow, ApiError> {
    let row = found(app, raw)?;
    if row.config_key.is_some() {
        return Err(ApiError::conflict(
            "this schedule is defined in the config file: change it there",
        ));
    }
    Ok(row)
}

/// `PUT`/`PATCH /api/v1/schedules/{id}`: changes the fields given.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let row = changeable(&app, &raw)?;
    let b = Body::read(&body)?;
    if b.repository.as_ref().is_some_and(|r| *r != row.repository) {
        return Err(ApiError::bad(
            "a schedule cannot move to another repository",
        ));
    }
    let s = b.over(row.schedule.clone())?;
    store(&app, &row.repository, None, Some(row.id), &s)?;
    stored(&app, row.id)
}

/// `DELETE /api/v1/schedules/{id}`.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let row = changeable(&app, &raw)?;
    app.db.with("deleting a schedule", |c| {
        c.execute("DELETE FROM schedules WHERE id = ?1", [row.id])
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/schedules/{id}/run`: a pipeline now (its next run stays); answers it.
pub async fn run_now(
    State(app): State<Arc<App>>,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let row = found(&app, &raw)?;
    let p = start(&app, &row).await?;
    Ok((StatusCode::CREATED, Json(p.json())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(cron: &str, tz: &str) -> ScheduleConfig {
        toml::from_str(&format!(
            "cron = \"{cron}\"\ntimezone = \"{tz}\"\nref = \"main\""
        ))
        .unwrap()
    }

    #[test]
    fn next_runs_follow_the_time_zone() {
        // 2026-01-15T12:00:00Z; 03:00 in Berlin (UTC+1 in winter) is 02:00 UTC the next day.
        let noon = 1_768_478_400_000;
        let s = every("0 3 * * *", "Europe/Berlin");
        assert!(s.check().is_ok());
        assert_eq!(
            s.next_after(noon).map(rfc3339).as_deref(),
            Some("2026-01-16T02:00:00.000Z")
        );
        // Seconds are optional: every second.
        assert_eq!(
            every("* * * * * *", "UTC").next_after(noon),
            Some(noon + 1000)
        );
        assert!(every("61 * * * *", "UTC").check().is_err());
        assert!(every("0 3 * * *", "Mars/Olympus").check().is_err());
        let mut bad_ref = every("0 3 * * *", "UTC");
        bad_ref.git_ref = "-x".into();
        assert!(bad_ref.check().is_err());
    }
}
