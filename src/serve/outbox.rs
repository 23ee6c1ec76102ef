//! The outbox of commit statuses: every status a pipeline of a repository with a `forge`
//! reaches is written to the database first (`forge_statuses`), then one task sends them.
//! While the forge answers, a pipeline's statuses go in order (pending, running, its end); a
//! forge that is down, slow or rate-limiting gets the status again later (its `Retry-After`,
//! else 1 s, 2 s, 4 s … at most a minute), and once a delivery has failed only the latest
//! status of the pipeline is sent (the older ones are superseded). Rows outlive a restart, so
//! what could not be delivered before is delivered after. A delivery never changes a
//! pipeline; its last result is in the pipeline's API answer and UI.

use super::App;
use super::config::Forge;
use super::db::{Context, Db, DbError, PipelineRow, now_ms, rfc3339};
use super::forge::{self, Delivery, Status};
use rusqlite::params;
use serde_json::{Value, json};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Notify;

/// The status's name on the forge for a pipeline started by `source`. A commit can have a
/// branch pipeline and a merge request pipeline (and scheduled ones) at once; GitHub and Gitea
/// keep one status per name, so each kind has its own line instead of overwriting the other's.
pub fn context(source: &str) -> &'static str {
    match source {
        "merge_request_event" => "gantry/merge-request",
        "schedule" => "gantry/schedule",
        _ => "gantry/pipeline",
    }
}

/// Longest wait between two deliveries of a status the forge did not take.
const MAX_BACKOFF_MS: i64 = 60_000;

/// What the server shares with the delivery task.
#[derive(Debug, Default)]
pub struct Outbox {
    /// Rung when a status is recorded.
    pub wake: Notify,
    /// The server's address for links (`public_url`, else the listening address), set once
    /// the server listens.
    pub base_url: OnceLock<String>,
}

/// One waiting status.
#[derive(Clone, Debug)]
struct Waiting {
    id: i64,
    pipeline_id: i64,
    state: String,
    description: String,
    attempts: i64,
    next_at: i64,
}

impl Db {
    /// Adds `state` of pipeline `pipeline` to the outbox unless it is the pipeline's latest
    /// status already.
    fn outbox_add(&self, pipeline: i64, state: &str, description: &str) -> Result<bool, DbError> {
        let conn = self.lock();
        let now = now_ms();
        let added = conn
            .execute(
                "INSERT INTO forge_statuses (pipeline_id, state, description, next_at, created_at, updated_at)
                 SELECT ?1, ?2, ?3, ?4, ?4, ?4
                 WHERE COALESCE((SELECT state FROM forge_statuses WHERE pipeline_id = ?1
                                 ORDER BY id DESC LIMIT 1), '') != ?2",
                params![pipeline, state, description, now],
            )
            .ctx("adding a forge status")?;
        Ok(added > 0)
    }

    /// The waiting statuses, oldest first.
    fn outbox_waiting(&self) -> Result<Vec<Waiting>, DbError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, pipeline_id, state, description, attempts, next_at FROM forge_statuses
                 WHERE outcome = 'waiting' ORDER BY id LIMIT 10000",
            )
            .ctx("listing forge statuses")?;
        stmt.query_map([], |r| {
            Ok(Waiting {
                id: r.get(0)?,
                pipeline_id: r.get(1)?,
                state: r.get(2)?,
                description: r.get(3)?,
                attempts: r.get(4)?,
                next_at: r.get(5)?,
            })
        })
        .ctx("listing forge statuses")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("listing forge statuses")
    }

    /// Records what became of status `id`: `outcome` (`waiting` again, `delivered`,
    /// `superseded`, `refused`), `result` for people, the next attempt's time.
    fn outbox_set(
        &self,
        id: i64,
        outcome: &str,
        result: &str,
        attempted: bool,
        next_at: i64,
    ) -> Result<(), DbError> {
        self.lock()
            .execute(
                "UPDATE forge_statuses SET outcome = ?2, result = ?3,
                   attempts = attempts + ?4, next_at = ?5, updated_at = ?6 WHERE id = ?1",
                params![id, outcome, result, i64::from(attempted), next_at, now_ms()],
            )
            .ctx("updating a forge status")
            .map(drop)
    }

    /// Pipeline `pipeline`'s statuses for the forge, newest first: (state, outcome, attempts,
    /// result, updated_at).
    #[allow(clippy::type_complexity)]
    fn outbox_of(
        &self,
        pipeline: i64,
    ) -> Result<Vec<(String, String, i64, Option<String>, i64)>, DbError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT state, outcome, attempts, result, updated_at FROM forge_statuses
                 WHERE pipeline_id = ?1 ORDER BY id DESC",
            )
            .ctx("reading forge statuses")?;
        stmt.query_map([pipeline], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .ctx("reading forge statuses")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("reading forge statuses")
    }
}

/// One line for the forge's page: what the pipeline is doing.
fn describe(row: &PipelineRow) -> String {
    let n = row.id;
    match row.status.as_str() {
        "pending" | "created" => format!("gantry pipeline #{n} is waiting"),
        "running" => format!("gantry pipeline #{n} is running"),
        "success" => format!("gantry pipeline #{n} passed"),
        "failed" => format!("gantry pipeline #{n} failed"),
        "canceled" => format!("gantry pipeline #{n} was canceled"),
        "skipped" => format!("gantry pipeline #{n} had nothing to run"),
        "manual" => format!("gantry pipeline #{n} waits for approval"),
        other => format!("gantry pipeline #{n}: {other}"),
    }
}

/// Puts `row`'s status in the outbox when its repository reports to a forge, and wakes the
/// delivery task. Never fails the caller: a database error is logged.
pub fn record(app: &App, row: &PipelineRow) {
    let Some(repo) = app.config.repo(&row.new.repository) else {
        return;
    };
    if repo.forge.is_none() {
        return;
    }
    match app.db.outbox_add(row.id, &row.status, &describe(row)) {
        Ok(true) => app.outbox.wake.notify_one(),
        Ok(false) => {}
        Err(e) => tracing::error!(pipeline = row.id, "commit status not recorded: {e}"),
    }
}

/// The delivery task: sends what is due, then sleeps until the next is due or a status is
/// recorded. Runs until the process ends (statuses of pipelines that end during shutdown are
/// delivered by the next start).
pub async fn deliver(app: Arc<App>) {
    loop {
        let wait = match round(&app).await {
            Ok(w) => w,
            Err(e) => {
                tracing::error!("commit statuses: {e}");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = app.outbox.wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One pass over the waiting statuses; how long until the next is due.
async fn round(app: &App) -> Result<Duration, DbError> {
    let waiting = app.db.outbox_waiting()?;
    let mut pipelines: Vec<(i64, Vec<Waiting>)> = Vec::new();
    for w in waiting {
        match pipelines.iter_mut().find(|(p, _)| *p == w.pipeline_id) {
            Some((_, list)) => list.push(w),
            None => pipelines.push((w.pipeline_id, vec![w])),
        }
    }
    let mut next = Duration::from_secs(5);
    for (_, list) in pipelines {
        // After a failed delivery only the latest status matters.
        let pick = match list.as_slice() {
            [first, .., last] if first.attempts > 0 => {
                for old in &list[..list.len() - 1] {
                    let why = format!("superseded by {}", last.state);
                    app.db
                        .outbox_set(old.id, "superseded", &why, false, old.next_at)?;
                }
                last.clone()
            }
            [first, ..] => first.clone(),
            [] => continue,
        };
        let now = now_ms();
        if pick.next_at > now {
            next = next.min(Duration::from_millis((pick.next_at - now) as u64));
            continue;
        }
        let outcome = send(app, &pick).await;
        let now = now_ms();
        match outcome {
            Delivery::Delivered(code) => {
                let result = format!("delivered {} (HTTP {code})", pick.state);
                app.db
                    .outbox_set(pick.id, "delivered", &result, true, now)?;
                if list.len() > 1 {
                    next = Duration::ZERO;
                }
            }
            Delivery::Retry { after, why } => {
                let backoff = (1000_i64 << pick.attempts.clamp(0, 10)).min(MAX_BACKOFF_MS);
                let wait = after.map_or(backoff, |a| a.as_millis().min(3_600_000) as i64);
                tracing::warn!(
                    pipeline = pick.pipeline_id,
                    state = %pick.state,
                    "commit status not delivered, trying again in {} ms: {why}",
                    wait
                );
                let result = format!("{why}; trying again");
                app.db
                    .outbox_set(pick.id, "waiting", &result, true, now + wait)?;
                next = next.min(Duration::from_millis(wait as u64));
            }
            Delivery::Refused(why) => {
                tracing::warn!(pipeline = pick.pipeline_id, state = %pick.state, "commit status refused: {why}");
                app.db.outbox_set(pick.id, "refused", &why, true, now)?;
            }
        }
    }
    Ok(next)
}

/// Sends one status: the pipeline's commit and ref, the repository's forge and token.
async fn send(app: &App, w: &Waiting) -> Delivery {
    let row = match app.db.pipeline(w.pipeline_id) {
        Ok(Some(r)) => r,
        Ok(None) => return Delivery::Refused("the pipeline is gone".into()),
        Err(e) => {
            return Delivery::Retry {
                after: None,
                why: e.to_string(),
            };
        }
    };
    let Some(repo) = app.config.repo(&row.new.repository) else {
        return Delivery::Refused(format!(
            "repository {} is no longer configured",
            row.new.repository
        ));
    };
    let (Some(kind), Some(base)) = (repo.forge, repo.api_base()) else {
        return Delivery::Refused(format!(
            "repository {} reports to no forge any more",
            repo.name
        ));
    };
    let token = match super::credentials::forge_token(repo) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Delivery::Refused(format!("repository {}: no forge token", repo.name));
        }
        Err(e) => return Delivery::Refused(e.to_string()),
    };
    let target = app
        .outbox
        .base_url
        .get()
        .map(|b| format!("{}/pipelines/{}", b.trim_end_matches('/'), row.id));
    let status = Status {
        project: &repo.name,
        sha: &row.new.sha,
        git_ref: &row.new.git_ref,
        state: &w.state,
        target_url: target.as_deref(),
        description: &w.description,
        context: context(&row.new.source),
    };
    forge::send(forge::request(kind, &base, &status, &token)).await
}

/// The pipeline's statuses on the forge as the API shows them: the latest status, what
/// became of it, and the last delivery's result; `null` for a repository without a forge.
pub fn summary(app: &App, row: &PipelineRow) -> Value {
    let Some(forge) = app.config.repo(&row.new.repository).and_then(|r| r.forge) else {
        return Value::Null;
    };
    let rows = app.db.outbox_of(row.id).unwrap_or_default();
    let Some((state, outcome, attempts, _, _)) = rows.first() else {
        return Value::Null;
    };
    let last = rows.iter().find(|r| r.3.is_some());
    json!({
        "forge": match forge {
            Forge::Gitlab => "gitlab",
            Forge::Github => "github",
            Forge::Gitea => "gitea",
        },
        "context": context(&row.new.source),
        "state": state,
        "outcome": outcome,
        "attempts": attempts,
        "last_result": last.and_then(|r| r.3.clone()),
        "last_attempt_at": last.map(|r| rfc3339(r.4)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::db::NewPipeline;

    #[test]
    fn the_outbox_keeps_each_new_status_once_and_its_results() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("g.db")).unwrap();
        let p = db
            .insert_pipeline(&NewPipeline {
                repository: "g/a".into(),
                sha: "b".repeat(40),
                ..NewPipeline::default()
            })
            .unwrap();
        assert!(db.outbox_add(p.id, "pending", "d").unwrap());
        assert!(
            !db.outbox_add(p.id, "pending", "d").unwrap(),
            "same status twice"
        );
        assert!(db.outbox_add(p.id, "running", "d").unwrap());
        let w = db.outbox_waiting().unwrap();
        assert_eq!(
            w.iter().map(|w| w.state.as_str()).collect::<Vec<_>>(),
            ["pending", "running"]
        );
        db.outbox_set(w[0].id, "waiting", "HTTP 503; trying again", true, 5)
            .unwrap();
        db.outbox_set(
            w[1].id,
            "delivered",
            "delivered running (HTTP 201)",
            true,
            5,
        )
        .unwrap();
        let all = db.outbox_of(p.id).unwrap();
        assert_eq!(all[0].1, "delivered");
        assert_eq!(all[1].2, 1, "one attempt recorded");
        // Reopened (a restart): what waits is still there.
        drop(db);
        let db = Db::open(&dir.path().join("g.db")).unwrap();
        assert_eq!(db.outbox_waiting().unwrap().len(), 1);
    }
}
