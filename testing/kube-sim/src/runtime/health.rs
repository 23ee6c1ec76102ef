//! Running a pod's probes when due (startup gates readiness and liveness) and applying the
//! results: the Ready flag, Unhealthy events, and a kill on liveness/startup failure.

use super::pod::grace_secs;
use super::state::{PodEntry, State};
use super::{Runtime, probes};
use bollard::query_parameters::StopContainerOptionsBuilder;
use std::time::Instant;

impl Runtime {
    /// Runs the container's readiness and liveness probes when due.
    pub(crate) async fn probe(&self, e: &PodEntry, i: usize) {
        let (spec_json, id, infra, ip, mut rd, mut lv, mut su, startup_done, started) = {
            let Ok(live) = e.live.lock() else { return };
            let c = &live.containers[i];
            if !matches!(c.state, State::Running { .. }) {
                return;
            }
            (
                c.spec.clone(),
                c.id.clone().unwrap_or_default(),
                live.infra.clone().unwrap_or_default(),
                live.ip.clone(),
                c.readiness.clone(),
                c.liveness.clone(),
                c.startup.clone(),
                c.startup_done,
                c.started_instant.unwrap_or_else(Instant::now),
            )
        };
        let target = probes::Target {
            docker: &self.inner.docker,
            infra: &infra,
            id: &id,
            container: &spec_json,
            pod_ip: &ip,
        };
        let (mut ready, mut dead, mut now_started, mut which) = (None, false, false, "Liveness");
        if !startup_done {
            if let Some(p) = spec_json.get("startupProbe") {
                match probes::tick(&target, p, &mut su, started).await {
                    Some(true) => now_started = true,
                    Some(false) => (dead, which) = (true, "Startup"),
                    None => {}
                }
            }
        } else {
            if let Some(p) = spec_json.get("readinessProbe") {
                ready = probes::tick(&target, p, &mut rd, started).await;
            }
            if let Some(p) = spec_json.get("livenessProbe") {
                dead = probes::tick(&target, p, &mut lv, started).await == Some(false);
            }
        }
        let name = spec_json
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let mut unready = false;
        if let Ok(mut live) = e.live.lock() {
            let c = &mut live.containers[i];
            if c.id.as_deref() != Some(id.as_str()) {
                return;
            }
            c.readiness = rd;
            c.liveness = lv;
            c.startup = su;
            if now_started {
                c.startup_done = true;
                c.ready = c.spec.get("readinessProbe").is_none();
            }
            if let Some(r) = ready {
                unready = c.ready && !r;
                c.ready = r;
            }
        }
        if unready {
            self.event(
                e,
                true,
                "Unhealthy",
                format!("Readiness probe failed for container {name}"),
            );
        }
        if dead {
            self.event(
                e,
                true,
                "Unhealthy",
                format!("{which} probe failed for container {name}"),
            );
            self.event(
                e,
                false,
                "Killing",
                format!(
                    "Container {name} failed {} probe, will be restarted",
                    which.to_ascii_lowercase()
                ),
            );
            // In the background: the grace period must not stall the pod's other containers.
            let opts = StopContainerOptionsBuilder::new()
                .t(grace_secs(&e.pod))
                .build();
            let docker = self.inner.docker.clone();
            tokio::spawn(async move { docker.stop_container(&id, Some(opts)).await });
        }
    }
}
