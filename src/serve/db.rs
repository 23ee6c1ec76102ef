//! History in SQLite (rusqlite, WAL): repositories, pipelines, jobs, status transitions with
//! their times, chunked job logs, artifact metadata, settings and sessions. The schema moves
//! forward through numbered migrations recorded in `PRAGMA user_version`.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Schema versions in order; entry `n` takes the database from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE repositories (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, source TEXT NOT NULL);
CREATE TABLE pipelines (
    id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    ref TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha TEXT NOT NULL,
    before_sha TEXT,
    source TEXT NOT NULL,
    target_branch TEXT,
    variables TEXT NOT NULL,
    only_job TEXT,
    retried_from INTEGER,
    status TEXT NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER);
CREATE INDEX pipelines_repo_ref ON pipelines (repository, ref);
CREATE INDEX pipelines_status ON pipelines (status);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id),
    name TEXT NOT NULL,
    stage TEXT NOT NULL,
    stage_index INTEGER NOT NULL,
    needs TEXT,
    job_when TEXT NOT NULL,
    interruptible INTEGER NOT NULL,
    allow_failure INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    detail TEXT,
    exit_code INTEGER,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    log_size INTEGER NOT NULL DEFAULT 0,
    log_truncated INTEGER NOT NULL DEFAULT 0);
CREATE INDEX jobs_pipeline ON jobs (pipeline_id);
CREATE TABLE transitions (
    id INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL,
    job_id INTEGER,
    status TEXT NOT NULL,
    at INTEGER NOT NULL);
CREATE INDEX transitions_pipeline ON transitions (pipeline_id);
CREATE TABLE log_chunks (
    job_id INTEGER NOT NULL,
    start INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (job_id, start));
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL);
CREATE TABLE sessions (hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
"#,
    r#"
CREATE TABLE environments (
    id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT,
    namespace TEXT,
    pipeline_id INTEGER NOT NULL,
    job_id INTEGER,
    sha TEXT NOT NULL,
    state TEXT NOT NULL,
    on_stop TEXT,
    auto_stop_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (repository, name));
"#,
    // A job retried inside its pipeline: the old row stays, marked retried; the pipeline
    // records which jobs the user retried (its next run re-runs them and what needs them).
    r#"
ALTER TABLE jobs ADD COLUMN retried INTEGER NOT NULL DEFAULT 0;
ALTER TABLE pipelines ADD COLUMN retry_jobs TEXT;
"#,
    // Untrusted pipelines someone approved (`serve::trust`): whether one is untrusted is
    // judged from its trigger each time, only the approval is a fact to keep.
    r#"
CREATE TABLE approvals (pipeline_id INTEGER PRIMARY KEY, approved_at INTEGER NOT NULL);
"#,
    // Pipeline schedules (`serve::schedule`): `config_key` names a config file's schedule
    // (`repository#index`), NULL for one made through the API.
    r#"
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    repository TEXT NOT NULL,
    config_key TEXT UNIQUE,
    description TEXT,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    ref TEXT NOT NULL,
    variables TEXT NOT NULL,
    active INTEGER NOT NULL,
    next_run_at INTEGER,
    last_run_at INTEGER,
    last_pipeline_id INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL);
"#,
    // The outbox of commit statuses for the forge (`outbox.rs`): one row per status a
    // pipeline reached, kept until the forge took it, refused it or a newer one replaced it.
    r#"
CREATE TABLE forge_statuses (
    id INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'waiting',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    result TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL);
CREATE INDEX forge_statuses_waiting ON forge_statuses (outcome, id);
CREATE INDEX forge_statuses_pipeline ON forge_statuses (pipeline_id);
"#,
    // Runners on other machines (`serve::runners`): only the hash of a runner's token is kept.
    r#"
CREATE TABLE runners (
    id INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    tags TEXT NOT NULL,
    run_untagged INTEGER NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    contacted_at INTEGER);
"#,
];

/// GitLab's statuses that do not change any more.
pub const TERMINAL: &[&str] = &["success", "failed", "canceled", "skipped"];

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `2026-11-28T03:56:21.123Z` for milliseconds since the epoch (UTC, always three fraction
/// digits, as GitLab's API writes them); beyond jiff's range (years ±9999) clamped to it.
pub fn rfc3339(ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    });
    format!("{at:.3}")
}

/// A database problem (I/O or SQL), with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("database: {context}: {source}")]
pub struct DbError {
    context: &'static str,
    source: rusqlite::Error,
}

impl DbError {
    /// An error of the server's modules that keep their own tables (`runners`).
    pub(super) fn new(context: &'static str, source: rusqlite::Error) -> Self {
        DbError { context, source }
    }
}

/// Every row `sql` selects with `params`, each read by `row`; `context` names the query in
/// the error. The one way the listings below read, so each states only its SQL and row type.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    context: &'static str,
) -> Result<Vec<T>, DbError> {
    let mut stmt = conn.prepare_cached(sql).ctx(context)?;
    stmt.query_map(params, row)
        .ctx(context)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx(context)
}

pub(super) trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T, DbError>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn ctx(self, context: &'static str) -> Result<T, DbError> {
        self.map_err(|source| DbError { context, source })
    }
}

/// A pipeline to insert.
#[derive(Clone, Debug, Default)]
pub struct NewPipeline {
    /// Repository name.
    pub repository: String,
    /// Branch, tag or merge request source branch (no `refs/…` prefix).
    pub git_ref: String,
    /// `branch`, `tag` or `merge_request`.
    pub kind: String,
    /// Commit.
    pub sha: String,
    /// Commit before the push, when known.
    pub before_sha: Option<String>,
    /// `CI_PIPELINE_SOURCE`.
    pub source: String,
    /// Merge request target branch.
    pub target_branch: Option<String>,
    /// Pipeline variables (payload fields and user variables), in order.
    pub variables: Vec<(String, String)>,
    /// Run only this job (and what it needs): a job retry.
    pub only_job: Option<String>,
    /// The pipeline this one retries.
    pub retried_from: Option<i64>,
}

/// A stored pipeline.
#[derive(Clone, Debug)]
pub struct PipelineRow {
    /// Id (also `CI_PIPELINE_ID`/`IID`).
    pub id: i64,
    /// What it was created from.
    pub new: NewPipeline,
    /// GitLab status word.
    pub status: String,
    /// Why it ended that way (`interrupted`, `superseded by #N`, a config error…).
    pub reason: Option<String>,
    /// Times, ms since the epoch.
    pub created_at: i64,
    /// When it started running.
    pub started_at: Option<i64>,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Jobs retried inside this pipeline by its latest retry (empty: never retried).
    pub retry: Vec<String>,
}

impl PipelineRow {
    /// The API's JSON shape.
    pub fn json(&self) -> Value {
        json!({
            "id": self.id,
            "repository": self.new.repository,
            "ref": self.new.git_ref,
            "kind": self.new.kind,
            "sha": self.new.sha,
            "before_sha": self.new.before_sha,
            "source": self.new.source,
            "target_branch": self.new.target_branch,
            "status": self.status,
            "reason": self.reason,
            "only_job": self.new.only_job,
            "retried_from": self.new.retried_from,
            "retried_jobs": self.retry,
            "variables": self.new.variables.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            "created_at": rfc3339(self.created_at),
            "started_at": self.started_at.map(rfc3339),
            "finished_at": self.finished_at.map(rfc3339),
        })
    }
}

/// A job to insert.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// Concrete name.
    pub name: String,
    /// Stage.
    pub stage: String,
    /// Position of the stage.
    pub stage_index: usize,
    /// `needs` (concrete names), `None` for stage order.
    pub needs: Option<Vec<String>>,
    /// `when`.
    pub when: String,
    /// `interruptible`.
    pub interruptible: bool,
    /// Initial status (`created` or `manual`).
    pub status: String,
}

/// A stored job.
#[derive(Clone, Debug)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// Its pipeline.
    pub pipeline_id: i64,
    /// Name, stage, …
    pub job: NewJob,
    /// Failure allowed (shown as a warning).
    pub allow_failure: bool,
    /// Why it ended that way.
    pub detail: Option<String>,
    /// Exit code of the last attempt.
    pub exit_code: Option<i64>,
    /// Times.
    pub created_at: i64,
    /// Started.
    pub started_at: Option<i64>,
    /// Finished.
    pub finished_at: Option<i64>,
    /// Bytes of log stored.
    pub log_size: i64,
    /// Whether the log hit the size limit.
    pub log_truncated: bool,
    /// A newer attempt of this job in the same pipeline replaced this row (kept as history).
    pub retried: bool,
}

impl JobRow {
    /// The API's JSON shape.
    pub fn json(&self) -> Value {
        let duration = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => Some((f - s) as f64 / 1000.0),
            _ => None,
        };
        json!({
            "id": self.id,
            "pipeline_id": self.pipeline_id,
            "name": self.job.name,
            "stage": self.job.stage,
            "stage_index": self.job.stage_index,
            "status": self.job.status,
            "needs": self.job.needs,
            "when": self.job.when,
            "interruptible": self.job.interruptible,
            "allow_failure": self.allow_failure,
            "detail": self.detail,
            "exit_code": self.exit_code,
            "created_at": rfc3339(self.created_at),
            "started_at": self.started_at.map(rfc3339),
            "finished_at": self.finished_at.map(rfc3339),
            "duration": duration,
            "log_size": self.log_size,
            "log_truncated": self.log_truncated,
            "retried": self.retried,
        })
    }
}

/// Filters of the pipeline list.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this repository.
    pub repository: Option<String>,
    /// Only this ref.
    pub git_ref: Option<String>,
    /// Only this status.
    pub status: Option<String>,
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
}

/// The database; one connection behind a mutex (statements are short).
pub struct Db {
    conn: Mutex<Connection>,
}

const PIPELINE_COLS: &str = "id, repository, ref, kind, sha, before_sha, source, target_branch, variables, only_job, retried_from, status, reason, created_at, started_at, finished_at, retry_jobs";
const JOB_COLS: &str = "id, pipeline_id, name, stage, stage_index, needs, job_when, interruptible, allow_failure, status, detail, exit_code, created_at, started_at, finished_at, log_size, log_truncated, retried";

fn pipeline_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineRow> {
    let vars: String = r.get(8)?;
    let variables: Vec<(String, String)> = serde_json::from_str(&vars).unwrap_or_default();
    Ok(PipelineRow {
        id: r.get(0)?,
        new: NewPipeline {
            repository: r.get(1)?,
            git_ref: r.get(2)?,
            kind: r.get(3)?,
            sha: r.get(4)?,
            before_sha: r.get(5)?,
            source: r.get(6)?,
            target_branch: r.get(7)?,
            variables,
            only_job: r.get(9)?,
            retried_from: r.get(10)?,
        },
        status: r.get(11)?,
        reason: r.get(12)?,
        created_at: r.get(13)?,
        started_at: r.get(14)?,
        finished_at: r.get(15)?,
        retry: r
            .get::<_, Option<String>>(16)?
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default(),
    })
}

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    let needs: Option<String> = r.get(5)?;
    Ok(JobRow {
        id: r.get(0)?,
        pipeline_id: r.get(1)?,
        job: NewJob {
            name: r.get(2)?,
            stage: r.get(3)?,
            stage_index: r.get::<_, i64>(4)? as usize,
            needs: needs.and_then(|n| serde_json::from_str(&n).ok()),
            when: r.get(6)?,
            interruptible: r.get(7)?,
            status: r.get(9)?,
        },
        allow_failure: r.get(8)?,
        detail: r.get(10)?,
        exit_code: r.get(11)?,
        created_at: r.get(12)?,
        started_at: r.get(13)?,
        finished_at: r.get(14)?,
        log_size: r.get(15)?,
        log_truncated: r.get(16)?,
        retried: r.get(17)?,
    })
}

impl Db {
    /// Opens (creating) the database at `path`, in WAL mode, migrated to the latest schema.
    pub fn open(path: &Path) -> Result<Db, DbError> {
        let conn = Connection::open(path).ctx("opening")?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .ctx("enabling WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("setting synchronous")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .ctx("setting the busy timeout")?;
        let db = Db {
            conn: Mutex::new(conn),
        };
        db.migrate()?;
        Ok(db)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection, for the server's modules that keep their own tables (`runners`).
    pub(super) fn connection(&self) -> MutexGuard<'_, Connection> {
        self.lock()
    }

    fn migrate(&self) -> Result<(), DbError> {
        let mut conn = self.lock();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("reading the schema version")?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
            let tx = conn.transaction().ctx("starting a migration")?;
            tx.execute_batch(sql).ctx("migrating")?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .ctx("recording the schema version")?;
            tx.commit().ctx("committing a migration")?;
        }
        Ok(())
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> Result<i64, DbError> {
        self.lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("reading the schema version")
    }

    /// A setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>, DbError> {
        self.lock()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .ctx("reading a setting")
    }

    /// Sets a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), DbError> {
        self.lock()
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .ctx("writing a setting")
            .map(drop)
    }

    /// Records a configured repository.
    pub fn upsert_repository(&self, name: &str, source: &str) -> Result<(), DbError> {
        self.lock()
            .execute(
                "INSERT INTO repositories (name, source) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET source = ?2",
                [name, source],
            )
            .ctx("recording a repository")
            .map(drop)
    }

    /// Inserts a pending pipeline and its first transition in one transaction.
    pub fn insert_pipeline(&self, p: &NewPipeline) -> Result<PipelineRow, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting an insert")?;
        let now = now_ms();
        let vars = serde_json::to_string(&p.variables).unwrap_or_else(|_| "[]".into());
        tx.execute(
            "INSERT INTO pipelines (repository, ref, kind, sha, before_sha, source, target_branch, variables, only_job, retried_from, status, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11)",
            params![p.repository, p.git_ref, p.kind, p.sha, p.before_sha, p.source, p.target_branch, vars, p.only_job, p.retried_from, now],
        )
        .ctx("inserting a pipeline")?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO transitions (pipeline_id, status, at) VALUES (?1, 'pending', ?2)",
            params![id, now],
        )
        .ctx("recording a transition")?;
        tx.commit().ctx("committing a pipeline")?;
        Ok(PipelineRow {
            id,
            new: p.clone(),
            status: "pending".into(),
            reason: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            retry: Vec::new(),
        })
    }

    /// Queues finished pipeline `id` again to retry job `name` inside it: the pipeline is
    /// `pending` (its end time and reason cleared) with `name` recorded. False when the
    /// pipeline has not finished (nothing changed).
    pub fn retry_in_place(&self, id: i64, name: &str) -> Result<bool, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting a retry")?;
        let now = now_ms();
        let names = serde_json::to_string(&[name]).unwrap_or_else(|_| "[]".into());
        let changed = tx
            .execute(
                "UPDATE pipelines SET status = 'pending', reason = NULL, finished_at = NULL,
                   retry_jobs = ?2
                 WHERE id = ?1 AND status IN ('success', 'failed', 'canceled', 'skipped')",
                params![id, names],
            )
            .ctx("retrying a pipeline")?;
        if changed == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO transitions (pipeline_id, status, at) VALUES (?1, 'pending', ?2)",
            params![id, now],
        )
        .ctx("recording a transition")?;
        tx.commit().ctx("committing a retry")?;
        Ok(true)
    }

    /// Moves a pipeline to `status` (setting its start or end time), with a transition row.
    pub fn set_pipeline_status(
        &self,
        id: i64,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting an update")?;
        let now = now_ms();
        let terminal = TERMINAL.contains(&status);
        tx.execute(
            "UPDATE pipelines SET status = ?2, reason = COALESCE(?3, reason),
               started_at = CASE WHEN ?2 = 'running' AND started_at IS NULL THEN ?4 ELSE started_at END,
               finished_at = CASE WHEN ?5 THEN ?4 ELSE finished_at END
             WHERE id = ?1",
            params![id, status, reason, now, terminal],
        )
        .ctx("updating a pipeline")?;
        tx.execute(
            "INSERT INTO transitions (pipeline_id, status, at) VALUES (?1, ?2, ?3)",
            params![id, status, now],
        )
        .ctx("recording a transition")?;
        tx.commit().ctx("committing a pipeline status")
    }

    /// Inserts a pipeline's jobs; returns their ids in order. A row of the same name already in
    /// the pipeline is an earlier attempt: it is marked retried.
    pub fn insert_jobs(&self, pipeline: i64, jobs: &[NewJob]) -> Result<Vec<i64>, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting an insert")?;
        let now = now_ms();
        let mut ids = Vec::with_capacity(jobs.len());
        for j in jobs {
            let needs = j
                .needs
                .as_ref()
                .map(|n| serde_json::to_string(n).unwrap_or_default());
            tx.execute(
                "UPDATE jobs SET retried = 1 WHERE pipeline_id = ?1 AND name = ?2 AND retried = 0",
                params![pipeline, j.name],
            )
            .ctx("marking a job retried")?;
            tx.execute(
                "INSERT INTO jobs (pipeline_id, name, stage, stage_index, needs, job_when, interruptible, status, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![pipeline, j.name, j.stage, j.stage_index as i64, needs, j.when, j.interruptible, j.status, now],
            )
            .ctx("inserting a job")?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "INSERT INTO transitions (pipeline_id, job_id, status, at) VALUES (?1, ?2, ?3, ?4)",
                params![pipeline, id, j.status, now],
            )
            .ctx("recording a transition")?;
            ids.push(id);
        }
        tx.commit().ctx("committing jobs")?;
        Ok(ids)
    }

    /// Moves a job to `status`, with what is known about how it ended.
    pub fn set_job_status(
        &self,
        id: i64,
        status: &str,
        allow_failure: bool,
        detail: Option<&str>,
        exit_code: Option<i32>,
    ) -> Result<(), DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting an update")?;
        let now = now_ms();
        let terminal = TERMINAL.contains(&status);
        tx.execute(
            "UPDATE jobs SET status = ?2, allow_failure = ?3, detail = COALESCE(?4, detail),
               exit_code = COALESCE(?5, exit_code),
               started_at = CASE WHEN ?2 = 'running' AND started_at IS NULL THEN ?6 ELSE started_at END,
               finished_at = CASE WHEN ?7 THEN ?6 ELSE finished_at END
             WHERE id = ?1",
            params![id, status, allow_failure, detail, exit_code, now, terminal],
        )
        .ctx("updating a job")?;
        tx.execute(
            "INSERT INTO transitions (pipeline_id, job_id, status, at)
             SELECT pipeline_id, id, ?2, ?3 FROM jobs WHERE id = ?1",
            params![id, status, now],
        )
        .ctx("recording a transition")?;
        tx.commit().ctx("committing a job status")
    }

    /// Appends a chunk of log starting at byte `start`; `truncated` marks the limit reached.
    pub fn append_log(
        &self,
        job: i64,
        start: u64,
        data: &[u8],
        truncated: bool,
    ) -> Result<(), DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting a log write")?;
        tx.execute(
            "INSERT OR REPLACE INTO log_chunks (job_id, start, data) VALUES (?1, ?2, ?3)",
            params![job, start as i64, data],
        )
        .ctx("writing a log chunk")?;
        tx.execute(
            "UPDATE jobs SET log_size = ?2, log_truncated = ?3 WHERE id = ?1",
            params![job, (start + data.len() as u64) as i64, truncated],
        )
        .ctx("updating a log size")?;
        tx.commit().ctx("committing a log chunk")
    }

    /// The stored log of `job` from byte `offset` on.
    pub fn read_log(&self, job: i64, offset: u64) -> Result<Vec<u8>, DbError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT start, data FROM log_chunks WHERE job_id = ?1 AND start + length(data) > ?2 ORDER BY start",
            )
            .ctx("reading a log")?;
        let rows = stmt
            .query_map(params![job, offset as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .ctx("reading a log")?;
        let mut out = Vec::new();
        for row in rows {
            let (start, data) = row.ctx("reading a log chunk")?;
            let skip = offset.saturating_sub(start as u64) as usize;
            out.extend_from_slice(data.get(skip..).unwrap_or(&[]));
        }
        Ok(out)
    }

    /// One pipeline.
    pub fn pipeline(&self, id: i64) -> Result<Option<PipelineRow>, DbError> {
        self.lock()
            .query_row(
                &format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE id = ?1"),
                [id],
                pipeline_row,
            )
            .optional()
            .ctx("reading a pipeline")
    }

    /// Pipelines, newest first, filtered and paginated; with the total count.
    pub fn pipelines(&self, f: &Filter) -> Result<(Vec<PipelineRow>, i64), DbError> {
        let conn = self.lock();
        let cond = "(?1 IS NULL OR repository = ?1) AND (?2 IS NULL OR ref = ?2) AND (?3 IS NULL OR status = ?3)";
        let total: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM pipelines WHERE {cond}"),
                params![f.repository, f.git_ref, f.status],
                |r| r.get(0),
            )
            .ctx("counting pipelines")?;
        let rows = rows(
            &conn,
            &format!(
                "SELECT {PIPELINE_COLS} FROM pipelines WHERE {cond} ORDER BY id DESC LIMIT ?4 OFFSET ?5"
            ),
            params![f.repository, f.git_ref, f.status, f.limit, f.offset],
            pipeline_row,
            "listing pipelines",
        )?;
        Ok((rows, total))
    }

    /// Pipelines in `status`, oldest first.
    pub fn pipelines_in(&self, status: &str) -> Result<Vec<PipelineRow>, DbError> {
        rows(
            &self.lock(),
            &format!("SELECT {PIPELINE_COLS} FROM pipelines WHERE status = ?1 ORDER BY id"),
            [status],
            pipeline_row,
            "listing pipelines",
        )
    }

    /// The jobs of a pipeline, in plan order.
    pub fn jobs(&self, pipeline: i64) -> Result<Vec<JobRow>, DbError> {
        rows(
            &self.lock(),
            &format!("SELECT {JOB_COLS} FROM jobs WHERE pipeline_id = ?1 ORDER BY id"),
            [pipeline],
            job_row,
            "listing jobs",
        )
    }

    /// One job.
    pub fn job(&self, id: i64) -> Result<Option<JobRow>, DbError> {
        self.lock()
            .query_row(
                &format!("SELECT {JOB_COLS} FROM jobs WHERE id = ?1"),
                [id],
                job_row,
            )
            .optional()
            .ctx("reading a job")
    }

    /// Status transitions of a pipeline and its jobs: (job id, status, time).
    pub fn transitions(&self, pipeline: i64) -> Result<Vec<(Option<i64>, String, i64)>, DbError> {
        rows(
            &self.lock(),
            "SELECT job_id, status, at FROM transitions WHERE pipeline_id = ?1 ORDER BY id",
            [pipeline],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            "listing transitions",
        )
    }

    /// At start-up: pipelines left `running` by a crash become `failed` (`interrupted`), and
    /// their unfinished jobs `failed` (running) or `canceled` (not started). Returns their ids.
    pub fn interrupt_running(&self) -> Result<Vec<i64>, DbError> {
        let running = self.pipelines_in("running")?;
        for p in &running {
            for j in self.jobs(p.id)? {
                match j.job.status.as_str() {
                    "running" => self.set_job_status(
                        j.id,
                        "failed",
                        false,
                        Some("interrupted: the server stopped while it ran"),
                        None,
                    )?,
                    "created" | "pending" => {
                        self.set_job_status(j.id, "canceled", false, Some("interrupted"), None)?
                    }
                    _ => {}
                }
            }
            self.set_pipeline_status(p.id, "failed", Some("interrupted"))?;
        }
        Ok(running.iter().map(|p| p.id).collect())
    }

    /// Records an artifact file of a job.
    pub fn add_artifact(&self, job: i64, path: &str, size: u64) -> Result<(), DbError> {
        self.lock()
            .execute(
                "INSERT INTO artifacts (job_id, path, size) VALUES (?1, ?2, ?3)",
                params![job, path, size as i64],
            )
            .ctx("recording an artifact")
            .map(drop)
    }

    /// Artifact files of a job: (path, size).
    pub fn artifacts(&self, job: i64) -> Result<Vec<(String, i64)>, DbError> {
        rows(
            &self.lock(),
            "SELECT path, size FROM artifacts WHERE job_id = ?1 ORDER BY path",
            [job],
            |r| Ok((r.get(0)?, r.get(1)?)),
            "listing artifacts",
        )
    }

    /// Stores a session (by the hash of its id).
    pub fn add_session(&self, hash: &str, expires_at: i64) -> Result<(), DbError> {
        let conn = self.lock();
        conn.execute(
            "DELETE FROM sessions WHERE expires_at < ?1",
            params![now_ms()],
        )
        .ctx("expiring sessions")?;
        conn.execute(
            "INSERT INTO sessions (hash, expires_at) VALUES (?1, ?2)",
            params![hash, expires_at],
        )
        .ctx("storing a session")
        .map(drop)
    }

    /// Whether a session (by hash) exists and has not expired.
    pub fn session_valid(&self, hash: &str) -> Result<bool, DbError> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM sessions WHERE hash = ?1 AND expires_at >= ?2",
                params![hash, now_ms()],
                |r| r.get::<_, i64>(0),
            )
            .ctx("checking a session")
            .map(|n| n > 0)
    }

    /// Removes a session.
    pub fn remove_session(&self, hash: &str) -> Result<(), DbError> {
        self.lock()
            .execute("DELETE FROM sessions WHERE hash = ?1", [hash])
            .ctx("removing a session")
            .map(drop)
    }
}

/// A deployment to record: an environment's job started.
#[derive(Clone, Debug, Default)]
pub struct Deployment {
    /// Repository.
    pub repository: String,
    /// `environment:name`.
    pub name: String,
    /// `environment:url`.
    pub url: Option<String>,
    /// Its namespace on the cluster, when there is one.
    pub namespace: Option<String>,
    /// The pipeline that deploys.
    pub pipeline_id: i64,
    /// The job that deploys.
    pub job_id: Option<i64>,
    /// The commit deployed.
    pub sha: String,
    /// `environment:on_stop`.
    pub on_stop: Option<String>,
    /// When it stops by itself (`environment:auto_stop_in`), ms since the epoch.
    pub auto_stop_at: Option<i64>,
}

/// A stored environment: its latest deployment and state (`available`, `stopping`, `stopped`).
#[derive(Clone, Debug)]
pub struct EnvironmentRow {
    /// Id.
    pub id: i64,
    /// The latest deployment.
    pub deployment: Deployment,
    /// GitLab's state word.
    pub state: String,
    /// First deployment.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

impl EnvironmentRow {
    /// The API's JSON shape.
    pub fn json(&self) -> Value {
        let d = &self.deployment;
        json!({
            "id": self.id,
            "repository": d.repository,
            "name": d.name,
            "url": d.url,
            "namespace": d.namespace,
            "state": self.state,
            "pipeline_id": d.pipeline_id,
            "job_id": d.job_id,
            "sha": d.sha,
            "on_stop": d.on_stop,
            // `auto_stop_in: never` is stored as the end of time: no stop is shown.
            "auto_stop_at": d.auto_stop_at.filter(|t| *t < i64::MAX).map(rfc3339),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

const ENV_COLS: &str = "id, repository, name, url, namespace, pipeline_id, job_id, sha, state, on_stop, auto_stop_at, created_at, updated_at";

fn environment_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnvironmentRow> {
    Ok(EnvironmentRow {
        id: r.get(0)?,
        deployment: Deployment {
            repository: r.get(1)?,
            name: r.get(2)?,
            url: r.get(3)?,
            namespace: r.get(4)?,
            pipeline_id: r.get(5)?,
            job_id: r.get(6)?,
            sha: r.get(7)?,
            on_stop: r.get(9)?,
            auto_stop_at: r.get(10)?,
        },
        state: r.get(8)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

impl Db {
    /// Records a deployment: the environment (made on first use) is `available` with it.
    pub fn record_deployment(&self, d: &Deployment) -> Result<i64, DbError> {
        let now = now_ms();
        self.lock()
            .query_row(
                "INSERT INTO environments (repository, name, url, namespace, pipeline_id, job_id, sha,
                   state, on_stop, auto_stop_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'available', ?8, ?9, ?10, ?10)
                 ON CONFLICT (repository, name) DO UPDATE SET url = excluded.url,
                   namespace = excluded.namespace, pipeline_id = excluded.pipeline_id,
                   job_id = excluded.job_id, sha = excluded.sha, state = 'available',
                   on_stop = excluded.on_stop, auto_stop_at = excluded.auto_stop_at,
                   updated_at = excluded.updated_at
                 RETURNING id",
                params![
                    d.repository,
                    d.name,
                    d.url,
                    d.namespace,
                    d.pipeline_id,
                    d.job_id,
                    d.sha,
                    d.on_stop,
                    d.auto_stop_at,
                    now
                ],
                |r| r.get(0),
            )
            .ctx("recording a deployment")
    }

    /// Sets environment `id`'s state.
    pub fn set_environment_state(&self, id: i64, state: &str) -> Result<(), DbError> {
        self.lock()
            .execute(
                "UPDATE environments SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state, now_ms()],
            )
            .ctx("updating an environment")
            .map(|_| ())
    }

    /// Environments, of `repository` or all, by name.
    pub fn environments(&self, repository: Option<&str>) -> Result<Vec<EnvironmentRow>, DbError> {
        rows(
            &self.lock(),
            &format!(
                "SELECT {ENV_COLS} FROM environments WHERE ?1 IS NULL OR repository = ?1
                 ORDER BY repository, name"
            ),
            params![repository],
            environment_row,
            "listing environments",
        )
    }

    /// Environment `id`.
    pub fn environment(&self, id: i64) -> Result<Option<EnvironmentRow>, DbError> {
        self.lock()
            .query_row(
                &format!("SELECT {ENV_COLS} FROM environments WHERE id = ?1"),
                params![id],
                environment_row,
            )
            .optional()
            .ctx("reading an environment")
    }
}

impl Db {
    /// Approves pipeline `id` if it waits for approval (`manual`): it becomes `pending` with
    /// the approval recorded, in one transaction. False when it was not waiting.
    pub fn approve(&self, id: i64) -> Result<bool, DbError> {
        let mut conn = self.lock();
        let tx = conn.transaction().ctx("starting an approval")?;
        let now = now_ms();
        let changed = tx
            .execute(
                "UPDATE pipelines SET status = 'pending', reason = NULL
                 WHERE id = ?1 AND status = 'manual'",
                params![id],
            )
            .ctx("approving a pipeline")?;
        if changed == 0 {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR REPLACE INTO approvals (pipeline_id, approved_at) VALUES (?1, ?2)",
            params![id, now],
        )
        .ctx("recording an approval")?;
        tx.execute(
            "INSERT INTO transitions (pipeline_id, status, at) VALUES (?1, 'pending', ?2)",
            params![id, now],
        )
        .ctx("recording a transition")?;
        tx.commit().ctx("committing an approval").map(|_| true)
    }

    /// When pipeline `id` was approved, if it was.
    pub fn approved_at(&self, id: i64) -> Result<Option<i64>, DbError> {
        self.lock()
            .query_row(
                "SELECT approved_at FROM approvals WHERE pipeline_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading an approval")
    }

    /// Runs `f` on the connection: the schedules' queries live with them in
    /// `serve::schedule`, this module keeps only the connection and the schema.
    pub fn with<T>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        f(&self.lock()).ctx(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        // Before the epoch the milliseconds count down from the second before.
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(-62_135_596_800_000), "0001-01-01T00:00:00.000Z");
    }

    #[test]
    fn migrations_pipelines_logs_and_interruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        let db = Db::open(&path).unwrap();
        assert_eq!(db.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let p = db
            .insert_pipeline(&NewPipeline {
                repository: "g/a".into(),
                git_ref: "main".into(),
                kind: "branch".into(),
                sha: "a".repeat(40),
                source: "push".into(),
                variables: vec![("K".into(), "V".into())],
                ..NewPipeline::default()
            })
            .unwrap();
        db.set_pipeline_status(p.id, "running", None).unwrap();
        let ids = db
            .insert_jobs(
                p.id,
                &[NewJob {
                    name: "build".into(),
                    stage: "build".into(),
                    stage_index: 0,
                    needs: Some(vec![]),
                    when: "on_success".into(),
                    interruptible: true,
                    status: "created".into(),
                }],
            )
            .unwrap();
        db.set_job_status(ids[0], "running", false, None, None)
            .unwrap();
        db.append_log(ids[0], 0, b"hello ", false).unwrap();
        db.append_log(ids[0], 6, b"world\n", false).unwrap();
        assert_eq!(db.read_log(ids[0], 0).unwrap(), b"hello world\n");
        assert_eq!(db.read_log(ids[0], 8).unwrap(), b"rld\n");
        drop(db);
        // Reopening migrates nothing and finds the pipeline interrupted.
        let db = Db::open(&path).unwrap();
        assert_eq!(db.interrupt_running().unwrap(), vec![p.id]);
        let p = db.pipeline(p.id).unwrap().unwrap();
        assert_eq!(
            (p.status.as_str(), p.reason.as_deref()),
            ("failed", Some("interrupted"))
        );
        assert_eq!(p.new.variables, vec![("K".to_string(), "V".to_string())]);
        let j = db.job(ids[0]).unwrap().unwrap();
        assert_eq!(j.job.status, "failed");
        assert_eq!(j.log_size, 12);
        let t = db.transitions(p.id).unwrap();
        let words: Vec<&str> = t.iter().map(|(_, s, _)| s.as_str()).collect();
        assert_eq!(
            words,
            [
                "pending", "running", "created", "running", "failed", "failed"
            ]
        );
    }

    #[test]
    fn a_job_retry_keeps_the_old_row_as_retried() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("g.db")).unwrap();
        let p = db.insert_pipeline(&NewPipeline::default()).unwrap();
        let job = NewJob {
            name: "test".into(),
            stage: "test".into(),
            stage_index: 0,
            needs: None,
            when: "on_success".into(),
            interruptible: false,
            status: "created".into(),
        };
        let first = db.insert_jobs(p.id, std::slice::from_ref(&job)).unwrap()[0];
        // Not finished yet: nothing to retry.
        assert!(!db.retry_in_place(p.id, "test").unwrap());
        db.set_pipeline_status(p.id, "failed", Some("job failed"))
            .unwrap();
        assert!(db.retry_in_place(p.id, "test").unwrap());
        let again = db.pipeline(p.id).unwrap().unwrap();
        assert_eq!(
            (again.status.as_str(), again.reason, again.retry),
            ("pending", None, vec!["test".to_string()])
        );
        let second = db.insert_jobs(p.id, &[job]).unwrap()[0];
        let rows: Vec<(i64, bool)> = db
            .jobs(p.id)
            .unwrap()
            .iter()
            .map(|j| (j.id, j.retried))
            .collect();
        assert_eq!(rows, [(first, true), (second, false)]);
    }
}
