//! What the runtime knows about a pod while it lives: its containers' Docker ids and states.
//! Shared between the pod's supervisor task and the API-facing calls (logs, exec, DNS).

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A pod the runtime runs.
pub struct PodEntry {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// uid (start_pod is idempotent by it).
    pub uid: String,
    /// The pod JSON as given to start_pod.
    pub pod: Value,
    /// Mutable state.
    pub live: Mutex<Live>,
    /// Set to true to stop the supervisor (deletion).
    pub stop: tokio::sync::watch::Sender<bool>,
}

/// The pod's current state.
#[derive(Default)]
pub struct Live {
    /// Infra container id.
    pub infra: Option<String>,
    /// The pod's IP on the namespace network.
    pub ip: String,
    /// When the pod started (RFC 3339).
    pub start_time: Option<String>,
    /// Init containers, run in order.
    pub init: Vec<Ctr>,
    /// App containers.
    pub containers: Vec<Ctr>,
    /// All init containers succeeded.
    pub initialized: bool,
    /// A fatal setup error (phase Failed with this reason/message).
    pub failed: Option<(String, String)>,
    /// Condition type → (status, lastTransitionTime).
    pub conditions: HashMap<String, (bool, String)>,
    /// The last status sent.
    pub last_sent: Option<Value>,
}

/// A container's state as Kubernetes reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    /// Not running: reason (ContainerCreating, ErrImagePull, CrashLoopBackOff …).
    Waiting {
        /// CamelCase reason.
        reason: String,
        /// Detail.
        message: String,
    },
    /// Running since.
    Running {
        /// RFC 3339.
        started_at: String,
    },
    /// Exited.
    Terminated {
        /// The process's exit code.
        exit_code: i64,
        /// Completed, Error or OOMKilled.
        reason: String,
        /// RFC 3339.
        started_at: String,
        /// RFC 3339.
        finished_at: String,
        /// Docker id.
        container_id: String,
    },
}

/// One container of the pod.
pub struct Ctr {
    /// The pod container's name.
    pub name: String,
    /// Its image reference.
    pub image: String,
    /// The container JSON from the pod spec.
    pub spec: Value,
    /// Current Docker container id.
    pub id: Option<String>,
    /// The previous instance's id (for `logs --previous`).
    pub previous: Option<String>,
    /// Restarts so far.
    pub restart_count: u32,
    /// Current state.
    pub state: State,
    /// The previous instance's terminated state.
    pub last_state: Option<State>,
    /// Readiness (probe or running).
    pub ready: bool,
    /// The image id Docker resolved.
    pub image_id: String,
    /// Do not try to (re)start before this.
    pub next_try: Option<Instant>,
    /// When the last image pull failed (ErrImagePull turns into ImagePullBackOff).
    pub pull_failed_at: Option<Instant>,
    /// Consecutive failed attempts (pull or crash), for the back-off.
    pub failures: u32,
    /// Readiness probe bookkeeping.
    pub readiness: ProbeState,
    /// Liveness probe bookkeeping.
    pub liveness: ProbeState,
    /// When the current instance started (probe initial delays count from here).
    pub started_instant: Option<Instant>,
}

/// Consecutive results and when the probe runs next.
#[derive(Default, Clone)]
pub struct ProbeState {
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// Next run.
    pub next: Option<Instant>,
}

impl Ctr {
    /// A container not created yet.
    pub fn new(spec: &Value) -> Ctr {
        Ctr {
            name: spec
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string(),
            image: spec
                .get("image")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string(),
            spec: spec.clone(),
            id: None,
            previous: None,
            restart_count: 0,
            state: State::Waiting {
                reason: "ContainerCreating".into(),
                message: String::new(),
            },
            last_state: None,
            ready: false,
            image_id: String::new(),
            next_try: None,
            pull_failed_at: None,
            failures: 0,
            readiness: ProbeState::default(),
            liveness: ProbeState::default(),
            started_instant: None,
        }
    }

    /// Whether an instance of this container ever ran.
    pub fn ever_ran(&self) -> bool {
        self.restart_count > 0
            || self.last_state.is_some()
            || !matches!(self.state, State::Waiting { .. })
    }
}

/// Kubelet's crash/pull back-off: 10s doubling to 5 minutes.
pub fn backoff(failures: u32) -> Duration {
    let secs = 10u64.saturating_mul(1u64 << failures.saturating_sub(1).min(5));
    Duration::from_secs(secs.min(300))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(super::backoff(1).as_secs(), 10);
        assert_eq!(super::backoff(2).as_secs(), 20);
        assert_eq!(super::backoff(9).as_secs(), 300);
    }
}
