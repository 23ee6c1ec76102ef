//! Job logs on their way to SQLite: lines are appended in memory (each with its byte offset,
//! published at once for live viewers) and written as chunks a few times a second and when
//! the job ends. Past the per-job limit a visible marker is written and the rest dropped.

use super::App;
use super::db::Db;
use super::sse::Event;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Write a chunk as soon as this much is buffered.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
struct JobLog {
    pending: Vec<u8>,
    flushed: u64,
    total: u64,
    truncated: bool,
}

/// Logs of running jobs.
#[derive(Debug)]
pub struct LogStore {
    jobs: Mutex<HashMap<i64, JobLog>>,
    limit: u64,
}

impl LogStore {
    /// A store cutting each job's log at `limit` bytes.
    pub fn new(limit: u64) -> Self {
        LogStore {
            jobs: Mutex::new(HashMap::new()),
            limit,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i64, JobLog>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one line of `job`'s output and publishes it.
    pub fn append(&self, app: &App, job: i64, line: &str) {
        let mut jobs = self.lock();
        let log = jobs.entry(job).or_insert_with(|| {
            // A job retried within the run keeps writing after what is stored.
            let size = app
                .db
                .job(job)
                .ok()
                .flatten()
                .map_or(0, |j| j.log_size as u64);
            JobLog {
                flushed: size,
                total: size,
                ..JobLog::default()
            }
        });
        if log.truncated {
            return;
        }
        let mut text = format!("{line}\n");
        if log.total + text.len() as u64 > self.limit {
            text = format!(
                "\n[gantry: log truncated: this job's log exceeded the {}-byte limit]\n",
                self.limit
            );
            log.truncated = true;
        }
        let offset = log.total;
        log.pending.extend_from_slice(text.as_bytes());
        log.total += text.len() as u64;
        if log.pending.len() >= CHUNK {
            write(&app.db, job, log);
        }
        drop(jobs);
        let _ = app.events.send(Event::Log {
            job_id: job,
            offset,
            text,
        });
    }

    /// Writes everything buffered.
    pub fn flush_all(&self, db: &Db) {
        let mut jobs = self.lock();
        for (id, log) in jobs.iter_mut() {
            write(db, *id, log);
        }
    }

    /// Writes `job`'s buffer and forgets the job (it ended).
    pub fn finish(&self, db: &Db, job: i64) {
        let mut jobs = self.lock();
        if let Some(mut log) = jobs.remove(&job) {
            write(db, job, &mut log);
        }
    }

    /// `job`'s log from `offset`: what is stored plus what is buffered (consistent: no write
    /// happens in between).
    pub fn read(&self, db: &Db, job: i64, offset: u64) -> Result<Vec<u8>, super::db::DbError> {
        let jobs = self.lock();
        let mut out = db.read_log(job, offset)?;
        if let Some(log) = jobs.get(&job) {
            let skip = offset.saturating_sub(log.flushed) as usize;
            out.extend_from_slice(log.pending.get(skip..).unwrap_or(&[]));
        }
        Ok(out)
    }
}

fn write(db: &Db, job: i64, log: &mut JobLog) {
    if log.pending.is_empty() {
        return;
    }
    match db.append_log(job, log.flushed, &log.pending, log.truncated) {
        Ok(()) => {
            log.flushed = log.total;
            log.pending.clear();
        }
        Err(e) => tracing::error!(job, "cannot store log: {e}"),
    }
}

/// Writes buffered logs every 250 ms.
pub async fn flusher(app: Arc<App>) {
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        app.logs.flush_all(&app.db);
    }
}
