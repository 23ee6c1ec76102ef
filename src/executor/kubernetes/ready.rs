//! Waiting for a job's pod by watching it (never polling): the job starts as soon as its
//! containers run, and a pod that cannot start — image not pullable, unschedulable, crashing —
//! fails it at once with the reason and the pod's events. Then, for services with a health-check
//! port, until their readiness probes pass.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use std::time::Duration;

/// Container waiting reasons that will not resolve by themselves.
const HOPELESS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// Why a job's pod, or one of its services, will not run: the kubelet's and scheduler's
/// verdicts in words a user can act on (the image, the container, the reason).
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// The pod ended before the job started.
    #[error("the pod ended before the job could start ({phase}{})", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    PodEnded {
        /// `Failed` or `Succeeded`.
        phase: String,
        /// The pod's message or reason.
        why: Option<String>,
    },
    /// No node can take the pod.
    #[error("the pod cannot be scheduled: {message}")]
    Unschedulable {
        /// The scheduler's message.
        message: String,
    },
    /// A container's image cannot be pulled.
    #[error("image `{image}` cannot be pulled ({reason}: {message})")]
    ImageUnpullable {
        /// The image.
        image: String,
        /// The kubelet's reason (`ErrImagePull`, …).
        reason: String,
        /// The kubelet's message.
        message: String,
    },
    /// A container cannot start for another hopeless reason.
    #[error("container {container} cannot start ({reason}: {message})")]
    ContainerCannotStart {
        /// The container.
        container: String,
        /// The kubelet's reason.
        reason: String,
        /// The kubelet's message.
        message: String,
    },
    /// A container ended before the job's script could run.
    #[error(
        "container {container} exited before the job could start (its image's entrypoint must keep running)"
    )]
    ContainerEndedEarly {
        /// The container.
        container: String,
    },
    /// A service container exited while gantry waited for it to be ready.
    #[error("container {container} exited")]
    ServiceExited {
        /// The container.
        container: String,
    },
    /// The pod was deleted while gantry waited for it.
    #[error("the pod was deleted before the job could start")]
    PodDeleted,
    /// The pod's watch stream ended.
    #[error("the watch on the pod ended")]
    WatchEnded,
    /// The pod gave no verdict in time.
    #[error("{late} within {seconds}s{}", last_error.as_deref().map(|e| format!(" (last watch error: {e})")).unwrap_or_default())]
    PodTimeout {
        /// What did not happen (`the pod did not start`, `not ready`).
        late: &'static str,
        /// The limit.
        seconds: u64,
        /// The watch's last error, if it had one.
        last_error: Option<String>,
    },
}

/// What the pod's status says: keep waiting, go, or give up (why).
pub fn verdict(pod: &Pod, image: &str) -> Option<Result<(), PodError>> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref().unwrap_or("");
    if matches!(phase, "Failed" | "Succeeded") {
        return Some(Err(PodError::PodEnded {
            phase: phase.to_string(),
            why: status.message.clone().or(status.reason.clone()),
        }));
    }
    for cond in status.conditions.iter().flatten() {
        if cond.type_ == "PodScheduled"
            && cond.status == "False"
            && cond.reason.as_deref() == Some("Unschedulable")
        {
            return Some(Err(PodError::Unschedulable {
                message: cond
                    .message
                    .as_deref()
                    .unwrap_or("no node fits")
                    .to_string(),
            }));
        }
    }
    let containers = status.container_statuses.as_deref().unwrap_or_default();
    for c in containers {
        if let Some(w) = c.state.as_ref().and_then(|s| s.waiting.as_ref())
            && let Some(reason) = w.reason.as_deref().filter(|r| HOPELESS.contains(r))
        {
            let message = w.message.clone().unwrap_or_default();
            let reason = reason.to_string();
            // A service container names its own image (from the pod's spec).
            let image = if c.name == super::pod::CONTAINER {
                image.to_string()
            } else {
                pod.spec
                    .iter()
                    .flat_map(|s| &s.containers)
                    .find(|s| s.name == c.name)
                    .and_then(|s| s.image.clone())
                    .unwrap_or_else(|| c.image.clone())
            };
            return Some(Err(if reason.contains("Image") {
                PodError::ImageUnpullable {
                    image,
                    reason,
                    message,
                }
            } else {
                PodError::ContainerCannotStart {
                    container: c.name.clone(),
                    reason,
                    message,
                }
            }));
        }
        if c.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some()
        {
            return Some(Err(PodError::ContainerEndedEarly {
                container: c.name.clone(),
            }));
        }
    }
    let all_running = !containers.is_empty()
        && containers
            .iter()
            .all(|c| c.state.as_ref().and_then(|s| s.running.as_ref()).is_some());
    (phase == "Running" && all_running).then_some(Ok(()))
}

/// Watches pod `name` until its containers run (Ok), it cannot start, or `limit` passes.
pub async fn wait_running(
    api: &Api<Pod>,
    name: &str,
    image: &str,
    limit: Duration,
) -> Result<(), PodError> {
    watch_pod(api, name, limit, "the pod did not start", |p| {
        verdict(p, image)
    })
    .await
}

/// Whether the service containers `names` are Ready (their readiness probes passed): keep
/// waiting, go, or give up (why).
pub fn services_verdict(pod: &Pod, names: &[&str]) -> Option<Result<(), PodError>> {
    let statuses = pod.status.as_ref()?.container_statuses.as_deref()?;
    for name in names {
        let c = statuses.iter().find(|c| c.name == *name)?;
        if c.state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some()
        {
            return Some(Err(PodError::ServiceExited {
                container: name.to_string(),
            }));
        }
        if !c.ready {
            return None;
        }
    }
    Some(Ok(()))
}

/// Watches pod `name` until the service containers `names` are Ready, one exits, or `limit`
/// passes.
pub async fn wait_services(
    api: &Api<Pod>,
    name: &str,
    names: &[&str],
    limit: Duration,
) -> Result<(), PodError> {
    watch_pod(api, name, limit, "not ready", |p| {
        services_verdict(p, names)
    })
    .await
}

/// Watches pod `name` until `judge` gives a verdict or `limit` passes (`late` opens the timeout's
/// message).
async fn watch_pod(
    api: &Api<Pod>,
    name: &str,
    limit: Duration,
    late: &'static str,
    mut judge: impl FnMut(&Pod) -> Option<Result<(), PodError>>,
) -> Result<(), PodError> {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    // A real API server's watch ends or breaks while nothing changes (the client's read
    // timeout, the server's own watch timeout, a load balancer): the watcher re-lists and
    // watches again after a backoff, so an error is a reason to wait, not to fail the job.
    let mut events = watcher::watcher(api.clone(), config)
        .default_backoff()
        .boxed();
    let mut last_error = None;
    let watch = async {
        while let Some(event) = events.next().await {
            let pod = match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => p,
                Ok(watcher::Event::Delete(_)) => {
                    return Err(PodError::PodDeleted);
                }
                Ok(_) => continue,
                Err(e) => {
                    last_error = Some(e.to_string());
                    continue;
                }
            };
            if let Some(v) = judge(&pod) {
                return v;
            }
        }
        Err(PodError::WatchEnded)
    };
    match tokio::time::timeout(limit, watch).await {
        Ok(r) => r,
        Err(_) => Err(PodError::PodTimeout {
            late,
            seconds: limit.as_secs(),
            last_error,
        }),
    }
}

/// The pod's events, oldest first, one per line (for the job log when it cannot start).
pub async fn events(client: &kube::Client, namespace: &str, pod: &str) -> String {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let Ok(list) = api.list(&ListParams::default()).await else {
        return String::new();
    };
    let mut lines: Vec<String> = list
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .map(|e| {
            format!(
                "  {} {}: {}\n",
                e.type_.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default()
            )
        })
        .collect();
    lines.dedup();
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "status": status}))
            .unwrap()
    }

    #[test]
    fn running_containers_start_the_job() {
        let p = pod(
            serde_json::json!({"phase": "Running", "containerStatuses": [
            {"name": "build", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {}}}]}),
        );
        assert!(matches!(verdict(&p, "i"), Some(Ok(()))));
        let pending = pod(serde_json::json!({"phase": "Pending"}));
        assert!(verdict(&pending, "i").is_none());
    }

    #[test]
    fn services_wait_for_their_readiness() {
        let status = |ready: bool, state: serde_json::Value| {
            pod(
                serde_json::json!({"phase": "Running", "containerStatuses": [
                {"name": "build", "image": "i", "imageID": "", "ready": true, "restartCount": 0,
                 "state": {"running": {}}},
                {"name": "svc-0", "image": "d", "imageID": "", "ready": ready, "restartCount": 0,
                 "state": state}]}),
            )
        };
        let running = serde_json::json!({"running": {}});
        assert!(services_verdict(&status(false, running.clone()), &["svc-0"]).is_none());
        assert!(matches!(
            services_verdict(&status(true, running), &["svc-0"]),
            Some(Ok(()))
        ));
        let exited = serde_json::json!({"terminated": {"exitCode": 1}});
        assert!(
            matches!(services_verdict(&status(false, exited), &["svc-0"]), Some(Err(PodError::ServiceExited { container })) if container == "svc-0")
        );
        assert!(
            services_verdict(&pod(serde_json::json!({"phase": "Pending"})), &["svc-0"]).is_none()
        );
    }

    #[test]
    fn pull_errors_name_the_image() {
        let p = pod(
            serde_json::json!({"phase": "Pending", "containerStatuses": [
            {"name": "build", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
             "state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}),
        );
        let Some(Err(e)) = verdict(&p, "nope/missing:1") else {
            panic!("expected a failure")
        };
        let e = e.to_string();
        assert!(
            e.contains("nope/missing:1") && e.contains("ErrImagePull"),
            "{e}"
        );
    }
}
