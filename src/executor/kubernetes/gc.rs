//! Reaping job pods by label: teardown deletes a pipeline's pods, `gantry gc` those whose
//! owning gantry process is gone (on this host), wherever they are — also in namespaces gantry
//! did not create (`--kube-namespace`). Build namespaces carry the environments' labels, so the
//! environments' sweep reaps them.

use crate::environment::{Cluster, objects};
use crate::executor::ExecutorError;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};

/// Deletes the pods matching `selector` in `ns`; returns what was removed.
pub async fn delete_pods(client: &kube::Client, ns: &str, selector: &str) -> Vec<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&ListParams::default().labels(selector)).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for p in list.items {
        let Some(name) = p.metadata.name else {
            continue;
        };
        if api.delete(&name, &DeleteParams::default()).await.is_ok() {
            removed.push(format!("pod {ns}/{name}"));
        }
    }
    removed
}

/// Deletes gantry's job pods in every namespace whose owner process is gone (`all`: every one).
pub async fn sweep(cluster: &Cluster, all: bool) -> Result<Vec<String>, ExecutorError> {
    let api: Api<Pod> = Api::all(cluster.client.clone());
    let selector = format!(
        "{}={},{}",
        objects::MANAGED_BY.0,
        objects::MANAGED_BY.1,
        super::pod::JOB
    );
    let list = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| ExecutorError::ListPods {
            message: crate::environment::cluster::error_chain(&e),
        })?;
    let host = objects::host_label();
    let mut removed = Vec::new();
    for p in list.items {
        let labels = p.metadata.labels.unwrap_or_default();
        let mine = labels.get(objects::HOST) == Some(&host);
        let alive = labels
            .get(objects::PID)
            .and_then(|p| p.parse().ok())
            .is_some_and(crate::executor::docker::process_alive);
        if !(all || (mine && !alive)) {
            continue;
        }
        let (Some(ns), Some(name)) = (p.metadata.namespace, p.metadata.name) else {
            continue;
        };
        let api: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
        if api.delete(&name, &DeleteParams::default()).await.is_ok() {
            removed.push(format!("pod {ns}/{name}"));
        }
    }
    Ok(removed)
}
