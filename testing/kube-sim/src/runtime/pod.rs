//! A pod's life: one supervisor task per pod runs init containers in order, then app containers
//! under the restart policy with crash back-off, and sends a status event whenever what
//! Kubernetes would report changes; deletion stops and reaps it. Sandbox in `infra.rs`, one
//! container start in `start.rs`, probes in `health.rs`.

use super::env;
use super::labels;
use super::state::{Ctr, Live, PodEntry, State, backoff};
use super::status::{pod_status, restart_policy, restarts};
use super::{Runtime, RuntimeError, RuntimeEvent, clock};
use bollard::query_parameters::StopContainerOptionsBuilder;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the supervisor looks at the containers.
const TICK: Duration = Duration::from_millis(400);

/// Init or app container list.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Which {
    Init,
    App,
}

pub(crate) fn list(live: &mut Live, w: Which) -> &mut Vec<Ctr> {
    match w {
        Which::Init => &mut live.init,
        Which::App => &mut live.containers,
    }
}

impl Runtime {
    /// See [`Runtime::start_pod`].
    pub(crate) async fn start_pod_impl(&self, pod: Value) -> Result<(), RuntimeError> {
        let s = |p: &str| env::str_at(&pod, p).map(str::to_string);
        let (Some(name), Some(uid)) = (s("/metadata/name"), s("/metadata/uid")) else {
            return Err(RuntimeError::BadRequest(
                "pod without metadata.name or metadata.uid".into(),
            ));
        };
        let namespace = s("/metadata/namespace").unwrap_or_else(|| "default".into());
        let existing = self.pod_entry(&namespace, &name);
        if let Some(e) = existing {
            if e.uid == uid {
                return Ok(());
            }
            self.delete_pod_impl(&namespace, &name, Duration::ZERO)
                .await;
        }
        let specs = |field: &str| -> Vec<Ctr> {
            pod.pointer(&format!("/spec/{field}"))
                .and_then(|c| c.as_array())
                .into_iter()
                .flatten()
                .map(Ctr::new)
                .collect()
        };
        let live = Live {
            init: specs("initContainers"),
            containers: specs("containers"),
            initialized: specs("initContainers").is_empty(),
            ..Default::default()
        };
        if live.containers.is_empty() {
            return Err(RuntimeError::BadRequest(format!(
                "pod {namespace}/{name} has no containers"
            )));
        }
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let entry = Arc::new(PodEntry {
            namespace: namespace.clone(),
            name: name.clone(),
            uid,
            pod,
            live: std::sync::Mutex::new(live),
            stop,
        });
        if let Ok(mut pods) = self.inner.pods.lock() {
            pods.insert((namespace, name), entry.clone());
        }
        let rt = self.clone();
        tokio::spawn(async move { rt.supervise(entry, stop_rx).await });
        Ok(())
    }

    /// The live entry of a pod.
    pub(crate) fn pod_entry(&self, namespace: &str, name: &str) -> Option<Arc<PodEntry>> {
        self.inner
            .pods
            .lock()
            .ok()?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// `kube-sim-<instance>-<namespace>-<pod>-<uid prefix>`: unique across instances.
    pub(crate) fn pod_prefix(&self, e: &PodEntry) -> String {
        format!(
            "kube-sim-{}-{}-{}-{}",
            labels::safe(&self.inner.config.instance),
            labels::safe(&e.namespace),
            labels::safe(&e.name),
            labels::short(&e.uid)
        )
    }

    /// Sends a Kubernetes Event about the pod.
    pub(crate) fn event(&self, e: &PodEntry, warning: bool, reason: &str, message: String) {
        let _ = self.inner.config.events.send(RuntimeEvent::PodEvent {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            uid: e.uid.clone(),
            type_: if warning { "Warning" } else { "Normal" }.into(),
            reason: reason.into(),
            message,
        });
    }

    /// Recomputes the status and sends it when it changed.
    fn publish(&self, e: &PodEntry) {
        let status = {
            let Ok(mut live) = e.live.lock() else { return };
            let status = pod_status(&mut live, &e.pod, &self.inner.config.api_host);
            if live.last_sent.as_ref() == Some(&status) {
                return;
            }
            live.last_sent = Some(status.clone());
            status
        };
        let _ = self.inner.config.events.send(RuntimeEvent::PodStatus {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            uid: e.uid.clone(),
            status,
        });
    }

    async fn supervise(self, e: Arc<PodEntry>, mut stop: tokio::sync::watch::Receiver<bool>) {
        if let Ok(mut live) = e.live.lock() {
            live.start_time = Some(clock::now());
        }
        self.event(
            &e,
            false,
            "Scheduled",
            format!(
                "Successfully assigned {}/{} to kube-sim",
                e.namespace, e.name
            ),
        );
        self.publish(&e);
        let setup = tokio::select! {
            r = self.setup_infra(&e) => r,
            _ = stop.changed() => return,
        };
        if let Err(err) = setup {
            self.event(&e, true, "FailedCreatePodSandBox", err.to_string());
            if let Ok(mut live) = e.live.lock() {
                live.failed = Some(("FailedCreatePodSandBox".into(), err.to_string()));
            }
            self.publish(&e);
            return;
        }
        self.publish(&e);
        loop {
            if *stop.borrow() {
                return;
            }
            self.step(&e).await;
            self.publish(&e);
            let done = e
                .live
                .lock()
                .map(|l| {
                    matches!(
                        super::status::phase(&l, restart_policy(&e.pod)),
                        "Succeeded" | "Failed"
                    )
                })
                .unwrap_or(true);
            if done {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One supervision round: init containers in order, then app containers and probes.
    async fn step(&self, e: &PodEntry) {
        let initialized = e.live.lock().map(|l| l.initialized).unwrap_or(false);
        if !initialized {
            let n = e.live.lock().map(|l| l.init.len()).unwrap_or(0);
            for i in 0..n {
                self.drive(e, Which::Init, i).await;
                let (done, ok) = e
                    .live
                    .lock()
                    .map(|l| match &l.init[i].state {
                        State::Terminated { exit_code, .. } => (true, *exit_code == 0),
                        _ => (false, false),
                    })
                    .unwrap_or((false, false));
                if !(done && ok) {
                    return;
                }
            }
            if let Ok(mut l) = e.live.lock() {
                l.initialized = true;
            }
        }
        let n = e.live.lock().map(|l| l.containers.len()).unwrap_or(0);
        for i in 0..n {
            self.drive(e, Which::App, i).await;
            self.probe(e, i).await;
        }
    }

    /// Moves one container forward: start when due, observe when running, restart per policy.
    async fn drive(&self, e: &PodEntry, w: Which, i: usize) {
        let mut backing_off = None;
        let (state, due, id) = {
            let Ok(mut live) = e.live.lock() else { return };
            let c = &mut list(&mut live, w)[i];
            // ErrImagePull turns into ImagePullBackOff while waiting for the next attempt.
            if let (State::Waiting { reason, .. }, Some(t)) = (&c.state, c.pull_failed_at)
                && reason == "ErrImagePull"
                && t.elapsed() > Duration::from_secs(2)
            {
                c.state = State::Waiting {
                    reason: "ImagePullBackOff".into(),
                    message: format!("Back-off pulling image \"{}\"", c.image),
                };
                backing_off = Some(c.image.clone());
            }
            let due = c.next_try.is_none_or(|t| Instant::now() >= t);
            (c.state.clone(), due, c.id.clone())
        };
        if let Some(image) = backing_off {
            self.event(
                e,
                false,
                "BackOff",
                format!("Back-off pulling image \"{image}\""),
            );
        }
        match state {
            State::Running { .. } => {
                let Some(id) = id else { return };
                let Ok(info) = self.inner.docker.inspect_container(&id, None).await else {
                    return;
                };
                let st = info.state.unwrap_or_default();
                if st.running == Some(true) {
                    return;
                }
                let code = st.exit_code.unwrap_or(-1);
                let reason = if st.oom_killed == Some(true) {
                    "OOMKilled"
                } else if code == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                let terminated = State::Terminated {
                    exit_code: code,
                    reason: reason.into(),
                    started_at: st
                        .started_at
                        .as_deref()
                        .map(clock::trim_docker)
                        .unwrap_or_default(),
                    finished_at: st
                        .finished_at
                        .as_deref()
                        .map(clock::trim_docker)
                        .unwrap_or_default(),
                    container_id: id.clone(),
                };
                self.exited(e, w, i, terminated);
            }
            State::Terminated { .. } => {}
            State::Waiting { .. } if due => {
                // Failures are recorded in the container's state and as events.
                let _ = self.start_container(e, w, i).await;
            }
            State::Waiting { .. } => {}
        }
    }

    /// Records that a container's process ended: terminated for good, or waiting in
    /// CrashLoopBackOff for its restart, as the (init) restart policy says.
    pub(crate) fn exited(&self, e: &PodEntry, w: Which, i: usize, terminated: State) {
        let State::Terminated { exit_code, .. } = terminated else {
            return;
        };
        let policy = restart_policy(&e.pod);
        // Init containers restart on failure unless the policy is Never.
        let policy = match (w, policy) {
            (Which::Init, "Never") => "Never",
            (Which::Init, _) => "OnFailure",
            (_, p) => p,
        };
        let again = restarts(policy, exit_code);
        if let Ok(mut live) = e.live.lock() {
            let c = &mut list(&mut live, w)[i];
            c.ready = false;
            c.readiness = Default::default();
            c.liveness = Default::default();
            c.startup = Default::default();
            c.startup_done = false;
            if again {
                c.failures += 1;
                let delay = backoff(c.failures);
                c.next_try = Some(Instant::now() + delay);
                c.last_state = Some(terminated);
                c.state = State::Waiting {
                    reason: "CrashLoopBackOff".into(),
                    message: format!(
                        "back-off {}s restarting failed container={} pod={}_{}({})",
                        delay.as_secs(),
                        c.name,
                        e.name,
                        e.namespace,
                        e.uid
                    ),
                };
            } else {
                c.state = terminated;
            }
        }
        if again {
            self.event(
                e,
                true,
                "BackOff",
                "Back-off restarting failed container".into(),
            );
        }
    }

    /// See [`Runtime::delete_pod`].
    pub(crate) async fn delete_pod_impl(&self, namespace: &str, name: &str, grace: Duration) {
        let key = (namespace.to_string(), name.to_string());
        let Some(e) = self.inner.pods.lock().ok().and_then(|mut p| p.remove(&key)) else {
            return;
        };
        let _ = e.stop.send(true);
        let ids = e
            .live
            .lock()
            .map(|l| {
                let mut ids = Vec::new();
                for c in l.init.iter().chain(l.containers.iter()) {
                    let running = matches!(c.state, State::Running { .. });
                    ids.extend(c.id.clone().map(|id| (id, running, c.name.clone())));
                    ids.extend(c.previous.clone().map(|id| (id, false, c.name.clone())));
                }
                ids
            })
            .unwrap_or_default();
        let secs = i32::try_from(grace.as_secs()).unwrap_or(i32::MAX);
        let stops = ids.iter().map(|(id, running, cname)| {
            if *running {
                self.event(&e, false, "Killing", format!("Stopping container {cname}"));
            }
            let opts = StopContainerOptionsBuilder::new().t(secs).build();
            async move {
                let _ = self.inner.docker.stop_container(id, Some(opts)).await;
                self.remove_container(id).await;
            }
        });
        futures_util::future::join_all(stops).await;
        self.reap_pod(&e.uid).await;
        self.pod_gone(namespace, name).await;
    }
}

/// The pod's terminationGracePeriodSeconds (default 30).
pub(crate) fn grace_secs(pod: &Value) -> i32 {
    pod.pointer("/spec/terminationGracePeriodSeconds")
        .and_then(|g| g.as_i64())
        .and_then(|g| i32::try_from(g).ok())
        .unwrap_or(30)
}
