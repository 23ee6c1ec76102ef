//! Which job may start, which is skipped, and why — GitLab's job semantics as a pure state
//! machine (no processes, no clock), so every rule is unit-tested on its own.
//!
//! A job is decided once everything it waits for has finished: `on_success` runs when nothing it
//! depends on failed (allowed failures do not count), `on_failure` only when something did,
//! `always` in any case; `manual` waits for `--manual NAME`, and a blocking manual job that is not
//! started stops what comes after it. Cancelling (first Ctrl-C) cancels every job still pending
//! except `when: always` ones; aborting (second Ctrl-C) cancels those too.

use crate::model::rules::AllowFailure;
use crate::plan::Plan;

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its predecessors or a slot.
    Pending,
    /// Started.
    Running,
    /// Finished with exit code 0.
    Success,
    /// Finished with an error; `allowed` when `allow_failure` covers it.
    Failed {
        /// Whether the failure is allowed.
        allowed: bool,
    },
    /// Not run, with the reason.
    Skipped(String),
    /// A manual job nobody started.
    Manual,
    /// Stopped or never started because the pipeline was cancelled.
    Canceled,
}

impl Status {
    /// Finished one way or another.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
    }

    /// Short lower-case name (`success`, `failed`, …).
    pub fn label(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed { allowed: false } => "failed",
            Status::Failed { allowed: true } => "failed (allowed)",
            Status::Skipped(_) => "skipped",
            Status::Manual => "manual",
            Status::Canceled => "canceled",
        }
    }
}

/// What to do with a job that has just become ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// Start it now.
    Now,
    /// Start it after this many seconds (`when: delayed`).
    After(u64),
}

#[derive(Clone, Debug)]
struct Node {
    name: String,
    when: &'static str,
    blocking_manual: bool,
    start_in: Option<u64>,
    waits_for: Vec<usize>,
    by_stage: bool,
}

/// The state of one pipeline run.
#[derive(Debug)]
pub struct Scheduler {
    nodes: Vec<Node>,
    status: Vec<Status>,
    manual: Vec<bool>,
    cancelled: bool,
    aborted: bool,
}

impl Scheduler {
    /// A scheduler for `plan`'s jobs; `manual` names the manual jobs to start.
    pub fn new(plan: &Plan, manual: &[String]) -> Scheduler {
        let index = |name: &str| plan.jobs.iter().position(|j| j.name == name);
        let nodes: Vec<Node> = plan
            .jobs
            .iter()
            .map(|j| Node {
                name: j.name.clone(),
                when: j.when,
                blocking_manual: j.when == "manual"
                    && !matches!(j.allow_failure, AllowFailure::Bool(true)),
                start_in: j.start_in,
                waits_for: j.waits_for.iter().filter_map(|w| index(w)).collect(),
                by_stage: j.needs.is_none(),
            })
            .collect();
        let selected = plan
            .jobs
            .iter()
            .map(|j| manual.iter().any(|m| *m == j.name || *m == j.job))
            .collect();
        Scheduler {
            status: vec![Status::Pending; nodes.len()],
            nodes,
            manual: selected,
            cancelled: false,
            aborted: false,
        }
    }

    /// The status of job `i`.
    pub fn status(&self, i: usize) -> &Status {
        &self.status[i]
    }

    /// Decides every pending job whose predecessors are done; returns the ones to start
    /// (already marked running). Skips cascade within one call.
    pub fn ready(&mut self) -> Vec<(usize, Start)> {
        let mut start = Vec::new();
        loop {
            let mut changed = false;
            for i in 0..self.nodes.len() {
                if self.status[i] != Status::Pending {
                    continue;
                }
                if !self.nodes[i]
                    .waits_for
                    .iter()
                    .all(|&p| self.status[p].is_terminal())
                {
                    continue;
                }
                let decision = self.decide(i);
                changed = true;
                match decision {
                    Some(status) => self.status[i] = status,
                    None => {
                        self.status[i] = Status::Running;
                        let delay = self.nodes[i]
                            .start_in
                            .filter(|_| self.nodes[i].when == "delayed");
                        start.push((i, delay.map_or(Start::Now, Start::After)));
                    }
                }
            }
            if !changed {
                return start;
            }
        }
    }

    /// `None` to run, or the status the job ends in without running.
    fn decide(&self, i: usize) -> Option<Status> {
        let node = &self.nodes[i];
        if self.aborted || (self.cancelled && node.when != "always") {
            return Some(Status::Canceled);
        }
        let preds = node.waits_for.iter().map(|&p| (p, &self.status[p]));
        let failed = preds
            .clone()
            .find(|(_, s)| matches!(s, Status::Failed { allowed: false }));
        let when = if node.when == "manual" && self.manual[i] {
            "on_success"
        } else {
            node.when
        };
        match when {
            "always" => None,
            "manual" => Some(Status::Manual),
            "on_failure" => match failed {
                Some(_) => None,
                None => Some(Status::Skipped("nothing it depends on failed".into())),
            },
            _ => {
                if let Some((p, _)) = failed {
                    return Some(Status::Skipped(format!("`{}` failed", self.nodes[p].name)));
                }
                let blocker = preds.clone().find(|(p, s)| match s {
                    Status::Manual => self.nodes[*p].blocking_manual || !node.by_stage,
                    Status::Canceled => true,
                    Status::Skipped(_) => !node.by_stage,
                    _ => false,
                });
                match blocker {
                    Some((p, Status::Manual)) => Some(Status::Skipped(format!(
                        "waits for manual job `{}` (start it with --manual)",
                        self.nodes[p].name
                    ))),
                    Some((p, Status::Canceled)) => Some(Status::Skipped(format!(
                        "`{}` was canceled",
                        self.nodes[p].name
                    ))),
                    Some((p, _)) => Some(Status::Skipped(format!(
                        "needed job `{}` did not run",
                        self.nodes[p].name
                    ))),
                    None => None,
                }
            }
        }
    }

    /// Records how a running job ended.
    pub fn finish(&mut self, i: usize, status: Status) {
        self.status[i] = status;
    }

    /// First interrupt: nothing new starts except `when: always` jobs.
    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    /// Second interrupt: nothing new starts at all.
    pub fn abort(&mut self) {
        self.cancelled = true;
        self.aborted = true;
    }

    /// Whether the run was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// True when every job has finished.
    pub fn is_done(&self) -> bool {
        self.status.iter().all(Status::is_terminal)
    }

    /// `success`, `failed` or `canceled` for the whole pipeline.
    pub fn outcome(&self) -> &'static str {
        if self
            .status
            .iter()
            .any(|s| matches!(s, Status::Failed { allowed: false }))
        {
            "failed"
        } else if self.cancelled {
            "canceled"
        } else {
            "success"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, when, waits_for, by_stage, blocking manual)
    fn sched(jobs: &[(&str, &'static str, &[usize], bool, bool)]) -> Scheduler {
        let nodes: Vec<Node> = jobs
            .iter()
            .map(|(n, w, preds, by_stage, blocking)| Node {
                name: n.to_string(),
                when: w,
                blocking_manual: *blocking,
                start_in: Some(5),
                waits_for: preds.to_vec(),
                by_stage: *by_stage,
            })
            .collect();
        Scheduler {
            status: vec![Status::Pending; nodes.len()],
            manual: vec![false; nodes.len()],
            nodes,
            cancelled: false,
            aborted: false,
        }
    }

    fn started(s: &mut Scheduler) -> Vec<usize> {
        s.ready().into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn needs_start_as_soon_as_their_needs_finish() {
        // 0: slow, 1: fast, 2 needs 1 only.
        let mut s = sched(&[
            ("slow", "on_success", &[], true, false),
            ("fast", "on_success", &[], true, false),
            ("after-fast", "on_success", &[1], false, false),
        ]);
        assert_eq!(started(&mut s), [0, 1]);
        s.finish(1, Status::Success);
        assert_eq!(
            started(&mut s),
            [2],
            "does not wait for the unrelated slow job"
        );
    }

    #[test]
    fn a_failure_skips_later_on_success_jobs_and_runs_on_failure_and_always() {
        let mut s = sched(&[
            ("build", "on_success", &[], true, false),
            ("test", "on_success", &[0], true, false),
            ("notify", "on_failure", &[0], true, false),
            ("cleanup", "always", &[0, 1, 2], true, false),
            ("deploy", "on_success", &[0, 1, 2], true, false),
        ]);
        assert_eq!(started(&mut s), [0]);
        s.finish(0, Status::Failed { allowed: false });
        assert_eq!(started(&mut s), [2], "on_failure runs");
        assert_eq!(s.status(1), &Status::Skipped("`build` failed".into()));
        s.finish(2, Status::Success);
        assert_eq!(started(&mut s), [3], "always runs after a failure");
        assert!(matches!(s.status(4), Status::Skipped(_)));
        s.finish(3, Status::Success);
        assert!(s.is_done());
        assert_eq!(s.outcome(), "failed");
    }

    #[test]
    fn allowed_failures_do_not_stop_the_pipeline() {
        let mut s = sched(&[
            ("lint", "on_success", &[], true, false),
            ("test", "on_success", &[0], true, false),
            ("notify", "on_failure", &[0], true, false),
        ]);
        started(&mut s);
        s.finish(0, Status::Failed { allowed: true });
        assert_eq!(started(&mut s), [1]);
        assert!(matches!(s.status(2), Status::Skipped(_)));
        s.finish(1, Status::Success);
        assert_eq!(s.outcome(), "success");
    }

    #[test]
    fn manual_jobs_wait_and_blocking_ones_stop_what_follows() {
        let mut s = sched(&[
            ("deploy", "manual", &[], true, true),
            ("after-stage", "on_success", &[0], true, false),
            ("optional", "manual", &[], true, false),
            ("after-optional", "on_success", &[2], true, false),
            ("needs-optional", "on_success", &[2], false, false),
        ]);
        assert_eq!(
            started(&mut s),
            [3],
            "only the job after the non-blocking manual job starts"
        );
        assert_eq!(s.status(0), &Status::Manual);
        assert!(matches!(s.status(1), Status::Skipped(r) if r.contains("--manual")));
        assert_eq!(
            s.status(3),
            &Status::Running,
            "a non-blocking manual job does not hold its stage"
        );
        assert!(
            matches!(s.status(4), Status::Skipped(_)),
            "a job that needs an unstarted manual job cannot run"
        );
        let mut t = sched(&[
            ("deploy", "manual", &[], true, true),
            ("smoke", "on_success", &[0], false, false),
        ]);
        t.manual[0] = true;
        assert_eq!(started(&mut t), [0]);
    }

    #[test]
    fn skipped_needs_skip_dependants_but_skipped_stages_do_not() {
        let mut s = sched(&[
            ("notify", "on_failure", &[], true, false),
            ("next-stage", "on_success", &[0], true, false),
            ("needs-notify", "on_success", &[0], false, false),
        ]);
        assert_eq!(started(&mut s), [1]);
        assert!(matches!(s.status(2), Status::Skipped(r) if r.contains("notify")));
    }

    #[test]
    fn cancel_keeps_always_jobs_and_abort_drops_them() {
        let mut s = sched(&[
            ("build", "on_success", &[], true, false),
            ("test", "on_success", &[0], true, false),
            ("cleanup", "always", &[0, 1], true, false),
        ]);
        assert_eq!(started(&mut s), [0]);
        s.cancel();
        s.finish(0, Status::Canceled);
        assert_eq!(started(&mut s), [2]);
        assert_eq!(s.status(1), &Status::Canceled);
        assert_eq!(s.outcome(), "canceled");

        let mut a = sched(&[
            ("build", "on_success", &[], true, false),
            ("cleanup", "always", &[0], true, false),
        ]);
        started(&mut a);
        a.abort();
        a.finish(0, Status::Canceled);
        assert_eq!(started(&mut a), Vec::<usize>::new());
        assert_eq!(a.status(1), &Status::Canceled);
    }

    #[test]
    fn delayed_jobs_start_after_their_delay() {
        let mut s = sched(&[("later", "delayed", &[], true, false)]);
        assert_eq!(s.ready(), [(0, Start::After(5))]);
    }
}
