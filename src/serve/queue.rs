//! The queue: pipelines wait in arrival order and start when both the global and their
//! repository's concurrency allow. A new commit on a ref supersedes older pipelines of that
//! ref (GitLab's rule, never for the same commit: waiting ones are canceled; running ones are canceled only while no
//! non-`interruptible` job has started). Cancel goes through `run`'s interrupt channel: the
//! first stops jobs but still runs `when: always` ones, the second aborts those too.

use super::App;
use super::db::PipelineRow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// A pipeline waiting to start.
#[derive(Clone, Debug)]
struct Waiting {
    id: i64,
    repository: String,
    git_ref: String,
    sha: String,
    kind: String,
    since: Instant,
}

/// A running pipeline's handles.
#[derive(Debug)]
struct Running {
    repository: String,
    git_ref: String,
    sha: String,
    kind: String,
    interrupts: mpsc::UnboundedSender<()>,
    sent: u8,
    uninterruptible: Arc<AtomicBool>,
    reason: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Waiting>,
    running: HashMap<i64, Running>,
}

/// Waiting and running pipelines.
#[derive(Debug, Default)]
pub struct Queue {
    state: Mutex<State>,
    pub(super) wake: Notify,
    idle: Notify,
}

/// A pipeline the dispatcher starts.
pub struct Start {
    /// Pipeline id.
    pub id: i64,
    /// Its interrupt channel (for `run`).
    pub interrupts: mpsc::UnboundedReceiver<()>,
    /// Set once a job that is not `interruptible` starts.
    pub uninterruptible: Arc<AtomicBool>,
    /// How long it waited.
    pub waited: Duration,
}

/// What a cancel request did.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancel {
    /// It was waiting: removed from the queue.
    Dequeued,
    /// It runs: interrupted (1: stop jobs, `when: always` still run; 2: abort).
    Interrupted(u8),
    /// Not waiting or running.
    NotActive,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Pipelines waiting.
    pub fn depth(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Pipelines running.
    pub fn running(&self) -> usize {
        self.lock().running.len()
    }

    /// Appends a pending pipeline and wakes the dispatcher.
    pub fn push(&self, row: &PipelineRow) {
        self.lock().waiting.push_back(Waiting {
            id: row.id,
            repository: row.new.repository.clone(),
            git_ref: row.new.git_ref.clone(),
            sha: row.new.sha.clone(),
            kind: row.new.kind.clone(),
            since: Instant::now(),
        });
        self.wake.notify_one();
    }

    /// Older pipelines of `row`'s repository and ref with another commit: waiting ones are
    /// removed (returned first, for the caller to mark canceled), running ones without a
    /// started non-interruptible job are interrupted (returned second). Pipelines of the same
    /// commit are left alone, as GitLab's auto-cancel does: only a newer commit supersedes.
    pub fn supersede(&self, row: &PipelineRow) -> (Vec<i64>, Vec<i64>) {
        let mut s = self.lock();
        let same = |repo: &str, r: &str, kind: &str, sha: &str| {
            repo == row.new.repository
                && r == row.new.git_ref
                && kind == row.new.kind
                && sha != row.new.sha
        };
        let mut removed = Vec::new();
        s.waiting.retain(|w| {
            let old = w.id < row.id && same(&w.repository, &w.git_ref, &w.kind, &w.sha);
            if old {
                removed.push(w.id);
            }
            !old
        });
        let mut interrupted = Vec::new();
        for (id, r) in s.running.iter_mut() {
            if *id < row.id
                && same(&r.repository, &r.git_ref, &r.kind, &r.sha)
                && r.sent == 0
                && !r.uninterruptible.load(Ordering::SeqCst)
            {
                r.sent = 1;
                r.reason = Some(format!("superseded by pipeline #{}", row.id));
                let _ = r.interrupts.send(());
                interrupted.push(*id);
            }
        }
        (removed, interrupted)
    }

    /// Cancels pipeline `id` (a second cancel of a running one aborts its `when: always` jobs).
    pub fn cancel(&self, id: i64, reason: &str) -> Cancel {
        let mut s = self.lock();
        if let Some(pos) = s.waiting.iter().position(|w| w.id == id) {
            s.waiting.remove(pos);
            return Cancel::Dequeued;
        }
        match s.running.get_mut(&id) {
            Some(r) if r.sent < 2 => {
                r.sent += 1;
                r.reason.get_or_insert_with(|| reason.to_string());
                let _ = r.interrupts.send(());
                Cancel::Interrupted(r.sent)
            }
            Some(r) => Cancel::Interrupted(r.sent),
            None => Cancel::NotActive,
        }
    }

    /// Whether a cancel reached running pipeline `id`, and why.
    pub fn cancel_reason(&self, id: i64) -> Option<String> {
        self.lock()
            .running
            .get(&id)
            .filter(|r| r.sent > 0)
            .map(|r| r.reason.clone().unwrap_or_else(|| "canceled".into()))
    }

    /// Interrupts every running pipeline once more (shutdown).
    pub fn interrupt_all(&self, reason: &str) {
        let ids: Vec<i64> = self.lock().running.keys().copied().collect();
        for id in ids {
            self.cancel(id, reason);
        }
    }

    /// Takes the waiting pipelines that may start now, in order, marking them running.
    pub(super) fn take_startable(&self, app: &App) -> Vec<Start> {
        let mut s = self.lock();
        let mut started = Vec::new();
        let mut i = 0;
        while i < s.waiting.len() && s.running.len() < app.config.concurrency {
            let w = &s.waiting[i];
            let limit = app.config.repo(&w.repository).map_or(1, |r| r.concurrency);
            let busy = s
                .running
                .values()
                .filter(|r| r.repository == w.repository)
                .count();
            if busy >= limit {
                i += 1;
                continue;
            }
            let Some(w) = s.waiting.remove(i) else { break };
            let (tx, rx) = mpsc::unbounded_channel();
            let flag = Arc::new(AtomicBool::new(false));
            s.running.insert(
                w.id,
                Running {
                    repository: w.repository,
                    git_ref: w.git_ref,
                    sha: w.sha,
                    kind: w.kind,
                    interrupts: tx,
                    sent: 0,
                    uninterruptible: flag.clone(),
                    reason: None,
                },
            );
            started.push(Start {
                id: w.id,
                interrupts: rx,
                uninterruptible: flag,
                waited: w.since.elapsed(),
            });
        }
        started
    }

    /// A pipeline has ended: frees its slot.
    pub fn finished(&self, id: i64) {
        let empty = {
            let mut s = self.lock();
            s.running.remove(&id);
            s.running.is_empty()
        };
        self.wake.notify_one();
        if empty {
            self.idle.notify_waiters();
        }
    }

    /// Waits until nothing runs, at most `limit`; whether that happened.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let idle = self.idle.notified();
            if self.running() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.running() == 0;
            }
        }
    }
}
