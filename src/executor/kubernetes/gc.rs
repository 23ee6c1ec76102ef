//! Reaping job pods (and their image-pull Secrets) by label: teardown deletes a pipeline's,
//! `gantry gc` those whose owning gantry process is gone (on this host), wherever they are —
//! also in namespaces gantry did not create (`--kube-namespace`). Build namespaces carry the
//! environments' labels, so the environments' sweep reaps them.

use crate::environment::{Cluster, objects};
use crate::executor::ExecutorError;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Resource;
use kube::api::{Api, DeleteParams, ListParams};
use kube::core::NamespaceResourceScope;
use serde::de::DeserializeOwned;

/// A namespaced kind gantry labels per job (pods, their pull Secrets).
pub trait JobObject:
    Resource<Scope = NamespaceResourceScope, DynamicType = ()>
    + Clone
    + DeserializeOwned
    + std::fmt::Debug
{
}

impl JobObject for Pod {}
impl JobObject for Secret {}

/// `pod ns/name`, `secret ns/name`: what a removal reports.
fn what<K: JobObject>(ns: &str, name: &str) -> String {
    format!("{} {ns}/{name}", K::kind(&()).to_lowercase())
}

/// Deletes the pods matching `selector` in `ns`; returns what was removed.
pub async fn delete_pods(client: &kube::Client, ns: &str, selector: &str) -> Vec<String> {
    delete_labelled::<Pod>(client, ns, selector).await
}

/// Deletes the objects of kind `K` matching `selector` in `ns`; returns what was removed.
pub async fn delete_labelled<K: JobObject>(
    client: &kube::Client,
    ns: &str,
    selector: &str,
) -> Vec<String> {
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&ListParams::default().labels(selector)).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for o in list.items {
        let Some(name) = o.meta().name.clone() else {
            continue;
        };
        if api.delete(&name, &DeleteParams::default()).await.is_ok() {
            removed.push(what::<K>(ns, &name));
        }
    }
    removed
}

/// Deletes gantry's job pods and pull Secrets in every namespace whose owner process is gone
/// (`all`: every one).
pub async fn sweep(cluster: &Cluster, all: bool) -> Result<Vec<String>, ExecutorError> {
    let mut removed = sweep_kind::<Pod>(cluster, all).await?;
    // A pod's Secret goes with it (its owner reference); what is left is from pods never made.
    // Listing Secrets cluster-wide may be forbidden where pods may be listed: not an error.
    removed.extend(sweep_kind::<Secret>(cluster, all).await.unwrap_or_default());
    Ok(removed)
}

async fn sweep_kind<K: JobObject>(
    cluster: &Cluster,
    all: bool,
) -> Result<Vec<String>, ExecutorError> {
    let api: Api<K> = Api::all(cluster.client.clone());
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
    for o in list.items {
        let meta = o.meta();
        let labels = meta.labels.clone().unwrap_or_default();
        let mine = labels.get(objects::HOST) == Some(&host);
        let alive = labels
            .get(objects::PID)
            .and_then(|p| p.parse().ok())
            .is_some_and(crate::executor::docker::process_alive);
        if !(all || (mine && !alive)) {
            continue;
        }
        let (Some(ns), Some(name)) = (meta.namespace.clone(), meta.name.clone()) else {
            continue;
        };
        let api: Api<K> = Api::namespaced(cluster.client.clone(), &ns);
        if api.delete(&name, &DeleteParams::default()).await.is_ok() {
            removed.push(what::<K>(&ns, &name));
        }
    }
    Ok(removed)
}
