//! Finding gantry's namespaces by label: `gantry env list` shows them, `gantry gc` deletes those
//! whose pipeline process is gone (same host) or whose expiry passed (`--all`: every one).

use super::{Cluster, EnvError, delete_namespace, now, objects};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use std::time::Duration;

/// A live environment namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Live {
    /// Namespace.
    pub namespace: String,
    /// Pipeline iid.
    pub pipeline: String,
    /// Owning pid and host.
    pub pid: Option<i32>,
    /// The owning process's start time, when labelled (older namespaces lack it).
    pub started: Option<u64>,
    /// The project directory it was made for.
    pub project: String,
    /// Host of the owning process.
    pub host: String,
    /// Age, seconds.
    pub age: u64,
    /// Expiry, Unix seconds.
    pub expires_at: Option<u64>,
    /// Context it was made with.
    pub context: String,
    /// Being deleted already.
    pub terminating: bool,
    /// Kept on purpose (`--keep-environments`): only its expiry counts.
    pub kept: bool,
}

impl Live {
    /// Whether `gc` (without `--all`) may delete it.
    pub fn abandoned(&self, this_host: &str) -> bool {
        let expired = self.expires_at.is_some_and(|e| e <= now());
        expired || self.owner_gone(this_host)
    }

    /// Whether it is not kept and its owner is provably gone: a process of this host that no
    /// longer runs, or whose pid now belongs to a process started at another time.
    pub fn owner_gone(&self, this_host: &str) -> bool {
        !self.kept
            && self.host == this_host
            && self
                .pid
                .is_none_or(|pid| crate::process::gone(pid, self.started))
    }
}

/// Every namespace labelled as gantry's.
pub async fn list(cluster: &Cluster) -> Result<Vec<Live>, EnvError> {
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let selector = format!("{}={}", objects::MANAGED_BY.0, objects::MANAGED_BY.1);
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| super::api_error("listing namespaces", "*", &e))?;
    let mut out: Vec<Live> = list.items.into_iter().map(live_of).collect();
    out.sort_by(|a, b| a.namespace.cmp(&b.namespace));
    Ok(out)
}

/// What a gantry namespace's labels and annotations say about it.
pub(super) fn live_of(ns: Namespace) -> Live {
    let labels = ns.metadata.labels.unwrap_or_default();
    let notes = ns.metadata.annotations.unwrap_or_default();
    let created = ns
        .metadata
        .creation_timestamp
        .map(|t| t.0.as_second().max(0) as u64);
    Live {
        namespace: ns.metadata.name.unwrap_or_default(),
        pipeline: labels.get(objects::PIPELINE).cloned().unwrap_or_default(),
        pid: labels.get(objects::PID).and_then(|p| p.parse().ok()),
        started: labels.get(objects::STARTED).and_then(|s| s.parse().ok()),
        project: notes.get(objects::PROJECT).cloned().unwrap_or_default(),
        host: labels.get(objects::HOST).cloned().unwrap_or_default(),
        age: created.map_or(0, |c| now().saturating_sub(c)),
        expires_at: notes.get(objects::EXPIRES).and_then(|e| e.parse().ok()),
        context: notes.get(objects::CONTEXT).cloned().unwrap_or_default(),
        terminating: ns.metadata.deletion_timestamp.is_some(),
        kept: notes.get(objects::KEPT).is_some_and(|k| k == "true"),
    }
}

/// Deletes abandoned (or, with `all`, every) gantry namespace; returns what was removed.
pub async fn sweep(
    cluster: &Cluster,
    all: bool,
    timeout: Duration,
) -> Result<Vec<String>, EnvError> {
    let host = objects::host_label();
    let mut removed = Vec::new();
    for live in list(cluster).await? {
        if all || live.abandoned(&host) {
            match delete_namespace(&cluster.client, &live.namespace, timeout).await {
                Ok(_) => removed.push(format!("namespace {}", live.namespace)),
                Err(e) => removed.push(format!("namespace {} (not yet gone: {e})", live.namespace)),
            }
        }
    }
    Ok(removed)
}

/// Before a run of `project` starts: deletes the namespaces an earlier run of it left when its
/// gantry died (same host, owner provably gone); returns one line for each.
pub async fn reap_leftovers(
    cluster: &Cluster,
    project: &str,
    timeout: Duration,
) -> Result<Vec<String>, EnvError> {
    let host = objects::host_label();
    let mut removed = Vec::new();
    for live in list(cluster).await? {
        if live.project == project && live.owner_gone(&host) {
            removed.push(reap_one(cluster, &live, timeout).await);
        }
    }
    Ok(removed)
}

/// Deletes one leftover namespace; the line says whose it was and why it could go.
pub(super) async fn reap_one(cluster: &Cluster, live: &Live, timeout: Duration) -> String {
    let whose = format!(
        "leftover namespace {} of gantry pipeline {} (pid {} on this host is gone)",
        live.namespace,
        live.pipeline,
        live.pid.map_or("?".to_string(), |p| p.to_string())
    );
    match delete_namespace(&cluster.client, &live.namespace, timeout).await {
        Ok(_) => format!("removed {whose}"),
        Err(e) => format!("removing {whose}: {e}"),
    }
}

/// `1h 5m`-style rendering of seconds.
pub fn human(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(pid: Option<i32>, host: &str, expires_at: Option<u64>) -> Live {
        Live {
            namespace: "n".into(),
            pipeline: "1".into(),
            pid,
            started: None,
            project: String::new(),
            host: host.into(),
            age: 0,
            expires_at,
            context: String::new(),
            terminating: false,
            kept: false,
        }
    }

    #[test]
    fn abandoned_means_expired_or_owner_gone_on_this_host() {
        let me = std::process::id() as i32;
        let future = now() + 3600;
        assert!(!live(Some(me), "h", Some(future)).abandoned("h"));
        assert!(live(Some(me), "h", Some(now() - 1)).abandoned("h"));
        // A pid that cannot exist: the owner is gone.
        assert!(live(Some(i32::MAX), "h", Some(future)).abandoned("h"));
        // This pid, but labelled with another start time: the pid was reused, the owner is gone.
        let reused = Live {
            started: Some(crate::process::own_start() + 1),
            ..live(Some(me), "h", Some(future))
        };
        assert!(reused.abandoned("h"));
        let same = Live {
            started: Some(crate::process::own_start()),
            ..live(Some(me), "h", Some(future))
        };
        assert!(!same.abandoned("h"));
        // Another host's live-looking pid is never judged from here.
        assert!(!live(Some(i32::MAX), "other", Some(future)).abandoned("h"));
        // A kept one waits for its expiry.
        let kept = Live {
            kept: true,
            ..live(Some(i32::MAX), "h", Some(future))
        };
        assert!(!kept.abandoned("h"));
        assert!(
            Live {
                expires_at: Some(now() - 1),
                ..kept
            }
            .abandoned("h")
        );
    }
}
