//! Registered runners: created by the operator through the API (`POST /api/v1/runners`),
//! found by their token's hash, listed with their last contact.

use super::super::auth;
use super::super::db::{Db, DbError, now_ms};
use rusqlite::OptionalExtension;
use serde::Serialize;

/// One registered runner (never its token).
#[derive(Clone, Debug, Serialize)]
pub struct Runner {
    /// Id.
    pub id: i64,
    /// What the operator called it.
    pub description: String,
    /// Its tags: it runs jobs whose tags it all has.
    pub tags: Vec<String>,
    /// Whether it also runs jobs without tags.
    pub run_untagged: bool,
    /// Created (ms since the epoch).
    pub created_at: i64,
    /// Its last request (ms since the epoch).
    pub contacted_at: Option<i64>,
}

impl Runner {
    /// Whether a job with `tags` may run on this runner (GitLab's matching).
    pub fn fits(&self, tags: &[String]) -> bool {
        if tags.is_empty() {
            return self.run_untagged;
        }
        tags.iter().all(|t| self.tags.contains(t))
    }
}

/// Why a runner could not be registered.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// No token could be generated.
    #[error(transparent)]
    Token(#[from] auth::NoRandomness),
}

const COLS: &str = "id, description, tags, run_untagged, created_at, contacted_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Runner> {
    let tags: String = r.get(2)?;
    Ok(Runner {
        id: r.get(0)?,
        description: r.get(1)?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        run_untagged: r.get(3)?,
        created_at: r.get(4)?,
        contacted_at: r.get(5)?,
    })
}

fn err(context: &'static str) -> impl Fn(rusqlite::Error) -> DbError {
    move |source| DbError::new(context, source)
}

/// Registers a runner; returns it and its token (shown once, only its hash is kept).
pub fn create(
    db: &Db,
    description: &str,
    tags: &[String],
    run_untagged: bool,
) -> Result<(Runner, String), RunnerError> {
    let token = auth::random_secret("glrt-")?;
    let now = now_ms();
    let tags_json = serde_json::to_string(tags).unwrap_or_else(|_| "[]".into());
    let conn = db.connection();
    conn.execute(
        "INSERT INTO runners (description, tags, run_untagged, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![description, tags_json, run_untagged, auth::hash(&token), now],
    )
    .map_err(err("registering a runner"))?;
    let runner = Runner {
        id: conn.last_insert_rowid(),
        description: description.to_string(),
        tags: tags.to_vec(),
        run_untagged,
        created_at: now,
        contacted_at: None,
    };
    Ok((runner, token))
}

/// Every runner, oldest first.
pub fn list(db: &Db) -> Result<Vec<Runner>, DbError> {
    let conn = db.connection();
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLS} FROM runners ORDER BY id"))
        .map_err(err("listing runners"))?;
    stmt.query_map([], row)
        .map_err(err("listing runners"))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(err("listing runners"))
}

/// The runner whose token is `token`, its contact time now updated.
pub fn contact(db: &Db, token: &str) -> Result<Option<Runner>, DbError> {
    let conn = db.connection();
    let hash = auth::hash(token);
    let now = now_ms();
    conn.execute(
        "UPDATE runners SET contacted_at = ?1 WHERE token_hash = ?2",
        rusqlite::params![now, hash],
    )
    .map_err(err("recording a runner's contact"))?;
    conn.query_row(
        &format!("SELECT {COLS} FROM runners WHERE token_hash = ?1"),
        [hash],
        row,
    )
    .optional()
    .map_err(err("reading a runner"))
}
