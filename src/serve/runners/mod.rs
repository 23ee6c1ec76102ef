//! `gantry serve` as a coordinator: repositories with `executor = "runners"` hand their jobs to
//! runners on other machines (`gantry runner`, or anything speaking GitLab's runner API), which
//! register with a token the operator creates, long-poll for jobs, stream traces, report their
//! state and move artifacts through the server — GitLab's `lib/api/ci/runner.rb` protocol.
//!
//! The pipeline still runs through `run::run`: each job's attempt is a [`RunnersExecutor`]
//! call that queues the job here and waits for a runner's trace and final state, so needs,
//! retries, `allow_failure`, artifacts passed between jobs and the recorded statuses and logs
//! are `run`'s, exactly as for the server's own executors. An uploaded archive is unpacked into
//! the job's workspace on the server, where `run` collects the job's `artifacts:paths` as
//! usual; a dependency's archive is packed from the pipeline's artifact store.
//!
//! Tokens: a runner's token is kept only as its hash (the `runners` table); a job token lives
//! in memory for the attempt it belongs to and authenticates that attempt's updates, trace,
//! artifacts and git clone (HTTP basic auth, never in a URL).

pub mod api;
mod executor;
mod files;
pub mod git;
mod registry;

pub use executor::{Hand, RunnersExecutor, Served};
pub use registry::{Runner, RunnerError};

use super::auth;
use crate::executor::Exit;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::{Notify, mpsc};

/// What a runner tells the attempt waiting for it.
#[derive(Debug)]
pub enum Event {
    /// A runner took the job.
    Picked {
        /// Its id.
        runner: i64,
        /// Its description.
        description: String,
    },
    /// The runner said it is still at work (a `running` update).
    Contact,
    /// More of the trace.
    Trace(Vec<u8>),
    /// The runner's final state.
    Done(Exit),
}

/// A job waiting for a runner.
pub struct Pending {
    /// The job's id (the server's job row).
    pub job: i64,
    /// Its pipeline.
    pub pipeline: i64,
    /// Its repository.
    pub repository: String,
    /// Its name.
    pub name: String,
    /// Its `tags`: a runner must have all of them.
    pub tags: Vec<String>,
    /// GitLab's job payload, without the token and the clone URL (filled at pickup).
    pub payload: Value,
    /// The attempt's workspace on the server (uploaded artifacts are unpacked there).
    pub workspace: PathBuf,
    /// Where the attempt listens.
    pub events: mpsc::UnboundedSender<Event>,
}

/// A job a runner is running.
pub struct Running {
    /// Hash of the job token.
    token_hash: String,
    /// Its pipeline.
    pub pipeline: i64,
    /// Its repository.
    pub repository: String,
    /// The runner's id.
    pub runner: i64,
    /// Bytes of trace received.
    trace: u64,
    /// Canceled on the server: the runner is told `Job-Status: canceled`.
    canceled: bool,
    /// The attempt's workspace on the server.
    pub workspace: PathBuf,
    events: mpsc::UnboundedSender<Event>,
}

/// A job that ended while its runner may still talk about it.
struct Ended {
    token_hash: String,
    status: &'static str,
}

#[derive(Default)]
struct State {
    pending: Vec<Pending>,
    running: HashMap<i64, Running>,
    ended: HashMap<i64, Ended>,
}

/// Most ended jobs remembered for their runners' late updates; beyond it the oldest ids go
/// (a forgotten job's runner gets 403 without `Job-Status`, which also stops it).
const ENDED_KEPT: usize = 4096;

impl State {
    fn end(&mut self, job: i64, token_hash: String, status: &'static str) {
        if self.ended.len() >= ENDED_KEPT {
            let mut ids: Vec<i64> = self.ended.keys().copied().collect();
            ids.sort_unstable();
            for id in &ids[..ids.len() / 2] {
                self.ended.remove(id);
            }
        }
        self.ended.insert(job, Ended { token_hash, status });
    }
}

/// The jobs waiting for and running on runners; [`App::runners`](super::App).
#[derive(Default)]
pub struct Coordinator {
    state: Mutex<State>,
    /// Woken when a job is queued, so a long-polling runner takes it at once.
    wake: Notify,
}

/// The answer to a runner about a job it holds: whether the job goes on.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    /// The job runs: GitLab's `Job-Status: running`.
    Running,
    /// The server canceled it: `Job-Status: canceled`.
    Canceled,
    /// It is over (this status): 403 with `Job-Status`.
    Over(&'static str),
    /// The token is not this job's.
    Forbidden,
}

impl Standing {
    /// `Job-Status`.
    pub fn header(&self) -> &'static str {
        match self {
            Standing::Running => "running",
            Standing::Canceled => "canceled",
            Standing::Over(s) => s,
            Standing::Forbidden => "",
        }
    }
}

/// The result of appending to a trace.
#[derive(Debug, PartialEq, Eq)]
pub enum Appended {
    /// Appended; the trace's size now.
    Ok(u64, Standing),
    /// The range does not start where the trace ends (its size).
    Gap(u64),
    /// Not a running job of this token.
    Refused(Standing),
}

impl Coordinator {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `p` for the runners.
    pub fn push(&self, p: Pending) {
        let mut s = self.lock();
        s.pending.retain(|q| q.job != p.job);
        s.running.remove(&p.job);
        s.ended.remove(&p.job);
        s.pending.push(p);
        drop(s);
        self.wake.notify_waiters();
    }

    /// A future resolving at the next [`push`](Self::push): created before looking, so no
    /// push between the look and the wait is missed.
    pub fn queued(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The oldest pending job `runner` may run (all of the job's tags among the runner's;
    /// an untagged job only for runners with `run_untagged`), now running with a new job
    /// token: (job id, token, payload).
    pub fn take(
        &self,
        runner: &Runner,
    ) -> Result<Option<(i64, String, Value)>, auth::NoRandomness> {
        let mut s = self.lock();
        let Some(i) = s.pending.iter().position(|p| runner.fits(&p.tags)) else {
            return Ok(None);
        };
        let token = auth::random_secret("glcbt-")?;
        let p = s.pending.remove(i);
        let _ = p.events.send(Event::Picked {
            runner: runner.id,
            description: runner.description.clone(),
        });
        s.running.insert(
            p.job,
            Running {
                token_hash: auth::hash(&token),
                pipeline: p.pipeline,
                repository: p.repository,
                runner: runner.id,
                trace: 0,
                canceled: false,
                workspace: p.workspace,
                events: p.events,
            },
        );
        Ok(Some((p.job, token, p.payload)))
    }

    /// The running job whose token is `token`: (job id, pipeline, repository, workspace).
    pub fn by_token(&self, token: &str) -> Option<(i64, i64, String, PathBuf)> {
        let h = auth::hash(token);
        let s = self.lock();
        s.running
            .iter()
            .find(|(_, r)| auth::constant_time_eq(r.token_hash.as_bytes(), h.as_bytes()))
            .map(|(id, r)| (*id, r.pipeline, r.repository.clone(), r.workspace.clone()))
    }

    /// How job `job` stands for the holder of `token`.
    fn standing(s: &State, job: i64, token: &str) -> Standing {
        let h = auth::hash(token);
        let same = |stored: &str| auth::constant_time_eq(stored.as_bytes(), h.as_bytes());
        if let Some(r) = s.running.get(&job).filter(|r| same(&r.token_hash)) {
            return if r.canceled {
                Standing::Canceled
            } else {
                Standing::Running
            };
        }
        match s.ended.get(&job).filter(|e| same(&e.token_hash)) {
            Some(e) => Standing::Over(e.status),
            None => Standing::Forbidden,
        }
    }

    /// A runner's state update (`PUT /api/v4/jobs/:id`): `None` while running, else how it
    /// ended. `Ok` with the job's `Job-Status` when accepted, else how it stands.
    pub fn update(
        &self,
        job: i64,
        token: &str,
        end: Option<(&'static str, Exit)>,
    ) -> Result<&'static str, Standing> {
        let mut s = self.lock();
        let standing = Self::standing(&s, job, token);
        if !matches!(standing, Standing::Running | Standing::Canceled) {
            return Err(standing);
        }
        let Some((status, exit)) = end else {
            if let Some(r) = s.running.get(&job) {
                let _ = r.events.send(Event::Contact);
            }
            return Ok(standing.header());
        };
        let status = if standing == Standing::Canceled {
            "canceled"
        } else {
            status
        };
        if let Some(r) = s.running.remove(&job) {
            let _ = r.events.send(Event::Done(exit));
            s.end(job, r.token_hash, status);
        }
        Ok(status)
    }

    /// Appends `data` at byte `start` of job `job`'s trace.
    pub fn trace(&self, job: i64, token: &str, start: u64, data: Vec<u8>) -> Appended {
        let mut s = self.lock();
        let standing = Self::standing(&s, job, token);
        if !matches!(standing, Standing::Running | Standing::Canceled) {
            return Appended::Refused(standing);
        }
        let Some(r) = s.running.get_mut(&job) else {
            return Appended::Refused(Standing::Forbidden);
        };
        if start != r.trace {
            return Appended::Gap(r.trace);
        }
        r.trace += data.len() as u64;
        let size = r.trace;
        let _ = r.events.send(Event::Trace(data));
        Appended::Ok(size, standing)
    }

    /// The server canceled job `job`: a queued one leaves the queue (`true`), a running one
    /// is told so at its runner's next update.
    pub fn cancel(&self, job: i64) -> bool {
        let mut s = self.lock();
        let before = s.pending.len();
        s.pending.retain(|p| p.job != job);
        if s.pending.len() != before {
            return true;
        }
        if let Some(r) = s.running.get_mut(&job) {
            r.canceled = true;
        }
        false
    }

    /// The attempt of job `job` is over on the server's side (it ended, was canceled, or its
    /// runner vanished): later updates of its runner are answered with `status`.
    pub fn forget(&self, job: i64, status: &'static str) {
        let mut s = self.lock();
        s.pending.retain(|p| p.job != job);
        if let Some(r) = s.running.remove(&job) {
            s.end(job, r.token_hash, status);
        }
    }
}
